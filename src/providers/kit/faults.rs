//! Faults on a provider's own API, as data: 5xx answers, 429s although the caller is within its
//! limit, black-holed requests (no answer until long after any caller's timeout, then a 504) and
//! stale reads (the status API answers the state of a while ago). All are off by default; a
//! scenario turns them on per provider (`[midtrans.provider.api]`, `[stripe.api]`), and they fire
//! only in the safety phase, drawn through the one oracle, each marked when it fires:
//!
//! | fault | mark |
//! |---|---|
//! | `server_error` | `fault:provider-5xx` |
//! | `rate_limited` | `fault:provider-429` |
//! | `timeout` | `fault:provider-timeout` |
//! | `stale_read` | `fault:provider-stale-read` |
//!
//! What it does not do: shape the answer. The provider turns an [`ApiFault`] into its own error
//! body and reads its ground-truth book as of `now − lag` for a stale read.

use serde::{Deserialize, Serialize};

use super::runtime::Rt;
use crate::sim::{Millis, Range, Rate};

/// Fault rates of one provider's API, per request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiFaults {
    /// Answers that are a 500, 502 or 503.
    pub server_error: Rate,
    /// Answers that are a 429 although the caller is within its limit.
    pub rate_limited: Rate,
    /// Requests held without an answer (the caller times out), then answered 504.
    pub timeout: Rate,
    /// How long a black-holed request is held.
    pub timeout_hold: Millis,
    /// Reads answered from an older state of the object.
    pub stale_read: Rate,
    /// How far behind a stale read is.
    pub stale_by: Range,
}

impl Default for ApiFaults {
    fn default() -> Self {
        ApiFaults {
            server_error: Rate::ZERO,
            rate_limited: Rate::ZERO,
            timeout: Rate::ZERO,
            timeout_hold: Millis::min(5),
            stale_read: Rate::ZERO,
            stale_by: Range::new(Millis::s(1), Millis::min(2)),
        }
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiFault {
    /// Answer this 5xx status instead.
    ServerError(u16),
    /// Answer 429 instead.
    RateLimited,
    /// Hold the request this long, then answer 504.
    BlackHole { hold_ms: u64 },
}

const SERVER_ERRORS: [u16; 3] = [500, 502, 503];

impl ApiFaults {
    /// True when no fault is enabled (nothing is ever drawn).
    pub fn is_off(&self) -> bool {
        self.server_error.is_zero()
            && self.rate_limited.is_zero()
            && self.timeout.is_zero()
            && self.stale_read.is_zero()
    }

    /// The `sometimes` marks of the enabled faults, with what each proves.
    pub fn sometimes(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if !self.server_error.is_zero() {
            out.push(("fault:provider-5xx", "the provider's API answered a 5xx"));
        }
        if !self.rate_limited.is_zero() {
            out.push(("fault:provider-429", "the provider's API answered 429"));
        }
        if !self.timeout.is_zero() {
            out.push(("fault:provider-timeout", "the provider's API held a request past its caller's timeout"));
        }
        if !self.stale_read.is_zero() {
            out.push(("fault:provider-stale-read", "the provider's API answered an older state"));
        }
        out
    }

    /// Draws the fault of one request (none outside the safety phase), in a fixed order: a 5xx
    /// (then which one), a 429, a black hole. A disabled fault draws nothing. `subject` names
    /// the caller or object in the trace line.
    pub fn draw(&self, rt: &Rt, subject: &str) -> Option<ApiFault> {
        if self.is_off() || !rt.faults_active() {
            return None;
        }
        let fault = rt.choose(|o| {
            if o.chance(self.server_error.ppm()) {
                Some(ApiFault::ServerError(SERVER_ERRORS[o.below(SERVER_ERRORS.len() as u64) as usize]))
            } else if o.chance(self.rate_limited.ppm()) {
                Some(ApiFault::RateLimited)
            } else if o.chance(self.timeout.ppm()) {
                Some(ApiFault::BlackHole { hold_ms: self.timeout_hold.0 })
            } else {
                None
            }
        })?;
        match fault {
            ApiFault::ServerError(code) => rt.fault("fault:provider-5xx", || format!("{subject}: answers {code}")),
            ApiFault::RateLimited => rt.fault("fault:provider-429", || format!("{subject}: answers 429 (injected)")),
            ApiFault::BlackHole { hold_ms } => rt.fault("fault:provider-timeout", || {
                format!("{subject}: holds the request for {} without an answer", Millis(hold_ms))
            }),
        }
        Some(fault)
    }

    /// How far behind this read is: 0 for a fresh read (always outside the safety phase).
    pub fn stale_lag_ms(&self, rt: &Rt, subject: &str) -> u64 {
        if self.stale_read.is_zero() || !rt.faults_active() {
            return 0;
        }
        let lag = rt.choose(|o| if o.chance(self.stale_read.ppm()) { self.stale_by.draw(o).max(1) } else { 0 });
        if lag > 0 {
            rt.fault("fault:provider-stale-read", || format!("{subject}: answered as of {} ago", Millis(lag)));
        }
        lag
    }
}
