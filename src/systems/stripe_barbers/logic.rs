//! The booking logic, one function per unit of work: claim a slot (the reference's atomic
//! check-and-claim, or the `read-then-claim` flaw's two halves), apply what Stripe says about a
//! session to its booking, lapse a hold whose time is up, finish a refund, and the seed's own
//! four webhook mutations.
//!
//! A booking moves only forward, decided by its state and what Stripe says (an [`Observed`]):
//!
//! | booking | Stripe says | becomes |
//! |---|---|---|
//! | PENDING | processing | PENDING, `processing` (the hold stays) |
//! | PENDING | paid | CONFIRMED, appointment `paid` |
//! | PENDING | expired / async failed | CANCELLED, appointment `cancelled`, slot freed |
//! | PENDING + processing, hold time up | (cron) | LAPSED, appointment `cancelled`, slot freed |
//! | LAPSED | paid | CONFIRMED if the slot is still free (claimed atomically), else refund |
//! | LAPSED | async failed | CANCELLED, `failed` |
//! | anything else | anything | unchanged |
//!
//! Because Stripe's own session states only move forward too (open → complete → paid; expired
//! and failed are final), applying observations in any order, twice or late, ends in the same
//! place: arrival order never matters, and no event id is ever compared.
//!
//! What it does not do: talk to Stripe (the callers fetch and refund), or decide retries.

use crate::store::{SqlError, Tx, Value};

use super::{Flaw, Flaws, barber_of};

/// Booking statuses.
pub const PENDING: &str = "PENDING";
pub const CONFIRMED: &str = "CONFIRMED";
pub const LAPSED: &str = "LAPSED";
pub const CANCELLED: &str = "CANCELLED";
pub const REFUNDED: &str = "REFUNDED";

/// What Stripe says about a session (from an event, or from retrieving it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Still open: nothing to do.
    Open,
    /// Complete but unpaid: an async method is processing.
    Processing,
    /// Paid, by this PaymentIntent.
    Paid {
        intent: Option<String>,
    },
    /// The async payment failed.
    AsyncFailed,
    Expired,
}

impl Observed {
    pub fn as_str(&self) -> &'static str {
        match self {
            Observed::Open => "open",
            Observed::Processing => "processing",
            Observed::Paid { .. } => "paid",
            Observed::AsyncFailed => "async failed",
            Observed::Expired => "expired",
        }
    }
}

/// What applying an observation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No booking has this session (a customer who lost the race for the slot).
    NoBooking,
    Unchanged {
        booking: i64,
        status: String,
    },
    Processing {
        booking: i64,
    },
    Confirmed {
        booking: i64,
    },
    /// A lapsed hold's payment succeeded and the slot was still free.
    Reclaimed {
        booking: i64,
        slot: i64,
    },
    /// The hold ended (expired, failed) and the slot was freed (unless another booking holds it).
    Released {
        why: &'static str,
        slot: i64,
    },
    /// A lapsed hold's payment succeeded but the slot is someone else's: refund this intent.
    RefundDue {
        booking: i64,
        intent: String,
    },
}

/// One booking as the logic reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub id: i64,
    pub slot: i64,
    pub status: String,
    pub payment_status: String,
    pub intent: Option<String>,
    pub hold_expires_at: i64,
}

const BOOKING_COLUMNS: &str = "id, slot_id, status, payment_status, payment_intent_id, hold_expires_at";

fn booking_from(r: &crate::store::Row) -> Result<Booking, SqlError> {
    Ok(Booking {
        id: r.int(0)?,
        slot: r.int(1)?,
        status: r.text(2)?,
        payment_status: r.text(3)?,
        intent: r.opt_text(4)?,
        hold_expires_at: r.int(5)?,
    })
}

/// The booking made with `session`.
pub fn booking_by_session(tx: &mut Tx, session: &str) -> Result<Option<Booking>, SqlError> {
    let sql = format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE session_id = ?");
    tx.query_opt(&sql, &[Value::from(session)])?.map(|r| booking_from(&r)).transpose()
}

