//! The simulated Paystack's state and behaviour: transactions as ground truth (a [`Book`] with
//! full histories), the merchant's side (initialize, refund), the customer's side as Rust
//! methods (pay by a channel, abandon), a chargeback, and the webhooks Paystack sends.
//!
//! - `initialize` makes a transaction with a reference (the merchant's, or one Paystack makes),
//!   an access code and an authorization URL; until the customer completes it, `verify` says
//!   `abandoned`. A reference is unique: a second `initialize` with it is refused.
//! - A card payment succeeds or fails at once (`payment_fail`); a bank transfer, USSD or mobile
//!   money payment waits in `pending` / `queued` / `processing` for `async_delay`, then succeeds
//!   or fails. A failed or abandoned payment sends nothing: the app must poll `verify`.
//! - A success sends `charge.success`; a refund or chargeback of a success makes it `reversed`
//!   and sends `refund.processed`. Bodies are `{event, data}` with no event id; each is signed
//!   with `x-paystack-signature` (hex HMAC-SHA512 of the raw body, keyed with the secret key),
//!   delivered after its own seeded delay (so in no order), sometimes twice, and retried on the
//!   published schedule ([`PaystackConfig::schedule`]). With `vary_raw_body` the raw JSON's key
//!   order and spacing vary per webhook, so a handler that checks the HMAC over re-serialised
//!   JSON fails on some of them.
//!
//! Customer payments happen only in the safety phase; results already due (a transfer arriving)
//! happen when due, in either phase.
//!
//! What it does not model: transfers to merchants (payouts), subscriptions, split payments,
//! disputes' own lifecycle, or the hosted page.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use bytes::Bytes;
use serde_json::{Value, json};

use super::config::PaystackConfig;
use super::status::{Channel, EventType, TransactionStatus, is_paid};
use crate::providers::kit::book::{Book, Record};
use crate::providers::kit::sign::hmac_sha512_hex;
pub use crate::providers::kit::webhook::DeliveryState;
use crate::providers::kit::webhook::{Delivery, OnFinish, Signer};
use crate::providers::kit::{Rt, WebhookSender};
use crate::sim::calendar::format_instant;
use crate::sim::world::lock;
use crate::sim::{Phase, Sim};

/// The provider's actor name in traces and on the network.
pub const ACTOR: &str = "paystack";

/// The header webhooks are signed in.
pub const SIGNATURE_HEADER: &str = "x-paystack-signature";

/// What a transaction is initialized with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewTransaction {
    pub email: String,
    /// In the currency's subunit (kobo); above 0.
    pub amount: i64,
    /// The merchant's reference; `None`: Paystack makes one.
    pub reference: Option<String>,
    pub callback_url: Option<String>,
    /// Any JSON object, returned as given.
    pub metadata: Value,
    /// Channels offered; empty: all.
    pub channels: Vec<Channel>,
}

/// What `initialize` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initialized {
    pub reference: String,
    pub access_code: String,
    pub authorization_url: String,
}

/// Why `initialize` refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    #[error("Duplicate Transaction Reference")]
    DuplicateReference,
    #[error("Invalid Amount Sent")]
    InvalidAmount,
    #[error("Invalid Email Address Passed")]
    InvalidEmail,
}

