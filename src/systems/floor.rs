//! The HTTP floor (issue 16 §1): a recorded seed's exact work — the same HTTP requests into
//! the same app routers, the same units of work with the same SQL, in the same order — run
//! directly, with no scheduler, network, oracle, trace or checker.
//!
//! [`record`] runs a seed with a [`Tap`] on the simulation and a [`Recording`] backend, so it
//! keeps both the seed's SQL and what the network handed to the apps ([`Recorded`]). [`replay`]
//! then walks the seed's units of work in the order they ran:
//!
//! - a unit an app's handler ran is run *by that handler*: the recorded request goes into the
//!   app's router (built as a run builds it, on a direct-mode `Sim`: see [`crate::sim::tape`]),
//!   and the handler runs until it reaches the unit, which it is given the turn to run, with
//!   the fate it had (an outage, an answer lost). Requests the handler makes get the answers it
//!   got in the run. A handler that ran no unit still runs, where its request arrived.
//! - a unit a job's main task ran (a cron's sweep, reconciliation) is run *by that job*: each
//!   start of the job in the run (the first, and every restart after a crash) starts the job's
//!   own task here, from the same part, and it runs from turn to turn as a handler does, with
//!   the answers its requests got in the run. So the floor counts the job's own code too: its
//!   parsing of the provider's answers, its decisions between units.
//! - every other unit (the checkout's insert, a customer's or the provider's work, the seed's
//!   rows) is replayed as its recorded SQL, as the SQL floor does
//!   ([`crate::store::recording::replay`]).
//!
//! [`self_check`] holds a floor to its run: the floor's own SQL, recorded, must equal the run's
//! call for call, and every handler that answered in the run must answer the same status.
//!
//! What the floor leaves out is settle's: the scheduler, the network's faults and latency, the
//! provider and the customers (their answers come from the tape), the trace and the checker.
//! What it keeps of the shop's own work: routing, body parsing, signatures, the handlers' and
//! the jobs' code and their SQL. What it does not measure: the Rust code of actors that are
//! neither apps nor jobs (customers, an owner's clicks: the world around the shop), which the
//! floor replays as SQL only, and tasks a job spawns (their units are replayed as SQL).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::Router;

use super::{RunSpec, System, SystemError};
use crate::sim::net::{self, Response};
use crate::sim::tape::{self, Direct, Tap, Tape, UnitFate};
use crate::sim::world::{ActorFuture, lock};
use crate::sim::{Oracle, Sim};
use crate::store::recording::{self, Op, Recording};
use crate::store::sqlite::Sqlite;
use crate::store::{SharedBackend, SqlError, shared};

/// Why a seed has no floor, or left its run's path.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("system {0} has no in-process app routers to replay")]
    NoRouters(String),
    #[error("the recorded run failed")]
    Run(#[source] SystemError),
    #[error("the floor's SQL failed where the run's did not")]
    Sql(#[source] SqlError),
    #[error("the floor left the run's path: {0}")]
    Diverged(String),
}

/// One seed's recorded work: its SQL (with unit markers) and its tape.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub seed: u64,
    pub ops: Vec<Op>,
    pub tape: Tape,
}

/// What one floor replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloorStats {
    /// Requests handed to the apps' routers.
    pub requests: usize,
    /// Units run by those handlers, units run by jobs' own tasks, and units replayed as SQL.
    pub handler_units: usize,
    pub job_units: usize,
    pub sql_units: usize,
    /// Job tasks started (each start in the run: the first, and every restart).
    pub job_starts: usize,
}

/// Builds a job's main task on the floor's world (its part's own factory).
pub type JobFn = Arc<dyn Fn() -> ActorFuture + Send + Sync>;

/// The world a seed is replayed in: a direct-mode `Sim` and the apps' routers on it.
pub struct FloorWorld {
    pub sim: Sim,
    pub backend: SharedBackend,
    /// (actor, router) for every app.
    pub routers: Vec<(String, Router)>,
    /// (actor, main task) for every job.
    pub jobs: Vec<(String, JobFn)>,
}

/// Runs `seed` of `system` with a tap and a recording backend (embedded SQLite).
pub fn record(system: &dyn System, spec: &RunSpec, seed: u64) -> Result<Recorded, FloorError> {
    let tap = Tap::default();
    let mut spec = spec.clone();
    spec.sim.tap = Some(tap.clone());
    let (rec, log) = Recording::new(Sqlite::memory().map_err(FloorError::Sql)?);
    system.run(&spec, Oracle::random(seed), shared(rec)).map_err(FloorError::Run)?;
    let ops = std::mem::take(&mut *lock(&log));
    Ok(Recorded { seed, ops, tape: tap.take() })
}

