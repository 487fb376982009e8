//! settle's integration tests: one binary, one module per concern.

mod audit;
mod backends;
mod barbers;
mod cli;
mod determinism;
mod drive;
mod drive_mysql;
mod drive_report;
mod drive_shrink;
mod fanvue;
mod floor;
mod own;
mod paystack;
mod properties;
mod report;
mod scenarios;
mod search;
mod sim;
mod snapshots;
mod stripe_official;

use std::path::Path;

use settle::scenario::{self, Backends, Scenario, SeedSelection, Summary, Verdict};

/// Loads a scenario file from the repository's `scenarios/` folder.
pub fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario's own seed budget (or `seeds`) on embedded SQLite.
pub fn run(name: &str, seeds: Option<u64>) -> Summary {
    run_edited(name, |text| text, seeds)
}

/// Runs a scenario file after `edit` has changed its text.
pub fn run_edited(name: &str, edit: impl FnOnce(String) -> String, seeds: Option<u64>) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    let text = edit(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}")));
    let s = scenario::parse(&text, name).unwrap_or_else(|e| panic!("{e}"));
    let count = seeds.unwrap_or(*s.seeds.get_ref());
    scenario::run_scenario(&s, name, SeedSelection::Range { start: 0, count }, &Backends::Embedded)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a flaw scenario at its own budget and checks it finds `invariant` by simulation (not in
/// every seed by construction); returns the first violation's details.
pub fn found(file: &str, invariant: &str) -> Vec<String> {
    let s = run(file, None);
    assert_eq!(s.verdict, Verdict::Met, "{file}: {s:?}");
    let v = s.first_violation.expect("a violation was found");
    assert_eq!(v.invariant, invariant, "{file}");
    assert!(!v.details.is_empty());
    // Found by simulation, not in every seed by construction.
    assert!(s.violating_seeds < s.seeds_run, "{file}: every seed violates");
    v.details
}

/// Each flaw scenario, its `flaws = …` line emptied and everything else kept, finds nothing:
/// the flaw is the cause, not the load or the faults.
pub fn each_passes_without_its_flaw(flaws: &[(&str, &str)]) {
    for (file, _) in flaws {
        let s = run_edited(
            file,
            |t| {
                t.lines()
                    .map(|l| if l.starts_with("flaws = ") { "flaws = []" } else { l })
                    .collect::<Vec<_>>()
                    .join("\n")
            },
            None,
        );
        assert_eq!(s.violating_seeds, 0, "{file}: {:?}", s.first_violation);
        assert_eq!(s.verdict, Verdict::ExpectedNotFound, "{file}");
    }
}

/// Runs the `settle` binary from the repository root, without a database URL from outside.
pub fn settle(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SETTLE_DATABASE_URL")
        .output()
        .expect("settle runs")
}

/// Says a test was skipped and why — on a laptop without the server or tool it needs. In CI
/// (`CI=true`) nothing may be skipped: what CI cannot start is a failure, not a silent pass.
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true, and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// The value of a test server's URL variable, or `None` after saying the test is skipped.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip(&format!("{var} is not set (.ci/run sets it and starts the server)"));
            None
        }
    }
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
