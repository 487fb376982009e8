//! The merchant's side of the simulated Stripe, which the API calls: create a Checkout Session
//! (and schedule its expiry), expire one, cancel a PaymentIntent, refund. Each change records a
//! trace line and emits its events.
//!
//! What it does not do: parse requests or shape answers (see [`super::api`]).

use std::collections::BTreeMap;

use super::model::{IntentState, NewSession, SessionMeta, SessionState, Stripe};
use super::objects::{self, ApiError, RefundRecord, object_id, short};
use super::status::{EventType, IntentStatus, PaymentStatus, SessionStatus, session_can_transition};
use crate::sim::Millis;
use crate::sim::world::lock;

impl Stripe {
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

    pub(super) fn session_status(&self, id: &str) -> Option<SessionStatus> {
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

    pub(super) fn expire_session(&self, id: &str, why: &str) {
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
    pub(super) fn set_session(
        &self,
        id: &str,
        status: SessionStatus,
        paid: Option<PaymentStatus>,
    ) -> Option<Option<String>> {
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
}
