//! A reader for the export line's plain shape, taken before serde: one flat object on one line,
//! no whitespace between tokens, its keys among the line's own, each once, strings without
//! escapes or control characters, integers written plainly (`0`, `-12`, no leading zero, no
//! fraction or exponent, within `i64`), and the three required keys present — the shape the
//! converters write, and nearly every line of a real export. It gives exactly the [`Line`] that
//! serde gives on such a line (tested against serde on generated lines, below).
//!
//! What it does not do: decide anything. Every other line — whitespace, an escape, `null`, a
//! nested value, an unknown or repeated key, a key missing, a number serde would read otherwise —
//! goes to serde as before, so its errors are word for word the same.

use super::Line;

/// The bits of `order_id`, `status` and `time` in [`line()`]'s keys seen: serde requires them.
const REQUIRED: u8 = 2 | 4 | 128;

/// The line as serde would read it, or `None` when it is not of the plain shape.
pub(super) fn line(text: &str) -> Option<Line<'_>> {
    let b = text.as_bytes();
    let mut l = Line::default();
    let (mut seen, mut i) = (0u8, 1);
    if b.first() != Some(&b'{') {
        return None;
    }
    loop {
        let key = string(text, &mut i)?;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        let bit = match key {
            "provider" => 1,
            "order_id" => 2,
            "status" => 4,
            "fraud_status" => 8,
            "gross_amount" => 16,
            "amount" => 32,
            "amount_refunded" => 64,
            "time" => 128,
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            1 => l.provider = Some(string(text, &mut i)?.into()),
            2 => l.order_id = string(text, &mut i)?.into(),
            4 => l.status = string(text, &mut i)?.into(),
            8 => l.fraud_status = Some(string(text, &mut i)?.into()),
            16 => l.gross_amount = Some(string(text, &mut i)?.into()),
            32 => l.amount = Some(integer(text, &mut i)?),
            64 => l.amount_refunded = Some(integer(text, &mut i)?),
            _ => l.time = integer(text, &mut i)?,
        }
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if i + 1 == b.len() => break,
            _ => return None,
        }
    }
    // A required key missing: serde names it.
    (seen & REQUIRED == REQUIRED).then_some(l)
}

/// A string at `b[*i]` with no escape or control character, moving `i` past it.
fn string<'a>(text: &'a str, i: &mut usize) -> Option<&'a str> {
    let b = text.as_bytes();
    if b.get(*i) != Some(&b'"') {
        return None;
    }
    let start = *i + 1;
    let len = b.get(start..)?.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    let end = start + len;
    if b[end] != b'"' {
        return None;
    }
    *i = end + 1;
    // Cut at ASCII bytes of a valid `str`: always on a character boundary.
    text.get(start..end)
}

/// An integer at `b[*i]` written plainly and within `i64`, moving `i` past it.
fn integer(text: &str, i: &mut usize) -> Option<i64> {
    let b = text.as_bytes();
    let start = *i;
    let digits = start + usize::from(b.get(start) == Some(&b'-'));
    let len = b[digits.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > 1 && b[digits] == b'0' || b[digits] == b'0' && digits > start {
        return None;
    }
    let end = digits + len;
    if matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    *i = end;
    // ASCII digits of a valid `str`: cut on character boundaries, nothing to validate again.
    text.get(start..end)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::{Line, Truth, parse_line, write_line};
    use super::line;
    use crate::providers::midtrans::status::{FraudStatus, TransactionStatus};
    use crate::providers::stripe::status::IntentStatus;
    use crate::sim::Oracle;

    fn serde(text: &str) -> Option<Line<'_>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn the_lines_the_converters_write_take_the_plain_path() {
        let lines = [
            write_line("ZVR-1", &Truth::Midtrans { status: TransactionStatus::Settlement, fraud: None }, 450_700, 5),
            write_line(
                "ZVR-é",
                &Truth::Midtrans { status: TransactionStatus::Capture, fraud: Some(FraudStatus::Accept) },
                1,
                -7,
            ),
            write_line(
                "ORD-9",
                &Truth::Stripe { status: IntentStatus::Succeeded, refunded: 30 },
                100,
                1_769_094_000_000,
            ),
        ];
        for text in &lines {
            let text = text.trim_end_matches('\n');
            let fast = line(text).unwrap_or_else(|| panic!("{text} takes the plain path"));
            assert_eq!(Some(fast), serde(text), "{text}");
        }
    }

    /// Pieces of lines: keys known, unknown, escaped or repeated; values of every JSON type,
    /// plain or not; whitespace, truncation and trailing bytes.
    const KEYS: &[&str] = &[
        "\"order_id\"",
        "\"status\"",
        "\"time\"",
        "\"provider\"",
        "\"fraud_status\"",
        "\"gross_amount\"",
        "\"amount\"",
        "\"amount_refunded\"",
        "\"other\"",
        "\"order\\u005fid\"",
        "\"time \"",
        "order_id",
    ];
    const VALUES: &[&str] = &[
        "\"ZVR-1\"",
        "\"settlement\"",
        "\"capture\"",
        "\"stripe\"",
        "\"100.00\"",
        "\"\"",
        "\"a\\\"b\"",
        "\"tab\there\"",
        "\"é\"",
        "0",
        "-0",
        "7",
        "-12",
        "012",
        "1.5",
        "1e3",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "99999999999999999999",
        "null",
        "true",
        "[]",
        "{}",
        "\"x",
        "-",
    ];
    const SEPS: &[&str] = &[",", ",", ",", ", ", " ,", ",,"];
    const ENDS: &[&str] = &["}", "}", "}", "} ", "}\r", "}x", "", "},"];

    #[test]
    fn plain_lines_read_exactly_as_serde_reads_them_and_the_rest_go_to_serde() {
        let (oracle, mut plain) = (std::cell::RefCell::new(Oracle::random(16)), 0);
        let pick = |n: usize| oracle.borrow_mut().int_below(n as u64) as usize;
        let cases = 40_000;
        for _ in 0..cases {
            // Each piece is the plain one, or (one time in `odd`) any of its kind.
            let odd = [4, 12, 40][pick(3)];
            let any =
                |plain: &'static str, all: &[&'static str]| if pick(odd) == 0 { all[pick(all.len())] } else { plain };
            let mut text = String::from(any("{", &["{", " {", "[", ""]));
            // The three required keys in some order, some optional ones, now and then another.
            let mut keys = vec![0, 1, 2];
            for _ in 0..pick(3) {
                keys.push(pick(KEYS.len()));
            }
            for k in 0..keys.len() {
                let j = k + pick(keys.len() - k);
                keys.swap(k, j);
            }
            keys.truncate(keys.len() - usize::from(pick(odd) == 0));
            for (n, &k) in keys.iter().enumerate() {
                if n > 0 {
                    text += any(",", SEPS);
                }
                text += KEYS[k];
                text += any(":", &[": ", " :", "::"]);
                let typed = match KEYS[k] {
                    "\"time\"" | "\"amount\"" | "\"amount_refunded\"" => "1769094000000",
                    _ => "\"settlement\"",
                };
                text += any(typed, VALUES);
            }
            text += any("}", ENDS);
            match line(&text) {
                Some(fast) => {
                    plain += 1;
                    assert_eq!(Some(fast), serde(&text), "{text}");
                }
                None => {
                    // What goes to serde is whatever serde says: nothing to compare, but the
                    // whole parse must still work on it.
                    let _ = parse_line(&text, 1);
                }
            }
        }
        assert!(plain > cases / 20, "only {plain} of {cases} lines took the plain path");
    }
}
