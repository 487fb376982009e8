//! The world: one simulated run on a paused, single-threaded tokio runtime.
//!
//! Every actor is a set of tokio tasks. The runtime's clock is paused, so when every task is
//! waiting, time jumps straight to the next timer: a day-long horizon costs only the events
//! that happen in it. Tasks due in the same millisecond go on in an order the oracle draws
//! ([`Sim::sleep_until_ms`]), not always in the runtime's wake order. A [`Sim`] handle, cheap to clone, gives actors the clock, the oracle, the
//! trace, the network ([`super::net`]) and crash/restart control.
//!
//! A run has two phases: a *safety* phase (load arrives, faults are on) and a *liveness* phase
//! (faults healed, no new load, a bounded time to converge). An observer hook lets the checker
//! look at the world after every step and stop the run at the first violation.
//!
//! What it does not do: it never touches real I/O, threads or wall-clock time, and it knows
//! nothing of payments.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::clock::SimClock;
use super::net::{Endpoint, NetConfig};
use super::oracle::Oracle;
use super::tape::{Direct, Tap};
use super::time::{Millis, Range};
use super::trace::{Event, Kind, Trace};

/// Locks a mutex, ignoring poisoning: the simulation is single-threaded, so a poisoned lock can
/// only come from a panic that is already unwinding the run.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The phase a run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Safety,
    Liveness,
}

/// What just happened, for the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A unit of work committed; `wrote` is false when it changed no row. `key` is the entity
    /// the unit is about (empty when it may touch several).
    Unit { wrote: bool, key: &'a str },
    /// A message was handled by its receiver.
    Message,
    /// An actor recorded what it shows a person (a browser tab's screen after a change): checked
    /// like a unit that wrote, so an `always` invariant sees every observation as it happens.
    /// `key` is the entity shown (empty: several).
    Observation { key: &'a str },
}

/// A future an actor runs; boxed so factories can be stored and re-run after a crash.
pub type ActorFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// Builds an actor's main task; runs again on every restart.
pub type Factory = Arc<dyn Fn(Sim) -> ActorFuture + Send + Sync>;
/// Called after every step; the checker lives here.
pub type Observer = Arc<dyn Fn(&Sim, Step<'_>) + Send + Sync>;

/// Crash faults: how many crashes a run may have, of which actors, for how long.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashConfig {
    pub actors: Vec<String>,
    /// At most this many crashes per run; the number is drawn from `0..=count_max`.
    pub count_max: u32,
    pub down: Option<Range>,
}

/// Everything a run needs besides its oracle.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub record: bool,
    pub safety: Millis,
    pub liveness: Millis,
    /// Unix epoch milliseconds of simulated time 0, for timestamps in payloads.
    pub epoch_ms: u64,
    pub net: NetConfig,
    pub crashes: CrashConfig,
    /// Lines printed at the top of the trace (e.g. the swarm's fault levels of this seed).
    pub notes: Vec<String>,
    /// Where to record what the HTTP floor replays (see [`super::tape`]); `None` records nothing.
    pub tap: Option<Tap>,
}

/// 2026-01-22 15:00:00 UTC (22:00 in Jakarta), the evening of seed 001's incident.
pub const DEFAULT_EPOCH_MS: u64 = 1_769_094_000_000;

#[derive(Default)]
struct ActorSlot {
    up: bool,
    tasks: Vec<AbortHandle>,
    /// `tasks`' length at which finished tasks are next dropped from it: twice what was left
    /// the last time, so an actor with thousands of live tasks does not walk them all on every
    /// spawn.
    prune_at: usize,
    factory: Option<Factory>,
}

pub(crate) struct Inner {
    pub(crate) oracle: Mutex<Oracle>,
    trace: Mutex<Trace>,
    clock: SimClock,
    cfg: SimConfig,
    phase: AtomicU8,
    stopped: AtomicBool,
    stop_signal: Notify,
    actors: Mutex<BTreeMap<String, ActorSlot>>,
    pub(crate) endpoints: Mutex<BTreeMap<String, Endpoint>>,
    pub(crate) partitions: Mutex<Vec<super::net::Partition>>,
    marks: Mutex<BTreeMap<String, u64>>,
    observer: Mutex<Option<Observer>>,
    next_exchange: AtomicU64,
    /// How many sleeping tasks are due at each simulated millisecond: a task that wakes while
    /// others due at the same instant have not run yet is in a tie (see [`Sim::sleep_until_ms`]).
    due: Mutex<Due>,
    /// The tie groups being ordered, by instant.
    ties: Mutex<BTreeMap<u64, TieGroup>>,
    /// Direct mode (see [`super::tape`]): no runtime; the clock and answers come from a tape.
    direct: Option<Direct>,
}

