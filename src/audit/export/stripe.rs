//! `settle export-stripe`: saved Stripe objects to the provider export's Stripe lines.
//!
//! Input files hold PaymentIntent objects, Charge objects, Event objects whose `data.object` is
//! one of those (`payment_intent.*`, `charge.*`), or list pages of any of them
//! (`{"object":"list","data":[…]}`): one JSON document per file, a JSON array, or one document
//! per line (JSON Lines), as the API, the CLI or a webhook log saves them. Events about other
//! objects (disputes, refunds, checkout sessions, invoices) are skipped and counted.
//!
//! - A payment is a PaymentIntent; a charge belongs to the one it names (`payment_intent`), or
//!   stands alone when it names none. Its newest payload wins, by `created` — the event's for an
//!   event, else the object's (`canceled_at` for a canceled PaymentIntent): Stripe objects carry no
//!   time of their last status change, so saved events time a status better than saved objects.
//!   Ties go to the status that comes later in Stripe's machine ([`IntentStatus`]'s order:
//!   `succeeded` after `processing`), then to the larger refund — never to the file given last.
//!   Event ids are never compared: they are not ordered.
//! - Charges speak in PaymentIntent statuses: `failed` → `requires_payment_method` (a failed
//!   attempt sends the intent back there), `pending` → `processing`, `succeeded` and captured →
//!   `succeeded`, not captured → `requires_capture`, or `canceled` once the authorisation is
//!   released. `amount_refunded` is the largest any captured charge of the payment reports.
//! - The order is `metadata.<key>` (`--metadata-key`, default `order_id`), the PaymentIntent's in
//!   preference to a charge's (Stripe copies it to the charge once, at confirmation). Several
//!   payments of one order (a customer who tried again): the newest `succeeded` one speaks for
//!   the order, else the newest; two that both hold money are reported as a note.
//! - Times: `created` is epoch seconds; the export's `time` is milliseconds.
//! - PaymentIntents saved under API versions before 2019-02-11 say `requires_source` and
//!   `requires_source_action`: read as `requires_payment_method` and `requires_action`.
//!
//! Bad input is skipped and counted, each named `file:line: $.json.path: what is wrong` in the
//! notes; `--strict` stops at the first instead (exit 2).
//! What it does not do: Checkout Sessions, invoices or subscriptions, disputes, or currency
//! conversion (amounts stay in the currency's smallest unit, as Stripe gives them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::providers::stripe::status::{IntentStatus, intent_status_of_charge};

use super::{Truth, with_header, write_line};

/// Export lines, and notes for the person running the conversion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    pub text: String,
    pub notes: Vec<String>,
}

/// Where a value is: the file, the line its document starts on, and its JSON path there.
#[derive(Clone, Debug)]
struct At {
    file: String,
    line: usize,
    path: String,
}

impl At {
    fn key(&self, k: &str) -> At {
        At { path: format!("{}.{k}", self.path), ..self.clone() }
    }

    fn index(&self, i: usize) -> At {
        At { path: format!("{}[{i}]", self.path), ..self.clone() }
    }

    fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::Scenario {
            location: format!("{}:{}", self.file, self.line),
            message: format!("{}: {message}", self.path),
        }
    }
}

fn field<'v>(o: &'v Map<String, Value>, at: &At, k: &str) -> Result<&'v Value, Error> {
    o.get(k).ok_or_else(|| at.key(k).err("missing"))
}

fn text<'v>(o: &'v Map<String, Value>, at: &At, k: &str) -> Result<&'v str, Error> {
    field(o, at, k)?.as_str().filter(|s| !s.is_empty()).ok_or_else(|| at.key(k).err("expected a non-empty string"))
}

/// A non-negative integer field, or `None` when absent or null and `optional`.
fn int(o: &Map<String, Value>, at: &At, k: &str, optional: bool) -> Result<Option<i64>, Error> {
    match o.get(k) {
        None | Some(Value::Null) if optional => Ok(None),
        v => v.and_then(Value::as_i64).filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            at.key(k).err(if v.is_none() { "missing".to_string() } else { "expected a non-negative integer".into() })
        }),
    }
}

