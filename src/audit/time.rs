//! Times the audit reads: `--as-of` (epoch milliseconds or UTC ISO 8601) and Midtrans's local
//! `"YYYY-MM-DD HH:MM:SS"` (Asia/Jakarta), to epoch milliseconds, on the proleptic Gregorian
//! calendar. What it does not do: time zones other than UTC and UTC+7, or leap-second tables
//! (a `:60` second is accepted and counted as the next second).

/// Epoch milliseconds of a proleptic Gregorian UTC date and time.
pub fn epoch_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = crate::sim::calendar::days_from_civil(y, mo, d);
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
}