/// Why the customer could not pay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    #[error("no such transaction: {0}")]
    NoSuchTransaction(String),
    #[error("the transaction is {0}, not payable")]
    NotPayable(&'static str),
    #[error("the channel {0} was not offered")]
    ChannelNotOffered(&'static str),
    #[error("customers pay only in the safety phase")]
    NotNow,
}

/// Why a refund was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefundError {
    #[error("Transaction reference not found")]
    NotFound,
    #[error("Transaction has not been paid")]
    NotPaid,
    #[error("Transaction has been fully reversed")]
    AlreadyReversed,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TxMeta {
    pub(crate) id: u64,
    pub(crate) email: String,
    pub(crate) amount: i64,
    pub(crate) metadata: Value,
    pub(crate) callback_url: Option<String>,
    pub(crate) channels: Vec<Channel>,
    pub(crate) access_code: String,
    pub(crate) created_wall_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TxState {
    pub(crate) status: TransactionStatus,
    pub(crate) channel: Option<Channel>,
    pub(crate) paid_at_wall_ms: Option<u64>,
    pub(crate) gateway_response: &'static str,
}

/// One webhook, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    pub event: EventType,
    pub reference: String,
    pub created_ms: u64,
    /// The exact bytes sent (and signed).
    pub body: Bytes,
    pub delivery: DeliveryState,
}

pub(crate) struct State {
    pub(crate) txs: Book<TxMeta, TxState>,
    pub(crate) by_id: BTreeMap<u64, String>,
    pub(crate) webhooks: Vec<WebhookRecord>,
    counters: BTreeMap<&'static str, u64>,
}

impl State {
    pub(crate) fn next(&mut self, kind: &'static str) -> u64 {
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        *n
    }
}

/// A transaction's ground truth: what Paystack says about it now and ever.
#[derive(Clone, Debug, PartialEq)]
pub struct TxTruth {
    pub reference: String,
    pub id: u64,
    pub status: TransactionStatus,
    pub amount: i64,
    pub channel: Option<Channel>,
    pub metadata: Value,
    pub created_ms: u64,
    /// Every status with the simulated time it began.
    pub history: Vec<(u64, TransactionStatus)>,
}

impl TxTruth {
    /// Paid now: `success` (a reversal gave the money back).
    pub fn paid_now(&self) -> bool {
        is_paid(self.status)
    }

    pub fn ever_succeeded(&self) -> bool {
        self.history.iter().any(|(_, s)| *s == TransactionStatus::Success)
    }
}

/// What a payment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayOutcome {
    Succeeded,
    Failed,
    /// Waiting in a status; the result comes after this long.
    Waiting {
        status: TransactionStatus,
        result_after_ms: u64,
        succeeds: bool,
    },
}

/// The simulated Paystack. Cheap to clone.
#[derive(Clone)]
pub struct Paystack {
    pub(crate) rt: Rt,
    pub(crate) cfg: Arc<PaystackConfig>,
    pub(crate) state: Arc<Mutex<State>>,
    sender: WebhookSender,
}

impl Paystack {
    /// Creates Paystack in the simulated world and serves its API as the `paystack` actor.
    pub fn start(sim: &Sim, cfg: PaystackConfig) -> Paystack {
        let p = Paystack::new(Rt::sim(sim, ACTOR), cfg);
        sim.serve(ACTOR, p.router());
        p
    }

    /// Creates Paystack on any runtime; serve [`Paystack::router`] on its transport.
    pub fn new(rt: Rt, cfg: PaystackConfig) -> Paystack {
        let sender = WebhookSender::new(rt.clone(), cfg.schedule(), "paystack:webhook-abandoned");
        let state =
            State { txs: Book::default(), by_id: BTreeMap::new(), webhooks: Vec::new(), counters: BTreeMap::new() };
        Paystack { rt, cfg: Arc::new(cfg), state: Arc::new(Mutex::new(state)), sender }
    }

    pub fn config(&self) -> &PaystackConfig {
        &self.cfg
    }

    /// The API, to be served by the transport (the simulation serves it as `paystack`).
    pub fn router(&self) -> Router {
        super::api::router(self.clone())
    }

    // ---- ground truth ----

    pub fn transaction(&self, reference: &str) -> Option<TxTruth> {
        lock(&self.state).txs.get(reference).map(|r| truth(reference, r))
    }

    /// Every transaction, by reference.
    pub fn transactions(&self) -> Vec<TxTruth> {
        lock(&self.state).txs.iter().map(|(id, r)| truth(id, r)).collect()
    }

    /// Every webhook sent, oldest first.
    pub fn webhooks(&self) -> Vec<WebhookRecord> {
        lock(&self.state).webhooks.clone()
    }

    // ---- the merchant's side ----

