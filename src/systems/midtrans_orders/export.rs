//! The provider's ground truth at the end of a run, as a provider export: JSON Lines in the
//! format `settle audit --provider-export` reads (one line per transaction that has a status,
//! timed at its last status change, in simulated milliseconds — the database's clock in a run).
//!
//! What it does not do: read exports (the audit does), or export transactions whose customer
//! never chose a payment method (the provider has no status for them).

use serde::Serialize;

use crate::providers::midtrans::Truth;
use crate::providers::midtrans::notification::format_gross_amount;

#[derive(Serialize)]
struct Line<'a> {
    order_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fraud_status: Option<&'static str>,
    gross_amount: String,
    time: i64,
}

/// One line per transaction with a status, in the order given.
pub fn from_truths(truths: &[Truth]) -> String {
    let mut out = String::new();
    for t in truths {
        let Some(status) = t.status else { continue };
        let time = t.history.last().map_or(t.created_ms, |h| h.0);
        let line = Line {
            order_id: &t.order_id,
            status: status.as_str(),
            fraud_status: t.fraud.map(|f| f.as_str()),
            gross_amount: format_gross_amount(t.gross_amount),
            time: i64::try_from(time).unwrap_or(i64::MAX),
        };
        // A struct of strings and integers always serialises.
        out += &(serde_json::to_string(&line).unwrap_or_default() + "\n");
    }
    out
}
