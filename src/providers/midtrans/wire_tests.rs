//! Unit tests for the Midtrans wire model: signatures, notification parsing,
//! amount and time encodings, the status machine and the retry policy.
//!
//! Expected signatures and times were computed outside Rust with standard
//! command-line tools (the exact command is next to each value), so these tests
//! check our code against an independent implementation, not against itself.
//! They do NOT test delivery, timing or the application's handling of
//! notifications; those live with the simulator.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::notification::{
    self, Notification, NotificationParams, format_gross_amount, format_time, parse_gross_amount, signature_key,
    verify_signature,
};
use super::retry::{DeliveryOutcome, MAX_RETRIES, RetryPolicy, is_success, retries_allowed};
use super::status::{
    FraudStatus, PaymentType, TransactionStatus, TransactionStatus as S, is_paid, status_code, status_message,
};

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

/// `printf '%s' 'ORDER-1012001000.00SB-Mid-server-abc' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_ORDER_101: &str = "6c4cbe361a6eaba76b55503bbd51c8e00d7c44044b2eb83e42db69a31c1b67b40f148ad7e1d3c1b7280c43c8b5fc4a2cf3693519f1389586b2ae03ff88fe7c98";

/// `printf '%s' 'ORD-2024-07-15-00042-x9200999999999999.99SB-Mid-server-TvgWB_Y9s81-rbMBH7zZ8BHW' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_BIG_AMOUNT: &str = "7e7b988c5019ce7dd25d68eb3a240a1608f1ea8ea0f789ec33e42a06a756397a330e74e1db1e591e2f55efeac091879a0529be0db1bb4bb770d32d8e7bd0029f";

/// `printf '%s' 'SANDBOX-G710367688-806201150000.00VT-server-HJMpl9HLr_ntOKt5mRONdmKj' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_PENDING: &str = "e6d08c70643af2a6fd632e686929d2fe50448d9cde98341806ad11325006d6f84e518c6ea439b9a59270a87aa9fc0a17b87d9c3bc7f40633ee739cd3be8e4e00";

/// `printf '%s' 'order_3201100.00SB-Mid-server-abc' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_ORDER_3: &str = "4f762e72f8a975c861096ee8d758da703f25369ad9aee740ba665ab1fb88395201748c48379e9f2e7e62082844b144292cbe8a9ca8230698be5209b250616772";

/// `printf '%s' 'SANDBOX-G812785002-VA-1700048713200105000.00SB-Mid-server-TvgWB_Y9s81-rbMBH7zZ8BHW' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_VA_SAMPLE: &str = "ea7818063e6dd64faf209626b343d6e54bbd6e2453aefa92eee23e41d343c5fcf41a3c713e950761bdd83f6607e2fa1925499ab648c07fcb4ff935e53d297c88";

/// `printf '%s' 'ORD-2024-07-15-00042-x92002500000.00SB-Mid-server-TvgWB_Y9s81-rbMBH7zZ8BHW' | sha512sum`
/// (and identically `| openssl dgst -sha512`).
const SIG_CARD_SAMPLE: &str = "98a144c45fbb7ccfe159cd7b9c94d59351479e2495c2b7cd5df04e34471ef80d7e096c2b8ca18203687ee87e56f3f8f1d7de80b5fb05e7a09f2bf1e3fc3f9513";

const LONG_KEY: &str = "SB-Mid-server-TvgWB_Y9s81-rbMBH7zZ8BHW";

#[test]
fn signature_matches_sha512sum_vectors() {
    assert_eq!(signature_key("ORDER-101", "200", "1000.00", "SB-Mid-server-abc"), SIG_ORDER_101);
    assert_eq!(signature_key("ORD-2024-07-15-00042-x9", "200", "999999999999.99", LONG_KEY), SIG_BIG_AMOUNT);
    assert_eq!(
        signature_key("SANDBOX-G710367688-806", "201", "150000.00", "VT-server-HJMpl9HLr_ntOKt5mRONdmKj"),
        SIG_PENDING
    );
    assert_eq!(signature_key("order_3", "201", "100.00", "SB-Mid-server-abc"), SIG_ORDER_3);
}

