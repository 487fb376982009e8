//! `settle export-midtrans`: saved Midtrans payloads — status API answers
//! (`GET /v2/{order_id}/status`) or notification bodies, one JSON object per file or a JSON array
//! of them — to the provider export's Midtrans lines. What it does not do: check signatures (the
//! payloads are the merchant's own records), or read Midtrans's other APIs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Error;
use crate::providers::midtrans::notification::Notification;
use crate::providers::midtrans::status::{FraudStatus, TransactionStatus, is_paid};

use super::super::time::parse_jakarta;
use super::{Truth, write_line};

/// Converts saved Midtrans payloads (status API answers or notifications; one JSON object per
/// file, or a JSON array of them) into export lines, sorted by order id. The latest payload per
/// order wins (by time, then by position). `time` is `settlement_time` when present, otherwise
/// `transaction_time`, both Asia/Jakarta local time (UTC+7) as Midtrans sends them.
pub fn convert(files: &[PathBuf]) -> Result<String, Error> {
    let mut latest: BTreeMap<String, (i64, TransactionStatus, Option<FraudStatus>, i64)> = BTreeMap::new();
    for path in files {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{shown}: cannot read: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Scenario {
            location: format!("{shown}:{}:{}", e.line(), e.column()),
            message: format!("not JSON: {e}"),
        })?;
        let payloads = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        for (i, payload) in payloads.into_iter().enumerate() {
            let bad =
                |m: String| Error::Scenario { location: shown.clone(), message: format!("payload {}: {m}", i + 1) };
            let n: Notification = serde_json::from_value(payload).map_err(|e| bad(e.to_string()))?;
            let status =
                n.status().ok_or_else(|| bad(format!("unknown transaction_status {:?}", n.transaction_status)))?;
            let fraud = match n.fraud_status.as_deref() {
                None | Some("") => None,
                Some(f) => Some(n.fraud().ok_or_else(|| bad(format!("unknown fraud_status {f:?}")))?),
            };
            let amount =
                n.gross_amount_minor().ok_or_else(|| bad(format!("malformed gross_amount {:?}", n.gross_amount)))?;
            let when = n.settlement_time.as_deref().filter(|s| !s.is_empty()).unwrap_or(&n.transaction_time);
            let time = parse_jakarta(when).ok_or_else(|| {
                bad(format!("malformed time {when:?}: expected Midtrans's \"YYYY-MM-DD HH:MM:SS\" (Asia/Jakarta)"))
            })?;
            debug_assert_eq!(n.is_paid(), is_paid(status, fraud));
            match latest.get(&n.order_id) {
                Some(prev) if prev.0 > time => {}
                _ => {
                    latest.insert(n.order_id.clone(), (time, status, fraud, amount));
                }
            }
        }
    }
    Ok(latest
        .iter()
        .map(|(id, (time, status, fraud, amount))| {
            write_line(id, &Truth::Midtrans { status: *status, fraud: *fraud }, *amount, *time)
        })
        .collect())
}
