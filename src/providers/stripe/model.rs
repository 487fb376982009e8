//! The simulated Stripe's state and behaviour: Checkout Sessions and their PaymentIntents as
//! ground truth ([`Book`]s with full histories), the customer's side as Rust methods (pay by
//! card, pay by an async method that settles or fails later, abandon), expiry, refunds, and an
//! event for every change, delivered as a signed webhook by the kit's sender.
//!
//! - Creating a session creates no PaymentIntent (API versions since 2022-08-01): the intent is
//!   created when the customer submits a payment. Events: `payment_intent.created`, then
//!   `payment_intent.requires_action` (3-D Secure), `payment_intent.succeeded` and
//!   `checkout.session.completed` (paid); a declined card sends `payment_intent.payment_failed`
//!   and leaves the session open. An async method sends `payment_intent.processing` and
//!   `checkout.session.completed` with `payment_status = unpaid`; days later
//!   `payment_intent.succeeded` + `checkout.session.async_payment_succeeded`, or
//!   `payment_intent.payment_failed` + `checkout.session.async_payment_failed`.
//! - A session still open at `expires_at` (or expired through the API) becomes `expired` and
//!   sends `checkout.session.expired`; an intent left in `requires_payment_method` by declined
//!   attempts is canceled with it (`payment_intent.canceled`).
//! - A refund (API) of a succeeded intent sends `charge.refunded` and `refund.created`; the
//!   intent stays `succeeded` and its charge carries `amount_refunded`.
//! - Each event is delivered on its own after a seeded delay (no ordering), sometimes twice with
//!   the same id (provider-side duplicates, safety phase only), signed per attempt with
//!   `Stripe-Signature: t=…,v1=…` from Stripe's clock, retried per [`StripeConfig::schedule`].
//!
//! Customer payments, like Midtrans's, happen only in the safety phase. Results that are
//! already due (an async debit settling, 3-D Secure completing, expiry) happen when they are
//! due, in either phase: a scenario's liveness phase must be long enough for them.
//!
//! What it does not model: manual capture in Checkout (the status machine has
//! `requires_capture`; no flow reaches it), disputes, partial captures, customers, invoices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;

use super::config::StripeConfig;
use super::objects::{self, ChargeView, IntentView, PaymentError, RefundRecord, SessionView};
use super::status::{EventType, IntentStatus, PaymentStatus, SessionStatus, is_paid};
use crate::providers::kit::book::{Book, Record};
use crate::providers::kit::idempotency::IdempotencyStore;
use crate::providers::kit::ratelimit::Buckets;
pub use crate::providers::kit::webhook::DeliveryState;
use crate::providers::kit::{Rt, WebhookSender};
use crate::sim::Sim;
use crate::sim::world::lock;

/// The provider's actor name in traces and on the network.
pub const ACTOR: &str = "stripe";

/// The header webhooks are signed in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// What a Checkout Session is created with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewSession {
    /// In the currency's smallest unit; above 0.
    pub amount_total: i64,
    pub currency: String,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Copied to the PaymentIntent when it is created (`payment_intent_data[metadata]`).
    pub intent_metadata: BTreeMap<String, String>,
    /// `card` unless told; any other type is an async method here.
    pub payment_method_types: Vec<String>,
    /// Epoch seconds; `None` for the default expiry. Must be 30 min – 24 h from now.
    pub expires_at_s: Option<u64>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionMeta {
    pub(crate) amount_total: i64,
    pub(crate) currency: String,
    pub(crate) client_reference_id: Option<String>,
    pub(crate) customer_email: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) intent_metadata: BTreeMap<String, String>,
    pub(crate) payment_method_types: Vec<String>,
    pub(crate) created_s: u64,
    pub(crate) expires_at_s: u64,
    pub(crate) success_url: Option<String>,
    pub(crate) cancel_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub(crate) status: SessionStatus,
    pub(crate) payment_status: PaymentStatus,
    pub(crate) payment_intent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IntentMeta {
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) session: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) payment_method_types: Vec<String>,
    pub(crate) created_s: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IntentState {
    pub(crate) status: IntentStatus,
    pub(crate) amount_received: i64,
    pub(crate) amount_refunded: i64,
    pub(crate) last_payment_error: Option<PaymentError>,
    pub(crate) canceled_at_s: Option<u64>,
    pub(crate) cancellation_reason: Option<&'static str>,
    pub(crate) latest_charge: Option<String>,
    pub(crate) payment_method: Option<String>,
}

/// One event, as Stripe keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub type_: EventType,
    /// The id of the object in `data.object`.
    pub object_id: String,
    pub created_ms: u64,
    pub created_s: u64,
    /// The exact bytes delivered (and listed).
    pub body: bytes::Bytes,
    pub delivery: DeliveryState,
}

