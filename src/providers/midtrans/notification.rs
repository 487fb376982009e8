//! The Midtrans HTTP notification body: its JSON shape, its `signature_key`,
//! and the string encodings of amounts and times that the signature and the
//! body depend on.
//!
//! This models the body PROVIDERS.md describes, parsed leniently: unknown and
//! method-specific fields (`va_numbers`, `pdf_url`, ...) are kept verbatim in
//! [`Notification::extra`] so that they survive a round trip, and statuses are
//! kept as the raw strings the provider sent so that a status this code does
//! not know yet still parses. It does NOT model delivery (see `retry`), the
//! status API's authentication, or method-specific fields as typed data, and it
//! does NOT decide whether a notification should be acted upon: that is the
//! job of the application under test. Everything here is a pure function; no
//! clock is read, the caller passes every instant in.

use serde::{Deserialize, Deserializer, Serialize};

use super::status::{self, FraudStatus, PaymentType, TransactionStatus};
use crate::providers::kit::sign::{hex_eq, sha512_hex};

mod fast;
mod plain;
mod write;

/// The fields [`Notification`] names, in its order: the hand reader's slots (`plain`), and what
/// the readers' tests build bodies from.
const FIELDS: [&str; 13] = [
    "transaction_time",
    "transaction_status",
    "transaction_id",
    "status_message",
    "status_code",
    "signature_key",
    "payment_type",
    "order_id",
    "merchant_id",
    "gross_amount",
    "fraud_status",
    "currency",
    "settlement_time",
];

/// A Midtrans payment notification, as sent in the HTTP POST body.
///
/// Every field is the exact string from the wire. The five fields the
/// signature and the status decision cannot do without are required; a body
/// missing one fails to parse. The others default to empty (or `None`) when
/// absent or `null`, because Midtrans omits some of them for some methods and
/// adds new ones over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Local Jakarta time of the transaction, "YYYY-MM-DD HH:MM:SS".
    #[serde(default, deserialize_with = "null_as_default")]
    pub transaction_time: String,
    /// Raw status name; see [`Notification::status`] for the parsed form.
    pub transaction_status: String,
    /// Midtrans's own id for the transaction.
    #[serde(default, deserialize_with = "null_as_default")]
    pub transaction_id: String,
    /// Free text; never branch on it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status_message: String,
    /// "200", "201" or "202"; part of the signed string.
    pub status_code: String,
    /// Lowercase hex SHA-512; see [`signature_key`].
    pub signature_key: String,
    /// Raw payment type; see [`Notification::payment`] for the parsed form.
    #[serde(default, deserialize_with = "null_as_default")]
    pub payment_type: String,
    /// The merchant's order id; part of the signed string.
    pub order_id: String,
    /// The merchant account id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub merchant_id: String,
    /// Amount as a decimal string like "10000.00"; part of the signed string.
    pub gross_amount: String,
    /// Raw fraud verdict; absent for methods without fraud detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_status: Option<String>,
    /// Currency code, "IDR" in practice.
    #[serde(default, deserialize_with = "null_as_default")]
    pub currency: String,
    /// Local Jakarta settlement time; present once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_time: Option<String>,
    /// Every field not named above, kept verbatim so it round-trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads an optional string field, treating `null` like an absent field, so
/// that a provider that starts sending `null` does not break parsing.
fn null_as_default<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

impl Notification {
    /// The parsed `transaction_status`, or `None` if it is not a known name.
    pub fn status(&self) -> Option<TransactionStatus> {
        TransactionStatus::parse(&self.transaction_status)
    }

    /// The parsed `fraud_status`, or `None` if absent or not a known name.
    pub fn fraud(&self) -> Option<FraudStatus> {
        self.fraud_status.as_deref().and_then(FraudStatus::parse)
    }

    /// The parsed `payment_type`, or `None` if it is not a known name.
    pub fn payment(&self) -> Option<PaymentType> {
        PaymentType::parse(&self.payment_type)
    }

    /// `gross_amount` in minor units, or `None` if it is not a valid amount.
    pub fn gross_amount_minor(&self) -> Option<i64> {
        parse_gross_amount(&self.gross_amount)
    }

