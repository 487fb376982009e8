//! settle's integration tests: one binary, one module per concern.

mod audit;
mod backends;
mod barbers;
mod cli;
mod determinism;
mod fanvue;
mod own;
mod properties;
mod report;
mod scenarios;
mod search;
mod sim;
mod snapshots;
mod stripe_official;

use std::path::Path;

use settle::scenario::{self, Backends, Scenario, SeedSelection, Summary};

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