pub fn booking_by_id(tx: &mut Tx, id: i64) -> Result<Option<Booking>, SqlError> {
    let sql = format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = ?");
    tx.query_opt(&sql, &[id.into()])?.map(|r| booking_from(&r)).transpose()
}

/// A new booking as the checkout creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBooking {
    /// The customer's number in the run: the booking's and the appointment's id.
    pub id: i64,
    pub slot: i64,
    pub customer: String,
    pub session: String,
    pub amount: i64,
    /// Epoch ms the session expires (the hold's end).
    pub hold_expires_at: i64,
    pub now: i64,
}

/// Whether a claim got the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// Someone else holds it.
    Taken,
}

/// The reference checkout unit: claim the slot if it is free, and create the booking and its
/// appointment linked both ways — all or nothing. A retry after a lost answer finds its own
/// booking and says `Claimed` again.
pub fn claim(tx: &mut Tx, b: &NewBooking) -> Result<Claim, SqlError> {
    if booking_by_id(tx, b.id)?.is_some() {
        return Ok(Claim::Claimed);
    }
    let n = tx.execute(
        "UPDATE slots SET is_booked = 1, last_updated = ? WHERE id = ? AND is_booked = 0",
        &[b.now.into(), b.slot.into()],
    )?;
    if n == 0 {
        return Ok(Claim::Taken);
    }
    insert_booking(tx, b)?;
    Ok(Claim::Claimed)
}

/// `read-then-claim`, first half: is the slot free? (its own unit)
pub fn slot_free(tx: &mut Tx, slot: i64) -> Result<bool, SqlError> {
    Ok(tx.query_int("SELECT is_booked FROM slots WHERE id = ?", &[slot.into()])? == 0)
}

/// `read-then-claim`, second half: mark the slot booked and create the booking, without looking
/// again (the seed's `ctx.db.patch(slotId, { isBooked: true })`).
pub fn blind_claim(tx: &mut Tx, b: &NewBooking) -> Result<Claim, SqlError> {
    if booking_by_id(tx, b.id)?.is_some() {
        return Ok(Claim::Claimed);
    }
    tx.execute("UPDATE slots SET is_booked = 1, last_updated = ? WHERE id = ?", &[b.now.into(), b.slot.into()])?;
    insert_booking(tx, b)?;
    Ok(Claim::Claimed)
}

fn insert_booking(tx: &mut Tx, b: &NewBooking) -> Result<(), SqlError> {
    let barber = barber_of(b.slot);
    tx.execute(
        "INSERT INTO bookings (id, slot_id, barber_id, customer, session_id, payment_intent_id, status, payment_status, appointment_id, amount, hold_expires_at, last_event_created, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, 'PENDING', 'unpaid', NULL, ?, ?, NULL, ?, ?)",
        &[
            b.id.into(),
            b.slot.into(),
            barber.into(),
            Value::from(&b.customer),
            Value::from(&b.session),
            b.amount.into(),
            b.hold_expires_at.into(),
            b.now.into(),
            b.now.into(),
        ],
    )?;
    tx.execute(
        "INSERT INTO appointments (id, booking_id, barber_id, slot_id, status, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
        &[b.id.into(), b.id.into(), barber.into(), b.slot.into(), b.now.into()],
    )?;
    tx.execute("UPDATE bookings SET appointment_id = ? WHERE id = ?", &[b.id.into(), b.id.into()])?;
    Ok(())
}

fn set_booking(tx: &mut Tx, id: i64, status: &str, payment: &str, now: i64) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE bookings SET status = ?, payment_status = ?, updated_at = ? WHERE id = ?",
        &[status.into(), payment.into(), now.into(), id.into()],
    )?;
    Ok(())
}

fn set_appointment(tx: &mut Tx, booking: i64, status: &str, now: i64) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE appointments SET status = ?, updated_at = ? WHERE booking_id = ?",
        &[status.into(), now.into(), booking.into()],
    )?;
    Ok(())
}