#[test]
fn signature_is_lowercase_hex_of_sha512_length() {
    let sig = signature_key("A", "200", "1.00", "k");
    assert_eq!(sig.len(), 128);
    assert!(sig.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

#[test]
fn signature_uses_exact_strings_not_amount_values() {
    // Same amount, different strings: different signatures. This is why
    // verification must use the body's own strings.
    let two_decimals = signature_key("ORDER-101", "200", "1000.00", "SB-Mid-server-abc");
    let no_decimals = signature_key("ORDER-101", "200", "1000", "SB-Mid-server-abc");
    assert_ne!(two_decimals, no_decimals);
    assert_eq!(two_decimals, SIG_ORDER_101);
}

fn order_101_notification() -> Notification {
    notification::build(NotificationParams {
        order_id: "ORDER-101",
        transaction_id: "tx-101",
        status: TransactionStatus::Settlement,
        fraud: None,
        payment_type: PaymentType::BankTransfer,
        gross_amount_minor: 100_000,
        merchant_id: "G000000001",
        server_key: "SB-Mid-server-abc",
        transaction_time_ms: 1_721_030_400_000,
        settlement_time_ms: Some(1_721_030_420_000),
    })
}

#[test]
fn build_signs_like_sha512sum() {
    let n = order_101_notification();
    assert_eq!(n.gross_amount, "1000.00");
    assert_eq!(n.status_code, "200");
    assert_eq!(n.signature_key, SIG_ORDER_101);
}

#[test]
fn build_fills_every_field_consistently() {
    let n = order_101_notification();
    assert_eq!(n.transaction_status, "settlement");
    assert_eq!(n.transaction_id, "tx-101");
    assert_eq!(n.status_message, "midtrans payment notification");
    assert_eq!(n.payment_type, "bank_transfer");
    assert_eq!(n.order_id, "ORDER-101");
    assert_eq!(n.merchant_id, "G000000001");
    assert_eq!(n.currency, "IDR");
    assert_eq!(n.fraud_status, None);
    // `date -u -d @$((1721030400 + 25200)) '+%F %T'` → 2024-07-15 15:00:00
    assert_eq!(n.transaction_time, "2024-07-15 15:00:00");
    assert_eq!(n.settlement_time.as_deref(), Some("2024-07-15 15:00:20"));
    assert!(n.extra.is_empty());
    assert!(verify_signature(&n, "SB-Mid-server-abc"));
    assert!(n.is_paid());
}

#[test]
fn build_card_capture_carries_fraud_status() {
    let n = notification::build(NotificationParams {
        order_id: "ORD-2024-07-15-00042-x9",
        transaction_id: "tx-card",
        status: TransactionStatus::Capture,
        fraud: Some(FraudStatus::Accept),
        payment_type: PaymentType::CreditCard,
        gross_amount_minor: 250_000_000,
        merchant_id: "G000000001",
        server_key: LONG_KEY,
        transaction_time_ms: 0,
        settlement_time_ms: None,
    });
    assert_eq!(n.gross_amount, "2500000.00");
    assert_eq!(n.signature_key, SIG_CARD_SAMPLE);
    assert_eq!(n.fraud_status.as_deref(), Some("accept"));
    assert_eq!(n.settlement_time, None);
    assert!(n.is_paid());
    // Absent optional fields are not serialised at all.
    let value = serde_json::to_value(&n).unwrap();
    assert!(value.get("settlement_time").is_none());
    assert_eq!(value["fraud_status"], "accept");
}

#[test]
fn build_status_codes_follow_status() {
    for status in TransactionStatus::ALL {
        let n = notification::build(NotificationParams {
            order_id: "o",
            transaction_id: "t",
            status,
            fraud: None,
            payment_type: PaymentType::Gopay,
            gross_amount_minor: 1,
            merchant_id: "m",
            server_key: "k",
            transaction_time_ms: 0,
            settlement_time_ms: None,
        });
        assert_eq!(n.status_code, status_code(status));
        assert_eq!(n.status(), Some(status));
        assert!(verify_signature(&n, "k"));
    }
}

#[test]
fn verify_accepts_right_key_only() {
    let n = order_101_notification();
    assert!(verify_signature(&n, "SB-Mid-server-abc"));
    assert!(!verify_signature(&n, "SB-Mid-server-abd"));
    assert!(!verify_signature(&n, ""));
    assert!(!verify_signature(&n, "SB-Mid-server-abc "));
}

#[test]
fn verify_rejects_tampered_amount() {
    let mut n = order_101_notification();
    n.gross_amount = "1000000.00".to_owned();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    // The same value written differently is also a tamper: the signature
    // covers the exact string.
    n.gross_amount = "1000.0".to_owned();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
}

#[test]
fn verify_rejects_tampered_status_code() {
    let mut n = order_101_notification();
    n.status_code = "201".to_owned();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
}

#[test]
fn verify_rejects_tampered_order_id() {
    let mut n = order_101_notification();
    n.order_id = "ORDER-102".to_owned();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
}

#[test]
fn verify_ignores_unsigned_fields() {
    // transaction_status is NOT signed by Midtrans; the signature cannot
    // protect it. This test documents that limit rather than endorsing it.
    let mut n = order_101_notification();
    n.transaction_status = "deny".to_owned();
    assert!(verify_signature(&n, "SB-Mid-server-abc"));
}

#[test]
fn verify_rejects_uppercase_hex() {
    // Decision: exact-bytes comparison. Midtrans sends lowercase hex, so an
    // uppercase signature was not produced by Midtrans.
    let mut n = order_101_notification();
    n.signature_key = SIG_ORDER_101.to_ascii_uppercase();
    assert_ne!(n.signature_key, SIG_ORDER_101);
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
}

#[test]
fn verify_rejects_empty_truncated_and_padded_signatures() {
    let mut n = order_101_notification();
    n.signature_key = String::new();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    n.signature_key = SIG_ORDER_101[..127].to_owned();
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    n.signature_key = format!("{SIG_ORDER_101}\n");
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    n.signature_key = format!("{SIG_ORDER_101}{SIG_ORDER_101}");
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    // One flipped nibble at the very end.
    n.signature_key = format!("{}9", &SIG_ORDER_101[..127]);
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
}

// ---------------------------------------------------------------------------
// Lenient parsing
// ---------------------------------------------------------------------------

/// Shape of a Midtrans bank-transfer (BCA VA) settlement notification as in
/// the Midtrans HTTP notification docs, with method-specific fields.
fn va_sample_json() -> Value {
    json!({
        "va_numbers": [{"va_number": "812785002530231", "bank": "bca"}],
        "transaction_time": "2023-11-15 18:45:13",
        "transaction_status": "settlement",
        "transaction_id": "513f1f01-c9da-474c-9fc9-d5c64364b709",
        "status_message": "midtrans payment notification",
        "status_code": "200",
        "signature_key": SIG_VA_SAMPLE,
        "settlement_time": "2023-11-15 22:45:13",
        "pdf_url": "https://app.sandbox.midtrans.com/snap/v1/transactions/3a8b/pdf",
        "payment_type": "bank_transfer",
        "payment_amounts": [],
        "order_id": "SANDBOX-G812785002-VA-1700048713",
        "merchant_id": "G812785002",
        "gross_amount": "105000.00",
        "fraud_status": "accept",
        "expiry_time": "2023-11-16 18:45:13",
        "currency": "IDR",
        "customer_details": {"first_name": "Budi", "phone": "+628123456789"},
        "acquirer": null
    })
}

#[test]
fn parses_real_looking_va_notification() {
    let n: Notification = serde_json::from_value(va_sample_json()).unwrap();
    assert_eq!(n.order_id, "SANDBOX-G812785002-VA-1700048713");
    assert_eq!(n.status(), Some(TransactionStatus::Settlement));
    assert_eq!(n.payment(), Some(PaymentType::BankTransfer));
    assert_eq!(n.fraud(), Some(FraudStatus::Accept));
    assert_eq!(n.gross_amount_minor(), Some(10_500_000));
    assert_eq!(n.settlement_time.as_deref(), Some("2023-11-15 22:45:13"));
    assert_eq!(n.currency, "IDR");
    assert!(n.is_paid());
    assert!(verify_signature(&n, LONG_KEY));
    assert!(!verify_signature(&n, "SB-Mid-server-abc"));
    // Unknown fields land in `extra`, named fields do not.
    let extra_keys: Vec<&str> = n.extra.keys().map(String::as_str).collect();
    assert_eq!(extra_keys, ["acquirer", "customer_details", "expiry_time", "payment_amounts", "pdf_url", "va_numbers"]);
    assert_eq!(n.extra["va_numbers"][0]["bank"], "bca");
}

#[test]
fn va_notification_round_trips_with_extra_fields() {
    let original = va_sample_json();
    let n: Notification = serde_json::from_value(original.clone()).unwrap();
    let text = serde_json::to_string(&n).unwrap();
    let reparsed: Notification = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, n);
    // Every field, known or unknown, survives byte-for-byte as JSON values.
    let reserialized: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reserialized, original);
}

