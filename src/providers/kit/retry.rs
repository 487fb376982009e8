//! Retry schedules as data: which delivery outcomes count as success, how many retries each
//! failed outcome earns, how long to wait before each retry, and when to give up.
//!
//! A provider's schedule is a [`RetrySchedule`] value — intervals, jitter bound, timeout, rules by
//! response class, an age limit — so a scenario can override any number and tests can read the
//! whole schedule without sending anything. The webhook sender ([`super::webhook`]) applies it.
//!
//! What it does not do: send, keep a queue, read a clock or draw random numbers. The caller counts
//! retries, measures the age of the delivery, and passes in the jitter its oracle chose, so a
//! schedule replays exactly from a seed.

/// What happened when the provider tried to deliver one webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The endpoint answered with this HTTP status within the timeout.
    Status(u16),
    /// No answer within the schedule's timeout.
    Timeout,
    /// The connection could not be made at all.
    ConnectionRefused,
}

/// Whether a delivery succeeded: any 2xx status, and nothing else (a 3xx is a failure).
pub fn is_success(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Status(200..=299))
}

/// A class of outcomes a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeClass {
    Status(u16),
    /// Statuses from the first to the second, inclusive.
    Statuses(u16, u16),
    Timeout,
    ConnectionRefused,
}

impl OutcomeClass {
    pub fn matches(self, outcome: Outcome) -> bool {
        match (self, outcome) {
            (OutcomeClass::Status(a), Outcome::Status(b)) => a == b,
            (OutcomeClass::Statuses(lo, hi), Outcome::Status(b)) => (lo..=hi).contains(&b),
            (OutcomeClass::Timeout, Outcome::Timeout) => true,
            (OutcomeClass::ConnectionRefused, Outcome::ConnectionRefused) => true,
            _ => false,
        }
    }
}

/// How long a retry waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The schedule's interval for this retry, plus jitter.
    Interval,
    /// Only the jitter: a retry at once (Midtrans following a 307/308 redirect).
    JitterOnly,
}

/// Retries allowed (in total, after the first attempt) when the latest attempt's outcome is of
/// class `on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRule {
    pub on: OutcomeClass,
    pub retries: u32,
    pub wait: Wait,
}

impl RetryRule {
    pub const fn new(on: OutcomeClass, retries: u32) -> Self {
        RetryRule { on, retries, wait: Wait::Interval }
    }
}

/// A provider's retry schedule. Every number is a default a scenario can override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Base delay before retry `i` (0-based), measured from the failed attempt.
    pub intervals_ms: Vec<u64>,
    /// Jitter passed to [`RetrySchedule::next_delay_ms`] is clamped to this.
    pub jitter_ms_max: u64,
    /// An answer slower than this counts as [`Outcome::Timeout`].
    pub timeout_ms: u64,
    /// The first rule that matches the latest outcome decides its budget.
    pub rules: Vec<RetryRule>,
    /// The budget of an outcome no rule matches.
    pub otherwise: u32,
    /// No retry is scheduled later than this after the first attempt (Stripe: 3 days).
    pub give_up_after_ms: Option<u64>,
}

impl RetrySchedule {
    /// A schedule that retries every failure at each of `intervals_ms`, with no rules.
    pub fn every_failure(intervals_ms: Vec<u64>, jitter_ms_max: u64, timeout_ms: u64) -> Self {
        let otherwise = u32::try_from(intervals_ms.len()).unwrap_or(u32::MAX);
        RetrySchedule { intervals_ms, jitter_ms_max, timeout_ms, rules: Vec::new(), otherwise, give_up_after_ms: None }
    }

    fn rule(&self, outcome: Outcome) -> Option<&RetryRule> {
        self.rules.iter().find(|r| r.on.matches(outcome))
    }

    /// Retries (after the first attempt) this outcome allows in total; 0 for a success.
    pub fn retries_allowed(&self, outcome: Outcome) -> u32 {
        if is_success(outcome) {
            return 0;
        }
        self.rule(outcome).map_or(self.otherwise, |r| r.retries)
    }

    /// How long to wait before the next retry, or `None` to stop.
    ///
    /// `outcome` is the attempt that just finished, `retries_done` the retries already made (0
    /// after the first attempt), `jitter_ms` the caller's draw (clamped to `jitter_ms_max`),
    /// `age_ms` the time since the first attempt. The budget is decided by the latest outcome
    /// alone: a 503 (4 retries at Midtrans) followed by a 500 (1 retry) stops after that 500,
    /// because one retry has already been made. `None` on success, when the budget is spent,
    /// when the intervals run out, or when the retry would fall past `give_up_after_ms`.
    pub fn next_delay_ms(&self, outcome: Outcome, retries_done: u32, jitter_ms: u64, age_ms: u64) -> Option<u64> {
        if is_success(outcome) || retries_done >= self.retries_allowed(outcome) {
            return None;
        }
        let jitter_ms = jitter_ms.min(self.jitter_ms_max);
        let wait = match self.rule(outcome).map_or(Wait::Interval, |r| r.wait) {
            Wait::JitterOnly => jitter_ms,
            Wait::Interval => {
                let index = usize::try_from(retries_done).ok()?;
                self.intervals_ms.get(index)?.saturating_add(jitter_ms)
            }
        };
        match self.give_up_after_ms {
            Some(limit) if age_ms.saturating_add(wait) > limit => None,
            _ => Some(wait),
        }
    }

