//! The simulated Midtrans: an actor holding the ground truth of every transaction, sending
//! notifications with Midtrans's real retry schedule, and serving the status API.
//!
//! - Charges start in Snap's "no payment method chosen" state: the status API answers 404 until
//!   the customer picks a method (a seeded delay), then the transaction is `pending` and a
//!   `pending` notification is sent.
//! - Paying moves it to `settlement` (bank transfer, e-wallets) or to `capture` with a
//!   `fraud_status` (cards): `accept`, or `challenge` resolved later to `accept` or `deny`.
//!   Card captures settle a day later by default. Bank transfers can, rarely, reverse
//!   `settlement` → `deny` a few minutes later.
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
//! What it does not model: refunds and chargebacks (no load creates them yet), the charge API's
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
use super::retry::{DeliveryOutcome, RetryPolicy};
use super::status::{FraudStatus, PaymentType, TransactionStatus, is_paid};
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, NetError, Phase, Range, Rate, Request, Sim};

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
    /// Overrides every method's default expiry when set.
    pub expiry: Option<Millis>,
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
            expiry: None,
        }
    }
}

/// One transaction's ground truth.
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

    /// Ended without payment: expired, cancelled, denied or failed.
    pub fn failed_now(&self) -> bool {
        matches!(
            self.status,
            Some(
                TransactionStatus::Expire
                    | TransactionStatus::Cancel
                    | TransactionStatus::Deny
                    | TransactionStatus::Failure
            )
        )
    }

    /// The notification for the current status. It carries the times it describes (creation,
    /// settlement), not the time it is sent or resent.
    fn notification(&self, cfg: &ProviderConfig, epoch_ms: u64) -> Option<Notification> {
        let status = self.status?;
        Some(notification::build(notification::NotificationParams {
            order_id: &self.order_id,
            transaction_id: &self.transaction_id,
            status,
            fraud: self.fraud,
            payment_type: self.payment_type,
            gross_amount_minor: self.gross_amount,
            merchant_id: &cfg.merchant_id,
            server_key: &cfg.server_key,
            transaction_time_ms: epoch_ms + self.created_ms,
            settlement_time_ms: self.settlement_ms.map(|t| epoch_ms + t),
        }))
    }
}

#[derive(Default)]
struct State {
    txns: BTreeMap<String, Truth>,
    next_txn: u64,
}

/// The simulated provider. Cheap to clone.
#[derive(Clone)]
pub struct Midtrans {
    sim: Sim,
    cfg: Arc<ProviderConfig>,
    state: Arc<Mutex<State>>,
    policy: Arc<RetryPolicy>,
}

impl Midtrans {
    /// Creates the provider and serves its status API as the `provider` actor.
    pub fn start(sim: &Sim, cfg: ProviderConfig) -> Midtrans {
        let policy = RetryPolicy {
            intervals_ms: cfg.retry_intervals.iter().map(|m| m.0).collect(),
            jitter_ms_max: cfg.retry_jitter_max.0,
            timeout_ms: cfg.timeout.0,
        };
        let m = Midtrans { sim: sim.clone(), cfg: Arc::new(cfg), state: Arc::default(), policy: Arc::new(policy) };
        sim.serve(ACTOR, m.router());
        m
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.cfg
    }

    /// The ground truth of one order.
    pub fn truth(&self, order_id: &str) -> Option<Truth> {
        lock(&self.state).txns.get(order_id).cloned()
    }

    /// Whether an order was ever paid, without cloning its history.
    pub fn ever_paid(&self, order_id: &str) -> bool {
        lock(&self.state).txns.get(order_id).is_some_and(Truth::ever_paid)
    }

    /// Every transaction's ground truth, ordered by order id.
    pub fn truths(&self) -> Vec<Truth> {
        lock(&self.state).txns.values().cloned().collect()
    }

