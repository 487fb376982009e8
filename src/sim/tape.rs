//! What the HTTP floor (issue 16 §1) needs from a recorded run besides its SQL, and the direct
//! mode that plays it back.
//!
//! - **Recording** ([`Tap`], set in [`super::SimConfig::tap`]): every request the network hands
//!   to an actor's router (a [`Delivery`], with its bytes and instant), every start of a job's
//!   main task ([`JobStart`]), every answer a handler or job got to a request it made
//!   ([`Answer`]), every choice one drew ([`Draw`]: a customer's pick modelled in the app), and
//!   every unit of work's fate and instants ([`UnitEntry`]), each tagged with the delivery
//!   whose handler, or the job start whose task, did it. Tapping changes
//!   nothing in the run: no choice, sleep or trace event.
//! - **Direct mode** ([`Direct`], [`super::Sim::direct`]): a `Sim` with no runtime, scheduler,
//!   network, trace or observer. Its clock is set from the tape; sleeps return at once (one
//!   past the tape's last instant never returns);
//!   [`super::Sim::request`] answers from the tape; a unit of work ([`crate::store::Db::unit`])
//!   runs only when the replayer gives its delivery the turn, with the fate it had in the run.
//!
//! What it does not do: decide the order things run in. The replayer
//! (`crate::systems::floor`) does, from the tape's order.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use super::net::{NetError, Request, Response};
use super::oracle::Oracle;
use super::world::lock;

tokio::task_local! {
    /// The delivery whose handler the running task is (set only while tapping or replaying).
    static DELIVERY: u64;
}

/// The delivery the running task handles, if any.
pub fn current_delivery() -> Option<u64> {
    DELIVERY.try_with(|d| *d).ok()
}

/// Runs `fut` as the handler of delivery `id`.
pub fn in_delivery<F: Future>(id: u64, fut: F) -> impl Future<Output = F::Output> {
    DELIVERY.scope(id, fut)
}

/// A request handed to an actor's router.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: u64,
    /// The receiving actor.
    pub to: String,
    pub request: Request,
    /// When its handler started.
    pub at_ms: u64,
    /// How many units had been tapped when it started (its place among them).
    pub units_before: usize,
    /// The status the handler answered, when it ran to the end (a crash can cut it short).
    pub status: Option<u16>,
}

/// A job's main task starting (when the run begins, or when a crashed job restarts). The task
/// runs as a delivery does: its units, the answers it gets and its draws carry `id`, so the floor
/// runs the job's own code rather than only its SQL.
#[derive(Clone, Debug)]
pub struct JobStart {
    /// Beyond every delivery's id ([`FIRST_JOB_ID`] and up).
    pub id: u64,
    /// The job's actor.
    pub actor: String,
    pub at_ms: u64,
    /// How many units had been tapped when it started.
    pub units_before: usize,
}

/// The first [`JobStart::id`]: a run never makes this many deliveries.
pub const FIRST_JOB_ID: u64 = 1 << 62;

/// A unit of work's fate in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitFate {
    /// The database was in an outage: the unit did not run.
    Outage,
    /// The unit ran (committed, rolled back, or committed with its answer lost).
    Ran { lost: bool },
}

/// One unit of work, in the order units ran.
#[derive(Clone, Debug)]
pub struct UnitEntry {
    /// The delivery whose handler ran it; `None` for actors' own tasks.
    pub delivery: Option<u64>,
    /// When it ran, and when its answer came back.
    pub at_ms: u64,
    pub end_ms: u64,
    pub fate: UnitFate,
}

/// What a handler got back from a request it made.
#[derive(Clone, Debug)]
pub struct Answer {
    pub delivery: u64,
    pub at_ms: u64,
    pub result: Result<Response, NetError>,
}

/// The choices a handler drew in one call of [`super::Sim::choose`].
#[derive(Clone, Debug)]
pub struct Draw {
    pub delivery: u64,
    pub choices: Vec<u64>,
}

/// A recorded run's requests, answers, handlers' draws and units (see the module
/// documentation).
#[derive(Clone, Debug, Default)]
pub struct Tape {
    pub deliveries: Vec<Delivery>,
    pub jobs: Vec<JobStart>,
    pub units: Vec<UnitEntry>,
    pub answers: Vec<Answer>,
    pub draws: Vec<Draw>,
    /// The run's last instant: no sleep past it ended.
    pub end_ms: u64,
}

/// Where a run writes its tape. Cloning shares it.
#[derive(Clone, Default)]
pub struct Tap(Arc<Mutex<Tape>>);

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tap")
    }
}

impl Tap {
    /// Takes what has been recorded, leaving the tap empty for the next run.
    pub fn take(&self) -> Tape {
        std::mem::take(&mut *lock(&self.0))
    }

    pub(crate) fn delivered(&self, mut d: Delivery) -> u64 {
        let mut t = lock(&self.0);
        d.id = t.deliveries.len() as u64 + 1;
        d.units_before = t.units.len();
        let id = d.id;
        t.deliveries.push(d);
        id
    }

    /// Notes that `actor`'s main task starts now; the id its task is to run under
    /// ([`in_delivery`]).
    pub fn job_started(&self, actor: &str, at_ms: u64) -> u64 {
        let mut t = lock(&self.0);
        let id = FIRST_JOB_ID + t.jobs.len() as u64;
        let units_before = t.units.len();
        t.jobs.push(JobStart { id, actor: actor.to_string(), at_ms, units_before });
        id
    }

