//! Running a scenario's seeds and judging the run set against its expectation.
//!
//! Bulk runs do not record traces (only event counts); a failing seed is replayed with its
//! trace on, from the same seed, which reproduces it exactly. Wall-clock time is read here and
//! only here, to report throughput; it never reaches a simulation.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::check::{Coverage, Violation};
use crate::error::Error;
use crate::sim::Oracle;
use crate::store::{SharedBackend, shared, sqlite::Sqlite};
use crate::systems::{SeedReport, System};

use super::file::{Outcome, Scenario};

/// Which seeds to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSelection {
    /// `count` seeds starting at `start`.
    Range {
        start: u64,
        count: u64,
    },
    One(u64),
}

impl SeedSelection {
    pub fn iter(self) -> impl Iterator<Item = u64> {
        let (start, count) = match self {
            SeedSelection::Range { start, count } => (start, count),
            SeedSelection::One(s) => (s, 1),
        };
        (0..count).map(move |i| start.wrapping_add(i))
    }

    pub fn len(self) -> u64 {
        match self {
            SeedSelection::Range { count, .. } => count,
            SeedSelection::One(_) => 1,
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Where runs keep their data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Backends {
    /// SQLite in memory through rusqlite (the default: no server, fastest).
    #[default]
    Embedded,
    /// A database URL through sqlx (`sqlite:`, `postgres://`, `mysql://`).
    Url(String),
}

impl Backends {
    pub fn connect(&self) -> Result<SharedBackend, Error> {
        match self {
            Backends::Embedded => {
                Sqlite::memory().map(shared).map_err(|e| Error::Infrastructure(format!("embedded SQLite: {e}")))
            }
            Backends::Url(url) => {
                use crate::store::sqlx_bridge::{URL_SCHEMES, redact_url, url_kind};
                if url_kind(url).is_none() {
                    return Err(Error::Usage(format!(
                        "--db {}: unsupported database URL; expected one starting with {URL_SCHEMES}",
                        redact_url(url)
                    )));
                }
                crate::store::connect_url(url).map_err(|e| Error::Infrastructure(e.to_string()))
            }
        }
    }
}

/// How a run set ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The expectation was met.
    Met,
    /// An invariant was violated in a scenario that expects a pass.
    UnexpectedViolation,
    /// The expected violation was not found within the seeds.
    ExpectedNotFound,
    /// A passing run set never exercised these marks.
    Vacuous(Vec<String>),
}

impl Verdict {
    pub fn ok(&self) -> bool {
        *self == Verdict::Met
    }
}

/// The result of running a scenario's seeds.
#[derive(Clone, Debug)]
pub struct Summary {
    pub name: String,
    pub path: String,
    pub seeds_run: u64,
    /// Seeds that violated at least one invariant.
    pub violating_seeds: u64,
    /// Invariant → number of seeds that violated it.
    pub per_invariant: BTreeMap<String, u64>,
    /// The first seed that matters: the first unexpected violation, or the first seed showing
    /// the expected one.
    pub first_seed: Option<u64>,
    pub first_violation: Option<Violation>,
    pub coverage: Coverage,
    pub events: u64,
    pub elapsed_s: f64,
    pub verdict: Verdict,
}

impl Summary {
    pub fn seeds_per_s(&self) -> f64 {
        self.seeds_run as f64 / self.elapsed_s.max(1e-9)
    }
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed_s.max(1e-9)
    }
}

/// The command that replays one seed.
pub fn replay_command(path: &str, seed: u64) -> String {
    format!("settle replay {path} --seed {seed}")
}

/// Runs one seed of `s` on `backend`.
pub fn run_one(s: &Scenario, seed: u64, record: bool, backend: SharedBackend) -> Result<SeedReport, Error> {
    let system = s.build_system();
    system.run(&s.run_spec(record), Oracle::random(seed), backend).map_err(|e| Error::Infrastructure(e.to_string()))
}

/// Runs `seeds` of `s` and judges them.
pub fn run_scenario(s: &Scenario, path: &str, seeds: SeedSelection, backends: &Backends) -> Result<Summary, Error> {
    run_scenario_with(s, s.build_system().as_ref(), path, seeds, backends)
}

/// Runs `seeds` of `s` against `system` — your own, e.g. the scenario's system with your app
/// plugged in — and judges them against the scenario's expectation.
pub fn run_scenario_with(
    s: &Scenario,
    system: &dyn System,
    path: &str,
    seeds: SeedSelection,
    backends: &Backends,
) -> Result<Summary, Error> {
    let backend = backends.connect()?;
    let spec = s.run_spec(false);
    let expect = s.expect.get_ref();
    let mut coverage = Coverage::new(system.sometimes(&spec));
    let mut per_invariant: BTreeMap<String, u64> = BTreeMap::new();
    let (mut violating_seeds, mut events) = (0, 0);
    let mut first: Option<(u64, Violation)> = None;
    let started = Instant::now();
    for seed in seeds.iter() {
        let report = system
            .run(&spec, Oracle::random(seed), backend.clone())
            .map_err(|e| Error::Infrastructure(e.to_string()))?;
        events += report.event_count;
        coverage.add(&report.marks);
        if !report.violations.is_empty() {
            violating_seeds += 1;
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &report.violations {
            if seen.insert(v.invariant.clone()) {
                *per_invariant.entry(v.invariant.clone()).or_default() += 1;
            }
        }
        if first.is_none() {
            let relevant = match expect.outcome {
                Outcome::Pass => report.violations.first(),
                Outcome::Violation => {
                    report.violations.iter().find(|v| Some(&v.invariant) == expect.invariant.as_ref())
                }
            };
            if let Some(v) = relevant {
                first = Some((seed, v.clone()));
            }
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let verdict = match expect.outcome {
        Outcome::Pass if violating_seeds > 0 => Verdict::UnexpectedViolation,
        Outcome::Pass => {
            let unreached: Vec<String> = coverage.unreached().iter().map(|m| m.mark.clone()).collect();
            // One seed cannot be expected to exercise every fault; a run set can.
            if unreached.is_empty() || seeds.len() <= 1 { Verdict::Met } else { Verdict::Vacuous(unreached) }
        }
        Outcome::Violation if first.is_some() => Verdict::Met,
        Outcome::Violation => Verdict::ExpectedNotFound,
    };
    Ok(Summary {
        name: s.name.clone(),
        path: path.to_string(),
        seeds_run: seeds.len(),
        violating_seeds,
        per_invariant,
        first_seed: first.as_ref().map(|(seed, _)| *seed),
        first_violation: first.map(|(_, v)| v),
        coverage,
        events,
        elapsed_s,
        verdict,
    })
}
