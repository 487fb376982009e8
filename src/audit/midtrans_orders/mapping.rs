//! The `midtrans-orders` mapping file: the schema's names ([`Mapping`]) and what its columns hold
//! ([`Types`]), in TOML. Every section and key is optional and defaults to the seed-001 schema
//! (integer epoch milliseconds, integer minor units); unknown keys, wrong types, identifiers that
//! are not plain (letters, digits, underscores) and unknown type names are errors naming
//! `file:line:col`. What it does not do: check that the tables and columns exist, or that they
//! hold what the types say (the audit's first query does, as far as the database can tell).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::systems::midtrans_orders::mapping::{Fulfilments, Mapping, Orders, Payments, Statuses, SyncLogs};

/// How the time columns (`paid_at`, `created_at` of every table) are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Times {
    /// Integer epoch milliseconds (seed 001).
    #[default]
    EpochMs,
    /// Integer epoch seconds.
    EpochS,
    /// SQL `TIMESTAMP`/`DATETIME` (PostgreSQL, MySQL, MariaDB), or ISO 8601 text (SQLite).
    Timestamp,
}

/// How the amount columns (`orders.amount`, `order_payments.gross_amount`) are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amounts {
    /// Integers in minor units (seed 001: IDR × 100).
    #[default]
    Minor,
    /// `DECIMAL`/`NUMERIC` in major units, `decimals` digits after the point.
    Major,
}

/// What the mapped columns hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Types {
    pub times: Times,
    pub amounts: Amounts,
    /// Minor units per major unit, as a power of ten (2: cents); used with `amounts = "major"`.
    pub decimals: u8,
}

impl Default for Types {
    fn default() -> Self {
        Types { times: Times::EpochMs, amounts: Amounts::Minor, decimals: 2 }
    }
}

/// The file as written: [`Mapping`]'s sections plus `[types]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct File {
    orders: Orders,
    order_payments: Payments,
    payment_sync_logs: SyncLogs,
    fulfilments: Fulfilments,
    statuses: Statuses,
    types: Types,
}

impl Default for File {
    fn default() -> Self {
        let m = Mapping::default();
        File {
            orders: m.orders,
            order_payments: m.order_payments,
            payment_sync_logs: m.payment_sync_logs,
            fulfilments: m.fulfilments,
            statuses: m.statuses,
            types: Types::default(),
        }
    }
}

/// The largest `decimals`: 10^6 minor units per major one is already more than any currency has.
const DECIMALS_MAX: u8 = 6;

/// Parses mapping text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<(Mapping, Types), Error> {
    let f: File = super::super::mapping::parse(text, path)?;
    let bad = |message: &str| Error::Scenario { location: path.to_string(), message: message.into() };
    if f.statuses.paid.is_empty() || f.statuses.pending.is_empty() {
        return Err(bad("statuses.paid and statuses.pending must not be empty"));
    }
    if f.types.decimals > DECIMALS_MAX {
        return Err(bad(&format!("types.decimals is {}; at most {DECIMALS_MAX}", f.types.decimals)));
    }
    let mapping = Mapping {
        orders: f.orders,
        order_payments: f.order_payments,
        payment_sync_logs: f.payment_sync_logs,
        fulfilments: f.fulfilments,
        statuses: f.statuses,
    };
    Ok((mapping, f.types))
}

/// Reads a mapping file.
pub fn load(path: &Path) -> Result<(Mapping, Types), Error> {
    let (text, shown) = super::super::mapping::read(path)?;
    parse(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_seed_001() {
        assert_eq!(parse("", "m.toml").unwrap(), (Mapping::default(), Types::default()));
    }

    #[test]
    fn shipped_example_is_seed_001() {
        let text = include_str!("../../../examples/audit/seed001_mapping.toml");
        assert_eq!(parse(text, "seed001_mapping.toml").unwrap(), (Mapping::default(), Types::default()));
    }

    #[test]
    fn types_are_read_and_checked() {
        let (_, t) = parse("[types]\ntimes = \"timestamp\"\namounts = \"major\"\ndecimals = 0\n", "m.toml").unwrap();
        assert_eq!(t, Types { times: Times::Timestamp, amounts: Amounts::Major, decimals: 0 });
        let e = parse("[types]\ntimes = \"datetime\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:9: unknown variant `datetime`"), "{e}");
        let e = parse("[types]\ndecimals = 9\n", "m.toml").unwrap_err().to_string();
        assert_eq!(e, "m.toml: types.decimals is 9; at most 6");
    }

    #[test]
    fn bad_identifier_and_unknown_key_are_located() {
        let e = parse("[orders]\ntable = \"orders\"\ncode = \"code; DROP TABLE x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:3:8: "), "{e}");
        assert!(e.to_string().contains("not a plain identifier"), "{e}");
        let e = parse("[orders]\ncolour = \"x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:2:1: unknown field `colour`"), "{e}");
    }
}
