//! Running a scenario's seeds and judging the run set against its expectation.
//!
//! Bulk runs do not record traces (only event counts); a failing seed is replayed with its
//! trace on, from the same seed, which reproduces it exactly. Wall-clock time is read here and
//! only here, to report throughput; it never reaches a simulation.

use std::collections::BTreeMap;
use std::time::Instant;

use std::time::Duration;

use crate::check::{Coverage, Sometimes, Violation};
use crate::error::Error;
use crate::sim::Oracle;
use crate::store::{SharedBackend, shared, sqlite::Sqlite};
use crate::systems::{SeedReport, System, run_seed};

use super::file::{Expect, Outcome, Scenario};
use super::pool;
use super::shrink::{self, Shrunk};

/// Which seeds to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSelection {
    /// `count` seeds starting at `start`.
    Range {
        start: u64,
        count: u64,
    },
    One(u64),
    /// Seeds from `start` on, until the time budget is spent.
    Endless {
        start: u64,
    },
}

impl SeedSelection {
    /// The `i`-th seed of the selection.
    pub fn seed_at(self, i: u64) -> Option<u64> {
        match self {
            SeedSelection::Range { start, count } => {
                if i < count {
                    start.checked_add(i)
                } else {
                    None
                }
            }
            SeedSelection::One(s) => (i == 0).then_some(s),
            // Seeds end at the last u64; they never wrap around to 0.
            SeedSelection::Endless { start } => start.checked_add(i),
        }
    }

    pub fn iter(self) -> impl Iterator<Item = u64> {
        (0..).map_while(move |i| self.seed_at(i))
    }

    /// How many seeds, `None` when endless.
    pub fn count(self) -> Option<u64> {
        match self {
            SeedSelection::Range { count, .. } => Some(count),
            SeedSelection::One(_) => Some(1),
            SeedSelection::Endless { .. } => None,
        }
    }
}

/// One machine's part of a CI matrix: shard `index` (1-based) of `total`. Seed number `i` of
/// the selection belongs to shard `i % total + 1`, so shards are balanced and their union is
/// the whole selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub total: u64,
}

impl Shard {
    /// Parses `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text.split_once('/').ok_or_else(|| format!("{text:?}: expected K/N, e.g. 2/4"))?;
        let (index, total) = (k.trim().parse::<u64>(), n.trim().parse::<u64>());
        match (index, total) {
            (Ok(index), Ok(total)) if total >= 1 && (1..=total).contains(&index) => Ok(Shard { index, total }),
            _ => Err(format!("{text:?}: expected K/N with 1 ≤ K ≤ N, e.g. 2/4")),
        }
    }

    /// The `i`-th seed of this shard of `seeds`.
    pub fn seed_at(self, seeds: SeedSelection, i: u64) -> Option<u64> {
        let j = i.checked_mul(self.total)?.checked_add(self.index - 1)?;
        seeds.seed_at(j)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// How to run a scenario's seeds.
#[derive(Clone, Default)]
pub struct RunOptions<'a> {
    /// Threads (0 or 1: one).
    pub jobs: usize,
    pub shard: Option<Shard>,
    /// Stop taking new seeds after this long.
    pub time_budget: Option<Duration>,
    /// Shrink the first failure (the one the verdict names) within this budget.
    pub shrink: Option<shrink::Budget>,
    /// Force swarm testing on (per-seed fault rates) even when the scenario does not ask.
    pub swarm: bool,
    /// Called after each seed with (seeds done, seeds planned if known).
    pub progress: Option<&'a (dyn Fn(u64, Option<u64>) + Sync)>,
    /// The program replay commands name (default `settle`; empty: print none).
    pub program: Option<&'a str>,
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
            Backends::Embedded => Sqlite::memory()
                .map(shared)
                .map_err(|source| Error::Database { context: "embedded SQLite".into(), source }),
            Backends::Url(url) => {
                use crate::store::sqlx_bridge::{URL_SCHEMES, redact_url, url_kind, url_problem};
                if url_kind(url).is_none() {
                    return Err(Error::Usage(format!(
                        "--db {}: unsupported database URL; expected one starting with {URL_SCHEMES}",
                        redact_url(url)
                    )));
                }
                if let Some(problem) = url_problem(url) {
                    return Err(Error::Usage(format!(
                        "--db {}: not a database URL settle can read: {problem}",
                        redact_url(url)
                    )));
                }
                crate::store::connect_url(url)
                    .map_err(|source| Error::Database { context: format!("--db {}", redact_url(url)), source })
            }
        }
    }
}

