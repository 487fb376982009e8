//! The shop's Stripe client over the simulated network: retrieve a Checkout Session (and its
//! PaymentIntent, to tell a processing debit from a failed one) as an [`Observed`], and refund a
//! PaymentIntent with an `Idempotency-Key` per booking, as the webhook, the cron and the manual
//! button call them.
//!
//! What it does not do: retry (its callers retry on their own schedule: Stripe's webhook retries,
//! the next cron run) or create sessions (the checkout does, see [`super::actors`]).

use crate::providers::stripe::objects::{PaymentIntent, Session};
use crate::providers::stripe::{self, IntentStatus};
use crate::sim::{NetError, Request, Sim};

use super::logic::Observed;

const TIMEOUT_MS: u64 = 20_000;

async fn get(sim: &Sim, actor: &str, secret: &str, path: String) -> Result<bytes::Bytes, String> {
    let label = if sim.recording() { format!("GET {path}") } else { String::new() };
    let req = Request::new(http::Method::GET, path).header("authorization", format!("Bearer {secret}")).label(label);
    match sim.request(actor, stripe::ACTOR, req, TIMEOUT_MS).await {
        Ok(r) if r.status == 200 => Ok(r.body),
        Ok(r) => Err(format!("Stripe answered {}", r.status)),
        Err(NetError::Timeout) => Err("Stripe timed out".into()),
        Err(NetError::Refused) => Err("Stripe refused the connection".into()),
    }
}

/// Retrieves a session and reads what it says (asking for its intent when it is complete but
/// unpaid). Also returns the session's `metadata[slot_id]`.
pub async fn observe(sim: &Sim, actor: &str, secret: &str, session: &str) -> Result<(Observed, Option<i64>), String> {
    let body = get(sim, actor, secret, format!("/v1/checkout/sessions/{session}")).await?;
    let s: Session = serde_json::from_slice(&body).map_err(|e| format!("malformed session: {e}"))?;
    let slot = s.metadata.get("slot_id").and_then(|v| v.parse().ok());
    let obs = match (s.status.as_str(), s.payment_status.as_str()) {
        ("expired", _) => Observed::Expired,
        ("complete", "paid") => Observed::Paid { intent: s.payment_intent.clone() },
        ("complete", _) => {
            let Some(pi) = s.payment_intent.as_deref() else { return Ok((Observed::Processing, slot)) };
            let body = get(sim, actor, secret, format!("/v1/payment_intents/{pi}")).await?;
            let i: PaymentIntent = serde_json::from_slice(&body).map_err(|e| format!("malformed intent: {e}"))?;
            match IntentStatus::parse(&i.status) {
                Some(IntentStatus::Processing) => Observed::Processing,
                // A stale session read: the intent already says paid.
                Some(IntentStatus::Succeeded) => Observed::Paid { intent: Some(i.id) },
                Some(IntentStatus::RequiresPaymentMethod | IntentStatus::Canceled) => Observed::AsyncFailed,
                _ => Observed::Processing,
            }
        }
        _ => Observed::Open,
    };
    Ok((obs, slot))
}

/// Refunds all of `intent`, once per booking: the key makes a retry (a lost answer, a second
/// delivery) return the first refund. After the key's 24 hours Stripe answers a second full
/// refund with a 400 on `amount` (nothing left to refund): that is done too.
pub async fn refund(sim: &Sim, actor: &str, secret: &str, booking: i64, intent: &str) -> Result<(), String> {
    let label = if sim.recording() { format!("POST /v1/refunds {intent} (booking {booking})") } else { String::new() };
    let mut req = Request::new(http::Method::POST, "/v1/refunds")
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("idempotency-key", format!("refund-booking-{booking}"))
        .label(label);
    req.body = format!("payment_intent={intent}&reason=requested_by_customer").into();
    match sim.request(actor, stripe::ACTOR, req, TIMEOUT_MS).await {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) if r.status == 400 && already_refunded(&r.body) => Ok(()),
        Ok(r) => Err(format!("refund answered {}", r.status)),
        Err(NetError::Timeout) => Err("refund timed out".into()),
        Err(NetError::Refused) => Err("Stripe refused the connection".into()),
    }
}

fn already_refunded(body: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["error"]["param"] == "amount"
}
