//! The simulated Midtrans: an actor holding the ground truth of every transaction, sending
//! notifications with Midtrans's real retry schedule, and serving the status API.
//!
//! - Charges start in Snap's "no payment method chosen" state: the status API answers 404 until
//!   the customer picks a method (a seeded delay), then the transaction is `pending` and a
//!   `pending` notification is sent.
//! - Paying moves it to `settlement` (bank transfer, e-wallets) or to `capture` with a
//!   `fraud_status` (cards): `accept`, or `challenge` resolved later to `accept` or `deny`.
//!   Card captures settle a day later by default. Bank transfers can, rarely, reverse
//!   `settlement` → `deny` a few minutes later; a settled non-card payment can be refunded from
//!   the merchant's dashboard (`refund`, off by default) minutes to hours later.
//! - Unpaid transactions expire after the method's expiry.
//! - Every status change sends a notification after a seeded delay (settlement within ~20 s,
//!   expiry within ~90 s), retried per [`super::retry`]; each attempt is a separate message on
//!   the simulated network, so attempts can be lost, duplicated or reordered. Rarely, the
//!   provider itself sends a duplicate.
//!
//! Spontaneous changes that make a transaction paid or unpaid (customer payment, fraud review,
//! reversal) happen only in the safety phase, so the liveness phase converges on a fixed truth.
//! Expiry happens in either phase: it never changes whether a transaction is paid.
//!
//! The status API can be given faults of its own (`[midtrans.provider.api]`, off by default): 5xx,
//! 429, requests held past the caller's timeout, and stale reads that answer the transaction's
//! status of a while ago (see [`crate::providers::kit::faults`]).
//!
//! Built on the provider kit: the model runs on an [`Rt`] (so it is not tied to the simulation),
//! keeps its ground truth in a [`Book`], and sends notifications with the kit's
//! [`WebhookSender`] and Midtrans's [`RetryPolicy`] schedule.
//!
//! What it does not model: partial refunds and chargebacks, card refunds, the charge API's
//! own failures (charges are created by a direct, fault-free call), 3DS redirects.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::notification::{self, Notification};
use super::retry::RetryPolicy;
use super::status::{FraudStatus, PaymentType, TransactionStatus, is_paid};
use crate::providers::kit::book::{Book, Record};
use crate::providers::kit::{ApiFault, ApiFaults, Delivery, Rt, WebhookSender};
use crate::sim::world::lock;
use crate::sim::{Millis, Phase, Range, Rate, Sim};

/// The provider's actor name in traces and on the network.
pub const ACTOR: &str = "provider";

/// Provider behaviour; every number is a default a scenario can override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    pub server_key: String,
    pub merchant_id: String,
    /// Where notifications go: the actor and the path of its endpoint.
    pub notify_actor: String,
    pub notify_path: String,
    /// Delay from a status change to the first notification attempt.
    pub notify_delay: Range,
    /// The same, for expiry notices (Midtrans: within ~90 s).
    pub expire_notify_delay: Range,
    /// The provider itself sends a notification twice (rare).
    pub duplicate_notification: Rate,
    /// Retry intervals (2 m, 10 m, 30 m, 90 m, 210 m) and their jitter.
    pub retry_intervals: Vec<Millis>,
    pub retry_jitter_max: Millis,
    pub timeout: Millis,
    /// Snap: the status API answers 404 until the customer picks a payment method.
    pub choose_method_delay: Range,
    /// Card captures settle this long after capture (Midtrans settles cards the next day).
    pub card_settle_after: Millis,
    pub fraud_challenge: Rate,
    pub challenge_review: Range,
    /// A challenged capture that review denies.
    pub challenge_deny: Rate,
    /// Bank-transfer settlements reversed to `deny` (rare).
    pub reversal: Rate,
    pub reversal_after: Range,
    /// Settled (non-card) payments refunded later from the merchant's dashboard, which the
    /// app hears of only by notification (off by default; no oracle choice is drawn while 0).
    pub refund: Rate,
    pub refund_after: Range,
    /// Overrides every method's default expiry when set.
    pub expiry: Option<Millis>,
    /// Faults of the status API itself (all off by default).
    #[serde(skip_serializing_if = "ApiFaults::is_off")]
    pub api: ApiFaults,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        ProviderConfig {
            server_key: "SB-Mid-server-settle-sim".into(),
            merchant_id: "G123456789".into(),
            notify_actor: "app".into(),
            notify_path: "/webhooks/midtrans".into(),
            notify_delay: Range::new(Millis(200), Millis::s(20)),
            expire_notify_delay: Range::new(Millis::s(1), Millis::s(90)),
            duplicate_notification: Rate(5_000),
            retry_intervals: retry.intervals_ms.iter().map(|&v| Millis(v)).collect(),
            retry_jitter_max: Millis(retry.jitter_ms_max),
            timeout: Millis(retry.timeout_ms),
            choose_method_delay: Range::new(Millis(0), Millis::s(30)),
            card_settle_after: Millis::h(24),
            fraud_challenge: Rate(50_000),
            challenge_review: Range::new(Millis::min(5), Millis::min(30)),
            challenge_deny: Rate(300_000),
            reversal: Rate(10_000),
            reversal_after: Range::new(Millis::min(1), Millis::min(5)),
            refund: Rate::ZERO,
            refund_after: Range::new(Millis::min(10), Millis::h(3)),
            expiry: None,
            api: ApiFaults::default(),
        }
    }
}

