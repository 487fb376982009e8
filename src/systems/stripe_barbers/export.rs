//! Stripe's ground truth at the end of a run, as the provider export `settle audit --system
//! stripe-barbers --provider-export` reads: one Stripe line per PaymentIntent of a Checkout
//! Session that names a booking (`metadata[booking_id]`), keyed by that booking id, with the
//! intent's status, amount and refunded amount, timed at its last status change (simulated
//! milliseconds, the database's clock in a run). It is what `settle export-stripe
//! --metadata-key booking_id` makes of a shop's saved PaymentIntents when the checkout copies
//! the booking id to them (`payment_intent_data[metadata][booking_id]`).
//!
//! What it does not do: export sessions that never had a PaymentIntent (Stripe has no payment
//! for them), or sessions without a booking id.

use serde::Serialize;

use crate::providers::stripe::Stripe;

#[derive(Serialize)]
struct Line<'a> {
    provider: &'static str,
    order_id: &'a str,
    status: &'static str,
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_refunded: Option<i64>,
    time: i64,
}

/// One line per PaymentIntent of a session with a booking id, by session id.
pub fn from_stripe(stripe: &Stripe) -> String {
    let mut out = String::new();
    for s in stripe.sessions() {
        let Some(booking) = s.metadata.get("booking_id") else { continue };
        let Some(pi) = s.payment_intent.as_deref().and_then(|pi| stripe.intent(pi)) else { continue };
        let time = pi.history.last().map_or(pi.created_ms, |h| h.0);
        let line = Line {
            provider: "stripe",
            order_id: booking,
            status: pi.status.as_str(),
            amount: pi.amount,
            amount_refunded: (pi.amount_refunded != 0).then_some(pi.amount_refunded),
            time: i64::try_from(time).unwrap_or(i64::MAX),
        };
        // A struct of strings and integers always serialises.
        out += &(serde_json::to_string(&line).unwrap_or_default() + "\n");
    }
    out
}
