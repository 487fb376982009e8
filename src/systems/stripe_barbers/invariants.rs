//! Seed 004's invariants: one snapshot of slots, bookings and appointments, Stripe's ground
//! truth, and the dashboard's recorded views.
//!
//! always (after every unit that wrote):
//! - `one-live-booking-per-slot`: at most one PENDING or CONFIRMED booking per slot.
//! - `is-booked-iff-live`: a slot is booked exactly when a live booking (a hold or a confirmed
//!   booking) is on it.
//! - `paid-only-if-stripe-paid`: an appointment is `paid` only if Stripe says its booking's
//!   session was paid.
//! - `booking-appointment-agree`: the booking's status, its payment status and its appointment's
//!   status are one of the legal combinations (see [`legal`]).
//! - `dashboard-never-shows-unpaid-as-paid`: every view the dashboard recorded shows `paid` only
//!   for an appointment whose session Stripe says was paid. A view is a read, not a unit that
//!   wrote, so it is checked at the next unit that writes (and all views again at the end, in
//!   `dashboard-shows-truth`): the verdict is exact, its time may be a little late.
//!
//! eventually (end of the liveness phase):
//! - `stripe-paid-eventually-confirmed`: a session Stripe says is paid has its booking CONFIRMED
//!   and its appointment paid, or its payment refunded in full and the booking REFUNDED.
//! - `no-slot-leak`: a session that expired, or whose async payment failed, has no live booking.
//! - `dashboard-shows-truth`: the dashboard's last look at each barber shows every appointment
//!   with the status the database has.
//!
//! The money properties (`paid-only-if-stripe-paid`, the dashboard's, and
//! `stripe-paid-eventually-confirmed`) decide with the shared library ([`crate::check::money`])
//! over [`says`]; the slot and agreement invariants are this system's own.
//!
//! What they do not check: amounts (the checkout sets them and nothing changes them), or
//! sessions without a booking (a race loser's, expired at once by the checkout).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::check::money::{self, Gap, Verdict};
use crate::check::{CheckCtx, Finding, Invariant};
use crate::providers::stripe::Stripe;
use crate::sim::world::lock;
use crate::store::{Db, SqlError};

use super::Views;
use super::snapshot::{Fresh, Snapshot};

/// One booking with its appointment, as the invariants see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub booking: i64,
    pub slot: i64,
    pub session: String,
    pub status: String,
    pub payment_status: String,
    /// The appointment's status (`None`: no appointment linked).
    pub appointment: Option<String>,
}

/// The legal (booking status, payment status, appointment status) combinations.
pub fn legal(status: &str, payment: &str, appointment: Option<&str>) -> bool {
    matches!(
        (status, payment, appointment),
        ("PENDING", "unpaid" | "processing", Some("pending"))
            | ("CONFIRMED", "succeeded", Some("paid"))
            | ("LAPSED", "processing" | "refund_pending", Some("cancelled"))
            | ("CANCELLED", "unpaid" | "failed" | "refund_pending", Some("cancelled"))
            | ("REFUNDED", "refunded", Some("cancelled"))
    )
}

/// What a booking records about its payment, for the money invariants: paid only when the
/// booking is CONFIRMED *and* its appointment paid (what the barber acts on), refunded when the
/// booking is REFUNDED.
pub fn says(b: &Row) -> Verdict {
    match (b.status.as_str(), b.appointment.as_deref()) {
        ("CONFIRMED", Some("paid")) => Verdict::Paid,
        ("REFUNDED", _) => Verdict::Refunded,
        ("CANCELLED" | "LAPSED", _) => Verdict::Failed,
        _ => Verdict::Pending,
    }
}

/// A booking that holds its slot: a hold (PENDING) or a confirmed booking.
pub fn live(status: &str) -> bool {
    status == "PENDING" || status == "CONFIRMED"
}

/// `one-live-booking-per-slot`: each slot with more than one live booking, and those bookings.
/// Each slot's live bookings, in the order of `bookings`, gathered in one pass.
pub fn live_by_slot(bookings: &[Row]) -> BTreeMap<i64, Vec<i64>> {
    let mut per: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for b in bookings.iter().filter(|b| live(&b.status)) {
        per.entry(b.slot).or_default().push(b.booking);
    }
    per
}

pub fn double_booked(bookings: &[Row]) -> Vec<(i64, Vec<i64>)> {
    live_by_slot(bookings).into_iter().filter(|(_, v)| v.len() > 1).collect()
}

