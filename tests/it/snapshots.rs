//! Replay timelines of a few seeds, snapshotted with insta. Nothing in a timeline is unstable
//! (simulated time only, deterministic ids), so nothing is redacted: any change to the trace
//! of these seeds shows up here for review.

use settle::report::timeline;
use settle::scenario::run_one;
use settle::store::{shared, sqlite::Sqlite};

use super::load;

fn replay(file: &str, seed: u64) -> String {
    let s = load(file);
    let r = run_one(&s, seed, true, shared(Sqlite::memory().unwrap())).unwrap();
    timeline(&format!("{file} seed {seed}"), &r.events, &r.violations)
}

/// The first seed of seed001_race that reproduces the incident.
#[test]
fn seed001_race_first_failing_seed() {
    let seed = super::run("seed001_race.toml", None).first_seed.expect("the race is found");
    insta::assert_snapshot!(replay("seed001_race.toml", seed));
}

#[test]
fn seed001_fixed_seed_5() {
    insta::assert_snapshot!(replay("seed001_fixed.toml", 5));
}

#[test]
fn split_update_seed_0() {
    insta::assert_snapshot!(replay("split_update.toml", 0));
}
