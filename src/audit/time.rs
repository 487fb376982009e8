//! Times the audit reads and writes: `--as-of`, `--since`, `--until` (epoch milliseconds, or ISO
//! 8601 with `Z` or an offset) and Midtrans's local `"YYYY-MM-DD HH:MM:SS"` (Asia/Jakarta), to
//! epoch milliseconds, on the proleptic Gregorian calendar; and back to ISO 8601 in the zone the
//! report states ([`Zone`], `--tz`). What it does not do: daylight-saving rules (a zone is a fixed
//! offset; Indonesia has none), or leap-second tables (a `:60` second is accepted and counted as
//! the next second). A day the month does not have (`2026-02-30`) is refused, not rolled over.

/// Epoch milliseconds of a proleptic Gregorian UTC date and time.
pub fn epoch_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || !(1..=crate::sim::calendar::days_in_month(y, mo)).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
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

/// `--as-of`: epoch milliseconds (an integer), or `YYYY-MM-DDTHH:MM:SS` (optionally with `.mmm`)
/// followed by `Z` or an offset `±HH:MM`.
pub fn parse_instant(s: &str) -> Option<i64> {
    if let Some(ms) = num(s) {
        return Some(ms);
    }
    if s.len() > 6 && !s.ends_with('Z') {
        let (body, offset) = s.split_at(s.len() - 6);
        let zone = Zone::parse(offset)?;
        return parse_instant(&format!("{body}Z")).map(|t| t - i64::from(zone.minutes) * 60_000);
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

/// A fixed offset from UTC, for the times a report prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    pub minutes: i32,
}

impl Zone {
    /// `UTC`, `Z`, `±HH:MM`, or Indonesia's zone names (`Asia/Jakarta` +07:00, `Asia/Makassar`
    /// +08:00, `Asia/Jayapura` +09:00), which keep no daylight-saving time.
    pub fn parse(s: &str) -> Option<Zone> {
        let minutes = match s {
            "UTC" | "Z" | "utc" => 0,
            "Asia/Jakarta" | "Asia/Pontianak" | "WIB" => 7 * 60,
            "Asia/Makassar" | "WITA" => 8 * 60,
            "Asia/Jayapura" | "WIT" => 9 * 60,
            _ => {
                let b = s.as_bytes();
                if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
                    return None;
                }
                let (h, m) = (num(&s[1..3])?, num(&s[4..6])?);
                if h > 14 || m > 59 {
                    return None;
                }
                let sign = if b[0] == b'-' { -1 } else { 1 };
                sign * i32::try_from(h * 60 + m).ok()?
            }
        };
        Some(Zone { minutes })
    }

    /// `+07:00`, or `Z` for UTC.
    pub fn suffix(self) -> String {
        if self.minutes == 0 {
            return "Z".into();
        }
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.unsigned_abs();
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// `ms` as ISO 8601 in this zone: `2026-01-22T22:03:33+07:00` (`.mmm` when not zero).
    pub fn iso(self, ms: i64) -> String {
        let local = ms + i64::from(self.minutes) * 60_000;
        let (days, rest) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
        let (y, mo, d) = crate::sim::calendar::civil_from_days(days);
        let (h, mi, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
        let frac = if milli == 0 { String::new() } else { format!(".{milli:03}") };
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{}", self.suffix())
    }
}

/// A duration as the flags write it: `90m` → `1h30m`, `0` → `0s`.
pub fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if rest >= size {
            out += &format!("{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
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
        assert_eq!(parse_instant("2026-01-22T22:03:33.250+07:00"), Some(1_769_094_213_250));
        for bad in
            ["", "-5", "2026-01-22 15:03:33Z", "2026-13-01T00:00:00Z", "2026-01-22T15:03:33", "2026-01-22T15:03:33+7"]
        {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
        // A day the month lacks is refused, not rolled into the next month; leap years count.
        for bad in ["2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2100-02-29T00:00:00Z"] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
        assert_eq!(parse_jakarta("2026-02-30 10:00:00"), None);
        assert!(parse_instant("2028-02-29T00:00:00Z").is_some() && parse_instant("2000-02-29T00:00:00Z").is_some());
        assert!(parse_jakarta("2026-01-31 10:00:00").is_some());
    }

    #[test]
    fn zones_print_and_parse() {
        let wib = Zone::parse("Asia/Jakarta").unwrap();
        assert_eq!(wib.iso(1_769_094_213_000), "2026-01-22T22:03:33+07:00");
        assert_eq!(Zone::default().iso(1_769_094_213_250), "2026-01-22T15:03:33.250Z");
        assert_eq!(Zone::parse("-03:30").unwrap().iso(0), "1969-12-31T20:30:00-03:30");
        assert_eq!(Zone::parse("+07:00"), Some(wib));
        for bad in ["", "+7", "+07:60", "Europe/Paris", "+15:00"] {
            assert_eq!(Zone::parse(bad), None, "{bad}");
        }
        assert_eq!(duration(90 * 60_000), "1h30m");
        assert_eq!(duration(24 * 3_600_000 + 15 * 60_000), "1d15m");
    }
}
