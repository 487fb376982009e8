//! The barbers' checker snapshot: every slot, booking and appointment, read whole once and then
//! kept up to date by re-reading only the rows the database says changed
//! ([`Db::take_changed_rows`]), so that a check after a unit costs the same however many slots
//! and bookings there are. On a backend that cannot say which rows changed (PostgreSQL, MySQL),
//! or when the change log lost track, every row is read again, as before.
//!
//! It also says which slots and bookings the last refresh touched ([`Fresh`]): only those can
//! break an `always` invariant that held at the previous check (a violation ends the run), so
//! [`super::invariants`] judges only them, and finds what a check of every row would.
//!
//! What it does not do: judge anything, or read any other table.

use std::collections::{BTreeMap, BTreeSet};

use super::invariants::{Row, live};
use crate::store::{Db, SqlError, Tx};

const SLOTS: &str = "SELECT id, is_booked FROM slots";
const BOOKINGS: &str = "SELECT b.id, b.slot_id, b.session_id, b.status, b.payment_status, a.status, b.appointment_id FROM bookings b LEFT JOIN appointments a ON a.id = b.appointment_id";
const APPOINTMENTS: &str =
    "SELECT a.id, COALESCE(b.session_id, ''), a.status FROM appointments a LEFT JOIN bookings b ON b.id = a.booking_id";

/// What the last refresh read afresh.
#[derive(Clone, Debug, Default)]
pub enum Fresh {
    /// Everything (the first read, or the change log could not say).
    #[default]
    All,
    /// These slots (their flag, or a booking on them changed) and these bookings.
    Some { slots: BTreeSet<i64>, bookings: BTreeSet<i64> },
}

#[derive(Default)]
pub struct Snapshot {
    /// slot → is_booked
    pub slots: BTreeMap<i64, bool>,
    pub bookings: BTreeMap<i64, Row>,
    /// appointment id → (booking's session, status)
    pub appointments: BTreeMap<i64, (String, String)>,
    /// slot → its live bookings
    pub live_on: BTreeMap<i64, BTreeSet<i64>>,
    /// booking → the appointment it links, and the other way round
    appointment_of: BTreeMap<i64, i64>,
    bookings_of: BTreeMap<i64, BTreeSet<i64>>,
    read: bool,
    pub fresh: Fresh,
}

fn booking(r: &crate::store::Row) -> Result<(Row, Option<i64>), SqlError> {
    let row = Row {
        booking: r.int(0)?,
        slot: r.int(1)?,
        session: r.text(2)?,
        status: r.text(3)?,
        payment_status: r.text(4)?,
        appointment: r.opt_text(5)?,
    };
    Ok((row, r.opt_int(6)?))
}

impl Snapshot {
    /// Brings the snapshot up to the database's rows now.
    pub fn refresh(&mut self, db: &Db) -> Result<(), SqlError> {
        let changed = db.take_changed_rows();
        if let (true, Some(rows)) = (self.read, changed) {
            let rows: BTreeSet<(String, i64)> = rows.into_iter().collect();
            let mut slots = BTreeSet::new();
            let mut bookings = BTreeSet::new();
            if db.read(|tx| self.reread(tx, &rows, &mut slots, &mut bookings))? {
                self.fresh = Fresh::Some { slots, bookings };
                return Ok(());
            }
        }
        *self = db.read(read_all)?;
        Ok(())
    }

