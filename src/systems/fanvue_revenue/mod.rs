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
//! The system is a [`Family`] run by the generic harness. A user replaces its sync everywhere it
//! runs with [`FanvueRevenue::with_sync`], and its app, cron or owner like any other part.
//!
//! What it does not model: OAuth token refresh, creators connecting or disconnecting during a
//! run, the seed's per-transaction detail pages, currencies other than USD.

pub mod actors;
pub mod app;
pub mod config;
pub mod invariants;
pub mod start;
pub mod sync;
pub mod tally;
pub mod units;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::check::{Invariant, Sometimes};
use crate::providers::fanvue::{self, Fanvue};
use crate::sim::world::lock;
use crate::sim::{Millis, Range, Rate, Sim};
use crate::store::{Db, Migration, SqlError, Tx};

pub use config::Config;
pub use invariants::Ctx;

use super::swarm::LoadShape;
use super::{ActorInfo, Family, Harness, Part, Role, RunSpec};

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
    /// A 429 is retried at once instead of after `Retry-After`.
    IgnoreRetryAfter,
    /// An earnings request that fails (5xx, timeout, refused) is not retried.
    No5xxRetry,
    /// The force-sync endpoint re-syncs from the cursor instead of resetting it first: rows an
    /// older sync left behind the cursor stay unread.
    ForceSyncNoReset,
}