    /// Creates a charge (Snap token) for `order_id`; returns the transaction id. The customer
    /// picks a payment method after a seeded delay.
    pub fn create_charge(&self, order_id: &str, gross_amount: i64, payment_type: PaymentType) -> String {
        let now = self.sim.now_ms();
        let transaction_id = {
            let mut st = lock(&self.state);
            st.next_txn += 1;
            // Deterministic, UUID-shaped, unique per run.
            let id = format!("{:08x}-5e77-4e1d-9000-{:012x}", st.next_txn, st.next_txn * 7919);
            st.txns.insert(
                order_id.to_string(),
                Truth {
                    order_id: order_id.to_string(),
                    transaction_id: id.clone(),
                    payment_type,
                    gross_amount,
                    status: None,
                    fraud: None,
                    history: Vec::new(),
                    created_ms: now,
                    settlement_ms: None,
                },
            );
            id
        };
        self.sim.record(Kind::State, ACTOR, None, || {
            format!(
                "{order_id}: charge created ({}, {})",
                payment_type.as_str(),
                notification::format_gross_amount(gross_amount)
            )
        });
        let delay = self.sim.draw(&self.cfg.choose_method_delay);
        let expiry = self.cfg.expiry.map_or_else(|| payment_type.default_expiry_ms(), |m| m.0);
        let (me, order) = (self.clone(), order_id.to_string());
        self.sim.spawn(ACTOR, async move {
            me.sim.sleep_ms(delay).await;
            me.transition(&order, TransactionStatus::Pending, None);
            me.sim.sleep_ms(expiry.saturating_sub(delay)).await;
            let pending = me.truth(&order).is_some_and(|t| t.status == Some(TransactionStatus::Pending));
            if pending {
                me.transition(&order, TransactionStatus::Expire, None);
            }
        });
        transaction_id
    }

    /// Whether the customer can pay now: a method is chosen, the transaction is still pending,
    /// and the run is in its safety phase.
    pub fn payable(&self, order_id: &str) -> bool {
        self.sim.phase() == Phase::Safety
            && lock(&self.state).txns.get(order_id).is_some_and(|t| t.status == Some(TransactionStatus::Pending))
    }

