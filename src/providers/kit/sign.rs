//! Signature helpers for webhook payloads, one per scheme the providers use:
//!
//! - [`sha512_hex`]: lowercase hex SHA-512 of strings concatenated as given (Midtrans's
//!   `signature_key` = SHA-512(order_id + status_code + gross_amount + server_key)).
//! - [`hmac_sha256_hex`], [`hmac_sha512_hex`]: lowercase hex HMACs of raw bytes (Paystack's
//!   `x-paystack-signature` is HMAC-SHA512 of the raw body with the secret key).
//! - [`timestamped_header`] / [`verify_timestamped`]: `t=<unix seconds>,<scheme>=<hex>` where the
//!   hex is HMAC-SHA256 of `"{t}.{body}"` — Stripe's `Stripe-Signature` with scheme `v1`,
//!   Fanvue's `X-Fanvue-Signature` with scheme `v0` — and its check with a tolerance.
//!
//! Comparisons are constant-time on exact bytes: a re-encoded (uppercase) signature is refused,
//! because the provider never produces one. What it does not do: key management, or parse any
//! body (signatures are over the raw bytes, which is exactly why a handler must keep them).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Lowercase hex SHA-512 of `parts` concatenated with nothing between them.
pub fn sha512_hex(parts: &[&str]) -> String {
    let mut hasher = Sha512::new();
    for p in parts {
        hasher.update(p.as_bytes());
    }
    lower_hex(&hasher.finalize())
}

/// Lowercase hex of `bytes`, as `hex::encode` gives it, two table reads a byte: the simulation
/// signs and checks every notification, so this runs about a hundred times a seed, and
/// `hex`'s encoder spends about twenty instructions a byte.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_else(|_| unreachable!("hex is ASCII"))
}

/// Lowercase hex HMAC-SHA256 of `message` keyed with `key`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(message);
    lower_hex(&mac.finalize().into_bytes())
}

/// Lowercase hex HMAC-SHA512 of `message` keyed with `key`.
pub fn hmac_sha512_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(message);
    lower_hex(&mac.finalize().into_bytes())
}

/// Whether `given` is exactly `expected`, in constant time for equal lengths.
pub fn hex_eq(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The signed payload of a timestamped scheme: `"{t}.{body}"`.
fn signed_payload(t_s: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("{t_s}.").into_bytes();
    msg.extend_from_slice(body);
    msg
}

/// The hex HMAC-SHA256 of `"{t_s}.{body}"` keyed with `secret`.
pub fn timestamped_signature(secret: &str, t_s: u64, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), &signed_payload(t_s, body))
}

/// `t=<t_s>,<scheme>=<hex>` (Stripe: scheme `v1`; Fanvue: `v0`).
pub fn timestamped_header(scheme: &str, secret: &str, t_s: u64, body: &[u8]) -> String {
    format!("t={t_s},{scheme}={}", timestamped_signature(secret, t_s, body))
}

/// Why a timestamped signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("no timestamp in the signature header")]
    NoTimestamp,
    #[error("no {0} signature in the signature header")]
    NoSignature(String),
    #[error("no signature matches the body")]
    Mismatch,
    #[error("timestamp {t_s} is {age_s} s from now ({now_s}), beyond the tolerance of {tolerance_s} s")]
    OutsideTolerance { t_s: u64, now_s: u64, age_s: u64, tolerance_s: u64 },
}

/// Checks a `t=…,<scheme>=…` header against `body` and `secret`, as Stripe's libraries do: any
/// of several `<scheme>=` entries may match, other schemes are ignored, and with a tolerance
/// above 0 the timestamp may be at most `tolerance_s` seconds older than `now_s`.
pub fn verify_timestamped(
    header: &str,
    scheme: &str,
    secret: &str,
    body: &[u8],
    now_s: u64,
    tolerance_s: u64,
) -> Result<u64, SignatureError> {
    let mut t_s = None;
    let mut candidates = Vec::new();
    for item in header.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else { continue };
        if k == "t" {
            t_s = v.parse::<u64>().ok();
        } else if k == scheme {
            candidates.push(v);
        }
    }
    let t_s = t_s.ok_or(SignatureError::NoTimestamp)?;
    if candidates.is_empty() {
        return Err(SignatureError::NoSignature(scheme.to_string()));
    }
    let expected = timestamped_signature(secret, t_s, body);
    if !candidates.iter().any(|c| hex_eq(&expected, c)) {
        return Err(SignatureError::Mismatch);
    }
    let age_s = now_s.saturating_sub(t_s);
    if tolerance_s > 0 && age_s > tolerance_s {
        return Err(SignatureError::OutsideTolerance { t_s, now_s, age_s, tolerance_s });
    }
    Ok(t_s)
}

#[cfg(test)]
mod tests;
