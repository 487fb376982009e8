//! Seed 002: revenue synced from Fanvue's earnings ledger. The owner saw $5,093 on the dashboard
//! where $13,000+ had been earned, and could only guess why.
//!
//! The seed's system: `models` (creators) with `revenue_total` and the `last_transaction_sync`
//! cursor; `fanvue_transactions`, unique on Fanvue's id; `syncModelTransactions`, which pages
//! through `GET /insights/earnings` from the cursor; `updateModelStats`, which recomputes
//! `revenue_total`; the revenue heartbeat cron every 10 minutes over all models; the force-sync
//! endpoint; the dashboard's total across models.
//!
//! The reference logic ([`sync`]) stores each page's rows, moves the cursor and recomputes
//! `revenue_total` in one unit of work; honours `Retry-After`; leaves the cursor a lookback
//! window behind what it read, so that rows that became visible late are read again (and
//! deduplicated); and the dashboard shows the live sum, zero included. Flaws ([`Flaw`]) switch
//! parts back to the bugs the seed's owner guessed at.
//!
//! What it does not model: OAuth token refresh, creators connecting or disconnecting during a
//! run, the seed's per-transaction detail pages, currencies other than USD.

pub mod actors;
pub mod app;
pub mod config;
pub mod invariants;
pub mod sync;
pub mod units;

use std::sync::Arc;

use crate::check::{self, Checker, Sometimes};
use crate::providers::fanvue::{self, Fanvue};
use crate::sim::world::lock;
use crate::sim::{Millis, Oracle, Sim};
use crate::store::{Db, Migration, SharedBackend};

pub use config::Config;
pub use invariants::Ctx;

use super::{RunSpec, SeedReport, System, SystemError, fault_marks};

/// The system's name in scenario files.
pub const NAME: &str = "fanvue-revenue";

/// The tables, then the unique index on Fanvue's id (left out by the `no-unique` flaw).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "20260204000000_revenue",
        sqlite: include_str!("migrations/20260204000000_revenue.sqlite.sql"),
        postgres: include_str!("migrations/20260204000000_revenue.postgres.sql"),
        mysql: include_str!("migrations/20260204000000_revenue.mysql.sql"),
    },
    Migration::portable(
        "20260204000001_unique_fanvue_id",
        include_str!("migrations/20260204000001_unique_fanvue_id.sql"),
    ),
];

/// A switch that reintroduces a known bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flaw {
    /// The cursor advances in its own unit, before the page's rows are stored.
    CursorBeforeCommit,
    /// A 429 ends the sync as if the list had ended: the cursor moves to the window's end.
    StopOn429,
    /// No unique constraint on Fanvue's id, so the insert's dedupe does nothing.
    NoUnique,
    /// The cursor moves to the newest row read, with no lookback window.
    NoLookback,
    /// `revenue_total` = a sum read before the sync began + what this sync inserted.
    StaleStats,
    /// The seed's `liveTotalRevenue > 0 ? live : overview` on the dashboard.
    DashboardFallback,
}

impl Flaw {
    pub const ALL: [Flaw; 6] = [
        Flaw::CursorBeforeCommit,
        Flaw::StopOn429,
        Flaw::NoUnique,
        Flaw::NoLookback,
        Flaw::StaleStats,
        Flaw::DashboardFallback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::CursorBeforeCommit => "cursor-before-commit",
            Flaw::StopOn429 => "stop-on-429",
            Flaw::NoUnique => "no-unique",
            Flaw::NoLookback => "no-lookback",
            Flaw::StaleStats => "stale-stats",
            Flaw::DashboardFallback => "dashboard-fallback",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Flaw::CursorBeforeCommit => {
                "the cursor advances before the page's rows are stored; a failure between loses the page"
            }
            Flaw::StopOn429 => "a 429 ends the sync, which keeps the cursor it had advanced to the window's end",
            Flaw::NoUnique => "no unique constraint on Fanvue's id: a re-read inserts duplicates and inflates revenue",
            Flaw::NoLookback => "no lookback window: rows that became visible late, behind the cursor, are never read",
            Flaw::StaleStats => "revenue_total from a sum read before later inserts (separate units): a lost update",
            Flaw::DashboardFallback => {
                "the seed's `live > 0 ? live : overview`: a real 0 shows the stale overview figure"
            }
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

/// One connected creator, as the app knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: i64,
    pub name: String,
    /// Fanvue's creator uuid.
    pub creator: String,
    pub token: String,
}

/// The creators of a run: deterministic names, uuids and tokens.
pub fn models(cfg: &Config) -> Vec<ModelInfo> {
    const NAMES: [&str; 8] = ["lanaa", "bella", "cleo", "dara", "elle", "fay", "gia", "hana"];
    (1..=i64::from(cfg.creators))
        .map(|id| {
            let name = NAMES.get(id as usize - 1).map_or_else(|| format!("model-{id}"), |n| n.to_string());
            ModelInfo {
                id,
                creator: format!("{:08x}-0c4e-4a70-9000-{:012x}", 0xc0ff_ee00_u64 + id as u64, id),
                token: format!("fv-{name}-token"),
                name,
            }
        })
        .collect()
}

/// A wall instant as timelines show time: simulated `hh:mm:ss.mmm` since the run began, or ISO
/// 8601 for instants before it (a ledger's history).
pub fn show_instant(sim: &Sim, wall_ms: i64) -> String {
    let epoch = i64::try_from(sim.config().epoch_ms).unwrap_or(0);
    match u64::try_from(wall_ms - epoch) {
        Ok(t) => crate::sim::fmt_ms(t),
        Err(_) => fanvue::wire::format_instant(wall_ms),
    }
}

/// The owner's last dashboard figure: (simulated time it was loaded, total in cents).
pub type Displayed = Arc<std::sync::Mutex<Option<(u64, i64)>>>;

/// The Fanvue revenue system, ready to run seeds.
#[derive(Clone)]
pub struct FanvueRevenue {
    cfg: Arc<Config>,
    flaws: Flaws,
}

impl FanvueRevenue {
    /// The reference system with `flaws` switched on.
    pub fn new(cfg: Config, flaws: Flaws) -> Self {
        FanvueRevenue { cfg: Arc::new(cfg), flaws }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn flaws(&self) -> Flaws {
        self.flaws
    }

    fn migration_set(&self) -> (&'static str, &'static [Migration]) {
        if self.flaws.has(Flaw::NoUnique) { ("fanvue-revenue/no-unique", &MIGRATIONS[..1]) } else { (NAME, MIGRATIONS) }
    }
}

impl System for FanvueRevenue {
    fn name(&self) -> &str {
        NAME
    }

