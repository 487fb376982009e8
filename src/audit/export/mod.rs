//! The provider export: the provider's truth, one JSON object per line (JSON Lines), one line per
//! order. A line speaks for Midtrans (the default) or for Stripe:
//!
//! ```text
//! {"order_id":"ZVR-20260122-26A6A057","status":"capture","fraud_status":"accept","gross_amount":"450700.00","time":1769094778764}
//! {"provider":"stripe","order_id":"ORD-1042","status":"succeeded","amount":450700,"time":1769094778000}
//! ```
//!
//! Every line: `order_id` (string, required), the merchant's order code as the provider knows it;
//! `status` (string, required), the provider's status now; `time` (integer, required), when the
//! provider reached it, in epoch milliseconds on the database's clock; `provider` (optional):
//! `"midtrans"` (the default, so older exports stay valid) or `"stripe"`.
//!
//! - Midtrans: `status` is its `transaction_status`; `fraud_status` (optional) `accept`,
//!   `challenge` or `deny`; `gross_amount` (required) its decimal string, `"10000.00"` (two
//!   decimals at most, no sign), compared with the database's minor units (× 100). Paid means
//!   `settlement`, or `capture` with `fraud_status` `accept`.
//! - Stripe: `status` is the PaymentIntent's ([`IntentStatus`], the provider model's); `amount` (required) an
//!   integer in the currency's smallest unit, as Stripe gives it; `amount_refunded` (optional,
//!   default 0). Paid means `succeeded` with nothing refunded, as Midtrans's `refund` and
//!   `partial_refund` are not paid.
//!
//! Unknown keys, a missing key, a key of the other provider, an unknown status, a malformed
//! amount, or an order id that appears twice are errors naming `file:line`. Blank lines are
//! skipped. An optional first line, the header, states what the export covers and how it is
//! ordered (the converters write it):
//!
//! ```text
//! {"settle_export":1,"from":1769000000000,"until":1769100000000,"lines":1990,"sorted":true}
//! ```
//!
//! The audit never holds the export: [`sorted`] streams it in order-id order, sorting it on disk
//! first when it is not sorted, and the audit merges it with the database read in the same order.
//! [`Export`] (the whole export in a `BTreeMap`) is for small exports and tests.
//!
//! (The simulated provider's truth is written in this format by its system,
//! `crate::systems::midtrans_orders::export`, for `replay --keep-db`.) Also here: the converters from saved payloads, [`midtrans`] (`settle export-midtrans`) and [`stripe`]
//! (`settle export-stripe`).
//!
//! A line of the plain shape the converters write is read by a hand-written reader (`fast`) that
//! gives exactly what serde gives; every other line goes to serde.

mod fast;
pub mod midtrans;
pub mod sorted;
pub mod stripe;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::check::mapping::State;
use crate::error::Error;
use crate::providers::midtrans::notification::{format_gross_amount, parse_gross_amount};
use crate::providers::midtrans::status::{FraudStatus, TransactionStatus};

use crate::providers::stripe::status::IntentStatus;

/// One line of the export, as written: the union of both providers' keys, checked per provider.
/// Its strings borrow from the line's text when they can (no escapes), as the plain reader's do.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow)]
    order_id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    fraud_status: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    gross_amount: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount_refunded: Option<i64>,
    time: i64,
}

/// What the provider says about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Truth {
    Midtrans {
        status: TransactionStatus,
        fraud: Option<FraudStatus>,
    },
    /// `refunded`: in the same minor units as the entry's amount.
    Stripe {
        status: IntentStatus,
        refunded: i64,
    },
}

/// The provider's truth about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub truth: Truth,
    /// In minor units.
    pub amount: i64,
    /// Epoch milliseconds.
    pub time: i64,
    /// Where it came from (1-based).
    pub line: usize,
}