/// Epoch seconds to milliseconds.
fn ms(seconds: i64, at: &At) -> Result<i64, Error> {
    seconds.checked_mul(1000).ok_or_else(|| at.err("a time beyond the year 292 million"))
}

/// One payment's state as one payload tells it.
struct Record {
    payment: String,
    from_intent: bool,
    order: Option<String>,
    status: IntentStatus,
    amount: i64,
    refunded: i64,
    time: i64,
    at: At,
}

fn metadata(o: &Map<String, Value>, at: &At, key: &str) -> Result<Option<String>, Error> {
    let at = at.key("metadata");
    match o.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(at.key(key).err("expected a non-empty string")),
        },
        Some(_) => Err(at.err("expected an object")),
    }
}

fn intent(o: &Map<String, Value>, at: &At, key: &str, event_time: Option<i64>) -> Result<Record, Error> {
    let id = text(o, at, "id")?;
    let raw = text(o, at, "status")?;
    // Names of API versions before 2019-02-11 are read too (`requires_source`, …).
    let status = IntentStatus::parse_any_version(raw).ok_or_else(|| {
        at.key("status").err(format!("unknown PaymentIntent status {raw:?}; expected one of {}", IntentStatus::names()))
    })?;
    let created = int(o, at, "created", false)?.unwrap_or(0);
    let canceled_at = int(o, at, "canceled_at", true)?.filter(|_| status == IntentStatus::Canceled);
    let time = match event_time {
        Some(t) => t,
        None => ms(canceled_at.unwrap_or(created), at)?,
    };
    Ok(Record {
        payment: id.to_string(),
        from_intent: true,
        order: metadata(o, at, key)?,
        status,
        amount: int(o, at, "amount", false)?.unwrap_or(0),
        refunded: 0,
        time,
        at: at.clone(),
    })
}

fn charge(o: &Map<String, Value>, at: &At, key: &str, event_time: Option<i64>) -> Result<Record, Error> {
    let id = text(o, at, "id")?;
    let captured =
        field(o, at, "captured")?.as_bool().ok_or_else(|| at.key("captured").err("expected true or false"))?;
    let amount = int(o, at, "amount", false)?.unwrap_or(0);
    let refunded = int(o, at, "amount_refunded", true)?.unwrap_or(0);
    // Stripe's own reading of a charge as its PaymentIntent's status (the provider model's).
    let raw = text(o, at, "status")?;
    let status = intent_status_of_charge(raw, captured, amount, refunded).ok_or_else(|| {
        at.key("status").err(format!("unknown charge status {raw:?}; expected succeeded, pending or failed"))
    })?;
    let payment = match o.get("payment_intent") {
        None | Some(Value::Null) => id.to_string(),
        Some(Value::String(pi)) if !pi.is_empty() => pi.clone(),
        Some(Value::Object(pi)) => text(pi, &at.key("payment_intent"), "id")?.to_string(),
        Some(_) => return Err(at.key("payment_intent").err("expected a PaymentIntent id, an object or null")),
    };
    let time = match event_time {
        Some(t) => t,
        None => ms(int(o, at, "created", false)?.unwrap_or(0), at)?,
    };
    let refunded = if captured { refunded.min(amount) } else { 0 };
    Ok(Record {
        payment,
        from_intent: false,
        order: metadata(o, at, key)?,
        status,
        amount,
        refunded,
        time,
        at: at.clone(),
    })
}

