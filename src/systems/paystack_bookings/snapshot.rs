//! The Paystack checker's snapshot: every payment with its booking and its status history, read
//! whole once and then kept up to date with only what changed, so that a check after a write
//! or a screen costs the same however many customers there are.
//!
//! After a tab's screen nothing is read (no unit wrote since: [`Db::writes`]). After a write,
//! on a backend that lists changed rows ([`Db::take_changed_rows`], embedded SQLite), only the
//! payments those rows belong to are read again; a row that vanished, or moved to another
//! payment or booking, and any other backend, read everything, as before. Nothing depends on
//! the key a unit names, so a team's own handlers are checked as exactly as the reference ones.
//!
//! [`Fresh`] says which payments the last refresh read: only they can break an `always`
//! invariant that held at the previous check (a violation ends the run).
//!
//! What it does not do: judge anything, or read the screens (see [`super::watch`]).

use std::collections::{BTreeMap, BTreeSet};

use super::invariants::Payment;
use super::logic::Rep;
use crate::store::{Db, Row, SqlError, Tx, Value};

/// The payments, their bookings and their history, joined; `WHERE` clauses are added after it.
const PAYMENTS: &str = "SELECT p.reference, p.booking_id, p.status, p.escrow_credits, p.releases, p.refunds, b.status, b.version, b.customer FROM payments p JOIN bookings b ON b.id = p.booking_id";
const HISTORY: &str = "SELECT reference, status, at_ms FROM payment_history";

/// What the last refresh read afresh.
#[derive(Clone, Debug, Default)]
pub enum Fresh {
    /// Everything (the first read, or the changes could not be followed).
    #[default]
    All,
    /// These payments (none after a screen).
    Some(BTreeSet<String>),
}

/// Every payment as the database has it.
#[derive(Default)]
pub struct Snapshot {
    pub payments: BTreeMap<String, Payment>,
    pub fresh: Fresh,
    /// The database's write count when it was read (`None`: never read).
    writes: Option<u64>,
    /// On a backend that lists changed rows: each row's rowid → what it belonged to when read
    /// (a payment's and a history row's reference, a booking's id).
    payment_of: BTreeMap<i64, String>,
    history_of: BTreeMap<i64, String>,
    booking_of: BTreeMap<i64, i64>,
}

fn payment(r: &Row) -> Result<(String, Payment), SqlError> {
    let reference = r.text(0)?;
    let rep = Rep {
        booking: r.int(1)?,
        reference: reference.clone(),
        status: r.text(6)?,
        payment: r.text(2)?,
        version: r.int(7)?,
        served_at: 0,
    };
    let p = Payment {
        booking: r.int(1)?,
        status: r.text(2)?,
        credits: r.int(3)?,
        releases: r.int(4)?,
        refunds: r.int(5)?,
        history: Vec::new(),
        rep: Some(rep),
    };
    Ok((reference, p))
}

impl Snapshot {
    /// Brings the snapshot up to the database's rows now; returns (and keeps) what it read.
    pub fn refresh(&mut self, db: &Db) -> Result<Fresh, SqlError> {
        let writes = db.writes();
        let tracked = db.tracks_changes();
        let changed = if tracked { db.take_changed_rows() } else { None };
        let fresh = match (self.writes, changed) {
            (None, _) => None,
            (Some(_), Some(rows)) => db.read(|tx| self.follow(tx, &rows))?,
            (Some(w), None) if w == writes && !tracked => Some(BTreeSet::new()),
            (Some(_), None) => None,
        };
        self.fresh = match fresh {
            Some(references) => Fresh::Some(references),
            None => {
                *self = db.read(|tx| read_all(tx, tracked))?;
                Fresh::All
            }
        };
        self.writes = Some(writes);
        Ok(self.fresh.clone())
    }

    /// Reads again the payments the changed `rows` belong to; `None` when a row cannot be
    /// followed (gone, or now another payment's or booking's), which needs the full read.
    fn follow(&mut self, tx: &mut Tx, rows: &[(String, i64)]) -> Result<Option<BTreeSet<String>>, SqlError> {
        let mut references = BTreeSet::new();
        let rows: BTreeSet<&(String, i64)> = rows.iter().collect();
        for (table, rowid) in rows {
            let at = [Value::from(*rowid)];
            let owner = match table.to_ascii_lowercase().as_str() {
                "payments" => Some(("SELECT reference FROM payments WHERE rowid = ?", &mut self.payment_of)),
                "payment_history" => {
                    Some(("SELECT reference FROM payment_history WHERE rowid = ?", &mut self.history_of))
                }
                _ => None,
            };
            if let Some((sql, of)) = owner {
                // The payment this row belongs to, which must be the one it belonged to.
                let Some(r) = tx.query_opt(sql, &at)? else { return Ok(None) };
                let reference = r.text(0)?;
                if of.insert(*rowid, reference.clone()).is_some_and(|was| was != reference) {
                    return Ok(None);
                }
                references.insert(reference);
            } else if table.eq_ignore_ascii_case("bookings") {
                let Some(r) = tx.query_opt("SELECT id FROM bookings WHERE rowid = ?", &at)? else {
                    return Ok(None);
                };
                let id = r.int(0)?;
                if self.booking_of.insert(*rowid, id).is_some_and(|was| was != id) {
                    return Ok(None);
                }
                for r in tx.query("SELECT reference FROM payments WHERE booking_id = ?", &[id.into()])? {
                    references.insert(r.text(0)?);
                }
            }
        }
        for reference in &references {
            match read_one(tx, reference)? {
                Some(p) => self.payments.insert(reference.clone(), p),
                None => self.payments.remove(reference),
            };
        }
        Ok(Some(references))
    }
}