pub(crate) struct State {
    pub(crate) sessions: Book<SessionMeta, SessionState>,
    pub(crate) intents: Book<IntentMeta, IntentState>,
    pub(crate) refunds: Vec<RefundRecord>,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) event_index: BTreeMap<String, usize>,
    counters: BTreeMap<&'static str, u64>,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) key_buckets: Buckets,
    pub(crate) endpoint_buckets: Buckets,
}

impl State {
    fn new(cfg: &StripeConfig) -> State {
        State {
            sessions: Book::default(),
            intents: Book::default(),
            refunds: Vec::new(),
            events: Vec::new(),
            event_index: BTreeMap::new(),
            counters: BTreeMap::new(),
            idempotency: IdempotencyStore::new(cfg.idempotency_ttl.0),
            key_buckets: Buckets::new(cfg.rate_limit(), cfg.rate_window.0),
            endpoint_buckets: Buckets::new(cfg.rate_limit_per_endpoint, cfg.rate_window.0),
        }
    }

    /// The next number of a kind of object (ids are derived from it).
    pub(crate) fn next(&mut self, kind: &'static str) -> u64 {
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        *n
    }
}

/// What a card payment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeded,
    /// Declined: the intent is back in `requires_payment_method`, the session still open.
    Declined,
    /// 3-D Secure first; the payment succeeds after this long.
    RequiresAction {
        completes_after_ms: u64,
    },
}

/// Why the customer could not pay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    #[error("no such Checkout Session: {0}")]
    NoSuchSession(String),
    #[error("the Checkout Session is {0}, not open")]
    NotOpen(&'static str),
    #[error("a payment is already in progress")]
    InProgress,
    #[error("customers pay only in the safety phase")]
    NotNow,
}

/// A session's ground truth: what Stripe says about it now and ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTruth {
    pub id: String,
    pub status: SessionStatus,
    pub payment_status: PaymentStatus,
    pub payment_intent: Option<String>,
    pub amount_total: i64,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_ms: u64,
    pub expires_at_s: u64,
    /// Every (status, payment_status) with the simulated time it began.
    pub history: Vec<(u64, SessionStatus, PaymentStatus)>,
}

impl SessionTruth {
    pub fn paid_now(&self) -> bool {
        self.payment_status == PaymentStatus::Paid
    }

    pub fn ever_paid(&self) -> bool {
        self.history.iter().any(|(_, _, p)| *p == PaymentStatus::Paid)
    }

    pub fn expired(&self) -> bool {
        self.status == SessionStatus::Expired
    }
}

/// A PaymentIntent's ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentTruth {
    pub id: String,
    pub status: IntentStatus,
    pub amount: i64,
    pub amount_refunded: i64,
    pub session: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_ms: u64,
    /// Every status with the simulated time it began.
    pub history: Vec<(u64, IntentStatus)>,
}

impl IntentTruth {
    /// Paid now: `succeeded` with nothing refunded.
    pub fn paid_now(&self) -> bool {
        is_paid(self.status, self.amount_refunded)
    }

    pub fn ever_succeeded(&self) -> bool {
        self.history.iter().any(|(_, s)| *s == IntentStatus::Succeeded)
    }
}

/// The simulated Stripe. Cheap to clone.
#[derive(Clone)]
pub struct Stripe {
    pub(crate) rt: Rt,
    pub(crate) cfg: Arc<StripeConfig>,
    pub(crate) state: Arc<Mutex<State>>,
    pub(super) sender: WebhookSender,
}

impl Stripe {
    /// Creates Stripe in the simulated world and serves its API as the `stripe` actor.
    pub fn start(sim: &Sim, cfg: StripeConfig) -> Stripe {
        let s = Stripe::new(Rt::sim(sim, ACTOR), cfg);
        sim.serve(ACTOR, s.router());
        s
    }

    /// Creates Stripe on any runtime; serve [`Stripe::router`] on its transport.
    pub fn new(rt: Rt, cfg: StripeConfig) -> Stripe {
        let sender = WebhookSender::new(rt.clone(), cfg.schedule(), "stripe:webhook-abandoned");
        let state = State::new(&cfg);
        Stripe { rt, cfg: Arc::new(cfg), state: Arc::new(Mutex::new(state)), sender }
    }

    pub fn config(&self) -> &StripeConfig {
        &self.cfg
    }

    /// The API, to be served by the transport (the simulation serves it as `stripe`).
    pub fn router(&self) -> Router {
        super::api::router(self.clone())
    }

    pub(crate) fn now_s(&self) -> u64 {
        self.rt.wall_ms() / 1000
    }

