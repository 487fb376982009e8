//! The command line: exit codes, error locations, replay commands.

use super::{settle, text};

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("settle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn a_flaw_scenario_that_finds_its_violation_exits_0_and_prints_the_replay() {
    let out = settle(&["run", "scenarios/seed001_race.toml", "--seeds", "60"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("replay: settle replay scenarios/seed001_race.toml --seed "), "{stdout}");
    assert!(stdout.contains("seeds/s"), "{stdout}");
    assert!(stdout.contains("events/s"), "{stdout}");
}

#[test]
fn an_unexpected_violation_exits_1_with_the_command_that_reproduces_it() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/seed001_race.toml")).unwrap();
    let src = src.replace("outcome = \"violation\"\ninvariant = \"provider-paid-implies-paid\"", "outcome = \"pass\"");
    let p = temp_file("expects_pass.toml", &src);
    let out = settle(&["run", p.to_str().unwrap(), "--seeds", "60"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED: unexpected violation"), "{stdout}");
    assert!(stdout.contains(&format!("replay: settle replay {} --seed ", p.display())), "{stdout}");
}

#[test]
fn a_malformed_scenario_exits_2_naming_file_line_and_column() {
    let p = temp_file(
        "bad.toml",
        "name = \"x\"\nsystem = \"midtrans-orders\"\nflaws = [\"ack-missing\", \"ack-mising\"]\n[expect]\noutcome = \"pass\"\n",
    );
    let out = settle(&["run", p.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:25", p.display())), "{stderr}");
    assert!(stderr.contains("unknown flaw \"ack-mising\""), "{stderr}");
    assert!(text(&out.stdout).is_empty(), "nothing runs when a file is bad");
}

/// A per-run count is drawn up front: an unbounded one reserved memory for billions of events
/// (4294967295 forgeries ran the machine out of memory) before the run began. Each is refused,
/// at the line of its key.
#[test]
fn a_count_beyond_what_a_run_can_draw_exits_2_at_its_key() {
    let base = "name = \"x\"\nsystem = \"midtrans-orders\"\n[expect]\noutcome = \"pass\"\n";
    let cases = [
        ("[midtrans]\nforged_notifications_max = 4294967295\n", 6, "midtrans.forged_notifications_max: 4294967295"),
        (
            "[network]\npartitions = { between = [[\"provider\", \"app\"]], count_max = 1001, duration = { min = \"1m\", max = \"2m\" } }\n",
            6,
            "network.partitions.count_max: 1001",
        ),
        ("[database]\noutages_max = 5000\n", 6, "database.outages_max: 5000"),
        ("[midtrans]\norders = 100001\n", 6, "midtrans.orders: 100001"),
    ];
    for (extra, line, message) in cases {
        let p = temp_file("count.toml", &format!("{base}{extra}"));
        let out = settle(&["run", p.to_str().unwrap(), "--seeds", "1"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{}:{line}:", p.display())), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
}

/// Seeds end at the last u64: a range past it is refused before anything runs, not wrapped to 0;
/// and `check-determinism` needs a seed, as `run` does.
#[test]
fn a_seed_range_past_the_last_seed_and_zero_seeds_exit_2() {
    let out = settle(&["run", "scenarios/seed001_race.toml", "--seed-start", "18446744073709551610", "--seeds", "40"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("runs past the last seed"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty(), "nothing ran: {}", text(&out.stdout));
    let last = settle(&["run", "scenarios/seed001_race.toml", "--seed-start", "18446744073709551614", "--seeds", "2"]);
    assert_ne!(last.status.code(), Some(2), "the last two seeds run: {}", text(&last.stderr));
    let zero = settle(&["check-determinism", "scenarios/seed001_race.toml", "--seeds", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero.stdout));
    assert!(text(&zero.stderr).contains("--seeds must be at least 1"), "{}", text(&zero.stderr));
}

#[test]
fn a_toml_syntax_error_exits_2_with_its_location() {
    let p = temp_file("syntax.toml", "name = \"x\"\nsystem = \"midtrans-orders\"\n[expect\noutcome = \"pass\"\n");
    let out = settle(&["replay", p.to_str().unwrap(), "--seed", "1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:", p.display())), "{stderr}");
}

#[test]
fn a_missing_path_and_bad_flags_exit_2() {
    assert_eq!(settle(&["run", "scenarios/nope.toml"]).status.code(), Some(2));
    assert_eq!(settle(&["run", "--seeds", "many"]).status.code(), Some(2));
    assert_eq!(settle(&["run", "--seeds", "0", "scenarios/seed001_race.toml"]).status.code(), Some(2));
    assert_eq!(settle(&["replay", "scenarios/seed001_race.toml"]).status.code(), Some(2));
    assert_eq!(settle(&["frobnicate"]).status.code(), Some(2));
    let bad_db = settle(&["run", "scenarios/seed001_race.toml", "--db", "redis://u:pw@x/0"]);
    assert_eq!(bad_db.status.code(), Some(2));
    assert!(!text(&bad_db.stderr).contains(":pw@"), "{}", text(&bad_db.stderr));
    // A URL of a known scheme that sqlx cannot read (a port out of range, an unknown sslmode) is
    // the user's to fix: exit 2 before any connection, for runs and audits alike, password hidden.
    for url in ["postgres://u:pw@127.0.0.1:99999/test", "postgres://u:pw@127.0.0.1/test?sslmode=bogus"] {
        for args in [
            vec!["run", "scenarios/seed001_race.toml", "--seeds", "1", "--db", url],
            vec!["audit", "--system", "midtrans-orders", "--db", url],
        ] {
            let out = settle(&args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("not a database URL settle can read"), "{args:?}: {stderr}");
            assert!(!stderr.contains(":pw@"), "{stderr}");
        }
    }
}

#[test]
fn replay_prints_the_timeline_and_where_the_invariant_broke() {
    // Take the replay command `run` printed, and run it.
    let run = text(&settle(&["run", "scenarios/seed001_race.toml"]).stdout);
    let line = run.lines().find_map(|l| l.trim().strip_prefix("replay: settle ")).expect("run prints a replay command");
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args[..2], ["replay", "scenarios/seed001_race.toml"]);
    let out = settle(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("payment row not found; answering 200 anyway (ack-missing)"), "{stdout}");
    assert!(stdout.contains("VIOLATED eventually `provider-paid-implies-paid`"), "{stdout}");
    assert!(stdout.contains("checkout.insert"), "{stdout}");
}

#[test]
fn check_determinism_passes_and_says_so() {
    let out = settle(&["check-determinism", "scenarios/midtrans_fixed.toml", "--seeds", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("identical traces"));
}

#[test]
fn list_names_systems_flaws_invariants_and_scenarios() {
    let out = settle(&["list"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for needle in ["midtrans-orders", "ack-missing", "double-fulfil", "provider-paid-implies-paid", "seed001_race.toml"]
    {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
}

#[test]
fn an_unreachable_database_exits_4_without_printing_the_password() {
    let out = settle(&[
        "run",
        "scenarios/seed001_race.toml",
        "--seeds",
        "1",
        "--db",
        "postgres://settle:hunter2@127.0.0.1:1/none",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
