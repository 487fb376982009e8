//! The provider export: the provider's truth, one JSON object per line (JSON Lines).
//!
//! ```text
//! {"order_id":"ZVR-20260122-26A6A057","status":"capture","fraud_status":"accept","gross_amount":"450700.00","time":1769094778764}
//! ```
//!
//! - `order_id` (string, required): the merchant's order code, as Midtrans knows it.
//! - `status` (string, required): Midtrans's `transaction_status` now (`settlement`, `capture`,
//!   `pending`, `expire`, `cancel`, `deny`, …).
//! - `fraud_status` (string or null, optional): `accept`, `challenge` or `deny`.
//! - `gross_amount` (string, required): Midtrans's decimal string, `"10000.00"` (two decimals at
//!   most, no sign) — compared with the database's minor units (× 100).
//! - `time` (integer, required): when the provider reached that status, in epoch milliseconds,
//!   on the same clock as the database's `created_at` columns.
//!
//! Unknown keys, a missing key, an unknown status, a malformed amount, or an order id that appears
//! twice are errors naming `file:line`. Blank lines are skipped. The whole export is held in a
//! `BTreeMap` (about 150 bytes per order): it must fit in memory.
//!
//! Also here: writing an export from the simulated provider's truth (`replay --keep-db`) and
//! converting saved Midtrans status/notification payloads (`settle export-midtrans`).
//! What it does not do: Stripe payloads, or streaming an export larger than memory.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::providers::midtrans::Truth;
use crate::providers::midtrans::notification::{Notification, format_gross_amount, parse_gross_amount};
use crate::providers::midtrans::status::{FraudStatus, TransactionStatus, is_paid};

/// One line of the export, as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    order_id: String,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fraud_status: Option<String>,
    gross_amount: String,
    time: i64,
}

/// The provider's truth about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub status: TransactionStatus,
    pub fraud: Option<FraudStatus>,
    /// In minor units.
    pub amount: i64,
    /// Epoch milliseconds.
    pub time: i64,
    /// Where it came from (1-based).
    pub line: usize,
}

impl Entry {
    pub fn paid(&self) -> bool {
        is_paid(self.status, self.fraud)
    }

    /// The status as a reason names it: `capture/accept`, `settlement`.
    pub fn describe(&self) -> String {
        match self.fraud {
            Some(f) => format!("{}/{}", self.status.as_str(), f.as_str()),
            None => self.status.as_str().to_string(),
        }
    }
}

/// A loaded export, keyed by order id.
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub entries: BTreeMap<String, Entry>,
}

impl Export {
    /// The newest `time` in the export.
    pub fn newest(&self) -> Option<i64> {
        self.entries.values().map(|e| e.time).max()
    }
}

/// Reads an export file; errors name `file:line`.
pub fn load(path: &Path) -> Result<Export, Error> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Usage(format!("{shown}: cannot read the provider export: {e}")))?;
    let mut export = Export::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = |message: String| Error::Scenario { location: format!("{shown}:{}", i + 1), message };
        let line = line.map_err(|e| at(format!("cannot read: {e}")))?;
        add_line(&mut export, &line, i + 1).map_err(at)?;
    }
    Ok(export)
}

/// Parses export text; errors name `path:line`.
pub fn parse(text: &str, path: &str) -> Result<Export, Error> {
    let mut export = Export::default();
    for (i, line) in text.lines().enumerate() {
        add_line(&mut export, line, i + 1)
            .map_err(|message| Error::Scenario { location: format!("{path}:{}", i + 1), message })?;
    }
    Ok(export)
}

fn add_line(export: &mut Export, text: &str, line: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let l: Line = serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))?;
    let status = TransactionStatus::parse(&l.status).ok_or_else(|| format!("unknown status {:?}", l.status))?;
    let fraud = match l.fraud_status.as_deref() {
        None => None,
        Some(f) => Some(FraudStatus::parse(f).ok_or_else(|| format!("unknown fraud_status {f:?}"))?),
    };
    let amount = parse_gross_amount(&l.gross_amount).ok_or_else(|| {
        format!("malformed gross_amount {:?}: expected a decimal string like \"10000.00\"", l.gross_amount)
    })?;
    if l.order_id.is_empty() {
        return Err("empty order_id".into());
    }
    if let Some(first) = export.entries.get(&l.order_id) {
        return Err(format!("order_id {:?} appears twice (first on line {})", l.order_id, first.line));
    }
    export.entries.insert(l.order_id, Entry { status, fraud, amount, time: l.time, line });
    Ok(())
}