    /// The outcome of an attempt that answered `status` after `latency_ms`: a timeout if the
    /// answer came after `timeout_ms` (the provider has hung up by then, whatever the status).
    /// An answer at exactly `timeout_ms` counts.
    pub fn classify(&self, status: u16, latency_ms: u64) -> Outcome {
        if latency_ms > self.timeout_ms { Outcome::Timeout } else { Outcome::Status(status) }
    }

    /// The base delays of every retry an always-failing `outcome` gets, without jitter: the
    /// whole schedule, for tests and documentation.
    pub fn retry_delays_ms(&self, outcome: Outcome) -> Vec<u64> {
        let mut out = Vec::new();
        let mut age_ms = 0u64;
        // Bounded by the number of intervals (or the budget, whichever ends first).
        for retries_done in 0..=self.intervals_ms.len() as u32 {
            match self.next_delay_ms(outcome, retries_done, 0, age_ms) {
                Some(d) => {
                    age_ms = age_ms.saturating_add(d);
                    out.push(d);
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn midtrans_like() -> RetrySchedule {
        RetrySchedule {
            intervals_ms: vec![10, 20, 30, 40, 50],
            jitter_ms_max: 5,
            timeout_ms: 100,
            rules: vec![
                RetryRule::new(OutcomeClass::Status(500), 1),
                RetryRule::new(OutcomeClass::Statuses(301, 303), 0),
                RetryRule { on: OutcomeClass::Statuses(307, 308), retries: 5, wait: Wait::JitterOnly },
            ],
            otherwise: 5,
            give_up_after_ms: None,
        }
    }

    #[test]
    fn success_is_2xx_only() {
        for code in [200, 201, 204, 299] {
            assert!(is_success(Outcome::Status(code)), "{code}");
        }
        for code in [100, 199, 300, 301, 302, 304, 307, 400, 500] {
            assert!(!is_success(Outcome::Status(code)), "{code}");
        }
        assert!(!is_success(Outcome::Timeout));
        assert!(!is_success(Outcome::ConnectionRefused));
    }

    #[test]
    fn the_first_matching_rule_decides_the_budget() {
        let s = midtrans_like();
        assert_eq!(s.retries_allowed(Outcome::Status(200)), 0);
        assert_eq!(s.retries_allowed(Outcome::Status(500)), 1);
        assert_eq!(s.retries_allowed(Outcome::Status(302)), 0);
        assert_eq!(s.retries_allowed(Outcome::Status(502)), 5);
        assert_eq!(s.retries_allowed(Outcome::Timeout), 5);
        assert_eq!(s.retry_delays_ms(Outcome::Status(500)), [10]);
        assert_eq!(s.retry_delays_ms(Outcome::Status(303)), Vec::<u64>::new());
        assert_eq!(s.retry_delays_ms(Outcome::Timeout), [10, 20, 30, 40, 50]);
    }

    #[test]
    fn jitter_is_clamped_and_jitter_only_rules_wait_only_the_jitter() {
        let s = midtrans_like();
        assert_eq!(s.next_delay_ms(Outcome::Timeout, 0, 3, 0), Some(13));
        assert_eq!(s.next_delay_ms(Outcome::Timeout, 0, 99, 0), Some(15));
        assert_eq!(s.next_delay_ms(Outcome::Status(307), 4, 99, 0), Some(5));
        assert_eq!(s.next_delay_ms(Outcome::Status(307), 5, 0, 0), None);
    }

    #[test]
    fn the_latest_outcome_alone_sets_the_budget() {
        let s = midtrans_like();
        assert!(s.next_delay_ms(Outcome::Timeout, 1, 0, 0).is_some());
        assert_eq!(s.next_delay_ms(Outcome::Status(500), 1, 0, 0), None);
    }

    #[test]
    fn an_age_limit_cuts_the_schedule() {
        let mut s = RetrySchedule::every_failure(vec![100, 100, 100, 100], 0, 10);
        assert_eq!(s.retry_delays_ms(Outcome::Status(500)).len(), 4);
        s.give_up_after_ms = Some(250);
        assert_eq!(s.retry_delays_ms(Outcome::Status(500)), [100, 100]);
        assert_eq!(s.next_delay_ms(Outcome::Status(500), 2, 0, 200), None);
        assert_eq!(s.next_delay_ms(Outcome::Status(500), 2, 0, 150), Some(100));
    }

    #[test]
    fn answers_after_the_timeout_are_timeouts() {
        let s = midtrans_like();
        assert_eq!(s.classify(200, 100), Outcome::Status(200));
        assert_eq!(s.classify(200, 101), Outcome::Timeout);
    }
}