    /// Re-reads the changed `rows`; false when one of them is gone (a deleted row, or a
    /// rolled-back insert), which needs the full read.
    fn reread(
        &mut self,
        tx: &mut Tx,
        rows: &BTreeSet<(String, i64)>,
        slots: &mut BTreeSet<i64>,
        bookings: &mut BTreeSet<i64>,
    ) -> Result<bool, SqlError> {
        for (table, rowid) in rows {
            if table.eq_ignore_ascii_case("slots") {
                let Some(r) = tx.query_opt(&format!("{SLOTS} WHERE rowid = ?"), &[(*rowid).into()])? else {
                    return Ok(false);
                };
                let id = r.int(0)?;
                self.slots.insert(id, r.int(1)? != 0);
                slots.insert(id);
            } else if table.eq_ignore_ascii_case("bookings") {
                let Some(r) = tx.query_opt(&format!("{BOOKINGS} WHERE b.rowid = ?"), &[(*rowid).into()])? else {
                    return Ok(false);
                };
                let (row, appointment) = booking(&r)?;
                let id = row.booking;
                bookings.insert(id);
                slots.insert(row.slot);
                if let Some(old) = self.put_booking(row, appointment) {
                    slots.insert(old);
                }
                // The appointments that name this booking carry its session.
                for r in tx.query(&format!("{APPOINTMENTS} WHERE a.booking_id = ?"), &[id.into()])? {
                    self.appointments.insert(r.int(0)?, (r.text(1)?, r.text(2)?));
                }
            } else if table.eq_ignore_ascii_case("appointments") {
                let Some(r) = tx.query_opt(&format!("{APPOINTMENTS} WHERE a.rowid = ?"), &[(*rowid).into()])? else {
                    return Ok(false);
                };
                let (id, status) = (r.int(0)?, r.text(2)?);
                self.appointments.insert(id, (r.text(1)?, status.clone()));
                // The bookings that link it show its status.
                for b in self.bookings_of.get(&id).into_iter().flatten() {
                    if let Some(row) = self.bookings.get_mut(b) {
                        row.appointment = Some(status.clone());
                        bookings.insert(*b);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Puts `row` in place of the booking it replaces; returns the slot that booking was on.
    fn put_booking(&mut self, row: Row, appointment: Option<i64>) -> Option<i64> {
        let id = row.booking;
        if let Some(old) = self.appointment_of.remove(&id)
            && let Some(set) = self.bookings_of.get_mut(&old)
        {
            set.remove(&id);
        }
        if let Some(a) = appointment {
            self.appointment_of.insert(id, a);
            self.bookings_of.entry(a).or_default().insert(id);
        }
        if live(&row.status) {
            self.live_on.entry(row.slot).or_default().insert(id);
        }
        let old = self.bookings.insert(id, row)?;
        let moved_off = self.bookings.get(&id).is_none_or(|new| new.slot != old.slot || !live(&new.status));
        if live(&old.status)
            && moved_off
            && let Some(set) = self.live_on.get_mut(&old.slot)
        {
            set.remove(&id);
        }
        Some(old.slot)
    }
}

/// Every slot, booking and appointment, read afresh.
fn read_all(tx: &mut Tx) -> Result<Snapshot, SqlError> {
    let mut s = Snapshot { read: true, ..Snapshot::default() };
    for r in tx.query(&format!("{SLOTS} ORDER BY id"), &[])? {
        s.slots.insert(r.int(0)?, r.int(1)? != 0);
    }
    for r in tx.query(&format!("{BOOKINGS} ORDER BY b.id"), &[])? {
        let (row, appointment) = booking(&r)?;
        s.put_booking(row, appointment);
    }
    for r in tx.query(&format!("{APPOINTMENTS} ORDER BY a.id"), &[])? {
        s.appointments.insert(r.int(0)?, (r.text(1)?, r.text(2)?));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Oracle;
    use crate::store::Value;
    use crate::store::sqlite::with_memory_db;

    const STATUSES: [&str; 5] = ["PENDING", "CONFIRMED", "LAPSED", "CANCELLED", "REFUNDED"];
    const APPOINTMENTS: [&str; 3] = ["pending", "paid", "cancelled"];

    /// One random write: bookings and appointments made, moved, relinked, deleted; slot flags;
    /// a unit that rolls back.
    fn write(tx: &mut Tx, d: &mut Oracle, next: &mut i64) -> Result<(), SqlError> {
        let known = (*next as u64).max(1);
        let (booking, appointment, slot) = (d.int_below(known) + 1, d.int_below(known) + 1, d.int_below(6) + 1);
        let status = Value::from(STATUSES[d.int_below(5) as usize]);
        match d.int_below(9) {
            0 | 1 => {
                *next += 1;
                let appointment = if d.int_below(2) == 0 { Value::Null } else { appointment.into() };
                tx.execute(
                    "INSERT INTO bookings (id, slot_id, barber_id, customer, session_id, status, payment_status, appointment_id, amount, hold_expires_at, created_at, updated_at) VALUES (?, ?, 1, 'c', ?, ?, 'unpaid', ?, 100, 0, 0, 0)",
                    &[(*next).into(), slot.into(), Value::from(format!("cs_{next}")), status, appointment],
                )?;
            }
            2 => {
                *next += 1;
                tx.execute(
                    "INSERT INTO appointments (id, booking_id, barber_id, slot_id, status, updated_at) VALUES (?, ?, 1, ?, ?, 0)",
                    &[(*next).into(), booking.into(), slot.into(), Value::from(APPOINTMENTS[d.int_below(3) as usize])],
                )?;
            }
            3 => {
                tx.execute(
                    "UPDATE bookings SET status = ?, slot_id = ? WHERE id = ?",
                    &[status, slot.into(), booking.into()],
                )?;
            }
            4 => {
                tx.execute(
                    "UPDATE bookings SET appointment_id = ? WHERE id = ?",
                    &[appointment.into(), booking.into()],
                )?;
            }
            5 => {
                let s = Value::from(APPOINTMENTS[d.int_below(3) as usize]);
                tx.execute(
                    "UPDATE appointments SET status = ?, booking_id = ? WHERE id = ?",
                    &[s, booking.into(), appointment.into()],
                )?;
            }
            6 => {
                tx.execute("UPDATE slots SET is_booked = 1 - is_booked WHERE id = ?", &[slot.into()])?;
            }
            7 => {
                tx.execute("DELETE FROM bookings WHERE id = ?", &[booking.into()])?;
            }
            _ => {
                tx.execute("UPDATE slots SET is_booked = 1 WHERE id = ?", &[slot.into()])?;
                return Err(SqlError::Other("rolled back".into()));
            }
        }
        Ok(())
    }

    fn live_slots(s: &Snapshot) -> BTreeMap<i64, BTreeSet<i64>> {
        s.live_on.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.clone())).collect()
    }

    #[test]
    fn the_kept_snapshot_is_the_full_reads_after_every_write() {
        with_memory_db(super::super::MIGRATIONS, |db| {
            db.given(|tx| {
                tx.execute("INSERT INTO barbers (id, name) VALUES (1, 'b')", &[])?;
                for slot in 1..=6i64 {
                    tx.execute(
                        "INSERT INTO slots (id, barber_id, starts_at, is_booked, last_updated) VALUES (?, 1, 0, 0, 0)",
                        &[slot.into()],
                    )?;
                }
                Ok(())
            })
            .unwrap();
            let mut kept = Snapshot::default();
            let (mut d, mut next, mut narrow) = (Oracle::random(7), 0i64, 0);
            for step in 0..600 {
                let _ = db.given(|tx| write(tx, &mut d, &mut next));
                kept.refresh(&db).unwrap();
                narrow += usize::from(matches!(kept.fresh, Fresh::Some { .. }));
                let full = db.read(read_all).unwrap();
                assert_eq!(kept.slots, full.slots, "slots after step {step}");
                assert_eq!(kept.bookings, full.bookings, "bookings after step {step}");
                assert_eq!(kept.appointments, full.appointments, "appointments after step {step}");
                assert_eq!(live_slots(&kept), live_slots(&full), "live bookings per slot after step {step}");
            }
            assert!(narrow > 300, "only {narrow} of 600 refreshes read just the changed rows");
        });
    }
}
