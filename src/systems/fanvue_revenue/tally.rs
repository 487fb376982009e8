//! The Fanvue checker's per-model sums and counts, kept up to date from the rows the database
//! says changed ([`Db::take_changed_rows`]) instead of summed again over every stored
//! transaction after every unit: over a simulated day a model stores hundreds of rows, and the
//! check after each unit would cost more with every one of them.
//!
//! [`Tally::model`] answers exactly what the snapshot query of [`super::invariants`] answers for
//! one model: its row, Σ amount, the row count, the distinct Fanvue ids, and the distinct ids
//! stored with a date before its cursor. Only on a backend that tracks changed rows (embedded
//! SQLite); elsewhere the checker runs that query, as before.
//!
//! What it does not do: judge anything, or read a table other than `models` and
//! `fanvue_transactions`.

use std::collections::BTreeMap;

use super::invariants::ModelRow;
use crate::store::{Db, SqlError, Tx};

/// One stored transaction, as the sums need it.
struct Txn {
    model: i64,
    fanvue_id: String,
    date: i64,
    amount: i64,
}

/// A model's row and the sums over its stored transactions.
#[derive(Default)]
struct Model {
    /// Whether `models` has the row (a transaction can be tallied before its model is read).
    present: bool,
    name: String,
    revenue_total: i64,
    cursor: Option<i64>,
    sum: i64,
    rows: i64,
    /// Fanvue id → the dates it is stored with (how many times each).
    dates: BTreeMap<String, BTreeMap<i64, u32>>,
    /// Each stored id's earliest date (how many ids have it).
    earliest: BTreeMap<i64, u32>,
    /// (cursor, distinct ids with an earliest date before it), kept as ids come and go.
    behind: Option<(i64, i64)>,
}

impl Model {
    fn add(&mut self, t: &Txn, sign: i64) {
        self.sum += sign * t.amount;
        self.rows += sign;
        let dates = self.dates.entry(t.fanvue_id.clone()).or_default();
        let before = dates.keys().next().copied();
        if sign > 0 {
            *dates.entry(t.date).or_default() += 1;
        } else if let Some(n) = dates.get_mut(&t.date) {
            *n -= 1;
            if *n == 0 {
                dates.remove(&t.date);
            }
        }
        let after = dates.keys().next().copied();
        if dates.is_empty() {
            self.dates.remove(&t.fanvue_id);
        }
        if before == after {
            return;
        }
        if let Some(d) = before {
            self.count_earliest(d, -1);
        }
        if let Some(d) = after {
            self.count_earliest(d, 1);
        }
    }

    fn count_earliest(&mut self, date: i64, by: i64) {
        let n = self.earliest.entry(date).or_default();
        *n = n.saturating_add_signed(by as i32);
        if *n == 0 {
            self.earliest.remove(&date);
        }
        if let Some((cursor, behind)) = &mut self.behind
            && date < *cursor
        {
            *behind += by;
        }
    }

    /// Distinct ids stored with a date before `cursor`: from the last answer, walking only the
    /// dates between its cursor and this one.
    fn behind(&mut self, cursor: i64) -> i64 {
        let sum = |r: std::collections::btree_map::Range<'_, i64, u32>| r.map(|(_, n)| i64::from(*n)).sum::<i64>();
        let n = match self.behind {
            None => sum(self.earliest.range(..cursor)),
            Some((c, n)) if cursor >= c => n + sum(self.earliest.range(c..cursor)),
            Some((c, n)) => n - sum(self.earliest.range(cursor..c)),
        };
        self.behind = Some((cursor, n));
        n
    }
}

/// Every model and the sums over its transactions.
#[derive(Default)]
pub struct Tally {
    read: bool,
    models: BTreeMap<i64, Model>,
    /// models' rowid → id, and name → id
    model_ids: BTreeMap<i64, i64>,
    by_name: BTreeMap<String, i64>,
    /// fanvue_transactions' rowid → the row
    txns: BTreeMap<i64, Txn>,
}

impl Tally {
    /// Brings the tally up to the database's rows now: only the changed rows when the change
    /// log can say which, everything otherwise.
    pub fn refresh(&mut self, db: &Db) -> Result<(), SqlError> {
        match db.take_changed_rows() {
            Some(rows) if self.read => {
                if !db.read(|tx| self.apply(tx, &rows))? {
                    *self = db.read(read_all)?;
                }
            }
            _ => *self = db.read(read_all)?,
        }
        Ok(())
    }

    /// What the snapshot query says about model `name` (`None`: there is no such model).
    pub fn model(&mut self, name: &str) -> Option<ModelRow> {
        let id = *self.by_name.get(name)?;
        self.row(id)
    }

