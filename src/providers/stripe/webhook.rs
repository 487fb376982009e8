//! `Stripe-Signature` for the receiving side: verification as Stripe's libraries do it
//! (`Webhook.constructEvent`: HMAC-SHA256 of `"{t}.{raw body}"` with the endpoint secret, any of
//! several `v1=` entries, a 300-second tolerance against the receiver's own clock), so an app
//! written on settle's library checks deliveries exactly as a real integration would. Signing
//! is the kit's [`timestamped_header`](crate::providers::kit::sign::timestamped_header) with
//! scheme `v1`, done by the provider per delivery attempt.
//!
//! What it does not do: parse the event (see [`super::objects::Event`]); a handler must verify
//! the raw bytes before parsing them.

use crate::providers::kit::sign::{self, SignatureError};

/// Stripe's default tolerance, in seconds.
pub const TOLERANCE_S: u64 = 300;

/// The `Stripe-Signature` header for `body` signed at `t_s` (Unix seconds).
pub fn signature_header(secret: &str, t_s: u64, body: &[u8]) -> String {
    sign::timestamped_header("v1", secret, t_s, body)
}

/// Verifies a delivery as `stripe.webhooks.constructEvent(body, header, secret)` does, with the
/// receiver's clock at `now_s`. Returns the signed timestamp.
pub fn verify(header: &str, body: &[u8], secret: &str, now_s: u64) -> Result<u64, SignatureError> {
    sign::verify_timestamped(header, "v1", secret, body, now_s, TOLERANCE_S)
}