/// Frees `slot` unless another booking than `except` still holds it.
fn free_slot(tx: &mut Tx, slot: i64, except: i64, now: i64) -> Result<(), SqlError> {
    let others = tx.query_int(
        "SELECT COUNT(*) FROM bookings WHERE slot_id = ? AND id <> ? AND status IN ('PENDING', 'CONFIRMED')",
        &[slot.into(), except.into()],
    )?;
    if others == 0 {
        tx.execute("UPDATE slots SET is_booked = 0, last_updated = ? WHERE id = ?", &[now.into(), slot.into()])?;
    }
    Ok(())
}

fn confirm(tx: &mut Tx, b: &Booking, intent: Option<&str>, now: i64) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE bookings SET status = 'CONFIRMED', payment_status = 'succeeded', payment_intent_id = ?, updated_at = ? WHERE id = ?",
        &[intent.map(str::to_string).into(), now.into(), b.id.into()],
    )?;
    set_appointment(tx, b.id, "paid", now)
}

/// Applies what Stripe says about `session` (whose metadata names `slot_hint`) in one unit.
/// `created_s` is the event's `created` (kept, never used to order), `None` from a retrieval.
pub fn apply(
    tx: &mut Tx,
    session: &str,
    slot_hint: Option<i64>,
    obs: &Observed,
    created_s: Option<u64>,
    now: i64,
    flaws: Flaws,
) -> Result<Outcome, SqlError> {
    if *obs == Observed::Expired && flaws.has(Flaw::ExpiredFreesSlot) {
        return expired_by_slot(tx, session, slot_hint, now);
    }
    let Some(b) = booking_by_session(tx, session)? else { return Ok(Outcome::NoBooking) };
    if let Some(c) = created_s {
        tx.execute(
            "UPDATE bookings SET last_event_created = ? WHERE id = ? AND (last_event_created IS NULL OR last_event_created < ?)",
            &[c.into(), b.id.into(), c.into()],
        )?;
    }
    let unchanged = Ok(Outcome::Unchanged { booking: b.id, status: format!("{}/{}", b.status, b.payment_status) });
    match (b.status.as_str(), obs) {
        (_, Observed::Open) => unchanged,
        (PENDING, Observed::Processing) if b.payment_status == "unpaid" => {
            set_booking(tx, b.id, PENDING, "processing", now)?;
            Ok(Outcome::Processing { booking: b.id })
        }
        (PENDING, Observed::Paid { intent }) => {
            confirm(tx, &b, intent.as_deref(), now)?;
            Ok(Outcome::Confirmed { booking: b.id })
        }
        (LAPSED | CANCELLED, Observed::Paid { intent }) => {
            let intent = intent.clone().or_else(|| b.intent.clone()).unwrap_or_default();
            if b.payment_status == "refund_pending" {
                return Ok(Outcome::RefundDue { booking: b.id, intent });
            }
            if flaws.has(Flaw::ForceBooked) {
                // The seed's forceUpdateSlotStatus: booked, whoever has it now.
                tx.execute(
                    "UPDATE slots SET is_booked = 1, last_updated = ? WHERE id = ?",
                    &[now.into(), b.slot.into()],
                )?;
                confirm(tx, &b, Some(&intent), now)?;
                return Ok(Outcome::Reclaimed { booking: b.id, slot: b.slot });
            }
            let free = tx.execute(
                "UPDATE slots SET is_booked = 1, last_updated = ? WHERE id = ? AND is_booked = 0",
                &[now.into(), b.slot.into()],
            )?;
            if free == 1 {
                confirm(tx, &b, Some(&intent), now)?;
                return Ok(Outcome::Reclaimed { booking: b.id, slot: b.slot });
            }
            tx.execute(
                "UPDATE bookings SET payment_status = 'refund_pending', payment_intent_id = ?, updated_at = ? WHERE id = ?",
                &[Value::from(&intent), now.into(), b.id.into()],
            )?;
            Ok(Outcome::RefundDue { booking: b.id, intent })
        }
        (PENDING, Observed::Expired) if flaws.has(Flaw::NeverFree) => unchanged,
        (PENDING, Observed::Expired | Observed::AsyncFailed) => {
            let (payment, why) =
                if *obs == Observed::Expired { ("unpaid", "expired") } else { ("failed", "async payment failed") };
            set_booking(tx, b.id, CANCELLED, payment, now)?;
            set_appointment(tx, b.id, "cancelled", now)?;
            free_slot(tx, b.slot, b.id, now)?;
            Ok(Outcome::Released { why, slot: b.slot })
        }
        (LAPSED, Observed::AsyncFailed) => {
            set_booking(tx, b.id, CANCELLED, "failed", now)?;
            Ok(Outcome::Released { why: "async payment failed after the hold lapsed", slot: b.slot })
        }
        _ => unchanged,
    }
}