fn write_line(order_id: &str, status: TransactionStatus, fraud: Option<FraudStatus>, amount: i64, time: i64) -> String {
    let l = Line {
        order_id: order_id.to_string(),
        status: status.as_str().to_string(),
        fraud_status: fraud.map(|f| f.as_str().to_string()),
        gross_amount: format_gross_amount(amount),
        time,
    };
    // Serialising a struct of strings and an integer cannot fail.
    serde_json::to_string(&l).unwrap_or_default() + "\n"
}

/// The export of the simulated provider's truth: one line per transaction that has a status,
/// timed at its last status change (simulated milliseconds, the database's clock in a run).
pub fn from_truths(truths: &[Truth]) -> String {
    let mut out = String::new();
    for t in truths {
        let Some(status) = t.status else { continue };
        let time = t.history.last().map_or(t.created_ms, |h| h.0);
        out += &write_line(&t.order_id, status, t.fraud, t.gross_amount, i64::try_from(time).unwrap_or(i64::MAX));
    }
    out
}

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
        .map(|(id, (time, status, fraud, amount))| write_line(id, *status, *fraud, *amount, *time))
        .collect())
}

/// Epoch milliseconds of a proleptic Gregorian UTC date and time.
fn epoch_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn num(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD?HH:MM:SS` (any one separator) → its fields.
fn fields(s: &str) -> Option<[i64; 6]> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    Some([num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?, num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?])
}

/// Midtrans's local time, `"YYYY-MM-DD HH:MM:SS"` in Asia/Jakarta (UTC+7), to epoch ms.
pub fn parse_jakarta(s: &str) -> Option<i64> {
    let [y, mo, d, h, mi, sec] = fields(s)?;
    Some(epoch_ms(y, mo, d, h, mi, sec, 0)? - 7 * 3_600_000)
}

/// `--as-of`: epoch milliseconds (an integer), or UTC `YYYY-MM-DDTHH:MM:SSZ` (optionally with
/// `.mmm` before the `Z`).
pub fn parse_instant(s: &str) -> Option<i64> {
    if let Some(ms) = num(s) {
        return Some(ms);
    }
    let body = s.strip_suffix('Z')?;
    let (main, frac) = body.split_once('.').map_or((body, None), |(m, f)| (m, Some(f)));
    if main.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let [y, mo, d, h, mi, sec] = fields(main)?;
    let ms = match frac {
        None => 0,
        Some(f) if f.len() == 3 => num(f)?,
        Some(_) => return None,
    };
    epoch_ms(y, mo, d, h, mi, sec, ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_instant("0"), Some(0));
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_instant("2026-01-22T15:03:33.250Z"), Some(1_769_094_213_250));
        assert_eq!(parse_jakarta("2026-01-22 22:03:33"), Some(1_769_094_213_000));
        for bad in ["", "-5", "2026-01-22 15:03:33Z", "2026-13-01T00:00:00Z", "2026-01-22T15:03:33"] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_round_trip_and_errors_name_the_line() {
        let line = write_line("A-1", TransactionStatus::Capture, Some(FraudStatus::Accept), 1_000_050, 42);
        assert_eq!(
            line,
            "{\"order_id\":\"A-1\",\"status\":\"capture\",\"fraud_status\":\"accept\",\"gross_amount\":\"10000.50\",\"time\":42}\n"
        );
        let e = parse(&format!("\n{line}\n"), "x.jsonl").unwrap();
        assert!(e.entries["A-1"].paid());
        let err = parse(&format!("{line}{line}"), "x.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("x.jsonl:2: order_id \"A-1\" appears twice (first on line 1)"), "{err}");
        let err = parse("{\"order_id\":\"B\",\"status\":\"paid\",\"gross_amount\":\"1\",\"time\":1}", "y").unwrap_err();
        assert_eq!(err.to_string(), "y:1: unknown status \"paid\"");
    }
}
