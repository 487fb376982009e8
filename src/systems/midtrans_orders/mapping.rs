//! Where seed 001's data lives in a schema: tables (schema-qualified if need be), columns, the
//! key each table joins on, each table's own status vocabulary, what each column holds, the
//! currency, and the provider's expiry per payment method — so the same invariants can read a
//! shop's own schema, in the simulation and in `settle audit`. [`Mapping::default`] is the
//! seed-001 schema (the migrations in `migrations/`), which the simulation uses unless told
//! otherwise.
//!
//! - The file format and its parser: [`file`](mod@file) ([`Mapping::parse`], [`Mapping::load`]).
//! - Rows: [`Mapping::snapshot_sql`] reads one row per order; [`Mapping::read_row`] normalises it
//!   into the canonical [`OrderRow`] the invariant functions take — seed 001's status words,
//!   epoch milliseconds, minor units — plus what the audit needs besides ([`row::Snapshot`]).
//!
//! Names are [`Ident`]s and [`TableName`]s, checked when parsed, so nothing else can ever be
//! interpolated into SQL. Status words are never interpolated: they are compared in Rust, or bound
//! as parameters. What it does not do: several payment rows per order, or check that the names
//! exist (the audit does, naming the mapping entry).

pub mod file;
pub mod row;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::check::mapping::{Amounts, Currency, Ident, Rule, State, TableName, Times, Vocabulary};
use crate::check::money::Verdict;
use crate::providers::midtrans::status::PaymentType;
use crate::store::BackendKind;

#[allow(unused_imports)]
use super::invariants::OrderRow;

/// Per-column types, overriding the table's `times`/`amounts` for one column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnTypes {
    pub paid_at: Option<Times>,
    pub created_at: Option<Times>,
    pub amount: Option<Amounts>,
    pub gross_amount: Option<Amounts>,
}

/// The orders table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Orders {
    pub table: TableName,
    /// The orders' key, of any type: what payments and fulfilments refer to unless they say
    /// otherwise (`references`), and the order the audit pages in without an export.
    pub id: Ident,
    /// The order code the provider knows (Midtrans's `order_id`); unique.
    pub code: Ident,
    pub status: Ident,
    /// A fraud-status column, when the orders' states depend on one.
    pub fraud_status: Option<Ident>,
    pub paid_at: Ident,
    pub created_at: Ident,
    pub amount: Ident,
    /// What this table's status words mean.
    pub states: Vocabulary,
    /// How this table's time and amount columns are stored (default: `[types]`).
    pub times: Option<Times>,
    pub amounts: Option<Amounts>,
    pub column_types: ColumnTypes,
}

impl Default for Orders {
    fn default() -> Self {
        Orders {
            table: TableName::lit("orders"),
            id: Ident::lit("id"),
            code: Ident::lit("order_code"),
            status: Ident::lit("status"),
            fraud_status: None,
            paid_at: Ident::lit("paid_at"),
            created_at: Ident::lit("created_at"),
            amount: Ident::lit("total_amount"),
            states: Vocabulary::seed001(),
            times: None,
            amounts: None,
            column_types: ColumnTypes::default(),
        }
    }
}

/// The payments table (at most one row per order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Payments {
    pub table: TableName,
    /// This table's column naming its order.
    pub order_id: Ident,
    /// The orders column `order_id` holds (default: the orders' `id`), e.g. `code`.
    pub references: Option<Ident>,
    pub status: Ident,
    pub fraud_status: Option<Ident>,
    /// The payment method (Midtrans's `payment_type`), for its expiry.
    pub payment_method: Option<Ident>,
    pub paid_at: Ident,
    pub created_at: Ident,
    pub gross_amount: Ident,
    pub states: Vocabulary,
    pub times: Option<Times>,
    pub amounts: Option<Amounts>,
    pub column_types: ColumnTypes,
}

impl Default for Payments {
    fn default() -> Self {
        Payments {
            table: TableName::lit("order_payments"),
            order_id: Ident::lit("order_id"),
            references: None,
            status: Ident::lit("payment_status"),
            fraud_status: None,
            // Seed 001 has the column; naming it turns on the per-method expiry in the audit.
            payment_method: None,
            paid_at: Ident::lit("paid_at"),
            created_at: Ident::lit("created_at"),
            gross_amount: Ident::lit("gross_amount"),
            states: Vocabulary::seed001(),
            times: None,
            amounts: None,
            column_types: ColumnTypes::default(),
        }
    }
}

/// The sync log: one row per status change the shop applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncLogs {
    pub table: TableName,
    /// The order code (as the orders' `code`).
    pub order_code: Ident,
    pub old_status: Ident,
    pub new_status: Ident,
    pub created_at: Ident,
    /// The words of `old_status`/`new_status` (default: the orders' vocabulary).
    pub states: Option<Vocabulary>,
    pub times: Option<Times>,
}