    /// Notes the run's last instant.
    pub(crate) fn ended(&self, end_ms: u64) {
        lock(&self.0).end_ms = end_ms;
    }

    pub(crate) fn answered(&self, id: u64, status: u16) {
        if let Some(d) = lock(&self.0).deliveries.get_mut(id as usize - 1) {
            d.status = Some(status);
        }
    }

    /// Notes the choices of one `choose` call, when a handler made it.
    pub(crate) fn drew(&self, choices: &[u64]) {
        if let Some(delivery) = current_delivery() {
            lock(&self.0).draws.push(Draw { delivery, choices: choices.to_vec() });
        }
    }

    pub(crate) fn answer(&self, a: Answer) {
        lock(&self.0).answers.push(a);
    }

    /// Notes a unit; returns its index, for [`Tap::unit_ended`].
    pub fn unit(&self, u: UnitEntry) -> usize {
        let mut t = lock(&self.0);
        t.units.push(u);
        t.units.len() - 1
    }

    pub fn unit_ended(&self, index: usize, end_ms: u64) {
        if let Some(u) = lock(&self.0).units.get_mut(index) {
            u.end_ms = end_ms;
        }
    }
}

/// The state of a `Sim` in direct mode: its clock, the answers still to give, and whose turn
/// it is to run a unit.
#[derive(Default)]
pub struct Direct {
    clock: AtomicU64,
    /// The run's last instant ([`Tape::end_ms`]).
    end_ms: u64,
    answers: Mutex<BTreeMap<u64, VecDeque<Answer>>>,
    draws: Mutex<BTreeMap<u64, VecDeque<Vec<u64>>>>,
    turn: Mutex<Option<(u64, UnitEntry)>>,
}

impl Direct {
    /// A direct mode that answers each delivery's requests, and its handler's draws, as
    /// `tape` recorded them, in order.
    pub fn new(tape: &Tape) -> Direct {
        let mut answers: BTreeMap<u64, VecDeque<Answer>> = BTreeMap::new();
        for a in &tape.answers {
            answers.entry(a.delivery).or_default().push_back(a.clone());
        }
        let mut draws: BTreeMap<u64, VecDeque<Vec<u64>>> = BTreeMap::new();
        for d in &tape.draws {
            draws.entry(d.delivery).or_default().push_back(d.choices.clone());
        }
        Direct {
            clock: AtomicU64::new(0),
            end_ms: tape.end_ms,
            answers: Mutex::new(answers),
            draws: Mutex::new(draws),
            turn: Mutex::new(None),
        }
    }

    /// An oracle replaying the running handler's next recorded draw; `None` outside a handler.
    /// A handler that draws more often than it did in the run gets zeros (the replay
    /// oracle's past-the-end answer), and the floor's self-check sees the difference.
    pub(crate) fn draws(&self) -> Option<Oracle> {
        let d = current_delivery()?;
        let choices = lock(&self.draws).get_mut(&d).and_then(VecDeque::pop_front).unwrap_or_default();
        Some(Oracle::replay(choices))
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    pub fn set_clock(&self, t_ms: u64) {
        self.clock.store(t_ms, Ordering::Relaxed);
    }

    /// Returns at once, the clock moved on to `t_ms`, unless `t_ms` is past the run's last
    /// instant: in the run such a sleep never ended, so here it never does either (a job's loop
    /// stops there instead of spinning through time the run never reached).
    /// Answers whether the sleep ends (the caller waits for ever when it does not).
    pub(crate) fn sleep_until(&self, t_ms: u64) -> bool {
        if t_ms > self.end_ms {
            return false;
        }
        self.clock.fetch_max(t_ms, Ordering::Relaxed);
        true
    }

    /// Gives delivery `id` the turn to run `unit`; [`Direct::turn_taken`] says whether it did.
    pub fn give_turn(&self, id: u64, unit: UnitEntry) {
        *lock(&self.turn) = Some((id, unit));
    }

    /// Whether the turn last given has been taken (and clears it).
    pub fn turn_taken(&self) -> bool {
        lock(&self.turn).take().is_none()
    }

    /// Waits until the running delivery has the turn, and takes its unit. Outside a delivery
    /// (or never given the turn) it waits for ever: the replayer drops what it cannot finish.
    pub async fn unit_turn(&self) -> UnitEntry {
        let me = current_delivery();
        poll_fn(|_| {
            let mut turn = lock(&self.turn);
            match turn.as_ref() {
                Some((id, _)) if Some(*id) == me => {
                    let (_, unit) = turn.take().expect("checked above");
                    Poll::Ready(unit)
                }
                _ => Poll::Pending,
            }
        })
        .await
    }

    /// The running delivery's next recorded answer; waits for ever when there is none (the
    /// handler was cut short in the run before it got one).
    pub(crate) async fn answer(&self) -> Result<Response, NetError> {
        let next = current_delivery().and_then(|d| lock(&self.answers).get_mut(&d).and_then(VecDeque::pop_front));
        match next {
            Some(a) => {
                self.set_clock(a.at_ms);
                a.result
            }
            None => std::future::pending().await,
        }
    }
}