#[test]
fn parses_card_capture_notification() {
    let body = format!(
        r#"{{
          "transaction_time": "2024-07-15 15:00:00",
          "transaction_status": "capture",
          "transaction_id": "57d5293c-e65f-4a29-95e4-5959c3fa335b",
          "status_message": "midtrans payment notification",
          "status_code": "200",
          "signature_key": "{SIG_CARD_SAMPLE}",
          "payment_type": "credit_card",
          "order_id": "ORD-2024-07-15-00042-x9",
          "merchant_id": "G000000001",
          "masked_card": "48111111-1114",
          "gross_amount": "2500000.00",
          "fraud_status": "challenge",
          "eci": "05",
          "currency": "IDR",
          "channel_response_message": "Approved",
          "channel_response_code": "00",
          "card_type": "credit",
          "bank": "bni",
          "approval_code": "1578569243927",
          "three_ds_version": "2"
        }}"#
    );
    let n: Notification = serde_json::from_str(&body).unwrap();
    assert_eq!(n.status(), Some(TransactionStatus::Capture));
    assert_eq!(n.fraud(), Some(FraudStatus::Challenge));
    assert!(!n.is_paid(), "a challenged capture is not paid");
    assert_eq!(n.settlement_time, None);
    let extra_keys: Vec<&str> = n.extra.keys().map(String::as_str).collect();
    assert_eq!(
        extra_keys,
        [
            "approval_code",
            "bank",
            "card_type",
            "channel_response_code",
            "channel_response_message",
            "eci",
            "masked_card",
            "three_ds_version"
        ]
    );
    assert_eq!(n.extra["three_ds_version"], "2");
    assert!(verify_signature(&n, LONG_KEY));
}