/// `expired-frees-slot`: the seed's mutations find bookings by slot, not by session; so does
/// this expired handler, which frees the slot and cancels whatever pending booking is on it.
fn expired_by_slot(tx: &mut Tx, session: &str, slot_hint: Option<i64>, now: i64) -> Result<Outcome, SqlError> {
    let slot = match booking_by_session(tx, session)? {
        Some(b) => b.slot,
        None => match slot_hint {
            Some(s) => s,
            None => return Ok(Outcome::NoBooking),
        },
    };
    tx.execute(
        "UPDATE appointments SET status = 'cancelled', updated_at = ? WHERE booking_id IN (SELECT id FROM bookings WHERE slot_id = ? AND status = 'PENDING')",
        &[now.into(), slot.into()],
    )?;
    tx.execute(
        "UPDATE bookings SET status = 'CANCELLED', updated_at = ? WHERE slot_id = ? AND status = 'PENDING'",
        &[now.into(), slot.into()],
    )?;
    tx.execute("UPDATE slots SET is_booked = 0, last_updated = ? WHERE id = ?", &[now.into(), slot.into()])?;
    Ok(Outcome::Released { why: "expired, found by slot", slot })
}

/// The cron's lapse: a hold whose time is up while its debit is still processing gives up the
/// slot. Only if the booking is still PENDING and processing (the unit re-reads it).
pub fn lapse(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    let Some(b) = booking_by_id(tx, booking)? else { return Ok(false) };
    if b.status != PENDING || b.payment_status != "processing" || b.hold_expires_at > now {
        return Ok(false);
    }
    set_booking(tx, b.id, LAPSED, "processing", now)?;
    set_appointment(tx, b.id, "cancelled", now)?;
    free_slot(tx, b.slot, b.id, now)?;
    Ok(true)
}

/// After Stripe refunded a lost slot's payment.
pub fn refunded(tx: &mut Tx, booking: i64, now: i64) -> Result<bool, SqlError> {
    let n = tx.execute(
        "UPDATE bookings SET status = 'REFUNDED', payment_status = 'refunded', updated_at = ? WHERE id = ? AND payment_status = 'refund_pending'",
        &[now.into(), booking.into()],
    )?;
    Ok(n == 1)
}

/// Bookings the cron asks Stripe about: holds whose time is up, lapsed holds, refunds due.
pub fn due_for_check(tx: &mut Tx, now: i64) -> Result<Vec<(i64, String)>, SqlError> {
    let rows = tx.query(
        "SELECT id, session_id FROM bookings WHERE (status = 'PENDING' AND hold_expires_at <= ?) OR status = 'LAPSED' OR payment_status = 'refund_pending' ORDER BY id LIMIT 100",
        &[now.into()],
    )?;
    rows.iter().map(|r| Ok((r.int(0)?, r.text(1)?))).collect()
}

/// The seed's cron, kept: confirmed, paid bookings whose appointment is not `paid` get it.
/// Written with `EXISTS` rather than `booking_id IN (SELECT id FROM bookings …)`, which selects
/// the same rows: SQLite built a temporary table of every paid booking for the `IN` list on
/// every tick, most of the statement's cost (issue 16).
pub fn seed_sync(tx: &mut Tx, now: i64) -> Result<u64, SqlError> {
    tx.execute(
        "UPDATE appointments SET status = 'paid', updated_at = ? WHERE status <> 'paid' AND EXISTS (SELECT 1 FROM bookings b WHERE b.id = appointments.booking_id AND b.status = 'CONFIRMED' AND b.payment_status = 'succeeded')",
        &[now.into()],
    )
}

