//! The audit's SQL for one backend and mapping: the snapshot query, with each time column read
//! as epoch milliseconds and each amount as integer minor units whatever the shop stores
//! ([`Types`]), and status text compared byte for byte.
//!
//! With the default types (integer epoch milliseconds, integer minor units) the snapshot is
//! exactly [`Mapping::snapshot_sql`], the query the simulation checks with (tested). Otherwise
//! the conversion happens in the database, so the rows reach the invariant functions as they
//! always do, and the prefilter compares the same converted values:
//!
//! | times | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `epoch_s` | `x * 1000` | `x * 1000` | `x * 1000` |
//! | `timestamp` | `julianday(x)`: ISO 8601 text, UTC | `EXTRACT(EPOCH FROM x)`: `timestamptz`, or `timestamp` read as UTC | `TIMESTAMPDIFF(MICROSECOND, '1970-01-01', x)` with the session in UTC: `TIMESTAMP`, or `DATETIME` read as UTC |
//!
//! Major-unit amounts (`DECIMAL(12,2)`) are multiplied by 10^`decimals` and rounded to the
//! nearest minor unit. What it does not do: time zones other than UTC for zone-less values, or
//! amounts stored as text.

use crate::store::BackendKind;
use crate::systems::midtrans_orders::mapping::Mapping;

use super::mapping::{Amounts, Times, Types};

/// SQL pieces for one backend, mapping and column types.
#[derive(Clone, Copy, Debug)]
pub struct Sql<'a> {
    pub kind: BackendKind,
    pub mapping: &'a Mapping,
    pub types: Types,
}

impl Sql<'_> {
    /// `expr`, a time column, as integer epoch milliseconds (NULL stays NULL).
    pub fn time(&self, expr: &str) -> String {
        match (self.types.times, self.kind) {
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

    /// `expr`, an amount column, as integer minor units (NULL stays NULL).
    pub fn amount(&self, expr: &str) -> String {
        let scale = 10i64.pow(u32::from(self.types.decimals));
        match (self.types.amounts, self.kind) {
            (Amounts::Minor, _) => expr.to_string(),
            (Amounts::Major, BackendKind::Mysql) => format!("CAST(ROUND({expr} * {scale}) AS SIGNED)"),
            (Amounts::Major, BackendKind::Postgres) => format!("CAST(ROUND({expr} * {scale}) AS BIGINT)"),
            (Amounts::Major, BackendKind::Sqlite) => format!("CAST(ROUND({expr} * {scale}) AS INTEGER)"),
        }
    }

    /// `expr` as text compared byte for byte, whatever the column's collation: MySQL's default
    /// collations are case- and trailing-space-insensitive, and a SQLite or PostgreSQL column
    /// may declare a looser one too.
    pub fn exact(&self, expr: &str) -> String {
        match self.kind {
            BackendKind::Sqlite => format!("{expr} COLLATE BINARY"),
            BackendKind::Postgres => format!("CAST({expr} AS TEXT) COLLATE \"C\""),
            BackendKind::Mysql => format!("CAST({expr} AS BINARY)"),
        }
    }

    /// [`Mapping::snapshot_sql`] with the columns converted: columns 0–9 are what
    /// [`crate::systems::midtrans_orders::invariants::OrderRow::from_row`] reads, column 10 is the
    /// order's id. Add a `WHERE`/`ORDER BY` after it.
    pub fn snapshot(&self) -> String {
        self.mapping.snapshot_sql_with(&|c| self.time(c), &|c| self.amount(c))
    }

    /// The newest time in `table.column`, in epoch ms (NULL when the table is empty).
    pub fn newest(&self, table: &str, column: &str) -> String {
        format!("SELECT MAX({}) FROM {table}", self.time(column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_types_read_exactly_what_the_simulation_reads() {
        let mut m = Mapping::default();
        m.orders.table = crate::systems::midtrans_orders::mapping::Ident::new("shop_orders").unwrap();
        for kind in [BackendKind::Sqlite, BackendKind::Postgres, BackendKind::Mysql] {
            assert_eq!(Sql { kind, mapping: &m, types: Types::default() }.snapshot(), m.snapshot_sql());
        }
    }

    #[test]
    fn converted_columns_are_named_in_the_snapshot() {
        let m = Mapping::default();
        let types = Types { times: Times::Timestamp, amounts: Amounts::Major, decimals: 2 };
        let sql = Sql { kind: BackendKind::Postgres, mapping: &m, types }.snapshot();
        assert!(sql.contains("CAST(FLOOR(EXTRACT(EPOCH FROM o.paid_at) * 1000) AS BIGINT)"), "{sql}");
        assert!(sql.contains("CAST(ROUND(p.gross_amount * 100) AS BIGINT)"), "{sql}");
        assert!(sql.starts_with("SELECT o.order_code, o.status, "), "{sql}");
    }
}