    /// `POST /transaction/initialize`.
    pub fn initialize(&self, t: NewTransaction) -> Result<Initialized, InitError> {
        if t.amount <= 0 {
            return Err(InitError::InvalidAmount);
        }
        if !t.email.contains('@') {
            return Err(InitError::InvalidEmail);
        }
        let now_ms = self.rt.now_ms();
        let wall_ms = self.rt.wall_ms();
        let (reference, access_code) = {
            let mut st = lock(&self.state);
            let n = st.next("transaction");
            let reference = match t.reference {
                Some(r) => r,
                None => format!("T{}", keyed(n, 12)),
            };
            if st.txs.get(&reference).is_some() {
                return Err(InitError::DuplicateReference);
            }
            let id = 4_000_000_000 + n * 7;
            let access_code = keyed(n ^ 0x5eed, 15);
            let meta = TxMeta {
                id,
                email: t.email,
                amount: t.amount,
                metadata: t.metadata,
                callback_url: t.callback_url,
                channels: t.channels,
                access_code: access_code.clone(),
                created_wall_ms: wall_ms,
            };
            let state = TxState {
                status: TransactionStatus::Abandoned,
                channel: None,
                paid_at_wall_ms: None,
                gateway_response: "The transaction was not completed",
            };
            st.txs.insert(&reference, meta, now_ms, state);
            st.by_id.insert(id, reference.clone());
            (reference, access_code)
        };
        self.rt.state(|| format!("{reference}: initialized"));
        Ok(Initialized {
            authorization_url: format!("https://checkout.paystack.com/{access_code}"),
            reference,
            access_code,
        })
    }

    /// `POST /refund`: a success becomes `reversed` and `refund.processed` is sent.
    pub fn refund(&self, reference: &str) -> Result<(), RefundError> {
        let status = lock(&self.state).txs.current(reference).map(|s| s.status).ok_or(RefundError::NotFound)?;
        match status {
            TransactionStatus::Success => {}
            TransactionStatus::Reversed => return Err(RefundError::AlreadyReversed),
            _ => return Err(RefundError::NotPaid),
        }
        self.reverse(reference, "Refunded");
        Ok(())
    }

    /// A chargeback: the customer's bank takes a success back (the load calls it). Returns
    /// whether the transaction was a success.
    pub fn charge_back(&self, reference: &str) -> bool {
        let ok = self.reverse(reference, "Chargeback");
        if ok {
            self.rt.mark("paystack:chargeback");
        }
        ok
    }

    fn reverse(&self, reference: &str, why: &'static str) -> bool {
        let changed = self.set_status(reference, TransactionStatus::Reversed, |s, _| s.gateway_response = why);
        if changed {
            self.rt.mark("paystack:reversed");
            self.emit(EventType::RefundProcessed, reference);
        }
        changed
    }

    // ---- the customer's side ----

    fn payable(&self, reference: &str, channel: Channel) -> Result<(), PayError> {
        if self.rt.phase() != Phase::Safety {
            return Err(PayError::NotNow);
        }
        let st = lock(&self.state);
        let r = st.txs.get(reference).ok_or_else(|| PayError::NoSuchTransaction(reference.to_string()))?;
        let status = r.current().status;
        if !matches!(status, TransactionStatus::Abandoned | TransactionStatus::Ongoing) {
            return Err(PayError::NotPayable(status.as_str()));
        }
        if !r.meta.channels.is_empty() && !r.meta.channels.contains(&channel) {
            return Err(PayError::ChannelNotOffered(channel.as_str()));
        }
        Ok(())
    }

    /// The customer pays by `channel`: a card succeeds or fails at once; other channels wait
    /// for `async_delay`. Failure at `payment_fail`.
    pub fn pay(&self, reference: &str, channel: Channel) -> Result<PayOutcome, PayError> {
        self.payable(reference, channel)?;
        let (fails, after_ms) = self.rt.choose(|o| {
            let fails = o.chance(self.cfg.payment_fail.ppm());
            let after = if channel.waits_in().is_some() { self.cfg.async_delay.draw(o) } else { 0 };
            (fails, after)
        });
        self.pay_with(reference, channel, !fails, after_ms)
    }