/// Yields a tied task waits at most for its turn (see [`Sim::sleep_until_ms`]).
const TIE_WAIT_MAX: usize = 256;

/// The tasks of one tie group that have drawn their place and wait for their turn.
#[derive(Default)]
struct TieGroup {
    waiting: std::collections::BTreeSet<(u64, u64)>,
    next: u64,
}

/// A tied task's (place, order of waking) in its group; given back when it goes on or is aborted.
struct TieTicket<'a> {
    ties: &'a Mutex<BTreeMap<u64, TieGroup>>,
    at: u64,
    me: Option<(u64, u64)>,
}

impl TieTicket<'_> {
    fn take(ties: &Mutex<BTreeMap<u64, TieGroup>>, at: u64, place: u64) -> TieTicket<'_> {
        let mut all = lock(ties);
        let group = all.entry(at).or_default();
        let me = (place, group.next);
        group.next += 1;
        group.waiting.insert(me);
        TieTicket { ties, at, me: Some(me) }
    }

    fn is_first(&self) -> bool {
        lock(self.ties).get(&self.at).and_then(|g| g.waiting.first().copied()) == self.me
    }

    fn leave(&mut self) {
        let Some(me) = self.me.take() else { return };
        let mut all = lock(self.ties);
        if let Some(group) = all.get_mut(&self.at) {
            group.waiting.remove(&me);
            if group.waiting.is_empty() {
                all.remove(&self.at);
            }
        }
    }
}

impl Drop for TieTicket<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// How many sleepers are due at each instant. Only looked up by instant, never walked, so a
/// hash map: a sleep enters and leaves it, and a `BTreeMap`'s node for a lone instant was made
/// and freed each time (2.4 % of a `midtrans_hour` seed).
type Due = std::collections::HashMap<u64, u32, foldhash::fast::FixedState>;

/// A sleeper's place in [`Inner::due`], given back when the sleep ends or is cancelled
/// (a `select!` that took another branch, a crash that aborted the task).
struct DueGuard<'a> {
    due: &'a Mutex<Due>,
    at: u64,
    done: bool,
}

impl DueGuard<'_> {
    fn new(due: &Mutex<Due>, at: u64) -> DueGuard<'_> {
        *lock(due).entry(at).or_insert(0) += 1;
        DueGuard { due, at, done: false }
    }

    /// Leaves the register; returns how many others due at the same instant have not run yet.
    fn leave(&mut self) -> u32 {
        self.done = true;
        let mut due = lock(self.due);
        let left = match due.get_mut(&self.at) {
            Some(n) => {
                *n -= 1;
                *n
            }
            None => 0,
        };
        if left == 0 {
            due.remove(&self.at);
        }
        left
    }
}

impl Drop for DueGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.leave();
        }
    }
}

tokio::task_local! {
    /// The exchange the running task's events belong to (see [`Sim::exchange`]).
    static EXCHANGE: u64;
}

/// A handle on the running world. Cloning it is cheap.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

/// What a finished run leaves behind.
#[derive(Debug)]
pub struct RunOutput<R> {
    pub result: R,
    pub events: Vec<Event>,
    pub event_count: u64,
    pub choices: Vec<u64>,
    /// The number of possible values of each choice.
    pub arities: Vec<u64>,
    pub end_ms: u64,
    pub marks: BTreeMap<String, u64>,
}

impl<R> RunOutput<R> {
    /// The same run with its result transformed.
    pub fn map<T>(self, f: impl FnOnce(R) -> T) -> RunOutput<T> {
        RunOutput {
            result: f(self.result),
            events: self.events,
            event_count: self.event_count,
            choices: self.choices,
            arities: self.arities,
            end_ms: self.end_ms,
            marks: self.marks,
        }
    }
}