/// `is-booked-iff-live`: what is wrong with one slot's flag (`booked`), given the live bookings
/// on it (`holders`): booked with none, or free under the first of them.
pub fn booked_flag(slot: i64, booked: bool, holders: &[i64]) -> Option<(String, String)> {
    match holders.first() {
        None if booked => Some((format!("slot {slot}"), format!("slot {slot} is booked; no live booking holds it"))),
        Some(h) if !booked => {
            Some((format!("booking {h}"), format!("slot {slot} is free but booking {h} is live on it")))
        }
        _ => None,
    }
}

/// `booking-appointment-agree`: the booking's illegal combination, in words.
pub fn disagreement(b: &Row) -> Option<String> {
    (!legal(&b.status, &b.payment_status, b.appointment.as_deref())).then(|| {
        format!(
            "booking {}/{} but appointment {}",
            b.status,
            b.payment_status,
            b.appointment.as_deref().unwrap_or("missing")
        )
    })
}

/// What the invariants look at.
pub struct Ctx {
    pub db: Db,
    pub stripe: Stripe,
    pub views: Views,
    snap: Mutex<Snapshot>,
    /// Views already checked by the `always` check.
    views_checked: Mutex<usize>,
}

impl Ctx {
    pub fn new(db: Db, stripe: Stripe, views: Views) -> Self {
        Ctx { db, stripe, views, snap: Mutex::default(), views_checked: Mutex::new(0) }
    }

    fn ever_paid(&self, session: &str) -> bool {
        self.stripe.session(session).is_some_and(|s| s.ever_paid())
    }

    fn unpaid_shown_paid(&self, from: usize) -> Vec<Finding> {
        let snap = lock(&self.snap);
        let views = lock(&self.views);
        let mut out = Vec::new();
        for v in views.iter().skip(from) {
            for (appt, booking, status) in &v.rows {
                let session = snap.appointments.get(appt).map(|(s, _)| s.as_str()).unwrap_or("");
                if money::paid_without_provider(status == "paid", self.ever_paid(session)) {
                    out.push(Finding::about(
                        format!("booking {booking}"),
                        format!("the dashboard showed appointment {appt} paid at {} ms; Stripe never was", v.t_ms),
                    ));
                }
            }
        }
        out
    }
}

impl CheckCtx for Ctx {
    fn prepare(&self, _scope: Option<&str>) -> Result<(), SqlError> {
        lock(&self.snap).refresh(&self.db)
    }
}

/// Runs `f` over the bookings read afresh for this check (the others have not changed since
/// checks that found nothing), in booking order.
fn each_booking(c: &Ctx, mut f: impl FnMut(&Row) -> Option<String>) -> Result<Vec<Finding>, SqlError> {
    let snap = lock(&c.snap);
    let judge = |b: &Row| f(b).map(|d| Finding::about(format!("booking {}", b.booking), d));
    Ok(match &snap.fresh {
        Fresh::All => snap.bookings.values().filter_map(judge).collect(),
        Fresh::Some { bookings, .. } => {
            bookings.iter().filter_map(|b| snap.bookings.get(b)).filter_map(judge).collect()
        }
    })
}

/// The slots read afresh for this check (every slot with a flag or a live booking, after a full
/// read), in slot order.
fn fresh_slots(snap: &Snapshot) -> Vec<i64> {
    match &snap.fresh {
        Fresh::All => {
            snap.slots.keys().chain(snap.live_on.keys()).copied().collect::<BTreeSet<_>>().into_iter().collect()
        }
        Fresh::Some { slots, .. } => slots.iter().copied().collect(),
    }
}

