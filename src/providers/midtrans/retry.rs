//! Midtrans's notification retry policy: which delivery outcomes count as
//! success, how many retries each failure earns, and how long to wait before
//! each retry.
//!
//! This models the table in PROVIDERS.md as data on the provider kit's
//! [`RetrySchedule`] (see [`RetryPolicy::schedule`]). It does NOT send
//! anything, keep a queue, read a clock or draw random numbers: the caller
//! tracks how many retries a notification has had, turns slow answers into
//! [`DeliveryOutcome::Timeout`] (see [`RetryPolicy::timeout_ms`]), and passes
//! in the jitter its oracle chose, so the schedule replays exactly from a seed.
//!
//! Redirects: real Midtrans follows 307/308 (up to 5 times). The simulated
//! application never redirects, so there is no location to follow; we model a
//! 307/308 as "retry immediately (plus jitter), at most 5 times".

/// What happened when the provider tried to deliver one notification (the kit's outcome).
pub use crate::providers::kit::retry::Outcome as DeliveryOutcome;
use crate::providers::kit::retry::{OutcomeClass, RetryRule, RetrySchedule, Wait};

/// The largest retry budget any outcome earns; bounds every retry loop.
pub const MAX_RETRIES: u32 = 5;

/// Whether the delivery succeeded: any 2xx status, and nothing else.
pub fn is_success(outcome: DeliveryOutcome) -> bool {
    crate::providers::kit::retry::is_success(outcome)
}

/// How many retries (after the first attempt) this outcome allows in total,
/// per PROVIDERS.md: 2xx → 0 (done); 500 → 1; 503 → 4; 400/404 → 2;
/// 301/302/303 → 0 (given up); 307/308 → 5 (see the module doc); anything
/// else, including timeouts and refused connections → 5.
pub fn retries_allowed(outcome: DeliveryOutcome) -> u32 {
    RetryPolicy::default().schedule().retries_allowed(outcome)
}

/// The budgets by response class, as the kit's rules: the first match decides.
fn rules() -> Vec<RetryRule> {
    vec![
        RetryRule::new(OutcomeClass::Status(500), 1),
        RetryRule::new(OutcomeClass::Status(503), 4),
        RetryRule::new(OutcomeClass::Status(400), 2),
        RetryRule::new(OutcomeClass::Status(404), 2),
        RetryRule::new(OutcomeClass::Statuses(301, 303), 0),
        RetryRule { on: OutcomeClass::Statuses(307, 308), retries: MAX_RETRIES, wait: Wait::JitterOnly },
    ]
}

/// The retry schedule. Every number is a default a scenario can override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Base delay before retry `i` (0-based), measured from the failed attempt.
    pub intervals_ms: Vec<u64>,
    /// Jitter passed to [`RetryPolicy::next_delay_ms`] is clamped to this.
    pub jitter_ms_max: u64,
    /// An answer slower than this counts as [`DeliveryOutcome::Timeout`].
    pub timeout_ms: u64,
}

impl Default for RetryPolicy {
    /// PROVIDERS.md: intervals 2 m, 10 m, 30 m, 90 m, 210 m; timeout 15 s.
    /// The jitter bound is *unpublished* ("random jitter"); we pick up to
    /// 30 s, small against the shortest 2 m interval so retries keep their
    /// order.
    fn default() -> Self {
        Self {
            intervals_ms: vec![120_000, 600_000, 1_800_000, 5_400_000, 12_600_000],
            jitter_ms_max: 30_000,
            timeout_ms: 15_000,
        }
    }
}

impl RetryPolicy {
    /// How long to wait before the next retry, or `None` to stop.
    ///
    /// `outcome` is the result of the attempt that just failed and
    /// `retries_done` counts the retries already made for this notification
    /// (0 after the first attempt). `jitter_ms` is chosen by the caller's
    /// oracle and clamped to `jitter_ms_max`.
    ///
    /// The budget is decided by the latest response alone: a 503 (4 retries)
    /// followed by a 500 (1 retry) stops after that 500, because one retry
    /// has already been made. Returns `None` on success, when
    /// `retries_done >= retries_allowed(outcome)`, or when the interval list
    /// is exhausted. A 307/308 retries after only the jitter (see the module
    /// doc).
    pub fn next_delay_ms(&self, outcome: DeliveryOutcome, retries_done: u32, jitter_ms: u64) -> Option<u64> {
        self.schedule().next_delay_ms(outcome, retries_done, jitter_ms, 0)
    }

    /// The kit's schedule for this policy: these intervals, jitter and timeout, with Midtrans's
    /// budgets by response class and no age limit.
    pub fn schedule(&self) -> RetrySchedule {
        RetrySchedule {
            intervals_ms: self.intervals_ms.clone(),
            jitter_ms_max: self.jitter_ms_max,
            timeout_ms: self.timeout_ms,
            rules: rules(),
            otherwise: MAX_RETRIES,
            give_up_after_ms: None,
        }
    }

    /// The outcome of an attempt that answered `status` after `latency_ms`:
    /// [`DeliveryOutcome::Timeout`] if the answer came after `timeout_ms`
    /// (the provider has hung up by then, whatever the status), otherwise
    /// [`DeliveryOutcome::Status`]. An answer at exactly `timeout_ms` counts.
    pub fn classify(&self, status: u16, latency_ms: u64) -> DeliveryOutcome {
        self.schedule().classify(status, latency_ms)
    }
}
