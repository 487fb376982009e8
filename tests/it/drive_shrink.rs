//! `settle drive --shrink`: the example shop's bug (examples/drive/shop.py, seed 001's "ack when
//! the row is missing") shrinks to fewer customers and one held message, the shrunk file replays
//! the failure with the printed command, a passing seed has nothing to shrink, and bad flags exit
//! 2 naming the flag. The shop runs need PostgreSQL (SETTLE_TEST_POSTGRES_URL) and the example's
//! Python packages (./examples/drive/install.sh); without them those tests say they are skipped.

use std::path::Path;

use super::drive::{dir, shop_file};
use super::{settle, text};

/// Every customer pays and every Snap answer is held: the seed fails whatever the shop's timing.
const BUGGY_RUN: &str =
    "[run]\nseed = 1\ncustomers = 4\nrace = 1.0\npay = 1.0\ntime_scale = 240\nsettle_for = \"10m\"\n";

/// The value after `prefix` on the first line that starts with it.
fn line_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no line `{prefix}…` in:\n{out}"))
}

#[test]
fn the_buggy_shop_shrinks_to_one_customer_held_and_the_shrunk_file_replays() {
    let Some(p) = shop_file("shrink_bug", "settle_drive_it_shrink", true, "it-shrink-bug", BUGGY_RUN) else {
        return;
    };
    let out = settle(&["drive", p.to_str().unwrap(), "--shrink", "--shrink-budget", "8"]);
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(stdout.contains("shrinking seed 1 (violated: provider-paid-implies-paid"), "{stdout}");
    let file = line_after(&stdout, "shrunk scenario: ");
    assert_eq!(file, p.with_file_name("shop.seed-1.shrunk.toml").to_str().unwrap(), "{stdout}");
    let plan = line_after(&stdout, "final plan: ");
    let customers: u32 = plan
        .split(", ")
        .find_map(|p| p.strip_prefix("customers = "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(customers < 4, "{stdout}");
    assert!(plan.contains("hold_only = ["), "{stdout}");
    let hold_only = plan.split("hold_only = [").nth(1).and_then(|r| r.split(']').next()).unwrap();
    assert!(!hold_only.contains(','), "more than one held message kept: {plan}");

    // Only the changed keys differ from the input; its comment line survives.
    let (before, after) = (std::fs::read_to_string(&p).unwrap(), std::fs::read_to_string(file).unwrap());
    let changed: Vec<&str> = after.lines().filter(|l| !before.lines().any(|b| b == *l)).collect();
    assert!(changed.iter().all(|l| l.starts_with("customers = ") || l.starts_with("hold_only = ")), "{changed:?}");
    assert!(changed.contains(&format!("hold_only = [{hold_only}]").as_str()), "{changed:?}");

    // The printed replay command fails again.
    let replay = line_after(&stdout, "replay: ");
    let args: Vec<&str> = replay.split(' ').skip(1).collect();
    assert_eq!(args.first(), Some(&"drive"), "{replay}");
    let again = settle(&args);
    let again_out = text(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{again_out}{}", text(&again.stderr));
    assert!(again_out.contains("provider-paid-implies-paid"), "{again_out}");
    assert!(again_out.contains("Snap's answer held"), "{again_out}");
}

#[test]
fn json_carries_the_shrink_and_a_budget_of_one_tries_one_candidate() {
    let Some(p) = shop_file("shrink_json", "settle_drive_it_shrink_json", true, "it-shrink-json", BUGGY_RUN) else {
        return;
    };
    let out_dir = dir("shrink_json_out");
    let out_file = out_dir.join("small.toml");
    let args = ["drive", p.to_str().unwrap(), "--shrink", "--shrink-budget", "1", "--format", "json", "--shrink-out"];
    let out = settle(&[&args[..], &[out_file.to_str().unwrap()]].concat());
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["verdict"], "fail", "{stdout}");
    let s = &v["shrink"];
    assert_eq!(s["file"], out_file.to_str().unwrap(), "{stdout}");
    assert_eq!(s["runs"], 1, "{stdout}");
    assert_eq!(s["steps"].as_array().map(Vec::len), Some(1), "{stdout}");
    assert_eq!(s["steps"][0]["change"], "[run] customers 4 → 1", "{stdout}");
    assert!(s["invariants"].as_array().unwrap().iter().any(|i| i == "provider-paid-implies-paid"), "{stdout}");
    // Progress went to stderr: stdout is the JSON document alone.
    assert!(err.contains("shrinking seed 1"), "{err}");
    assert!(Path::new(&out_file).is_file());
}

#[test]
fn a_passing_seed_has_nothing_to_shrink_and_exits_0() {
    let run = "[run]\ncustomers = 1\ntime_scale = 240\nsettle_for = \"10m\"\n";
    let Some(p) = shop_file("shrink_pass", "settle_drive_it_shrink_pass", false, "it-shrink-pass", run) else {
        return;
    };
    let out = settle(&["drive", p.to_str().unwrap(), "--shrink"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("nothing to shrink"), "{stdout}");
    assert!(!p.with_file_name("shop.seed-1.shrunk.toml").exists());
}

/// A drive file whose service would be at a closed port: flags are judged before anything runs.
fn unreachable_file(test: &str) -> std::path::PathBuf {
    let d = dir(test);
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/audit/seed001_mapping.toml");
    let p = d.join("drive.toml");
    let text = format!(
        "[service]\nurl = \"http://127.0.0.1:9\"\nhealth = \"/\"\nwebhook = \"/w\"\n\n\
         [checkout]\npath = \"/checkout\"\nbody = '{{}}'\n\n\
         [check]\nmapping = \"{mapping}\"\ndatabase_url = \"sqlite://{}/x.db\"\n",
        d.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_shrink_flags_exit_2_naming_the_flag() {
    let p = unreachable_file("shrink_flags");
    let p = p.to_str().unwrap();
    for (args, named) in [
        (vec!["--shrink", "--shrink-budget", "0"], "--shrink-budget must be at least 1"),
        (vec!["--shrink", "--shrink-runs", "0"], "--shrink-runs and --shrink-budget must be at least 1"),
        (vec!["--shrink", "--shrink-out", "/nonexistent-settle/x.toml"], "folder /nonexistent-settle does not exist"),
        (vec!["--shrink-budget", "3"], "--shrink"),
        (vec!["--shrink", "--shrink-out", p], "is the drive file itself"),
    ] {
        let out = settle(&[&["drive", p][..], &args].concat());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
}

#[test]
fn a_hold_only_outside_the_customers_is_a_scenario_error_naming_the_key() {
    let p = unreachable_file("shrink_hold_only");
    let mut t = std::fs::read_to_string(&p).unwrap();
    t.push_str("\n[run]\ncustomers = 2\nhold_only = [3]\n");
    std::fs::write(&p, t).unwrap();
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("[run] hold_only: customer 3 is not one of the run's customers 1..=2"), "{err}");
}

#[test]
fn sigterm_while_shrinking_kills_the_shop_and_writes_no_shrunk_file() {
    use std::io::BufRead;
    let marker = format!("it-shrink-term-{}", std::process::id());
    let Some(p) = shop_file("shrink_term", "settle_drive_it_shrink_term", true, &marker, BUGGY_RUN) else {
        return;
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["drive", p.to_str().unwrap(), "--shrink"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("shrinking seed 1") {
            break;
        }
    }
    assert!(seen.contains("shrinking seed 1"), "{seen}");
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(!p.with_file_name("shop.seed-1.shrunk.toml").exists());
    assert!(!p.with_file_name("shop.seed-1.shrunk.toml.tmp").exists());
    assert!(!super::drive::outlived(&marker), "the shop (`{marker}`) outlived an interrupted shrink");
}