/// Every payment, read afresh; with `rowids`, also what each row belongs to.
fn read_all(tx: &mut Tx, rowids: bool) -> Result<Snapshot, SqlError> {
    let mut s = Snapshot::default();
    for r in tx.query(&format!("{PAYMENTS} ORDER BY p.reference"), &[])? {
        let (reference, p) = payment(&r)?;
        s.payments.insert(reference, p);
    }
    for r in tx.query(&format!("{HISTORY} ORDER BY reference, seq"), &[])? {
        if let Some(p) = s.payments.get_mut(&r.text(0)?) {
            p.history.push((r.text(1)?, r.int(2)?));
        }
    }
    if rowids {
        for r in tx.query("SELECT rowid, reference FROM payments", &[])? {
            s.payment_of.insert(r.int(0)?, r.text(1)?);
        }
        for r in tx.query("SELECT rowid, reference FROM payment_history", &[])? {
            s.history_of.insert(r.int(0)?, r.text(1)?);
        }
        for r in tx.query("SELECT rowid, id FROM bookings", &[])? {
            s.booking_of.insert(r.int(0)?, r.int(1)?);
        }
    }
    Ok(s)
}

/// Payment `reference` with its booking and history, read afresh (`None`: there is none, or it
/// has no booking, as the full read's join would leave it out).
fn read_one(tx: &mut Tx, reference: &str) -> Result<Option<Payment>, SqlError> {
    let at = [Value::from(reference)];
    let Some(row) = tx.query_opt(&format!("{PAYMENTS} WHERE p.reference = ?"), &at)? else { return Ok(None) };
    let (_, mut p) = payment(&row)?;
    for r in tx.query(&format!("{HISTORY} WHERE reference = ? ORDER BY seq"), &at)? {
        p.history.push((r.text(1)?, r.int(2)?));
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Oracle;
    use crate::store::sqlite::with_memory_db;

    const STATUSES: [&str; 4] = ["PENDING", "ESCROW", "RELEASED", "REFUNDED"];

    /// One random unit: bookings and payments made, moved and relinked, history appended,
    /// rows deleted, a unit rolled back, and units that change nothing the snapshot reads.
    fn write(tx: &mut Tx, d: &mut Oracle, next: &mut i64) -> Result<u64, SqlError> {
        let (one, other) = (d.int_below((*next as u64).max(1)) + 1, d.int_below((*next as u64).max(1)) + 1);
        let status = Value::from(STATUSES[d.int_below(4) as usize]);
        let reference = |n: i64| Value::from(format!("ref-{n}"));
        Ok(match d.int_below(10) {
            0 | 1 => {
                *next += 1;
                tx.execute(
                    "INSERT INTO bookings (id, customer, reference, status, version, service_at, created_at, updated_at) VALUES (?, ?, ?, 'BOOKED', 1, 0, 0, 0)",
                    &[(*next).into(), (*next).into(), reference(*next)],
                )?;
                tx.execute(
                    "INSERT INTO payments (reference, booking_id, amount, status, escrow_credits, releases, refunds, created_at, changed_at) VALUES (?, ?, 100, 'PENDING', 0, 0, 0, 0, 0)",
                    &[reference(*next), (*next).into()],
                )?
            }
            2 => tx.execute(
                "UPDATE payments SET status = ?, escrow_credits = escrow_credits + 1 WHERE reference = ?",
                &[status, reference(one)],
            )?,
            3 => tx.execute("UPDATE bookings SET version = version + 1, status = 'COMPLETED' WHERE id = ?", &[one.into()])?,
            4 => tx.execute("UPDATE payments SET booking_id = ? WHERE reference = ?", &[other.into(), reference(one)])?,
            5 | 6 => tx.execute(
                "INSERT INTO payment_history (reference, seq, status, at_ms) VALUES (?, (SELECT COUNT(*) FROM payment_history), ?, ?)",
                &[reference(one), status, d.int_below(1_000).into()],
            )?,
            7 => tx.execute("DELETE FROM bookings WHERE id = ?", &[one.into()])?,
            8 => tx.execute("INSERT INTO webhook_refs (reference, at_ms) VALUES (?, 0)", &[reference(*next + d.int_below(1_000_000))])?,
            _ => {
                tx.execute("UPDATE payments SET refunds = 9 WHERE reference = ?", &[reference(one)])?;
                return Err(SqlError::Other("rolled back".into()));
            }
        })
    }

    #[test]
    fn the_kept_snapshot_is_the_full_reads_after_every_unit() {
        with_memory_db(super::super::MIGRATIONS, |db| {
            let mut kept = Snapshot::default();
            let (mut d, mut next, mut narrow) = (Oracle::random(3), 0i64, 0);
            for step in 0..600 {
                let _ = db.given(|tx| write(tx, &mut d, &mut next));
                let fresh = kept.refresh(&db).unwrap();
                narrow += usize::from(matches!(fresh, Fresh::Some(_)));
                let full = db.read(|tx| read_all(tx, false)).unwrap();
                assert_eq!(kept.payments, full.payments, "payments after step {step}");
            }
            assert!(narrow > 300, "only {narrow} of 600 refreshes read just the changed rows");
        });
    }
}
