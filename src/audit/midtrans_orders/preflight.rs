//! Before the audit's real queries: every table, column, join and conversion of the mapping is
//! tried alone on the database (`SELECT … WHERE 1 = 0`, which reads no row), so a name that does
//! not exist, a join between columns of different types (`character varying = bigint`) or a
//! conversion the column's type refuses is reported against the mapping entry that produced it,
//! `file:line:col`, and not as a line of the database's own source. Then the indexes the queries
//! want ([`wanted`]) are looked up in the catalogue ([`explain`]), for `--explain` and for a
//! warning when one is missing. What it does not do: create anything.

use crate::error::Error;
use crate::store::{Backend, BackendKind, Value};
use crate::systems::midtrans_orders::mapping::file::Source;
use crate::systems::midtrans_orders::mapping::{Column, Ident, TableName};

use super::sql::Sql;

/// One probe: the mapping entry, and the SQL that tries it.
struct Probe {
    keys: Vec<&'static str>,
    sql: String,
}

fn probes(q: &Sql) -> Vec<Probe> {
    let m = q.mapping;
    let (o, p, l, f) = (&m.orders, &m.order_payments, &m.payment_sync_logs, &m.fulfilments);
    let mut out = Vec::new();
    let mut col = |table_key: &'static str, key: &'static str, table: &TableName, expr: String| {
        out.push(Probe { keys: vec![table_key, key], sql: format!("SELECT {expr} FROM {table} t WHERE 1 = 0") });
    };
    col("orders", "table", &o.table, "1".into());
    col("orders", "id", &o.table, format!("t.{}", o.id));
    col("orders", "code", &o.table, format!("t.{}", o.code));
    col("orders", "status", &o.table, format!("t.{}", o.status));
    if let Some(c) = &o.fraud_status {
        col("orders", "fraud_status", &o.table, format!("t.{c}"));
    }
    col("orders", "paid_at", &o.table, q.time(Column::OrderPaidAt, &format!("t.{}", o.paid_at)));
    col("orders", "created_at", &o.table, q.time(Column::OrderCreatedAt, &format!("t.{}", o.created_at)));
    col("orders", "amount", &o.table, m.convert(q.kind, Column::OrderAmount, &format!("t.{}", o.amount)));
    col("order_payments", "table", &p.table, "1".into());
    col("order_payments", "order_id", &p.table, format!("t.{}", p.order_id));
    col("order_payments", "status", &p.table, format!("t.{}", p.status));
    if let Some(c) = &p.fraud_status {
        col("order_payments", "fraud_status", &p.table, format!("t.{c}"));
    }
    if let Some(c) = &p.payment_method {
        col("order_payments", "payment_method", &p.table, format!("t.{c}"));
    }
    col("order_payments", "paid_at", &p.table, q.time(Column::PaymentPaidAt, &format!("t.{}", p.paid_at)));
    col("order_payments", "created_at", &p.table, q.time(Column::PaymentCreatedAt, &format!("t.{}", p.created_at)));
    col(
        "order_payments",
        "gross_amount",
        &p.table,
        m.convert(q.kind, Column::PaymentAmount, &format!("t.{}", p.gross_amount)),
    );
    col("fulfilments", "table", &f.table, "1".into());
    col("fulfilments", "order_id", &f.table, format!("t.{}", f.order_id));
    col("payment_sync_logs", "table", &l.table, "1".into());
    for (key, c) in [("order_code", &l.order_code), ("old_status", &l.old_status), ("new_status", &l.new_status)] {
        col("payment_sync_logs", key, &l.table, format!("t.{c}"));
    }
    col("payment_sync_logs", "created_at", &l.table, q.time(Column::LogCreatedAt, &format!("t.{}", l.created_at)));
    let join = |child: &TableName, fk: &Ident, reference: &Ident| {
        format!("SELECT 1 FROM {} o JOIN {child} c ON c.{fk} = o.{reference} WHERE 1 = 0", o.table)
    };
    let pkey = if p.references.is_some() { "references" } else { "order_id" };
    out.push(Probe { keys: vec!["order_payments", pkey], sql: join(&p.table, &p.order_id, m.payments_reference()) });
    let fkey = if f.references.is_some() { "references" } else { "order_id" };
    out.push(Probe { keys: vec!["fulfilments", fkey], sql: join(&f.table, &f.order_id, m.fulfilments_reference()) });
    out
}

