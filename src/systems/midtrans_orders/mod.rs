//! Seed 001: Midtrans orders. A checkout creates a charge, then inserts `orders` and
//! `order_payments` after a delay; Midtrans's notification can arrive first. The reference
//! logic answers a retryable 503 while the row is missing, applies only legal forward
//! transitions in one unit, is idempotent under duplicates, logs every sync, reconciles PENDING
//! payments against the status API every 5 minutes — and re-asks about PAID ones, at growing
//! intervals, until a check made `reverify_paid_for` after payment confirms them, so a reversal
//! whose notification was lost in a long outage is still found — and offers the admin's manual
//! sync.
//!
//! Flaws reintroduce the real bugs (see [`Flaw`]). The system is a [`Family`] run by the generic
//! harness, built only on the public API ([`crate::sim`], [`crate::store`], [`crate::check`],
//! [`crate::providers::midtrans`]), so every part of it — the app, the jobs, the checkout's insert,
//! the admin, the schema — can be replaced by a user's own ([`MidtransOrders::with_app`],
//! [`MidtransOrders::with_part`], [`actors::checkout`], [`MidtransOrders::with_schema`]).
//!
//! What it does not model: merchant-initiated refunds (through a refund API the shop calls
//! itself), orphaned charges (a checkout that dies between the charge
//! and the insert), several payments per order.

pub mod actors;
pub mod app;
pub mod export;
pub mod invariants;
pub mod logic;
pub mod mapping;
pub mod observe;

use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::check::{Invariant, Sometimes};
use crate::providers::midtrans::status::PaymentType;
use crate::providers::midtrans::{Midtrans, ProviderConfig};
use crate::sim::{Millis, Range, Rate, Sim, count_at_most};
use crate::store::{Db, Migration};

pub use invariants::Ctx;
pub use mapping::Mapping;

use super::swarm::LoadShape;
use super::{ActorInfo, Family, Harness, Part, Role, RunSpec};

/// The system's name in scenario files.
pub const NAME: &str = "midtrans-orders";

/// Schema migrations (timestamped SQL files).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: "20260122000000_orders",
    sqlite: include_str!("migrations/20260122000000_orders.sqlite.sql"),
    postgres: include_str!("migrations/20260122000000_orders.postgres.sql"),
    mysql: include_str!("migrations/20260122000000_orders.mysql.sql"),
}];

/// A switch that reintroduces a known bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flaw {
    /// Answers 200 when the payment row does not exist yet (the seed's incident).
    AckMissing,
    /// The seed's own fix: retry 3 × 500 ms inside the handler, then 200.
    InlineRetry,
    /// No reconciliation job.
    NoReconciliation,
    /// Payment and order updated in two units.
    SplitUpdate,
    /// Only `settlement` counts as paid; `capture` + `accept` is missed.
    SettlementOnly,
    /// An out-of-order `pending`/`expire` after `settlement` is applied (adyen-magento2#1631).
    LateRegress,
    /// Fulfilment runs once per delivery (woocommerce-payments#3345).
    DoubleFulfil,
    /// Reconciliation asks Midtrans only about PENDING payments: a reversal or refund whose
    /// notification outlived its retries (a long outage) is never seen (issue 11, seed 919).
    ReconPendingOnly,
    /// The webhook moves money state on the notification's own `transaction_status`, which
    /// Midtrans's `signature_key` does not cover: a replayed notification with an edited status
    /// verifies and is applied (issue 11 §6).
    TrustBody,
    /// Only the webhook fulfils: the reconciliation job and the manual sync mark an order PAID
    /// and leave the side effect out, so a payment repaired by them is never shipped.
    RepairSkipsFulfil,
    /// A reversal (`settlement → deny`) makes a PAID order DENIED but leaves its `paid_at` set.
    /// (A refund keeping its paid time is a legitimate design: the audit allows it.)
    ReversalKeepsPaidAt,
    /// The admin's "Sync Payment Status" answers 200 and writes nothing: it reads the status
    /// API and never applies the answer, the way a real team's broken button does.
    ManualSyncNoop,
}