    pub(super) fn mode(&self) -> &'static str {
        if self.cfg.livemode { "live" } else { "test" }
    }

    // ---- ground truth ----

    pub fn session(&self, id: &str) -> Option<SessionTruth> {
        lock(&self.state).sessions.get(id).map(|r| session_truth(id, r))
    }

    /// Every session, by id.
    pub fn sessions(&self) -> Vec<SessionTruth> {
        lock(&self.state).sessions.iter().map(|(id, r)| session_truth(id, r)).collect()
    }

    pub fn intent(&self, id: &str) -> Option<IntentTruth> {
        lock(&self.state).intents.get(id).map(|r| intent_truth(id, r))
    }

    /// Every PaymentIntent, by id.
    pub fn intents(&self) -> Vec<IntentTruth> {
        lock(&self.state).intents.iter().map(|(id, r)| intent_truth(id, r)).collect()
    }

    /// Every event, oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        lock(&self.state).events.clone()
    }

    pub fn refunds(&self) -> Vec<RefundRecord> {
        lock(&self.state).refunds.clone()
    }

    // ---- JSON views ----

    /// The session's JSON now, or as of simulated time `as_of_ms` (a stale read).
    pub(crate) fn session_json(&self, id: &str, as_of_ms: Option<u64>) -> Option<serde_json::Value> {
        let st = lock(&self.state);
        let r = st.sessions.get(id)?;
        let s = as_of_ms.map_or_else(|| r.current(), |t| r.as_of(t));
        let m = &r.meta;
        Some(objects::session_json(&SessionView {
            id,
            livemode: self.cfg.livemode,
            status: s.status,
            payment_status: s.payment_status,
            amount_total: m.amount_total,
            currency: &m.currency,
            created_s: m.created_s,
            expires_at_s: m.expires_at_s,
            payment_intent: s.payment_intent.as_deref(),
            client_reference_id: m.client_reference_id.as_deref(),
            customer_email: m.customer_email.as_deref(),
            metadata: &m.metadata,
            payment_method_types: &m.payment_method_types,
            success_url: m.success_url.as_deref(),
            cancel_url: m.cancel_url.as_deref(),
        }))
    }

    pub(crate) fn intent_json(&self, id: &str, as_of_ms: Option<u64>) -> Option<serde_json::Value> {
        let st = lock(&self.state);
        let r = st.intents.get(id)?;
        let s = as_of_ms.map_or_else(|| r.current(), |t| r.as_of(t));
        let m = &r.meta;
        Some(objects::intent_json(&IntentView {
            id,
            livemode: self.cfg.livemode,
            status: s.status,
            amount: m.amount,
            amount_received: s.amount_received,
            currency: &m.currency,
            created_s: m.created_s,
            canceled_at_s: s.canceled_at_s,
            cancellation_reason: s.cancellation_reason,
            last_payment_error: s.last_payment_error,
            latest_charge: s.latest_charge.as_deref(),
            payment_method: s.payment_method.as_deref(),
            payment_method_types: &m.payment_method_types,
            metadata: &m.metadata,
        }))
    }

    pub(super) fn charge_json(&self, pi: &str) -> serde_json::Value {
        let st = lock(&self.state);
        let Some(r) = st.intents.get(pi) else { return serde_json::Value::Null };
        let s = r.current();
        objects::charge_json(&ChargeView {
            id: s.latest_charge.as_deref().unwrap_or_default(),
            livemode: self.cfg.livemode,
            payment_intent: pi,
            amount: s.amount_received,
            amount_refunded: s.amount_refunded,
            currency: &r.meta.currency,
            created_s: r.meta.created_s,
            payment_method: s.payment_method.as_deref(),
            metadata: &r.meta.metadata,
        })
    }
}

fn session_truth(id: &str, r: &Record<SessionMeta, SessionState>) -> SessionTruth {
    let s = r.current();
    SessionTruth {
        id: id.to_string(),
        status: s.status,
        payment_status: s.payment_status,
        payment_intent: s.payment_intent.clone(),
        amount_total: r.meta.amount_total,
        client_reference_id: r.meta.client_reference_id.clone(),
        metadata: r.meta.metadata.clone(),
        created_ms: r.created_ms,
        expires_at_s: r.meta.expires_at_s,
        history: dedup_by(r.history().iter().map(|(t, s)| (*t, s.status, s.payment_status)), |a, b| {
            (a.1, a.2) == (b.1, b.2)
        }),
    }
}

fn intent_truth(id: &str, r: &Record<IntentMeta, IntentState>) -> IntentTruth {
    let s = r.current();
    IntentTruth {
        id: id.to_string(),
        status: s.status,
        amount: r.meta.amount,
        amount_refunded: s.amount_refunded,
        session: r.meta.session.clone(),
        metadata: r.meta.metadata.clone(),
        created_ms: r.created_ms,
        history: dedup_by(r.history().iter().map(|(t, s)| (*t, s.status)), |a, b| a.1 == b.1),
    }
}

/// The book keeps every state, including changes that only set an id or a refund; a status
/// history keeps the first entry of each run of equal statuses.
fn dedup_by<T>(items: impl Iterator<Item = T>, same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if out.last().is_none_or(|last| !same(last, &item)) {
            out.push(item);
        }
    }
    out
}