impl Default for SyncLogs {
    fn default() -> Self {
        SyncLogs {
            table: TableName::lit("payment_sync_logs"),
            order_code: Ident::lit("order_code"),
            old_status: Ident::lit("old_status"),
            new_status: Ident::lit("new_status"),
            created_at: Ident::lit("created_at"),
            states: None,
            times: None,
        }
    }
}

/// The fulfilments table (shipments): one row per fulfilment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fulfilments {
    pub table: TableName,
    pub order_id: Ident,
    /// The orders column `order_id` holds (default: the orders' `id`).
    pub references: Option<Ident>,
}

impl Default for Fulfilments {
    fn default() -> Self {
        Fulfilments { table: TableName::lit("fulfilments"), order_id: Ident::lit("order_id"), references: None }
    }
}

/// What the status strings mean to the invariant functions: the canonical words, seed 001's
/// own. Rows reach the functions normalised to these ([`Mapping::read_row`]), so this is not
/// part of a mapping file; each table says what its own words mean in `states`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statuses {
    pub paid: String,
    pub pending: String,
    /// Statuses a PAID order must never go back to.
    pub regressions: Vec<String>,
}

impl Default for Statuses {
    fn default() -> Self {
        Statuses {
            paid: State::Paid.canonical().into(),
            pending: State::Pending.canonical().into(),
            regressions: [State::Pending, State::Expired, State::Failed].map(|s| s.canonical().to_string()).to_vec(),
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

    /// What a canonical status says about the payment, for the money invariants: paid, pending,
    /// a regression other than pending (expired, failed), or else a reversal the provider made
    /// (denied, refunded, cancelled).
    pub fn verdict(&self, status: &str) -> Verdict {
        if self.is_paid(status) {
            Verdict::Paid
        } else if status == self.pending {
            Verdict::Pending
        } else if self.is_regression(status) {
            Verdict::Failed
        } else {
            Verdict::Refunded
        }
    }
}

/// The default types of every table (`[types]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Types {
    pub times: Times,
    pub amounts: Amounts,
}

/// How long a payment of each method may stay pending before the provider expires it, in
/// milliseconds, by the method's word in the payments' `payment_method` column. Defaults:
/// Midtrans's own ([`PaymentType::default_expiry_ms`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expiry(pub BTreeMap<String, i64>);

impl Default for Expiry {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        for t in PaymentType::ALL {
            m.insert(t.as_str().to_string(), i64::try_from(t.default_expiry_ms()).unwrap_or(i64::MAX));
        }
        // Midtrans's other e-wallet and the bank-transfer variants, as its docs time them.
        for (method, minutes) in [("shopeepay", 15), ("permata", 24 * 60), ("bca_va", 24 * 60), ("akulaku", 60)] {
            m.entry(method.to_string()).or_insert(minutes * 60_000);
        }
        Expiry(m)
    }
}

impl Expiry {
    /// The expiry of `method`, if it is known.
    pub fn of(&self, method: &str) -> Option<i64> {
        self.0.get(method).copied()
    }
}

/// Every name the invariants need; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub orders: Orders,
    pub order_payments: Payments,
    pub payment_sync_logs: SyncLogs,
    pub fulfilments: Fulfilments,
    pub currency: Currency,
    pub types: Types,
    pub expiry: Expiry,
}

/// Which column of the snapshot, for the converters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    OrderPaidAt,
    OrderCreatedAt,
    OrderAmount,
    PaymentPaidAt,
    PaymentCreatedAt,
    PaymentAmount,
    LogCreatedAt,
}

impl Mapping {
    /// How `column` is stored: its own type, else its table's, else `[types]`.
    pub fn time_type(&self, column: Column) -> Times {
        let (o, p, l, t) = (&self.orders, &self.order_payments, &self.payment_sync_logs, &self.types);
        match column {
            Column::OrderPaidAt => o.column_types.paid_at.or(o.times),
            Column::OrderCreatedAt => o.column_types.created_at.or(o.times),
            Column::PaymentPaidAt => p.column_types.paid_at.or(p.times),
            Column::PaymentCreatedAt => p.column_types.created_at.or(p.times),
            Column::LogCreatedAt => l.times,
            Column::OrderAmount | Column::PaymentAmount => None,
        }
        .unwrap_or(t.times)
    }

    /// How the amount `column` is stored.
    pub fn amount_type(&self, column: Column) -> Amounts {
        let (o, p) = (&self.orders, &self.order_payments);
        match column {
            Column::OrderAmount => o.column_types.amount.or(o.amounts),
            Column::PaymentAmount => p.column_types.gross_amount.or(p.amounts),
            _ => None,
        }
        .unwrap_or(self.types.amounts)
    }

    /// `expr` (the column `column`) read on `kind` as epoch ms or minor units.
    pub fn convert(&self, kind: BackendKind, column: Column, expr: &str) -> String {
        match column {
            Column::OrderAmount | Column::PaymentAmount => {
                self.amount_type(column).sql(kind, expr, self.currency.exponent)
            }
            _ => self.time_type(column).sql(kind, expr),
        }
    }