#[test]
fn unknown_status_and_payment_type_still_parse() {
    let mut value = va_sample_json();
    value["transaction_status"] = json!("settlement_pending_review");
    value["payment_type"] = json!("paylater_2027");
    value["fraud_status"] = json!("maybe");
    let n: Notification = serde_json::from_value(value).unwrap();
    assert_eq!(n.status(), None);
    assert_eq!(n.payment(), None);
    assert_eq!(n.fraud(), None);
    assert!(!n.is_paid());
    // The signature does not cover these fields, so it still verifies.
    assert!(verify_signature(&n, LONG_KEY));
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let n: Notification = serde_json::from_value(json!({
        "order_id": "o",
        "status_code": "201",
        "gross_amount": "1.00",
        "signature_key": "x",
        "transaction_status": "pending",
        "transaction_id": null,
        "fraud_status": null,
        "settlement_time": null
    }))
    .unwrap();
    assert_eq!(n.transaction_id, "");
    assert_eq!(n.transaction_time, "");
    assert_eq!(n.merchant_id, "");
    assert_eq!(n.currency, "");
    assert_eq!(n.fraud_status, None);
    assert_eq!(n.settlement_time, None);
    assert!(n.extra.is_empty());
}

#[test]
fn missing_required_field_is_an_error() {
    for field in ["order_id", "status_code", "gross_amount", "signature_key", "transaction_status"] {
        let mut value = va_sample_json();
        assert!(value.as_object_mut().unwrap().remove(field).is_some());
        let result = serde_json::from_value::<Notification>(value);
        assert!(result.is_err(), "missing {field} must fail");
    }
}

#[test]
fn missing_optional_field_is_fine() {
    for field in [
        "transaction_time",
        "transaction_id",
        "status_message",
        "payment_type",
        "merchant_id",
        "fraud_status",
        "currency",
        "settlement_time",
    ] {
        let mut value = va_sample_json();
        assert!(value.as_object_mut().unwrap().remove(field).is_some());
        let result = serde_json::from_value::<Notification>(value);
        assert!(result.is_ok(), "missing {field} must parse");
    }
}

#[test]
fn amount_sent_as_number_is_an_error() {
    // The signature covers the exact string; a number has no exact string.
    let mut value = va_sample_json();
    value["gross_amount"] = json!(105_000.0);
    assert!(serde_json::from_value::<Notification>(value).is_err());
}

// ---------------------------------------------------------------------------
// Status machine
// ---------------------------------------------------------------------------

/// The complete list of allowed transitions: PROVIDERS.md plus the documented
/// additions (`pending → capture/authorize/failure`, `settlement → deny`,
/// `partial_refund → partial_refund`).
const LEGAL: &[(TransactionStatus, TransactionStatus)] = &[
    (S::Pending, S::Settlement),
    (S::Pending, S::Expire),
    (S::Pending, S::Cancel),
    (S::Pending, S::Deny),
    (S::Pending, S::Capture),
    (S::Pending, S::Authorize),
    (S::Pending, S::Failure),
    (S::Authorize, S::Capture),
    (S::Authorize, S::Deny),
    (S::Authorize, S::Cancel),
    (S::Authorize, S::Expire),
    (S::Capture, S::Settlement),
    (S::Capture, S::Cancel),
    (S::Settlement, S::Refund),
    (S::Settlement, S::PartialRefund),
    (S::Settlement, S::Chargeback),
    (S::Settlement, S::PartialChargeback),
    (S::Settlement, S::Deny),
    (S::PartialRefund, S::Refund),
    (S::PartialRefund, S::PartialRefund),
    (S::PartialChargeback, S::Chargeback),
];

#[test]
fn every_listed_transition_is_allowed() {
    for &(from, to) in LEGAL {
        assert!(from.can_transition_to(to), "{from:?} -> {to:?}");
    }
}

#[test]
fn nothing_outside_the_list_is_allowed() {
    let legal: BTreeSet<_> = LEGAL.iter().copied().collect();
    assert_eq!(legal.len(), LEGAL.len(), "LEGAL has duplicates");
    let mut allowed_count = 0;
    for from in TransactionStatus::ALL {
        for to in TransactionStatus::ALL {
            let allowed = from.can_transition_to(to);
            assert_eq!(allowed, legal.contains(&(from, to)), "{from:?} -> {to:?}");
            allowed_count += usize::from(allowed);
        }
    }
    assert_eq!(allowed_count, 21);
}