/// How a run set ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "unreached")]
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

    /// Judges runs against an expectation: the one place every command (run, explore, replay,
    /// the `#[test]` runner) decides whether an expectation is met. `violating` counts runs with
    /// any violation, `found` says whether one showed the expected invariant. A passing set must
    /// have reached every required `sometimes` mark of `coverage`; give `None` where coverage
    /// cannot be asked of the runs (one seed cannot be expected to exercise every fault).
    pub fn judge(expect: &Expect, violating: u64, found: bool, coverage: Option<&Coverage>) -> Verdict {
        match expect.outcome {
            Outcome::Pass if violating > 0 => Verdict::UnexpectedViolation,
            Outcome::Pass => {
                let unreached: Vec<String> =
                    coverage.map(|c| c.unreached().iter().map(|m| m.mark.clone()).collect()).unwrap_or_default();
                if unreached.is_empty() { Verdict::Met } else { Verdict::Vacuous(unreached) }
            }
            Outcome::Violation if found => Verdict::Met,
            Outcome::Violation => Verdict::ExpectedNotFound,
        }
    }

    /// One run judged alone (a replay): no coverage is asked of it.
    pub fn of_run(expect: &Expect, violations: &[Violation]) -> Verdict {
        Verdict::judge(expect, u64::from(!violations.is_empty()), expect.found_in(violations).is_some(), None)
    }
}

impl Expect {
    /// Expects a clean run set, with no marks of its own beyond the system's.
    pub fn pass() -> Expect {
        Expect { outcome: Outcome::Pass, invariant: None, sometimes: Vec::new() }
    }

    /// Expects `invariant` violated (how a replay file is judged: by the failure it saved).
    pub fn violation(invariant: &str) -> Expect {
        Expect { outcome: Outcome::Violation, invariant: Some(invariant.to_string()), sometimes: Vec::new() }
    }

    /// The marks a passing run set must reach: the system's and its faults' (`system`), then
    /// the scenario's own `sometimes` not among them.
    pub fn required_marks(&self, system: Vec<Sometimes>) -> Vec<Sometimes> {
        let mut marks = system;
        for m in &self.sometimes {
            if !marks.iter().any(|s| s.mark == *m) {
                marks.push(Sometimes { mark: m.clone(), doc: "required by the scenario's [expect] sometimes".into() });
            }
        }
        marks
    }

    /// The violation that matters to this expectation: with `pass`, the first of any; with
    /// `violation`, the first of the expected invariant.
    pub fn found_in<'a>(&self, violations: &'a [Violation]) -> Option<&'a Violation> {
        match self.outcome {
            Outcome::Pass => violations.first(),
            Outcome::Violation => violations.iter().find(|v| Some(&v.invariant) == self.invariant.as_ref()),
        }
    }
}

/// The result of running a scenario's seeds.
#[derive(Clone, Debug)]
pub struct Summary {
    pub name: String,
    pub path: String,
    pub system: String,
    pub expect: Expect,
    pub selection: SeedSelection,
    pub shard: Option<Shard>,
    pub seeds_run: u64,
    /// The time budget ran out before the selection did.
    pub budget_spent: bool,
    /// Seeds that violated at least one invariant.
    pub violating_seeds: u64,
    /// Invariant → number of seeds that violated it.
    pub per_invariant: BTreeMap<String, u64>,
    /// The first seed that matters: the first unexpected violation, or the first seed showing
    /// the expected one.
    pub first_seed: Option<u64>,
    pub first_violation: Option<Violation>,
    /// That seed's choices (what shrinking starts from).
    pub first_choices: Vec<u64>,
    /// The first failure, shrunk (when shrinking was asked for and there is a failure).
    pub shrunk: Option<Shrunk>,
    pub coverage: Coverage,
    pub events: u64,
    pub elapsed_s: f64,
    pub verdict: Verdict,
    /// The program that reproduces a failure (`settle`, or a team's own binary).
    pub program: String,
}

impl Summary {
    /// The command that replays the first failing seed, if there is one (and a program to run
    /// it with: the `#[test]` runner prints its own commands instead).
    pub fn replay_command(&self) -> Option<String> {
        let seed = self.first_seed.filter(|_| !self.program.is_empty())?;
        Some(replay_command_of(&self.program, &self.path, seed))
    }

    pub fn seeds_per_s(&self) -> f64 {
        self.seeds_run as f64 / self.elapsed_s.max(1e-9)
    }
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed_s.max(1e-9)
    }
}

/// The command that replays one seed with settle's own binary.
pub fn replay_command(path: &str, seed: u64) -> String {
    replay_command_of("settle", path, seed)
}

