//! Running many seeds on N threads with results that do not depend on N.
//!
//! Workers take seed indices from one counter, each on its own backend (an in-memory SQLite or
//! its own connection and namespace on a server), and send their reports back; the caller folds
//! the reports strictly in index order, buffering the ones that arrive early. So `--jobs 4`
//! aggregates exactly what `--jobs 1` does. A time budget stops workers from taking new indices;
//! every index taken is finished, so the seeds run are always a prefix of the selection.
//!
//! What it does not do: judge results (the runner does) or share a backend between threads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::error::Error;
use crate::sim::Oracle;
use crate::systems::{RunSpec, SeedReport, System, run_seed};

use super::runner::Backends;

/// Runs the seeds `seed_at(0)`, `seed_at(1)`, … until it answers `None` or `deadline` passes,
/// on `jobs` threads; calls `fold(seed, report)` in index order. Returns how many seeds ran.
pub fn run_seeds(
    system: &dyn System,
    spec: &RunSpec,
    backends: &Backends,
    jobs: usize,
    deadline: Option<Instant>,
    seed_at: &(dyn Fn(u64) -> Option<u64> + Sync),
    fold: &mut dyn FnMut(u64, SeedReport),
) -> Result<u64, Error> {
    let jobs = jobs.max(1);
    // Connect every worker's backend first: a server that refuses the third connection should
    // fail the run before any seed, not half-way.
    let mut workers = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        workers.push(backends.connect()?);
    }
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(u64, u64, Result<SeedReport, Error>)>();
    let mut done = 0u64;
    let mut failure: Option<Error> = None;
    std::thread::scope(|scope| {
        for backend in workers {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seed) = seed_at(i) else { break };
                    let r = run_seed(system, spec, Oracle::random(seed), backend.clone())
                        .map_err(Error::run(format!("seed {seed}")));
                    if tx.send((i, seed, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut early: BTreeMap<u64, (u64, Result<SeedReport, Error>)> = BTreeMap::new();
        for (i, seed, r) in rx {
            early.insert(i, (seed, r));
            while let Some((seed, r)) = early.remove(&done) {
                done += 1;
                match r {
                    Ok(report) if failure.is_none() => fold(seed, report),
                    Ok(_) => {}
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(done),
    }
}
