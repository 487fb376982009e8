//! The same seed gives the same run: byte-identical traces and oracle choices, on a reused
//! backend, and again when the recorded choices are replayed.

use settle::scenario::run_one;
use settle::sim::{Oracle, first_divergence};
use settle::store::{shared, sqlite::Sqlite};

use super::load;

fn backend() -> settle::store::SharedBackend {
    shared(Sqlite::memory().unwrap())
}

#[test]
fn every_seed_runs_identically_twice_200_seeds() {
    let s = load("midtrans_fixed.toml");
    let b = backend();
    for seed in 0..200 {
        let a = run_one(&s, seed, true, b.clone()).unwrap();
        let c = run_one(&s, seed, true, b.clone()).unwrap();
        assert!(!a.events.is_empty());
        if let Some(d) = first_divergence(&a.events, &c.events) {
            panic!("seed {seed} diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second);
        }
        assert_eq!(a.choices, c.choices, "seed {seed}");
        assert_eq!(a.violations, c.violations, "seed {seed}");
    }
}

#[test]
fn recorded_choices_replay_the_same_run() {
    let s = load("midtrans_fixed.toml");
    let system = s.build_system();
    let spec = s.run_spec(true);
    let b = backend();
    for seed in [0, 1, 7, 42, 1234, 99_999] {
        let first = system.run(&spec, Oracle::random(seed), b.clone()).unwrap();
        let again = system.run(&spec, Oracle::replay(first.choices.clone()), b.clone()).unwrap();
        assert_eq!(first_divergence(&first.events, &again.events), None, "seed {seed}");
        assert_eq!(first.choices, again.choices);
    }
}

#[test]
fn a_violating_seed_replays_to_the_same_violation() {
    let s = load("seed001_race.toml");
    let b = backend();
    let bulk = super::run("seed001_race.toml", Some(100));
    let seed = bulk.first_seed.expect("the race is found in 100 seeds");
    let replayed = run_one(&s, seed, true, b).unwrap();
    assert_eq!(replayed.violations.first(), bulk.first_violation.as_ref());
}

#[test]
fn running_other_seeds_in_between_changes_nothing() {
    let s = load("midtrans_fixed.toml");
    let b = backend();
    let a = run_one(&s, 5, true, b.clone()).unwrap();
    for seed in 100..110 {
        run_one(&s, seed, false, b.clone()).unwrap();
    }
    let c = run_one(&s, 5, true, b).unwrap();
    assert_eq!(first_divergence(&a.events, &c.events), None);
}

#[test]
fn different_seeds_explore_different_runs() {
    let s = load("midtrans_fixed.toml");
    let b = backend();
    let a = run_one(&s, 1, true, b.clone()).unwrap();
    let c = run_one(&s, 2, true, b).unwrap();
    assert!(first_divergence(&a.events, &c.events).is_some());
}

#[test]
fn recording_does_not_change_the_run() {
    let s = load("midtrans_fixed.toml");
    let b = backend();
    for seed in 0..20 {
        let quiet = run_one(&s, seed, false, b.clone()).unwrap();
        let loud = run_one(&s, seed, true, b.clone()).unwrap();
        assert_eq!(quiet.choices, loud.choices, "seed {seed}");
        assert_eq!(quiet.event_count, loud.event_count, "seed {seed}");
        assert_eq!(quiet.violations, loud.violations);
    }
}

/// A run leaves nothing behind: the world is freed, and with it every handle on the backend
/// (a leaked handle would keep a server's namespace alive and grow memory with every seed).
#[test]
fn a_finished_run_releases_the_backend() {
    let s = load("midtrans_fixed.toml");
    let b = backend();
    for seed in 0..5 {
        run_one(&s, seed, true, b.clone()).unwrap();
        assert_eq!(std::sync::Arc::strong_count(&b), 1, "seed {seed} leaked a backend handle");
    }
}
