//! The `midtrans-orders` mapping file (TOML): one format and one parser for the simulation and
//! the audit. Every section and key is optional and defaults to seed 001's schema; unknown keys,
//! wrong types, names that are not plain identifiers, unknown states or types, a word given two
//! meanings and bad durations are errors naming `file:line:col`. [`Source`] keeps the text, so a
//! later message (a database error, a status word that matches no row) can name the entry that
//! caused it. What it does not do: check the names against a database.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Currency, Expiry, Fulfilments, Mapping, Orders, Payments, SyncLogs, Types};
use crate::check::mapping::{self as shared, Amounts, EXPONENT_MAX, Times};
use crate::error::Error;

/// `[types]`: the default types of every table; `decimals` is the older name of
/// `[currency] exponent`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileTypes {
    times: Times,
    amounts: Amounts,
    decimals: Option<u8>,
}

/// The file as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Doc {
    orders: Orders,
    order_payments: Payments,
    payment_sync_logs: SyncLogs,
    fulfilments: Fulfilments,
    currency: Option<Currency>,
    types: FileTypes,
    /// Payment method → duration (`"24h"`), over Midtrans's defaults.
    expiry: BTreeMap<String, String>,
}

/// Where a mapping came from: its file and text, or the built-in default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// The file as shown in messages; `None`: the built-in seed-001 mapping.
    pub path: Option<String>,
    pub text: String,
}

impl Source {
    /// `file:line:col` of the entry at `keys` (e.g. `["orders", "status"]`), or of its table
    /// when it is a default; for the built-in mapping, the entry's name.
    pub fn at(&self, keys: &[&str]) -> String {
        let entry = keys.join(".");
        match &self.path {
            None => format!("the built-in seed-001 mapping ({entry})"),
            Some(path) => match shared::locate(&self.text, keys) {
                Some((line, col)) => format!("{path}:{line}:{col} ({entry})"),
                None => format!("{path} ({entry}, a default)"),
            },
        }
    }

    /// The SHA-256 of the text (of the empty text for the built-in mapping).
    pub fn digest(&self) -> String {
        shared::digest(&self.text)
    }
}

