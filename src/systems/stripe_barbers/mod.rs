//! Seed 004: G|Barbers, bookings on Stripe Checkout. A customer picks a slot and starts a
//! checkout: the slot is claimed, a booking (PENDING) and an appointment (`pending`) are created
//! and linked both ways, and the customer pays on Stripe's page, by card or by a bank debit that
//! stays `processing` for days, or walks away. Stripe's webhook confirms the booking and marks the
//! appointment paid; a cron every 10 minutes repairs what the webhook missed; the barber's
//! dashboard polls every 15 s; a manual "Update Pending to Paid" button is the last resort.
//!
//! The reference design that settle proves ([`logic`]):
//! - claiming a slot is one atomic check-and-claim (`UPDATE … WHERE is_booked = 0` in the unit
//!   that creates the booking and its appointment);
//! - a hold lasts as long as its Checkout Session: `checkout.session.expired` (or the cron, asking
//!   Stripe) frees the slot; a bank debit still `processing` when the session's time is up loses
//!   its hold (the slot is released, the booking LAPSED), so a slow debit never blocks a chair for
//!   days;
//! - completion, expiry and async results are applied by the booking's state and what Stripe says
//!   of the session — a monotone merge, so arrival order and duplicates change nothing; the
//!   event's `created` is kept, its id never compared;
//! - a payment that succeeds for a lapsed hold re-claims the slot atomically if it is still free,
//!   and is refunded (idempotency key per booking) if someone else has it: the customer paid for
//!   a time they cannot have, and a refund is the only outcome that neither double-books the
//!   chair nor keeps money for nothing;
//! - the cron asks Stripe about every hold whose time is up and every lapsed or refund-pending
//!   booking, not only the local tables.
//!
//! Flaws ([`Flaw`]) switch parts back to the seed's code or to public incidents of the family.
//! Every part is replaceable through the [`Harness`] (see `tests/it/own/barbers.rs`).
//!
//! What it does not model: cancellations by the customer or barber after payment, reschedules,
//! partial refunds, several services per booking.

pub mod actors;
pub mod app;
pub mod export;
pub mod invariants;
pub mod logic;
pub mod snapshot;
pub mod stripe_api;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::check::{Invariant, Sometimes};
use crate::providers::stripe::{self, Stripe, StripeConfig};
use crate::sim::{Millis, Range, Rate, Sim, count_at_most};
use crate::store::{Db, Migration, SqlError, Tx};

pub use invariants::Ctx;

use super::{ActorInfo, Family, Harness, Part, Role, RunSpec};

/// The system's name in scenario files.
pub const NAME: &str = "stripe-barbers";

const SCHEMA: &str = include_str!("migrations/20260301000000_barbers.sql");

/// Schema migrations: one portable file serves every backend (no generated ids).
pub const MIGRATIONS: &[Migration] =
    &[Migration { version: "20260301000000_barbers", sqlite: SCHEMA, postgres: SCHEMA, mysql: SCHEMA }];

/// A switch that reintroduces a known bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flaw {
    /// The slot's `is_booked` is read in one unit and written in another (calcom/cal.diy#1450).
    ReadThenClaim,
    /// An abandoned checkout never frees its slot: `expired` is ignored (calcom/cal.diy#2170).
    NeverFree,
    /// The seed's webhook: four mutations, four units.
    FourMutations,
    /// The seed's `forceUpdateSlotStatus`: a late success books the slot whoever has it.
    ForceBooked,
    /// `expired` finds the booking by slot, as the seed's mutations do, and frees the slot.
    ExpiredFreesSlot,
    /// The seed's "Update Pending to Paid" button marks appointments paid without asking Stripe.
    ManualBlind,
    /// The webhook is not subscribed to `checkout.session.async_payment_*`, and the cron, like the
    /// seed's, reads only local tables: a bank debit that succeeds later is never recorded.
    NoAsyncEvents,
    /// The dashboard shows `paid` for a completed Checkout Session whose `payment_status` is
    /// `unpaid` (a bank debit still processing).
    DashboardCompleteIsPaid,
    /// The dashboard's answer is cached per barber and only the webhook invalidates it
    /// (fastify/fastify-caching#20): the cron's and the button's changes are never shown.
    DashboardCacheWebhookOnly,
}