/// Builds `recorded`'s world on `backend`, and replays the seed in it.
pub fn run(
    system: &dyn System,
    spec: &RunSpec,
    recorded: &Recorded,
    backend: SharedBackend,
) -> Result<FloorStats, FloorError> {
    let direct = Direct::new(&recorded.tape);
    let world = system
        .floor_world(spec, Oracle::random(recorded.seed), backend, direct)
        .ok_or_else(|| FloorError::NoRouters(system.name().to_string()))?;
    replay(&world, recorded)
}

/// Records `seed`, replays it on a recording backend, and compares the two: the floor's SQL
/// must be the run's, call for call.
pub fn self_check(system: &dyn System, spec: &RunSpec, seed: u64) -> Result<(Recorded, FloorStats), FloorError> {
    let recorded = record(system, spec, seed)?;
    let (rec, log) = Recording::new(Sqlite::memory().map_err(FloorError::Sql)?);
    let stats = run(system, spec, &recorded, shared(rec))?;
    let floor = std::mem::take(&mut *lock(&log));
    if let Some(i) = (0..recorded.ops.len().max(floor.len())).find(|&i| recorded.ops.get(i) != floor.get(i)) {
        return Err(FloorError::Diverged(format!(
            "seed {seed}: call {i} of the floor's SQL is {:?}, the run's was {:?}",
            floor.get(i),
            recorded.ops.get(i)
        )));
    }
    Ok((recorded, stats))
}

/// A started handler (its answer) or job (which never ends: it is dropped where it waits).
type Task = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;

/// A started task: its delivery (`None` for a job), and the future until it has ended.
struct Live {
    delivery: Option<usize>,
    fut: Option<Task>,
}

/// Replays `recorded` in `world` (see the module documentation).
pub fn replay(world: &FloorWorld, recorded: &Recorded) -> Result<FloorStats, FloorError> {
    let direct = world.sim.direct_mode().ok_or_else(|| FloorError::Diverged("the world is not direct".into()))?;
    let tape = &recorded.tape;
    let segments = split_units(&recorded.ops);
    let ran = tape.units.iter().filter(|u| matches!(u.fate, UnitFate::Ran { .. })).count();
    // Units before the run's own (the seed's rows) were not tapped: they come first.
    let setup = segments.units.len().checked_sub(ran).ok_or_else(|| {
        FloorError::Diverged(format!("{ran} units ran, but the SQL has {} unit markers", segments.units.len()))
    })?;
    let backend_sql = |ops: &[Op]| -> Result<(), FloorError> {
        recording::replay(lock(&world.backend).as_mut(), ops).map_err(FloorError::Sql)
    };
    backend_sql(segments.prefix)?;
    for unit in &segments.units[..setup] {
        backend_sql(unit)?;
    }

    let mut walk = Walk {
        world,
        direct,
        tape,
        live: BTreeMap::new(),
        stats: FloorStats::default(),
        cx: Context::from_waker(Waker::noop()),
    };
    let (mut next_delivery, mut next_job) = (0, 0);
    let mut next_segment = setup;
    // One step past the last unit starts what came after it: a handler runs to its answer, a job
    // to where it waits (its status calls are counted; it has no unit left to run).
    for (i, unit) in tape.units.iter().map(Some).chain([None]).enumerate() {
        while next_delivery < tape.deliveries.len() && tape.deliveries[next_delivery].units_before <= i {
            walk.start(next_delivery)?;
            next_delivery += 1;
        }
        while next_job < tape.jobs.len() && tape.jobs[next_job].units_before <= i {
            walk.start_job(next_job)?;
            next_job += 1;
        }
        let Some(unit) = unit else { break };
        let segment = match unit.fate {
            UnitFate::Ran { .. } => {
                next_segment += 1;
                Some(&segments.units[next_segment - 1])
            }
            UnitFate::Outage => None,
        };
        match unit.delivery.filter(|d| walk.live.contains_key(d)) {
            Some(d) => walk.turn(i, d, unit)?,
            None => {
                if let Some(ops) = segment {
                    backend_sql(ops)?;
                    walk.stats.sql_units += 1;
                }
            }
        }
    }
    walk.finish()
}

/// The floor's walk over a seed's units: the tasks it has started, and what it has counted.
struct Walk<'a> {
    world: &'a FloorWorld,
    direct: &'a Direct,
    tape: &'a Tape,
    /// Started handlers and jobs, by delivery id or job start id.
    live: BTreeMap<u64, Live>,
    stats: FloorStats,
    /// Nothing is woken in the floor: a task is polled when its turn or its start comes.
    cx: Context<'static>,
}

