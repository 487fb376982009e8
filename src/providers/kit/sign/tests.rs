//! The kit's signature helpers against vectors computed outside Rust with `openssl dgst` (the
//! exact command is next to each value), so the code is checked against an independent
//! implementation, not against itself.

use super::*;

/// `printf '%s' 'The quick brown fox jumps over the lazy dog' | openssl dgst -sha256 -hmac 'key'`
const HMAC256_FOX: &str = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";

/// `printf '%s' 'The quick brown fox jumps over the lazy dog' | openssl dgst -sha512 -hmac 'key'`
const HMAC512_FOX: &str = "b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a";

/// `printf '%s' '' | openssl dgst -sha256 -hmac 'whsec_empty'`
const HMAC256_EMPTY: &str = "88a9113905a9cad8b5c0a2d2867e58cb15f678035cb5de8e55f4a9300b5993bb";

/// Paystack's scheme, for later: HMAC-SHA512 of the raw body with the secret key.
/// `printf '%s' '{"event":"charge.success","data":{"reference":"ref-001","amount":500000}}' | openssl dgst -sha512 -hmac 'sk_test_settle'`
const PAYSTACK_BODY: &str = r#"{"event":"charge.success","data":{"reference":"ref-001","amount":500000}}"#;
const PAYSTACK_SIG: &str = "3f7dfd185b379423a4c53579a194d76a6448b1303c29a6b80947be4eaecc1ae9c8d12a263aa43f31f608ab624765adfbf6af314a21e6627347d0d58c983a2c89";

/// Stripe's scheme: `printf '%s' '1769094000.{"id":"evt_1","object":"event"}' | openssl dgst -sha256 -hmac 'whsec_settle_test'`
const STRIPE_BODY: &str = r#"{"id":"evt_1","object":"event"}"#;
const STRIPE_SIG: &str = "eb0c241288c762624e19a1ebd53a9e18346e8b6b13c5cc3cf081ec4d72f758f9";

/// Fanvue's scheme: `printf '%s' '1769094123.{"type":"payment.succeeded","id":"pay_1"}' | openssl dgst -sha256 -hmac 'fanvue-webhook-secret'`
const FANVUE_BODY: &str = r#"{"type":"payment.succeeded","id":"pay_1"}"#;
const FANVUE_SIG: &str = "cc41a319ee5381276ef3e7906df6bbf19695fcda569e9b6c3710f628d60e7388";

/// Midtrans's scheme: `printf '%s' 'ORDER-1012001000.00SB-Mid-server-abc' | openssl dgst -sha512`
const MIDTRANS_SIG: &str = "6c4cbe361a6eaba76b55503bbd51c8e00d7c44044b2eb83e42db69a31c1b67b40f148ad7e1d3c1b7280c43c8b5fc4a2cf3693519f1389586b2ae03ff88fe7c98";

#[test]
fn hmacs_match_openssl() {
    let fox = b"The quick brown fox jumps over the lazy dog";
    assert_eq!(hmac_sha256_hex(b"key", fox), HMAC256_FOX);
    assert_eq!(hmac_sha512_hex(b"key", fox), HMAC512_FOX);
    assert_eq!(hmac_sha256_hex(b"whsec_empty", b""), HMAC256_EMPTY);
    assert_eq!(hmac_sha512_hex(b"sk_test_settle", PAYSTACK_BODY.as_bytes()), PAYSTACK_SIG);
}

#[test]
fn sha512_concatenation_matches_openssl() {
    assert_eq!(sha512_hex(&["ORDER-101", "200", "1000.00", "SB-Mid-server-abc"]), MIDTRANS_SIG);
    // Where the parts are cut does not matter: only the concatenation is hashed.
    assert_eq!(sha512_hex(&["ORDER-1012001000.00SB-Mid-server-abc"]), MIDTRANS_SIG);
}

#[test]
fn timestamped_headers_match_openssl() {
    let stripe = timestamped_header("v1", "whsec_settle_test", 1_769_094_000, STRIPE_BODY.as_bytes());
    assert_eq!(stripe, format!("t=1769094000,v1={STRIPE_SIG}"));
    let fanvue = timestamped_header("v0", "fanvue-webhook-secret", 1_769_094_123, FANVUE_BODY.as_bytes());
    assert_eq!(fanvue, format!("t=1769094123,v0={FANVUE_SIG}"));
}

#[test]
fn verification_accepts_the_signed_body_within_tolerance() {
    let header = format!("t=1769094000,v1={STRIPE_SIG}");
    let body = STRIPE_BODY.as_bytes();
    assert_eq!(verify_timestamped(&header, "v1", "whsec_settle_test", body, 1_769_094_000, 300), Ok(1_769_094_000));
    assert_eq!(verify_timestamped(&header, "v1", "whsec_settle_test", body, 1_769_094_300, 300), Ok(1_769_094_000));
    // Tolerance 0 switches the age check off, as in Stripe's libraries.
    assert!(verify_timestamped(&header, "v1", "whsec_settle_test", body, 1_800_000_000, 0).is_ok());
}

#[test]
fn verification_refuses_forgeries() {
    let header = format!("t=1769094000,v1={STRIPE_SIG}");
    let body = STRIPE_BODY.as_bytes();
    let secret = "whsec_settle_test";
    let now = 1_769_094_010;
    assert_eq!(verify_timestamped(&header, "v1", "whsec_other", body, now, 300), Err(SignatureError::Mismatch));
    let edited = br#"{"id":"evt_2","object":"event"}"#;
    assert_eq!(verify_timestamped(&header, "v1", secret, edited, now, 300), Err(SignatureError::Mismatch));
    let late = verify_timestamped(&header, "v1", secret, body, 1_769_094_301, 300);
    assert!(matches!(late, Err(SignatureError::OutsideTolerance { age_s: 301, .. })), "{late:?}");
    // The timestamp is signed: moving it invalidates the signature.
    let moved = format!("t=1769094290,v1={STRIPE_SIG}");
    assert_eq!(verify_timestamped(&moved, "v1", secret, body, now, 300), Err(SignatureError::Mismatch));
    let upper = format!("t=1769094000,v1={}", STRIPE_SIG.to_uppercase());
    assert_eq!(verify_timestamped(&upper, "v1", secret, body, now, 300), Err(SignatureError::Mismatch));
    assert_eq!(
        verify_timestamped(&header, "v0", secret, body, now, 300),
        Err(SignatureError::NoSignature("v0".into()))
    );
    assert_eq!(verify_timestamped("v1=abc", "v1", secret, body, now, 300), Err(SignatureError::NoTimestamp));
}

#[test]
fn any_of_several_signatures_may_match() {
    let header = format!("t=1769094000,v1=00,v0=ff,v1={STRIPE_SIG}");
    assert!(verify_timestamped(&header, "v1", "whsec_settle_test", STRIPE_BODY.as_bytes(), 1_769_094_000, 300).is_ok());
}

#[test]
fn hex_is_what_the_hex_crate_writes_for_every_byte() {
    let every: Vec<u8> = (0..=255).collect();
    assert_eq!(lower_hex(&every), hex::encode(&every));
    assert_eq!(lower_hex(&[]), "");
}