/// One transaction's ground truth, as invariants and the audit read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truth {
    pub order_id: String,
    pub transaction_id: String,
    pub payment_type: PaymentType,
    pub gross_amount: i64,
    /// `None` until the customer picks a payment method (Snap).
    pub status: Option<TransactionStatus>,
    pub fraud: Option<FraudStatus>,
    /// Every status it has had, with simulated times.
    pub history: Vec<(u64, TransactionStatus, Option<FraudStatus>)>,
    pub created_ms: u64,
    pub settlement_ms: Option<u64>,
}

impl Truth {
    /// Paid now: `settlement`, or `capture` with `fraud_status = accept`.
    pub fn paid_now(&self) -> bool {
        self.status.is_some_and(|s| is_paid(s, self.fraud))
    }

    /// Paid at any time so far (the history only grows).
    pub fn ever_paid(&self) -> bool {
        self.history.iter().any(|&(_, s, f)| is_paid(s, f))
    }

    /// Ended without payment, or with the payment given back: expired, cancelled, denied,
    /// failed, refunded or charged back in full.
    pub fn failed_now(&self) -> bool {
        matches!(
            self.status,
            Some(
                TransactionStatus::Expire
                    | TransactionStatus::Cancel
                    | TransactionStatus::Deny
                    | TransactionStatus::Failure
                    | TransactionStatus::Refund
                    | TransactionStatus::Chargeback
            )
        )
    }
}

/// The facts of a transaction that never change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Meta {
    transaction_id: String,
    payment_type: PaymentType,
    gross_amount: i64,
}

/// A transaction's state at one instant: what the book keeps a history of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TxnState {
    /// `None` until the customer picks a payment method (Snap).
    status: Option<TransactionStatus>,
    fraud: Option<FraudStatus>,
    settlement_ms: Option<u64>,
}

impl TxnState {
    fn paid(&self) -> bool {
        self.status.is_some_and(|s| is_paid(s, self.fraud))
    }
}

fn truth_of(order_id: &str, r: &Record<Meta, TxnState>) -> Truth {
    let now = r.current();
    Truth {
        order_id: order_id.to_string(),
        transaction_id: r.meta.transaction_id.clone(),
        payment_type: r.meta.payment_type,
        gross_amount: r.meta.gross_amount,
        status: now.status,
        fraud: now.fraud,
        history: r.history().iter().filter_map(|(t, s)| s.status.map(|st| (*t, st, s.fraud))).collect(),
        created_ms: r.created_ms,
        settlement_ms: now.settlement_ms,
    }
}

