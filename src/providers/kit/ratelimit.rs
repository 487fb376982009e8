//! A rate-limit bucket per caller (token, key, endpoint): `limit` requests, refilled whole
//! `window_ms` after the first request that found it full. Fanvue uses 200 per 60 s per token;
//! Stripe 100 per second per account (25 in test mode) and 25 per second per endpoint.
//!
//! [`Buckets`] keeps one bucket per key in a `BTreeMap`, so the state is deterministic. Times are
//! epoch milliseconds as `i64`, the providers' payload clock.
//!
//! What it does not do: answer the request. The provider turns a refused [`Take`] into its own
//! 429 (with `Retry-After`, `X-RateLimit-*` where it sends them).

use std::collections::BTreeMap;

/// One caller's bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    limit: u32,
    window_ms: i64,
    tokens: u32,
    refill_at_ms: Option<i64>,
}

/// The bucket's state after a request, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch milliseconds at which the bucket is full again.
    pub reset_at_ms: i64,
}

impl Take {
    /// Whole seconds to wait before the bucket has a token again (at least 1).
    pub fn retry_after_s(&self, now_ms: i64) -> i64 {
        ((self.reset_at_ms - now_ms + 999) / 1000).max(1)
    }
}

impl Bucket {
    pub fn new(limit: u32, window_ms: u64) -> Self {
        let window_ms = i64::try_from(window_ms.max(1)).unwrap_or(i64::MAX);
        Bucket { limit: limit.max(1), window_ms, tokens: limit.max(1), refill_at_ms: None }
    }

    /// Spends a token if there is one.
    pub fn take(&mut self, now_ms: i64) -> Take {
        if self.refill_at_ms.is_some_and(|t| now_ms >= t) {
            self.tokens = self.limit;
            self.refill_at_ms = None;
        }
        let allowed = self.tokens > 0;
        if allowed {
            if self.refill_at_ms.is_none() {
                self.refill_at_ms = Some(now_ms + self.window_ms);
            }
            self.tokens -= 1;
        }
        let reset_at_ms = self.refill_at_ms.unwrap_or(now_ms + self.window_ms);
        Take { allowed, limit: self.limit, remaining: self.tokens, reset_at_ms }
    }
}

/// One bucket per key, all with the same limit and window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    limit: u32,
    window_ms: u64,
    buckets: BTreeMap<String, Bucket>,
}

impl Buckets {
    pub fn new(limit: u32, window_ms: u64) -> Self {
        Buckets { limit, window_ms, buckets: BTreeMap::new() }
    }

    /// Spends a token of `key`'s bucket, creating it full on first use.
    pub fn take(&mut self, key: &str, now_ms: i64) -> Take {
        if !self.buckets.contains_key(key) {
            self.buckets.insert(key.to_string(), Bucket::new(self.limit, self.window_ms));
        }
        match self.buckets.get_mut(key) {
            Some(b) => b.take(now_ms),
            None => unreachable!("inserted above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_spends_then_refills_after_its_window() {
        let mut b = Bucket::new(3, 60_000);
        for remaining in [2, 1, 0] {
            let t = b.take(1_000);
            assert!(t.allowed);
            assert_eq!(t.remaining, remaining);
            assert_eq!(t.reset_at_ms, 61_000);
        }
        let refused = b.take(30_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_s(30_000), 31);
        assert!(!b.take(60_999).allowed);
        let again = b.take(61_000);
        assert!(again.allowed);
        assert_eq!(again.remaining, 2);
        assert_eq!(again.reset_at_ms, 121_000);
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let mut b = Buckets::new(2, 1_000);
        assert!(b.take("a", 0).allowed);
        assert!(b.take("a", 10).allowed);
        assert!(!b.take("a", 20).allowed);
        assert!(b.take("b", 20).allowed, "another key is not limited by a's use");
        assert!(b.take("a", 1_000).allowed, "a's window has passed");
    }

    #[test]
    fn a_zero_limit_still_admits_one_per_window() {
        // A misconfigured limit of 0 would refuse forever; the bucket keeps at least one token.
        let mut b = Bucket::new(0, 1_000);
        assert!(b.take(0).allowed);
        assert!(!b.take(1).allowed);
    }
}
