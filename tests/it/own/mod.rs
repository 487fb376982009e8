//! Your own system, first class (issue 10): a shop's own handlers, jobs and syncs plugged into
//! settle's systems through the public API alone, each with a real bug that settle finds,
//! reproduces from the command it prints and from its regressions file, and whose fix passes.
//!
//! - [`shop`]: the shop's own Midtrans webhook handler and reconciliation job;
//! - [`midtrans`]: three bugs in them (two in the handler, one in the job);
//! - [`creator`]: a creator agency's own Fanvue sync and cron, with three bugs (two in the sync,
//!   one in the cron);
//! - [`barbers`]: a barber shop's own Stripe webhook handler for seed 004, with the bug Stripe's
//!   fulfilment guide warns about;
//! - [`schema`]: the shop's logic on its own tables and status words, read by the built-in
//!   invariants through a mapping;
//! - [`platform`]: a whole new system built through the public API, the registry, a team's own
//!   binary, and replay files that refuse to replay the wrong system.

mod barbers;
mod creator;
mod midtrans;
mod paystack;
mod platform;
mod schema;
mod shapes;
mod shop;

use std::path::{Path, PathBuf};

use settle::systems::{Family, Variant};
use settle::testing::Runner;

/// A fresh folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("settle-own-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a scenario file into `dir`.
pub fn scenario_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// The value of `KEY=value` in a printed command.
fn assignment(text: &str, key: &str) -> String {
    let at = text.find(&format!("{key}=")).unwrap_or_else(|| panic!("no {key}= in:\n{text}"));
    text[at + key.len() + 1..].split_whitespace().next().unwrap().to_string()
}

/// A runner for `variant` whose `SETTLE_*` variables come from `vars`, not the process.
fn runner<F: Family>(variant: &Variant<F>, scenario: &Path, regressions: &Path, vars: &[(&str, String)]) -> Runner {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    // A smaller shrink budget than the default: the story is still short, the test quicker.
    Runner::new(variant.clone(), scenario)
        .regressions(regressions)
        .shrink_budget(2_000)
        .with_env(move |k| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
}

/// The whole life of one bug: the buggy system is found violating `invariant`; the printed
/// `SETTLE_SEED` command and the printed `SETTLE_REPLAY` reference both reproduce it; the next
/// run replays the saved counterexample before any seed and fails on it; the fixed system (same
/// name) replays it, passes, and passes every seed.
pub fn bug_cycle<F: Family>(buggy: Variant<F>, fixed: Variant<F>, scenario: &Path, invariant: &str) {
    assert_eq!(buggy.name(), fixed.name(), "a fix keeps the system's name, and so its saved counterexamples");
    let regressions = scenario.with_extension("regressions.jsonl");
    let _ = std::fs::remove_file(&regressions);

    let found = runner(&buggy, scenario, &regressions, &[]).run().expect_err("the bug is found");
    assert!(found.contains(&format!("violated {invariant}")), "{found}");
    assert!(found.contains("the ") && found.contains("step(s) that matter"), "the shrunk story is printed:\n{found}");
    let seed = assignment(&found, "SETTLE_SEED");
    let replay = assignment(&found, "SETTLE_REPLAY");
    assert!(replay.ends_with("#1"), "{replay}");
    assert_eq!(settle::testing::read_regressions(&regressions).unwrap().len(), 1, "saved once");

    let again = runner(&buggy, scenario, &regressions, &[("SETTLE_SEED", seed.clone())]).run();
    let again = again.expect_err("the printed seed fails again");
    assert!(again.contains(&format!("seed {seed}")) && again.contains(invariant), "{again}");

    let shrunk = runner(&buggy, scenario, &regressions, &[("SETTLE_REPLAY", replay.clone())]).run();
    let shrunk = shrunk.expect_err("the saved counterexample fails again");
    assert!(shrunk.contains(invariant), "{shrunk}");

    let first = runner(&buggy, scenario, &regressions, &[]).run().expect_err("still broken");
    assert!(first.contains("saved counterexample") && first.contains(invariant), "replayed first:\n{first}");

    let passed = runner(&fixed, scenario, &regressions, &[]).run().unwrap_or_else(|e| panic!("the fix fails:\n{e}"));
    assert_eq!(passed.regressions, 1, "the saved counterexample was replayed against the fix");
    let summary = passed.summary.expect("the seeds ran");
    assert!(summary.seeds_run > 1 && summary.violating_seeds == 0);
    assert!(runner(&fixed, scenario, &regressions, &[("SETTLE_REPLAY", replay)]).run().is_ok());
}