impl Flaw {
    pub const ALL: [Flaw; 12] = [
        Flaw::AckMissing,
        Flaw::InlineRetry,
        Flaw::NoReconciliation,
        Flaw::SplitUpdate,
        Flaw::SettlementOnly,
        Flaw::LateRegress,
        Flaw::DoubleFulfil,
        Flaw::ReconPendingOnly,
        Flaw::TrustBody,
        Flaw::RepairSkipsFulfil,
        Flaw::ReversalKeepsPaidAt,
        Flaw::ManualSyncNoop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::AckMissing => "ack-missing",
            Flaw::InlineRetry => "inline-retry",
            Flaw::NoReconciliation => "no-reconciliation",
            Flaw::SplitUpdate => "split-update",
            Flaw::SettlementOnly => "settlement-only",
            Flaw::LateRegress => "late-regress",
            Flaw::DoubleFulfil => "double-fulfil",
            Flaw::ReconPendingOnly => "recon-pending-only",
            Flaw::TrustBody => "trust-body",
            Flaw::RepairSkipsFulfil => "repair-skips-fulfil",
            Flaw::ReversalKeepsPaidAt => "reversal-keeps-paid-at",
            Flaw::ManualSyncNoop => "manual-sync-noop",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Flaw::AckMissing => "answers 200 when the payment row does not exist yet (seed 001's incident)",
            Flaw::InlineRetry => "seed 001's own fix: retry 3 × 500 ms in the handler, then give up with 200",
            Flaw::NoReconciliation => "no reconciliation job",
            Flaw::SplitUpdate => "payment and order updated in two units of work",
            Flaw::SettlementOnly => "only settlement counts as paid; capture + fraud_status=accept is missed",
            Flaw::LateRegress => "an out-of-order pending/expire after settlement is applied (adyen-magento2#1631)",
            Flaw::DoubleFulfil => "fulfilment runs once per delivery, not once per payment (woocommerce-payments#3345)",
            Flaw::ReconPendingOnly => {
                "reconciliation asks only about PENDING payments: a reversal lost in a long outage stays PAID"
            }
            Flaw::TrustBody => {
                "the webhook applies the body's transaction_status, which the signature does not cover, unconfirmed"
            }
            Flaw::RepairSkipsFulfil => {
                "only the webhook fulfils: an order made PAID by reconciliation or the manual sync is never shipped"
            }
            Flaw::ReversalKeepsPaidAt => {
                "a reversal (settlement → deny) makes a PAID order DENIED but leaves paid_at set"
            }
            Flaw::ManualSyncNoop => {
                "the admin's Sync Payment Status reads the status API, answers 200 and writes nothing"
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

/// The `[midtrans]` section of a scenario: load, timing and provider behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Orders created during the safety phase.
    pub orders: u32,
    /// When orders arrive (uniform), from the start of the run.
    pub arrival: Range,
    #[serde(with = "method_names")]
    pub methods: Vec<PaymentType>,
    /// Order amounts in minor units (IDR × 100).
    pub amount_min: i64,
    pub amount_max: i64,
    /// From the charge to the checkout's insert: the race window.
    pub insert_delay: Range,
    /// The share of customers who pay.
    pub pay: Rate,
    /// From the charge to the customer's payment.
    pub pay_delay: Range,
    pub reconcile_every: Millis,
    pub reconcile_older_than: Millis,
    pub monitor_every: Millis,
    /// How long after `paid_at` a PAID payment can still be reversed or refunded: reconciliation
    /// re-asks Midtrans about it (at growing intervals) until a check made this long after
    /// `paid_at` confirms it, however long the database was down in between.
    pub reverify_paid_for: Millis,
    /// The longest wait between two re-verifications of a PAID payment (checks back off from
    /// `reconcile_every` up to this): bounds how long after an outage a lost reversal is found.
    pub reverify_every_max: Millis,
    /// The seed's monitor: PENDING for longer than this is stuck.
    pub stuck_after: Millis,
    /// The admin presses "Sync Payment Status" up to this many times per run.
    pub admin_clicks_max: u32,
    /// The admin's end-of-day sweep: this long into the liveness phase, the admin lists every
    /// order still PENDING on the dashboard and presses "Sync Payment Status" on each. Off when
    /// unset (the default); a sweep due after the run's end never happens.
    pub admin_sweep: Option<Millis>,
    /// Forged notifications (wrong signature) posted to the webhook, up to this many per run.
    pub forged_notifications_max: u32,
    /// Genuine `pending` notifications replayed with `transaction_status` edited to
    /// `settlement` (Midtrans's signature does not cover it), up to this many per run.
    pub replayed_notifications_max: u32,
    /// `inline-retry`: attempts and pause.
    pub inline_retry_attempts: u32,
    pub inline_retry_delay: Millis,
    pub provider: ProviderConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            orders: 10,
            arrival: Range::new(Millis(0), Millis::min(50)),
            methods: vec![PaymentType::BankTransfer, PaymentType::Qris, PaymentType::Gopay, PaymentType::CreditCard],
            amount_min: 1_000_000,
            amount_max: 50_000_000,
            insert_delay: Range::new(Millis(20), Millis::s(4)),
            pay: Rate(850_000),
            pay_delay: Range::new(Millis(500), Millis::min(20)),
            reconcile_every: Millis::min(5),
            reconcile_older_than: Millis::min(5),
            monitor_every: Millis::min(10),
            reverify_paid_for: Millis::h(6),
            reverify_every_max: Millis::min(30),
            stuck_after: Millis::min(30),
            admin_clicks_max: 2,
            admin_sweep: None,
            forged_notifications_max: 1,
            replayed_notifications_max: 1,
            inline_retry_attempts: 3,
            inline_retry_delay: Millis(500),
            provider: ProviderConfig::default(),
        }
    }
}