#[test]
fn only_partial_refund_loops() {
    for status in TransactionStatus::ALL {
        let loops = status.can_transition_to(status);
        assert_eq!(loops, status == S::PartialRefund, "{status:?}");
    }
}

#[test]
fn terminal_states_have_no_outgoing_transitions() {
    let terminal: Vec<_> = TransactionStatus::ALL.into_iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal, [S::Deny, S::Cancel, S::Expire, S::Failure, S::Refund, S::Chargeback]);
    for from in TransactionStatus::ALL {
        let has_outgoing = TransactionStatus::ALL.into_iter().any(|to| from.can_transition_to(to));
        // Terminal exactly when there is no way out.
        assert_eq!(from.is_terminal(), !has_outgoing, "{from:?}");
    }
}

#[test]
fn settlement_is_not_terminal_and_can_reverse_to_deny() {
    assert!(!S::Settlement.is_terminal());
    assert!(S::Settlement.can_transition_to(S::Deny));
    assert!(!S::Settlement.can_transition_to(S::Pending));
    assert!(!S::Settlement.can_transition_to(S::Capture));
    assert!(!S::Deny.can_transition_to(S::Settlement));
}

#[test]
fn every_status_is_reachable_from_pending() {
    // Bounded breadth-first search: at most ALL.len() rounds.
    let mut reached = BTreeSet::from([S::Pending]);
    for _ in 0..TransactionStatus::ALL.len() {
        let next: Vec<_> = reached
            .iter()
            .flat_map(|&from| TransactionStatus::ALL.into_iter().filter(move |&to| from.can_transition_to(to)))
            .collect();
        reached.extend(next);
    }
    assert_eq!(reached.len(), TransactionStatus::ALL.len());
}

#[test]
fn status_wire_names_round_trip() {
    let names: BTreeSet<_> = TransactionStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names.len(), 12);
    for status in TransactionStatus::ALL {
        assert_eq!(TransactionStatus::parse(status.as_str()), Some(status));
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        let back: TransactionStatus = serde_json::from_value(json!(status.as_str())).unwrap();
        assert_eq!(back, status);
    }
    assert_eq!(S::PartialRefund.as_str(), "partial_refund");
    assert_eq!(S::PartialChargeback.as_str(), "partial_chargeback");
    assert_eq!(TransactionStatus::parse("Settlement"), None);
    assert_eq!(TransactionStatus::parse("settlement "), None);
    assert_eq!(TransactionStatus::parse(""), None);
    assert_eq!(TransactionStatus::parse("partial-refund"), None);
}

#[test]
fn fraud_wire_names_round_trip() {
    for fraud in FraudStatus::ALL {
        assert_eq!(FraudStatus::parse(fraud.as_str()), Some(fraud));
        assert_eq!(serde_json::to_value(fraud).unwrap(), fraud.as_str());
    }
    assert_eq!(FraudStatus::Accept.as_str(), "accept");
    assert_eq!(FraudStatus::Challenge.as_str(), "challenge");
    assert_eq!(FraudStatus::Deny.as_str(), "deny");
    assert_eq!(FraudStatus::parse("ACCEPT"), None);
    assert_eq!(FraudStatus::parse(""), None);
}

#[test]
fn is_paid_truth_table() {
    let frauds = [None, Some(FraudStatus::Accept), Some(FraudStatus::Challenge), Some(FraudStatus::Deny)];
    for status in TransactionStatus::ALL {
        for fraud in frauds {
            let expected = match status {
                S::Settlement => true,
                S::Capture => fraud == Some(FraudStatus::Accept),
                _ => false,
            };
            assert_eq!(is_paid(status, fraud), expected, "{status:?} {fraud:?}");
        }
    }
    // The cases that matter most, spelled out.
    assert!(is_paid(S::Settlement, None));
    assert!(is_paid(S::Capture, Some(FraudStatus::Accept)));
    assert!(!is_paid(S::Capture, None));
    assert!(!is_paid(S::Capture, Some(FraudStatus::Challenge)));
    assert!(!is_paid(S::Refund, None));
    assert!(!is_paid(S::PartialRefund, None));
    assert!(!is_paid(S::Chargeback, Some(FraudStatus::Accept)));
    assert!(!is_paid(S::Pending, Some(FraudStatus::Accept)));
    assert!(!is_paid(S::Authorize, Some(FraudStatus::Accept)));
}

#[test]
fn status_code_table() {
    for status in [S::Capture, S::Settlement, S::Refund, S::PartialRefund, S::Chargeback, S::PartialChargeback] {
        assert_eq!(status_code(status), "200", "{status:?}");
    }
    for status in [S::Pending, S::Authorize] {
        assert_eq!(status_code(status), "201", "{status:?}");
    }
    for status in [S::Deny, S::Cancel, S::Expire, S::Failure] {
        assert_eq!(status_code(status), "202", "{status:?}");
    }
    for status in TransactionStatus::ALL {
        assert_eq!(status_message(status), "midtrans payment notification");
    }
}

