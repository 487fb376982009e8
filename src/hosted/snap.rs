//! Midtrans's Snap "create transaction" (`POST /snap/v1/transactions`) over settle's model, for
//! every transport that serves it: the key, the body and the order id checked as Midtrans checks
//! them, then the charge created in the model.
//!
//! What it does not do: open the customer's page (each transport drives its customers its own
//! way), or serve the route (each transport mounts [`create`] in its router).

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::providers::midtrans::Midtrans;
use crate::providers::midtrans::status::PaymentType;

#[derive(Deserialize)]
struct SnapBody {
    transaction_details: SnapDetails,
}

#[derive(Deserialize)]
struct SnapDetails {
    order_id: String,
    gross_amount: serde_json::Number,
}

/// A Snap transaction created: the order id and the model's transaction id.
#[derive(Debug)]
pub struct Created {
    pub order_id: String,
    pub transaction_id: String,
}

impl Created {
    /// Midtrans's `201 {"token", "redirect_url"}`.
    pub fn answer(&self) -> (StatusCode, String) {
        let id = &self.transaction_id;
        let body = serde_json::json!({
            "token": id,
            "redirect_url": format!("https://app.sandbox.midtrans.com/snap/v4/redirection/{id}"),
        });
        (StatusCode::CREATED, body.to_string())
    }
}

fn snap_error(code: StatusCode, message: &str) -> (StatusCode, String) {
    (code, serde_json::json!({ "error_messages": [message] }).to_string())
}

/// Checks the request as Midtrans does and creates the charge, with a method picked among
/// `methods` by `pick(len)` (an index below `len`, from the run's oracle). A refusal is the status
/// and body Midtrans answers with.
pub fn create(
    provider: &Midtrans,
    headers: &HeaderMap,
    body: &[u8],
    methods: &[PaymentType],
    pick: impl FnOnce(usize) -> usize,
) -> Result<Created, (StatusCode, String)> {
    let (order_id, minor) = checked(provider, headers, body, snap_error)?;
    let method = if methods.is_empty() {
        PaymentType::BankTransfer
    } else {
        methods[pick(methods.len()).min(methods.len() - 1)]
    };
    let transaction_id = provider.create_charge(&order_id, minor, method);
    Ok(Created { order_id, transaction_id })
}

/// The checks Snap and the Core API share: the server key, the body's `transaction_details`, an
/// order id not taken yet. Returns the order id and the amount in minor units; a refusal is
/// `refuse(status, message)`, each API's error body.
pub fn checked(
    provider: &Midtrans,
    headers: &HeaderMap,
    body: &[u8],
    refuse: fn(StatusCode, &str) -> (StatusCode, String),
) -> Result<(String, i64), (StatusCode, String)> {
    if !provider.authorized(headers) {
        return Err(refuse(StatusCode::UNAUTHORIZED, "Access denied, please check client or server key"));
    }
    let parsed: SnapBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Err(refuse(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}"))),
    };
    let d = parsed.transaction_details;
    // Whole rupiah; Midtrans accepts no fractions of IDR. Minor units are rupiah × 100.
    let Some(idr) = d.gross_amount.as_i64().filter(|a| *a > 0) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "transaction_details.gross_amount must be a positive integer"));
    };
    if d.order_id.is_empty() || d.order_id.len() > 50 {
        return Err(refuse(StatusCode::BAD_REQUEST, "transaction_details.order_id must be 1 to 50 characters"));
    }
    if provider.truth(&d.order_id).is_some() {
        return Err(refuse(StatusCode::BAD_REQUEST, "transaction_details.order_id has already been taken"));
    }
    let Some(minor) = idr.checked_mul(100) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "transaction_details.gross_amount is too large"));
    };
    Ok((d.order_id, minor))
}