/// The notification for `state`, if a method is chosen. It carries the times it describes
/// (creation, settlement), not the time it is sent or resent.
fn notification_of(
    order_id: &str,
    r: &Record<Meta, TxnState>,
    state: &TxnState,
    cfg: &ProviderConfig,
    epoch_ms: u64,
) -> Option<Notification> {
    let status = state.status?;
    Some(notification::build(notification::NotificationParams {
        order_id,
        transaction_id: &r.meta.transaction_id,
        status,
        fraud: state.fraud,
        payment_type: r.meta.payment_type,
        gross_amount_minor: r.meta.gross_amount,
        merchant_id: &cfg.merchant_id,
        server_key: &cfg.server_key,
        transaction_time_ms: epoch_ms + r.created_ms,
        settlement_time_ms: state.settlement_ms.map(|t| epoch_ms + t),
    }))
}

#[derive(Default)]
struct State {
    book: Book<Meta, TxnState>,
    next_txn: u64,
    /// The body of each state of each order that was notified or asked about, built once: an
    /// order's body depends only on its state (its charge and the config do not change), and a
    /// notification and the status API's answer for the same state are the same bytes.
    bodies: BTreeMap<String, Vec<(TxnState, String)>>,
}

impl State {
    /// `order_id`'s body in the state `at` picks from its record ([`notification_of`]
    /// serialized), built on first use and kept; `None` while no method is chosen (or for an
    /// unknown order).
    fn body_of(
        &mut self,
        order_id: &str,
        at: impl FnOnce(&Record<Meta, TxnState>) -> TxnState,
        cfg: &ProviderConfig,
        epoch_ms: u64,
    ) -> Option<String> {
        let State { book, bodies, .. } = self;
        let r = book.get(order_id)?;
        let state = at(r);
        if let Some((_, body)) = bodies.get(order_id).and_then(|b| b.iter().find(|(s, _)| *s == state)) {
            return Some(body.clone());
        }
        let n = notification_of(order_id, r, &state, cfg, epoch_ms)?;
        let body = n.to_json();
        bodies.entry(order_id.to_string()).or_default().push((state, body.clone()));
        Some(body)
    }
}

/// The simulated provider. Cheap to clone.
#[derive(Clone)]
pub struct Midtrans {
    rt: Rt,
    cfg: Arc<ProviderConfig>,
    state: Arc<Mutex<State>>,
    sender: WebhookSender,
    /// The `Authorization` value its APIs expect ([`Midtrans::basic_auth`] of the server key),
    /// built once: the key never changes, and every call compares it ([`Midtrans::authorized`]).
    auth: Arc<str>,
}

impl Midtrans {
    /// Creates the provider in the simulated world and serves its status API as the `provider`
    /// actor.
    pub fn start(sim: &Sim, cfg: ProviderConfig) -> Midtrans {
        let m = Midtrans::new(Rt::sim(sim, ACTOR), cfg);
        sim.serve(ACTOR, m.router());
        m
    }

    /// Creates the provider on any runtime; serve [`Midtrans::router`] on its transport.
    pub fn new(rt: Rt, cfg: ProviderConfig) -> Midtrans {
        let policy = RetryPolicy {
            intervals_ms: cfg.retry_intervals.iter().map(|m| m.0).collect(),
            jitter_ms_max: cfg.retry_jitter_max.0,
            timeout_ms: cfg.timeout.0,
        };
        let sender = WebhookSender::new(rt.clone(), policy.schedule(), "provider:notification-abandoned");
        let auth = Midtrans::basic_auth(&cfg.server_key).into();
        Midtrans { rt, cfg: Arc::new(cfg), state: Arc::default(), sender, auth }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.cfg
    }

    /// Unix epoch milliseconds of the runtime's time 0: payload times are `epoch + t`.
    fn epoch_ms(&self) -> u64 {
        self.rt.wall_ms().saturating_sub(self.rt.now_ms())
    }

    /// The ground truth of one order.
    pub fn truth(&self, order_id: &str) -> Option<Truth> {
        lock(&self.state).book.get(order_id).map(|r| truth_of(order_id, r))
    }

