//! The webhook sender: a provider's deliveries as messages through its runtime, with its own
//! retry schedule by response class, jitter, timeouts, provider-side duplicates and giving up.
//!
//! Each attempt is a separate request sent through [`Rt::send`], so on the simulated network an
//! attempt can be lost, duplicated, reordered or refused like any message. After every attempt
//! the sender draws one jitter choice (whether or not a retry follows, so each attempt has the
//! same shape in the choice list) and asks the [`RetrySchedule`] what to do next. Headers that
//! depend on the attempt's time (Stripe's `t=` signature) are made per attempt by a [`Signer`],
//! with the provider's own clock.
//!
//! Trace lines, for a delivery whose subject is `S` and noun `N`: `S N: Status(503), retry #1 in
//! 2m` and `S N: Timeout, giving up after 5 retries`.
//!
//! What it does not do: decide what to send (the provider builds the body), order deliveries
//! (none are ordered: each one is its own task), or remember them (a provider that must, such as
//! Stripe's `pending_webhooks`, passes an [`OnFinish`]).

use std::sync::Arc;

use bytes::Bytes;

use super::retry::{Outcome, RetrySchedule, is_success};
use super::runtime::Rt;
use crate::sim::{Millis, NetError, Range, Rate, Request};

/// Headers of one attempt, from the attempt's wall-clock epoch milliseconds and the body.
pub type Signer = Arc<dyn Fn(u64, &[u8]) -> Vec<(String, String)> + Send + Sync>;

/// Told once when a delivery ends: `true` when an attempt got a 2xx, `false` when it gave up.
pub type OnFinish = Arc<dyn Fn(bool) + Send + Sync>;

/// Whether a provider's recorded delivery got through (Stripe's `pending_webhooks`, the
/// `delivery_success` filter; Paystack's webhook log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Every attempt failed and the provider gave up.
    Failed,
}

impl DeliveryState {
    /// The state after a delivery (or a provider-side duplicate of it) ends: one that got
    /// through counts, and one that gave up does not undo it.
    pub fn finish(&mut self, delivered: bool) {
        if delivered {
            *self = DeliveryState::Delivered;
        } else if *self == DeliveryState::Pending {
            *self = DeliveryState::Failed;
        }
    }
}

/// One webhook to deliver.
#[derive(Clone)]
pub struct Delivery {
    /// The party it goes to (an actor name on the simulated network).
    pub to: String,
    pub path: String,
    /// The exact bytes sent, every attempt.
    pub body: Bytes,
    /// The trace label of each attempt's request (empty when not recording).
    pub label: String,
    /// What the state lines are about, e.g. `ORDER-1: settlement` (empty when not recording).
    pub subject: String,
    /// What a delivery is called in state lines: `notification`, `webhook`.
    pub noun: &'static str,
    /// Extra headers per attempt (signatures), after `content-type: application/json`.
    pub sign: Option<Signer>,
    pub on_finish: Option<OnFinish>,
}

/// Sends deliveries with one provider's schedule. Cheap to clone.
#[derive(Clone)]
pub struct WebhookSender {
    rt: Rt,
    schedule: Arc<RetrySchedule>,
    abandoned_mark: Arc<str>,
}

impl WebhookSender {
    /// A sender on `rt` with `schedule`; `abandoned_mark` is the `sometimes` mark of a delivery
    /// that gave up without a 2xx.
    pub fn new(rt: Rt, schedule: RetrySchedule, abandoned_mark: &str) -> Self {
        WebhookSender { rt, schedule: Arc::new(schedule), abandoned_mark: abandoned_mark.into() }
    }

    pub fn schedule(&self) -> &RetrySchedule {
        &self.schedule
    }

    /// Draws, in one block of choices, the delay before the first attempt and — in the safety
    /// phase, with probability `duplicate` — the extra delay of a second, provider-side copy.
    pub fn plan(&self, delays: &Range, duplicate: Rate) -> (u64, Option<u64>) {
        let faults = self.rt.faults_active();
        self.rt.choose(|o| {
            let first = delays.draw(o);
            let dup = if faults && o.chance(duplicate.ppm()) { Some(delays.draw(o)) } else { None };
            (first, dup)
        })
    }

    /// Plans a delivery ([`WebhookSender::plan`]) and sends it; a provider-side duplicate is
    /// recorded as the fault `fault:provider-duplicate` (with `dup_text`) and sent as a second,
    /// independent delivery of the same bytes.
    pub fn dispatch(&self, d: Delivery, delays: &Range, duplicate: Rate, dup_text: impl FnOnce() -> String) {
        let (first, dup) = self.plan(delays, duplicate);
        match dup {
            None => self.send_after(d, first),
            Some(extra) => {
                self.send_after(d.clone(), first);
                self.rt.fault("fault:provider-duplicate", dup_text);
                self.send_after(d, first + extra);
            }
        }
    }

    /// Starts a task that waits `delay_ms`, then delivers `d` with the schedule.
    pub fn send_after(&self, d: Delivery, delay_ms: u64) {
        let me = self.clone();
        self.rt.spawn(async move { me.deliver(d, delay_ms).await });
    }

    async fn deliver(self, d: Delivery, delay_ms: u64) {
        let rt = &self.rt;
        rt.sleep_ms(delay_ms).await;
        let first_ms = rt.now_ms();
        let mut retries_done = 0u32;
        loop {
            let mut req = Request::new(http::Method::POST, d.path.clone()).json(d.body.clone()).label(d.label.clone());
            if let Some(sign) = &d.sign {
                for (name, value) in sign(rt.wall_ms(), &d.body) {
                    req = req.header(&name, value);
                }
            }
            let outcome = match rt.send(&d.to, req, self.schedule.timeout_ms).await {
                Ok(resp) => Outcome::Status(resp.status),
                Err(NetError::Timeout) => Outcome::Timeout,
                Err(NetError::Refused) => Outcome::ConnectionRefused,
            };
            let jitter = rt.choose(|o| o.below(self.schedule.jitter_ms_max + 1));
            let age_ms = rt.now_ms().saturating_sub(first_ms);
            match self.schedule.next_delay_ms(outcome, retries_done, jitter, age_ms) {
                Some(wait) => {
                    retries_done += 1;
                    rt.state(|| {
                        format!("{} {}: {outcome:?}, retry #{retries_done} in {}", d.subject, d.noun, Millis(wait))
                    });
                    rt.sleep_ms(wait).await;
                }
                None => {
                    let delivered = is_success(outcome);
                    if !delivered {
                        rt.mark(&self.abandoned_mark);
                        rt.state(|| {
                            format!("{} {}: {outcome:?}, giving up after {retries_done} retries", d.subject, d.noun)
                        });
                    }
                    if let Some(f) = &d.on_finish {
                        f(delivered);
                    }
                    return;
                }
            }
        }
    }
}
