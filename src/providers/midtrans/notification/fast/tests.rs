//! [`Notification::from_json`] against the derived parser, on bodies built to hit every branch:
//! each known field present, absent, `null`, of the wrong type or twice; unknown fields of every
//! JSON type, twice; escaped keys; bodies that are not objects or have trailing bytes.

use super::super::{Notification, NotificationParams, build};
use super::one_pass;
use crate::providers::midtrans::status::{PaymentType, TransactionStatus};

use super::super::FIELDS as KNOWN;

/// A small deterministic generator (xorshift64*), so a failure names its case number.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn value(&mut self, depth: u32) -> String {
        match self.below(if depth > 1 { 6 } else { 8 }) {
            0 | 1 => format!("\"v{}\\u00e9\\\"x\"", self.below(100)),
            2 => "null".into(),
            3 => self.below(1_000_000).to_string(),
            4 => "-1.5e3".into(),
            5 => "true".into(),
            6 => format!("[{}, {}]", self.value(depth + 1), self.value(depth + 1)),
            _ => format!("{{\"k\": {}}}", self.value(depth + 1)),
        }
    }

    fn body(&mut self) -> String {
        let mut fields = Vec::new();
        for name in KNOWN {
            // Mostly a string; now and then absent, null, another type, or twice.
            match self.below(40) {
                0 => {}
                1 => fields.push(format!("\"{name}\": null")),
                2 => fields.push(format!("\"{name}\": {}", self.value(0))),
                3 => {
                    fields.push(format!("\"{name}\": \"a\""));
                    fields.push(format!("\"{name}\": \"b\""));
                }
                _ => fields.push(format!("\"{name}\": \"{name}-{}\"", self.below(10))),
            }
        }
        for i in 0..self.below(4) {
            let v = self.value(0);
            fields.push(format!("\"extra_{i}\": {v}"));
            if self.below(4) == 0 {
                fields.push(format!("\"extra_{i}\": {}", self.value(0)));
            }
        }
        if self.below(10) == 0 {
            fields.push("\"order\\u005fid\": \"escaped\"".into());
        }
        // Shuffle.
        for i in (1..fields.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            fields.swap(i, j);
        }
        let body = format!("{{{}}}", fields.join(", "));
        match self.below(40) {
            0 => format!("{body} x"),
            1 => format!("[{body}]"),
            2 => "\"not an object\"".into(),
            3 => body[..body.len() / 2].to_string(),
            _ => body,
        }
    }
}

fn same(body: &str) {
    let fast = Notification::from_json(body.as_bytes()).map_err(|e| e.to_string());
    let derived = serde_json::from_slice::<Notification>(body.as_bytes()).map_err(|e| e.to_string());
    assert_eq!(fast, derived, "body: {body}");
}

#[test]
fn agrees_with_the_derived_parser_on_generated_bodies() {
    let mut g = Gen(0x5e77_1e00_0000_0001);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let body = g.body();
        same(&body);
        parsed += usize::from(one_pass(body.as_bytes()).is_ok());
    }
    // Both paths were exercised: bodies the one-pass read took, and refusals it handed over.
    assert!((2_000..18_000).contains(&parsed), "the one-pass read took {parsed} of 20,000 bodies");
}

#[test]
fn agrees_on_what_the_provider_sends() {
    let n = build(NotificationParams {
        order_id: "ORDER-1",
        transaction_id: "t-1",
        status: TransactionStatus::Settlement,
        fraud: None,
        payment_type: PaymentType::BankTransfer,
        gross_amount_minor: 1_000_000,
        merchant_id: "M1",
        server_key: "SB-Mid-server-abc",
        transaction_time_ms: 1_769_094_000_000,
        settlement_time_ms: Some(1_769_094_060_000),
    });
    let body = serde_json::to_vec(&n).expect("serializes");
    assert_eq!(super::super::plain::read(&body).as_ref(), Some(&n), "the provider's own bodies take the hand reader");
    assert_eq!(Notification::from_json(&body).expect("parses"), n);
    same(std::str::from_utf8(&body).expect("utf-8"));
}

#[test]
fn a_second_known_field_is_refused_with_the_derived_words() {
    let body = r#"{"order_id":"a","order_id":"b","transaction_status":"pending","status_code":"201","signature_key":"x","gross_amount":"1.00"}"#;
    same(body);
}
