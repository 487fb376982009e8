//! Seed 003: bookings paid through Paystack and held in escrow, seen through the customer's
//! browser. The server ([`logic`], [`app`], [`jobs`]) keeps bookings and payments (PENDING →
//! ESCROW → RELEASED, or → REFUNDING → REFUNDED) and serves the Paystack webhook, the verify
//! endpoint, the sync endpoint with ETags, cancellation; a stuck-payment detector and the escrow
//! release run as jobs. The client side is new to settle: every customer has a browser with
//! 1..n tabs ([`tabs`]), each an actor with its own cache, timers, visibility, a localStorage
//! channel to its sibling tabs, optimistic updates and the payment redirect callback. A tab
//! records what it shows after every change ([`Screens`]), and the checker runs the `always`
//! invariants on each such observation ([`crate::sim::world::Step::Observation`]).
//!
//! The tab's cache rules are a [`Policy`] (the family's `Ext`), so a team's own client cache
//! policy plugs in with `Harness::with_ext` as easily as a handler with `with_app`.
//!
//! What it does not model: several bookings per customer, partial refunds, Paystack
//! `refund.processed` webhooks (the refund's answer is taken as final), service-side staff.

pub mod app;
pub mod invariants;
pub mod jobs;
pub mod logic;
pub mod snapshot;
pub mod tabs;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::check::{Invariant, Sometimes};
use crate::providers::paystack::{self, Paystack, PaystackConfig};
use crate::sim::{Millis, Range, Rate, Sim, count_at_most};
use crate::store::{Db, Migration};

pub use invariants::Ctx;

use super::swarm::LoadShape;
use super::{ActorInfo, Family, Harness, Part, Role, RunSpec};

pub const NAME: &str = "paystack-bookings";

const SCHEMA: &str = include_str!("migrations/20260401000000_paystack_bookings.sql");

/// One portable file serves every backend.
pub const MIGRATIONS: &[Migration] =
    &[Migration { version: "20260401000000_paystack_bookings", sqlite: SCHEMA, postgres: SCHEMA, mysql: SCHEMA }];

/// A switch that reintroduces a known bug of the seed's mechanisms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flaw {
    EtagWithoutPayment,
    InFlightOverwrite,
    StaleRollback,
    HiddenNoRefresh,
    CrossTabLost,
    DoubleCredit,
    LongPaymentTtl,
    StuckWarnOnly,
    RefundBeforeClaim,
    CallbackTrustsRedirect,
}

