//! Simulated durations as they appear in scenario files: `"250ms"`, `"15s"`, `"5m"`, `"1h"`,
//! `"3d"`, and latency ranges drawn through the oracle.
//!
//! Durations are whole milliseconds, the resolution of tokio's timer wheel; sub-millisecond
//! values would be rounded by the runtime anyway and only hide that rounding.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::oracle::Oracle;

/// A duration in whole milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    pub const fn ms(v: u64) -> Self {
        Millis(v)
    }
    pub const fn s(v: u64) -> Self {
        Millis(v * 1_000)
    }
    pub const fn min(v: u64) -> Self {
        Millis(v * 60_000)
    }
    pub const fn h(v: u64) -> Self {
        Millis(v * 3_600_000)
    }

    /// Parses `"<integer><unit>"` with unit `ms`, `s`, `m`, `h` or `d`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "expected a duration like \"250ms\", \"15s\", \"5m\", \"1h\" or \"3d\", found {text:?}"
            ));
        }
        let n: u64 = digits.parse().map_err(|_| format!("duration {text:?} is too large"))?;
        let factor = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("duration {text:?} has no unit: add ms, s, m, h or d")),
            other => return Err(format!("unknown duration unit {other:?} in {text:?}: use ms, s, m, h or d")),
        };
        n.checked_mul(factor).map(Millis).ok_or_else(|| format!("duration {text:?} is too large"))
    }
}

impl fmt::Display for Millis {
    /// The largest unit that represents the value exactly, so print-then-parse is the identity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        for (factor, unit) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
            if v != 0 && v.is_multiple_of(factor) {
                return write!(f, "{}{unit}", v / factor);
            }
        }
        write!(f, "{v}ms")
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Millis::parse(&text).map_err(de::Error::custom)
    }
}

/// A latency range; draws are skewed toward `min` (cubic), so most messages are quick and a
/// few take the long tail, as real networks and databases do. The choice 0 gives `min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    pub min: Millis,
    pub max: Millis,
}

impl Range {
    pub const fn new(min: Millis, max: Millis) -> Self {
        Range { min, max }
    }

    /// A single value (no randomness, no choice drawn).
    pub const fn fixed(v: Millis) -> Self {
        Range { min: v, max: v }
    }

    /// Draws a value in `min..=max`.
    pub fn draw(&self, oracle: &mut Oracle) -> u64 {
        let (lo, hi) = (self.min.0, self.max.0);
        if lo >= hi {
            return lo;
        }
        const STEPS: u64 = 1_000;
        let u = oracle.below(STEPS + 1);
        let span = u128::from(hi - lo);
        let skew = u128::from(u) * u128::from(u) * u128::from(u);
        lo + (span * skew / u128::from(STEPS * STEPS * STEPS)) as u64
    }

    /// Draws uniformly in `min..=max` (for arrival times and offsets, where no skew is wanted).
    pub fn draw_uniform(&self, oracle: &mut Oracle) -> u64 {
        if self.min.0 >= self.max.0 {
            return self.min.0;
        }
        oracle.range(self.min.0, self.max.0)
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            min: Millis,
            max: Millis,
        }
        let raw = Raw::deserialize(d)?;
        if raw.min > raw.max {
            return Err(de::Error::custom(format!("range min {} is greater than max {}", raw.min, raw.max)));
        }
        Ok(Range { min: raw.min, max: raw.max })
    }
}

/// A probability written as a number in `0.0..=1.0`, held as parts per million.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub u32);

impl Rate {
    pub const ZERO: Rate = Rate(0);
    pub fn ppm(self) -> u32 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(self.0) / 1e6)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(de::Error::custom(format!("a rate is a probability between 0.0 and 1.0, found {v}")));
        }
        Ok(Rate((v * 1e6).round() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Millis::parse("250ms"), Ok(Millis(250)));
        assert_eq!(Millis::parse("15s"), Ok(Millis(15_000)));
        assert_eq!(Millis::parse("5m"), Ok(Millis(300_000)));
        assert_eq!(Millis::parse("1h"), Ok(Millis(3_600_000)));
        assert_eq!(Millis::parse("3d"), Ok(Millis(259_200_000)));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "5", "m", "5 minutes", "-3s", "1.5s", "99999999999999999999ms", "18446744073709551615d"] {
            assert!(Millis::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for v in [0, 1, 999, 1_000, 1_500, 60_000, 90_000, 3_600_000, 86_400_000, 86_400_001] {
            assert_eq!(Millis::parse(&Millis(v).to_string()), Ok(Millis(v)));
        }
    }

    #[test]
    fn range_draws_stay_inside_and_zero_is_min() {
        let r = Range::new(Millis(10), Millis(500));
        let mut o = Oracle::random(3);
        for _ in 0..10_000 {
            let v = r.draw(&mut o);
            assert!((10..=500).contains(&v));
        }
        let mut z = Oracle::replay(vec![]);
        assert_eq!(r.draw(&mut z), 10);
        let mut top = Oracle::replay(vec![1_000]);
        assert_eq!(r.draw(&mut top), 500);
    }
}