impl Flaw {
    pub const ALL: [Flaw; 9] = [
        Flaw::CursorBeforeCommit,
        Flaw::StopOn429,
        Flaw::NoUnique,
        Flaw::NoLookback,
        Flaw::StaleStats,
        Flaw::DashboardFallback,
        Flaw::IgnoreRetryAfter,
        Flaw::No5xxRetry,
        Flaw::ForceSyncNoReset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flaw::CursorBeforeCommit => "cursor-before-commit",
            Flaw::StopOn429 => "stop-on-429",
            Flaw::NoUnique => "no-unique",
            Flaw::NoLookback => "no-lookback",
            Flaw::StaleStats => "stale-stats",
            Flaw::DashboardFallback => "dashboard-fallback",
            Flaw::IgnoreRetryAfter => "ignore-retry-after",
            Flaw::No5xxRetry => "no-5xx-retry",
            Flaw::ForceSyncNoReset => "force-sync-no-reset",
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
            Flaw::IgnoreRetryAfter => {
                "a 429 is retried at once, not after Retry-After: the bucket never refills and the sync gives up"
            }
            Flaw::No5xxRetry => "an earnings request that fails (5xx, timeout, refused) ends the sync: no retries",
            Flaw::ForceSyncNoReset => {
                "force-sync re-syncs from the cursor without resetting it: rows left behind it stay unread"
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

/// A sync of one model: `(env, actor, model)` → how it ended. The heartbeat and the force-sync
/// endpoint both run the system's sync, so replacing it ([`FanvueRevenue::with_sync`]) replaces
/// it everywhere.
pub type SyncFn = Arc<dyn Fn(Env, String, ModelInfo) -> SyncFuture + Send + Sync>;
/// What a sync returns.
pub type SyncFuture = Pin<Box<dyn Future<Output = sync::Outcome> + Send>>;

/// The shared logic of the system: its sync, and the marks that sync promises.
#[derive(Clone)]
pub struct Ext {
    sync: SyncFn,
    marks: Vec<Sometimes>,
}

/// What every part of a run works with. A user's app and actors get exactly this, as the
/// reference ones do.
#[derive(Clone)]
pub struct Env {
    pub sim: Sim,
    pub db: Db,
    pub provider: Fanvue,
    pub cfg: Arc<Config>,
    /// The connected creators (rows of `models`).
    pub models: Arc<Vec<ModelInfo>>,
    /// The owner's last dashboard figure (what `dashboard-matches-provider` judges).
    pub displayed: Displayed,
    /// When the owner loads the dashboard for the last time.
    pub final_load_ms: u64,
    /// The rows a damaged start left unstored behind each cursor (see [`start`]).
    pub inherited: start::Inherited,
    sync: SyncFn,
    /// Syncs under way per model, across every caller. It decides nothing: it only feeds the
    /// `syncs-overlapped` mark.
    running: Arc<Mutex<BTreeMap<i64, u32>>>,
}

/// Counts a sync as running for as long as it is alive (a crash drops it too).
struct Running {
    map: Arc<Mutex<BTreeMap<i64, u32>>>,
    model: i64,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut m = lock(&self.map);
        if let Some(n) = m.get_mut(&self.model) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Env {
    /// Syncs `model` with the system's sync (the reference one, or yours), on behalf of `actor`.
    pub async fn sync(&self, actor: &str, model: &ModelInfo) -> sync::Outcome {
        let _running = {
            let mut m = lock(&self.running);
            let n = m.entry(model.id).or_default();
            if *n > 0 {
                self.sim.mark("syncs-overlapped");
            }
            *n += 1;
            Running { map: self.running.clone(), model: model.id }
        };
        (self.sync)(self.clone(), actor.to_string(), model.clone()).await
    }

    /// A wall instant as the timeline shows time: simulated `hh:mm:ss.mmm`, or ISO before the run.
    pub fn at(&self, wall_ms: i64) -> String {
        show_instant(&self.sim, wall_ms)
    }
}

/// The Fanvue revenue family (seed 002): see the module documentation.
pub struct Revenue;

/// The Fanvue revenue system: the reference design, or a user's variation of it.
pub type FanvueRevenue = Harness<Revenue>;

impl FanvueRevenue {
    /// Replaces the system's sync — everywhere it runs: the heartbeat cron and the force-sync
    /// endpoint. The reference sync's marks go with it.
    pub fn with_sync<F, Fut>(self, sync: F) -> Self
    where
        F: Fn(Env, String, ModelInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = sync::Outcome> + Send + 'static,
    {
        let sync: SyncFn = Arc::new(move |env, actor, model| Box::pin(sync(env, actor, model)) as SyncFuture);
        self.with_ext(|ext| *ext = Ext { sync, marks: Vec::new() })
    }
}

impl Family for Revenue {
    type Config = Config;
    type Flaw = Flaw;
    type Env = Env;
    type Ctx = Ctx;
    type Mapping = ();
    type Ext = Ext;

    const NAME: &'static str = NAME;
    const TABLE: &'static str = "fanvue";
    const DOC: &'static str =
        "seed 002: Fanvue revenue sync — cursor pagination, 429s, late rows, force-sync, the dashboard total";

    fn validate(cfg: &Config) -> Result<(), String> {
        cfg.validate()
    }

    fn migrations(_cfg: &Config, flaws: Flaws) -> Vec<Migration> {
        // `no-unique` leaves out the unique index on Fanvue's id.
        if flaws.has(Flaw::NoUnique) { MIGRATIONS[..1].to_vec() } else { MIGRATIONS.to_vec() }
    }

    fn seed_rows(cfg: &Config, tx: &mut Tx, epoch_ms: u64) -> Result<(), SqlError> {
        units::insert_models(tx, &models(cfg), i64::try_from(epoch_ms).unwrap_or(i64::MAX))
    }

    fn ext(cfg: &Arc<Config>, flaws: Flaws) -> Ext {
        let sales = cfg.sales_max > 0;
        let mut marks = Vec::new();
        if sales && !cfg.provider.lag.is_zero() && !flaws.has(Flaw::NoLookback) {
            marks.push(Sometimes {
                mark: "lookback-caught-late-row".into(),
                doc: "re-reading the lookback window stored a row the earlier read had not seen".into(),
            });
        }
        if sales && !(cfg.refund.is_zero() && cfg.chargeback.is_zero()) {
            marks.push(Sometimes { mark: "refund-synced".into(), doc: "a refund or chargeback row was stored".into() });
        }
        Ext { sync: sync::reference(flaws), marks }
    }

    fn env(sim: &Sim, db: &Db, cfg: &Arc<Config>, ext: &Ext) -> Env {
        let provider = Fanvue::start(sim, cfg.provider.clone());
        let models = Arc::new(models(cfg));
        for m in models.iter() {
            provider.add_creator(&m.creator, &m.name, &m.token);
        }
        let end_ms = sim.config().safety.0 + sim.config().liveness.0;
        // The owner's last look, which `dashboard-matches-provider` judges: a minute before the
        // end (half the liveness phase if that is shorter), after the syncs converged.
        let final_load_ms = end_ms.saturating_sub(Millis::min(1).0.min(sim.config().liveness.0 / 2));
        Env {
            sim: sim.clone(),
            db: db.clone(),
            provider,
            cfg: cfg.clone(),
            models,
            displayed: Displayed::default(),
            final_load_ms,
            inherited: start::Inherited::default(),
            sync: ext.sync.clone(),
            running: Arc::default(),
        }
    }

    fn ctx(env: &Env, _mapping: &()) -> Ctx {
        Ctx::new(
            env.db.clone(),
            env.provider.clone(),
            env.models.clone(),
            env.cfg.grace.0,
            env.displayed.clone(),
            env.final_load_ms,
        )
        .with_inherited(env.inherited.clone())
    }

    fn world_actors(_cfg: &Config) -> Vec<ActorInfo> {
        vec![ActorInfo { name: fanvue::ACTOR.into(), role: Role::Provider, crashable: false }]
    }

    fn parts(cfg: &Arc<Config>, flaws: Flaws) -> Vec<Part<Env>> {
        let mut app = Part::app(app::ACTOR, app::reference(flaws));
        if cfg.force_syncs_max > 0 {
            app = app.sometimes("force-sync-ran", "the force-sync endpoint reset a cursor and re-synced");
        }
        vec![
            app,
            Part::job(actors::JOBS, actors::heartbeat),
            Part::once(actors::FANS, Role::Client, actors::start_fans),
            Part::once(actors::OWNER, Role::Client, actors::start_owner).crashable(true),
        ]
    }

    fn invariants(_cfg: &Config, _flaws: Flaws) -> Vec<Invariant<Ctx>> {
        invariants::reference()
    }

    fn load_shapes() -> Vec<LoadShape<Config>> {
        vec![
            LoadShape {
                name: "batch-import",
                doc: "each creator's history imported in one millisecond: rows share a timestamp",
                apply: |c, _| {
                    c.history_span = Millis(1);
                    c.history_rows_max = c.history_rows_max.max(2 * c.page_size);
                },
            },
            LoadShape {
                name: "low-rate-limit",
                doc: "3 requests per minute per creator: 429s on every sync",
                apply: |c, _| c.provider.rate_limit = 3,
            },
            LoadShape {
                name: "many-refunds",
                doc: "two fifths of sales refunded and a tenth charged back",
                apply: |c, _| {
                    c.refund = Rate(400_000);
                    c.chargeback = Rate(100_000);
                },
            },
            LoadShape {
                name: "burst",
                doc: "every sale within one minute",
                apply: |c, _| c.arrival = Range::new(Millis(0), Millis::min(1)),
            },
            LoadShape {
                name: "hour-long-outage",
                doc: "a database outage of 60-90 min",
                apply: |_, spec| {
                    spec.db.outages_max = spec.db.outages_max.max(1);
                    spec.db.outage_duration = Range::new(Millis::min(60), Millis::min(90));
                },
            },
        ]
    }

    fn world_marks(cfg: &Config, spec: &RunSpec) -> Vec<Sometimes> {
        let mut marks = Vec::new();
        let mut add = |on: bool, mark: &str, doc: &str| {
            if on {
                marks.push(Sometimes { mark: mark.into(), doc: doc.into() });
            }
        };
        // A swarm run set draws the load shapes: it must reach the edge the batch import is for.
        add(spec.swarm, "fanvue:rows-share-timestamp", "two rows of one ledger shared a timestamp");
        let sales = cfg.sales_max > 0;
        add(true, "provider:rate-limited", "a request got 429 (lower provider.rate_limit if this is never reached)");
        add(!cfg.provider.server_error.is_zero(), "fault:provider-5xx", "the provider answered a 5xx");
        add(sales && !cfg.provider.lag.is_zero(), "provider:lag-hid-row", "visibility lag hid a row from a page");
        add(cfg.force_syncs_max > 0, "syncs-overlapped", "two syncs of the same model ran at once");
        marks
    }

    fn ext_marks(_cfg: &Config, ext: &Ext) -> Vec<Sometimes> {
        ext.marks.clone()
    }

    fn audit() -> Option<&'static str> {
        Some(NAME)
    }
}