#[test]
fn payment_type_table() {
    let names: Vec<_> = PaymentType::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["credit_card", "bank_transfer", "echannel", "gopay", "qris", "cstore"]);
    for payment_type in PaymentType::ALL {
        assert_eq!(PaymentType::parse(payment_type.as_str()), Some(payment_type));
        assert_eq!(serde_json::to_value(payment_type).unwrap(), payment_type.as_str());
        assert_eq!(payment_type.has_fraud_status(), payment_type.is_card());
        assert!(payment_type.default_expiry_ms() > 0);
    }
    assert_eq!(PaymentType::parse("CreditCard"), None);
    assert_eq!(PaymentType::CreditCard.default_expiry_ms(), 600_000);
    assert_eq!(PaymentType::BankTransfer.default_expiry_ms(), 86_400_000);
    assert_eq!(PaymentType::Echannel.default_expiry_ms(), 86_400_000);
    assert_eq!(PaymentType::Gopay.default_expiry_ms(), 900_000);
    assert_eq!(PaymentType::Qris.default_expiry_ms(), 900_000);
    assert_eq!(PaymentType::Cstore.default_expiry_ms(), 86_400_000);
    assert!(PaymentType::CreditCard.is_card());
    assert!(!PaymentType::Gopay.is_card());
    let reversible: Vec<_> = PaymentType::ALL.into_iter().filter(|p| p.can_reverse_settlement()).collect();
    assert_eq!(reversible, [PaymentType::BankTransfer, PaymentType::Echannel]);
}

// ---------------------------------------------------------------------------
// Amounts and times
// ---------------------------------------------------------------------------

#[test]
fn format_gross_amount_cases() {
    assert_eq!(format_gross_amount(0), "0.00");
    assert_eq!(format_gross_amount(1), "0.01");
    assert_eq!(format_gross_amount(10), "0.10");
    assert_eq!(format_gross_amount(100), "1.00");
    assert_eq!(format_gross_amount(1_000_000), "10000.00");
    assert_eq!(format_gross_amount(1_000_050), "10000.50");
    assert_eq!(format_gross_amount(99_999_999_999_999), "999999999999.99");
    assert_eq!(format_gross_amount(i64::MAX), "92233720368547758.07");
    // Negative input is a caller bug but stays deterministic.
    assert_eq!(format_gross_amount(-150), "-1.50");
    assert_eq!(format_gross_amount(i64::MIN), "-92233720368547758.08");
}

#[test]
fn parse_gross_amount_accepts() {
    assert_eq!(parse_gross_amount("10000.00"), Some(1_000_000));
    assert_eq!(parse_gross_amount("10000"), Some(1_000_000));
    assert_eq!(parse_gross_amount("10000.5"), Some(1_000_050));
    assert_eq!(parse_gross_amount("10000.05"), Some(1_000_005));
    assert_eq!(parse_gross_amount("0"), Some(0));
    assert_eq!(parse_gross_amount("0.01"), Some(1));
    assert_eq!(parse_gross_amount("007.00"), Some(700));
    assert_eq!(parse_gross_amount("92233720368547758.07"), Some(i64::MAX));
}

#[test]
fn parse_gross_amount_rejects() {
    for bad in [
        "",
        ".",
        ".50",
        "10000.",
        "10000.001",
        "10000.000",
        "-1.00",
        "+1.00",
        " 1.00",
        "1.00 ",
        "1,000.00",
        "1.0.0",
        "1e3",
        "abc",
        "NaN",
        "1.-5",
        "1.+5",
        "１.00",
        "92233720368547758.08",
        "92233720368547759",
        "99999999999999999999999.00",
    ] {
        assert_eq!(parse_gross_amount(bad), None, "{bad:?}");
    }
}

#[test]
fn gross_amount_round_trips_at_edges() {
    for x in [0, 1, 9, 10, 99, 100, 101, 1_000_000, i64::MAX - 1, i64::MAX] {
        assert_eq!(parse_gross_amount(&format_gross_amount(x)), Some(x), "{x}");
    }
    assert_eq!(parse_gross_amount(&format_gross_amount(-1)), None);
}

proptest! {
    /// Property: for every non-negative amount, parsing the formatted string
    /// gives the amount back.
    #[test]
    fn gross_amount_print_then_parse(x in 0..=i64::MAX) {
        prop_assert_eq!(parse_gross_amount(&format_gross_amount(x)), Some(x));
    }

    /// Property: parsing never panics, never yields a negative amount, and
    /// whatever it accepts formats back to the same value.
    #[test]
    fn gross_amount_parse_is_total(s in "[-+0-9. a-z]{0,24}") {
        if let Some(x) = parse_gross_amount(&s) {
            prop_assert!(x >= 0);
            prop_assert_eq!(parse_gross_amount(&format_gross_amount(x)), Some(x));
        }
    }
}

