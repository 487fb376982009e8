//! `settle export-midtrans`: saved Midtrans payloads — status API answers
//! (`GET /v2/{order_id}/status`) or notification bodies; one JSON object per file, a JSON array
//! of them, or one per line (a webhook log in JSON Lines) — to the provider export's Midtrans
//! lines, with its header, sorted by order id.
//!
//! - The latest payload per order wins: by time (`settlement_time` when present, otherwise
//!   `transaction_time`, both Asia/Jakarta local time as Midtrans sends them), and at the same
//!   time by Midtrans's own status order ([`precedence`]: a refund after a settlement, an expiry
//!   after a pending), never by which file came last.
//! - Unusable input is skipped and counted (a file that is not JSON, a saved 404 answer, a
//!   payload with an unknown status or a malformed amount or time), with a summary naming each
//!   `file:line`; `--strict` stops at the first instead (exit 2).
//!
//! What it does not do: check signatures (the payloads are the merchant's own records), or read
//! Midtrans's other APIs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::error::Error;
use crate::providers::midtrans::notification::Notification;
use crate::providers::midtrans::status::{FraudStatus, TransactionStatus, is_paid};

use super::super::time::parse_jakarta;
use super::stripe::{Converted, documents_or_lines, nothing_converted};
use super::{Truth, with_header, write_line};

/// Skipped inputs listed one by one in the summary; the rest are counted.
const LISTED_MAX: usize = 10;

/// Midtrans's status order: a status that can follow another ranks above it, so two payloads of
/// one order with the same time keep the later state (a refund after a settlement, a denial
/// after a capture). Terminal failures rank alike; the name breaks their tie.
pub fn precedence(s: TransactionStatus) -> u8 {
    use TransactionStatus as S;
    match s {
        S::Pending => 0,
        S::Authorize => 1,
        S::Capture => 2,
        S::Settlement => 3,
        S::Deny | S::Cancel | S::Expire | S::Failure => 4,
        S::PartialRefund => 5,
        S::Refund => 6,
        S::PartialChargeback => 7,
        S::Chargeback => 8,
    }
}

/// One order's state as one payload tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    /// When the transaction was created (`transaction_time`).
    created: Option<i64>,
    time: i64,
    status: TransactionStatus,
    fraud: Option<FraudStatus>,
    amount: i64,
}

impl Seen {
    /// Later time first, then the status that follows in Midtrans's machine.
    fn key(&self) -> (i64, u8, &'static str) {
        (self.time, precedence(self.status), self.status.as_str())
    }
}

