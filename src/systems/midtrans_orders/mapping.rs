//! Where seed 001's data lives: table and column names, and the status vocabulary, so the same
//! invariants can read a shop's own schema. [`Mapping::default`] is the seed-001 schema (the
//! migrations in `migrations/`), which the simulation always uses.
//!
//! Names are [`Ident`]s: letters, digits and underscores only, checked when they are parsed, so
//! nothing else can ever be interpolated into SQL. Status values are never interpolated: they are
//! bound as parameters or compared in Rust.
//!
//! What it does not do: map time columns of other types (times are integer epoch milliseconds, as
//! in seed 001), several payment rows per order, or different vocabularies for orders and payments.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A table or column name: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Ident(String);

impl Ident {
    /// Checks `s`; the error says what is wrong with it.
    pub fn new(s: &str) -> Result<Ident, String> {
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !ok_start || s.len() > 63 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{s:?} is not a plain identifier: use letters, digits and underscores only \
                 (starting with a letter or underscore, at most 63 characters)"
            ));
        }
        Ok(Ident(s.to_string()))
    }

    fn lit(s: &'static str) -> Ident {
        Ident(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ident::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The `orders` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Orders {
    pub table: Ident,
    /// The key the payments and fulfilments refer to.
    pub id: Ident,
    /// The order code the provider knows (Midtrans's `order_id`); unique.
    pub code: Ident,
    pub status: Ident,
    pub paid_at: Ident,
    pub created_at: Ident,
    /// In minor units.
    pub amount: Ident,
}

impl Default for Orders {
    fn default() -> Self {
        Orders {
            table: Ident::lit("orders"),
            id: Ident::lit("id"),
            code: Ident::lit("order_code"),
            status: Ident::lit("status"),
            paid_at: Ident::lit("paid_at"),
            created_at: Ident::lit("created_at"),
            amount: Ident::lit("total_amount"),
        }
    }
}

/// The `order_payments` table (at most one row per order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Payments {
    pub table: Ident,
    pub order_id: Ident,
    pub status: Ident,
    pub paid_at: Ident,
    pub created_at: Ident,
    pub gross_amount: Ident,
}

impl Default for Payments {
    fn default() -> Self {
        Payments {
            table: Ident::lit("order_payments"),
            order_id: Ident::lit("order_id"),
            status: Ident::lit("payment_status"),
            paid_at: Ident::lit("paid_at"),
            created_at: Ident::lit("created_at"),
            gross_amount: Ident::lit("gross_amount"),
        }
    }
}

/// The `payment_sync_logs` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncLogs {
    pub table: Ident,
    pub order_code: Ident,
    pub old_status: Ident,
    pub new_status: Ident,
    pub created_at: Ident,
}

impl Default for SyncLogs {
    fn default() -> Self {
        SyncLogs {
            table: Ident::lit("payment_sync_logs"),
            order_code: Ident::lit("order_code"),
            old_status: Ident::lit("old_status"),
            new_status: Ident::lit("new_status"),
            created_at: Ident::lit("created_at"),
        }
    }
}

/// The `fulfilments` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fulfilments {
    pub table: Ident,
    pub order_id: Ident,
}

impl Default for Fulfilments {
    fn default() -> Self {
        Fulfilments { table: Ident::lit("fulfilments"), order_id: Ident::lit("order_id") }
    }
}

/// What the status strings mean (the same on orders and payments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Statuses {
    pub paid: String,
    pub pending: String,
    /// Statuses a PAID order must never go back to.
    pub regressions: Vec<String>,
}

impl Default for Statuses {
    fn default() -> Self {
        Statuses {
            paid: "PAID".into(),
            pending: "PENDING".into(),
            regressions: vec!["PENDING".into(), "EXPIRED".into(), "FAILED".into()],
        }
    }
}

impl Statuses {
    pub fn is_paid(&self, status: &str) -> bool {
        status == self.paid
    }

    pub fn is_regression(&self, status: &str) -> bool {
        self.regressions.iter().any(|r| r == status)
    }
}

/// Every name the invariants need; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    pub orders: Orders,
    pub order_payments: Payments,
    pub payment_sync_logs: SyncLogs,
    pub fulfilments: Fulfilments,
    pub statuses: Statuses,
}

impl Mapping {
    /// The snapshot query's SELECT … FROM … part; columns 0–9 are read by
    /// [`super::invariants::OrderRow::from_row`], column 10 is the order's id. Add a
    /// `WHERE`/`ORDER BY` after it.
    pub fn snapshot_sql(&self) -> String {
        self.snapshot_sql_with(&|c| c.to_string(), &|c| c.to_string())
    }

    /// [`Mapping::snapshot_sql`] with the time columns passed through `time` and the amount
    /// columns through `amount` (each gets the qualified column, e.g. `o.paid_at`, and returns the
    /// expression to select): how an audit reads a shop's TIMESTAMP or DECIMAL columns as the
    /// epoch milliseconds and minor units the invariants expect.
    pub fn snapshot_sql_with(&self, time: &dyn Fn(&str) -> String, amount: &dyn Fn(&str) -> String) -> String {
        let (o, p, f) = (&self.orders, &self.order_payments, &self.fulfilments);
        format!(
            "SELECT o.{code}, o.{status}, {paid_at}, {created}, {amount}, \
             p.{pstatus}, {ppaid}, {pcreated}, {pamount}, \
             (SELECT COUNT(*) FROM {ft} f WHERE f.{fo} = o.{id}), o.{id} \
             FROM {ot} o LEFT JOIN {pt} p ON p.{po} = o.{id}",
            code = o.code,
            status = o.status,
            paid_at = time(&format!("o.{}", o.paid_at)),
            created = time(&format!("o.{}", o.created_at)),
            amount = amount(&format!("o.{}", o.amount)),
            pstatus = p.status,
            ppaid = time(&format!("p.{}", p.paid_at)),
            pcreated = time(&format!("p.{}", p.created_at)),
            pamount = amount(&format!("p.{}", p.gross_amount)),
            ft = f.table,
            fo = f.order_id,
            id = o.id,
            ot = o.table,
            pt = p.table,
            po = p.order_id,
        )
    }

    /// The order-code column, qualified as the snapshot query names it (for `WHERE`/`ORDER BY`).
    pub fn code_column(&self) -> String {
        format!("o.{}", self.orders.code)
    }

    /// The orders' primary key (the snapshot's last column): the audit pages by it, because
    /// walking the table in key order is as cheap as one full scan, where paging by the order
    /// code walks a second index and looks every row up again.
    pub fn id_column(&self) -> String {
        format!("o.{}", self.orders.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        assert!(Ident::new("order_code").is_ok());
        assert!(Ident::new("_x1").is_ok());
        for bad in ["", "1a", "a b", "a;drop", "a\"", "a.b", "ä"] {
            assert!(Ident::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_snapshot_reads_seed_001() {
        let sql = Mapping::default().snapshot_sql();
        assert!(sql.starts_with("SELECT o.order_code, o.status, o.paid_at"), "{sql}");
        assert!(sql.contains("LEFT JOIN order_payments p ON p.order_id = o.id"), "{sql}");
    }
}