#[test]
fn format_time_known_instants() {
    // Each expected value: `date -u -d @$((SECONDS + 25200)) '+%Y-%m-%d %H:%M:%S'`.
    let cases: [(u64, &str); 7] = [
        (0, "1970-01-01 07:00:00"),
        (1_721_030_400, "2024-07-15 15:00:00"),
        // 2024-02-29 17:00:00 UTC: a leap day rolling into March in Jakarta.
        (1_709_226_000, "2024-03-01 00:00:00"),
        // 2023-12-31 17:30:15 UTC: New Year in Jakarta.
        (1_704_043_815, "2024-01-01 00:30:15"),
        // 2000-02-29: a leap day in a year divisible by 400.
        (951_782_400, "2000-02-29 07:00:00"),
        (1_600_000_000, "2020-09-13 19:26:40"),
        // 2099-12-31 23:59:59 UTC: 2100 is not a leap year.
        (4_102_444_799, "2100-01-01 06:59:59"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(format_time(seconds * 1000), expected, "{seconds}");
    }
}

#[test]
fn format_time_truncates_milliseconds() {
    assert_eq!(format_time(999), "1970-01-01 07:00:00");
    assert_eq!(format_time(1_000), "1970-01-01 07:00:01");
    assert_eq!(format_time(1_721_030_400_999), "2024-07-15 15:00:00");
}

#[test]
fn format_time_does_not_panic_at_the_edge() {
    // Time of day from `python3 -c 'print(divmod((2**64 - 1) // 1000 + 25200, 86400))'`:
    // second 77151 of the day, i.e. 21:25:51.
    let text = format_time(u64::MAX);
    assert!(text.ends_with(" 21:25:51"), "{text}");
}

#[test]
fn amounts_and_times_are_written_as_format_would() {
    // Both are written digit by digit; `format!` is the reference for their padding.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Small and large magnitudes alike.
        let v = (x >> (i % 64)) as i64 * if i % 3 == 0 { -1 } else { 1 };
        let m = v.unsigned_abs();
        let sign = if v < 0 { "-" } else { "" };
        assert_eq!(format_gross_amount(v), format!("{sign}{}.{:02}", m / 100, m % 100));
        let ms = x >> (i % 24);
        let local_s = ms / 1000 + 7 * 3600;
        let (y, mo, d) = crate::sim::calendar::civil_from_days((local_s / 86_400) as i64);
        let t = local_s % 86_400;
        let expected = format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", t / 3600, t % 3600 / 60, t % 60);
        assert_eq!(format_time(ms), expected, "{ms}");
    }
}

// ---------------------------------------------------------------------------
// Retry policy
// ---------------------------------------------------------------------------

#[test]
fn success_is_any_2xx_only() {
    for code in [200, 201, 202, 204, 299] {
        assert!(is_success(DeliveryOutcome::Status(code)), "{code}");
    }
    for code in [100, 199, 300, 301, 307, 400, 404, 500, 503] {
        assert!(!is_success(DeliveryOutcome::Status(code)), "{code}");
    }
    assert!(!is_success(DeliveryOutcome::Timeout));
    assert!(!is_success(DeliveryOutcome::ConnectionRefused));
}

#[test]
fn retry_budget_per_outcome() {
    let table: [(DeliveryOutcome, u32); 18] = [
        (DeliveryOutcome::Status(200), 0),
        (DeliveryOutcome::Status(204), 0),
        (DeliveryOutcome::Status(500), 1),
        (DeliveryOutcome::Status(503), 4),
        (DeliveryOutcome::Status(400), 2),
        (DeliveryOutcome::Status(404), 2),
        (DeliveryOutcome::Status(301), 0),
        (DeliveryOutcome::Status(302), 0),
        (DeliveryOutcome::Status(303), 0),
        (DeliveryOutcome::Status(307), 5),
        (DeliveryOutcome::Status(308), 5),
        (DeliveryOutcome::Status(304), 5),
        (DeliveryOutcome::Status(401), 5),
        (DeliveryOutcome::Status(429), 5),
        (DeliveryOutcome::Status(502), 5),
        (DeliveryOutcome::Status(504), 5),
        (DeliveryOutcome::Timeout, 5),
        (DeliveryOutcome::ConnectionRefused, 5),
    ];
    for (outcome, budget) in table {
        assert_eq!(retries_allowed(outcome), budget, "{outcome:?}");
        assert!(retries_allowed(outcome) <= MAX_RETRIES);
    }
}

