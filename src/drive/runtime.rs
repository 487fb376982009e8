//! The provider kit's [`Runtime`] on the real machine, for `settle drive`: a compressed real
//! clock, tokio tasks, and webhooks over real TCP to the service.
//!
//! - **Clock**: simulated time is real elapsed time × `scale` (a 2-minute retry waits 2 s at
//!   scale 60); wall time is the real wall clock at the start plus simulated time, so a service
//!   that compares payload times with its own clock sees them advance faster than its own.
//! - **Send**: HTTP/1.1 over `tokio::net::TcpStream` to the service's webhook URL; each
//!   exchange is counted in flight (see [`DriveWorld::quiet`]) and recorded in the trace.
//! - **Oracle, trace, phase**: one seeded [`Oracle`], a [`Recorder`], safety then liveness.
//!
//! What it does not do: make the service's own timing deterministic. What settle chooses is
//! seeded; when the service answers is the machine's, hence `runs` and "failed k of n".

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hosted::{Recorder, TraceLine};
use crate::providers::kit::{BoxFuture, Rt, Runtime};
use crate::sim::world::lock;
use crate::sim::{Kind, NetError, Oracle, Phase, Request, Response};

/// What the provider and the driver of one run share. Cheap to clone.
#[derive(Clone)]
pub struct DriveWorld {
    inner: Arc<Inner>,
}

struct Inner {
    oracle: Mutex<Oracle>,
    recorder: Recorder,
    start: tokio::time::Instant,
    start_wall_ms: u64,
    scale: u64,
    liveness: AtomicBool,
    in_flight: AtomicU64,
    webhook_base: String,
    webhook_path: String,
    faults: (u32, u32, Option<crate::sim::Range>),
    /// Orders whose final notification (paid or failed) the service has answered, any status.
    answered_final: Mutex<std::collections::BTreeSet<String>>,
    /// Connections through the database proxy with a round trip or a transaction open.
    db_busy: AtomicU64,
    /// Orders whose first inserting COMMIT the database proxy holds (see [`super::proxy`]).
    commit_holds: Mutex<std::collections::BTreeSet<String>>,
    /// Orders whose COMMIT the proxy has held (the row written, not yet visible).
    commits_held: Mutex<std::collections::BTreeSet<String>>,
    /// Held by a customer's checkout request, and by a crash and restart of the service.
    checkout_gate: tokio::sync::Mutex<()>,
}