impl Sim {
    /// Runs `body` on a fresh paused runtime. `body` spawns the actors, calls
    /// [`Sim::run_phases`], then inspects the world and returns its verdict.
    pub fn run<R, F, Fut>(cfg: SimConfig, oracle: Oracle, body: F) -> std::io::Result<RunOutput<R>>
    where
        F: FnOnce(Sim) -> Fut,
        Fut: Future<Output = R>,
    {
        let (moved, unparked) = SimClock::unpark_hook();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .on_thread_unpark(unparked)
            .build()?;
        let (result, sim) = rt.block_on(async move {
            let sim = Sim::with(cfg, oracle, None, moved);
            for note in &sim.inner.cfg.notes {
                sim.record(Kind::Run, "sim", None, || format!("plan: {note}"));
            }
            sim.plan_faults();
            let result = body(sim.clone()).await;
            (result, sim)
        });
        let end_ms = sim.now_ms_outside(&rt);
        drop(rt);
        if let Some(tap) = &sim.inner.cfg.tap {
            tap.ended(end_ms);
        }
        let inner = &sim.inner;
        // Break the cycles a run builds (the observer, actor factories and endpoints hold
        // handles that hold the Sim), so the whole world and its backend handle are freed.
        lock(&inner.observer).take();
        lock(&inner.actors).clear();
        lock(&inner.endpoints).clear();
        let trace = std::mem::take(&mut *lock(&inner.trace));
        let (choices, arities) = {
            let o = lock(&inner.oracle);
            (o.choices().to_vec(), o.arities().to_vec())
        };
        let marks = std::mem::take(&mut *lock(&inner.marks));
        Ok(RunOutput {
            result,
            event_count: trace.count(),
            events: trace.into_events(),
            choices,
            arities,
            end_ms,
            marks,
        })
    }

    /// A `Sim` in direct mode, for the HTTP floor (see [`super::tape`]): nothing is recorded,
    /// no task is spawned, and time is what `direct`'s clock says.
    pub fn direct(mut cfg: SimConfig, oracle: Oracle, direct: Direct) -> Sim {
        cfg.record = false;
        cfg.tap = None;
        // No runtime: the clock is `direct`'s, and this one is never read.
        Sim::with(cfg, oracle, Some(direct), Arc::default())
    }

    /// Direct mode's state, when this `Sim` is in it.
    pub fn direct_mode(&self) -> Option<&Direct> {
        self.inner.direct.as_ref()
    }

    /// Where this run records its tape, if it does.
    pub fn tap(&self) -> Option<&Tap> {
        self.inner.cfg.tap.as_ref()
    }

    /// `moved` is the flag the run's runtime raises when it unparks (see [`SimClock`]).
    fn with(cfg: SimConfig, oracle: Oracle, direct: Option<Direct>, moved: Arc<AtomicBool>) -> Sim {
        let record = cfg.record;
        Sim {
            inner: Arc::new(Inner {
                oracle: Mutex::new(oracle),
                trace: Mutex::new(Trace::new(record)),
                clock: SimClock::new(moved),
                cfg,
                phase: AtomicU8::new(0),
                stopped: AtomicBool::new(false),
                stop_signal: Notify::new(),
                actors: Mutex::new(BTreeMap::new()),
                endpoints: Mutex::new(BTreeMap::new()),
                partitions: Mutex::new(Vec::new()),
                marks: Mutex::new(BTreeMap::new()),
                observer: Mutex::new(None),
                next_exchange: AtomicU64::new(1),
                due: Mutex::default(),
                ties: Mutex::new(BTreeMap::new()),
                direct,
            }),
        }
    }