impl Mapping {
    /// Parses mapping text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Mapping, Error> {
        let doc: Doc = shared::parse(text, path)?;
        let at = |keys: &[&str], message: String| {
            let location = match shared::locate(text, keys) {
                Some((line, col)) => format!("{path}:{line}:{col}"),
                None => path.to_string(),
            };
            Error::Scenario { location, message }
        };
        let currency = match (doc.currency, doc.types.decimals) {
            (Some(c), Some(d)) if c.exponent != d => {
                return Err(at(
                    &["types", "decimals"],
                    format!("types.decimals = {d} contradicts currency.exponent = {}; keep one", c.exponent),
                ));
            }
            (Some(c), _) => c,
            (None, Some(d)) => Currency { exponent: d, ..Currency::default() },
            (None, None) => Currency::default(),
        };
        if currency.exponent > EXPONENT_MAX {
            let keys: &[&str] =
                if doc.types.decimals.is_some() { &["types", "decimals"] } else { &["currency", "exponent"] };
            return Err(at(keys, format!("the currency exponent is {}; at most {EXPONENT_MAX}", currency.exponent)));
        }
        if currency.code.is_empty() {
            return Err(at(&["currency", "code"], "currency.code must not be empty".into()));
        }
        let mut expiry = Expiry::default();
        for (method, text_ms) in &doc.expiry {
            let ms = crate::sim::Millis::parse(text_ms)
                .map_err(|e| at(&["expiry", method], format!("expiry.{method} = {text_ms:?}: {e}")))?;
            expiry.0.insert(method.clone(), i64::try_from(ms.0).unwrap_or(i64::MAX));
        }
        if doc.orders.column_types.gross_amount.is_some() {
            return Err(at(
                &["orders", "column_types", "gross_amount"],
                "the orders' amount column is `amount`".into(),
            ));
        }
        if doc.order_payments.column_types.amount.is_some() {
            return Err(at(
                &["order_payments", "column_types", "amount"],
                "the payments' amount column is `gross_amount`".into(),
            ));
        }
        for (table, vocab, fraud) in [
            ("orders", &doc.orders.states, &doc.orders.fraud_status),
            ("order_payments", &doc.order_payments.states, &doc.order_payments.fraud_status),
        ] {
            if vocab.uses_fraud() && fraud.is_none() {
                return Err(at(
                    &[table, "states"],
                    format!("{table}.states has rules with a fraud_status, but {table}.fraud_status names no column"),
                ));
            }
        }
        Ok(Mapping {
            orders: doc.orders,
            order_payments: doc.order_payments,
            payment_sync_logs: doc.payment_sync_logs,
            fulfilments: doc.fulfilments,
            currency,
            types: Types { times: doc.types.times, amounts: doc.types.amounts },
            expiry,
        })
    }

    /// Reads a mapping file, and keeps its text to locate entries later.
    pub fn load(path: &Path) -> Result<(Mapping, Source), Error> {
        let (text, shown) = shared::read(path)?;
        let mapping = Mapping::parse(&text, &shown)?;
        Ok((mapping, Source { path: Some(shown), text }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Column, State};
    use super::*;
    use crate::store::BackendKind;

    #[test]
    fn empty_file_is_seed_001() {
        assert_eq!(Mapping::parse("", "m.toml").unwrap(), Mapping::default());
    }

    #[test]
    fn shipped_example_is_seed_001() {
        let text = include_str!("../../../../examples/audit/seed001_mapping.toml");
        assert_eq!(Mapping::parse(text, "seed001_mapping.toml").unwrap(), Mapping::default());
    }

    #[test]
    fn types_per_table_and_column_and_the_currency() {
        let text = "[types]\ntimes = \"timestamp\"\n[currency]\ncode = \"IDR\"\nexponent = 2\n\
                    [orders]\namounts = \"major\"\n[orders.column_types]\ncreated_at = \"epoch_s\"\n";
        let m = Mapping::parse(text, "m.toml").unwrap();
        assert_eq!(m.time_type(Column::OrderPaidAt), Times::Timestamp);
        assert_eq!(m.time_type(Column::OrderCreatedAt), Times::EpochS);
        assert_eq!(m.amount_type(Column::OrderAmount), Amounts::Major);
        assert_eq!(m.amount_type(Column::PaymentAmount), Amounts::Minor);
        let sql = m.snapshot_sql_for(BackendKind::Postgres);
        assert!(sql.contains("CAST(ROUND(o.total_amount * 100) AS BIGINT)"), "{sql}");
        assert!(sql.contains("(o.created_at) * 1000"), "{sql}");
        let e = Mapping::parse("[types]\ntimes = \"datetime\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:9: unknown variant `datetime`"), "{e}");
        let e = Mapping::parse("[types]\ndecimals = 9\n", "m.toml").unwrap_err().to_string();
        assert_eq!(e, "m.toml:2:12: the currency exponent is 9; at most 6");
        let e = Mapping::parse("[currency]\nexponent = 0\n[types]\ndecimals = 2\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:4:12: types.decimals = 2 contradicts"), "{e}");
    }

    #[test]
    fn vocabularies_and_fraud_columns() {
        let text = "[order_payments]\nfraud_status = \"fraud_status\"\nstates = \"midtrans\"\n\
                    [orders.states]\npending = [\"waiting\"]\npaid = [\"paid\"]\n";
        let m = Mapping::parse(text, "m.toml").unwrap();
        assert_eq!(m.order_payments.states.state("capture", Some("challenge")), Some(State::Challenge));
        assert_eq!(m.orders.states.state("waiting", None), Some(State::Pending));
        assert_eq!(m.log_states(), &m.orders.states);
        let e = Mapping::parse("[order_payments]\nstates = \"midtrans\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:10: order_payments.states has rules with a fraud_status"), "{e}");
        let e = Mapping::parse("[statuses]\npaid = \"PAID\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:1:2: unknown field `statuses`"), "{e}");
    }

    #[test]
    fn bad_names_durations_and_keys_are_located() {
        let e = Mapping::parse("[orders]\ntable = \"orders\"\ncode = \"code; DROP TABLE x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:3:8: "), "{e}");
        assert!(e.to_string().contains("not a plain identifier"), "{e}");
        let e = Mapping::parse("[orders]\ncolour = \"x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:2:1: unknown field `colour`"), "{e}");
        let e = Mapping::parse("[expiry]\nqris = \"soon\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:2:8: expiry.qris = \"soon\""), "{e}");
        let m = Mapping::parse("[expiry]\nbank_transfer = \"6h\"\n", "m.toml").unwrap();
        assert_eq!(m.expiry.of("bank_transfer"), Some(6 * 3_600_000));
        assert_eq!(m.expiry.of("qris"), Some(15 * 60_000));
    }

    #[test]
    fn sources_name_their_entries() {
        let text = "[orders]\nstatus = \"state\"\n";
        let s = Source { path: Some("m.toml".into()), text: text.into() };
        assert_eq!(s.at(&["orders", "status"]), "m.toml:2:10 (orders.status)");
        assert_eq!(s.at(&["orders", "paid_at"]), "m.toml:1:2 (orders.paid_at)");
        assert_eq!(s.at(&["fulfilments", "table"]), "m.toml (fulfilments.table, a default)");
        assert_eq!(Source::default().at(&["orders", "table"]), "the built-in seed-001 mapping (orders.table)");
    }
}