    /// Whether an order was ever paid, without cloning its history.
    pub fn ever_paid(&self, order_id: &str) -> bool {
        lock(&self.state).book.get(order_id).is_some_and(|r| r.ever(TxnState::paid))
    }

    /// Every transaction's ground truth, ordered by order id.
    pub fn truths(&self) -> Vec<Truth> {
        lock(&self.state).book.iter().map(|(id, r)| truth_of(id, r)).collect()
    }

    /// Creates a charge (Snap token) for `order_id`; returns the transaction id. The customer
    /// picks a payment method after a seeded delay.
    pub fn create_charge(&self, order_id: &str, gross_amount: i64, payment_type: PaymentType) -> String {
        self.create(order_id, gross_amount, payment_type, false)
    }

    /// The Core API's charge (`POST /v2/charge`): the request names the method, so the
    /// transaction is `pending` at once (its notification goes out) rather than after a chosen
    /// delay. Returns the transaction id.
    pub fn create_direct_charge(&self, order_id: &str, gross_amount: i64, payment_type: PaymentType) -> String {
        self.create(order_id, gross_amount, payment_type, true)
    }

    /// The notification body of `order_id`'s current state (no stale read), if a method is
    /// chosen: what the status API answers on a good day.
    pub fn current_status(&self, order_id: &str) -> Option<Notification> {
        let epoch_ms = self.epoch_ms();
        let st = lock(&self.state);
        st.book.get(order_id).and_then(|r| notification_of(order_id, r, r.current(), &self.cfg, epoch_ms))
    }

    /// Creates the charge: `direct`, pending at once (Core API); otherwise the customer picks a
    /// method after the config's `choose_method_delay` (Snap).
    fn create(&self, order_id: &str, gross_amount: i64, payment_type: PaymentType, direct: bool) -> String {
        let now = self.rt.now_ms();
        let transaction_id = {
            let mut st = lock(&self.state);
            st.next_txn += 1;
            // Deterministic, UUID-shaped, unique per run.
            let id = format!("{:08x}-5e77-4e1d-9000-{:012x}", st.next_txn, st.next_txn * 7919);
            let meta = Meta { transaction_id: id.clone(), payment_type, gross_amount };
            let inserted =
                st.book.insert(order_id, meta, now, TxnState { status: None, fraud: None, settlement_ms: None });
            debug_assert!(inserted, "one charge per order id");
            id
        };
        self.rt.state(|| {
            format!(
                "{order_id}: charge created ({}, {})",
                payment_type.as_str(),
                notification::format_gross_amount(gross_amount)
            )
        });
        let expiry = self.cfg.expiry.map_or_else(|| payment_type.default_expiry_ms(), |m| m.0);
        let delay = if direct {
            self.transition(order_id, TransactionStatus::Pending, None);
            0
        } else {
            self.rt.draw(&self.cfg.choose_method_delay)
        };
        let (me, order) = (self.clone(), order_id.to_string());
        self.rt.spawn(async move {
            if !direct {
                me.rt.sleep_ms(delay).await;
                me.transition(&order, TransactionStatus::Pending, None);
            }
            me.rt.sleep_ms(expiry.saturating_sub(delay)).await;
            if me.status(&order) == Some(TransactionStatus::Pending) {
                me.transition(&order, TransactionStatus::Expire, None);
            }
        });
        transaction_id
    }

    fn status(&self, order_id: &str) -> Option<TransactionStatus> {
        lock(&self.state).book.current(order_id).and_then(|s| s.status)
    }

    /// Whether the customer can pay now: a method is chosen, the transaction is still pending,
    /// and the run is in its safety phase.
    pub fn payable(&self, order_id: &str) -> bool {
        self.rt.phase() == Phase::Safety && self.status(order_id) == Some(TransactionStatus::Pending)
    }

