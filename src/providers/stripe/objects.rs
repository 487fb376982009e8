//! Stripe's JSON: object ids, and the objects the simulated Stripe serves and sends — Checkout
//! Session, PaymentIntent, Charge, Refund, Event, list and error — with the fields and null
//! conventions of Stripe's OpenAPI fixtures (`openapi/fixtures3.json` in `stripe/openapi`),
//! trimmed to what a payment integration reads. Keys come out in alphabetical order, as Stripe
//! sends them; clients must not depend on the order anyway.
//!
//! Ids are random-looking and deterministic: a keyed hash of (kind, counter), in base 62, with
//! Stripe's prefixes and lengths (`cs_live_`+58, `pi_`+24, `ch_`+24, `re_`+24, `evt_`+24). They
//! are unique per run and NOT ordered, as Stripe's are not: never compare ids to find the newer.
//!
//! What it does not do: invoices, subscriptions, customers, tax, discounts, shipping; those
//! fields are left out or `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::status::{IntentStatus, PaymentStatus, SessionStatus};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` + `len` base-62 characters derived from (`kind`, `n`): unique per (kind, n).
pub fn object_id(prefix: &str, kind: &str, n: u64, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    let mut block = 0u32;
    while out.len() < prefix.len() + len {
        let digest = Sha256::digest(format!("settle-stripe|{kind}|{n}|{block}").as_bytes());
        for b in digest.iter() {
            // 62 × 4 = 248: bytes below it map without bias.
            if *b < 248 && out.len() < prefix.len() + len {
                out.push(BASE62[usize::from(*b % 62)] as char);
            }
        }
        block += 1;
    }
    out
}

/// The id in a trace: its prefix and first 8 characters.
pub fn short(id: &str) -> &str {
    let cut = id.rfind('_').map_or(0, |i| i + 1);
    &id[..(cut + 8).min(id.len())]
}

/// A Checkout Session as the API and events show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView<'a> {
    pub id: &'a str,
    pub livemode: bool,
    pub status: SessionStatus,
    pub payment_status: PaymentStatus,
    pub amount_total: i64,
    pub currency: &'a str,
    pub created_s: u64,
    pub expires_at_s: u64,
    pub payment_intent: Option<&'a str>,
    pub client_reference_id: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, String>,
    pub payment_method_types: &'a [String],
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
}

pub fn session_json(s: &SessionView<'_>) -> Value {
    let open = s.status == SessionStatus::Open;
    json!({
        "id": s.id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": s.amount_total,
        "amount_total": s.amount_total,
        "automatic_tax": {"enabled": false, "liability": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": s.cancel_url,
        "client_reference_id": s.client_reference_id,
        "client_secret": null,
        "created": s.created_s,
        "currency": s.currency,
        "customer": null,
        "customer_creation": "if_required",
        "customer_details": if s.status == SessionStatus::Complete {
            json!({"address": null, "email": s.customer_email, "name": null, "phone": null, "tax_exempt": "none", "tax_ids": []})
        } else { Value::Null },
        "customer_email": s.customer_email,
        "expires_at": s.expires_at_s,
        "invoice": null,
        "livemode": s.livemode,
        "locale": null,
        "metadata": s.metadata,
        "mode": "payment",
        "payment_intent": s.payment_intent,
        "payment_link": null,
        "payment_method_types": s.payment_method_types,
        "payment_status": s.payment_status.as_str(),
        "recovered_from": null,
        "setup_intent": null,
        "status": s.status.as_str(),
        "submit_type": null,
        "subscription": null,
        "success_url": s.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        // The hosted page's URL is null once the session is no longer open.
        "url": if open { Value::String(format!("https://checkout.stripe.com/c/pay/{}", s.id)) } else { Value::Null },
    })
}

/// A failed attempt's `last_payment_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentError {
    CardDeclined,
    /// A bank debit that bounced (insufficient funds).
    DebitFailed,
}

/// A PaymentIntent as the API and events show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentView<'a> {
    pub id: &'a str,
    pub livemode: bool,
    pub status: IntentStatus,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: &'a str,
    pub created_s: u64,
    pub canceled_at_s: Option<u64>,
    pub cancellation_reason: Option<&'a str>,
    pub last_payment_error: Option<PaymentError>,
    pub latest_charge: Option<&'a str>,
    pub payment_method: Option<&'a str>,
    pub payment_method_types: &'a [String],
    pub metadata: &'a BTreeMap<String, String>,
}