    fn now_ms_outside(&self, rt: &tokio::runtime::Runtime) -> u64 {
        let _guard = rt.enter();
        self.inner.clock.read()
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    // ---- time ----

    /// Simulated milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        if let Some(d) = &self.inner.direct {
            return d.now_ms();
        }
        self.inner.clock.now_ms()
    }

    /// Unix epoch milliseconds of the current simulated instant (for payload timestamps).
    pub fn wall_ms(&self) -> u64 {
        self.inner.cfg.epoch_ms + self.now_ms()
    }

    /// Sleeps `ms` simulated milliseconds; see [`Sim::sleep_until_ms`] for ties.
    pub async fn sleep_ms(&self, ms: u64) {
        if let Some(d) = &self.inner.direct {
            return self.sleep_until_ms(d.now_ms() + ms).await;
        }
        if ms == 0 {
            tokio::time::sleep(Duration::ZERO).await;
            return;
        }
        self.sleep_until_ms(self.now_ms() + ms).await;
    }

    /// Sleeps until simulated time `t_ms` (no-op if it has passed).
    ///
    /// Ties: the runtime wakes every task due in the same millisecond in one order, always the
    /// same. So that other orders get explored, the tasks of such a group each draw a place from
    /// the oracle (a choice in `0..n` for a group of `n`) as they wake and go on one at a time
    /// by (place, order of waking). All zeros is the runtime's own order, exactly; every order of
    /// the group can be drawn. A task due alone asks nothing.
    pub async fn sleep_until_ms(&self, t_ms: u64) {
        if let Some(d) = &self.inner.direct {
            if !d.sleep_until(t_ms) {
                std::future::pending::<()>().await;
            }
            return;
        }
        if t_ms <= self.now_ms() {
            tokio::time::sleep_until(self.inner.clock.start() + Duration::from_millis(t_ms)).await;
            return;
        }
        let mut guard = DueGuard::new(&self.inner.due, t_ms);
        tokio::time::sleep_until(self.inner.clock.start() + Duration::from_millis(t_ms)).await;
        let others = guard.leave();
        let waiting = lock(&self.inner.ties).get(&t_ms).map_or(0, |g| g.waiting.len());
        if others == 0 && waiting == 0 {
            return;
        }
        let n = (waiting + 1) as u64 + u64::from(others);
        let place = self.choose_world(|o| o.tie(n));
        if place > 0 {
            self.mark("tie-reordered");
        }
        let mut ticket = TieTicket::take(&self.inner.ties, t_ms, place);
        // A member goes on when no waiting member is ahead of it and none still to draw could
        // be: place 0 is ahead of every later draw, so it goes at once (all zeros is exactly the
        // runtime's order); a higher place waits until every member due at `t_ms` has drawn.
        // They were all woken in this instant, so a bounded wait is enough; the bound only
        // guards against a sleeper never polled.
        for _ in 0..TIE_WAIT_MAX {
            if ticket.is_first() && (place == 0 || lock(&self.inner.due).get(&t_ms).is_none()) {
                break;
            }
            tokio::task::yield_now().await;
        }
        ticket.leave();
    }

    // ---- choices ----

    /// Runs `f` with the oracle. Keep `f` short and free of awaits.
    pub fn choose<T>(&self, f: impl FnOnce(&mut Oracle) -> T) -> T {
        if let Some(direct) = &self.inner.direct
            && let Some(mut o) = direct.draws()
        {
            return f(&mut o);
        }
        let mut oracle = lock(&self.inner.oracle);
        let Some(tap) = &self.inner.cfg.tap else { return f(&mut oracle) };
        let before = oracle.len();
        let v = f(&mut oracle);
        tap.drew(&oracle.choices()[before..]);
        v
    }

    /// [`Sim::choose`] for the world's own draws (latency, faults, ties, plans): never put on
    /// a tape, because direct mode makes none of them.
    pub(crate) fn choose_world<T>(&self, f: impl FnOnce(&mut Oracle) -> T) -> T {
        f(&mut lock(&self.inner.oracle))
    }

    pub fn chance(&self, ppm: u32) -> bool {
        self.choose(|o| o.chance(ppm))
    }

    pub fn draw(&self, r: &Range) -> u64 {
        self.choose(|o| r.draw(o))
    }

    // ---- phases ----

    pub fn phase(&self) -> Phase {
        if self.inner.phase.load(Ordering::Relaxed) == 0 { Phase::Safety } else { Phase::Liveness }
    }

    /// Faults fire only in the safety phase.
    pub fn faults_active(&self) -> bool {
        self.phase() == Phase::Safety
    }

    /// Runs the safety phase then the liveness phase, unless the run is stopped first.
    pub async fn run_phases(&self) {
        let cfg = &self.inner.cfg;
        let (safety, liveness) = (cfg.safety, cfg.liveness);
        self.record(Kind::Run, "sim", None, || format!("safety phase: load and faults on for {safety}"));
        if self.sleep_or_stop(safety.0).await {
            return;
        }
        self.inner.phase.store(1, Ordering::Relaxed);
        self.record(Kind::Run, "sim", None, || {
            format!("liveness phase: faults healed, no new load, {liveness} to converge")
        });
        if self.sleep_or_stop(liveness.0).await {
            return;
        }
        self.record(Kind::Run, "sim", None, || "end of run".to_string());
    }

    async fn sleep_or_stop(&self, ms: u64) -> bool {
        if self.is_stopped() {
            return true;
        }
        tokio::select! {
            biased;
            _ = self.inner.stop_signal.notified() => true,
            // The phase clock is the harness, not an event: it takes no part in ties.
            _ = tokio::time::sleep(Duration::from_millis(ms)) => self.is_stopped(),
        }
    }

    /// Ends the run early (the checker calls this at the first `always` violation).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.stop_signal.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }

    // ---- trace and marks ----

    pub fn recording(&self) -> bool {
        lock(&self.inner.trace).is_recording()
    }

    /// Records an event; `text` is only built when the trace is recording. The event belongs to
    /// the exchange the task is in, if any.
    pub fn record(&self, kind: Kind, actor: &str, peer: Option<&str>, text: impl FnOnce() -> String) {
        if self.inner.direct.is_some() {
            return;
        }
        lock(&self.inner.trace).record(|| Event {
            t_ms: self.now_ms(),
            kind,
            actor: actor.to_string(),
            peer: peer.map(str::to_string),
            text: text(),
            exchange: EXCHANGE.try_with(|x| *x).ok(),
        });
    }

    /// A new exchange number: the events of one request (its send, faults, handling, the work
    /// done while handling it, its reply) share one, so the trace can be read step by step.
    /// Numbers follow the order exchanges start in, so they are as deterministic as the run.
    pub fn new_exchange(&self) -> u64 {
        self.inner.next_exchange.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `fut` with its events in exchange `id`.
    pub fn in_exchange<F: Future>(id: u64, fut: F) -> impl Future<Output = F::Output> {
        EXCHANGE.scope(id, fut)
    }

    /// Runs `f` with its events in a new exchange (a call that does not go through the network,
    /// such as the checkout's server-side call to the provider's SDK).
    pub fn exchange<T>(&self, f: impl FnOnce() -> T) -> T {
        EXCHANGE.sync_scope(self.new_exchange(), f)
    }

    /// Notes that a `sometimes` branch or fault happened.
    pub fn mark(&self, name: &str) {
        let mut marks = lock(&self.inner.marks);
        match marks.get_mut(name) {
            Some(c) => *c += 1,
            None => {
                marks.insert(name.to_string(), 1);
            }
        }
    }

    pub fn mark_count(&self, name: &str) -> u64 {
        lock(&self.inner.marks).get(name).copied().unwrap_or(0)
    }

    /// Records an injected fault and marks it for coverage.
    pub fn fault(&self, mark: &str, actor: &str, peer: Option<&str>, text: impl FnOnce() -> String) {
        self.mark(mark);
        self.record(Kind::Fault, actor, peer, text);
    }

    // ---- observer ----

    pub fn set_observer(&self, observer: Observer) {
        *lock(&self.inner.observer) = Some(observer);
    }

    /// Tells the observer a step happened.
    pub fn step(&self, step: Step<'_>) {
        if self.inner.direct.is_some() {
            return;
        }
        let observer = lock(&self.inner.observer).clone();
        if let Some(obs) = observer {
            obs(self, step);
        }
    }

    // ---- actors ----

    /// Registers an actor whose main task `factory` builds, and starts it.
    pub fn start_actor(&self, name: &str, factory: Factory) {
        {
            let mut actors = lock(&self.inner.actors);
            let slot = actors.entry(name.to_string()).or_default();
            slot.up = true;
            slot.factory = Some(factory.clone());
        }
        self.spawn(name, factory(self.clone()));
    }

    /// Registers an actor without a main task (its work arrives as requests or spawns).
    pub fn add_actor(&self, name: &str) {
        lock(&self.inner.actors).entry(name.to_string()).or_default().up = true;
    }

    /// Spawns a task that belongs to `actor` and dies with it. Returns false (and drops the
    /// future) when the actor is down.
    pub fn spawn<F>(&self, actor: &str, fut: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.inner.direct.is_some() {
            return false;
        }
        let mut actors = lock(&self.inner.actors);
        let slot = actors.entry(actor.to_string()).or_insert_with(|| ActorSlot { up: true, ..ActorSlot::default() });
        if !slot.up {
            return false;
        }
        if slot.tasks.len() >= slot.prune_at.max(64) {
            slot.tasks.retain(|h| !h.is_finished());
            slot.prune_at = slot.tasks.len() * 2;
        }
        let handle = tokio::spawn(fut);
        slot.tasks.push(handle.abort_handle());
        true
    }

    pub fn is_up(&self, actor: &str) -> bool {
        lock(&self.inner.actors).get(actor).is_some_and(|s| s.up)
    }

    /// Crashes `actor`: every task it owns is aborted (its memory and in-flight work are lost;
    /// the database keeps what was committed).
    pub fn crash(&self, actor: &str) {
        let tasks = {
            let mut actors = lock(&self.inner.actors);
            let Some(slot) = actors.get_mut(actor) else { return };
            if !slot.up {
                return;
            }
            slot.up = false;
            std::mem::take(&mut slot.tasks)
        };
        for t in tasks {
            t.abort();
        }
        self.fault("fault:crash", actor, None, || "CRASH: tasks aborted, in-memory state lost".to_string());
    }

    /// Restarts a crashed actor by running its factory again.
    pub fn restart(&self, actor: &str) {
        let factory = {
            let mut actors = lock(&self.inner.actors);
            let Some(slot) = actors.get_mut(actor) else { return };
            if slot.up {
                return;
            }
            slot.up = true;
            slot.factory.clone()
        };
        self.record(Kind::Lifecycle, actor, None, || "restarted".to_string());
        if let Some(f) = factory {
            self.spawn(actor, f(self.clone()));
        }
    }

    // ---- fault plan ----

    /// Draws the run's fault plan (partition windows, crashes) from the oracle and schedules it.
    /// Faults are data: the plan is decided up front and printed at the start of the trace.
    fn plan_faults(&self) {
        let cfg = self.inner.cfg.clone();
        let safety = cfg.safety.0;
        let partitions = super::net::plan_partitions(self, &cfg.net, safety);
        for p in &partitions {
            self.record(Kind::Run, "sim", None, || {
                let kind = if p.black_hole { " (black hole)" } else { "" };
                format!("plan: partition {} ⇹ {} from {} to {}{kind}", p.a, p.b, fmt_ms(p.from_ms), fmt_ms(p.until_ms))
            });
        }
        *lock(&self.inner.partitions) = partitions;

        let crashes = &cfg.crashes;
        if crashes.count_max == 0 || crashes.actors.is_empty() {
            return;
        }
        let Some(down) = crashes.down else { return };
        let count = self.choose_world(|o| o.below(u64::from(crashes.count_max) + 1));
        let mut plan = Vec::new();
        for _ in 0..count {
            let (at, who, down_ms) = self.choose_world(|o| {
                let at = o.below(safety.max(1));
                let who = o.below(crashes.actors.len() as u64) as usize;
                (at, who, down.draw(o))
            });
            plan.push((at, crashes.actors[who].clone(), down_ms));
        }
        plan.sort();
        for (at, who, down_ms) in &plan {
            self.record(Kind::Run, "sim", None, || {
                format!("plan: crash {who} at {} for {}", fmt_ms(*at), Millis(*down_ms))
            });
        }
        for (at, who, down_ms) in plan {
            let sim = self.clone();
            // The chaos task belongs to no crashable actor, so it survives the crashes it causes.
            self.spawn("chaos", async move {
                sim.sleep_until_ms(at).await;
                if !sim.faults_active() {
                    return;
                }
                sim.crash(&who);
                sim.sleep_ms(down_ms).await;
                sim.restart(&who);
            });
        }
    }
}

/// `hh:mm:ss.mmm` for a simulated instant.
pub fn fmt_ms(t: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", t / 3_600_000, (t / 60_000) % 60, (t / 1_000) % 60, t % 1_000)
}
