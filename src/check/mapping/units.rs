//! What a mapped column holds, and how SQL reads it as what the invariants expect: times as
//! integer epoch milliseconds ([`Times`]), money as integer minor units ([`Amounts`] with the
//! [`Currency`]'s exponent), status text compared byte for byte ([`exact`]).
//!
//! | times | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `epoch_s` | `x * 1000` | `x * 1000` | `x * 1000` |
//! | `timestamp` | `julianday(x)`: ISO 8601 text, UTC | `EXTRACT(EPOCH FROM x)`: `timestamptz`, or `timestamp` read as UTC | `TIMESTAMPDIFF(MICROSECOND, '1970-01-01', x)` with the session in UTC |
//!
//! Major-unit amounts (`DECIMAL(12,2)`, or whole rupiah in a `BIGINT`) are multiplied by
//! 10^exponent and rounded to the nearest minor unit. [`power_of_ten`] tells when two amounts
//! differ by exactly such a factor, the sign of a mapping with the wrong unit. What it does not
//! do: time zones other than UTC for zone-less values, or amounts stored as text.

use serde::{Deserialize, Serialize};

use crate::store::BackendKind;

/// How a time column is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Times {
    /// Integer epoch milliseconds (seed 001, and every simulation).
    #[default]
    EpochMs,
    /// Integer epoch seconds.
    EpochS,
    /// SQL `TIMESTAMP`/`TIMESTAMPTZ`/`DATETIME`, or ISO 8601 text on SQLite.
    Timestamp,
}

impl Times {
    /// `expr` as integer epoch milliseconds on `kind` (NULL stays NULL).
    pub fn sql(self, kind: BackendKind, expr: &str) -> String {
        match (self, kind) {
            (Times::EpochMs, _) => expr.to_string(),
            (Times::EpochS, _) => format!("({expr}) * 1000"),
            (Times::Timestamp, BackendKind::Sqlite) => {
                format!("CAST(ROUND((julianday({expr}) - 2440587.5) * 86400000.0) AS INTEGER)")
            }
            (Times::Timestamp, BackendKind::Postgres) => {
                format!("CAST(FLOOR(EXTRACT(EPOCH FROM {expr}) * 1000) AS BIGINT)")
            }
            (Times::Timestamp, BackendKind::Mysql) => {
                format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {expr}) DIV 1000")
            }
        }
    }
}

/// How an amount column is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amounts {
    /// Integers in minor units (seed 001: IDR × 100, as Midtrans's API counts it).
    #[default]
    Minor,
    /// Major units: `DECIMAL`/`NUMERIC` with decimals, or whole units in an integer column.
    Major,
}

impl Amounts {
    /// `expr` as integer minor units on `kind`, with `exponent` minor digits (NULL stays NULL).
    pub fn sql(self, kind: BackendKind, expr: &str, exponent: u8) -> String {
        let scale = 10i64.pow(u32::from(exponent));
        match (self, kind) {
            (Amounts::Minor, _) => expr.to_string(),
            (Amounts::Major, BackendKind::Mysql) => format!("CAST(ROUND({expr} * {scale}) AS SIGNED)"),
            (Amounts::Major, BackendKind::Postgres) => format!("CAST(ROUND({expr} * {scale}) AS BIGINT)"),
            (Amounts::Major, BackendKind::Sqlite) => format!("CAST(ROUND({expr} * {scale}) AS INTEGER)"),
        }
    }
}

/// The largest exponent: 10^6 minor units per major one is already more than any currency has.
pub const EXPONENT_MAX: u8 = 6;

/// The currency of the amounts: its code (for output) and its exponent, the number of minor
/// digits the provider counts in (Midtrans's IDR: 2, USD: 2, JPY: 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Currency {
    pub code: String,
    pub exponent: u8,
}

impl Default for Currency {
    fn default() -> Self {
        Currency { code: "IDR".into(), exponent: 2 }
    }
}

impl Currency {
    /// `minor` in the currency's units: `IDR 4,507.00`, `JPY 1,200`, `-USD 0.05`.
    pub fn format(&self, minor: i64) -> String {
        let scale = 10u64.pow(u32::from(self.exponent));
        let abs = minor.unsigned_abs();
        let (major, frac) = (abs / scale, abs % scale);
        let digits = major.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if minor < 0 { "-" } else { "" };
        match self.exponent {
            0 => format!("{sign}{} {grouped}", self.code),
            e => format!("{sign}{} {grouped}.{frac:0width$}", self.code, width = usize::from(e)),
        }
    }
}

/// `Some(k)` when `ours = theirs × 10^k` exactly for some k ≠ 0 with |k| ≤ 6: amounts off by a
/// power of ten, the sign of major units read as minor ones or the other way round.
pub fn power_of_ten(ours: i64, theirs: i64) -> Option<i32> {
    if ours == theirs || ours == 0 || theirs == 0 || (ours < 0) != (theirs < 0) {
        return None;
    }
    let (big, small, sign) = if ours.abs() > theirs.abs() { (ours, theirs, 1) } else { (theirs, ours, -1) };
    let mut f = small;
    for k in 1..=6 {
        f = f.checked_mul(10)?;
        if f == big {
            return Some(sign * k);
        }
    }
    None
}

/// `expr` as text compared byte for byte, whatever the column's collation: MySQL's default
/// collations are case- and trailing-space-insensitive, and a SQLite or PostgreSQL column may
/// declare a looser one too.
pub fn exact(kind: BackendKind, expr: &str) -> String {
    match kind {
        BackendKind::Sqlite => format!("{expr} COLLATE BINARY"),
        BackendKind::Postgres => format!("CAST({expr} AS TEXT) COLLATE \"C\""),
        BackendKind::Mysql => format!("CAST({expr} AS BINARY)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_in_the_currency_units() {
        let idr = Currency::default();
        assert_eq!(idr.format(450_700), "IDR 4,507.00");
        assert_eq!(idr.format(12_345_678_905), "IDR 123,456,789.05");
        assert_eq!(idr.format(-5), "-IDR 0.05");
        assert_eq!(Currency { code: "JPY".into(), exponent: 0 }.format(1200), "JPY 1,200");
    }

    #[test]
    fn powers_of_ten_are_found_both_ways() {
        assert_eq!(power_of_ten(4507, 450_700), Some(-2));
        assert_eq!(power_of_ten(450_700, 4507), Some(2));
        assert_eq!(power_of_ten(450_700, 450_700), None);
        assert_eq!(power_of_ten(450_701, 4507), None);
        assert_eq!(power_of_ten(0, 0), None);
        assert_eq!(power_of_ten(-10, 1), None);
        assert_eq!(power_of_ten(i64::MAX, 1), None);
    }

    #[test]
    fn conversions_are_written_per_backend() {
        assert_eq!(Times::EpochS.sql(BackendKind::Mysql, "o.t"), "(o.t) * 1000");
        assert_eq!(Amounts::Major.sql(BackendKind::Postgres, "o.a", 2), "CAST(ROUND(o.a * 100) AS BIGINT)");
        assert_eq!(Amounts::Minor.sql(BackendKind::Sqlite, "o.a", 2), "o.a");
    }
}