    /// Whether this notification says the order is paid (see
    /// [`status::is_paid`]). An unknown status is never paid, and an unknown
    /// fraud verdict counts as no verdict. This does NOT check the signature.
    pub fn is_paid(&self) -> bool {
        self.status().is_some_and(|status| status::is_paid(status, self.fraud()))
    }
}

/// `order_id` and `transaction_status` (empty when absent) of a notification body, as a serde
/// struct of those two string fields reads them: `None` where it refuses the body (not JSON,
/// `order_id` absent, either one not a string or given twice). The bodies the provider writes are
/// read by hand (`plain`), without serde: a watch on every delivery reads them.
pub fn order_and_status(body: &[u8]) -> Option<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    match plain::order_and_status(body) {
        Some(found) => found.map(|(o, s)| (o.into(), s.into())),
        None => order_and_status_serde(body),
    }
}

/// [`order_and_status`] through serde alone.
fn order_and_status_serde(body: &[u8]) -> Option<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    #[derive(Deserialize)]
    struct Seen<'a> {
        #[serde(borrow)]
        order_id: std::borrow::Cow<'a, str>,
        #[serde(default, borrow)]
        transaction_status: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Seen<'_>>(body).ok().map(|s| (s.order_id, s.transaction_status))
}

/// The `signature_key` Midtrans computes: lowercase hex SHA-512 of
/// `order_id + status_code + gross_amount + server_key`.
///
/// The inputs are hashed exactly as given, with no trimming or normalisation:
/// "10000.00" and "10000" sign differently, which is why the body's own
/// strings must be used, never re-formatted ones.
pub fn signature_key(order_id: &str, status_code: &str, gross_amount: &str, server_key: &str) -> String {
    sha512_hex(&[order_id, status_code, gross_amount, server_key])
}

/// Whether `n.signature_key` is the signature of `n`'s own `order_id`,
/// `status_code` and `gross_amount` under `server_key`.
///
/// The comparison is constant-time and on exact bytes. Midtrans sends
/// lowercase hex, so an uppercase (or otherwise re-encoded) signature is
/// rejected: accepting it would mean accepting bodies the provider never
/// produced. A length mismatch, including an empty signature, is rejected.
pub fn verify_signature(n: &Notification, server_key: &str) -> bool {
    let expected = signature_key(&n.order_id, &n.status_code, &n.gross_amount, server_key);
    // The length of a SHA-512 hex digest is public, so checking it first leaks nothing.
    hex_eq(&expected, &n.signature_key)
}

/// Formats an amount in minor units (1/100 IDR) as Midtrans's `gross_amount`
/// string with exactly two decimals: `1_000_000` → "10000.00".
///
/// Amounts are never negative on the wire (refunds are separate statuses, not
/// negative amounts). A negative input is a caller bug, but the output stays
/// deterministic: the magnitude with a leading '-', which
/// [`parse_gross_amount`] rejects.
pub fn format_gross_amount(amount_minor: i64) -> String {
    // `unsigned_abs` so that `i64::MIN` does not overflow.
    let magnitude = amount_minor.unsigned_abs();
    // Written digit by digit rather than with `format!`: the simulated provider formats an
    // amount for every notification it builds.
    let mut out = String::with_capacity(24);
    if amount_minor < 0 {
        out.push('-');
    }
    push_digits(&mut out, magnitude / 100, 1);
    out.push('.');
    push_digits(&mut out, magnitude % 100, 2);
    out
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (as `{n:0width$}` does).
fn push_digits(out: &mut String, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let (mut n, mut i) = (n, buf.len());
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(buf.len() - width.min(buf.len()));
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[start..]).unwrap_or_default());
}

