//! A notification written as JSON by hand ([`Notification::to_json`]): the bytes
//! `serde_json::to_string` writes for the same value, without serde's machinery.
//!
//! The simulated provider writes a body for every state an order reaches, and serde spent most of
//! that time checking each byte of each string for characters to escape. Here a string is checked
//! for the bytes JSON escapes (`"`, `\` and the control characters) over whole vectors, as the
//! plain reader checks what it reads, and copied whole when it has none, which is always so for what the provider builds. A value
//! with something to escape, or with `extra` fields, is handed to serde, so every byte written is
//! serde's either way; a differential test holds the two to the same output.
//!
//! What it does not do: write other shapes (a `serde_json::Value`, another format), or escape.

use super::Notification;

/// Whether serde_json writes `s` between quotes as it is: no `"`, and nothing else escaped (the
/// plain reader's own test, [`super::plain::unescaped`]).
fn verbatim(s: &str) -> bool {
    memchr::memchr(b'"', s.as_bytes()).is_none() && super::plain::unescaped(s.as_bytes())
}

impl Notification {
    /// The notification as compact JSON: exactly what `serde_json::to_string(self)` writes.
    pub fn to_json(&self) -> String {
        let fields: [(&str, Option<&str>); 13] = [
            ("transaction_time", Some(&self.transaction_time)),
            ("transaction_status", Some(&self.transaction_status)),
            ("transaction_id", Some(&self.transaction_id)),
            ("status_message", Some(&self.status_message)),
            ("status_code", Some(&self.status_code)),
            ("signature_key", Some(&self.signature_key)),
            ("payment_type", Some(&self.payment_type)),
            ("order_id", Some(&self.order_id)),
            ("merchant_id", Some(&self.merchant_id)),
            ("gross_amount", Some(&self.gross_amount)),
            // `skip_serializing_if = "Option::is_none"`: an absent verdict or time is left out.
            ("fraud_status", self.fraud_status.as_deref()),
            ("currency", Some(&self.currency)),
            ("settlement_time", self.settlement_time.as_deref()),
        ];
        if !self.extra.is_empty() || !fields.iter().all(|(_, v)| v.is_none_or(verbatim)) {
            return serde_json::to_string(self).unwrap_or_default();
        }
        let len: usize = fields.iter().map(|(k, v)| v.map_or(0, |v| k.len() + v.len() + 6)).sum();
        let mut out = String::with_capacity(len + 2);
        out.push('{');
        for (key, value) in fields {
            let Some(value) = value else { continue };
            if out.len() > 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(key);
            out.push_str("\":\"");
            out.push_str(value);
            out.push('"');
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::FIELDS;
    use super::*;

    /// Strings with every kind of byte serde treats apart: quotes, backslashes, control
    /// characters (those with short escapes and those without), DEL, `/` and non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z0-9 :.-]{0,12}",
            1 => proptest::collection::vec(
                prop_oneof![
                    Just('"'), Just('\\'), Just('\n'), Just('\t'), Just('\u{8}'), Just('\u{c}'),
                    Just('\r'), Just('\u{0}'), Just('\u{1f}'), Just('\u{7f}'), Just('/'), Just('é'),
                    Just('€'), Just('a'),
                ],
                0..6,
            )
            .prop_map(|cs| cs.into_iter().collect()),
        ]
    }

    fn notification() -> impl Strategy<Value = Notification> {
        (
            proptest::collection::vec(text(), 11),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::btree_map("[a-z_]{1,8}", text(), 0..3),
        )
            .prop_map(|(s, fraud_status, settlement_time, extra)| Notification {
                transaction_time: s[0].clone(),
                transaction_status: s[1].clone(),
                transaction_id: s[2].clone(),
                status_message: s[3].clone(),
                status_code: s[4].clone(),
                signature_key: s[5].clone(),
                payment_type: s[6].clone(),
                order_id: s[7].clone(),
                merchant_id: s[8].clone(),
                gross_amount: s[9].clone(),
                fraud_status,
                currency: s[10].clone(),
                settlement_time,
                extra: extra
                    .into_iter()
                    .filter(|(k, _)| !FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        #[test]
        fn writes_the_bytes_serde_writes(n in notification()) {
            prop_assert_eq!(n.to_json(), serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn writes_what_the_provider_builds_by_hand_and_reads_back() {
        let n = super::super::build(super::super::NotificationParams {
            order_id: "ORD-1",
            transaction_id: "tx-1",
            status: crate::providers::midtrans::status::TransactionStatus::Capture,
            fraud: Some(crate::providers::midtrans::status::FraudStatus::Accept),
            payment_type: crate::providers::midtrans::status::PaymentType::CreditCard,
            gross_amount_minor: 1_000_000,
            merchant_id: "M-1",
            server_key: "SB-Mid-server-x",
            transaction_time_ms: 1_700_000_000_000,
            settlement_time_ms: None,
        });
        let json = n.to_json();
        assert!(n.extra.is_empty() && json.contains(r#""fraud_status":"accept""#), "{json}");
        assert!(!json.contains("settlement_time"), "{json}");
        assert_eq!(json, serde_json::to_string(&n).unwrap());
        assert_eq!(Notification::from_json(json.as_bytes()).unwrap(), n);
    }
}