impl DriveWorld {
    pub fn new(
        seed: u64,
        scale: u64,
        service_base: &str,
        webhook_path: &str,
        faults: &super::scenario::WebhookFaults,
    ) -> DriveWorld {
        let start_wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        DriveWorld {
            inner: Arc::new(Inner {
                oracle: Mutex::new(Oracle::random(seed)),
                recorder: Recorder::default(),
                start: tokio::time::Instant::now(),
                start_wall_ms,
                scale: scale.max(1),
                liveness: AtomicBool::new(false),
                in_flight: AtomicU64::new(0),
                webhook_base: service_base.to_string(),
                webhook_path: webhook_path.to_string(),
                faults: (faults.drop.ppm(), faults.duplicate.ppm(), faults.delay),
                answered_final: Mutex::default(),
                db_busy: AtomicU64::new(0),
                commit_holds: Mutex::default(),
                commits_held: Mutex::default(),
                checkout_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Simulated milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_mul(self.inner.scale)
    }

    /// Simulated milliseconds per real millisecond.
    pub fn scale(&self) -> u64 {
        self.inner.scale
    }

    /// Sleeps `ms` of simulated time.
    pub async fn sleep_sim(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms / self.inner.scale)).await;
    }

    pub fn choose<T>(&self, f: impl FnOnce(&mut Oracle) -> T) -> T {
        f(&mut lock(&self.inner.oracle))
    }

    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    pub fn record(&self, actor: &str, kind: Kind, text: String) {
        self.inner.recorder.push(TraceLine { t_ms: self.now_ms(), actor: actor.to_string(), kind, text });
    }

    pub fn phase(&self) -> Phase {
        if self.inner.liveness.load(Ordering::Relaxed) { Phase::Liveness } else { Phase::Safety }
    }

    pub fn begin_liveness(&self) {
        if !self.inner.liveness.swap(true, Ordering::Relaxed) {
            self.record("settle", Kind::Run, "phase: liveness (load closed; faults off)".into());
        }
    }

    /// Counts an exchange with the service in flight while `f` runs.
    pub async fn in_flight<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let out = f.await;
        self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    /// The gate a checkout holds while its request is in flight; a crash takes it so that it
    /// never lands inside a checkout (see [`super::crash`]).
    pub fn checkout_gate(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.checkout_gate
    }

    /// Exchanges with the service in flight now.
    pub fn in_flight_now(&self) -> u64 {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// The database proxy says a connection became busy (`true`: a round trip or a transaction
    /// open) or idle again (`false`).
    pub fn db_busy(&self, busy: bool) {
        if busy {
            self.inner.db_busy.fetch_add(1, Ordering::SeqCst);
        } else {
            self.inner.db_busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Asks the database proxy to hold the first inserting COMMIT that names `order_id`.
    pub fn hold_commit(&self, order_id: &str) {
        lock(&self.inner.commit_holds).insert(order_id.to_string());
    }

    /// The held order a transaction's bytes name, if any; it is held once (taken from the set).
    pub fn take_commit_hold(&self, tx: &[u8]) -> Option<String> {
        let mut holds = lock(&self.inner.commit_holds);
        let found = holds.iter().find(|o| tx.windows(o.len()).any(|w| w == o.as_bytes()))?.clone();
        holds.remove(&found);
        lock(&self.inner.commits_held).insert(found.clone());
        Some(found)
    }

    /// Whether the proxy has held the COMMIT of `order_id`'s checkout.
    pub fn commit_was_held(&self, order_id: &str) -> bool {
        lock(&self.inner.commits_held).contains(order_id)
    }

    /// Waits (at most `max_real_ms`) until no exchange with the service is in flight and no
    /// transaction is open through the database proxy, so the next external event does not
    /// overlap the last one.
    pub async fn quiet(&self, max_real_ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_real_ms);
        let busy = || self.inner.in_flight.load(Ordering::SeqCst) + self.inner.db_busy.load(Ordering::SeqCst);
        while busy() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Notes that the service has answered a final notification for `order_id` (what releases
    /// its held COMMIT; tests of the proxy call it in the service's stead).
    pub fn final_answer_seen(&self, order_id: &str) {
        lock(&self.inner.answered_final).insert(order_id.to_string());
    }

    /// Whether the service has answered (with any status) a final notification (paid or failed) for `order_id`.
    pub fn final_answered(&self, order_id: &str) -> bool {
        lock(&self.inner.answered_final).contains(order_id)
    }

    /// The provider's runtime in this world.
    pub fn rt(&self, actor: &str) -> Rt {
        Rt::new(DriveRuntime { world: self.clone(), actor: actor.to_string() })
    }
}

/// A provider's runtime in a drive. See the module doc.
pub struct DriveRuntime {
    world: DriveWorld,
    actor: String,
}

/// The order id and status a Midtrans notification body names, if it is one.
fn notified(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some((v.get("order_id")?.as_str()?.to_string(), v.get("transaction_status")?.as_str()?.to_string()))
}

impl Runtime for DriveRuntime {
    crate::hosted::runtime_from_world!();

    fn now_ms(&self) -> u64 {
        self.world.now_ms()
    }

    fn wall_ms(&self) -> u64 {
        self.world.inner.start_wall_ms + self.world.now_ms()
    }

    fn sleep_ms(&self, ms: u64) -> BoxFuture<()> {
        let w = self.world.clone();
        Box::pin(async move { w.sleep_sim(ms).await })
    }

    fn spawn(&self, task: BoxFuture<()>) -> bool {
        drop(tokio::spawn(task));
        true
    }

    fn send(&self, to: &str, req: Request, timeout_ms: u64) -> BoxFuture<Result<Response, NetError>> {
        let (w, actor, to) = (self.world.clone(), self.actor.clone(), to.to_string());
        Box::pin(async move {
            let note = notified(&req.body);
            let label = req.label.clone();
            let about = note.as_ref().map_or(String::new(), |(o, s)| format!(" {o} {s}"));
            w.record(&actor, Kind::Send, format!("POST {}{about} → {to}", w.inner.webhook_path));
            let base = w.inner.webhook_base.clone();
            let real_timeout = (timeout_ms / w.inner.scale).max(1_000);
            let (drop_ppm, dup_ppm, delay) = w.inner.faults;
            let (dropped, duplicated, held) = if w.phase() == Phase::Safety {
                w.choose(|o| (o.chance(drop_ppm), o.chance(dup_ppm), delay.map_or(0, |r| r.draw(o))))
            } else {
                (false, false, 0)
            };
            if held > 0 {
                w.record("settle", Kind::Fault, format!("{label}: held {held} ms"));
                w.sleep_sim(held).await;
            }
            if dropped {
                w.record("settle", Kind::Fault, format!("{label}: dropped on the way"));
                w.sleep_sim(timeout_ms).await;
                return Err(NetError::Timeout);
            }
            if duplicated {
                w.record("settle", Kind::Fault, format!("{label}: delivered twice"));
                let (w2, base2, req2) = (w.clone(), base.clone(), req.clone());
                drop(tokio::spawn(async move {
                    let _ = w2.in_flight(super::service::send(&base2, req2, real_timeout)).await;
                }));
            }
            let result = w.in_flight(super::service::send(&base, req, real_timeout)).await;
            let outcome = match &result {
                Ok(r) => format!("{}", r.status),
                Err(e) => e.to_string(),
            };
            w.record(&actor, Kind::Reply, format!("{label} ← {to}: {outcome}"));
            if let (Ok(r), Some((order, status))) = (&result, note)
                && r.status > 0
                && matches!(status.as_str(), "settlement" | "capture" | "deny" | "cancel" | "expire" | "failure")
            {
                lock(&w.inner.answered_final).insert(order);
            }
            result
        })
    }
}
