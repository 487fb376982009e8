//! Midtrans's Core API charge (`POST /v2/charge`) over settle's model, for every transport that
//! serves it: the request names the payment method (`payment_type`), so the transaction is
//! `pending` at once and its `pending` notification goes out; the answer is the transaction's
//! status body with `status_code` "201", as Midtrans's Core API answers a created charge (HTTP
//! 200, the code in the body).
//!
//! Accepted methods: `bank_transfer`, `echannel`, `gopay`, `qris`, `cstore`. A `credit_card`
//! charge needs a card token from Midtrans.js, which settle does not serve: it is refused with a
//! 400 that says so.
//!
//! What it does not do: open the customer's page (the transports drive customers their own way),
//! serve the route, or model method-specific answer fields (`va_numbers`, `actions` with GoPay's
//! deeplink, `payment_code`): a service that reads them gets none.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::snap::{Created, checked};
use crate::providers::midtrans::Midtrans;
use crate::providers::midtrans::status::PaymentType;

#[derive(Deserialize)]
struct CoreBody {
    payment_type: Option<String>,
}

/// The Core API's error body: `{"status_code", "status_message"}`, the code also as HTTP status.
fn core_error(code: StatusCode, message: &str) -> (StatusCode, String) {
    (code, serde_json::json!({ "status_code": code.as_u16().to_string(), "status_message": message }).to_string())
}

/// Checks the request as Midtrans does and creates a charge that is pending at once.
pub fn charge(provider: &Midtrans, headers: &HeaderMap, body: &[u8]) -> Result<Created, (StatusCode, String)> {
    let (order_id, minor) = checked(provider, headers, body, core_error)?;
    let named = serde_json::from_slice::<CoreBody>(body).ok().and_then(|b| b.payment_type).unwrap_or_default();
    let method = match PaymentType::parse(&named) {
        Some(PaymentType::CreditCard) => {
            return Err(core_error(
                StatusCode::BAD_REQUEST,
                "credit_card needs a token_id from Midtrans.js, which settle does not serve; \
                 use bank_transfer, echannel, gopay, qris or cstore",
            ));
        }
        Some(m) => m,
        None => {
            return Err(core_error(
                StatusCode::BAD_REQUEST,
                &format!("payment_type {named:?} is not one of bank_transfer, echannel, gopay, qris, cstore"),
            ));
        }
    };
    let transaction_id = provider.create_direct_charge(&order_id, minor, method);
    Ok(Created { order_id, transaction_id })
}

/// The answer to a created charge: the transaction's status body, `status_code` "201".
pub fn answer(provider: &Midtrans, created: &Created) -> (StatusCode, String) {
    let Some(n) = provider.current_status(&created.order_id) else {
        return core_error(StatusCode::INTERNAL_SERVER_ERROR, "the charge has no status");
    };
    let mut body = serde_json::to_value(&n).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.remove("signature_key");
        o.insert("status_code".into(), "201".into());
        let method = n.payment_type.replace('_', " ");
        o.insert("status_message".into(), format!("Success, {method} transaction is created").into());
    }
    (StatusCode::OK, body.to_string())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::{answer, charge};
    use crate::providers::midtrans::{Midtrans, ProviderConfig};
    use crate::sim::{Millis, NetConfig, Oracle, Range, Sim, SimConfig};

    fn config() -> SimConfig {
        SimConfig {
            record: true,
            safety: Millis::h(1),
            liveness: Millis::s(600),
            epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
            net: NetConfig { latency: Range::fixed(Millis(5)), ..NetConfig::default() },
            crashes: Default::default(),
            notes: Vec::new(),
            tap: None,
        }
    }

    fn headers(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, Midtrans::basic_auth(key).parse().unwrap());
        h
    }

    fn body(payment_type: &str, order: &str) -> Vec<u8> {
        format!(
            r#"{{"payment_type": "{payment_type}", "transaction_details": {{"order_id": "{order}", "gross_amount": 44000}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_charge_is_pending_at_once_and_answers_201_in_its_body_without_a_signature() {
        let out = Sim::run(config(), Oracle::random(1), |sim| async move {
            let m =
                Midtrans::start(&sim, ProviderConfig { notify_actor: "nobody".into(), ..ProviderConfig::default() });
            let key = m.config().server_key.clone();
            let created = charge(&m, &headers(&key), &body("bank_transfer", "ORD-1")).unwrap();
            let (code, text) = answer(&m, &created);
            let again = charge(&m, &headers(&key), &body("bank_transfer", "ORD-1")).unwrap_err();
            let card = charge(&m, &headers(&key), &body("credit_card", "ORD-2")).unwrap_err();
            let unknown = charge(&m, &headers(&key), &body("cash", "ORD-3")).unwrap_err();
            let unauthorized = charge(&m, &headers("wrong"), &body("gopay", "ORD-4")).unwrap_err();
            (code, text, again, card, unknown, unauthorized)
        })
        .unwrap();
        let (code, text, again, card, unknown, unauthorized) = out.result;
        assert_eq!(code.as_u16(), 200);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status_code"], "201", "{v}");
        assert_eq!(v["transaction_status"], "pending", "{v}");
        assert_eq!(v["payment_type"], "bank_transfer", "{v}");
        assert_eq!(v["gross_amount"], "44000.00", "{v}");
        assert!(v.get("signature_key").is_none(), "{v}");
        assert_eq!(again.0.as_u16(), 400);
        assert!(again.1.contains("already been taken"), "{}", again.1);
        assert!(card.1.contains("credit_card needs a token_id"), "{}", card.1);
        assert!(unknown.1.contains(r#"payment_type \"cash\" is not one of"#), "{}", unknown.1);
        assert_eq!(unauthorized.0.as_u16(), 401);
        assert!(unauthorized.1.contains("\"status_code\":\"401\""), "{}", unauthorized.1);
    }
}