/// The export's first line, when it has one: what it covers and whether it is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format's version: 1.
    pub settle_export: u32,
    /// The period it covers (epoch ms): from the earliest transaction it saw created (or its
    /// earliest line's `time`) to its latest line's `time`.
    pub from: Option<i64>,
    pub until: Option<i64>,
    /// How many lines follow.
    pub lines: u64,
    /// Lines in strictly increasing `order_id` (byte order).
    pub sorted: bool,
}

impl Header {
    /// The header line (with its newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }

    /// The header of export `lines` (each as [`write_line`] wrote it, in the order given).
    pub fn of(entries: &[(&str, i64)]) -> Header {
        Header {
            settle_export: 1,
            from: entries.iter().map(|(_, t)| *t).min(),
            until: entries.iter().map(|(_, t)| *t).max(),
            lines: entries.len() as u64,
            sorted: entries.windows(2).all(|w| w[0].0.as_bytes() < w[1].0.as_bytes()),
        }
    }
}

/// Whether `text` is a header line rather than an export line.
fn is_header(text: &str) -> bool {
    text.trim_start().starts_with("{\"settle_export\"")
}

/// Parses a header line.
pub fn parse_header(text: &str) -> Option<Result<Header, String>> {
    is_header(text).then(|| {
        let h: Header = serde_json::from_str(text).map_err(|e| format!("not an export header: {e}"))?;
        if let (Some(from), Some(until)) = (h.from, h.until)
            && from > until
        {
            return Err(format!("the header's period is backwards: `from` {from} is after `until` {until}"));
        }
        Ok(h)
    })
}

/// `Err` when an export whose header states `stated` lines has `read`: cut short, or edited
/// after it was written. The audit would otherwise judge the orders of the missing lines as
/// absent from the provider.
pub fn check_line_count(stated: u64, read: u64) -> Result<(), String> {
    if stated == read {
        return Ok(());
    }
    Err(format!(
        "the header says {stated} line(s) follow, but the export has {read}: it was cut short or edited \
         after it was written"
    ))
}

impl Entry {
    /// The provider's state in canonical terms.
    pub fn state(&self) -> State {
        match self.truth {
            Truth::Midtrans { status, fraud } => {
                use TransactionStatus as S;
                // The same reading as the "midtrans" vocabulary preset (tested), without
                // building it for every line.
                match (status, fraud) {
                    (S::Capture, Some(FraudStatus::Accept)) | (S::Settlement, _) => State::Paid,
                    (S::Capture, Some(FraudStatus::Challenge)) => State::Challenge,
                    (S::Capture, Some(FraudStatus::Deny)) | (S::Deny, _) => State::Denied,
                    // Capture with no fraud verdict yet: not paid until one comes.
                    (S::Capture, None) | (S::Pending | S::Authorize, _) => State::Pending,
                    (S::Cancel, _) => State::Cancelled,
                    (S::Expire, _) => State::Expired,
                    (S::Failure, _) => State::Failed,
                    (S::Refund | S::PartialRefund, _) => State::Refunded,
                    (S::Chargeback | S::PartialChargeback, _) => State::Chargeback,
                }
            }
            Truth::Stripe { status, refunded } => match status {
                IntentStatus::Succeeded if refunded > 0 => State::Refunded,
                IntentStatus::Succeeded => State::Paid,
                IntentStatus::Canceled => State::Cancelled,
                _ => State::Pending,
            },
        }
    }

    pub fn paid(&self) -> bool {
        match self.truth {
            Truth::Midtrans { status, fraud } => crate::providers::midtrans::status::is_paid(status, fraud),
            Truth::Stripe { status, refunded } => crate::providers::stripe::status::is_paid(status, refunded),
        }
    }

    /// The status as a reason names it: `capture/accept`, `settlement`, `stripe succeeded`,
    /// `stripe succeeded (2500 of 10000 refunded)`.
    pub fn describe(&self) -> String {
        match self.truth {
            Truth::Midtrans { status, fraud: Some(f) } => format!("{}/{}", status.as_str(), f.as_str()),
            Truth::Midtrans { status, fraud: None } => status.as_str().to_string(),
            Truth::Stripe { status, refunded: 0 } => format!("stripe {}", status.as_str()),
            Truth::Stripe { status, refunded } => {
                format!("stripe {} ({refunded} of {} refunded)", status.as_str(), self.amount)
            }
        }
    }
}