impl Walk<'_> {
    /// Starts the handler of delivery `index` if its actor is an app, and runs it as far as it
    /// goes.
    fn start(&mut self, index: usize) -> Result<(), FloorError> {
        let tape = self.tape;
        let d = &tape.deliveries[index];
        let Some((_, router)) = self.world.routers.iter().find(|(name, _)| *name == d.to) else {
            return Ok(());
        };
        self.stats.requests += 1;
        let (router, request) = (router.clone(), d.request.clone());
        self.launch(d.id, d.at_ms, Some(index), move || {
            Box::pin(tape::in_delivery(d.id, async move { Some(net::handle(router, &request).await) }))
        })
    }

    /// Starts the job task the run started as `tape.jobs[index]`, and runs it as far as it goes.
    fn start_job(&mut self, index: usize) -> Result<(), FloorError> {
        let j = &self.tape.jobs[index];
        let (_, job) = self.world.jobs.iter().find(|(name, _)| *name == j.actor).ok_or_else(|| {
            FloorError::Diverged(format!("job {} started in the run, but the floor has no such job", j.actor))
        })?;
        self.stats.job_starts += 1;
        self.launch(j.id, j.at_ms, None, || {
            let task = job();
            Box::pin(tape::in_delivery(j.id, async move {
                task.await;
                None
            }))
        })
    }

    /// Sets the clock to the start's instant, builds the task there (a job's factory may read
    /// the clock), keeps it under `id` and runs it as far as it goes.
    fn launch(
        &mut self,
        id: u64,
        at_ms: u64,
        delivery: Option<usize>,
        build: impl FnOnce() -> Task,
    ) -> Result<(), FloorError> {
        self.direct.set_clock(at_ms);
        let l = self.live.entry(id).or_insert(Live { delivery, fut: Some(build()) });
        poll(l, &mut self.cx, self.tape)
    }

    /// Gives unit `i` to the started task `id` and polls it: it must run the unit, as it did
    /// in the run.
    fn turn(&mut self, i: usize, id: u64, unit: &tape::UnitEntry) -> Result<(), FloorError> {
        self.direct.give_turn(id, unit.clone());
        let l = self.live.get_mut(&id).expect("the caller checked it is live");
        let is_job = l.delivery.is_none();
        poll(l, &mut self.cx, self.tape)?;
        if !self.direct.turn_taken() {
            let whose = if is_job { "the job started as" } else { "the handler of delivery" };
            return Err(FloorError::Diverged(format!("unit {i}: {whose} {id} did not run a unit where the run's did")));
        }
        if is_job {
            self.stats.job_units += 1;
        } else {
            self.stats.handler_units += 1;
        }
        Ok(())
    }

    /// Ends the walk. Jobs are dropped where they wait, as are handlers the run cut short (a
    /// crash); the other handlers must have answered.
    fn finish(self) -> Result<FloorStats, FloorError> {
        for l in self.live.values() {
            let Some(d) = l.delivery.map(|d| &self.tape.deliveries[d]) else { continue };
            if l.fut.is_some() && d.status.is_some() {
                return Err(FloorError::Diverged(format!(
                    "delivery {} to {} ({} {}) answered in the run, but waits in the floor",
                    d.id, d.to, d.request.method, d.request.path
                )));
            }
        }
        Ok(self.stats)
    }
}

/// Polls a live task once; when a handler answers, checks its status against the run's.
fn poll(l: &mut Live, cx: &mut Context<'_>, tape: &Tape) -> Result<(), FloorError> {
    let Some(fut) = l.fut.as_mut() else { return Ok(()) };
    if let Poll::Ready(resp) = fut.as_mut().poll(cx) {
        l.fut = None;
        let (Some(index), Some(resp)) = (l.delivery, resp) else { return Ok(()) };
        let d = &tape.deliveries[index];
        if d.status.is_some_and(|s| s != resp.status) {
            return Err(FloorError::Diverged(format!(
                "delivery {} to {} ({} {}) answered {} in the floor, {} in the run",
                d.id,
                d.to,
                d.request.method,
                d.request.path,
                resp.status,
                d.status.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// A recorded log cut at its unit markers.
struct Segments<'a> {
    /// What comes before the first unit (the reset).
    prefix: &'a [Op],
    /// Each unit's calls, its marker first.
    units: Vec<&'a [Op]>,
}

fn split_units(ops: &[Op]) -> Segments<'_> {
    let starts: Vec<usize> = ops.iter().enumerate().filter(|(_, o)| matches!(o, Op::Unit)).map(|(i, _)| i).collect();
    let prefix = &ops[..starts.first().copied().unwrap_or(ops.len())];
    let units =
        starts.iter().enumerate().map(|(k, &s)| &ops[s..starts.get(k + 1).copied().unwrap_or(ops.len())]).collect();
    Segments { prefix, units }
}
