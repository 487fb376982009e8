//! Seed 001: Midtrans orders. A checkout creates a charge, then inserts `orders` and
//! `order_payments` after a delay; Midtrans's notification can arrive first. The reference
//! logic answers a retryable 503 while the row is missing, applies only legal forward
//! transitions in one unit, is idempotent under duplicates, logs every sync, reconciles PENDING
//! payments against the status API every 5 minutes, and offers the admin's manual sync.
//!
//! Flaws reintroduce the real bugs (see [`Flaw`]). The system uses only the public API
//! ([`crate::sim`], [`crate::store`], [`crate::check`], [`crate::providers::midtrans`]), so a
//! user's own webhook handler and invariants plug in the same way
//! ([`MidtransOrders::with_app`], [`MidtransOrders::with_invariant`]).
//!
//! What it does not model: refunds, orphaned charges (a checkout that dies between the charge
//! and the insert), several payments per order.

pub mod actors;
pub mod app;
pub mod invariants;
pub mod logic;
pub mod mapping;

use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::check::{self, Checker, Invariant, Sometimes};
use crate::providers::midtrans::status::PaymentType;
use crate::providers::midtrans::{Midtrans, ProviderConfig};
use crate::sim::{Millis, Oracle, Range, Rate, Sim};
use crate::store::{Db, Migration, SharedBackend};

pub use app::AppCtx;
pub use invariants::Ctx;

use super::{RunSpec, SeedReport, System, SystemError, fault_marks};

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
}

impl Flaw {
    pub const ALL: [Flaw; 7] = [
        Flaw::AckMissing,
        Flaw::InlineRetry,
        Flaw::NoReconciliation,
        Flaw::SplitUpdate,
        Flaw::SettlementOnly,
        Flaw::LateRegress,
        Flaw::DoubleFulfil,
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
        }
    }
}

impl super::FlawKind for Flaw {
    const ALL: &'static [Flaw] = &Flaw::ALL;
    fn name(self) -> &'static str {
        Flaw::name(self)
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
    /// The seed's monitor: PENDING for longer than this is stuck.
    pub stuck_after: Millis,
    /// The admin presses "Sync Payment Status" up to this many times per run.
    pub admin_clicks_max: u32,
    /// Forged notifications (wrong signature) posted to the webhook, up to this many per run.
    pub forged_notifications_max: u32,
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
            stuck_after: Millis::min(30),
            admin_clicks_max: 2,
            forged_notifications_max: 1,
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
        if self.provider.retry_intervals.len() > 32 {
            return Err("midtrans.provider.retry_intervals: at most 32 intervals".into());
        }
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

/// Builds the application router from its context.
pub type AppBuilder = Arc<dyn Fn(AppCtx) -> Router + Send + Sync>;
/// Builds one extra invariant per run.
pub type InvariantBuilder = Arc<dyn Fn() -> Invariant<Ctx> + Send + Sync>;
/// Receives the provider's ground truth at the end of each run (e.g. to write a provider export).
pub type TruthsHook = Arc<dyn Fn(Vec<crate::providers::midtrans::provider::Truth>) + Send + Sync>;

/// The Midtrans orders system, ready to run seeds.
#[derive(Clone)]
pub struct MidtransOrders {
    cfg: Arc<Config>,
    flaws: Flaws,
    app: AppBuilder,
    extra: Vec<InvariantBuilder>,
    truths: Option<TruthsHook>,
}

impl MidtransOrders {
    /// The reference system with `flaws` switched on.
    pub fn new(cfg: Config, flaws: Flaws) -> Self {
        MidtransOrders { cfg: Arc::new(cfg), flaws, app: Arc::new(app::reference_app), extra: Vec::new(), truths: None }
    }

    /// Replaces the reference app with your own router.
    pub fn with_app(mut self, app: impl Fn(AppCtx) -> Router + Send + Sync + 'static) -> Self {
        self.app = Arc::new(app);
        self
    }

    /// Adds an invariant of your own (built afresh for every run).
    pub fn with_invariant(mut self, inv: impl Fn() -> Invariant<Ctx> + Send + Sync + 'static) -> Self {
        self.extra.push(Arc::new(inv));
        self
    }

    /// Hands the provider's ground truth to `hook` when each run ends. It records nothing, so
    /// the trace is unchanged.
    pub fn with_truths_hook(mut self, hook: TruthsHook) -> Self {
        self.truths = Some(hook);
        self
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn flaws(&self) -> Flaws {
        self.flaws
    }
}

impl System for MidtransOrders {
    fn name(&self) -> &str {
        NAME
    }

