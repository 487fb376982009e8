//! settle's integration tests: one binary, one module per concern.

mod audit;
mod backends;
mod cli;
mod determinism;
mod fanvue;
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

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