/// The four mutations of the seed's webhook, as four units (`four-mutations`): which one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// `forceUpdateSlotStatus`: the slot booked.
    ForceSlot,
    /// `updatePaymentStatus` by slot and barber.
    PaymentStatus,
    /// `updateBookingAndAppointmentStatus`.
    BookingAndAppointment,
    /// `forceRefresh`: the barber's refresh timestamp.
    Refresh,
}

/// One of the seed's four mutations for a paid `session`.
pub fn seed_mutation(
    tx: &mut Tx,
    m: Mutation,
    session: &str,
    intent: Option<&str>,
    now: i64,
) -> Result<bool, SqlError> {
    let Some(b) = booking_by_session(tx, session)? else { return Ok(false) };
    match m {
        Mutation::ForceSlot => {
            tx.execute("UPDATE slots SET is_booked = 1, last_updated = ? WHERE id = ?", &[now.into(), b.slot.into()])?;
        }
        Mutation::PaymentStatus => {
            tx.execute(
                "UPDATE bookings SET payment_status = 'succeeded', payment_intent_id = ?, updated_at = ? WHERE slot_id = ? AND barber_id = ? AND id = ?",
                &[intent.map(str::to_string).into(), now.into(), b.slot.into(), barber_of(b.slot).into(), b.id.into()],
            )?;
        }
        Mutation::BookingAndAppointment => {
            set_booking(tx, b.id, CONFIRMED, "succeeded", now)?;
            set_appointment(tx, b.id, "paid", now)?;
        }
        Mutation::Refresh => {
            let barber = barber_of(b.slot);
            let n = tx.execute(
                "UPDATE slot_refresh SET refreshed_at = ? WHERE barber_id = ?",
                &[now.into(), barber.into()],
            )?;
            if n == 0 {
                tx.execute(
                    "INSERT INTO slot_refresh (barber_id, refreshed_at) VALUES (?, ?)",
                    &[barber.into(), now.into()],
                )?;
            }
        }
    }
    Ok(true)
}