impl Flaw {
    pub const ALL: [Flaw; 10] = [
        Flaw::EtagWithoutPayment,
        Flaw::InFlightOverwrite,
        Flaw::StaleRollback,
        Flaw::HiddenNoRefresh,
        Flaw::CrossTabLost,
        Flaw::DoubleCredit,
        Flaw::LongPaymentTtl,
        Flaw::StuckWarnOnly,
        Flaw::RefundBeforeClaim,
        Flaw::CallbackTrustsRedirect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::EtagWithoutPayment => "etag-without-payment",
            Flaw::InFlightOverwrite => "in-flight-overwrite",
            Flaw::StaleRollback => "stale-rollback",
            Flaw::HiddenNoRefresh => "hidden-no-refresh",
            Flaw::CrossTabLost => "cross-tab-lost",
            Flaw::DoubleCredit => "double-credit",
            Flaw::LongPaymentTtl => "long-payment-ttl",
            Flaw::StuckWarnOnly => "stuck-warn-only",
            Flaw::RefundBeforeClaim => "refund-before-claim",
            Flaw::CallbackTrustsRedirect => "callback-trusts-redirect",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Flaw::EtagWithoutPayment => {
                "the sync endpoint's ETag leaves out the payment fields: a 304 for a changed payment"
            }
            Flaw::InFlightOverwrite => {
                "a fetch started before an invalidation lands after it and overwrites the fresh value (TanStack Query)"
            }
            Flaw::StaleRollback => "a failed optimistic update restores its whole snapshot over a newer server value",
            Flaw::HiddenNoRefresh => "a hidden tab stops polling and focus does not refresh it",
            Flaw::CrossTabLost => "a localStorage event that arrives while the tab is fetching is dropped",
            Flaw::DoubleCredit => "the callback's verify and the webhook both credit the escrow",
            Flaw::LongPaymentTtl => "the payment cache TTL (60 s) is longer than the refresh interval (30 s)",
            Flaw::StuckWarnOnly => {
                "seed 003's stuck payment detection only warns: a success whose webhook and callback failed stays PENDING"
            }
            Flaw::RefundBeforeClaim => {
                "cancel checks ESCROW, asks Paystack to refund, then writes REFUNDED unguarded: a release can slip in between"
            }
            Flaw::CallbackTrustsRedirect => {
                "the callback page shows success from the redirect's ?reference=&trxref= when its verify call fails"
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

pub type Flaws = super::FlawSet<Flaw>;

/// The `[bookings]` table of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub customers: u32,
    /// Tabs per browser: 1 + a uniform draw of up to `extra_tabs_max` more.
    pub extra_tabs_max: u32,
    pub arrival: Range,
    /// From the booking to the customer's payment on Paystack's page.
    pub pay_delay: Range,
    /// The share who pay (the others abandon the page).
    pub pay: Rate,
    /// The share who click "cancel" once their booking is confirmed.
    pub cancel: Rate,
    pub cancel_after: Range,
    /// The share of cancellations the API fails (the optimistic update is rolled back)…
    pub cancel_fail: Rate,
    /// …answering 500 only after this long (a gateway timing out upstream).
    pub cancel_fail_after: Range,
    /// From the booking to its service, when the escrow is released.
    pub service_after: Range,
    /// How often a tab changes visibility (hidden ↔ visible), at most.
    pub visibility_changes_max: u32,
    /// The longest a shown value may be behind the server (the reference's promise).
    pub staleness_bound: Millis,
    pub amount: i64,
    pub detector_every: Millis,
    pub stuck_after: Millis,
    pub release_every: Millis,
    pub paystack: PaystackConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            customers: 6,
            extra_tabs_max: 2,
            arrival: Range::new(Millis(0), Millis::min(20)),
            pay_delay: Range::new(Millis::s(5), Millis::min(3)),
            pay: Rate(800_000),
            cancel: Rate(300_000),
            cancel_after: Range::new(Millis::s(10), Millis::min(10)),
            cancel_fail: Rate(400_000),
            cancel_fail_after: Range::new(Millis::s(1), Millis::s(30)),
            service_after: Range::new(Millis::min(10), Millis::min(50)),
            visibility_changes_max: 6,
            staleness_bound: Millis::s(45),
            amount: 500_000,
            detector_every: Millis::min(5),
            stuck_after: Millis::min(10),
            release_every: Millis::min(1),
            paystack: PaystackConfig::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.customers > 1_000 {
            return Err(format!("bookings.customers: {} is more than the 1000 a run can hold", self.customers));
        }
        if self.extra_tabs_max > 20 {
            return Err(format!("bookings.extra_tabs_max: at most 20, found {}", self.extra_tabs_max));
        }
        if self.amount <= 0 {
            return Err(format!("bookings.amount: must be above 0 kobo, found {}", self.amount));
        }
        if self.staleness_bound < Millis::s(35) {
            return Err(format!(
                "bookings.staleness_bound: the tabs refresh every 30s; a bound under 35s cannot hold, found {}",
                self.staleness_bound
            ));
        }
        if self.detector_every.0 < 1_000 || self.release_every.0 < 1_000 {
            return Err("bookings.detector_every/release_every: must be at least 1s".into());
        }
        count_at_most("bookings.visibility_changes_max", self.visibility_changes_max)?;
        self.paystack.validate().map_err(|e| format!("bookings.{e}"))
    }
}

/// A tab's cache rules: the family's replaceable client policy (see `tests/it/own`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a payment read stays fresh (seed: 30 s)…
    pub payment_ttl: Millis,
    /// …and a booking read (seed: 5 min).
    pub booking_ttl: Millis,
    /// Auto-refresh while the payment is pending (seed: 30 s).
    pub refresh_every: Millis,
    /// A hidden tab's throttled refresh (browsers slow background timers down).
    pub hidden_refresh_every: Millis,
    /// An answer older (by version) than what the tab has is still taken.
    pub take_older: bool,
    /// A failed optimistic update restores the whole snapshot taken before it.
    pub restore_snapshot: bool,
    /// Hidden tabs stop their timer for good and focus does not refresh.
    pub hidden_stops: bool,
    /// A channel event arriving during a fetch is dropped.
    pub drop_events_while_fetching: bool,
    /// The payment callback shows success from the redirect's query string when the verify
    /// call fails (Paystack's redirect carries `reference` and `trxref`, never a status).
    pub trust_redirect: bool,
}