impl Config {
    /// Checks what serde cannot; each message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.orders > 100_000 {
            return Err(format!("midtrans.orders: {} is more than the 100000 a run can hold", self.orders));
        }
        if self.methods.is_empty() {
            return Err("midtrans.methods: name at least one payment method".into());
        }
        if self.amount_min <= 0 || self.amount_min > self.amount_max {
            return Err(format!(
                "midtrans.amount_min/amount_max: need 0 < amount_min ≤ amount_max, found {} and {}",
                self.amount_min, self.amount_max
            ));
        }
        if self.reconcile_every.0 < 1_000 || self.monitor_every.0 < 1_000 {
            return Err("midtrans.reconcile_every/monitor_every: must be at least 1s".into());
        }
        if self.reverify_paid_for.0 > Millis::h(24 * 90).0 {
            return Err(format!(
                "midtrans.reverify_paid_for: {} is more than the 90d a payment can be re-verified for",
                self.reverify_paid_for
            ));
        }
        if self.provider.retry_intervals.len() > 32 {
            return Err("midtrans.provider.retry_intervals: at most 32 intervals".into());
        }
        count_at_most("midtrans.admin_clicks_max", self.admin_clicks_max)?;
        count_at_most("midtrans.forged_notifications_max", self.forged_notifications_max)?;
        count_at_most("midtrans.replayed_notifications_max", self.replayed_notifications_max)?;
        Ok(())
    }
}

mod method_names {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::providers::midtrans::status::PaymentType;

    pub fn serialize<S: Serializer>(v: &[PaymentType], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|m| m.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PaymentType>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                PaymentType::parse(n).ok_or_else(|| {
                    let known: Vec<&str> = PaymentType::ALL.iter().map(|m| m.as_str()).collect();
                    de::Error::custom(format!("unknown payment method {n:?}, expected one of {}", known.join(", ")))
                })
            })
            .collect()
    }
}

/// Order codes whose checkout insert has committed (kept by the checkout, read by the harness's
/// observation of the webhook).
pub type Inserted = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