    /// Every model, by id.
    pub fn all(&mut self) -> Vec<ModelRow> {
        let ids: Vec<i64> = self.models.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.row(id)).collect()
    }

    fn row(&mut self, id: i64) -> Option<ModelRow> {
        let m = self.models.get_mut(&id).filter(|m| m.present)?;
        let distinct_behind = m.cursor.map_or(0, |c| m.behind(c));
        Some(ModelRow {
            id,
            name: m.name.clone(),
            revenue_total: m.revenue_total,
            cursor: m.cursor,
            stored_sum: m.sum,
            stored_rows: m.rows,
            distinct_ids: m.dates.len() as i64,
            distinct_behind,
        })
    }

    /// Re-reads the changed rows; false when a model row is gone (it needs the full read).
    fn apply(&mut self, tx: &mut Tx, rows: &[(String, i64)]) -> Result<bool, SqlError> {
        for (table, rowid) in rows {
            if table.eq_ignore_ascii_case("fanvue_transactions") {
                if let Some(old) = self.txns.remove(rowid) {
                    self.models.entry(old.model).or_default().add(&old, -1);
                }
                let r = tx.query_opt(
                    "SELECT model_id, fanvue_id, transaction_date, amount FROM fanvue_transactions WHERE rowid = ?",
                    &[(*rowid).into()],
                )?;
                if let Some(r) = r {
                    let t = Txn { model: r.int(0)?, fanvue_id: r.text(1)?, date: r.int(2)?, amount: r.int(3)? };
                    self.models.entry(t.model).or_default().add(&t, 1);
                    self.txns.insert(*rowid, t);
                }
            } else if table.eq_ignore_ascii_case("models") {
                let r = tx.query_opt(
                    "SELECT id, name, revenue_total, last_transaction_sync FROM models WHERE rowid = ?",
                    &[(*rowid).into()],
                )?;
                let Some(r) = r else { return Ok(false) };
                let id = r.int(0)?;
                if self.model_ids.get(rowid).is_some_and(|was| *was != id) {
                    return Ok(false);
                }
                self.put_model(*rowid, id, r.text(1)?, r.int(2)?, r.opt_int(3)?);
            }
        }
        Ok(true)
    }

    fn put_model(&mut self, rowid: i64, id: i64, name: String, revenue_total: i64, cursor: Option<i64>) {
        self.model_ids.insert(rowid, id);
        let m = self.models.entry(id).or_default();
        if m.name != name {
            self.by_name.remove(&m.name);
            self.by_name.insert(name.clone(), id);
        }
        m.present = true;
        m.name = name;
        m.revenue_total = revenue_total;
        m.cursor = cursor;
    }
}

/// Everything, read afresh.
fn read_all(tx: &mut Tx) -> Result<Tally, SqlError> {
    let mut t = Tally { read: true, ..Tally::default() };
    for r in tx.query("SELECT rowid, id, name, revenue_total, last_transaction_sync FROM models", &[])? {
        t.put_model(r.int(0)?, r.int(1)?, r.text(2)?, r.int(3)?, r.opt_int(4)?);
    }
    for r in tx.query("SELECT rowid, model_id, fanvue_id, transaction_date, amount FROM fanvue_transactions", &[])? {
        let txn = Txn { model: r.int(1)?, fanvue_id: r.text(2)?, date: r.int(3)?, amount: r.int(4)? };
        t.models.entry(txn.model).or_default().add(&txn, 1);
        t.txns.insert(r.int(0)?, txn);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Oracle;
    use crate::store::Value;
    use crate::store::sqlite::with_memory_db;

    /// One random write: rows stored (the same Fanvue id again, too), redated, repriced and
    /// deleted; cursors moved either way or cleared; totals set.
    fn write(tx: &mut Tx, d: &mut Oracle) -> Result<(), SqlError> {
        let (model, row) = (d.int_below(3) + 1, d.int_below(60) + 1);
        match d.int_below(6) {
            0 | 1 => tx.execute(
                "INSERT INTO fanvue_transactions (model_id, fanvue_id, transaction_date, amount, net_amount, source, created_at) VALUES (?, ?, ?, ?, 0, 's', 0)",
                &[model.into(), Value::from(format!("f{}", d.int_below(25))), d.int_below(1_000).into(), d.int_below(5_000).into()],
            )?,
            2 => tx.execute(
                "UPDATE fanvue_transactions SET transaction_date = ?, amount = ? WHERE id = ?",
                &[d.int_below(1_000).into(), d.int_below(5_000).into(), row.into()],
            )?,
            3 => tx.execute("DELETE FROM fanvue_transactions WHERE id = ?", &[row.into()])?,
            4 => {
                let cursor = if d.int_below(5) == 0 { Value::Null } else { d.int_below(1_100).into() };
                tx.execute("UPDATE models SET last_transaction_sync = ? WHERE id = ?", &[cursor, model.into()])?
            }
            _ => tx.execute("UPDATE models SET revenue_total = ? WHERE id = ?", &[d.int_below(9_000).into(), model.into()])?,
        };
        Ok(())
    }

    #[test]
    fn the_tally_answers_what_the_snapshot_query_answers_after_every_write() {
        // Without the unique index: duplicates are part of what is counted.
        with_memory_db(&super::super::MIGRATIONS[..1], |db| {
            db.given(|tx| {
                for id in 1..=3i64 {
                    tx.execute(
                        "INSERT INTO models (id, name, fanvue_creator_uuid, revenue_total, updated_at) VALUES (?, ?, 'u', 0, 0)",
                        &[id.into(), Value::from(format!("m{id}"))],
                    )?;
                }
                Ok(())
            })
            .unwrap();
            let mut tally = Tally::default();
            let mut d = Oracle::random(11);
            for step in 0..800 {
                db.given(|tx| write(tx, &mut d)).unwrap();
                tally.refresh(&db).unwrap();
                let query = |sql: String, params: &[Value]| {
                    db.read(|tx| tx.query(&sql, params)?.iter().map(ModelRow::from_row).collect::<Result<Vec<_>, _>>())
                };
                let all = query(format!("{} ORDER BY m.id", super::super::invariants::SNAPSHOT), &[]).unwrap();
                assert_eq!(tally.all(), all, "every model after step {step}");
                let one =
                    query(format!("{} WHERE m.name = ?", super::super::invariants::SNAPSHOT), &[Value::from("m2")]);
                assert_eq!(tally.model("m2").into_iter().collect::<Vec<_>>(), one.unwrap(), "m2 after step {step}");
                assert_eq!(tally.model("nobody"), None);
            }
            assert!(tally.all().iter().any(|m| m.distinct_behind > 0 && m.stored_rows > m.distinct_ids));
        });
    }
}
