//! The pieces of a schema mapping that do not depend on any one system, shared by the
//! simulation's checks and by `settle audit`: one format (TOML) and one parser.
//!
//! - [`ident`]: names that may go into SQL — [`Ident`], and [`TableName`] (`schema.table`).
//! - [`units`]: what a column holds — [`Times`], [`Amounts`], the [`Currency`] and its exponent —
//!   and the SQL that reads it as epoch milliseconds and minor units.
//! - [`vocab`]: a table's own status words and the canonical [`State`]s they mean
//!   ([`Vocabulary`], [`Rule`]).
//! - [`parse`], [`read`], [`locate`], [`digest`]: reading a mapping file into a system's own
//!   mapping type, with errors and later messages naming `file:line:col`.
//!
//! A system's mapping (e.g. `systems::midtrans_orders::mapping`) is a serde type built from these
//! pieces. What this module does not do: know any system's tables, or check that the names exist
//! in a database (the audit does, before its first real query).

pub mod ident;
pub mod units;
pub mod vocab;

use std::path::Path;

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::Error;

pub use ident::{Ident, TableName};
pub use units::{Amounts, Currency, EXPONENT_MAX, Times, exact, power_of_ten};
pub use vocab::{Rule, State, Vocabulary};

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, col)
}

/// Parses mapping text; `path` names it in errors (`path:line:col: message`).
pub fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
        Error::Scenario { location: format!("{path}:{line}:{col}"), message: e.message().trim_end().to_string() }
    })
}

/// Reads a mapping file: its text, and the name to show in errors.
pub fn read(path: &Path) -> Result<(String, String), Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("{shown}: cannot read the mapping file: {e}")))?;
    Ok((text, shown))
}

/// Where the value of the key at `keys` (e.g. `["orders", "status"]`) is written in `text`, as
/// 1-based line and column; the innermost table that is written when the key itself is not (a
/// default), and `None` when neither is.
pub fn locate(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for key in keys {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *key) else { break };
        found = Some(match v.get_ref() {
            DeValue::Table(_) => k.span().start,
            _ => v.span().start,
        });
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|offset| line_col(text, offset))
}

/// A short digest of a mapping's text (SHA-256, hex), so a report says which mapping it used.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let e = parse::<T>("\n  a = \"x\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:7: invalid type"), "{e}");
        let e = parse::<T>("a = 1\nb = 2\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:1: unknown field `b`"), "{e}");
    }

    #[test]
    fn keys_are_located_in_the_text() {
        let text = "[orders]\ntable = \"shop.orders\"\n\n[order_payments]\nstatus = \"x\"\n";
        assert_eq!(locate(text, &["orders", "table"]), Some((2, 9)));
        assert_eq!(locate(text, &["order_payments", "status"]), Some((5, 10)));
        // A default: the table it would be in.
        assert_eq!(locate(text, &["order_payments", "paid_at"]), Some((4, 2)));
        assert_eq!(locate(text, &["fulfilments", "table"]), None);
        assert_eq!(digest("").len(), 64);
    }
}
