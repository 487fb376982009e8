//! The simulated Stripe's behaviour, as a scenario writes it (`[stripe]`, every key optional).
//!
//! Every number is a default a scenario can override. Where Stripe publishes no number the
//! default is a plausible pick, marked *unpublished* below.
//!
//! What it does not hold: load (how many customers, when they pay): that belongs to the system
//! that drives Stripe.

use serde::{Deserialize, Serialize};

use crate::providers::kit::ApiFaults;
use crate::providers::kit::retry::RetrySchedule;
use crate::sim::{Millis, Range, Rate};

/// Stripe's behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    /// Live mode: 3-day webhook retries, 100 requests/s, `cs_live_` ids. Test mode: 3 attempts
    /// over a few hours, 25 requests/s, `cs_test_` ids.
    pub livemode: bool,
    /// The secret key the API accepts (bearer, or basic with the key as user).
    pub secret_key: String,
    /// The endpoint secret webhooks are signed with.
    pub webhook_secret: String,
    /// Where webhooks go: the party and the path of its endpoint.
    pub webhook_actor: String,
    pub webhook_path: String,
    /// `api_version` in events.
    pub api_version: String,
    /// From an event to its first delivery attempt. Each event has its own delay, so events
    /// arrive in no particular order.
    pub webhook_delay: Range,
    /// Stripe sends the same event (same id) twice, independently (safety phase only).
    pub duplicate_webhook: Rate,
    /// Delays before retries 1, 2, …; unset: the mode's default (see [`StripeConfig::schedule`]).
    pub retry_intervals: Option<Vec<Millis>>,
    /// *Unpublished*: up to this much is added to every retry delay.
    pub retry_jitter_max: Millis,
    /// No retry later than this after the first attempt (live: 3 days).
    pub retry_for: Option<Millis>,
    /// *Unpublished*: an endpoint slower than this has failed the attempt.
    pub webhook_timeout: Millis,
    /// A Checkout Session's `expires_at` when the request does not set one (24 h); a request may
    /// set 30 min – 24 h.
    pub session_expiry: Millis,
    /// Requests per `rate_window` per secret key (live 100/s, test 25/s), and per endpoint.
    pub rate_limit: Option<u32>,
    pub rate_limit_per_endpoint: u32,
    pub rate_window: Millis,
    /// Card payments that need 3-D Secure first (`requires_action`), and how long the customer
    /// takes to complete it.
    pub three_d_secure: Rate,
    pub action_delay: Range,
    /// Card attempts declined (the intent goes back to `requires_payment_method`; the session
    /// stays open and the customer may try again).
    pub card_decline: Rate,
    /// Async methods (bank debits): how long they stay `processing` — days, at worst — and the
    /// share that fail.
    pub async_delay: Range,
    pub async_fail: Rate,
    /// Events are listable this long (30 days).
    pub events_retention: Millis,
    /// Idempotency keys are kept at least this long (24 h).
    pub idempotency_ttl: Millis,
    /// Faults of the API itself (all off by default).
    pub api: ApiFaults,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            livemode: true,
            secret_key: "sk_live_settle_sim".into(),
            webhook_secret: "whsec_settle_sim".into(),
            webhook_actor: "app".into(),
            webhook_path: "/webhooks/stripe".into(),
            api_version: "2025-06-30.basil".into(),
            webhook_delay: Range::new(Millis(100), Millis::s(10)),
            duplicate_webhook: Rate(5_000),
            retry_intervals: None,
            retry_jitter_max: Millis::s(60),
            retry_for: None,
            webhook_timeout: Millis::s(30),
            session_expiry: Millis::h(24),
            rate_limit: None,
            rate_limit_per_endpoint: 25,
            rate_window: Millis::s(1),
            three_d_secure: Rate::ZERO,
            action_delay: Range::new(Millis::s(5), Millis::min(2)),
            card_decline: Rate::ZERO,
            async_delay: Range::new(Millis::h(1), Millis::h(72)),
            async_fail: Rate(100_000),
            events_retention: Millis::h(24 * 30),
            idempotency_ttl: Millis::h(24),
            api: ApiFaults::default(),
        }
    }
}

/// *Unpublished* live-mode retry delays: exponential backoff (1 m, 5 m, 30 m, 1 h, 2 h, 4 h,
/// 8 h, then 12 h) for up to 3 days after the first attempt — about 12 retries. Stripe says
/// only "up to three days with an exponential back off".
pub const LIVE_RETRY_INTERVALS: [Millis; 12] = [
    Millis::min(1),
    Millis::min(5),
    Millis::min(30),
    Millis::h(1),
    Millis::h(2),
    Millis::h(4),
    Millis::h(8),
    Millis::h(12),
    Millis::h(12),
    Millis::h(12),
    Millis::h(12),
    Millis::h(12),
];

/// Test mode: three attempts over a few hours (the first, then 1 h and 2 h later).
pub const TEST_RETRY_INTERVALS: [Millis; 2] = [Millis::h(1), Millis::h(2)];

/// How long live mode keeps retrying.
pub const LIVE_RETRY_FOR: Millis = Millis::h(72);

impl StripeConfig {
    /// The webhook retry schedule: every non-2xx answer, timeout or refusal is retried at the
    /// mode's intervals (or `retry_intervals`) plus jitter, for at most `retry_for`.
    pub fn schedule(&self) -> RetrySchedule {
        let intervals = match &self.retry_intervals {
            Some(v) => v.clone(),
            None if self.livemode => LIVE_RETRY_INTERVALS.to_vec(),
            None => TEST_RETRY_INTERVALS.to_vec(),
        };
        let mut s = RetrySchedule::every_failure(
            intervals.iter().map(|m| m.0).collect(),
            self.retry_jitter_max.0,
            self.webhook_timeout.0,
        );
        s.give_up_after_ms =
            Some(self.retry_for.map_or(if self.livemode { LIVE_RETRY_FOR.0 } else { u64::MAX }, |m| m.0));
        s
    }

    /// Requests per window per secret key.
    pub fn rate_limit(&self) -> u32 {
        self.rate_limit.unwrap_or(if self.livemode { 100 } else { 25 })
    }

    /// Checks what serde cannot: a message per bad key.
    pub fn validate(&self) -> Result<(), String> {
        if self.secret_key.is_empty() || self.webhook_secret.is_empty() {
            return Err("stripe.secret_key/webhook_secret: must not be empty".into());
        }
        if !(Millis::min(30)..=Millis::h(24)).contains(&self.session_expiry) {
            return Err(format!("stripe.session_expiry: {} is not between 30m and 24h", self.session_expiry));
        }
        if self.rate_limit() == 0 || self.rate_limit_per_endpoint == 0 || self.rate_window.0 == 0 {
            return Err("stripe.rate_limit/rate_limit_per_endpoint/rate_window: must be above 0".into());
        }
        if self.retry_intervals.as_ref().is_some_and(|v| v.len() > 64) {
            return Err("stripe.retry_intervals: at most 64 intervals".into());
        }
        Ok(())
    }
}
