//! The runtime a provider model runs on: the small interface between "what the provider does"
//! and "where it runs".
//!
//! A provider's status machine, payloads, signatures, retry schedule and APIs are written once
//! against [`Runtime`]: a clock (simulated milliseconds since the start and wall-clock epoch
//! milliseconds), sleeping, spawning a task that belongs to the provider, sending an HTTP request
//! to another party (the app's webhook endpoint) and getting its status, headers and body or a
//! timeout or refusal, drawing choices from the one oracle, recording trace events, `sometimes`
//! marks and injected faults, and the run's phase. [`SimRuntime`] implements it on settle's
//! simulated world ([`crate::sim::Sim`]); other transports implement the same trait (see the
//! [kit's module doc](super)).
//!
//! The trait is object-safe so a provider holds an [`Rt`] (an `Arc<dyn Runtime>`) and is not
//! generic over where it runs; [`Rt`] adds the typed helpers (`choose`, `chance`, `state`, …)
//! that an object-safe trait cannot have.
//!
//! What it does not do: serve the provider's HTTP API. A provider exposes its API as an axum
//! `Router`, and the transport serves that (in-process on the simulated network, on a real
//! socket, or as a turmoil host); the runtime is only what the provider itself calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::sim::{Kind, NetError, Oracle, Phase, Range, Request, Response, Sim};

/// A boxed, sendable future: what the object-safe runtime returns and spawns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a provider model needs from the place it runs. See the module doc.
pub trait Runtime: Send + Sync + 'static {
    /// The provider's name in traces, marks and as the sender of its requests.
    fn actor(&self) -> &str;
    /// Milliseconds since the run started (the simulated clock, or a real monotonic one).
    fn now_ms(&self) -> u64;
    /// Unix epoch milliseconds now, for timestamps in payloads and signatures.
    fn wall_ms(&self) -> u64;
    /// A future that completes `ms` milliseconds from now.
    fn sleep_ms(&self, ms: u64) -> BoxFuture<()>;
    /// Runs `task` as a task of the provider: it dies when the provider goes down. Returns false
    /// (dropping the task) when the provider is down.
    fn spawn(&self, task: BoxFuture<()>) -> bool;
    /// Sends `req` to the party named `to` and waits up to `timeout_ms` for its answer.
    fn send(&self, to: &str, req: Request, timeout_ms: u64) -> BoxFuture<Result<Response, NetError>>;
    /// Runs `f` with the run's one oracle. `f` must be short and must not block.
    fn with_oracle(&self, f: &mut dyn FnMut(&mut Oracle));
    /// Whether trace text is being kept (when false, callers skip formatting it).
    fn recording(&self) -> bool;
    /// Records an event of the provider; `text` is called only when recording.
    fn record(&self, kind: Kind, text: &mut dyn FnMut() -> String);
    /// Notes that a `sometimes` branch happened.
    fn mark(&self, name: &str);
    /// Records an injected fault and marks it for coverage.
    fn fault(&self, mark: &str, text: &mut dyn FnMut() -> String);
    /// The phase of the run: faults fire only in the safety phase.
    fn phase(&self) -> Phase;
}

/// A provider's handle on its runtime. Cheap to clone.
#[derive(Clone)]
pub struct Rt(Arc<dyn Runtime>);

impl Rt {
    pub fn new(runtime: impl Runtime) -> Rt {
        Rt(Arc::new(runtime))
    }

    /// The runtime of a provider running as `actor` in the simulated world.
    pub fn sim(sim: &Sim, actor: &str) -> Rt {
        Rt::new(SimRuntime { sim: sim.clone(), actor: actor.to_string() })
    }

    pub fn actor(&self) -> &str {
        self.0.actor()
    }

    pub fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }

    pub fn wall_ms(&self) -> u64 {
        self.0.wall_ms()
    }

    pub async fn sleep_ms(&self, ms: u64) {
        self.0.sleep_ms(ms).await;
    }

    /// Spawns a task of the provider (see [`Runtime::spawn`]).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> bool {
        self.0.spawn(Box::pin(task))
    }

    pub async fn send(&self, to: &str, req: Request, timeout_ms: u64) -> Result<Response, NetError> {
        self.0.send(to, req, timeout_ms).await
    }

    /// Runs `f` with the oracle and returns what it returns.
    pub fn choose<T>(&self, f: impl FnOnce(&mut Oracle) -> T) -> T {
        let mut f = Some(f);
        let mut out = None;
        self.0.with_oracle(&mut |o| {
            if let Some(f) = f.take() {
                out = Some(f(o));
            }
        });
        match out {
            Some(v) => v,
            None => unreachable!("Runtime::with_oracle must call its closure exactly once"),
        }
    }

    pub fn chance(&self, ppm: u32) -> bool {
        self.choose(|o| o.chance(ppm))
    }

    pub fn draw(&self, r: &Range) -> u64 {
        self.choose(|o| r.draw(o))
    }

    pub fn recording(&self) -> bool {
        self.0.recording()
    }

    /// Records an event of kind `kind`; `text` is built only when recording.
    pub fn record(&self, kind: Kind, text: impl FnOnce() -> String) {
        let mut text = Some(text);
        self.0.record(kind, &mut || text.take().map(|t| t()).unwrap_or_default());
    }

    /// Records a state change of the provider.
    pub fn state(&self, text: impl FnOnce() -> String) {
        self.record(Kind::State, text);
    }

    pub fn mark(&self, name: &str) {
        self.0.mark(name);
    }

    pub fn fault(&self, mark: &str, text: impl FnOnce() -> String) {
        let mut text = Some(text);
        self.0.fault(mark, &mut || text.take().map(|t| t()).unwrap_or_default());
    }

    pub fn phase(&self) -> Phase {
        self.0.phase()
    }

    /// Faults fire only in the safety phase.
    pub fn faults_active(&self) -> bool {
        self.phase() == Phase::Safety
    }
}

/// The runtime of a provider in settle's simulated world: every call goes to [`Sim`], with the
/// provider's actor name.
pub struct SimRuntime {
    pub sim: Sim,
    pub actor: String,
}

impl Runtime for SimRuntime {
    fn actor(&self) -> &str {
        &self.actor
    }

    fn now_ms(&self) -> u64 {
        self.sim.now_ms()
    }

    fn wall_ms(&self) -> u64 {
        self.sim.wall_ms()
    }

    fn sleep_ms(&self, ms: u64) -> BoxFuture<()> {
        let sim = self.sim.clone();
        Box::pin(async move { sim.sleep_ms(ms).await })
    }

    fn spawn(&self, task: BoxFuture<()>) -> bool {
        self.sim.spawn(&self.actor, task)
    }

    fn send(&self, to: &str, req: Request, timeout_ms: u64) -> BoxFuture<Result<Response, NetError>> {
        let (sim, from, to) = (self.sim.clone(), self.actor.clone(), to.to_string());
        Box::pin(async move { sim.request(&from, &to, req, timeout_ms).await })
    }

    fn with_oracle(&self, f: &mut dyn FnMut(&mut Oracle)) {
        self.sim.choose(f);
    }

    fn recording(&self) -> bool {
        self.sim.recording()
    }

    fn record(&self, kind: Kind, text: &mut dyn FnMut() -> String) {
        self.sim.record(kind, &self.actor, None, text);
    }

    fn mark(&self, name: &str) {
        self.sim.mark(name);
    }

    fn fault(&self, mark: &str, text: &mut dyn FnMut() -> String) {
        self.sim.fault(mark, &self.actor, None, text);
    }

    fn phase(&self) -> Phase {
        self.sim.phase()
    }
}