/// The reference invariants (fresh per run).
pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always(
            "one-live-booking-per-slot",
            "at most one PENDING or CONFIRMED booking per slot",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                Ok(fresh_slots(&snap)
                    .into_iter()
                    .filter_map(|slot| snap.live_on.get(&slot).filter(|v| v.len() > 1).map(|v| (slot, v)))
                    .map(|(slot, v)| {
                        let v: Vec<i64> = v.iter().copied().collect();
                        let names: Vec<String> = v.iter().map(|b| format!("booking {b}")).collect();
                        let mut f = Finding::about(names[0].clone(), format!("slot {slot} has live bookings {v:?}"));
                        for n in &names[1..] {
                            f = f.and(n.clone());
                        }
                        f.and(format!("slot {slot}"))
                    })
                    .collect())
            },
        ),
        Invariant::always(
            "is-booked-iff-live",
            "a slot is booked exactly when a hold or a confirmed booking is on it",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let mut out = Vec::new();
                for slot in fresh_slots(&snap) {
                    let Some(booked) = snap.slots.get(&slot) else { continue };
                    let holders: Vec<i64> = snap.live_on.get(&slot).into_iter().flatten().copied().collect();
                    match booked_flag(slot, *booked, &holders) {
                        Some((about, detail)) if *booked => out.push(Finding::about(about, detail)),
                        Some((about, detail)) => out.push(Finding::about(about, detail).and(format!("slot {slot}"))),
                        None => {}
                    }
                }
                Ok(out)
            },
        ),
        Invariant::always(
            "paid-only-if-stripe-paid",
            "an appointment is paid only if Stripe says its booking's session was paid",
            |c: &Ctx| {
                each_booking(c, |b| {
                    money::paid_without_provider(b.appointment.as_deref() == Some("paid"), c.ever_paid(&b.session))
                        .then(|| format!("appointment paid, but Stripe says session {} never was", b.session))
                })
            },
        ),
        Invariant::always(
            "booking-appointment-agree",
            "booking status, payment status and appointment status are a legal combination",
            |c: &Ctx| each_booking(c, disagreement),
        ),
        Invariant::always(
            "dashboard-never-shows-unpaid-as-paid",
            "the barber's dashboard shows paid only for appointments Stripe says were paid",
            |c: &Ctx| {
                let from = *lock(&c.views_checked);
                let out = c.unpaid_shown_paid(from);
                *lock(&c.views_checked) = lock(&c.views).len();
                Ok(out)
            },
        ),
        Invariant::eventually(
            "stripe-paid-eventually-confirmed",
            "Stripe paid ⇒ the booking is CONFIRMED and its appointment paid, or the payment is refunded",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let mut out = Vec::new();
                for s in c.stripe.sessions().iter().filter(|s| s.paid_now()) {
                    let b = snap.bookings.values().find(|b| b.session == s.id);
                    let refunded = s
                        .payment_intent
                        .as_deref()
                        .and_then(|pi| c.stripe.intent(pi))
                        .is_some_and(|i| i.amount_refunded >= i.amount);
                    let truth = if refunded { Verdict::Refunded } else { Verdict::Paid };
                    match (money::unrecorded(truth, b.map(says)), b) {
                        (None, _) => {}
                        (Some(Gap::Differs), Some(b)) => out.push(Finding::about(
                            format!("booking {}", b.booking),
                            format!(
                                "Stripe says paid{}; booking {}/{}, appointment {}",
                                if refunded { " and refunded" } else { "" },
                                b.status,
                                b.payment_status,
                                b.appointment.as_deref().unwrap_or("missing")
                            ),
                        )),
                        (Some(_), _) => out.push(Finding::about(
                            s.id.clone(),
                            format!("Stripe says {} paid; no booking has it", s.id),
                        )),
                    }
                }
                Ok(out)
            },
        ),
        Invariant::eventually(
            "no-slot-leak",
            "an expired or failed checkout leaves no live booking (its slot is free again)",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let mut out = Vec::new();
                for b in snap.bookings.values().filter(|b| live(&b.status)) {
                    let Some(s) = c.stripe.session(&b.session) else { continue };
                    let failed = s.payment_intent.as_deref().and_then(|pi| c.stripe.intent(pi)).is_some_and(|i| {
                        !i.ever_succeeded()
                            && s.status == crate::providers::stripe::SessionStatus::Complete
                            && i.status != crate::providers::stripe::IntentStatus::Processing
                    });
                    if s.expired() || failed {
                        out.push(Finding::about(
                            format!("booking {}", b.booking),
                            format!(
                                "session {} {}; booking {} still holds slot {}",
                                s.id,
                                if s.expired() { "expired" } else { "failed" },
                                b.status,
                                b.slot
                            ),
                        ));
                    }
                }
                Ok(out)
            },
        ),
        Invariant::eventually(
            "dashboard-shows-truth",
            "the dashboard's last look shows every appointment as the database has it",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let views = lock(&c.views);
                let mut out = Vec::new();
                for v in views.iter().filter(|v| v.last) {
                    for (appt, booking, shown) in &v.rows {
                        let truth = snap.appointments.get(appt).map(|(_, s)| s.as_str()).unwrap_or("missing");
                        if truth != shown {
                            out.push(Finding::about(
                                format!("booking {booking}"),
                                format!("the dashboard's last look shows appointment {appt} {shown}; it is {truth}"),
                            ));
                        }
                    }
                }
                drop((snap, views));
                out.extend(c.unpaid_shown_paid(0));
                Ok(out)
            },
        ),
    ]
}