/// Parses a `gross_amount` string into minor units (1/100 IDR).
///
/// Accepts ASCII digits with an optional '.' and one or two decimals:
/// "10000.00", "10000" and "10000.5" (→ `1_000_050`). Rejects empty strings,
/// signs, spaces, exponents, a bare '.', more than two decimals, and values
/// that do not fit in `i64`. Leading zeros are accepted. For every `x >= 0`,
/// `parse_gross_amount(&format_gross_amount(x)) == Some(x)`.
pub fn parse_gross_amount(s: &str) -> Option<i64> {
    let (whole_str, frac_str) = match s.split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (s, None),
    };
    // Checked by hand first because `str::parse::<i64>` accepts a leading '+'.
    if whole_str.is_empty() || !whole_str.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_minor: i64 = match frac_str {
        None => 0,
        Some(frac) => {
            if frac.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits: i64 = frac.parse().ok()?;
            // One decimal means tenths: "0.5" is 50 minor units, not 5.
            if frac.len() == 1 { digits * 10 } else { digits }
        }
    };
    // `parse` fails on overflow of the whole part; the checked operations
    // catch overflow when scaling and adding the decimals.
    let whole: i64 = whole_str.parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac_minor)
}

/// Asia/Jakarta is UTC+7 all year (no daylight saving time).
const JAKARTA_OFFSET_S: u64 = 7 * 60 * 60;
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// Formats a Unix epoch instant in milliseconds as Midtrans's
/// `transaction_time` / `settlement_time` string, "YYYY-MM-DD HH:MM:SS".
///
/// Midtrans sends local time in Asia/Jakarta (UTC+7, no DST) without an
/// offset, so we add 7 hours before formatting. Milliseconds are truncated.
pub fn format_time(epoch_ms: u64) -> String {
    // Cannot overflow: u64::MAX / 1000 is far below u64::MAX - 25_200.
    let local_s = epoch_ms / 1000 + JAKARTA_OFFSET_S;
    let days = local_s / SECONDS_PER_DAY;
    let second_of_day = local_s % SECONDS_PER_DAY;
    // `days` is below 2^38 even for u64::MAX milliseconds, so it fits an i64.
    let (year, month, day) = crate::sim::calendar::civil_from_days(days as i64);
    // Digit by digit, as `{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}` would write it (the
    // year is never negative: `days` counts from 1970).
    let mut out = String::with_capacity(19);
    for (n, width, after) in [
        (year as u64, 4, "-"),
        (month as u64, 2, "-"),
        (day as u64, 2, " "),
        (second_of_day / 3600, 2, ":"),
        (second_of_day % 3600 / 60, 2, ":"),
        (second_of_day % 60, 2, ""),
    ] {
        push_digits(&mut out, n, width);
        out.push_str(after);
    }
    out
}

/// Everything needed to build one consistent notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationParams<'a> {
    pub order_id: &'a str,
    pub transaction_id: &'a str,
    pub status: TransactionStatus,
    /// Pass `None` for methods without fraud detection
    /// (see [`PaymentType::has_fraud_status`]); this is not enforced here.
    pub fraud: Option<FraudStatus>,
    pub payment_type: PaymentType,
    /// Minor units (1/100 IDR); must not be negative.
    pub gross_amount_minor: i64,
    pub merchant_id: &'a str,
    pub server_key: &'a str,
    pub transaction_time_ms: u64,
    /// Pass `Some` once the transaction has settled.
    pub settlement_time_ms: Option<u64>,
}

/// Builds the notification the simulated Midtrans sends, with `status_code`,
/// `status_message`, `currency` ("IDR") and `signature_key` derived from the
/// other fields so that they can never disagree. `extra` is empty.
pub fn build(params: NotificationParams<'_>) -> Notification {
    let status_code = status::status_code(params.status);
    let gross_amount = format_gross_amount(params.gross_amount_minor);
    let signature_key = signature_key(params.order_id, status_code, &gross_amount, params.server_key);
    Notification {
        transaction_time: format_time(params.transaction_time_ms),
        transaction_status: params.status.as_str().to_owned(),
        transaction_id: params.transaction_id.to_owned(),
        status_message: status::status_message(params.status).to_owned(),
        status_code: status_code.to_owned(),
        signature_key,
        payment_type: params.payment_type.as_str().to_owned(),
        order_id: params.order_id.to_owned(),
        merchant_id: params.merchant_id.to_owned(),
        gross_amount,
        fraud_status: params.fraud.map(|fraud| fraud.as_str().to_owned()),
        currency: "IDR".to_owned(),
        settlement_time: params.settlement_time_ms.map(format_time),
        extra: serde_json::Map::new(),
    }
}