impl Policy {
    /// The reference policy with `flaws` switched on.
    pub fn reference(flaws: Flaws) -> Self {
        Policy {
            payment_ttl: if flaws.has(Flaw::LongPaymentTtl) { Millis::s(60) } else { Millis::s(30) },
            booking_ttl: Millis::min(5),
            refresh_every: Millis::s(30),
            hidden_refresh_every: Millis::min(5),
            take_older: flaws.has(Flaw::InFlightOverwrite),
            restore_snapshot: flaws.has(Flaw::StaleRollback),
            hidden_stops: flaws.has(Flaw::HiddenNoRefresh),
            drop_events_while_fetching: flaws.has(Flaw::CrossTabLost),
            trust_redirect: flaws.has(Flaw::CallbackTrustsRedirect),
        }
    }
}

/// What one tab shows, recorded after every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub t_ms: u64,
    pub tab: String,
    pub customer: i64,
    pub visible: bool,
    /// The server representation the screen is drawn from (`None`: loading).
    pub rep: Option<logic::Rep>,
    /// The booking status shown when an optimistic update overlays the server's.
    pub overlay: Option<String>,
    /// A notice instead of a claim of currency: "offline" after a failed fetch, "refreshing"
    /// after focus with an expired cache.
    pub notice: Option<&'static str>,
    /// What happened: fetch, 304, event, verify, optimistic, rollback, focus, hide.
    pub why: &'static str,
    /// The newest version this tab had received from the server before this screen.
    pub newest_seen: i64,
}

/// Every screen every tab showed, and each tab's current one.
#[derive(Default)]
pub struct ScreenLog {
    pub log: Vec<Screen>,
    pub current: BTreeMap<String, Screen>,
}

pub type Screens = Arc<Mutex<ScreenLog>>;

/// One sync answer the server gave: 304s are checked against what the ETag was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncAnswer {
    pub t_ms: u64,
    pub customer: i64,
    pub status: u16,
    pub etag: String,
    /// The representation now (without `served_at`).
    pub now: logic::Rep,
}

/// The sync endpoint's instrument: every ETag with the representation it was first issued for,
/// and every answer.
#[derive(Default)]
pub struct SyncLog {
    pub issued: BTreeMap<String, logic::Rep>,
    pub answers: Vec<SyncAnswer>,
}

#[derive(Clone)]
pub struct Env {
    pub sim: Sim,
    pub db: Db,
    pub paystack: Paystack,
    pub cfg: Arc<Config>,
    pub policy: Policy,
    pub screens: Screens,
    pub sync_log: Arc<Mutex<SyncLog>>,
}

/// The seed-003 family: see the module documentation.
pub struct Bookings;

pub type PaystackBookings = Harness<Bookings>;

impl Family for Bookings {
    type Config = Config;
    type Flaw = Flaw;
    type Env = Env;
    type Ctx = Ctx;
    type Mapping = ();
    type Ext = Policy;

