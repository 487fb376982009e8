//! `Idempotency-Key` storage: the first answer to a key is saved and every retry with the same
//! key gets that answer back byte for byte — even a 500 — for at least `ttl_ms` (Stripe: keys are
//! kept at least 24 hours); the same key with other parameters is an error, not a replay.
//!
//! A request is identified by a fingerprint the provider computes (method, path and its decoded
//! parameters in a canonical order), so the same parameters in another order are the same
//! request. Entries live in a `BTreeMap` and expire lazily, when their key is used again.
//!
//! What it does not do: decide which answers are saved (Stripe does not save a 429 or a request
//! refused before it ran, such as a bad key), or answer HTTP itself.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The longest key accepted (Stripe: 255 characters).
pub const KEY_LEN_MAX: usize = 255;

/// A saved answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub fingerprint: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub saved_ms: u64,
}

/// What a key means for a new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Not seen (or expired): run the request, then [`IdempotencyStore::save`] its answer.
    New,
    /// Seen with the same parameters: answer this again.
    Replay(Saved),
    /// Seen with other parameters: refuse.
    Mismatch { saved_fingerprint: String },
}

/// Why a key is refused outright.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("the Idempotency-Key is empty")]
    Empty,
    #[error("the Idempotency-Key is {0} characters long; at most {KEY_LEN_MAX} are allowed")]
    TooLong(usize),
}

/// Saved answers by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyStore {
    ttl_ms: u64,
    entries: BTreeMap<String, Saved>,
}

impl IdempotencyStore {
    pub fn new(ttl_ms: u64) -> Self {
        IdempotencyStore { ttl_ms, entries: BTreeMap::new() }
    }

    /// Checks `key` for a request with `fingerprint` at `now_ms`.
    pub fn check(&mut self, key: &str, fingerprint: &str, now_ms: u64) -> Result<Lookup, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        let chars = key.chars().count();
        if chars > KEY_LEN_MAX {
            return Err(KeyError::TooLong(chars));
        }
        let expired = self.entries.get(key).is_some_and(|s| now_ms.saturating_sub(s.saved_ms) >= self.ttl_ms);
        if expired {
            self.entries.remove(key);
        }
        Ok(match self.entries.get(key) {
            None => Lookup::New,
            Some(s) if s.fingerprint == fingerprint => Lookup::Replay(s.clone()),
            Some(s) => Lookup::Mismatch { saved_fingerprint: s.fingerprint.clone() },
        })
    }

    /// Saves the answer to the first request with `key`. A key already saved keeps its answer.
    pub fn save(&mut self, key: &str, saved: Saved) {
        self.entries.entry(key.to_string()).or_insert(saved);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(fp: &str, status: u16, body: &str, at: u64) -> Saved {
        Saved { fingerprint: fp.into(), status, headers: vec![], body: Bytes::from(body.to_string()), saved_ms: at }
    }

    #[test]
    fn a_retry_gets_the_first_answer_even_a_500() {
        let mut s = IdempotencyStore::new(1_000);
        assert_eq!(s.check("k1", "POST /x a=1", 0), Ok(Lookup::New));
        s.save("k1", saved("POST /x a=1", 500, "boom", 0));
        match s.check("k1", "POST /x a=1", 10) {
            Ok(Lookup::Replay(r)) => {
                assert_eq!(r.status, 500);
                assert_eq!(r.body, "boom");
            }
            other => panic!("{other:?}"),
        }
        // A second save under the same key does not overwrite the first answer.
        s.save("k1", saved("POST /x a=1", 200, "ok", 20));
        assert!(matches!(s.check("k1", "POST /x a=1", 30), Ok(Lookup::Replay(r)) if r.status == 500));
    }

    #[test]
    fn the_same_key_with_other_parameters_is_a_mismatch() {
        let mut s = IdempotencyStore::new(1_000);
        s.save("k", saved("POST /x a=1", 200, "ok", 0));
        assert_eq!(s.check("k", "POST /x a=2", 5), Ok(Lookup::Mismatch { saved_fingerprint: "POST /x a=1".into() }));
        assert_eq!(s.check("other", "POST /x a=2", 5), Ok(Lookup::New));
    }

    #[test]
    fn keys_expire_after_their_ttl() {
        let mut s = IdempotencyStore::new(1_000);
        s.save("k", saved("fp", 200, "ok", 0));
        assert!(matches!(s.check("k", "fp", 999), Ok(Lookup::Replay(_))));
        assert_eq!(s.check("k", "fp", 1_000), Ok(Lookup::New));
        assert!(s.is_empty());
    }

    #[test]
    fn keys_are_bounded() {
        let mut s = IdempotencyStore::new(1_000);
        assert_eq!(s.check("", "fp", 0), Err(KeyError::Empty));
        assert_eq!(s.check(&"k".repeat(255), "fp", 0), Ok(Lookup::New));
        assert_eq!(s.check(&"k".repeat(256), "fp", 0), Err(KeyError::TooLong(256)));
    }
}