    /// [`Paystack::pay`] with its result and delay given (for harnesses and tests).
    pub fn pay_with(
        &self,
        reference: &str,
        channel: Channel,
        succeeds: bool,
        after_ms: u64,
    ) -> Result<PayOutcome, PayError> {
        self.payable(reference, channel)?;
        self.rt.state(|| format!("{reference}: customer pays by {}", channel.as_str()));
        self.set_status(reference, TransactionStatus::Ongoing, |s, _| {
            s.channel = Some(channel);
            s.gateway_response = "Ongoing";
        });
        let Some(waiting) = channel.waits_in() else {
            self.finish(reference, succeeds);
            return Ok(if succeeds { PayOutcome::Succeeded } else { PayOutcome::Failed });
        };
        self.rt.mark("paystack:async-payment");
        self.set_status(reference, waiting, |s, _| s.gateway_response = "Pending");
        let (me, r) = (self.clone(), reference.to_string());
        self.rt.spawn(async move {
            me.rt.sleep_ms(after_ms).await;
            me.finish(&r, succeeds);
        });
        Ok(PayOutcome::Waiting { status: waiting, result_after_ms: after_ms, succeeds })
    }

    /// The customer closes the page: nothing changes at Paystack (still `abandoned` or
    /// `ongoing`), and no webhook is sent. Returns whether it was payable.
    pub fn abandon(&self, reference: &str) -> bool {
        let open = matches!(
            lock(&self.state).txs.current(reference).map(|s| s.status),
            Some(TransactionStatus::Abandoned | TransactionStatus::Ongoing)
        );
        if open {
            self.rt.mark("paystack:abandoned");
            self.rt.state(|| format!("{reference}: customer leaves the payment page"));
        }
        open
    }

    fn finish(&self, reference: &str, succeeds: bool) {
        if succeeds {
            let changed = self.set_status(reference, TransactionStatus::Success, |s, wall_ms| {
                s.paid_at_wall_ms = Some(wall_ms);
                s.gateway_response = "Successful";
            });
            if changed {
                self.emit(EventType::ChargeSuccess, reference);
            }
        } else {
            self.rt.mark("paystack:payment-failed");
            self.set_status(reference, TransactionStatus::Failed, |s, _| s.gateway_response = "Declined");
        }
    }

    /// Moves a transaction to `status` if its machine allows, applies `edit` (with the wall
    /// clock in epoch ms), records.
    fn set_status(&self, reference: &str, status: TransactionStatus, edit: impl FnOnce(&mut TxState, u64)) -> bool {
        let now_ms = self.rt.now_ms();
        let wall_ms = self.rt.wall_ms();
        let changed = lock(&self.state)
            .txs
            .update(reference, now_ms, |_, cur| {
                cur.status.can_transition_to(status).then(|| {
                    let mut next = TxState { status, ..cur.clone() };
                    edit(&mut next, wall_ms);
                    next
                })
            })
            .is_some();
        if changed {
            self.rt.state(|| format!("{reference}: {}", status.as_str()));
        }
        changed
    }

    // ---- JSON ----

    /// The transaction as `verify` shows it (`data`), now or as of simulated time `as_of_ms`,
    /// as ordered fields (Paystack's own order).
    pub(crate) fn tx_fields(&self, reference: &str, as_of_ms: Option<u64>) -> Option<Vec<(&'static str, Value)>> {
        let st = lock(&self.state);
        let r = st.txs.get(reference)?;
        let s = as_of_ms.map_or_else(|| r.current(), |t| r.as_of(t));
        let m = &r.meta;
        let ts = |ms: u64| Value::String(format_instant(i64::try_from(ms).unwrap_or(i64::MAX)));
        Some(vec![
            ("id", json!(m.id)),
            ("domain", json!(if self.cfg.livemode { "live" } else { "test" })),
            ("status", json!(s.status.as_str())),
            ("reference", json!(reference)),
            ("amount", json!(m.amount)),
            ("message", Value::Null),
            ("gateway_response", json!(s.gateway_response)),
            ("paid_at", s.paid_at_wall_ms.map_or(Value::Null, ts)),
            ("created_at", ts(m.created_wall_ms)),
            ("channel", s.channel.map_or(Value::Null, |c| json!(c.as_str()))),
            ("currency", json!(self.cfg.currency)),
            ("metadata", m.metadata.clone()),
            ("fees", if is_paid(s.status) { json!(m.amount * 15 / 1000) } else { Value::Null }),
            ("customer", json!({ "email": m.email })),
            ("requested_amount", json!(m.amount)),
        ])
    }

