//! The customer's side of the simulated Stripe, as Rust methods for the simulation's actors:
//! pay by card (declines and 3-D Secure drawn from the config), pay by an async method that
//! settles or fails later, abandon the page; and the status changes a payment makes.
//!
//! What it does not do: the hosted page's HTML, wallets, or saved cards.

use super::model::{CardOutcome, IntentMeta, IntentState, PayError, SessionState, Stripe};
use super::objects::{PaymentError, object_id, short};
use super::status::{EventType, IntentStatus, PaymentStatus, SessionStatus};
use crate::sim::world::lock;
use crate::sim::{Millis, Phase};

impl Stripe {
    // ---- the customer's side ----

    pub(super) fn payable(&self, session: &str) -> Result<(), PayError> {
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
    pub(super) fn intent_for(&self, session: &str) -> String {
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
    pub(super) fn attempt(&self, pi: &str) {
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

    pub(super) fn succeed(&self, session: &str, pi: &str, was_async: bool) {
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
    pub(super) fn fail_intent(&self, pi: &str, error: PaymentError) {
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
    pub(super) fn set_intent(&self, pi: &str, status: IntentStatus, edit: impl FnOnce(&mut IntentState, u64)) -> bool {
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
}
