//! The simulated Paystack's behaviour, as a scenario writes it (`[paystack]`, every key optional).
//!
//! Every number is a default a scenario can override; the webhook schedule is Paystack's
//! published one (PROVIDERS.md): live, every 3 minutes for the first 4 tries, then hourly until
//! 72 hours; test, hourly for 10 hours; 30 s per attempt.
//!
//! What it does not hold: load (who pays, when, by which channel): that belongs to the system
//! that drives Paystack.

use serde::{Deserialize, Serialize};

use crate::providers::kit::ApiFaults;
use crate::providers::kit::retry::RetrySchedule;
use crate::sim::{Millis, Range, Rate};

/// Paystack's behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaystackConfig {
    /// Live mode (`sk_live_` keys, the 72-hour schedule) or test mode (hourly for 10 hours).
    pub livemode: bool,
    /// The secret key: bearer auth of the API, and the HMAC key of `x-paystack-signature`.
    pub secret_key: String,
    /// Where webhooks go: the party and the path of its endpoint.
    pub webhook_actor: String,
    pub webhook_path: String,
    /// The currency of every transaction (amounts are in its subunit: kobo for NGN).
    pub currency: String,
    /// From a change to its webhook's first attempt.
    pub webhook_delay: Range,
    /// The same webhook twice (safety phase only). Paystack events carry no id: receivers
    /// dedupe on `data.reference`.
    pub duplicate_webhook: Rate,
    /// Delays before retries 1, 2, …; unset: the mode's published schedule.
    pub retry_intervals: Option<Vec<Millis>>,
    /// No retry later than this after the first attempt (live 72 h, test 10 h).
    pub retry_for: Option<Millis>,
    /// An endpoint slower than this has failed the attempt (30 s).
    pub webhook_timeout: Millis,
    /// *Unpublished*: up to this much is added to every retry delay.
    pub retry_jitter_max: Millis,
    /// Payment attempts that fail (card declined, transfer never arrives).
    pub payment_fail: Rate,
    /// How long a transfer, USSD or mobile-money payment waits before its result.
    pub async_delay: Range,
    /// Vary the raw JSON of webhooks (key order and spacing), as a faithful model must: a
    /// handler that verifies the signature over re-serialised JSON fails on some of them.
    pub vary_raw_body: bool,
    /// Faults of the API itself (all off by default): 5xx, 429, black holes, stale `verify`.
    pub api: ApiFaults,
}

impl Default for PaystackConfig {
    fn default() -> Self {
        PaystackConfig {
            livemode: true,
            secret_key: "sk_live_settle_sim".into(),
            webhook_actor: "app".into(),
            webhook_path: "/webhooks/paystack".into(),
            currency: "NGN".into(),
            webhook_delay: Range::new(Millis(200), Millis::s(5)),
            duplicate_webhook: Rate(5_000),
            retry_intervals: None,
            retry_for: None,
            webhook_timeout: Millis::s(30),
            retry_jitter_max: Millis::s(10),
            payment_fail: Rate(100_000),
            async_delay: Range::new(Millis::s(30), Millis::h(2)),
            vary_raw_body: true,
            api: ApiFaults::default(),
        }
    }
}

/// Live mode's published schedule: tries 2–4 three minutes apart, then every hour.
pub fn live_retry_intervals() -> Vec<Millis> {
    let mut v = vec![Millis::min(3); 3];
    v.extend(std::iter::repeat_n(Millis::h(1), 72));
    v
}

/// Live mode retries until this long after the first attempt.
pub const LIVE_RETRY_FOR: Millis = Millis::h(72);

/// Test mode: hourly for 10 hours.
pub const TEST_RETRY_INTERVALS: [Millis; 10] = [Millis::h(1); 10];

impl PaystackConfig {
    /// The webhook retry schedule: a non-2xx answer, a timeout or a refusal is retried at the
    /// mode's intervals plus jitter, for at most `retry_for`. (Paystack asks for `200 OK`; the
    /// model takes any 2xx, as the kit's sender does, because which other 2xx Paystack accepts
    /// is unpublished.)
    pub fn schedule(&self) -> RetrySchedule {
        let intervals = match &self.retry_intervals {
            Some(v) => v.clone(),
            None if self.livemode => live_retry_intervals(),
            None => TEST_RETRY_INTERVALS.to_vec(),
        };
        let mut s = RetrySchedule::every_failure(
            intervals.iter().map(|m| m.0).collect(),
            self.retry_jitter_max.0,
            self.webhook_timeout.0,
        );
        let limit = self.retry_for.unwrap_or(if self.livemode { LIVE_RETRY_FOR } else { Millis::h(10) });
        s.give_up_after_ms = Some(limit.0);
        s
    }

    /// Checks what serde cannot: a message per bad key.
    pub fn validate(&self) -> Result<(), String> {
        if self.secret_key.is_empty() {
            return Err("paystack.secret_key: must not be empty".into());
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!("paystack.currency: {:?} is not a three-letter code such as NGN", self.currency));
        }
        if !self.webhook_path.starts_with('/') {
            return Err(format!("paystack.webhook_path: {:?} must start with /", self.webhook_path));
        }
        if self.retry_intervals.as_ref().is_some_and(|v| v.len() > 200) {
            return Err("paystack.retry_intervals: at most 200 intervals".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::kit::retry::Outcome;

    #[test]
    fn live_schedule_is_the_published_one() {
        let s = PaystackConfig::default().schedule();
        let delays = s.retry_delays_ms(Outcome::Status(500));
        assert_eq!(&delays[..4], &[180_000, 180_000, 180_000, 3_600_000]);
        // Three 3-minute retries, then hourly while the next retry falls within 72 hours.
        let total: u64 = delays.iter().sum();
        assert!(total <= 72 * 3_600_000, "{total}");
        assert_eq!(delays.len(), 3 + 71);
        assert_eq!(s.timeout_ms, 30_000);
    }

    #[test]
    fn test_mode_is_hourly_for_ten_hours() {
        let s = PaystackConfig { livemode: false, ..PaystackConfig::default() }.schedule();
        assert_eq!(s.retry_delays_ms(Outcome::Timeout), vec![3_600_000; 10]);
    }

    #[test]
    fn bad_values_are_named() {
        let bad = PaystackConfig { currency: "naira".into(), ..PaystackConfig::default() };
        assert!(bad.validate().unwrap_err().contains("paystack.currency"));
        let bad = PaystackConfig { secret_key: String::new(), ..PaystackConfig::default() };
        assert!(bad.validate().unwrap_err().contains("secret_key"));
        assert!(PaystackConfig::default().validate().is_ok());
    }
}