/// Records an event id; true when it was already there (a duplicate delivery).
pub fn seen_event(tx: &mut Tx, id: &str, type_: &str, now: i64) -> Result<bool, SqlError> {
    if tx.query_opt("SELECT 1 FROM processed_events WHERE event_id = ?", &[Value::from(id)])?.is_some() {
        return Ok(true);
    }
    tx.execute(
        "INSERT INTO processed_events (event_id, event_type, created_at) VALUES (?, ?, ?)",
        &[Value::from(id), type_.into(), now.into()],
    )?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite;
    use crate::store::{Backend, transaction};

    fn db() -> Sqlite {
        let mut b = Sqlite::memory().unwrap();
        b.reset("barbers-test", super::super::MIGRATIONS).unwrap();
        transaction(&mut b, |tx| {
            tx.execute(
                "INSERT INTO slots (id, barber_id, starts_at, is_booked, last_updated) VALUES (101, 1, 0, 0, 0)",
                &[],
            )
        })
        .unwrap();
        b
    }

    fn booking(id: i64, session: &str) -> NewBooking {
        NewBooking {
            id,
            slot: 101,
            customer: format!("c{id}"),
            session: session.into(),
            amount: 3_500,
            hold_expires_at: 1_000,
            now: 0,
        }
    }

    /// (booking status, payment status, appointment status, slot booked)
    fn state(b: &mut Sqlite, id: i64) -> (String, String, String, i64) {
        transaction(b, |tx| {
            let r = tx
                .query_opt(
                    "SELECT b.status, b.payment_status, a.status, s.is_booked FROM bookings b JOIN appointments a ON a.booking_id = b.id JOIN slots s ON s.id = b.slot_id WHERE b.id = ?",
                    &[id.into()],
                )?
                .unwrap();
            Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?))
        })
        .unwrap()
        .0
    }

    #[test]
    fn the_claim_is_atomic_and_idempotent() {
        let mut b = db();
        let claim1 = transaction(&mut b, |tx| claim(tx, &booking(1, "cs_1"))).unwrap().0;
        let again = transaction(&mut b, |tx| claim(tx, &booking(1, "cs_1"))).unwrap().0;
        let other = transaction(&mut b, |tx| claim(tx, &booking(2, "cs_2"))).unwrap().0;
        assert_eq!((claim1, again, other), (Claim::Claimed, Claim::Claimed, Claim::Taken));
        assert_eq!(state(&mut b, 1), ("PENDING".into(), "unpaid".into(), "pending".into(), 1));
    }

    /// Whatever order Stripe's news about one session arrives in, and however often, the booking
    /// ends in the same state: the merge is monotone.
    #[test]
    fn observations_in_any_order_end_in_the_same_state() {
        let paid = Observed::Paid { intent: Some("pi_1".into()) };
        let histories: [&[Observed]; 3] = [
            &[Observed::Processing, paid.clone()],
            &[Observed::Processing, Observed::AsyncFailed],
            &[Observed::Open, Observed::Expired],
        ];
        for history in histories {
            let mut ends = Vec::new();
            // Every order of the history, each observation delivered once or twice.
            for order in [vec![0, 1], vec![1, 0], vec![1, 0, 1], vec![0, 1, 0, 1], vec![1, 1, 0]] {
                let mut b = db();
                transaction(&mut b, |tx| claim(tx, &booking(1, "cs_1"))).unwrap();
                for i in order {
                    let obs = &history[i];
                    transaction(&mut b, |tx| apply(tx, "cs_1", Some(101), obs, None, 10, Flaws::default())).unwrap();
                }
                ends.push(state(&mut b, 1));
            }
            assert!(ends.windows(2).all(|w| w[0] == w[1]), "{history:?}: {ends:?}");
        }
    }

    #[test]
    fn a_lapsed_debit_that_succeeds_reclaims_a_free_slot_or_is_refunded() {
        let paid = Observed::Paid { intent: Some("pi_1".into()) };
        let mut b = db();
        transaction(&mut b, |tx| claim(tx, &booking(1, "cs_1"))).unwrap();
        transaction(&mut b, |tx| apply(tx, "cs_1", None, &Observed::Processing, None, 10, Flaws::default())).unwrap();
        assert!(transaction(&mut b, |tx| lapse(tx, 1, 2_000)).unwrap().0);
        assert_eq!(state(&mut b, 1), ("LAPSED".into(), "processing".into(), "cancelled".into(), 0));
        // Someone else takes the slot; the debit succeeds: refund, not a second booking.
        transaction(&mut b, |tx| claim(tx, &booking(2, "cs_2"))).unwrap();
        let out = transaction(&mut b, |tx| apply(tx, "cs_1", None, &paid, None, 3_000, Flaws::default())).unwrap().0;
        assert_eq!(out, Outcome::RefundDue { booking: 1, intent: "pi_1".into() });
        assert!(transaction(&mut b, |tx| refunded(tx, 1, 3_001)).unwrap().0);
        assert_eq!(state(&mut b, 1), ("REFUNDED".into(), "refunded".into(), "cancelled".into(), 1));
        // With `force-booked`, the same news confirms it on top of booking 2.
        let mut b = db();
        transaction(&mut b, |tx| claim(tx, &booking(1, "cs_1"))).unwrap();
        transaction(&mut b, |tx| apply(tx, "cs_1", None, &Observed::Processing, None, 10, Flaws::default())).unwrap();
        transaction(&mut b, |tx| lapse(tx, 1, 2_000)).unwrap();
        transaction(&mut b, |tx| claim(tx, &booking(2, "cs_2"))).unwrap();
        let forced = Flaws::from_iter([Flaw::ForceBooked]);
        let out = transaction(&mut b, |tx| apply(tx, "cs_1", None, &paid, None, 3_000, forced)).unwrap().0;
        assert_eq!(out, Outcome::Reclaimed { booking: 1, slot: 101 });
        assert_eq!(state(&mut b, 2).0, "PENDING");
    }
}