    fn sometimes(&self, spec: &RunSpec) -> Vec<Sometimes> {
        let mut marks = fault_marks(spec);
        let c = &self.cfg;
        let mut add = |on: bool, mark: &str, doc: &str| {
            if on {
                marks.push(Sometimes { mark: mark.into(), doc: doc.into() });
            }
        };
        let sales = c.sales_max > 0;
        add(true, "provider:rate-limited", "a request got 429 (lower provider.rate_limit if this is never reached)");
        add(!c.provider.server_error.is_zero(), "fault:provider-5xx", "the provider answered a 5xx");
        add(sales && !c.provider.lag.is_zero(), "provider:lag-hid-row", "visibility lag hid a row from a page");
        add(
            sales && !c.provider.lag.is_zero() && !self.flaws.has(Flaw::NoLookback),
            "lookback-caught-late-row",
            "re-reading the lookback window stored a row the earlier read had not seen",
        );
        add(
            sales && !(c.refund.is_zero() && c.chargeback.is_zero()),
            "refund-synced",
            "a refund or chargeback row was stored",
        );
        add(c.force_syncs_max > 0, "force-sync-ran", "the force-sync endpoint reset a cursor and re-synced");
        add(c.force_syncs_max > 0, "syncs-overlapped", "two syncs of the same model ran at once");
        marks
    }

    fn run(&self, spec: &RunSpec, oracle: Oracle, backend: SharedBackend) -> Result<SeedReport, SystemError> {
        let (set, migrations) = self.migration_set();
        let models = Arc::new(models(&self.cfg));
        {
            let mut b = lock(&backend);
            b.reset(set, migrations).map_err(|e| SystemError::Database(e.to_string()))?;
            let now = i64::try_from(spec.sim.epoch_ms).unwrap_or(i64::MAX);
            crate::store::transaction(b.as_mut(), |tx| units::insert_models(tx, &models, now))
                .map_err(|e| SystemError::Database(e.to_string()))?;
        }
        let me = self.clone();
        let db_cfg = spec.db.clone();
        let out = Sim::run(spec.sim.clone(), oracle, move |sim| async move {
            let provider = Fanvue::start(&sim, me.cfg.provider.clone());
            for m in models.iter() {
                provider.add_creator(&m.creator, &m.name, &m.token);
            }
            let db = Db::new(&sim, backend, db_cfg);
            let displayed = Displayed::default();
            let end_ms = sim.config().safety.0 + sim.config().liveness.0;
            // The owner's last look, which `dashboard-matches-provider` judges: a minute before
            // the end (half the liveness phase if that is shorter), after the syncs converged.
            let final_load_ms = end_ms.saturating_sub(Millis::min(1).0.min(sim.config().liveness.0 / 2));
            let ctx = Arc::new(Ctx::new(
                db.clone(),
                provider.clone(),
                models.clone(),
                me.cfg.grace.0,
                displayed.clone(),
                final_load_ms,
            ));
            let checker = Arc::new(Checker::new(invariants::reference()));
            check::install(&sim, checker.clone(), ctx.clone());

            let env = sync::SyncEnv::new(&sim, &db, &me.cfg, me.flaws);
            sim.serve(app::ACTOR, app::router(env.clone(), models.clone()));
            let (jenv, jmodels) = (env.clone(), models.clone());
            sim.start_actor(
                actors::JOBS,
                Arc::new(move |s: Sim| Box::pin(actors::heartbeat(s, jenv.clone(), jmodels.clone()))),
            );
            actors::start_fans(&sim, &provider, &me.cfg, &models);
            actors::start_owner(&sim, &me.cfg, &models, &displayed, final_load_ms);

            sim.run_phases().await;
            if !sim.is_stopped() {
                checker.check_eventually(&sim, &ctx);
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
        doc: "seed 002: Fanvue revenue sync — cursor pagination, 429s, late rows, force-sync, the dashboard total",
        flaws: Flaw::ALL.iter().map(|f| (f.name(), f.doc())).collect(),
        invariants: invariants::CATALOG.to_vec(),
        actors: vec![
            (fanvue::ACTOR, false),
            (app::ACTOR, true),
            (actors::JOBS, true),
            (actors::OWNER, true),
            (actors::FANS, false),
        ],
    }
}