impl Flaw {
    pub const ALL: [Flaw; 9] = [
        Flaw::ReadThenClaim,
        Flaw::NeverFree,
        Flaw::FourMutations,
        Flaw::ForceBooked,
        Flaw::ExpiredFreesSlot,
        Flaw::ManualBlind,
        Flaw::NoAsyncEvents,
        Flaw::DashboardCompleteIsPaid,
        Flaw::DashboardCacheWebhookOnly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::ReadThenClaim => "read-then-claim",
            Flaw::NeverFree => "never-free",
            Flaw::FourMutations => "four-mutations",
            Flaw::ForceBooked => "force-booked",
            Flaw::ExpiredFreesSlot => "expired-frees-slot",
            Flaw::ManualBlind => "manual-blind",
            Flaw::NoAsyncEvents => "no-async-events",
            Flaw::DashboardCompleteIsPaid => "dashboard-complete-is-paid",
            Flaw::DashboardCacheWebhookOnly => "dashboard-cache-webhook-only",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Flaw::ReadThenClaim => {
                "is_booked read in one unit, set in another after creating the session (calcom/cal.diy#1450)"
            }
            Flaw::NeverFree => {
                "checkout.session.expired is ignored: an abandoned hold never frees (calcom/cal.diy#2170)"
            }
            Flaw::FourMutations => {
                "seed 004's webhook: slot, payment status, booking+appointment, refresh in four units"
            }
            Flaw::ForceBooked => "seed 004's forceUpdateSlotStatus: a late success books the slot whoever holds it",
            Flaw::ExpiredFreesSlot => {
                "expired finds the booking by slot (seed 004's lookups) and frees the slot, even a paid one"
            }
            Flaw::ManualBlind => "seed 004's \"Update Pending to Paid\" button marks appointments paid without Stripe",
            Flaw::NoAsyncEvents => {
                "webhook not subscribed to async_payment_* and seed 004's local-only cron: a debit's success is lost"
            }
            Flaw::DashboardCompleteIsPaid => {
                "the dashboard shows paid once the Checkout Session is complete, though payment_status is unpaid"
            }
            Flaw::DashboardCacheWebhookOnly => {
                "the dashboard's answer is cached and only webhook writes invalidate it (fastify-caching#20)"
            }
        }
    }
}

impl super::FlawKind for Flaw {
    const ALL: &'static [Flaw] = &Flaw::ALL;
    fn name(self) -> &'static str {
        Flaw::name(self)
    }
    fn doc(self) -> &'static str {
        Flaw::doc(self)
    }
    fn bit(self) -> u16 {
        self as u16
    }
}

/// A set of this system's flaws.
pub type Flaws = super::FlawSet<Flaw>;

/// The `[barbers]` section of a scenario: the shop, its customers, the app's timing, Stripe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Customers who start a checkout during the safety phase.
    pub customers: u32,
    pub barbers: u32,
    pub slots_per_barber: u32,
    /// When customers arrive (uniform), from the start of the run.
    pub arrival: Range,
    /// The share of customers who race the customer before them for the same slot…
    pub race: Rate,
    /// …arriving this long after them.
    pub race_gap: Range,
    /// The share who pay (the others abandon the checkout page), and of those, by bank debit.
    pub pay: Rate,
    pub async_share: Rate,
    /// From the checkout to the customer's payment.
    pub pay_delay: Range,
    /// How long creating the Checkout Session takes (Stripe's API round trip): the window
    /// between the slot page's read and the claim.
    pub session_latency: Range,
    /// How long a hold (the session's `expires_at`) lasts: 30 min – 24 h.
    pub hold: Range,
    /// A booking's price, in cents.
    pub amount: i64,
    /// The sync cron (seed: every 10 minutes).
    pub cron_every: Millis,
    /// The dashboard's refresh interval (seed: 15 s) while the barber has it open…
    pub dashboard_every: Millis,
    /// …which happens up to this many times per run, for this long each.
    pub dashboard_opens_max: u32,
    pub dashboard_open_for: Range,
    /// The barber presses "Update Pending to Paid" up to this many times per run.
    pub manual_clicks_max: u32,
    pub stripe: StripeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            customers: 12,
            barbers: 2,
            slots_per_barber: 3,
            arrival: Range::new(Millis(0), Millis::h(2)),
            race: Rate(250_000),
            race_gap: Range::new(Millis(0), Millis::s(3)),
            pay: Rate(700_000),
            async_share: Rate(300_000),
            pay_delay: Range::new(Millis::s(20), Millis::min(25)),
            session_latency: Range::new(Millis(200), Millis(1_500)),
            hold: Range::new(Millis::min(30), Millis::h(24)),
            amount: 3_500,
            cron_every: Millis::min(10),
            dashboard_every: Millis::s(15),
            dashboard_opens_max: 2,
            dashboard_open_for: Range::new(Millis::min(1), Millis::min(5)),
            manual_clicks_max: 2,
            stripe: StripeConfig::default(),
        }
    }
}