/// Collects the records of `v` and of everything it holds; counts skipped events by type.
fn walk(
    v: &Value,
    at: &At,
    key: &str,
    out: &mut Vec<Record>,
    skipped: &mut BTreeMap<String, u64>,
) -> Result<(), Error> {
    const EXPECTED: &str = "expected a payment_intent, a charge, an event or a list of them";
    let o = match v {
        Value::Array(items) => {
            return items.iter().enumerate().try_for_each(|(i, item)| walk(item, &at.index(i), key, out, skipped));
        }
        Value::Object(o) => o,
        _ => return Err(at.err(format!("not a Stripe object: {EXPECTED}"))),
    };
    match o.get("object").and_then(Value::as_str) {
        Some("list") => match field(o, at, "data")? {
            data @ Value::Array(_) => walk(data, &at.key("data"), key, out, skipped),
            _ => Err(at.key("data").err("expected an array")),
        },
        Some("payment_intent") => intent(o, at, key, None).map(|r| out.push(r)),
        Some("charge") => charge(o, at, key, None).map(|r| out.push(r)),
        Some("event") => {
            let kind = text(o, at, "type")?;
            let time = ms(int(o, at, "created", false)?.unwrap_or(0), at)?;
            let data_at = at.key("data");
            let data = field(o, at, "data")?.as_object().ok_or_else(|| data_at.err("expected an object"))?;
            let obj_at = data_at.key("object");
            let obj = field(data, &data_at, "object")?.as_object().ok_or_else(|| obj_at.err("expected an object"))?;
            match obj.get("object").and_then(Value::as_str) {
                Some("payment_intent") => out.push(intent(obj, &obj_at, key, Some(time))?),
                Some("charge") => out.push(charge(obj, &obj_at, key, Some(time))?),
                _ => *skipped.entry(kind.to_string()).or_default() += 1,
            }
            Ok(())
        }
        Some(other) => Err(at.key("object").err(format!("a {other:?} object: {EXPECTED}"))),
        None => Err(at.err(format!("no \"object\" key, so not a Stripe object: {EXPECTED}"))),
    }
}

/// Every JSON document in `text` (one, or several one after another) with the line it starts on.
pub(super) fn documents(text: &str, file: &str) -> Result<Vec<(usize, Value)>, Error> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    // Lines are counted as the stream moves on, not from the start each time.
    let (mut counted, mut line) = (0, 1);
    loop {
        let before = stream.byte_offset();
        let Some(next) = stream.next() else { break };
        let v = next.map_err(|e| Error::Scenario {
            location: format!("{file}:{}:{}", e.line(), e.column()),
            message: format!("not JSON: {e}"),
        })?;
        let rest = &text[before..];
        let start = before + (rest.len() - rest.trim_start().len());
        line += text[counted..start].matches('\n').count();
        counted = start;
        out.push((line, v));
    }
    Ok(out)
}

/// A document and the line it starts on, or why that line is not one.
pub(super) type Document = (usize, Result<Value, Error>);

/// [`documents`], or, when `text` is not a stream of JSON documents but reads as JSON Lines with
/// some lines broken (a webhook log with one torn line), each line on its own: the broken ones
/// as errors naming their line, so the caller skips them and keeps the rest. Text in which no
/// line is a JSON object or array on its own keeps [`documents`]'s error.
pub(super) fn documents_or_lines(text: &str, file: &str) -> Result<Vec<Document>, Error> {
    let whole = match documents(text, file) {
        Ok(docs) => return Ok(docs.into_iter().map(|(line, v)| (line, Ok(v))).collect()),
        Err(e) => e,
    };
    let lines: Vec<Document> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let parsed = serde_json::from_str::<Value>(l).map_err(|e| {
                // serde's own position is within the line; the location says where in the file.
                let text = e.to_string();
                let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m).to_string();
                Error::Scenario {
                    location: format!("{file}:{}:{}", i + 1, e.column()),
                    message: format!("not JSON: {message}"),
                }
            });
            (i + 1, parsed)
        })
        .collect();
    let any_whole = lines.iter().any(|(_, v)| matches!(v, Ok(Value::Object(_) | Value::Array(_))));
    if any_whole { Ok(lines) } else { Err(whole) }
}