/// A loaded export, keyed by order id.
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub entries: BTreeMap<String, Entry>,
    pub header: Option<Header>,
}

impl Export {
    /// The newest `time` in the export.
    pub fn newest(&self) -> Option<i64> {
        self.entries.values().map(|e| e.time).max()
    }
}

/// The export's entries as the audit walks them (errors name the line).
pub type EntryIter<'a> = Box<dyn Iterator<Item = Result<(String, Entry), Error>> + 'a>;

/// The provider's truth as the audit reads it: what it covers, and its entries in order-id byte
/// order. An [`Export`] in memory, or an [`sorted::ExportFile`] streamed from disk.
pub trait Truths {
    /// What the export covers, as its header states it or as read.
    fn header(&self) -> Header;
    /// The entries, in strictly increasing order-id byte order.
    fn entries(&self) -> Result<EntryIter<'_>, Error>;
}

impl Truths for Export {
    fn header(&self) -> Header {
        self.header.unwrap_or_else(|| {
            let keys: Vec<(&str, i64)> = self.entries.iter().map(|(c, e)| (c.as_str(), e.time)).collect();
            Header::of(&keys)
        })
    }

    fn entries(&self) -> Result<EntryIter<'_>, Error> {
        // A BTreeMap of Strings iterates in byte order.
        Ok(Box::new(self.entries.iter().map(|(c, e)| Ok((c.clone(), e.clone())))))
    }
}

impl Truths for sorted::ExportFile {
    fn header(&self) -> Header {
        self.header
    }

    fn entries(&self) -> Result<EntryIter<'_>, Error> {
        Ok(Box::new(sorted::ExportFile::entries_ahead(self)?))
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
    counted(export, &shown)
}

/// Parses export text; errors name `path:line`.
pub fn parse(text: &str, path: &str) -> Result<Export, Error> {
    let mut export = Export::default();
    for (i, line) in text.lines().enumerate() {
        add_line(&mut export, line, i + 1)
            .map_err(|message| Error::Scenario { location: format!("{path}:{}", i + 1), message })?;
    }
    counted(export, path)
}

/// `export`, if its header's line count is the number of lines read.
fn counted(export: Export, shown: &str) -> Result<Export, Error> {
    if let Some(h) = export.header {
        check_line_count(h.lines, export.entries.len() as u64)
            .map_err(|message| Error::Scenario { location: format!("{shown}:1"), message })?;
    }
    Ok(export)
}

/// `Err` naming the first of `keys` that is present: it belongs to the other provider.
fn absent(provider: &str, keys: &[(&str, bool)]) -> Result<(), String> {
    match keys.iter().find(|(_, present)| *present) {
        Some((key, _)) => Err(format!("`{key}` is not a key of a {provider} line")),
        None => Ok(()),
    }
}

fn truth_of(l: &Line) -> Result<(Truth, i64), String> {
    match l.provider.as_deref() {
        None | Some("midtrans") => {
            absent("Midtrans", &[("amount", l.amount.is_some()), ("amount_refunded", l.amount_refunded.is_some())])?;
            let status =
                TransactionStatus::parse(&l.status).ok_or_else(|| format!("unknown Midtrans status {:?}", l.status))?;
            let fraud = match l.fraud_status.as_deref() {
                None => None,
                Some(f) => Some(FraudStatus::parse(f).ok_or_else(|| format!("unknown fraud_status {f:?}"))?),
            };
            let gross = l.gross_amount.as_deref().ok_or("missing field `gross_amount`")?;
            let amount = parse_gross_amount(gross).ok_or_else(|| {
                format!("malformed gross_amount {gross:?}: expected a decimal string like \"10000.00\"")
            })?;
            Ok((Truth::Midtrans { status, fraud }, amount))
        }
        Some("stripe") => {
            absent(
                "Stripe",
                &[("gross_amount", l.gross_amount.is_some()), ("fraud_status", l.fraud_status.is_some())],
            )?;
            let status = IntentStatus::parse(&l.status).ok_or_else(|| {
                format!("unknown Stripe PaymentIntent status {:?}; expected one of {}", l.status, IntentStatus::names())
            })?;
            let amount = l.amount.ok_or("missing field `amount`")?;
            let refunded = l.amount_refunded.unwrap_or(0);
            if amount < 0 || refunded < 0 || refunded > amount {
                return Err(format!("amount {amount} and amount_refunded {refunded}: expected 0 ≤ refunded ≤ amount"));
            }
            Ok((Truth::Stripe { status, refunded }, amount))
        }
        Some(other) => Err(format!("unknown provider {other:?}; expected \"midtrans\" or \"stripe\"")),
    }
}

