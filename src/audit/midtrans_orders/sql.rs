//! The audit's SQL for one backend and mapping: the snapshot query with its columns converted as
//! the mapping's types say ([`Mapping::snapshot_sql_for`]), status words tested per class
//! ([`Sql::in_states`]: bound parameters, compared byte for byte), the window on the orders'
//! creation time, and the byte-order walk by order code that the merge with a provider export
//! needs ([`Sql::code_order`]).
//!
//! With the default types the snapshot is exactly [`Mapping::snapshot_sql`], the query the
//! simulation checks with (tested). What it does not do: run anything.

use crate::check::mapping::{State, Vocabulary, exact};
use crate::store::{BackendKind, Value};
use crate::systems::midtrans_orders::mapping::{Column, Mapping};

/// A condition with `?` placeholders and the values they take, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Condition {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Condition {
        Condition { sql: sql.into(), params }
    }

    /// `(a) AND (b)`; an empty side is left out.
    pub fn and(self, other: Condition) -> Condition {
        match (self.sql.is_empty(), other.sql.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => {
                let mut params = self.params;
                params.extend(other.params);
                Condition { sql: format!("({}) AND ({})", self.sql, other.sql), params }
            }
        }
    }
}

/// SQL pieces for one backend and mapping.
#[derive(Clone, Copy, Debug)]
pub struct Sql<'a> {
    pub kind: BackendKind,
    pub mapping: &'a Mapping,
}

