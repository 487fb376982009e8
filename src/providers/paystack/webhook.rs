//! Verifying `x-paystack-signature` as Paystack documents it, for apps and tests: the hex
//! HMAC-SHA512 of the raw body keyed with the secret key, compared in constant time.
//!
//! What it does not do: parse the body, or dedupe (Paystack events have no id: dedupe on
//! `data.reference`).

use crate::providers::kit::sign::{hex_eq, hmac_sha512_hex};

/// The signature Paystack sends for `body`.
pub fn signature(secret_key: &str, body: &[u8]) -> String {
    hmac_sha512_hex(secret_key.as_bytes(), body)
}

/// Whether `header` is the signature of exactly these bytes.
pub fn verify(header: &str, body: &[u8], secret_key: &str) -> bool {
    hex_eq(&signature(secret_key, body), header)
}
