//! The `stripe-barbers` audit: seed 004's invariants over a live database, read-only, in one
//! snapshot — the slot checks the simulation runs (its own functions in
//! [`crate::systems::stripe_barbers::invariants`]) and, with a Stripe export, the money checks
//! the shared library decides ([`crate::check::money`]).
//!
//! Without an export (the database's own invariants):
//! - `one-live-booking-per-slot`: at most one PENDING or CONFIRMED booking per slot.
//! - `is-booked-iff-live`: a slot is booked exactly when a hold or a confirmed booking is on it.
//! - `booking-appointment-agree`: booking status, payment status and appointment status are a
//!   legal combination.
//! - `no-slot-leak`: an unpaid hold whose `hold_expires_at` passed more than `--grace` before
//!   the as-of still holds its slot (the `not stuck` property; a hold whose payment is
//!   processing may wait for it).
//!
//! With `--provider-export` (Stripe lines, keyed by booking id, as `settle export-stripe
//! --metadata-key booking_id` writes them from PaymentIntents whose metadata names the booking):
//! - `paid-only-if-stripe-paid`: an appointment is paid only if Stripe's PaymentIntent for its
//!   booking succeeded (a refund later does not unsay it).
//! - `stripe-paid-eventually-confirmed`: a PaymentIntent that succeeded more than `--grace`
//!   before the as-of has its booking CONFIRMED and appointment paid, or, refunded in full, its
//!   booking REFUNDED.
//!
//! Table and column names come from a mapping file (`[slots]`, `[bookings]`, `[appointments]`;
//! defaults: seed 004's schema). Status words are the seed's (PENDING, CONFIRMED, …, `paid`).
//! The as-of is `--as-of`, else the newest time in the export or in `bookings.updated_at`.
//! What it does not do: the dashboard invariants (views are not stored), amounts, Checkout
//! Sessions without a PaymentIntent (the export has no line for them), or status vocabularies
//! other than the seed's.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::check::mapping::{self as mapping_file, Ident, TableName};
use crate::check::money::{self, Gap, Verdict};
use crate::error::Error;
use crate::providers::stripe::status::IntentStatus;
use crate::store::{Backend, SqlError};
use crate::systems::stripe_barbers::invariants::{Row, booked_flag, disagreement, double_booked, live, says};

use super::export::{self, Entry, Export, Truth};
use super::session::in_snapshot;
use super::{Options, Report};

pub use crate::systems::stripe_barbers::NAME;

/// The invariants checked with or without a provider export.
pub const INTERNAL: &[&str] =
    &["one-live-booking-per-slot", "is-booked-iff-live", "booking-appointment-agree", "no-slot-leak"];

/// The invariants only a provider export can check.
pub const WITH_EXPORT: &[&str] = &["paid-only-if-stripe-paid", "stripe-paid-eventually-confirmed"];

