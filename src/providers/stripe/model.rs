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
use super::objects::{
    self, ApiError, ChargeView, IntentView, PaymentError, RefundRecord, SessionView, object_id, short,
};
use super::status::{EventType, IntentStatus, PaymentStatus, SessionStatus, is_paid, session_can_transition};
use crate::providers::kit::book::{Book, Record};
use crate::providers::kit::idempotency::IdempotencyStore;
use crate::providers::kit::ratelimit::Buckets;
use crate::providers::kit::sign::timestamped_header;
use crate::providers::kit::webhook::{Delivery, OnFinish, Signer};
use crate::providers::kit::{Rt, WebhookSender};
use crate::sim::world::lock;
use crate::sim::{Millis, Phase, Sim};

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

/// Whether an event's webhook got through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Every attempt failed and Stripe gave up.
    Failed,
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
    sender: WebhookSender,
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

    fn mode(&self) -> &'static str {
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

    // ---- the merchant's side (the API calls these) ----

    /// Creates a Checkout Session (`open`, `unpaid`) and schedules its expiry.
    pub fn create_session(&self, new: NewSession) -> Result<String, ApiError> {
        if new.amount_total <= 0 {
            return Err(ApiError::invalid("line_items", "the session's total must be above 0"));
        }
        let now_s = self.now_s();
        let expires_at_s = match new.expires_at_s {
            None => now_s + self.cfg.session_expiry.0 / 1000,
            Some(t) if t >= now_s + 30 * 60 && t <= now_s + 24 * 3600 => t,
            Some(t) => {
                return Err(ApiError::invalid(
                    "expires_at",
                    format!("expires_at must be between 30 minutes and 24 hours from now ({now_s}); found {t}"),
                ));
            }
        };
        let methods =
            if new.payment_method_types.is_empty() { vec!["card".to_string()] } else { new.payment_method_types };
        let now_ms = self.rt.now_ms();
        let id = {
            let mut st = lock(&self.state);
            let n = st.next("session");
            let id = object_id(&format!("cs_{}_", self.mode()), "session", n, 58);
            let meta = SessionMeta {
                amount_total: new.amount_total,
                currency: new.currency,
                client_reference_id: new.client_reference_id,
                customer_email: new.customer_email,
                metadata: new.metadata,
                intent_metadata: new.intent_metadata,
                payment_method_types: methods,
                created_s: now_s,
                expires_at_s,
                success_url: new.success_url,
                cancel_url: new.cancel_url,
            };
            let state = SessionState {
                status: SessionStatus::Open,
                payment_status: PaymentStatus::Unpaid,
                payment_intent: None,
            };
            st.sessions.insert(&id, meta, now_ms, state);
            id
        };
        self.rt.state(|| {
            format!(
                "{}: session created ({}, expires in {})",
                short(&id),
                new.amount_total,
                Millis((expires_at_s - now_s) * 1000)
            )
        });
        let (me, sid) = (self.clone(), id.clone());
        let wait_ms = (expires_at_s * 1000).saturating_sub(self.rt.wall_ms());
        self.rt.spawn(async move {
            me.rt.sleep_ms(wait_ms).await;
            if me.session_status(&sid) == Some(SessionStatus::Open) {
                me.expire_session(&sid, "expired");
            }
        });
        Ok(id)
    }

    fn session_status(&self, id: &str) -> Option<SessionStatus> {
        lock(&self.state).sessions.current(id).map(|s| s.status)
    }

    /// The expire API: an open session becomes `expired` now.
    pub fn expire(&self, id: &str) -> Result<(), ApiError> {
        match self.session_status(id) {
            None => Err(ApiError::missing("checkout.session", id, "session")),
            Some(SessionStatus::Open) => {
                self.rt.mark("stripe:session-expired-by-api");
                self.expire_session(id, "expired by the API");
                Ok(())
            }
            Some(s) => Err(ApiError::state(
                "checkout_session_not_expirable",
                format!(
                    "Only Checkout Sessions with a status in [\"open\"] can be expired; this one is {}",
                    s.as_str()
                ),
            )),
        }
    }

    fn expire_session(&self, id: &str, why: &str) {
        let Some(payment) = self.set_session(id, SessionStatus::Expired, None) else { return };
        self.rt.state(|| format!("{}: {why}", short(id)));
        self.emit_session(EventType::CheckoutSessionExpired, id);
        // An intent still waiting for the customer (declined attempts, an unfinished 3-D Secure)
        // is canceled with its session.
        let pending = payment.filter(|pi| {
            lock(&self.state).intents.current(pi).is_some_and(|s| s.status.can_transition_to(IntentStatus::Canceled))
        });
        if let Some(pi) = pending {
            self.set_intent(&pi, IntentStatus::Canceled, |s, now_s| {
                s.canceled_at_s = Some(now_s);
                s.cancellation_reason = Some("abandoned");
            });
        }
    }

    /// Moves a session to `status` (keeping or setting its payment status); returns its intent.
    /// `None` when the move is illegal or the session unknown: nothing changed.
    fn set_session(&self, id: &str, status: SessionStatus, paid: Option<PaymentStatus>) -> Option<Option<String>> {
        let now_ms = self.rt.now_ms();
        let mut st = lock(&self.state);
        let next = st.sessions.update(id, now_ms, |_, cur| {
            let payment_status = paid.unwrap_or(cur.payment_status);
            let legal = session_can_transition((cur.status, cur.payment_status), (status, payment_status));
            legal.then(|| SessionState { status, payment_status, payment_intent: cur.payment_intent.clone() })
        })?;
        Some(next.payment_intent.clone())
    }

    /// The PaymentIntent cancel API.
    pub fn cancel_intent(&self, id: &str) -> Result<(), ApiError> {
        let status = lock(&self.state).intents.current(id).map(|s| s.status);
        match status {
            None => Err(ApiError::missing("payment_intent", id, "intent")),
            Some(s) if s.can_transition_to(IntentStatus::Canceled) => {
                self.set_intent(id, IntentStatus::Canceled, |s, now_s| {
                    s.canceled_at_s = Some(now_s);
                    s.cancellation_reason = Some("requested_by_customer");
                });
                Ok(())
            }
            Some(s) => Err(ApiError::state(
                "payment_intent_unexpected_state",
                format!("You cannot cancel this PaymentIntent because it has a status of {}.", s.as_str()),
            )),
        }
    }

    /// Refunds `amount` (all that is left, when `None`) of a succeeded intent.
    pub fn refund(&self, intent: &str, amount: Option<i64>, reason: Option<String>) -> Result<RefundRecord, ApiError> {
        let now_ms = self.rt.now_ms();
        let now_s = self.now_s();
        let refund = {
            let mut st = lock(&self.state);
            let Some(r) = st.intents.get(intent) else {
                return Err(ApiError::missing("payment_intent", intent, "payment_intent"));
            };
            let cur = r.current().clone();
            if cur.status != IntentStatus::Succeeded {
                return Err(ApiError::state(
                    "charge_not_refundable",
                    format!("This PaymentIntent ({intent}) does not have a successful charge to refund."),
                ));
            }
            let left = cur.amount_received - cur.amount_refunded;
            let amount = amount.unwrap_or(left);
            if amount <= 0 || amount > left {
                return Err(ApiError::invalid(
                    "amount",
                    format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
                ));
            }
            let currency = r.meta.currency.clone();
            let n = st.next("refund");
            let charge = cur.latest_charge.clone().unwrap_or_default();
            let refund = RefundRecord {
                id: object_id("re_", "refund", n, 24),
                amount,
                charge,
                payment_intent: intent.to_string(),
                currency,
                created_s: now_s,
                created_ms: now_ms,
                reason,
                metadata: BTreeMap::new(),
            };
            st.intents.update(intent, now_ms, |_, s| {
                Some(IntentState { amount_refunded: s.amount_refunded + amount, ..s.clone() })
            });
            st.refunds.push(refund.clone());
            refund
        };
        self.rt.state(|| format!("{}: refunded {} ({})", short(intent), refund.amount, short(&refund.id)));
        self.emit(EventType::ChargeRefunded, intent, self.charge_json(intent));
        self.emit(EventType::RefundCreated, &refund.id.clone(), objects::refund_json(&refund));
        Ok(refund)
    }

    // ---- the customer's side ----

    fn payable(&self, session: &str) -> Result<(), PayError> {
        if self.rt.phase() != Phase::Safety {
            return Err(PayError::NotNow);
        }
        let st = lock(&self.state);
        let s = st.sessions.current(session).ok_or_else(|| PayError::NoSuchSession(session.to_string()))?;
        if s.status != SessionStatus::Open {
            return Err(PayError::NotOpen(s.status.as_str()));
        }
        let busy = s
            .payment_intent
            .as_ref()
            .and_then(|pi| st.intents.current(pi))
            .is_some_and(|i| i.status != IntentStatus::RequiresPaymentMethod);
        if busy {
            return Err(PayError::InProgress);
        }
        Ok(())
    }

    /// The session's intent, created now if it has none (`payment_intent.created`).
    fn intent_for(&self, session: &str) -> String {
        let now_ms = self.rt.now_ms();
        let now_s = self.now_s();
        let created = {
            let mut st = lock(&self.state);
            let Some(r) = st.sessions.get(session) else { return String::new() };
            if let Some(pi) = r.current().payment_intent.clone() {
                return pi;
            }
            let meta = IntentMeta {
                amount: r.meta.amount_total,
                currency: r.meta.currency.clone(),
                session: Some(session.to_string()),
                metadata: r.meta.intent_metadata.clone(),
                payment_method_types: r.meta.payment_method_types.clone(),
                created_s: now_s,
            };
            let n = st.next("intent");
            let id = object_id("pi_", "intent", n, 24);
            let state = IntentState {
                status: IntentStatus::RequiresPaymentMethod,
                amount_received: 0,
                amount_refunded: 0,
                last_payment_error: None,
                canceled_at_s: None,
                cancellation_reason: None,
                latest_charge: None,
                payment_method: None,
            };
            st.intents.insert(&id, meta, now_ms, state);
            let pi = id.clone();
            st.sessions.update(session, now_ms, |_, s| Some(SessionState { payment_intent: Some(pi), ..s.clone() }));
            id
        };
        self.rt.state(|| format!("{}: payment intent {} created", short(session), short(&created)));
        self.emit_intent(EventType::PaymentIntentCreated, &created);
        created
    }

    /// An attempt with a new payment method and charge.
    fn attempt(&self, pi: &str) {
        let mut st = lock(&self.state);
        let (pm, ch) = (st.next("method"), st.next("charge"));
        let (pm, ch) = (object_id("pm_", "method", pm, 24), object_id("ch_", "charge", ch, 24));
        let now_ms = self.rt.now_ms();
        // Not a status change, so not in the history as a new status: the same status, new ids.
        let r = st.intents.get(pi).map(|r| r.current().clone());
        if let Some(cur) = r {
            st.intents.update(pi, now_ms, |_, _| {
                Some(IntentState { payment_method: Some(pm), latest_charge: Some(ch), last_payment_error: None, ..cur })
            });
        }
    }

    /// The customer pays `session` by card: declined (`card_decline`), after 3-D Secure
    /// (`three_d_secure`), or at once.
    pub fn pay_card(&self, session: &str) -> Result<CardOutcome, PayError> {
        self.payable(session)?;
        let (declined, action_ms) = self.rt.choose(|o| {
            let declined = o.chance(self.cfg.card_decline.ppm());
            let action = if !declined && o.chance(self.cfg.three_d_secure.ppm()) {
                Some(self.cfg.action_delay.draw(o))
            } else {
                None
            };
            (declined, action)
        });
        self.rt.state(|| format!("{}: customer pays by card", short(session)));
        let pi = self.intent_for(session);
        self.attempt(&pi);
        if declined {
            self.rt.mark("stripe:card-declined");
            self.fail_intent(&pi, PaymentError::CardDeclined);
            return Ok(CardOutcome::Declined);
        }
        match action_ms {
            Some(after) => {
                self.set_intent(&pi, IntentStatus::RequiresAction, |_, _| {});
                let (me, sid, pi) = (self.clone(), session.to_string(), pi.clone());
                self.rt.spawn(async move {
                    me.rt.sleep_ms(after).await;
                    me.succeed(&sid, &pi, false);
                });
                Ok(CardOutcome::RequiresAction { completes_after_ms: after })
            }
            None => {
                self.succeed(session, &pi, false);
                Ok(CardOutcome::Succeeded)
            }
        }
    }

    /// The customer pays by an async method (a bank debit): `processing` now, the session
    /// `complete` but `unpaid`; the result after `async_delay`, failing with `async_fail`.
    pub fn pay_async(&self, session: &str) -> Result<(), PayError> {
        self.payable(session)?;
        let (fails, after_ms) = self.rt.choose(|o| (o.chance(self.cfg.async_fail.ppm()), self.cfg.async_delay.draw(o)));
        self.pay_async_with(session, !fails, after_ms)
    }

    /// [`Stripe::pay_async`] with its result and delay given (for harnesses and tests).
    pub fn pay_async_with(&self, session: &str, succeeds: bool, after_ms: u64) -> Result<(), PayError> {
        self.payable(session)?;
        self.rt.mark("stripe:async-payment");
        self.rt.state(|| {
            let will = if succeeds { "settle" } else { "fail" };
            format!("{}: customer pays by bank debit (will {will} in {})", short(session), Millis(after_ms))
        });
        let pi = self.intent_for(session);
        self.attempt(&pi);
        self.set_intent(&pi, IntentStatus::Processing, |_, _| {});
        if self.set_session(session, SessionStatus::Complete, Some(PaymentStatus::Unpaid)).is_some() {
            self.rt.state(|| format!("{}: complete, unpaid (processing)", short(session)));
            self.emit_session(EventType::CheckoutSessionCompleted, session);
        }
        let (me, sid) = (self.clone(), session.to_string());
        self.rt.spawn(async move {
            me.rt.sleep_ms(after_ms).await;
            if succeeds {
                me.succeed(&sid, &pi, true);
            } else {
                me.rt.mark("stripe:async-payment-failed");
                me.fail_intent(&pi, PaymentError::DebitFailed);
                me.rt.state(|| format!("{}: async payment failed", short(&sid)));
                me.emit_session(EventType::CheckoutSessionAsyncPaymentFailed, &sid);
            }
        });
        Ok(())
    }

    /// The customer leaves the payment page: nothing happens at Stripe until the session
    /// expires. Returns whether the session was open.
    pub fn abandon(&self, session: &str) -> bool {
        let open = self.session_status(session) == Some(SessionStatus::Open);
        if open {
            self.rt.mark("stripe:checkout-abandoned");
            self.rt.state(|| format!("{}: customer abandons the checkout page", short(session)));
        }
        open
    }

    fn succeed(&self, session: &str, pi: &str, was_async: bool) {
        let amount = lock(&self.state).intents.get(pi).map_or(0, |r| r.meta.amount);
        let changed = self.set_intent(pi, IntentStatus::Succeeded, |s, _| s.amount_received = amount);
        if !changed {
            return;
        }
        if self.set_session(session, SessionStatus::Complete, Some(PaymentStatus::Paid)).is_some() {
            self.rt.state(|| format!("{}: complete, paid", short(session)));
            let kind = if was_async {
                EventType::CheckoutSessionAsyncPaymentSucceeded
            } else {
                EventType::CheckoutSessionCompleted
            };
            self.emit_session(kind, session);
        }
    }

    /// A failed attempt: back to `requires_payment_method` with the error. An attempt on an
    /// intent that never left `requires_payment_method` (a card declined at once) changes no
    /// status, but it records the error and sends `payment_intent.payment_failed` all the same.
    fn fail_intent(&self, pi: &str, error: PaymentError) {
        let now_ms = self.rt.now_ms();
        let unchanged = {
            let mut st = lock(&self.state);
            st.intents
                .update(pi, now_ms, |_, cur| {
                    (cur.status == IntentStatus::RequiresPaymentMethod)
                        .then(|| IntentState { last_payment_error: Some(error), ..cur.clone() })
                })
                .is_some()
        };
        if unchanged {
            self.rt.state(|| format!("{}: payment failed; still requires_payment_method", short(pi)));
            self.emit_intent(EventType::PaymentIntentPaymentFailed, pi);
        } else {
            self.set_intent(pi, IntentStatus::RequiresPaymentMethod, |s, _| s.last_payment_error = Some(error));
        }
    }

    /// Moves an intent to `status` if its machine allows (a 3-D Secure that completes after its
    /// session expired does not), applies `edit`, records and emits.
    fn set_intent(&self, pi: &str, status: IntentStatus, edit: impl FnOnce(&mut IntentState, u64)) -> bool {
        let now_ms = self.rt.now_ms();
        let now_s = self.now_s();
        let changed = lock(&self.state)
            .intents
            .update(pi, now_ms, |_, cur| {
                cur.status.can_transition_to(status).then(|| {
                    let mut next = IntentState { status, ..cur.clone() };
                    edit(&mut next, now_s);
                    next
                })
            })
            .is_some();
        if changed {
            self.rt.state(|| format!("{}: {}", short(pi), status.as_str()));
            if let Some(kind) = status.event() {
                self.emit_intent(kind, pi);
            }
        }
        changed
    }

    // ---- events ----

    fn emit_session(&self, kind: EventType, id: &str) {
        if let Some(object) = self.session_json(id, None) {
            self.emit(kind, id, object);
        }
    }

    fn emit_intent(&self, kind: EventType, id: &str) {
        if let Some(object) = self.intent_json(id, None) {
            self.emit(kind, id, object);
        }
    }

    /// Records an event and sends its webhook.
    fn emit(&self, kind: EventType, object_id: &str, object: serde_json::Value) {
        let now_ms = self.rt.now_ms();
        let created_s = self.now_s();
        let (id, body) = {
            let mut st = lock(&self.state);
            let n = st.next("event");
            let id = object_id_for_event(n);
            let json =
                objects::event_json(&id, kind.as_str(), created_s, self.cfg.livemode, &self.cfg.api_version, object);
            let body: bytes::Bytes = serde_json::to_vec(&json).unwrap_or_default().into();
            let index = st.events.len();
            st.events.push(EventRecord {
                id: id.clone(),
                type_: kind,
                object_id: object_id.to_string(),
                created_ms: now_ms,
                created_s,
                body: body.clone(),
                delivery: DeliveryState::Pending,
            });
            st.event_index.insert(id.clone(), index);
            (id, body)
        };
        let recording = self.rt.recording();
        let secret = self.cfg.webhook_secret.clone();
        let sign: Signer = Arc::new(move |wall_ms, body| {
            vec![
                (SIGNATURE_HEADER.to_string(), timestamped_header("v1", &secret, wall_ms / 1000, body)),
                ("user-agent".to_string(), "Stripe/1.0 (+https://stripe.com/docs/webhooks)".to_string()),
            ]
        });
        let (state, event_id) = (self.state.clone(), id.clone());
        let on_finish: OnFinish = Arc::new(move |delivered| {
            let mut st = lock(&state);
            if let Some(&i) = st.event_index.get(&event_id) {
                let e = &mut st.events[i];
                // A duplicate that got through counts; one that gave up does not undo it.
                if delivered {
                    e.delivery = DeliveryState::Delivered;
                } else if e.delivery == DeliveryState::Pending {
                    e.delivery = DeliveryState::Failed;
                }
            }
        });
        let delivery = Delivery {
            to: self.cfg.webhook_actor.clone(),
            path: self.cfg.webhook_path.clone(),
            body,
            label: if recording {
                format!("POST {} {} {} {}", self.cfg.webhook_path, short(&id), kind.as_str(), short(object_id))
            } else {
                String::new()
            },
            subject: if recording { format!("{} {}", short(&id), kind.as_str()) } else { String::new() },
            noun: "webhook",
            sign: Some(sign),
            on_finish: Some(on_finish),
        };
        self.rt.state(|| format!("{} {} about {}", short(&id), kind.as_str(), short(object_id)));
        self.sender.dispatch(delivery, &self.cfg.webhook_delay, self.cfg.duplicate_webhook, || {
            format!("{} {}: Stripe will deliver it twice", short(&id), kind.as_str())
        });
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

    fn charge_json(&self, pi: &str) -> serde_json::Value {
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

fn object_id_for_event(n: u64) -> String {
    object_id("evt_", "event", n, 24)
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