impl Sql<'_> {
    /// `expr`, the time column `column`, as integer epoch milliseconds.
    pub fn time(&self, column: Column, expr: &str) -> String {
        self.mapping.convert(self.kind, column, expr)
    }

    /// `expr` compared byte for byte.
    pub fn exact(&self, expr: &str) -> String {
        exact(self.kind, expr)
    }

    /// The snapshot query (aliases `o`, `p`); see [`Mapping::snapshot_sql`] for its columns.
    pub fn snapshot(&self) -> String {
        self.mapping.snapshot_sql_for(self.kind)
    }

    /// Whether a row whose status is `status` (and fraud status `fraud`, if the table has one)
    /// is in one of `states` by `vocab`: its plain words in one `IN` list, its word-and-fraud
    /// rules one by one. `1 = 0` when the vocabulary names none of them.
    pub fn in_states(&self, status: &str, fraud: Option<&str>, vocab: &Vocabulary, states: &[State]) -> Condition {
        let st = self.exact(status);
        let mut parts = Vec::new();
        let mut params = Vec::new();
        let words = vocab.words_for(states);
        if !words.is_empty() {
            parts.push(format!("{st} IN ({})", vec!["?"; words.len()].join(", ")));
            params.extend(words.iter().map(|w| Value::from(*w)));
        }
        if let Some(fr) = fraud {
            for (_, rule) in vocab.rules.iter().filter(|(s, r)| states.contains(s) && r.fraud().is_some()) {
                parts.push(format!("({st} = ? AND {} = ?)", self.exact(fr)));
                params.extend([Value::from(rule.status()), Value::from(rule.fraud().unwrap_or_default())]);
            }
        }
        if parts.is_empty() {
            return Condition::new("1 = 0", Vec::new());
        }
        Condition::new(format!("({})", parts.join(" OR ")), params)
    }

    /// Rows whose status word (with any fraud status) is one the vocabulary may not name: a
    /// superset (a word that has only word-and-fraud rules counts as unknown here).
    pub fn maybe_unknown(&self, status: &str, vocab: &Vocabulary) -> Condition {
        let words: Vec<&str> =
            vocab.rules.iter().filter(|(_, r)| r.fraud().is_none()).map(|(_, r)| r.status()).collect();
        if words.is_empty() {
            return Condition::new("1 = 1", Vec::new());
        }
        let params = words.iter().map(|w| Value::from(*w)).collect();
        if self.kind == BackendKind::Sqlite {
            // SQLite answers `NOT IN` over a list of parameters by probing a temporary b-tree for
            // every row; a chain of equalities is a few comparisons (the prefiltered pass took
            // 13 % fewer instructions). True exactly where `NOT IN` is: a NULL word is not.
            let whens = vec!["WHEN ? THEN 0"; words.len()].join(" ");
            return Condition::new(
                format!("(CASE {} {whens} ELSE {status} IS NOT NULL END)", self.exact(status)),
                params,
            );
        }
        let marks = vec!["?"; words.len()].join(", ");
        Condition::new(format!("{} NOT IN ({marks})", self.exact(status)), params)
    }

    /// Orders created in `[since, until)` (epoch ms; either open).
    pub fn window(&self, since: Option<i64>, until: Option<i64>) -> Condition {
        let created = self.time(Column::OrderCreatedAt, &format!("o.{}", self.mapping.orders.created_at));
        let mut c = Condition::default();
        if let Some(t) = since {
            c = c.and(Condition::new(format!("{created} >= ?"), vec![t.into()]));
        }
        if let Some(t) = until {
            c = c.and(Condition::new(format!("{created} < ?"), vec![t.into()]));
        }
        c
    }

    /// The order code as the merge walks it: an expression ordered by bytes, as Rust compares
    /// the export's order ids, whatever the column's collation.
    pub fn code_order(&self) -> String {
        let code = self.mapping.code_column();
        match self.kind {
            BackendKind::Sqlite => format!("{code} COLLATE BINARY"),
            BackendKind::Postgres => format!("CAST({code} AS TEXT) COLLATE \"C\""),
            BackendKind::Mysql => format!("CAST({code} AS BINARY)"),
        }
    }

    /// The newest time in `table.column` (a time column of kind `c`), in epoch ms.
    pub fn newest(&self, table: &str, c: Column, column: &str) -> String {
        format!("SELECT MAX({}) FROM {table}", self.time(c, column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_types_read_exactly_what_the_simulation_reads() {
        let mut m = Mapping::default();
        m.orders.table = crate::check::mapping::TableName::lit("shop_orders");
        for kind in [BackendKind::Sqlite, BackendKind::Postgres, BackendKind::Mysql] {
            assert_eq!(Sql { kind, mapping: &m }.snapshot(), m.snapshot_sql());
        }
    }

    #[test]
    fn sqlite_unknown_words_are_true_exactly_where_not_in_is() {
        use crate::store::Backend;
        use crate::store::sqlite::Sqlite;
        let m = Mapping::default();
        let q = Sql { kind: BackendKind::Sqlite, mapping: &m };
        let c = q.maybe_unknown("x", &m.orders.states);
        assert!(c.sql.starts_with("(CASE x COLLATE BINARY WHEN ? THEN 0"), "{}", c.sql);
        let marks = vec!["?"; c.params.len()].join(", ");
        let mut db = Sqlite::memory().expect("sqlite");
        for x in
            [Value::Null, "PAID".into(), "paid".into(), "PAID ".into(), "REFUNDED".into(), "odd".into(), 5i64.into()]
        {
            let sql = format!(
                "SELECT COALESCE(({}) <> 0, -1), COALESCE((x NOT IN ({marks})) <> 0, -1) FROM (SELECT ? AS x)",
                c.sql
            );
            let mut params = c.params.clone();
            params.extend(c.params.iter().cloned());
            params.push(x.clone());
            let rows = db.query(&sql, &params).expect("query");
            let (case, not_in) = (rows[0].int(0).expect("int"), rows[0].int(1).expect("int"));
            // Truthy in the same rows (NULL and false both leave a row out of a WHERE).
            assert_eq!(case == 1, not_in == 1, "{x:?}: CASE {case}, NOT IN {not_in}");
        }
    }

    #[test]
    fn states_are_tested_with_bound_words() {
        let m = Mapping::default();
        let q = Sql { kind: BackendKind::Sqlite, mapping: &m };
        let c = q.in_states("o.status", None, &Vocabulary::midtrans(), &[State::Paid]);
        assert_eq!(c.sql, "(o.status COLLATE BINARY IN (?))");
        assert_eq!(c.params, [Value::from("settlement")]);
        let c = q.in_states("p.s", Some("p.f"), &Vocabulary::midtrans(), &[State::Paid, State::Challenge]);
        assert_eq!(c.sql.matches('?').count(), c.params.len());
        assert!(c.sql.contains("(p.s COLLATE BINARY = ? AND p.f COLLATE BINARY = ?)"), "{}", c.sql);
        assert_eq!(q.in_states("x", None, &Vocabulary::seed001(), &[State::Challenge]).sql, "1 = 0");
        let w = q.window(Some(5), None);
        assert_eq!((w.sql.as_str(), w.params.len()), ("o.created_at >= ?", 1));
    }
}