/// The error when no payload of `files` files could be used: an export with no line would make
/// the audit judge every paid order unconfirmed, so it is not written. Names what was skipped.
pub(super) fn nothing_converted(files: usize, skipped: &[String]) -> Error {
    let why = match skipped.first() {
        None => "they hold no payload".to_string(),
        Some(first) if skipped.len() == 1 => format!("skipped {first}"),
        Some(first) => format!("skipped {first}, and {} more", skipped.len() - 1),
    };
    Error::Usage(format!("no payload converted from {files} file(s), so no export was written: {why}"))
}

/// Converts saved Stripe payloads into export lines, sorted by order id (see the module docs).
/// `strict`: the first unusable file or payload is an error; otherwise each is skipped and named
/// in the notes.
pub fn convert(files: &[PathBuf], key: &str, strict: bool) -> Result<Converted, Error> {
    if key.is_empty() {
        return Err(Error::Usage("--metadata-key: must not be empty".into()));
    }
    let (mut records, mut skipped, mut bad) = (Vec::new(), BTreeMap::new(), Vec::<String>::new());
    for path in files {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if strict => return Err(Error::Usage(format!("{file}: cannot read: {e}"))),
            Err(e) => {
                bad.push(format!("{file}: cannot read: {e}"));
                continue;
            }
        };
        let docs = match documents_or_lines(&text, &file) {
            Ok(d) => d,
            Err(e) if strict => return Err(e),
            Err(e) => {
                bad.push(e.to_string());
                continue;
            }
        };
        for (line, v) in docs {
            let v = match v {
                Ok(v) => v,
                Err(e) if strict => return Err(e),
                Err(e) => {
                    bad.push(e.to_string());
                    continue;
                }
            };
            let mut found = Vec::new();
            match walk(&v, &At { file: file.clone(), line, path: "$".into() }, key, &mut found, &mut skipped) {
                Ok(()) => records.extend(found),
                Err(e) if strict => return Err(e),
                Err(e) => bad.push(e.to_string()),
            }
        }
    }
    if records.is_empty() {
        return Err(nothing_converted(files.len(), &bad));
    }
    // Per payment: its newest record (a later state, then a larger refund, wins a tie), its
    // largest refund, its order.
    let newer =
        |a: &Record, b: &Record| (a.time, a.status, a.refunded, a.amount) > (b.time, b.status, b.refunded, b.amount);
    let mut payments: BTreeMap<&str, (&Record, i64, Option<&Record>)> = BTreeMap::new();
    for r in &records {
        let p = payments.entry(&r.payment).or_insert((r, 0, None));
        if newer(r, p.0) {
            p.0 = r;
        }
        p.1 = p.1.max(r.refunded);
        if r.order.is_some() && p.2.is_none_or(|o| (r.from_intent, r.time) > (o.from_intent, o.time)) {
            p.2 = Some(r);
        }
    }
    let mut orders: BTreeMap<&str, Vec<(&Record, i64)>> = BTreeMap::new();
    for (id, (newest, refunded, named)) in &payments {
        let Some(order) = named.and_then(|r| r.order.as_deref()) else {
            let first = records.iter().find(|r| r.payment == *id).map_or(&newest.at, |r| &r.at);
            let e = first
                .key("metadata")
                .key(key)
                .err(format!("missing, and no other payload of payment {id} names its order (see --metadata-key)"));
            if strict {
                return Err(e);
            }
            bad.push(e.to_string());
            continue;
        };
        orders.entry(order).or_default().push((newest, *refunded));
    }
    let mut out = Converted::default();
    let mut lines = Vec::new();
    for (order, candidates) in &orders {
        let holding: Vec<_> = candidates
            .iter()
            .filter(|(r, refunded)| r.status == IntentStatus::Succeeded && *refunded < r.amount)
            .collect();
        if holding.len() > 1 {
            let ids: Vec<_> = holding.iter().map(|(r, _)| r.payment.as_str()).collect();
            out.notes.push(format!(
                "order {order}: {} payments succeeded ({}): charged twice?",
                ids.len(),
                ids.join(", ")
            ));
        }
        let newest = |succeeded_only: bool| {
            candidates
                .iter()
                .filter(|(r, _)| !succeeded_only || r.status == IntentStatus::Succeeded)
                .max_by(|(a, _), (b, _)| (a.time, a.status, &a.payment).cmp(&(b.time, b.status, &b.payment)))
        };
        let Some((r, refunded)) = newest(true).or_else(|| newest(false)) else { continue };
        let truth = Truth::Stripe { status: r.status, refunded: *refunded };
        lines.push((*order, r.time, write_line(order, &truth, r.amount, r.time)));
    }
    // Payloads carry their creation time: the earliest is when the export's period starts.
    let from = records.iter().map(|r| r.time).min();
    out.text = with_header(lines.iter().map(|(o, t, l)| (*o, *t, l.as_str())), from);
    for (kind, n) in skipped {
        out.notes.push(format!("skipped {n} {kind} event(s): not about a PaymentIntent or a charge"));
    }
    if !bad.is_empty() {
        out.notes.push(format!("skipped {} unusable payload(s) (--strict stops at the first):", bad.len()));
        out.notes.extend(bad.iter().take(10).map(|b| format!("skipped {b}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: Value) -> Record {
        let (mut out, mut skipped) = (Vec::new(), BTreeMap::new());
        walk(&v, &At { file: "t".into(), line: 1, path: "$".into() }, "order_id", &mut out, &mut skipped).unwrap();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    #[test]
    fn charges_speak_in_payment_intent_statuses() {
        let charge = |status: &str, captured: bool, refunded: i64| {
            let v = serde_json::json!({"object": "charge", "id": "ch_1", "status": status, "captured": captured,
                "amount": 500, "amount_refunded": refunded, "created": 7, "payment_intent": "pi_1"});
            let r = one(v);
            (r.status, r.refunded, r.payment, r.time)
        };
        assert_eq!(charge("failed", false, 0).0, IntentStatus::RequiresPaymentMethod);
        assert_eq!(charge("pending", false, 0).0, IntentStatus::Processing);
        assert_eq!(charge("succeeded", true, 0), (IntentStatus::Succeeded, 0, "pi_1".into(), 7000));
        assert_eq!(charge("succeeded", true, 200).1, 200);
        assert_eq!(charge("succeeded", false, 0).0, IntentStatus::RequiresCapture);
        // A released authorisation is "refunded" in full, but no money moved back.
        let released = charge("succeeded", false, 500);
        assert_eq!((released.0, released.1), (IntentStatus::Canceled, 0));
    }

    #[test]
    fn old_api_status_names_are_read() {
        let pi = |status: &str| {
            one(serde_json::json!({"object": "payment_intent", "id": "pi_1", "status": status, "amount": 1, "created": 1}))
                .status
        };
        assert_eq!(pi("requires_source"), IntentStatus::RequiresPaymentMethod);
        assert_eq!(pi("requires_source_action"), IntentStatus::RequiresAction);
    }

    /// A webhook log with one torn line keeps its other lines; a pretty-printed document that
    /// does not parse keeps the one error it always had.
    #[test]
    fn json_lines_with_a_broken_line_keep_the_others() {
        let docs = documents_or_lines("{\"a\":1}\n{bad}\n\n[2]\n", "f").unwrap();
        let shape: Vec<(usize, bool)> = docs.iter().map(|(line, v)| (*line, v.is_ok())).collect();
        assert_eq!(shape, [(1, true), (2, false), (4, true)]);
        assert!(docs[1].1.as_ref().is_err_and(|e| e.to_string().starts_with("f:2:")), "{:?}", docs[1].1);
        let pretty = documents_or_lines("{\n  \"a\": 1,\n  \"b\": \n}\n", "f");
        assert!(pretty.is_err_and(|e| e.to_string().contains("not JSON")));
        let whole = documents_or_lines("{\"a\":1}\n{\"b\":\n2}", "f").unwrap();
        assert_eq!(whole.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn documents_know_their_first_line() {
        let docs = documents("{\"a\":1}\n\n  [\n1]\n{\"b\":\n2}", "f").unwrap();
        let lines: Vec<usize> = docs.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 3, 5]);
    }
}