/// The command that replays one seed with `program`.
pub fn replay_command_of(program: &str, path: &str, seed: u64) -> String {
    format!("{program} replay {path} --seed {seed}")
}

/// Runs one seed of `s` (with settle's own systems) on `backend`.
pub fn run_one(s: &Scenario, seed: u64, record: bool, backend: SharedBackend) -> Result<SeedReport, Error> {
    run_choices(s, Oracle::random(seed), record, backend)
}

/// Runs `s` (with settle's own systems) with `oracle` (a seed's, or a replayed choice list).
pub fn run_choices(s: &Scenario, oracle: Oracle, record: bool, backend: SharedBackend) -> Result<SeedReport, Error> {
    run_system(s.build_system()?.as_ref(), s, oracle, record, backend)
}

/// Runs `system` under `s`'s settings with `oracle` on `backend`.
pub fn run_system(
    system: &dyn System,
    s: &Scenario,
    oracle: Oracle,
    record: bool,
    backend: SharedBackend,
) -> Result<SeedReport, Error> {
    run_seed(system, &s.run_spec(record), oracle, backend).map_err(Error::run(format!("scenario {:?}", s.name)))
}

/// Runs `seeds` of `s` and judges them.
pub fn run_scenario(s: &Scenario, path: &str, seeds: SeedSelection, backends: &Backends) -> Result<Summary, Error> {
    run_scenario_with(s, s.build_system()?.as_ref(), path, seeds, backends)
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
    run_scenario_opts(s, system, path, seeds, backends, &RunOptions::default())
}

/// [`run_scenario_with`] with threads, sharding, a time budget, shrinking and progress.
pub fn run_scenario_opts(
    s: &Scenario,
    system: &dyn System,
    path: &str,
    seeds: SeedSelection,
    backends: &Backends,
    opts: &RunOptions<'_>,
) -> Result<Summary, Error> {
    if seeds.count().is_none() && opts.time_budget.is_none() {
        return Err(Error::Usage("an endless seed selection needs a time budget".into()));
    }
    let mut spec = s.run_spec(false);
    spec.swarm |= opts.swarm;
    let expect = s.expect.get_ref().clone();
    let mut coverage = Coverage::new(expect.required_marks(system.sometimes(&spec)));
    let mut per_invariant: BTreeMap<String, u64> = BTreeMap::new();
    let (mut violating_seeds, mut events) = (0, 0);
    let mut first: Option<(u64, Violation, Vec<u64>)> = None;
    let planned = match (seeds.count(), opts.shard) {
        (Some(n), Some(sh)) => Some(n / sh.total + u64::from(n % sh.total >= sh.index)),
        (n, _) => n,
    };
    let seed_at = |i: u64| match opts.shard {
        Some(sh) => sh.seed_at(seeds, i),
        None => seeds.seed_at(i),
    };
    let started = Instant::now();
    let deadline = opts.time_budget.map(|b| started + b);
    let mut done = 0;
    let mut fold = |seed: u64, report: SeedReport| {
        done += 1;
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
        if first.is_none()
            && let Some(v) = expect.found_in(&report.violations)
        {
            first = Some((seed, v.clone(), report.choices.clone()));
        }
        if let Some(progress) = opts.progress {
            progress(done, planned);
        }
    };
    let seeds_run = pool::run_seeds(system, &spec, backends, opts.jobs, deadline, &seed_at, &mut fold)?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let verdict = Verdict::judge(&expect, violating_seeds, first.is_some(), (seeds_run > 1).then_some(&coverage));
    let shrunk = match (&first, opts.shrink) {
        (Some((_, v, choices)), Some(budget)) => {
            let backend = backends.connect()?;
            Some(shrink::shrink(system, &spec, backend, choices.clone(), &v.invariant, budget)?)
        }
        _ => None,
    };
    let (first_seed, first_violation, first_choices) = match first {
        Some((seed, v, c)) => (Some(seed), Some(v), c),
        None => (None, None, Vec::new()),
    };
    Ok(Summary {
        name: s.name.clone(),
        path: path.to_string(),
        system: s.system.get_ref().clone(),
        expect,
        selection: seeds,
        shard: opts.shard,
        seeds_run,
        budget_spent: planned.is_none_or(|p| seeds_run < p),
        violating_seeds,
        per_invariant,
        first_seed,
        first_violation,
        first_choices,
        shrunk,
        coverage,
        events,
        elapsed_s,
        verdict,
        program: opts.program.unwrap_or("settle").to_string(),
    })
}