impl Config {
    /// Checks what serde cannot; each message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.customers > 10_000 {
            return Err(format!("barbers.customers: {} is more than the 10000 a run can hold", self.customers));
        }
        if self.barbers == 0 || self.barbers > 100 || self.slots_per_barber == 0 || self.slots_per_barber > 99 {
            return Err("barbers.barbers/slots_per_barber: need 1–100 barbers with 1–99 slots each".into());
        }
        if self.hold.min < Millis::min(30) || self.hold.max > Millis::h(24) || self.hold.min > self.hold.max {
            return Err(format!(
                "barbers.hold: a Checkout Session lasts 30m–24h; found {}–{}",
                self.hold.min, self.hold.max
            ));
        }
        if self.amount <= 0 {
            return Err(format!("barbers.amount: must be above 0 cents, found {}", self.amount));
        }
        if self.cron_every.0 < 1_000 || self.dashboard_every.0 < 1_000 {
            return Err("barbers.cron_every/dashboard_every: must be at least 1s".into());
        }
        count_at_most("barbers.dashboard_opens_max", self.dashboard_opens_max)?;
        count_at_most("barbers.manual_clicks_max", self.manual_clicks_max)?;
        self.stripe.validate().map_err(|e| format!("barbers.{e}"))
    }

    /// Every slot id: barber `b` (1-based), slot `k` (1-based) → `b * 100 + k`.
    pub fn slot_ids(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for b in 1..=i64::from(self.barbers) {
            for k in 1..=i64::from(self.slots_per_barber) {
                out.push(b * 100 + k);
            }
        }
        out
    }
}

/// The barber a slot belongs to.
pub fn barber_of(slot: i64) -> i64 {
    slot / 100
}

/// What the barber's dashboard showed once: each appointment's status, at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub t_ms: u64,
    pub barber: i64,
    /// (appointment id, booking id, status shown)
    pub rows: Vec<(i64, i64, String)>,
    /// Whether this is the final look at the end of the run.
    pub last: bool,
}

/// The dashboard's observations, in order (checked by `dashboard-*` invariants).
pub type Views = Arc<Mutex<Vec<View>>>;

/// What every part of a run works with. A user's app and actors get exactly this.
#[derive(Clone)]
pub struct Env {
    pub sim: Sim,
    pub db: Db,
    pub stripe: Stripe,
    pub cfg: Arc<Config>,
    pub views: Views,
}

/// The G|Barbers family (seed 004): see the module documentation.
pub struct Barbers;

/// The G|Barbers system: the reference design, or a user's variation of it.
pub type StripeBarbers = Harness<Barbers>;

impl Family for Barbers {
    type Config = Config;
    type Flaw = Flaw;
    type Env = Env;
    type Ctx = Ctx;
    type Mapping = ();
    type Ext = ();

    const NAME: &'static str = NAME;
    const TABLE: &'static str = "barbers";
    const DOC: &'static str =
        "seed 004: barber bookings on Stripe Checkout — slot holds, a four-mutation webhook, a sync cron";

