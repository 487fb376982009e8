//! Fanvue's wire formats: ISO 8601 instants, the earnings row and page JSON, the summary JSON,
//! the header names, and the opaque pagination cursor.
//!
//! The cursor is opaque to clients: it is base64url text carrying a keyset position (row date
//! and id) and the creator it belongs to, with a check value so that an edited or foreign cursor
//! is refused with 400 rather than silently read as another position. Clients must only pass
//! back what `nextCursor` gave them.
//!
//! What it does not do: time zones other than UTC on output (input accepts `Z` or `±HH:MM`),
//! currencies other than USD, or the `source` filter.

use serde::{Deserialize, Serialize};

use crate::providers::kit::list;
use crate::sim::calendar::{MS_PER_DAY, days_from_civil, days_in_month};

/// The version header every request must carry.
pub const VERSION_HEADER: &str = "x-fanvue-api-version";
/// Rate-limit headers on every answer.
pub const LIMIT_HEADER: &str = "x-ratelimit-limit";
pub const REMAINING_HEADER: &str = "x-ratelimit-remaining";
/// Unix time in seconds at which the bucket refills.
pub const RESET_HEADER: &str = "x-ratelimit-reset";
/// Seconds to wait, on a 429.
pub const RETRY_AFTER_HEADER: &str = "retry-after";

/// Page size bounds and default of `GET /insights/earnings`.
pub const SIZE_MIN: u32 = 1;
pub const SIZE_MAX: u32 = 50;
pub const SIZE_DEFAULT: u32 = 20;

/// One earnings row as Fanvue sends it. Money is integer USD cents; refunds and chargebacks are
/// rows of their own with negative amounts and `relatedTransactionId` naming the original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningRow {
    pub id: String,
    /// ISO 8601, UTC, millisecond precision.
    pub date: String,
    pub gross: i64,
    pub net: i64,
    pub currency: String,
    pub source: String,
    pub user_uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_transaction_id: Option<String>,
}

/// The answer of `GET /insights/earnings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsPage {
    pub data: Vec<EarningRow>,
    /// `None` (JSON `null`) on the last page.
    pub next_cursor: Option<String>,
}

/// The answer of `GET /insights/summary`: cached, and blind to refunds and chargebacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total_revenue: i64,
    pub currency: String,
    pub cached_at: String,
}

/// An error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

pub use crate::sim::calendar::format_instant;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` into Unix epoch milliseconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an ISO 8601 date-time like 2026-01-22T15:00:00Z");
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = text.get(r).ok_or_else(bad)?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        // Milliseconds: extra digits are truncated, fewer are scaled.
        let first3: String = frac[..digits.min(3)].chars().chain(std::iter::repeat('0')).take(3).collect();
        ms = first3.parse::<i64>().map_err(|_| bad())?;
        rest = &frac[digits..];
    }
    let offset_ms = match rest {
        "Z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && rest.get(3..4) == Some(":") => {
            let two = |r: std::ops::Range<usize>| match rest.get(r) {
                Some(t) if t.bytes().all(|c| c.is_ascii_digit()) => t.parse::<i64>().map_err(|_| bad()),
                _ => Err(bad()),
            };
            let (oh, om) = (two(1..3)?, two(4..6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3_600_000 + om * 60_000)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    Ok(days * MS_PER_DAY + h * 3_600_000 + mi * 60_000 + s * 1_000 + ms - offset_ms)
}

/// `$12.34`, `-$5.00`: cents for traces.
pub fn format_usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}${}.{:02}", c / 100, c % 100)
}

/// A keyset position in one creator's ledger: rows after it come next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorPos {
    pub creator: String,
    pub date_ms: i64,
    pub id: String,
}

/// Encodes a position as an opaque cursor, sealed with the provider's `secret` (the kit's
/// [`seal_cursor`](crate::providers::kit::list::seal_cursor)).
pub fn encode_cursor(secret: &str, pos: &CursorPos) -> String {
    list::seal_cursor(secret, &format!("{}|{}|{}", pos.creator, pos.date_ms, pos.id))
}

/// Decodes a cursor [`encode_cursor`] made; anything else (edited, truncated, foreign) is an
/// error.
pub fn decode_cursor(secret: &str, cursor: &str) -> Result<CursorPos, String> {
    let bad = || "invalid cursor: pass back the nextCursor of the previous page unchanged".to_string();
    let payload = list::open_cursor(secret, cursor).ok_or_else(bad)?;
    let mut parts = payload.splitn(3, '|');
    let (Some(creator), Some(date), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let date_ms = date.parse().map_err(|_| bad())?;
    Ok(CursorPos { creator: creator.to_string(), date_ms, id: id.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_match_date_command() {
        // `date -u -d @1769094000 '+%FT%T'` → 2026-01-22T15:00:00
        assert_eq!(format_instant(1_769_094_000_000), "2026-01-22T15:00:00.000Z");
        // `date -u -d @951782400.5 '+%FT%T.%3N'` → 2000-02-29T00:00:00.500
        assert_eq!(format_instant(951_782_400_500), "2000-02-29T00:00:00.500Z");
        // `date -u -d @-1 '+%FT%T'` → 1969-12-31T23:59:59
        assert_eq!(format_instant(-1_000), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn parse_inverts_format_and_reads_offsets() {
        for ms in [0, 1, 999, 1_769_094_000_123, 951_782_400_500, -86_400_001, 4_102_444_799_999] {
            assert_eq!(parse_instant(&format_instant(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(parse_instant("2026-01-22T15:00:00Z"), Ok(1_769_094_000_000));
        assert_eq!(parse_instant("2026-01-22T16:00:00+01:00"), Ok(1_769_094_000_000));
        assert_eq!(parse_instant("2026-01-22T14:30:00-00:30"), Ok(1_769_094_000_000));
        assert_eq!(parse_instant("2026-01-22T15:00:00.5Z"), Ok(1_769_094_000_500));
        assert_eq!(parse_instant("2026-01-22T15:00:00.123456Z"), Ok(1_769_094_000_123));
    }

    #[test]
    fn parse_rejects_what_is_not_a_date_time() {
        for bad in [
            "",
            "2026-01-22",
            "2026-01-22 15:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-22T24:00:00Z",
            "2026-01-22T15:00:00",
            "2026-01-22T15:00:00+0100",
            "2026-01-22T15:00:00.Z",
            "2026-01-22T15:00:00ZZ",
            "２０２６-01-22T15:00:00Z",
            "+026-01-22T15:00:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usd_formatting() {
        assert_eq!(format_usd(1_234), "$12.34");
        assert_eq!(format_usd(-500), "-$5.00");
        assert_eq!(format_usd(0), "$0.00");
    }

    #[test]
    fn cursor_round_trips_and_refuses_edits() {
        let pos = CursorPos { creator: "c-1".into(), date_ms: 1_769_094_000_123, id: "txn|x".into() };
        let c = encode_cursor("s", &pos);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{c}");
        assert_eq!(decode_cursor("s", &c), Ok(pos.clone()));
        assert!(decode_cursor("other secret", &c).is_err());
        // Every single-character edit is refused.
        for i in 0..c.len() {
            let mut edited = c.clone().into_bytes();
            edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(edited).unwrap();
            if edited != c {
                assert!(decode_cursor("s", &edited).is_err(), "edit at {i} accepted");
            }
        }
        assert!(decode_cursor("s", "").is_err());
        assert!(decode_cursor("s", "not base64!").is_err());
    }
}