/// Tries every entry of the mapping; the first the database refuses is an error naming it.
pub fn check(db: &mut dyn Backend, q: &Sql, source: &Source) -> Result<(), Error> {
    for probe in probes(q) {
        if let Err(e) = db.query(&probe.sql, &[]) {
            // PostgreSQL refuses every later statement of a failed transaction; the audit
            // stops here anyway.
            return Err(Error::Scenario {
                location: source.at(&probe.keys),
                message: format!("the database refused this mapping entry: {e} (the query was: {})", probe.sql),
            });
        }
    }
    Ok(())
}

/// An index the audit's queries want: on `table`, with `column` first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub table: TableName,
    pub column: Ident,
    pub why: &'static str,
    /// The index found, if any.
    pub found: Option<String>,
}

impl Want {
    /// The statement that would create it (for a person to run; the audit never does).
    pub fn create(&self) -> String {
        format!("CREATE INDEX {}_{}_idx ON {} ({})", self.table.name, self.column, self.table, self.column)
    }
}

/// The indexes the audit's queries want, without looking.
pub fn wanted(q: &Sql, with_export: bool) -> Vec<Want> {
    let m = q.mapping;
    let w = |table: &TableName, column: &Ident, why: &'static str| Want {
        table: table.clone(),
        column: column.clone(),
        why,
        found: None,
    };
    let mut out = vec![
        w(&m.orders.table, &m.orders.id, "pages through the orders by their key"),
        w(&m.order_payments.table, &m.order_payments.order_id, "joins each order to its payment"),
        w(
            &m.fulfilments.table,
            &m.fulfilments.order_id,
            "counts each order's fulfilments (without it: one scan of the table per order)",
        ),
        w(&m.payment_sync_logs.table, &m.payment_sync_logs.order_code, "groups the sync log by order"),
    ];
    if with_export {
        out.push(w(&m.orders.table, &m.orders.code, "walks the orders in order-code order to meet the export"));
    }
    out
}

/// Looks each wanted index up in the database's catalogue.
pub fn explain(db: &mut dyn Backend, q: &Sql, with_export: bool) -> Result<Vec<Want>, crate::store::SqlError> {
    let mut out = wanted(q, with_export);
    for want in &mut out {
        want.found = first_column_index(db, q.kind, &want.table, &want.column)?;
    }
    Ok(out)
}

/// The name of an index of `table` whose first column is `column` (the primary key counts).
fn first_column_index(
    db: &mut dyn Backend,
    kind: BackendKind,
    table: &TableName,
    column: &Ident,
) -> Result<Option<String>, crate::store::SqlError> {
    let (name, col) = (Value::from(table.name.as_str()), Value::from(column.as_str()));
    let rows = match kind {
        BackendKind::Sqlite => {
            let schema = table.schema.as_ref().map_or("main", |s| s.as_str());
            let mut rows = db.query(
                "SELECT il.name FROM pragma_index_list(?, ?) il JOIN pragma_index_info(il.name, ?) ii \
                 WHERE ii.seqno = 0 AND ii.name = ?",
                &[name.clone(), schema.into(), schema.into(), col.clone()],
            )?;
            if rows.is_empty() {
                // An INTEGER PRIMARY KEY is the table's rowid, which is its own index.
                rows = db.query(
                    "SELECT 'rowid' FROM pragma_table_info(?, ?) WHERE name = ? AND pk = 1 AND upper(type) = 'INTEGER'",
                    &[name, schema.into(), col],
                )?;
            }
            rows
        }
        BackendKind::Postgres => db.query(
            "SELECT CAST(c.relname AS TEXT) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = to_regclass(?) AND CAST(a.attname AS TEXT) = ?",
            &[Value::from(table.to_string()), col],
        )?,
        BackendKind::Mysql => db.query(
            "SELECT CAST(INDEX_NAME AS CHAR) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1",
            &[table.schema.as_ref().map(|s| s.as_str()).into(), name, col],
        )?,
    };
    rows.first().map(|r| r.text(0)).transpose()
}