    fn validate(cfg: &Config) -> Result<(), String> {
        cfg.validate()
    }

    fn migrations(_cfg: &Config, _flaws: Flaws) -> Vec<Migration> {
        MIGRATIONS.to_vec()
    }

    fn seed_rows(cfg: &Config, tx: &mut Tx, epoch_ms: u64) -> Result<(), SqlError> {
        for b in 1..=i64::from(cfg.barbers) {
            tx.execute("INSERT INTO barbers (id, name) VALUES (?, ?)", &[b.into(), format!("Barber {b}").into()])?;
        }
        let day = i64::try_from(epoch_ms).unwrap_or(0) + 8 * 86_400_000;
        for slot in cfg.slot_ids() {
            tx.execute(
                "INSERT INTO slots (id, barber_id, starts_at, is_booked, last_updated) VALUES (?, ?, ?, 0, 0)",
                &[slot.into(), barber_of(slot).into(), (day + (slot % 100) * 1_800_000).into()],
            )?;
        }
        Ok(())
    }

    fn ext(_cfg: &Arc<Config>, _flaws: Flaws) {}

    fn env(sim: &Sim, db: &Db, cfg: &Arc<Config>, _ext: &()) -> Env {
        let stripe = Stripe::start(sim, cfg.stripe.clone());
        Env { sim: sim.clone(), db: db.clone(), stripe, cfg: cfg.clone(), views: Views::default() }
    }

    fn ctx(env: &Env, _mapping: &()) -> Ctx {
        Ctx::new(env.db.clone(), env.stripe.clone(), env.views.clone())
    }

    fn world_actors(_cfg: &Config) -> Vec<ActorInfo> {
        vec![
            ActorInfo { name: stripe::ACTOR.into(), role: Role::Provider, crashable: false },
            ActorInfo { name: actors::CUSTOMER.into(), role: Role::Client, crashable: false },
        ]
    }

    fn parts(cfg: &Arc<Config>, flaws: Flaws) -> Vec<Part<Env>> {
        let load = cfg.customers > 0;
        let mut app = Part::app(app::ACTOR, app::reference(flaws));
        let mut cron = Part::job(actors::CRON, move |env: Env| actors::cron(env, flaws));
        if load {
            if !flaws.has(Flaw::NeverFree) {
                app = app.sometimes("abandoned-hold-freed", "an abandoned checkout's expiry freed its slot");
            }
            app = app
                .sometimes("duplicate-event", "an event already processed arrived again")
                .sometimes("out-of-order-expired", "an expired event arrived for a hold already gone");
            if !cfg.async_share.is_zero() {
                app = app.sometimes("async-payment", "a bank debit was recorded as processing");
                if !flaws.has(Flaw::ForceBooked) && !flaws.has(Flaw::NoAsyncEvents) {
                    cron = cron.sometimes(
                        "hold-lapsed",
                        "a debit still processing lost its hold when the session's time was up",
                    );
                    app = app
                        .sometimes("refund-lost-slot", "a payment that succeeded for a slot already lost was refunded");
                }
            }
        }
        let mut checkout = actors::checkout(cfg, flaws);
        if load && !cfg.race.is_zero() && !flaws.has(Flaw::ReadThenClaim) {
            checkout =
                checkout.sometimes("double-booking-attempt", "two customers raced for one slot; one was refused");
        }
        vec![app, cron, checkout, actors::dashboard(cfg), actors::barber(cfg)]
    }

    fn export(env: &Env) -> Option<String> {
        Some(export::from_stripe(&env.stripe))
    }

    fn audit() -> Option<&'static str> {
        Some(NAME)
    }

    fn invariants(_cfg: &Config, _flaws: Flaws) -> Vec<Invariant<Ctx>> {
        invariants::reference()
    }

    fn world_marks(cfg: &Config, _spec: &RunSpec) -> Vec<Sometimes> {
        let api = cfg.stripe.api.sometimes();
        api.into_iter().map(|(mark, doc)| Sometimes { mark: mark.into(), doc: doc.into() }).collect()
    }
}