/// What is wrong with one payload, or `Ok` with what it says.
fn read_payload(v: Value) -> Result<(String, Seen), String> {
    if let Some(code) = v.get("status_code").and_then(Value::as_str)
        && !matches!(code, "200" | "201" | "202")
    {
        let message = v.get("status_message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("a status-API error answer ({code}: {message}), not a transaction"));
    }
    let n: Notification = serde_json::from_value(v).map_err(|e| format!("not a Midtrans payload: {e}"))?;
    let status = n.status().ok_or_else(|| format!("unknown transaction_status {:?}", n.transaction_status))?;
    let fraud = match n.fraud_status.as_deref() {
        None | Some("") => None,
        Some(f) => Some(n.fraud().ok_or_else(|| format!("unknown fraud_status {f:?}"))?),
    };
    let amount = n.gross_amount_minor().ok_or_else(|| format!("malformed gross_amount {:?}", n.gross_amount))?;
    let when = n.settlement_time.as_deref().filter(|s| !s.is_empty()).unwrap_or(&n.transaction_time);
    let time = parse_jakarta(when).ok_or_else(|| {
        format!("malformed time {when:?}: expected Midtrans's \"YYYY-MM-DD HH:MM:SS\" (Asia/Jakarta)")
    })?;
    if n.order_id.is_empty() {
        return Err("empty order_id".into());
    }
    debug_assert_eq!(n.is_paid(), is_paid(status, fraud));
    let created = parse_jakarta(&n.transaction_time);
    Ok((n.order_id, Seen { created, time, status, fraud, amount }))
}

/// Converts saved Midtrans payloads into an export (see the module documentation).
pub fn convert(files: &[PathBuf], strict: bool) -> Result<Converted, Error> {
    let mut latest: BTreeMap<String, Seen> = BTreeMap::new();
    let mut from: Option<i64> = None;
    let (mut skipped, mut used) = (Vec::<String>::new(), 0u64);
    let mut skip = |location: String, why: String| -> Result<(), Error> {
        if strict {
            return Err(Error::Scenario { location, message: why });
        }
        skipped.push(format!("{location}: {why}"));
        Ok(())
    };
    for path in files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                skip(shown, format!("cannot read: {e}"))?;
                continue;
            }
        };
        let docs = match documents_or_lines(&text, &shown) {
            Ok(d) => d,
            Err(Error::Scenario { location, message }) => {
                skip(location, message)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        for (line, doc) in docs {
            let doc = match doc {
                Ok(doc) => doc,
                Err(Error::Scenario { location, message }) => {
                    skip(location, message)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let payloads = match doc {
                Value::Array(items) => items,
                other => vec![other],
            };
            let many = payloads.len() > 1;
            for (i, payload) in payloads.into_iter().enumerate() {
                let location =
                    if many { format!("{shown}:{line}: payload {}", i + 1) } else { format!("{shown}:{line}") };
                match read_payload(payload) {
                    Ok((order, seen)) => {
                        used += 1;
                        from = seen.created.map(|c| from.map_or(c, |f| f.min(c))).or(from);
                        let keep = latest.get(&order).is_none_or(|prev| seen.key() > prev.key());
                        if keep {
                            latest.insert(order, seen);
                        }
                    }
                    Err(why) => skip(location, why)?,
                }
            }
        }
    }
    if used == 0 {
        return Err(nothing_converted(files.len(), &skipped));
    }
    let lines: Vec<(String, i64, String)> = latest
        .iter()
        .map(|(id, s)| {
            let line = write_line(id, &Truth::Midtrans { status: s.status, fraud: s.fraud }, s.amount, s.time);
            (id.clone(), s.time, line)
        })
        .collect();
    let text = with_header(lines.iter().map(|(id, t, l)| (id.as_str(), *t, l.as_str())), from);
    let mut notes = vec![format!(
        "converted {used} payload(s) from {} file(s) into {} order(s); skipped {}",
        files.len(),
        latest.len(),
        skipped.len()
    )];
    for s in skipped.iter().take(LISTED_MAX) {
        notes.push(format!("skipped {s}"));
    }
    if skipped.len() > LISTED_MAX {
        notes.push(format!("… and {} more skipped (--strict stops at the first)", skipped.len() - LISTED_MAX));
    }
    Ok(Converted { text, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_state_wins_a_tie_whatever_the_file_order() {
        let at = |status| Seen { created: None, time: 5, status, fraud: None, amount: 1 };
        assert!(at(TransactionStatus::Refund).key() > at(TransactionStatus::Settlement).key());
        assert!(at(TransactionStatus::Expire).key() > at(TransactionStatus::Pending).key());
        assert!(at(TransactionStatus::Deny).key() > at(TransactionStatus::Settlement).key());
        let later = Seen { time: 6, ..at(TransactionStatus::Pending) };
        assert!(later.key() > at(TransactionStatus::Chargeback).key());
    }

    #[test]
    fn error_answers_are_named() {
        let v = serde_json::json!({"status_code": "404", "status_message": "Transaction doesn't exist."});
        assert_eq!(
            read_payload(v).unwrap_err(),
            "a status-API error answer (404: Transaction doesn't exist.), not a transaction"
        );
    }
}