    /// The vocabulary of the sync log's words.
    pub fn log_states(&self) -> &Vocabulary {
        self.payment_sync_logs.states.as_ref().unwrap_or(&self.orders.states)
    }

    /// The orders column payments refer to.
    pub fn payments_reference(&self) -> &Ident {
        self.order_payments.references.as_ref().unwrap_or(&self.orders.id)
    }

    /// The orders column fulfilments refer to.
    pub fn fulfilments_reference(&self) -> &Ident {
        self.fulfilments.references.as_ref().unwrap_or(&self.orders.id)
    }

    /// The snapshot query's SELECT … FROM … part, columns as stored (what the simulation writes:
    /// epoch milliseconds, minor units); [`Mapping::read_row`] reads its rows. Add a
    /// `WHERE`/`ORDER BY` after it (aliases `o` orders, `p` payments).
    pub fn snapshot_sql(&self) -> String {
        self.snapshot_sql_with(&|_, expr| expr.to_string())
    }

    /// [`Mapping::snapshot_sql`] with each time and amount column converted as the mapping's
    /// types say, for `kind`.
    pub fn snapshot_sql_for(&self, kind: BackendKind) -> String {
        self.snapshot_sql_with(&|column, expr| self.convert(kind, column, expr))
    }

    /// [`Mapping::snapshot_sql`] with every time and amount column passed through `convert`
    /// (the column, and its qualified name such as `o.paid_at`).
    pub fn snapshot_sql_with(&self, convert: &dyn Fn(Column, &str) -> String) -> String {
        let (o, p, f) = (&self.orders, &self.order_payments, &self.fulfilments);
        let opt = |alias: &str, c: &Option<Ident>| c.as_ref().map_or("NULL".to_string(), |c| format!("{alias}.{c}"));
        format!(
            "SELECT o.{code}, o.{status}, {ofraud}, {paid_at}, {created}, {amount}, \
             p.{pstatus}, {pfraud}, {method}, {ppaid}, {pcreated}, {pamount}, \
             (SELECT COUNT(*) FROM {ft} f WHERE f.{fo} = o.{fref}), o.{id} \
             FROM {ot} o LEFT JOIN {pt} p ON p.{po} = o.{pref}",
            code = o.code,
            status = o.status,
            ofraud = opt("o", &o.fraud_status),
            paid_at = convert(Column::OrderPaidAt, &format!("o.{}", o.paid_at)),
            created = convert(Column::OrderCreatedAt, &format!("o.{}", o.created_at)),
            amount = convert(Column::OrderAmount, &format!("o.{}", o.amount)),
            pstatus = p.status,
            pfraud = opt("p", &p.fraud_status),
            method = opt("p", &p.payment_method),
            ppaid = convert(Column::PaymentPaidAt, &format!("p.{}", p.paid_at)),
            pcreated = convert(Column::PaymentCreatedAt, &format!("p.{}", p.created_at)),
            pamount = convert(Column::PaymentAmount, &format!("p.{}", p.gross_amount)),
            ft = f.table,
            fo = f.order_id,
            fref = self.fulfilments_reference(),
            id = o.id,
            ot = o.table,
            pt = p.table,
            po = p.order_id,
            pref = self.payments_reference(),
        )
    }

    /// The order-code column, qualified as the snapshot query names it (for `WHERE`/`ORDER BY`).
    pub fn code_column(&self) -> String {
        format!("o.{}", self.orders.code)
    }

    /// The orders' key (the snapshot's last column), qualified: the audit pages by it without an
    /// export, because walking the table in key order is as cheap as one full scan.
    pub fn id_column(&self) -> String {
        format!("o.{}", self.orders.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_snapshot_reads_seed_001() {
        let sql = Mapping::default().snapshot_sql();
        assert!(sql.starts_with("SELECT o.order_code, o.status, NULL, o.paid_at"), "{sql}");
        assert!(sql.contains("LEFT JOIN order_payments p ON p.order_id = o.id"), "{sql}");
        assert!(sql.contains("p.paid_at, p.created_at"), "{sql}");
        for kind in [BackendKind::Sqlite, BackendKind::Postgres, BackendKind::Mysql] {
            assert_eq!(Mapping::default().snapshot_sql_for(kind), sql, "the default types need no conversion");
        }
    }

    #[test]
    fn each_table_joins_on_its_own_key() {
        let mut m = Mapping::default();
        m.order_payments.references = Some(Ident::lit("order_code"));
        m.orders.table = TableName::new("shop.shop_orders").unwrap();
        let sql = m.snapshot_sql();
        assert!(
            sql.contains("FROM shop.shop_orders o LEFT JOIN order_payments p ON p.order_id = o.order_code"),
            "{sql}"
        );
        assert!(sql.contains("WHERE f.order_id = o.id"), "{sql}");
    }

    #[test]
    fn canonical_statuses_are_seed_001_words() {
        let s = Statuses::default();
        assert_eq!((s.paid.as_str(), s.pending.as_str()), ("PAID", "PENDING"));
        assert_eq!(s.regressions, ["PENDING", "EXPIRED", "FAILED"]);
    }
}