    fn sometimes(&self, spec: &RunSpec) -> Vec<Sometimes> {
        let mut marks = fault_marks(spec);
        if !self.cfg.provider.duplicate_notification.is_zero() {
            marks.push(Sometimes {
                mark: "fault:provider-duplicate".into(),
                doc: "the provider sent a notification twice".into(),
            });
        }
        if self.cfg.insert_delay.max.0 > 0 && self.cfg.orders > 0 {
            marks.push(Sometimes {
                mark: "webhook-before-insert".into(),
                doc: "a notification arrived before the checkout inserted its row".into(),
            });
        }
        if self.cfg.forged_notifications_max > 0 && self.cfg.orders > 0 {
            marks.push(Sometimes {
                mark: "forged-notification-rejected".into(),
                doc: "a notification with a bad signature was refused".into(),
            });
        }
        if !self.flaws.has(Flaw::NoReconciliation) && self.cfg.orders > 0 {
            marks.push(Sometimes {
                mark: "reconciliation-repaired".into(),
                doc: "the reconciliation job repaired a PENDING payment to PAID".into(),
            });
        }
        marks
    }

    fn run(&self, spec: &RunSpec, oracle: Oracle, backend: SharedBackend) -> Result<SeedReport, SystemError> {
        crate::sim::world::lock(&backend).reset(NAME, MIGRATIONS).map_err(|e| SystemError::Database(e.to_string()))?;
        let me = self.clone();
        let db_cfg = spec.db.clone();
        let out = Sim::run(spec.sim.clone(), oracle, move |sim| async move {
            let provider = Midtrans::start(&sim, me.cfg.provider.clone());
            let db = Db::new(&sim, backend, db_cfg);
            let ctx = Arc::new(Ctx::new(db.clone(), provider.clone()));
            let mut invariants = invariants::reference();
            invariants.extend(me.extra.iter().map(|b| b()));
            let checker = Arc::new(Checker::new(invariants));
            check::install(&sim, checker.clone(), ctx.clone());

            let app_ctx = AppCtx {
                sim: sim.clone(),
                db: db.clone(),
                server_key: me.cfg.provider.server_key.clone(),
                provider: crate::providers::midtrans::provider::ACTOR.to_string(),
                flaws: me.flaws,
                inline_retry_attempts: me.cfg.inline_retry_attempts,
                inline_retry_delay_ms: me.cfg.inline_retry_delay.0,
            };
            let inserted = app::Inserted::default();
            let notify_path = me.cfg.provider.notify_path.clone();
            sim.serve(app::ACTOR, app::observe_arrivals((me.app)(app_ctx), sim.clone(), inserted.clone(), notify_path));
            let (jdb, jcfg, jflaws, jkey) = (db.clone(), me.cfg.clone(), me.flaws, me.cfg.provider.server_key.clone());
            sim.start_actor(
                actors::JOBS,
                Arc::new(move |s: Sim| Box::pin(actors::jobs(s, jdb.clone(), jcfg.clone(), jflaws, jkey.clone()))),
            );
            actors::start_checkout(&sim, &db, &provider, &me.cfg, &inserted);
            actors::start_admin(&sim, &db, &me.cfg);
            actors::start_forger(&sim, &me.cfg);

            sim.run_phases().await;
            if !sim.is_stopped() {
                checker.check_eventually(&sim, &ctx);
            }
            if let Some(hook) = &me.truths {
                hook(provider.truths());
            }
            checker.violations()
        })
        .map_err(|e| SystemError::Runtime(e.to_string()))?;
        Ok(SeedReport::from_run(out))
    }
}

/// `settle list`: what this system offers.
pub fn describe() -> super::SystemInfo {
    super::SystemInfo {
        name: NAME,
        doc: "seed 001: Midtrans notifications racing the checkout's insert; reconciliation, admin sync",
        flaws: Flaw::ALL.iter().map(|f| (f.name(), f.doc())).collect(),
        invariants: invariants::CATALOG.to_vec(),
        actors: vec![
            (crate::providers::midtrans::provider::ACTOR, false),
            (app::ACTOR, true),
            (actors::JOBS, true),
            (actors::ADMIN, true),
            (actors::CHECKOUT, false),
            (actors::CUSTOMER, false),
            (actors::FORGER, false),
        ],
    }
}