/// One line of export text: `None` for a blank line, else its order id and entry.
pub fn parse_line(text: &str, line: usize) -> Result<Option<(String, Entry)>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let l: Line = match fast::line(text) {
        Some(l) => l,
        None => serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))?,
    };
    let (truth, amount) = truth_of(&l)?;
    if l.order_id.is_empty() {
        return Err("empty order_id".into());
    }
    Ok(Some((l.order_id.into_owned(), Entry { truth, amount, time: l.time, line })))
}

fn add_line(export: &mut Export, text: &str, line: usize) -> Result<(), String> {
    if line == 1
        && let Some(header) = parse_header(text)
    {
        export.header = Some(header?);
        return Ok(());
    }
    let Some((code, entry)) = parse_line(text, line)? else { return Ok(()) };
    if let Some(first) = export.entries.get(&code) {
        return Err(format!("order_id {code:?} appears twice (first on line {})", first.line));
    }
    export.entries.insert(code, entry);
    Ok(())
}

/// One export line (with its newline) for `order_id`.
pub fn write_line(order_id: &str, truth: &Truth, amount: i64, time: i64) -> String {
    let mut l = Line { order_id: order_id.into(), time, ..Line::default() };
    match truth {
        Truth::Midtrans { status, fraud } => {
            l.status = status.as_str().into();
            l.fraud_status = fraud.map(|f| f.as_str().into());
            l.gross_amount = Some(format_gross_amount(amount).into());
        }
        Truth::Stripe { status, refunded } => {
            l.provider = Some("stripe".into());
            l.status = status.as_str().into();
            l.amount = Some(amount);
            l.amount_refunded = (*refunded != 0).then_some(*refunded);
        }
    }
    // Serialising a struct of strings and integers cannot fail.
    serde_json::to_string(&l).unwrap_or_default() + "\n"
}