    /// Records a webhook and sends it.
    fn emit(&self, event: EventType, reference: &str) {
        let Some(mut data) = self.tx_fields(reference, None) else { return };
        if event == EventType::RefundProcessed {
            data = vec![
                ("transaction_reference", json!(reference)),
                ("status", json!("processed")),
                ("amount", data.iter().find(|(k, _)| *k == "amount").map_or(Value::Null, |(_, v)| v.clone())),
                ("currency", json!(self.cfg.currency)),
            ];
        }
        let style = if self.cfg.vary_raw_body { self.rt.choose(|o| o.below(3)) } else { 0 };
        let body = Bytes::from(raw_event(event.as_str(), &data, style));
        let now_ms = self.rt.now_ms();
        let index = {
            let mut st = lock(&self.state);
            st.webhooks.push(WebhookRecord {
                event,
                reference: reference.to_string(),
                created_ms: now_ms,
                body: body.clone(),
                delivery: DeliveryState::Pending,
            });
            st.webhooks.len() - 1
        };
        let secret = self.cfg.secret_key.clone();
        let sign: Signer = Arc::new(move |_wall_ms, body| {
            vec![(SIGNATURE_HEADER.to_string(), hmac_sha512_hex(secret.as_bytes(), body))]
        });
        let state = self.state.clone();
        let on_finish: OnFinish = Arc::new(move |delivered| {
            lock(&state).webhooks[index].delivery.finish(delivered);
        });
        let recording = self.rt.recording();
        let delivery = Delivery {
            to: self.cfg.webhook_actor.clone(),
            path: self.cfg.webhook_path.clone(),
            body,
            label: if recording {
                format!("POST {} {reference} {}", self.cfg.webhook_path, event.as_str())
            } else {
                String::new()
            },
            subject: if recording { format!("{reference} {}", event.as_str()) } else { String::new() },
            noun: "webhook",
            sign: Some(sign),
            on_finish: Some(on_finish),
        };
        self.sender.dispatch(delivery, &self.cfg.webhook_delay, self.cfg.duplicate_webhook, || {
            format!("{reference} {}: Paystack will deliver it twice", event.as_str())
        });
    }
}

/// `{"event": …, "data": {…}}` as raw bytes in one of three styles: 0 Paystack's field order,
/// compact; 1 keys sorted, compact (what re-serialising with `serde_json` gives); 2 Paystack's
/// order with spaces after `:` and `,`. All three are the same JSON value.
pub fn raw_event(event: &str, data: &[(&'static str, Value)], style: u64) -> Vec<u8> {
    let mut fields: Vec<&(&str, Value)> = data.iter().collect();
    if style == 1 {
        fields.sort_by_key(|(k, _)| *k);
    }
    let (colon, comma) = if style == 2 { (": ", ", ") } else { (":", ",") };
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{}{colon}{v}", Value::from(*k))).collect();
    let data = format!("{{{}}}", inner.join(comma));
    let event = Value::from(event);
    let text = if style == 1 {
        format!("{{\"data\":{data},\"event\":{event}}}")
    } else {
        format!("{{\"event\"{colon}{event}{comma}\"data\"{colon}{data}}}")
    };
    text.into_bytes()
}

/// A short id derived from a counter by a keyed hash: looks random, is deterministic.
fn keyed(n: u64, len: usize) -> String {
    let h = crate::providers::kit::sign::sha512_hex(&["paystack", &n.to_string()]);
    h[..len.min(h.len())].to_string()
}

fn truth(reference: &str, r: &Record<TxMeta, TxState>) -> TxTruth {
    let s = r.current();
    let mut history: Vec<(u64, TransactionStatus)> = Vec::new();
    for (t, st) in r.history() {
        if history.last().is_none_or(|(_, last)| *last != st.status) {
            history.push((*t, st.status));
        }
    }
    TxTruth {
        reference: reference.to_string(),
        id: r.meta.id,
        status: s.status,
        amount: r.meta.amount,
        channel: s.channel,
        metadata: r.meta.metadata.clone(),
        created_ms: r.created_ms,
        history,
    }
}