/// Runs the schedule for an outcome that repeats on every attempt, with a
/// fixed jitter, and returns the delays until the policy stops.
fn schedule(policy: &RetryPolicy, outcome: DeliveryOutcome, jitter_ms: u64) -> Vec<u64> {
    let mut delays = Vec::new();
    // Bounded: no outcome allows more than MAX_RETRIES; one extra round
    // proves the policy stops on its own.
    for retries_done in 0..=MAX_RETRIES + 1 {
        match policy.next_delay_ms(outcome, retries_done, jitter_ms) {
            Some(delay) => delays.push(delay),
            None => break,
        }
    }
    delays
}

#[test]
fn default_policy_numbers() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.intervals_ms, [120_000, 600_000, 1_800_000, 5_400_000, 12_600_000]);
    assert_eq!(policy.jitter_ms_max, 30_000);
    assert_eq!(policy.timeout_ms, 15_000);
}

#[test]
fn timeout_schedule_is_exact() {
    let policy = RetryPolicy::default();
    assert_eq!(schedule(&policy, DeliveryOutcome::Timeout, 0), [120_000, 600_000, 1_800_000, 5_400_000, 12_600_000]);
    assert_eq!(
        schedule(&policy, DeliveryOutcome::ConnectionRefused, 0),
        [120_000, 600_000, 1_800_000, 5_400_000, 12_600_000]
    );
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Timeout, 5, 0), None);
}

#[test]
fn status_503_allows_exactly_four_retries() {
    let policy = RetryPolicy::default();
    let delays = schedule(&policy, DeliveryOutcome::Status(503), 0);
    assert_eq!(delays, [120_000, 600_000, 1_800_000, 5_400_000]);
    assert!(policy.next_delay_ms(DeliveryOutcome::Status(503), 3, 0).is_some());
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Status(503), 4, 0), None);
}

#[test]
fn schedules_per_code_class() {
    let policy = RetryPolicy::default();
    assert_eq!(schedule(&policy, DeliveryOutcome::Status(500), 0), [120_000]);
    assert_eq!(schedule(&policy, DeliveryOutcome::Status(400), 0), [120_000, 600_000]);
    assert_eq!(schedule(&policy, DeliveryOutcome::Status(404), 0), [120_000, 600_000]);
    for code in [301, 302, 303, 200, 201, 299] {
        assert!(schedule(&policy, DeliveryOutcome::Status(code), 0).is_empty(), "{code}");
    }
    // Redirects: immediate retries (delay = jitter only), at most five.
    for code in [307, 308] {
        assert_eq!(schedule(&policy, DeliveryOutcome::Status(code), 0), [0; 5], "{code}");
        assert_eq!(schedule(&policy, DeliveryOutcome::Status(code), 700), [700; 5], "{code}");
    }
}

#[test]
fn jitter_is_added_and_clamped() {
    let policy = RetryPolicy::default();
    let timeout = DeliveryOutcome::Timeout;
    assert_eq!(policy.next_delay_ms(timeout, 0, 1), Some(120_001));
    assert_eq!(policy.next_delay_ms(timeout, 0, 30_000), Some(150_000));
    assert_eq!(policy.next_delay_ms(timeout, 0, 30_001), Some(150_000));
    assert_eq!(policy.next_delay_ms(timeout, 4, u64::MAX), Some(12_630_000));
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Status(307), 0, u64::MAX), Some(30_000));
    let no_jitter = RetryPolicy { jitter_ms_max: 0, ..RetryPolicy::default() };
    assert_eq!(no_jitter.next_delay_ms(timeout, 1, 9_999), Some(600_000));
}

#[test]
fn budget_follows_latest_response() {
    let policy = RetryPolicy::default();
    // First attempt 503: retry after 2 m.
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Status(503), 0, 0), Some(120_000));
    // The retry answers 500, whose budget (1) is already spent: stop.
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Status(500), 1, 0), None);
    // Conversely a 500 then a timeout continues on the timeout's budget.
    assert_eq!(policy.next_delay_ms(DeliveryOutcome::Timeout, 1, 0), Some(600_000));
}

#[test]
fn short_interval_list_stops_early() {
    let policy = RetryPolicy { intervals_ms: vec![1_000, 2_000], ..RetryPolicy::default() };
    assert_eq!(schedule(&policy, DeliveryOutcome::Timeout, 0), [1_000, 2_000]);
    let empty = RetryPolicy { intervals_ms: Vec::new(), ..RetryPolicy::default() };
    assert!(schedule(&empty, DeliveryOutcome::Timeout, 0).is_empty());
    // Redirect retries do not use the interval list.
    assert_eq!(schedule(&empty, DeliveryOutcome::Status(308), 0), [0; 5]);
}

#[test]
fn classify_turns_slow_answers_into_timeouts() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.classify(200, 0), DeliveryOutcome::Status(200));
    assert_eq!(policy.classify(200, 15_000), DeliveryOutcome::Status(200));
    assert_eq!(policy.classify(200, 15_001), DeliveryOutcome::Timeout);
    assert_eq!(policy.classify(503, 60_000), DeliveryOutcome::Timeout);
}
