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
    for file in ["midtrans_fixed.toml", "seed001_race.toml", "fanvue_fixed.toml", "fanvue_no_unique.toml"] {
        let s = load(file);
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