pub fn intent_json(p: &IntentView<'_>) -> Value {
    let error = p.last_payment_error.map(|e| match e {
        PaymentError::CardDeclined => json!({"code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "type": "card_error"}),
        PaymentError::DebitFailed => json!({"code": "insufficient_funds",
            "message": "The customer's account has insufficient funds to cover this payment.", "type": "card_error"}),
    });
    let next_action =
        (p.status == IntentStatus::RequiresAction).then(|| json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}}));
    json!({
        "id": p.id,
        "object": "payment_intent",
        "amount": p.amount,
        "amount_capturable": if p.status == IntentStatus::RequiresCapture { p.amount } else { 0 },
        "amount_received": p.amount_received,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": p.canceled_at_s,
        "cancellation_reason": p.cancellation_reason,
        "capture_method": "automatic_async",
        "client_secret": format!("{}_secret_{}", p.id, &object_id("", "secret", p.created_s, 25)),
        "confirmation_method": "automatic",
        "created": p.created_s,
        "currency": p.currency,
        "customer": null,
        "description": null,
        "last_payment_error": error,
        "latest_charge": p.latest_charge,
        "livemode": p.livemode,
        "metadata": p.metadata,
        "next_action": next_action,
        "on_behalf_of": null,
        "payment_method": p.payment_method,
        "payment_method_options": {},
        "payment_method_types": p.payment_method_types,
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": p.status.as_str(),
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// The charge of a succeeded PaymentIntent, as `charge.refunded` carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeView<'a> {
    pub id: &'a str,
    pub livemode: bool,
    pub payment_intent: &'a str,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: &'a str,
    pub created_s: u64,
    pub payment_method: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, String>,
}

pub fn charge_json(c: &ChargeView<'_>) -> Value {
    json!({
        "id": c.id,
        "object": "charge",
        "amount": c.amount,
        "amount_captured": c.amount,
        "amount_refunded": c.amount_refunded,
        "balance_transaction": null,
        "captured": true,
        "created": c.created_s,
        "currency": c.currency,
        "customer": null,
        "description": null,
        "disputed": false,
        "failure_code": null,
        "failure_message": null,
        "livemode": c.livemode,
        "metadata": c.metadata,
        "paid": true,
        "payment_intent": c.payment_intent,
        "payment_method": c.payment_method,
        "refunded": c.amount_refunded >= c.amount,
        "status": "succeeded",
    })
}

/// A refund, as the API and `refund.created` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub amount: i64,
    pub charge: String,
    pub payment_intent: String,
    pub currency: String,
    pub created_s: u64,
    pub created_ms: u64,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

pub fn refund_json(r: &RefundRecord) -> Value {
    json!({
        "id": r.id,
        "object": "refund",
        "amount": r.amount,
        "balance_transaction": null,
        "charge": r.charge,
        "created": r.created_s,
        "currency": r.currency,
        "metadata": r.metadata,
        "payment_intent": r.payment_intent,
        "reason": r.reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    })
}

/// An event as it is delivered and listed. `pending_webhooks` is what it was when the event was
/// created (one endpoint), as in the bytes Stripe signed.
pub fn event_json(id: &str, type_: &str, created_s: u64, livemode: bool, api_version: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": api_version,
        "created": created_s,
        "data": {"object": object},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": type_,
    })
}

/// A list page.
pub fn list_json(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

/// What an app reads from an event it receives: lenient, unknown fields ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    /// Epoch seconds: order events by this, never by id.
    pub created: u64,
    pub data: EventData,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// What an app reads from a Checkout Session: lenient, unknown fields ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub status: String,
    pub payment_status: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub expires_at: u64,
    pub created: u64,
}

/// What an app reads from a PaymentIntent: lenient, unknown fields ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    #[serde(default)]
    pub latest_charge: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub created: u64,
}

/// Stripe's error body: `{"error": {"type", "message", "code"?, "param"?}}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    pub status: u16,
    /// `invalid_request_error`, `api_error`, `idempotency_error`, `card_error`.
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "invalid_request_error",
            code: Some("parameter_invalid"),
            message: message.into(),
            param: Some(param.to_string()),
        }
    }

    pub fn missing(kind: &str, id: &str, param: &str) -> Self {
        ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            message: format!("No such {kind}: '{id}'"),
            param: Some(param.to_string()),
        }
    }

    pub fn state(code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status: 400, kind: "invalid_request_error", code: Some(code), message: message.into(), param: None }
    }

    pub fn json(&self) -> Value {
        let mut e = serde_json::Map::new();
        e.insert("type".into(), json!(self.kind));
        e.insert("message".into(), json!(self.message));
        if let Some(c) = self.code {
            e.insert("code".into(), json!(c));
        }
        if let Some(p) = &self.param {
            e.insert("param".into(), json!(p));
        }
        json!({ "error": e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_stripes_shape_and_are_unique() {
        let a = object_id("evt_", "event", 1, 24);
        assert_eq!(a.len(), 28);
        assert!(a.starts_with("evt_"));
        assert!(a[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let ids: std::collections::BTreeSet<String> = (0..2_000).map(|n| object_id("evt_", "event", n, 24)).collect();
        assert_eq!(ids.len(), 2_000);
        assert_eq!(object_id("cs_live_", "session", 7, 58).len(), 66);
        assert_ne!(object_id("pi_", "a", 1, 24)[3..], object_id("pi_", "b", 1, 24)[3..]);
        assert_eq!(short("cs_live_a1YS1URlnyQCN5f"), "cs_live_a1YS1URl");
        assert_eq!(short("evt_1PgafyB7WZ01"), "evt_1PgafyB7");
    }

    #[test]
    fn ids_are_not_in_creation_order() {
        // Stripe's ids are not ordered; neither are these: consecutive ids go up and down.
        let ids: Vec<String> = (0..50).map(|n| object_id("evt_", "event", n, 24)).collect();
        let ups = ids.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(ups > 5 && ups < 45, "{ups} of 49 pairs ascend");
    }

    #[test]
    fn errors_have_stripes_shape() {
        let e = ApiError::missing("checkout.session", "cs_x", "session");
        let v = e.json();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "resource_missing");
        assert_eq!(v["error"]["message"], "No such checkout.session: 'cs_x'");
        assert_eq!(e.status, 404);
    }
}