/// Where seed 004's data lives in a shop's schema.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    pub slots: Slots,
    pub bookings: Bookings,
    pub appointments: Appointments,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slots {
    pub table: TableName,
    pub id: Ident,
    pub is_booked: Ident,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bookings {
    pub table: TableName,
    pub id: Ident,
    pub slot_id: Ident,
    pub status: Ident,
    pub payment_status: Ident,
    pub appointment_id: Ident,
    pub hold_expires_at: Ident,
    pub updated_at: Ident,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Appointments {
    pub table: TableName,
    pub id: Ident,
    pub status: Ident,
}

impl Default for Slots {
    fn default() -> Self {
        Slots { table: TableName::lit("slots"), id: Ident::lit("id"), is_booked: Ident::lit("is_booked") }
    }
}

impl Default for Bookings {
    fn default() -> Self {
        Bookings {
            table: TableName::lit("bookings"),
            id: Ident::lit("id"),
            slot_id: Ident::lit("slot_id"),
            status: Ident::lit("status"),
            payment_status: Ident::lit("payment_status"),
            appointment_id: Ident::lit("appointment_id"),
            hold_expires_at: Ident::lit("hold_expires_at"),
            updated_at: Ident::lit("updated_at"),
        }
    }
}

impl Default for Appointments {
    fn default() -> Self {
        Appointments { table: TableName::lit("appointments"), id: Ident::lit("id"), status: Ident::lit("status") }
    }
}

/// Reads the options' mapping and export, then audits (a [`super::AuditFn`]).
pub fn audit(url: &str, opts: &Options) -> Result<Report, Error> {
    let mapping: Mapping = match opts.mapping.as_deref() {
        Some(path) => {
            let (text, shown) = mapping_file::read(path)?;
            mapping_file::parse(&text, &shown)?
        }
        None => Mapping::default(),
    };
    let export = opts.provider_export.as_deref().map(load_stripe).transpose()?;
    in_snapshot(url, |db, shown| {
        let snap = read(db, &mapping).map_err(|e| Error::Infrastructure(format!("{shown}: {e}")))?;
        let mut invariants = INTERNAL.to_vec();
        if export.is_some() {
            invariants.extend(WITH_EXPORT);
        }
        let lines = export.as_ref().map(|e| e.entries.len() as u64);
        let mut r = Report::new(NAME, shown, "booking", &invariants, lines);
        r.as_of = opts.as_of.or_else(|| export.as_ref().and_then(Export::newest).max(snap.newest)).unwrap_or(0);
        r.checked = snap.bookings.len() as u64;
        check(&snap, export.as_ref(), opts.grace_ms, &mut r);
        Ok(r)
    })
}

/// Loads an export and refuses a line that is not Stripe's, naming it.
fn load_stripe(path: &std::path::Path) -> Result<Export, Error> {
    let e = export::load(path)?;
    if let Some((key, entry)) = e.entries.iter().find(|(_, e)| !matches!(e.truth, Truth::Stripe { .. })) {
        return Err(Error::Scenario {
            location: format!("{}:{}", path.display(), entry.line),
            message: format!(
                "order_id {key:?} is a Midtrans line; the {NAME} audit reads Stripe lines (settle export-stripe --metadata-key booking_id)"
            ),
        });
    }
    Ok(e)
}

/// What one snapshot read.
struct Snapshot {
    /// slot → is_booked
    slots: BTreeMap<i64, bool>,
    bookings: Vec<Row>,
    /// booking → (hold_expires_at, updated_at)
    times: BTreeMap<i64, (i64, i64)>,
    newest: Option<i64>,
}

fn read(db: &mut dyn Backend, m: &Mapping) -> Result<Snapshot, SqlError> {
    let (s, b, a) = (&m.slots, &m.bookings, &m.appointments);
    let slots_sql =
        format!("SELECT {id}, {booked} FROM {t} ORDER BY {id}", id = s.id, booked = s.is_booked, t = s.table);
    let bookings_sql = format!(
        "SELECT b.{id}, b.{slot}, b.{status}, b.{pay}, x.{astatus}, b.{hold}, b.{updated} \
         FROM {bt} b LEFT JOIN {at} x ON x.{aid} = b.{appt} ORDER BY b.{id}",
        id = b.id,
        slot = b.slot_id,
        status = b.status,
        pay = b.payment_status,
        astatus = a.status,
        hold = b.hold_expires_at,
        updated = b.updated_at,
        bt = b.table,
        at = a.table,
        aid = a.id,
        appt = b.appointment_id,
    );
    let mut snap = Snapshot { slots: BTreeMap::new(), bookings: Vec::new(), times: BTreeMap::new(), newest: None };
    for r in db.query(&slots_sql, &[])? {
        snap.slots.insert(r.int(0)?, r.int(1)? != 0);
    }
    for r in db.query(&bookings_sql, &[])? {
        let booking = r.int(0)?;
        let (hold, updated) = (r.int(5)?, r.int(6)?);
        snap.times.insert(booking, (hold, updated));
        snap.newest = snap.newest.max(Some(updated));
        snap.bookings.push(Row {
            booking,
            slot: r.int(1)?,
            session: booking.to_string(),
            status: r.text(2)?,
            payment_status: r.text(3)?,
            appointment: r.opt_text(4)?,
        });
    }
    Ok(snap)
}

fn check(snap: &Snapshot, export: Option<&Export>, grace_ms: i64, r: &mut Report) {
    let as_of = r.as_of;
    for (slot, bookings) in double_booked(&snap.bookings) {
        r.add("one-live-booking-per-slot", &format!("slot {slot}"), Some(format!("live bookings {bookings:?}")));
    }
    for (slot, booked) in &snap.slots {
        let holders: Vec<i64> =
            snap.bookings.iter().filter(|b| b.slot == *slot && live(&b.status)).map(|b| b.booking).collect();
        if let Some((key, reason)) = booked_flag(*slot, *booked, &holders) {
            r.add("is-booked-iff-live", &key, Some(reason));
        }
    }
    for b in &snap.bookings {
        let key = format!("booking {}", b.booking);
        r.add("booking-appointment-agree", &key, disagreement(b));
        // Only an unpaid hold is pending here: one whose payment is processing waits for it.
        let hold = snap.times.get(&b.booking).map(|t| t.0);
        let unpaid_hold = b.status == "PENDING" && b.payment_status == "unpaid";
        if unpaid_hold && money::stuck(Verdict::Pending, hold, as_of - grace_ms) {
            let reason =
                format!("an unpaid hold on slot {} expired at {} ms and still holds it", b.slot, hold.unwrap_or(0));
            r.add_with_fix("no-slot-leak", &key, Some(reason), "ask Stripe for the session; expire the hold".into());
        }
    }
    if let Some(export) = export {
        against_export(snap, export, grace_ms, r);
    }
}

fn against_export(snap: &Snapshot, export: &Export, grace_ms: i64, r: &mut Report) {
    let by_key: BTreeMap<&str, &Row> = snap.bookings.iter().map(|b| (b.session.as_str(), b)).collect();
    let succeeded = |e: &Entry| matches!(e.truth, Truth::Stripe { status: IntentStatus::Succeeded, .. });
    for b in &snap.bookings {
        let entry = export.entries.get(&b.session);
        if money::paid_without_provider(b.appointment.as_deref() == Some("paid"), entry.is_some_and(succeeded)) {
            let stripe = entry.map_or("has no PaymentIntent for it".to_string(), |e| format!("says {}", e.describe()));
            r.add(
                "paid-only-if-stripe-paid",
                &format!("booking {}", b.booking),
                Some(format!("appointment paid, but Stripe {stripe}")),
            );
        }
    }
    let as_of = r.as_of;
    for (key, e) in export.entries.iter().filter(|(_, e)| succeeded(e) && e.time + grace_ms <= as_of) {
        let Truth::Stripe { refunded, .. } = e.truth else { continue };
        let truth = if refunded >= e.amount { Verdict::Refunded } else { Verdict::Paid };
        let b = by_key.get(key.as_str()).copied();
        let reason = match (money::unrecorded(truth, b.map(says)), b) {
            (None, _) => continue,
            (Some(Gap::Differs), Some(b)) => format!(
                "Stripe says {}; booking {}/{}, appointment {}",
                e.describe(),
                b.status,
                b.payment_status,
                b.appointment.as_deref().unwrap_or("missing")
            ),
            (Some(_), _) => format!("Stripe says {}; no booking {key}", e.describe()),
        };
        r.add_with_fix(
            "stripe-paid-eventually-confirmed",
            &format!("booking {key}"),
            Some(reason),
            "confirm the booking and mark its appointment paid, or refund the payment".into(),
        );
    }
}