    /// The customer pays. Returns false when the transaction cannot be paid now (no method
    /// chosen yet, expired, already paid) or the run is past its safety phase.
    pub fn pay(&self, order_id: &str) -> bool {
        if !self.payable(order_id) {
            return false;
        }
        let Some(payment_type) = lock(&self.state).book.get(order_id).map(|r| r.meta.payment_type) else {
            return false;
        };
        if payment_type.is_card() {
            let challenged = self.rt.chance(self.cfg.fraud_challenge.ppm());
            if challenged {
                self.transition(order_id, TransactionStatus::Capture, Some(FraudStatus::Challenge));
                let (review, deny) =
                    self.rt.choose(|o| (self.cfg.challenge_review.draw(o), o.chance(self.cfg.challenge_deny.ppm())));
                let (me, order) = (self.clone(), order_id.to_string());
                self.rt.spawn(async move {
                    me.rt.sleep_ms(review).await;
                    if me.rt.phase() != Phase::Safety {
                        return;
                    }
                    if deny {
                        me.transition(&order, TransactionStatus::Deny, Some(FraudStatus::Deny));
                    } else {
                        me.transition(&order, TransactionStatus::Capture, Some(FraudStatus::Accept));
                        me.settle_card_later(&order);
                    }
                });
            } else {
                self.transition(order_id, TransactionStatus::Capture, Some(FraudStatus::Accept));
                self.settle_card_later(order_id);
            }
            return true;
        }
        self.transition(order_id, TransactionStatus::Settlement, None);
        if payment_type.can_reverse_settlement() && self.rt.chance(self.cfg.reversal.ppm()) {
            let after = self.rt.draw(&self.cfg.reversal_after);
            let (me, order) = (self.clone(), order_id.to_string());
            self.rt.spawn(async move {
                me.rt.sleep_ms(after).await;
                if me.rt.phase() == Phase::Safety && me.status(&order) == Some(TransactionStatus::Settlement) {
                    me.rt.mark("provider:settlement-reversed");
                    me.transition(&order, TransactionStatus::Deny, None);
                }
            });
        }
        // Drawn only when refunds are on, so that scenarios without them keep their choices.
        if !self.cfg.refund.is_zero() && self.rt.chance(self.cfg.refund.ppm()) {
            let after = self.rt.draw(&self.cfg.refund_after);
            let (me, order) = (self.clone(), order_id.to_string());
            self.rt.spawn(async move {
                me.rt.sleep_ms(after).await;
                if me.rt.phase() == Phase::Safety && me.status(&order) == Some(TransactionStatus::Settlement) {
                    me.rt.mark("provider:refunded");
                    me.transition(&order, TransactionStatus::Refund, None);
                }
            });
        }
        true
    }

    fn settle_card_later(&self, order_id: &str) {
        let (me, order) = (self.clone(), order_id.to_string());
        let after = self.cfg.card_settle_after.0;
        self.rt.spawn(async move {
            me.rt.sleep_ms(after).await;
            me.transition(&order, TransactionStatus::Settlement, Some(FraudStatus::Accept));
        });
    }

    /// Applies a status change if the status machine allows it, then notifies.
    fn transition(&self, order_id: &str, next: TransactionStatus, fraud: Option<FraudStatus>) {
        let now = self.rt.now_ms();
        let epoch_ms = self.epoch_ms();
        let note = {
            let mut st = lock(&self.state);
            let changed = st.book.update(order_id, now, |_, cur| {
                let legal = match cur.status {
                    None => next == TransactionStatus::Pending,
                    Some(c) if c == next => c == TransactionStatus::Capture && cur.fraud != fraud,
                    // A challenged capture that the fraud review rejects becomes `deny`.
                    Some(TransactionStatus::Capture) if next == TransactionStatus::Deny => {
                        cur.fraud == Some(FraudStatus::Challenge)
                    }
                    Some(c) => c.can_transition_to(next),
                };
                debug_assert!(legal, "provider model made an illegal transition {:?} → {next:?}", cur.status);
                let settlement_ms = if next == TransactionStatus::Settlement { Some(now) } else { cur.settlement_ms };
                legal.then_some(TxnState { status: Some(next), fraud, settlement_ms })
            });
            if changed.is_none() {
                return;
            }
            st.body_of(order_id, |r| *r.current(), &self.cfg, epoch_ms)
        };
        self.rt.state(|| {
            let f = fraud.map(|f| format!(" (fraud_status {})", f.as_str())).unwrap_or_default();
            format!("{order_id}: {}{f}", next.as_str())
        });
        if let Some(body) = note {
            self.notify(order_id, body, next);
        }
    }