/// Bodies of genuine `pending` notifications as they reached the webhook, in arrival order:
/// what someone who can read the shop's traffic or logs holds, and the forger replays.
pub type Captured = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// What every part of a run works with: the simulation, the database, the provider and the
/// configuration. A user's app and actors get exactly this, as the reference ones do.
#[derive(Clone)]
pub struct Env {
    pub sim: Sim,
    pub db: Db,
    /// The provider: its ground truth, and charges for the checkout.
    pub provider: Midtrans,
    /// The Midtrans server key (signature checks and status API auth).
    pub server_key: String,
    /// The provider's actor name, for status API calls.
    pub provider_actor: String,
    pub cfg: Arc<Config>,
    /// Orders whose checkout insert has committed (what `webhook-before-insert` compares with).
    pub inserted: Inserted,
    /// Genuine `pending` notifications seen at the webhook (what the forger replays).
    pub captured: Captured,
}

/// The Midtrans orders family (seed 001): see the module documentation.
pub struct Orders;

/// The Midtrans orders system: the reference design, or a user's variation of it.
pub type MidtransOrders = Harness<Orders>;

impl Family for Orders {
    type Config = Config;
    type Flaw = Flaw;
    type Env = Env;
    type Ctx = Ctx;
    type Mapping = Mapping;
    type Ext = ();

    const NAME: &'static str = NAME;
    const TABLE: &'static str = "midtrans";
    const DOC: &'static str =
        "seed 001: Midtrans notifications racing the checkout's insert; reconciliation, admin sync";

    fn validate(cfg: &Config) -> Result<(), String> {
        cfg.validate()
    }

    fn migrations(_cfg: &Config, _flaws: Flaws) -> Vec<Migration> {
        MIGRATIONS.to_vec()
    }

    fn ext(_cfg: &Arc<Config>, _flaws: Flaws) {}

    fn env(sim: &Sim, db: &Db, cfg: &Arc<Config>, _ext: &()) -> Env {
        let provider = Midtrans::start(sim, cfg.provider.clone());
        Env {
            sim: sim.clone(),
            db: db.clone(),
            provider,
            server_key: cfg.provider.server_key.clone(),
            provider_actor: crate::providers::midtrans::provider::ACTOR.to_string(),
            cfg: cfg.clone(),
            inserted: Inserted::default(),
            captured: Captured::default(),
        }
    }

    fn ctx(env: &Env, mapping: &Mapping) -> Ctx {
        Ctx::with_mapping(env.db.clone(), env.provider.clone(), mapping)
    }

    fn world_actors(_cfg: &Config) -> Vec<ActorInfo> {
        vec![
            ActorInfo {
                name: crate::providers::midtrans::provider::ACTOR.into(),
                role: Role::Provider,
                crashable: false,
            },
            ActorInfo { name: actors::CUSTOMER.into(), role: Role::Client, crashable: false },
        ]
    }

    fn parts(cfg: &Arc<Config>, flaws: Flaws) -> Vec<Part<Env>> {
        let mut jobs = Part::job(actors::JOBS, move |env: Env| actors::jobs(env, flaws));
        if !flaws.has(Flaw::NoReconciliation) && cfg.orders > 0 {
            jobs =
                jobs.sometimes("reconciliation-repaired", "the reconciliation job repaired a PENDING payment to PAID");
        }
        let mut admin = actors::admin();
        if cfg.admin_sweep.is_some() && cfg.orders > 0 {
            admin =
                admin.sometimes("manual-sync-repaired", "the admin's manual sync repaired a PENDING payment to PAID");
        }
        vec![
            Part::app(app::ACTOR, app::reference(flaws, cfg.inline_retry_attempts, cfg.inline_retry_delay.0)),
            jobs,
            actors::checkout(cfg, Arc::new(actors::reference_insert)),
            admin,
            actors::forger(cfg),
        ]
    }

    fn invariants(_cfg: &Config, _flaws: Flaws) -> Vec<Invariant<Ctx>> {
        invariants::reference()
    }

