//! The provider kit's [`Runtime`] on a turmoil host: what a settle provider model calls when it
//! runs inside a user's own `turmoil::Sim`.
//!
//! - **Clock**: turmoil's simulated time ([`::turmoil::sim_elapsed`], which the host's paused
//!   tokio clock follows); wall time is a fixed epoch plus that, so payload timestamps and
//!   signatures never read the machine's clock.
//! - **Sleep**: `tokio::time::sleep`, which turmoil advances one tick at a time.
//! - **Spawn**: onto the provider host's own tokio runtime (the handle is taken when the host
//!   starts), so the provider's tasks — expiries, settlements, webhook senders — run as the
//!   provider host, send from its address, and die with it when turmoil crashes the host.
//! - **Send**: an HTTP/1.1 request over `turmoil::net::TcpStream` to the party's turmoil
//!   address ([`super::http::send`]), so turmoil's partitions, holds, latencies and message loss
//!   apply to every webhook attempt.
//! - **Oracle**: one [`Oracle`] seeded from the plan's seed, shared by every provider of the
//!   run, behind a mutex (turmoil runs every host on one thread, so the order of draws is the
//!   simulation's order).
//! - **Trace, marks, faults**: into a [`Recorder`] the user reads after the run.
//! - **Phase**: safety until the load driver closes the load, then liveness.
//!
//! What it does not do: drive turmoil (the user's `Sim` does), or make the user's own code
//! deterministic (turmoil's seed and the user's rules do).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::hosted::{Recorder, TraceLine};
use crate::providers::kit::{BoxFuture, Rt, Runtime};
use crate::sim::world::lock;
use crate::sim::{Kind, NetError, Oracle, Phase, Request, Response};

/// What every provider of one turmoil run shares: the oracle, the recorder, the phase, the
/// address book, and the clock's last reading. Cheap to clone.
#[derive(Clone)]
pub struct World {
    inner: Arc<WorldInner>,
}

struct WorldInner {
    oracle: Mutex<Oracle>,
    recorder: Recorder,
    epoch_ms: u64,
    liveness: AtomicBool,
    /// The last simulated time read inside the simulation, for reads made outside it (the
    /// final checks, after `Sim::run` returned).
    last_ms: AtomicU64,
    /// Party name → turmoil host name and port.
    peers: Mutex<BTreeMap<String, (String, u16)>>,
}

impl World {
    /// A world whose choices come from `seed` and whose wall clock starts at `epoch_ms`.
    pub fn new(seed: u64, epoch_ms: u64) -> World {
        World {
            inner: Arc::new(WorldInner {
                oracle: Mutex::new(Oracle::random(seed)),
                recorder: Recorder::default(),
                epoch_ms,
                liveness: AtomicBool::new(false),
                last_ms: AtomicU64::new(0),
                peers: Mutex::default(),
            }),
        }
    }

    /// Names a party: webhooks a provider sends `to` it go to turmoil host `host`, port `port`.
    pub fn add_peer(&self, name: &str, host: &str, port: u16) {
        lock(&self.inner.peers).insert(name.to_string(), (host.to_string(), port));
    }

    fn peer(&self, name: &str) -> Option<(String, u16)> {
        lock(&self.inner.peers).get(name).cloned()
    }

    /// Simulated milliseconds since the simulation started.
    pub fn now_ms(&self) -> u64 {
        match ::turmoil::sim_elapsed() {
            Some(d) => {
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                self.inner.last_ms.fetch_max(ms, Ordering::Relaxed);
                ms
            }
            None => self.inner.last_ms.load(Ordering::Relaxed),
        }
    }

    pub fn epoch_ms(&self) -> u64 {
        self.inner.epoch_ms
    }

    /// Ends the safety phase: no more spontaneous payments, reversals or injected faults.
    pub fn begin_liveness(&self) {
        if !self.inner.liveness.swap(true, Ordering::Relaxed) {
            let t_ms = self.now_ms();
            self.inner.recorder.push(TraceLine {
                t_ms,
                actor: "settle".into(),
                kind: Kind::Run,
                text: "phase: liveness (load closed; faults off)".into(),
            });
        }
    }

    pub fn phase(&self) -> Phase {
        if self.inner.liveness.load(Ordering::Relaxed) { Phase::Liveness } else { Phase::Safety }
    }

    /// Runs `f` with the run's one oracle.
    pub fn choose<T>(&self, f: impl FnOnce(&mut Oracle) -> T) -> T {
        f(&mut lock(&self.inner.oracle))
    }

    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    /// Records a line as `actor`.
    pub fn record(&self, actor: &str, kind: Kind, text: String) {
        let t_ms = self.now_ms();
        self.inner.recorder.push(TraceLine { t_ms, actor: actor.to_string(), kind, text });
    }

    /// The runtime of a provider named `actor` in this world.
    pub fn runtime(&self, actor: &str) -> TurmoilRuntime {
        TurmoilRuntime { world: self.clone(), actor: actor.to_string(), handle: Arc::default() }
    }
}

/// A provider's runtime on a turmoil host. See the module doc.
#[derive(Clone)]
pub struct TurmoilRuntime {
    world: World,
    actor: String,
    /// The provider host's tokio runtime, taken when the host (re)starts.
    handle: Arc<Mutex<Option<tokio::runtime::Handle>>>,
}

impl TurmoilRuntime {
    /// Called by the provider host when it starts (and restarts): the provider's tasks run on
    /// the host's runtime from now on.
    pub fn attach_current(&self) {
        *lock(&self.handle) = Some(tokio::runtime::Handle::current());
    }

    /// The provider's handle on this runtime.
    pub fn rt(&self) -> Rt {
        Rt::new(self.clone())
    }

    pub fn world(&self) -> &World {
        &self.world
    }
}

impl Runtime for TurmoilRuntime {
    crate::hosted::runtime_from_world!();

    fn now_ms(&self) -> u64 {
        self.world.now_ms()
    }

    fn wall_ms(&self) -> u64 {
        self.world.epoch_ms() + self.world.now_ms()
    }

    fn sleep_ms(&self, ms: u64) -> BoxFuture<()> {
        // The sleep is made when first polled, on the runtime of whoever awaits it.
        Box::pin(async move { tokio::time::sleep(Duration::from_millis(ms)).await })
    }

    fn spawn(&self, task: BoxFuture<()>) -> bool {
        match lock(&self.handle).as_ref() {
            Some(h) => {
                // A task spawned on a crashed host's runtime is dropped, as the provider's
                // in-memory work is when its process dies.
                drop(h.spawn(task));
                true
            }
            None => false,
        }
    }

    fn send(&self, to: &str, req: Request, timeout_ms: u64) -> BoxFuture<Result<Response, NetError>> {
        let (world, actor, to) = (self.world.clone(), self.actor.clone(), to.to_string());
        Box::pin(async move {
            let Some((host, port)) = world.peer(&to) else {
                world.record(&actor, Kind::Send, format!("{} → {to}: no such party, refused", req.label));
                return Err(NetError::Refused);
            };
            let label = req.label.clone();
            let result = super::http::send(&host, port, req, timeout_ms).await;
            let outcome = match &result {
                Ok(r) => format!("{}", r.status),
                Err(e) => e.to_string(),
            };
            world.record(&actor, Kind::Reply, format!("{label} → {to}: {outcome}"));
            result
        })
    }
}