    /// Sends a notification with the retry schedule, possibly twice.
    fn notify(&self, order_id: &str, body: String, status: TransactionStatus) {
        let delays =
            if status == TransactionStatus::Expire { &self.cfg.expire_notify_delay } else { &self.cfg.notify_delay };
        let recording = self.rt.recording();
        let text = |f: &dyn Fn() -> String| if recording { f() } else { String::new() };
        let delivery = Delivery {
            to: self.cfg.notify_actor.clone(),
            path: self.cfg.notify_path.clone(),
            body: body.into(),
            label: text(&|| format!("POST {} {order_id} {}", self.cfg.notify_path, status.as_str())),
            subject: text(&|| format!("{order_id}: {}", status.as_str())),
            noun: "notification",
            sign: None,
            on_finish: None,
        };
        self.sender.dispatch(delivery, delays, self.cfg.duplicate_notification, || {
            format!("{order_id}: provider will send {} twice", status.as_str())
        });
    }

    /// The status API, to be served by the transport (the simulation serves it as `provider`).
    pub fn router(&self) -> Router {
        Router::new().route("/v2/{order_id}/status", get(status_api)).with_state(self.clone())
    }

    /// Whether `headers` carry the server key as its APIs expect it (basic auth, the key as
    /// user): the status API's check, and the hosted Snap and Core API's.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("") == &*self.auth
    }

    /// The `Authorization` header value the status API expects.
    pub fn basic_auth(server_key: &str) -> String {
        // Built without `format!`: both sides of every status API call compute it.
        let mut user = String::with_capacity(server_key.len() + 1);
        user.push_str(server_key);
        user.push(':');
        let mut out = String::with_capacity(6 + user.len().div_ceil(3) * 4);
        out.push_str("Basic ");
        base64::engine::general_purpose::STANDARD.encode_string(user, &mut out);
        out
    }
}

fn error_body(code: StatusCode, message: &str) -> (StatusCode, String) {
    let body = serde_json::json!({"status_code": code.as_u16().to_string(), "status_message": message});
    (code, body.to_string())
}

/// `GET /v2/{order_id}/status`: basic auth with the server key as user; 404 until a payment
/// method is chosen; otherwise the current status in the notification's shape (or, on a stale
/// read, the status of a while ago).
async fn status_api(
    AxState(m): AxState<Midtrans>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    if !m.authorized(&headers) {
        return error_body(
            StatusCode::UNAUTHORIZED,
            "Access denied due to unauthorized transaction, please check client or server key",
        );
    }
    let api = &m.cfg.api;
    if !api.is_off() {
        match api.draw(&m.rt, &order_id) {
            Some(ApiFault::ServerError(code)) => {
                let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return error_body(code, "Sorry. Our system is recovering from unexpected issues. Please retry.");
            }
            Some(ApiFault::RateLimited) => {
                return error_body(StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please retry later.");
            }
            Some(ApiFault::BlackHole { hold_ms }) => {
                m.rt.sleep_ms(hold_ms).await;
                return error_body(StatusCode::GATEWAY_TIMEOUT, "Gateway timeout.");
            }
            None => {}
        }
    }
    let lag_ms = if api.is_off() { 0 } else { api.stale_lag_ms(&m.rt, &order_id) };
    let as_of_ms = m.rt.now_ms().saturating_sub(lag_ms);
    let epoch_ms = m.epoch_ms();
    let body = lock(&m.state).body_of(&order_id, |r| *r.as_of(as_of_ms), &m.cfg, epoch_ms);
    match body {
        Some(body) => (StatusCode::OK, body),
        None => {
            // Snap: a charge whose customer has not chosen a method yet (not an unknown order).
            if lock(&m.state).book.get(&order_id).is_some() {
                m.rt.mark("provider:status-404");
            }
            error_body(StatusCode::NOT_FOUND, "Transaction doesn't exist.")
        }
    }
}
