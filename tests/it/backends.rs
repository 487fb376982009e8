//! The same scenario and seed give a byte-identical trace on every backend: embedded SQLite
//! (rusqlite), SQLite through sqlx, and — when their URLs are set — PostgreSQL and MySQL.
//! `.ci/run` sets `SETTLE_TEST_POSTGRES_URL` and `SETTLE_TEST_MYSQL_URL`; without them those
//! backends are skipped, saying so.

use settle::scenario::run_one;
use settle::sim::first_divergence;
use settle::store::{SharedBackend, connect_url, shared, sqlite::Sqlite};

use super::load;

fn same_traces(url: &str, seeds: u64) {
    let embedded = shared(Sqlite::memory().unwrap());
    let other: SharedBackend = connect_url(url).unwrap_or_else(|e| panic!("{e}"));
    for file in [
        "midtrans_fixed.toml",
        "seed001_race.toml",
        "fanvue_fixed.toml",
        "fanvue_no_unique.toml",
        "barbers_fixed.toml",
        "barbers_read_then_claim.toml",
        "paystack_fixed.toml",
        "paystack_cross_tab_lost.toml",
    ] {
        let s = load(file);
        // A barbers run is four days of simulated time with thousands of units: fewer seeds.
        // So is a paystack run, with a tab's timers firing every 30 s.
        let seeds = if file.starts_with("barbers") || file.starts_with("paystack") { seeds.min(20) } else { seeds };
        for seed in 0..seeds {
            let a = run_one(&s, seed, true, embedded.clone()).unwrap();
            let b = run_one(&s, seed, true, other.clone()).unwrap();
            if let Some(d) = first_divergence(&a.events, &b.events) {
                panic!(
                    "{file} seed {seed}: embedded and {url} diverge at event {}:\n  {:?}\n  {:?}",
                    d.index, d.first, d.second
                );
            }
            assert_eq!(a.violations, b.violations, "{file} seed {seed}");
        }
    }
}

#[test]
fn sqlx_sqlite_gives_the_embedded_trace() {
    same_traces("sqlite::memory:", 30);
}

#[test]
fn postgres_gives_the_embedded_trace() {
    if let Some(url) = super::server_url("SETTLE_TEST_POSTGRES_URL") {
        same_traces(&url, 100);
    }
}

#[test]
fn mysql_gives_the_embedded_trace() {
    if let Some(url) = super::server_url("SETTLE_TEST_MYSQL_URL") {
        same_traces(&url, 100);
    }
}

/// Exploration reads its end states through the store, so it runs on every backend and counts
/// the same schedules, violations and distinct end states as on embedded SQLite.
fn same_exploration(url: &str) {
    use settle::scenario::explore::{Bounds, explore};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/explore/race_small.toml");
    let s = settle::scenario::load(&path).unwrap();
    let system = s.build_system().unwrap();
    let bounds = Bounds { depth: 6, values: 2, max_runs: 1_000 };
    let run = |b: SharedBackend| explore(system.as_ref(), &s.run_spec(false), b, bounds).unwrap();
    let (a, b) = (run(shared(Sqlite::memory().unwrap())), run(connect_url(url).unwrap()));
    assert_eq!((a.schedules, a.violating.len()), (b.schedules, b.violating.len()), "{url}");
    assert_eq!(a.distinct_end_states, b.distinct_end_states, "{url}");
    assert!(a.distinct_end_states > 1, "the digest sees the tables");
}

#[test]
fn exploration_runs_on_every_backend() {
    same_exploration("sqlite::memory:");
    for var in ["SETTLE_TEST_POSTGRES_URL", "SETTLE_TEST_MYSQL_URL"] {
        if let Some(url) = super::server_url(var) {
            same_exploration(&url);
        }
    }
}