    const NAME: &'static str = NAME;
    const TABLE: &'static str = "bookings";
    const DOC: &'static str =
        "seed 003: Paystack bookings held in escrow, seen through browser tabs — caches, ETags, optimistic updates";

    fn validate(cfg: &Config) -> Result<(), String> {
        cfg.validate()
    }

    fn migrations(_cfg: &Config, _flaws: Flaws) -> Vec<Migration> {
        MIGRATIONS.to_vec()
    }

    fn ext(_cfg: &Arc<Config>, flaws: Flaws) -> Policy {
        Policy::reference(flaws)
    }

    fn env(sim: &Sim, db: &Db, cfg: &Arc<Config>, ext: &Policy) -> Env {
        let paystack = Paystack::start(sim, cfg.paystack.clone());
        Env {
            sim: sim.clone(),
            db: db.clone(),
            paystack,
            cfg: cfg.clone(),
            policy: ext.clone(),
            screens: Screens::default(),
            sync_log: Arc::default(),
        }
    }

    fn ctx(env: &Env, _mapping: &()) -> Ctx {
        Ctx::new(env)
    }

    fn world_actors(_cfg: &Config) -> Vec<ActorInfo> {
        vec![
            ActorInfo { name: paystack::ACTOR.into(), role: Role::Provider, crashable: false },
            ActorInfo { name: tabs::CUSTOMER.into(), role: Role::Client, crashable: false },
        ]
    }

    fn parts(cfg: &Arc<Config>, flaws: Flaws) -> Vec<Part<Env>> {
        let mut app = Part::app(app::ACTOR, app::reference(flaws));
        let mut browser = tabs::browser();
        if cfg.customers > 0 {
            app = app.sometimes("etag-304", "the sync endpoint answered 304 Not Modified").sometimes(
                "callback-races-webhook",
                "the callback's verify found the payment already moved by the webhook, or the other way round",
            );
            if cfg.extra_tabs_max > 0 {
                browser =
                    browser.sometimes("cross-tab-event", "a tab took a value another tab of its browser broadcast");
            }
            if cfg.visibility_changes_max > 0 {
                browser = browser.sometimes("hidden-tab-refocused", "a hidden tab became visible again");
            }
            if !cfg.cancel.is_zero() && !cfg.cancel_fail.is_zero() {
                browser = browser
                    .sometimes("optimistic-rollback", "a failed cancellation's optimistic update was rolled back");
            }
        }
        vec![app, jobs::detector(flaws), jobs::release(), browser]
    }

    fn invariants(_cfg: &Config, _flaws: Flaws) -> Vec<Invariant<Ctx>> {
        invariants::reference()
    }

    fn load_shapes() -> Vec<LoadShape<Config>> {
        vec![
            LoadShape {
                name: "many-tabs",
                doc: "four customers with up to 12 tabs each",
                apply: |c, _| {
                    c.customers = c.customers.min(4);
                    c.extra_tabs_max = 11;
                },
            },
            LoadShape {
                name: "hidden-tabs",
                doc: "every tab hides and comes back up to 30 times",
                apply: |c, _| c.visibility_changes_max = 30,
            },
            LoadShape {
                name: "slow-network",
                doc: "one-way latencies up to 6 s between every pair, tabs and app included",
                apply: |_, s| s.sim.net.latency = Range::new(Millis(500), Millis::s(6)),
            },
            LoadShape {
                name: "cancel-storm",
                doc: "most customers cancel soon after paying and most cancellations fail slowly",
                apply: |c, _| {
                    c.cancel = Rate(900_000);
                    c.cancel_after = Range::new(Millis::s(5), Millis::min(2));
                    c.cancel_fail = Rate(700_000);
                },
            },
        ]
    }

    fn world_marks(cfg: &Config, _spec: &RunSpec) -> Vec<Sometimes> {
        let api = cfg.paystack.api.sometimes();
        api.into_iter().map(|(mark, doc)| Sometimes { mark: mark.into(), doc: doc.into() }).collect()
    }
}