    fn load_shapes() -> Vec<LoadShape<Config>> {
        vec![
            LoadShape {
                name: "slow-choosers",
                doc: "customers choose a method up to 20 min after the charge and pay up to 90 min late",
                apply: |c, _| {
                    c.provider.choose_method_delay = Range::new(Millis(0), Millis::min(20));
                    c.pay_delay = Range::new(Millis(500), Millis::min(90));
                },
            },
            LoadShape {
                name: "burst",
                doc: "every order within one minute",
                apply: |c, _| c.arrival = Range::new(Millis(0), Millis::min(1)),
            },
            LoadShape {
                name: "reversals",
                doc: "a third of bank transfers reversed to deny, a fifth of settlements refunded",
                apply: |c, _| {
                    c.methods = vec![PaymentType::BankTransfer, PaymentType::Echannel, PaymentType::Cstore];
                    c.provider.reversal = Rate(330_000);
                    c.provider.refund = Rate(200_000);
                },
            },
            LoadShape {
                name: "long-outage",
                doc: "a database outage of 150-240 min, longer than Midtrans's retries, with reversals",
                apply: |c, spec| {
                    spec.db.outages_max = spec.db.outages_max.max(1);
                    spec.db.outage_duration = Range::new(Millis::min(150), Millis::min(240));
                    spec.sim.safety = Millis(spec.sim.safety.0.max(Millis::h(5).0));
                    c.arrival = Range::new(Millis(0), Millis::h(5));
                    c.methods = vec![PaymentType::BankTransfer, PaymentType::Echannel, PaymentType::Cstore];
                    c.provider.reversal = Rate(200_000);
                    c.provider.refund = Rate(100_000);
                },
            },
        ]
    }

    fn world_marks(cfg: &Config, spec: &RunSpec) -> Vec<Sometimes> {
        let mut marks = Vec::new();
        // A swarm run set draws the load shapes: it must reach the edges they are for.
        if spec.swarm && cfg.orders > 0 {
            marks.push(Sometimes {
                mark: "provider:status-404".into(),
                doc: "a status query answered 404 (no payment method chosen yet)".into(),
            });
            marks.push(Sometimes {
                mark: "provider:notification-abandoned".into(),
                doc: "a notification outlived its retry budget".into(),
            });
        }
        if !cfg.provider.duplicate_notification.is_zero() {
            marks.push(Sometimes {
                mark: "fault:provider-duplicate".into(),
                doc: "the provider sent a notification twice".into(),
            });
        }
        // A reversal or refund whose notification outlives Midtrans's retries (an outage longer
        // than the 503 budget) is what re-verifying PAID payments is for: such a run set must
        // reach it, and the repair.
        if spec.db.outages_max > 0
            && spec.db.outage_duration.max.0 > retry_budget_503_ms(&cfg.provider)
            && (!cfg.provider.reversal.is_zero() || !cfg.provider.refund.is_zero())
            && cfg.orders > 0
        {
            marks.push(Sometimes {
                mark: "provider:notification-abandoned".into(),
                doc: "a notification outlived Midtrans's retry budget".into(),
            });
            marks.push(Sometimes {
                mark: "reconciliation-caught-reversal".into(),
                doc: "reconciliation found a PAID order reversed or refunded at Midtrans".into(),
            });
        }
        // Faults on the provider's own API (status API 5xx, 429, timeouts, stale reads).
        let api = cfg.provider.api.sometimes();
        marks.extend(api.into_iter().map(|(mark, doc)| Sometimes { mark: mark.into(), doc: doc.into() }));
        marks
    }

    fn observe_app(env: &Env, actor: &str, router: Router) -> Router {
        if actor != env.cfg.provider.notify_actor {
            return router;
        }
        observe::observe_arrivals(router, env, env.cfg.provider.notify_path.clone())
    }

    fn export(env: &Env) -> Option<String> {
        Some(export::from_truths(&env.provider.truths()))
    }

    fn audit() -> Option<&'static str> {
        Some(NAME)
    }
}

/// How long Midtrans keeps retrying a notification answered 503 (four retries: 2 + 10 + 30 +
/// 90 minutes by default, jitter aside): an outage longer than this loses it.
pub fn retry_budget_503_ms(p: &ProviderConfig) -> u64 {
    p.retry_intervals.iter().take(4).map(|m| m.0).sum()
}