    /// The customer pays. Returns false when the transaction cannot be paid now (no method
    /// chosen yet, expired, already paid) or the run is past its safety phase.
    pub fn pay(&self, order_id: &str) -> bool {
        if !self.payable(order_id) {
            return false;
        }
        let Some(t) = self.truth(order_id) else { return false };
        if t.payment_type.is_card() {
            let challenged = self.sim.chance(self.cfg.fraud_challenge.ppm());
            if challenged {
                self.transition(order_id, TransactionStatus::Capture, Some(FraudStatus::Challenge));
                let (review, deny) =
                    self.sim.choose(|o| (self.cfg.challenge_review.draw(o), o.chance(self.cfg.challenge_deny.ppm())));
                let (me, order) = (self.clone(), order_id.to_string());
                self.sim.spawn(ACTOR, async move {
                    me.sim.sleep_ms(review).await;
                    if me.sim.phase() != Phase::Safety {
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
        if t.payment_type.can_reverse_settlement() && self.sim.chance(self.cfg.reversal.ppm()) {
            let after = self.sim.draw(&self.cfg.reversal_after);
            let (me, order) = (self.clone(), order_id.to_string());
            self.sim.spawn(ACTOR, async move {
                me.sim.sleep_ms(after).await;
                if me.sim.phase() == Phase::Safety {
                    me.sim.mark("provider:settlement-reversed");
                    me.transition(&order, TransactionStatus::Deny, None);
                }
            });
        }
        true
    }

    fn settle_card_later(&self, order_id: &str) {
        let (me, order) = (self.clone(), order_id.to_string());
        let after = self.cfg.card_settle_after.0;
        self.sim.spawn(ACTOR, async move {
            me.sim.sleep_ms(after).await;
            me.transition(&order, TransactionStatus::Settlement, Some(FraudStatus::Accept));
        });
    }

    /// Applies a status change if the status machine allows it, then notifies.
    fn transition(&self, order_id: &str, next: TransactionStatus, fraud: Option<FraudStatus>) {
        let now = self.sim.now_ms();
        let note = {
            let mut st = lock(&self.state);
            let Some(t) = st.txns.get_mut(order_id) else { return };
            let legal = match t.status {
                None => next == TransactionStatus::Pending,
                Some(cur) if cur == next => cur == TransactionStatus::Capture && t.fraud != fraud,
                // A challenged capture that the fraud review rejects becomes `deny`.
                Some(TransactionStatus::Capture) if next == TransactionStatus::Deny => {
                    t.fraud == Some(FraudStatus::Challenge)
                }
                Some(cur) => cur.can_transition_to(next),
            };
            debug_assert!(legal, "provider model made an illegal transition {:?} → {next:?}", t.status);
            if !legal {
                return;
            }
            t.status = Some(next);
            t.fraud = fraud;
            if next == TransactionStatus::Settlement {
                t.settlement_ms = Some(now);
            }
            t.history.push((now, next, fraud));
            t.notification(&self.cfg, self.sim.config().epoch_ms)
        };
        self.sim.record(Kind::State, ACTOR, None, || {
            let f = fraud.map(|f| format!(" (fraud_status {})", f.as_str())).unwrap_or_default();
            format!("{order_id}: {}{f}", next.as_str())
        });
        if let Some(n) = note {
            self.notify(n, next);
        }
    }

    /// Sends a notification with the retry schedule, possibly twice.
    fn notify(&self, n: Notification, status: TransactionStatus) {
        let delays =
            if status == TransactionStatus::Expire { &self.cfg.expire_notify_delay } else { &self.cfg.notify_delay };
        let (first, dup) = self.sim.choose(|o| {
            let first = delays.draw(o);
            let dup = if self.sim.faults_active() && o.chance(self.cfg.duplicate_notification.ppm()) {
                Some(delays.draw(o))
            } else {
                None
            };
            (first, dup)
        });
        let body: bytes::Bytes = serde_json::to_vec(&n).unwrap_or_default().into();
        self.spawn_sender(n.order_id.clone(), status, body.clone(), first);
        if let Some(d) = dup {
            self.sim.fault("fault:provider-duplicate", ACTOR, None, || {
                format!("{}: provider will send {} twice", n.order_id, status.as_str())
            });
            self.spawn_sender(n.order_id.clone(), status, body, first + d);
        }
    }

    fn spawn_sender(&self, order_id: String, status: TransactionStatus, body: bytes::Bytes, delay: u64) {
        let me = self.clone();
        self.sim.spawn(ACTOR, async move {
            me.sim.sleep_ms(delay).await;
            let mut retries_done = 0u32;
            loop {
                let label = if me.sim.recording() {
                    format!("POST {} {order_id} {}", me.cfg.notify_path, status.as_str())
                } else {
                    String::new()
                };
                let req = Request::new(http::Method::POST, me.cfg.notify_path.clone()).json(body.clone()).label(label);
                let outcome = match me.sim.request(ACTOR, &me.cfg.notify_actor, req, me.policy.timeout_ms).await {
                    Ok(resp) => DeliveryOutcome::Status(resp.status),
                    Err(NetError::Timeout) => DeliveryOutcome::Timeout,
                    Err(NetError::Refused) => DeliveryOutcome::ConnectionRefused,
                };
                let jitter = me.sim.choose(|o| o.below(me.policy.jitter_ms_max + 1));
                match me.policy.next_delay_ms(outcome, retries_done, jitter) {
                    Some(wait) => {
                        retries_done += 1;
                        me.sim.record(Kind::State, ACTOR, None, || {
                            format!(
                                "{order_id}: {} notification: {outcome:?}, retry #{retries_done} in {}",
                                status.as_str(),
                                Millis(wait)
                            )
                        });
                        me.sim.sleep_ms(wait).await;
                    }
                    None => {
                        if !super::retry::is_success(outcome) {
                            me.sim.mark("provider:notification-abandoned");
                            me.sim.record(Kind::State, ACTOR, None, || {
                                format!(
                                    "{order_id}: {} notification: {outcome:?}, giving up after {retries_done} retries",
                                    status.as_str()
                                )
                            });
                        }
                        return;
                    }
                }
            }
        });
    }

    fn router(&self) -> Router {
        Router::new().route("/v2/{order_id}/status", get(status_api)).with_state(self.clone())
    }

    /// The `Authorization` header value the status API expects.
    pub fn basic_auth(server_key: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{server_key}:")))
    }
}

/// `GET /v2/{order_id}/status`: basic auth with the server key as user; 404 until a payment
/// method is chosen; otherwise the current status in the notification's shape.
async fn status_api(
    AxState(m): AxState<Midtrans>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let expected = Midtrans::basic_auth(&m.cfg.server_key);
    let given = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if given != expected {
        let body = serde_json::json!({"status_code": "401", "status_message": "Access denied due to unauthorized transaction, please check client or server key"});
        return (StatusCode::UNAUTHORIZED, body.to_string());
    }
    let note = lock(&m.state).txns.get(&order_id).and_then(|t| t.notification(&m.cfg, m.sim.config().epoch_ms));
    match note {
        Some(n) => (StatusCode::OK, serde_json::to_string(&n).unwrap_or_default()),
        None => {
            let body = serde_json::json!({"status_code": "404", "status_message": "Transaction doesn't exist."});
            (StatusCode::NOT_FOUND, body.to_string())
        }
    }
}