/// Export text with its header: `lines` are (order id, time, line), in the order to write;
/// `from` is when the earliest transaction it covers was created, if known (otherwise the
/// earliest line's time).
pub fn with_header<'a>(lines: impl Iterator<Item = (&'a str, i64, &'a str)> + Clone, from: Option<i64>) -> String {
    let keys: Vec<(&str, i64)> = lines.clone().map(|(id, t, _)| (id, t)).collect();
    let mut header = Header::of(&keys);
    if let Some(f) = from {
        header.from = Some(header.from.map_or(f, |h| h.min(f)));
    }
    let mut out = header.line();
    for (_, _, line) in lines {
        out += line;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_errors_name_the_line() {
        let capture = Truth::Midtrans { status: TransactionStatus::Capture, fraud: Some(FraudStatus::Accept) };
        let line = write_line("A-1", &capture, 1_000_050, 42);
        assert_eq!(
            line,
            "{\"order_id\":\"A-1\",\"status\":\"capture\",\"fraud_status\":\"accept\",\"gross_amount\":\"10000.50\",\"time\":42}\n"
        );
        let e = parse(&format!("\n{line}\n"), "x.jsonl").unwrap();
        assert!(e.entries["A-1"].paid());
        let err = parse(&format!("{line}{line}"), "x.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("x.jsonl:2: order_id \"A-1\" appears twice (first on line 1)"), "{err}");
        let err = parse("{\"order_id\":\"B\",\"status\":\"paid\",\"gross_amount\":\"1\",\"time\":1}", "y").unwrap_err();
        assert_eq!(err.to_string(), "y:1: unknown Midtrans status \"paid\"");
    }

    #[test]
    fn midtrans_states_read_as_the_midtrans_vocabulary_reads_them() {
        let v = crate::check::mapping::Vocabulary::midtrans();
        for status in TransactionStatus::ALL {
            for fraud in [None, Some(FraudStatus::Accept), Some(FraudStatus::Challenge), Some(FraudStatus::Deny)] {
                let e = Entry { truth: Truth::Midtrans { status, fraud }, amount: 1, time: 1, line: 1 };
                let by_vocab = v.state(status.as_str(), fraud.map(FraudStatus::as_str)).unwrap_or(State::Pending);
                assert_eq!(e.state(), by_vocab, "{status:?} {fraud:?}");
                assert_eq!(e.paid(), e.state() == State::Paid, "{status:?} {fraud:?}");
            }
        }
    }

    #[test]
    fn stripe_lines_round_trip_and_refunds_are_not_paid() {
        let paid = Truth::Stripe { status: IntentStatus::Succeeded, refunded: 0 };
        let refunded = Truth::Stripe { status: IntentStatus::Succeeded, refunded: 2500 };
        let text = write_line("S-1", &paid, 10_000, 7_000) + &write_line("S-2", &refunded, 10_000, 8_000);
        assert!(
            text.starts_with(
                "{\"provider\":\"stripe\",\"order_id\":\"S-1\",\"status\":\"succeeded\",\"amount\":10000,"
            )
        );
        let e = parse(&text, "s.jsonl").unwrap();
        assert_eq!(e.entries["S-1"], Entry { truth: paid, amount: 10_000, time: 7_000, line: 1 });
        assert!(e.entries["S-1"].paid());
        assert!(!e.entries["S-2"].paid());
        assert_eq!(e.entries["S-2"].describe(), "stripe succeeded (2500 of 10000 refunded)");
        let capture =
            "{\"provider\":\"stripe\",\"order_id\":\"S-3\",\"status\":\"requires_capture\",\"amount\":5,\"time\":1}";
        assert!(!parse(capture, "s").unwrap().entries["S-3"].paid());
    }

    #[test]
    fn a_key_of_the_other_provider_is_an_error() {
        let cases = [
            (
                "{\"order_id\":\"M\",\"status\":\"settlement\",\"amount\":100,\"time\":1}",
                "`amount` is not a key of a Midtrans line",
            ),
            (
                "{\"provider\":\"stripe\",\"order_id\":\"S\",\"status\":\"succeeded\",\"gross_amount\":\"1.00\",\"time\":1}",
                "`gross_amount` is not a key of a Stripe line",
            ),
            (
                "{\"provider\":\"stripe\",\"order_id\":\"S\",\"status\":\"paid\",\"amount\":1,\"time\":1}",
                "unknown Stripe PaymentIntent status \"paid\"",
            ),
            (
                "{\"provider\":\"stripe\",\"order_id\":\"S\",\"status\":\"succeeded\",\"time\":1}",
                "missing field `amount`",
            ),
            (
                "{\"provider\":\"stripe\",\"order_id\":\"S\",\"status\":\"succeeded\",\"amount\":1,\"amount_refunded\":2,\"time\":1}",
                "expected 0 ≤ refunded ≤ amount",
            ),
            ("{\"provider\":\"adyen\",\"order_id\":\"S\",\"status\":\"x\",\"time\":1}", "unknown provider \"adyen\""),
        ];
        for (line, want) in cases {
            let err = parse(line, "e.jsonl").unwrap_err().to_string();
            assert!(err.starts_with("e.jsonl:1: ") && err.contains(want), "{line}: {err}");
        }
    }
}
