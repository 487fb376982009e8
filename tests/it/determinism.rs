//! The same seed gives the same run: byte-identical traces and oracle choices, on a reused
//! backend, and again when the recorded choices are replayed.

use settle::scenario::run_one;
use settle::sim::{Oracle, first_divergence};
use settle::store::{shared, sqlite::Sqlite};

use super::load;

fn backend() -> settle::store::SharedBackend {
    shared(Sqlite::memory().unwrap())
}

/// Runs seeds `0..seeds` of the scenario `file` twice each on one reused backend and asserts
/// identical traces, choices and violations.
pub fn assert_runs_twice_identically(file: &str, seeds: u64) {
    let s = load(file);
    let b = backend();
    for seed in 0..seeds {
        let a = run_one(&s, seed, true, b.clone()).unwrap();
        let c = run_one(&s, seed, true, b.clone()).unwrap();
        assert!(!a.events.is_empty());
        if let Some(d) = first_divergence(&a.events, &c.events) {
            panic!("{file} seed {seed} diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second);
        }
        assert_eq!(a.choices, c.choices, "{file} seed {seed}");
        assert_eq!(a.violations, c.violations, "{file} seed {seed}");
    }
}

/// Asserts that replaying each seed's recorded choices gives the same run.
pub fn assert_choices_replay(file: &str) {
    let s = load(file);
    let system = s.build_system().unwrap();
    let spec = s.run_spec(true);
    let b = backend();
    for seed in [0, 1, 7, 42, 1234, 99_999] {
        let first = system.run(&spec, Oracle::random(seed), b.clone()).unwrap();
        let again = system.run(&spec, Oracle::replay(first.choices.clone()), b.clone()).unwrap();
        assert_eq!(first_divergence(&first.events, &again.events), None, "{file} seed {seed}");
        assert_eq!(first.choices, again.choices);
    }
}

#[test]
fn every_seed_runs_identically_twice_200_seeds() {
    assert_runs_twice_identically("midtrans_fixed.toml", 200);
}

#[test]
fn recorded_choices_replay_the_same_run() {
    assert_choices_replay("midtrans_fixed.toml");
}

#[test]
fn barbers_seeds_run_identically_twice() {
    assert_runs_twice_identically("barbers_fixed.toml", 30);
    assert_runs_twice_identically("barbers_force_booked.toml", 30);
}

#[test]
fn paystack_seeds_run_identically_twice() {
    assert_runs_twice_identically("paystack_fixed.toml", 30);
    assert_runs_twice_identically("paystack_in_flight_overwrite.toml", 30);
}

#[test]
fn paystack_recorded_choices_replay_the_same_run() {
    assert_choices_replay("paystack_fixed.toml");
}

#[test]
fn barbers_recorded_choices_replay_the_same_run() {
    assert_choices_replay("barbers_fixed.toml");
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

/// The check itself can fail: a system that reads outside state (here a process-wide counter,
/// standing in for a wall clock or an unseeded RNG) is caught at its first divergent event.
#[test]
fn the_determinism_check_catches_a_system_that_reads_outside_state() {
    use std::sync::atomic::{AtomicU64, Ordering};

    use settle::check::Sometimes;
    use settle::scenario::check_determinism;
    use settle::sim::{Kind, Sim};
    use settle::systems::{RunSpec, SeedReport, System, SystemError};

    struct Leaky(AtomicU64);
    impl System for Leaky {
        fn name(&self) -> &str {
            "leaky"
        }
        fn info(&self) -> settle::systems::SystemInfo {
            settle::systems::SystemInfo::bare("leaky")
        }
        fn sometimes(&self, _: &RunSpec) -> Vec<Sometimes> {
            Vec::new()
        }
        fn run(
            &self,
            spec: &RunSpec,
            oracle: Oracle,
            _: settle::store::SharedBackend,
        ) -> Result<SeedReport, SystemError> {
            let outside = self.0.fetch_add(1, Ordering::SeqCst);
            let out = Sim::run(spec.sim.clone(), oracle, move |sim: Sim| async move {
                let wait = sim.choose(|o| o.below(1_000));
                sim.sleep_ms(wait).await;
                sim.record(Kind::State, "leaky", None, || "same every run".into());
                sim.sleep_ms(1 + outside % 2).await;
                sim.record(Kind::State, "leaky", None, || "when this happens depends on the process".into());
            })
            .map_err(SystemError::Runtime)?;
            Ok(SeedReport::from_run(out.map(|()| Vec::new())))
        }
    }

    let spec = load("seed001_race.toml").run_spec(true);
    let found = check_determinism(&Leaky(AtomicU64::new(0)), &spec, 5, backend()).unwrap().expect("the leak is caught");
    assert_eq!(found.seed, 0);
    let d = found.divergence.expect("the traces differ");
    assert_eq!(d.first.as_ref().unwrap().text, d.second.as_ref().unwrap().text);
    assert_ne!(d.first.unwrap().t_ms, d.second.unwrap().t_ms);

    let reference = load("seed001_race.toml");
    assert_eq!(check_determinism(reference.build_system().unwrap().as_ref(), &spec, 5, backend()).unwrap(), None);
}
