//! Database access in units of work.
//!
//! Application code talks to the database in *units of work*: each unit is one transaction that
//! runs atomically at one simulated instant, with nothing awaited on the simulation in between.
//! The simulator adds latency before and after a unit, and can fail it: an outage window (the
//! unit never runs), a slow commit, or a commit whose answer is lost (the unit ran, the caller is
//! told it failed). Races therefore happen between units, exactly where they happen in real code
//! written as separate statements.
//!
//! Backends implement [`Backend`]: [`sqlite::Sqlite`] (rusqlite, embedded, the default) and
//! [`sqlx_bridge`] (sqlx on its own runtime thread; Postgres, MySQL/MariaDB, SQLite); SQLite's
//! row-at-a-time reader for `settle audit` steps its statement through the C API
//! (`sqlite_each`). SQL is
//! written once with `?` placeholders; backends that need another style rewrite it.
//!
//! What it does not do: it does not simulate isolation anomalies *inside* a unit (units are
//! serial), and it never lets simulated time pass while a transaction is open.

pub mod recording;
pub mod sqlite;
mod sqlite_each;
mod sqlite_stmt;
pub mod sqlx_bridge;
mod value;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::sim::tape::{self, Direct, UnitEntry, UnitFate};
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, Range, Rate, Sim, Step};

pub use value::{Cell, Row, RowView, Value};

/// An error from the database itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("could not decode a value: {0}")]
    Decode(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

impl SqlError {
    /// The error's class, worded the same on every backend: traces must not depend on which
    /// driver phrased a constraint violation.
    pub fn class(&self) -> &'static str {
        match self {
            SqlError::Constraint(_) => "constraint violated",
            SqlError::Decode(_) => "could not decode a value",
            SqlError::Connect(_) => "cannot connect to the database",
            SqlError::Other(_) => "database error",
        }
    }
}

/// Why a unit of work did not succeed, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database was unreachable (an outage window); nothing ran.
    #[error("database unavailable")]
    Unavailable,
    /// The unit committed but its answer was lost: the caller cannot know it succeeded.
    #[error("connection lost after commit")]
    AnswerLost,
    /// The unit ran and was rolled back with this error.
    #[error(transparent)]
    Sql(#[from] SqlError),
}

/// Which dialect a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Sqlite,
    Postgres,
    Mysql,
}

/// One schema migration: a timestamped version and its SQL, per backend where dialects differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    pub version: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
    pub mysql: &'static str,
}

impl Migration {
    /// The same SQL for every backend.
    pub const fn portable(version: &'static str, sql: &'static str) -> Self {
        Migration { version, sqlite: sql, postgres: sql, mysql: sql }
    }

    pub fn sql_for(&self, kind: BackendKind) -> &'static str {
        match kind {
            BackendKind::Sqlite => self.sqlite,
            BackendKind::Postgres => self.postgres,
            BackendKind::Mysql => self.mysql,
        }
    }
}

/// A database connection the simulation drives synchronously.
pub trait Backend: Send {
    fn kind(&self) -> BackendKind;
    fn begin(&mut self) -> Result<(), SqlError>;
    fn commit(&mut self) -> Result<(), SqlError>;
    fn rollback(&mut self) -> Result<(), SqlError>;
    /// Runs a statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;
    /// Runs a query and hands its rows to `each` one at a time, in place, until `each` returns
    /// `false`; returns how many rows it handed over. The default runs [`Backend::query`];
    /// SQLite reads each row from its own buffers, building nothing (`settle audit`'s walk).
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> bool,
    ) -> Result<usize, SqlError> {
        let rows = self.query(sql, params)?;
        let mut n = 0;
        for row in &rows {
            n += 1;
            if !each(row) {
                break;
            }
        }
        Ok(n)
    }
    /// Gives the next run a clean database with `migrations` applied. `set` names the migration
    /// set, so a backend that already has it can just empty the tables.
    fn reset(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError>;
    /// A unit of work starts ([`transaction`]): for wrappers that observe units, such as
    /// [`recording::Recording`]; the checker's reads ([`Db::read`]) are not units.
    fn unit_started(&mut self) {}
    /// The unit that started last has ended (committed, rolled back or failed).
    fn unit_ended(&mut self) {}
    /// The rows (table, rowid) changed since the last call, or `None` when this backend cannot
    /// say exactly: it does not track changes (the default), this is the first call (which
    /// starts tracking), or a change slipped past its tracking since. A checker that keeps a
    /// snapshot re-reads only these rows, and everything on `None`. A row may be listed that
    /// did not change in the end (a rolled-back unit's); a changed row is never left out.
    fn take_changed_rows(&mut self) -> Option<Vec<(String, i64)>> {
        None
    }
    /// Whether [`Backend::take_changed_rows`] can list changed rows at all (from its second
    /// call on): a checker that cannot be told chooses its own narrow reads instead.
    fn tracks_changes(&self) -> bool {
        false
    }
}

/// The tables of the database a backend holds, each with its columns in order, sorted by table
/// name: what a run left behind, read the same way on every backend (exploration digests it).
pub fn tables(backend: &mut dyn Backend) -> Result<Vec<(String, Vec<String>)>, SqlError> {
    let columns_sql = match backend.kind() {
        BackendKind::Sqlite => {
            let names = backend.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                &[],
            )?;
            let mut out = Vec::new();
            for n in names {
                let table = n.text(0)?;
                let cols =
                    backend.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", &[Value::from(&table)])?;
                out.push((table, cols.iter().map(|c| c.text(0)).collect::<Result<_, _>>()?));
            }
            return Ok(out);
        }
        BackendKind::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        }
        BackendKind::Mysql => {
            "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
        }
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in backend.query(columns_sql, &[])? {
        let (table, column) = (r.text(0)?, r.text(1)?);
        match out.last_mut() {
            Some((t, cols)) if *t == table => cols.push(column),
            _ => out.push((table, vec![column])),
        }
    }
    Ok(out)
}

/// `name` quoted as an identifier in `kind`'s dialect.
pub fn quote_ident(kind: BackendKind, name: &str) -> String {
    match kind {
        BackendKind::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A backend shared between the runner (which resets it per seed) and the run's [`Db`].
pub type SharedBackend = Arc<Mutex<Box<dyn Backend>>>;

pub fn shared(backend: impl Backend + 'static) -> SharedBackend {
    Arc::new(Mutex::new(Box::new(backend)))
}

/// Connects to a database URL through sqlx (`sqlite:`, `postgres://`, `mysql://`).
pub fn connect_url(url: &str) -> Result<SharedBackend, SqlError> {
    sqlx_bridge::SqlxBackend::connect(url).map(shared)
}

/// The open transaction of a unit of work. The transaction begins at the unit's first write: a
/// unit that only reads runs its statements without `BEGIN`/`COMMIT`, which is as consistent
/// here, because the simulation is single-threaded on one connection (nothing can commit
/// between two statements of a unit), and saves two round trips per reading unit.
pub struct Tx<'a> {
    backend: &'a mut dyn Backend,
    changed: u64,
    begun: bool,
}

impl Tx<'_> {
    /// Runs a statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        if !self.begun {
            self.backend.begin()?;
            self.begun = true;
        }
        let n = self.backend.execute(sql, params)?;
        self.changed += n;
        Ok(n)
    }

    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.backend.query(sql, params)
    }

    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, SqlError> {
        Ok(self.backend.query(sql, params)?.into_iter().next())
    }

    /// A single integer (e.g. a COUNT).
    pub fn query_int(&mut self, sql: &str, params: &[Value]) -> Result<i64, SqlError> {
        match self.query_opt(sql, params)? {
            Some(row) => row.int(0),
            None => Err(SqlError::Decode("expected one row, found none".into())),
        }
    }

    pub fn kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// Rows changed so far in this unit.
    pub fn changed(&self) -> u64 {
        self.changed
    }
}

/// Runs `f` in one transaction on `backend`: commit on `Ok`, roll back on `Err` (the
/// transaction begins at `f`'s first write; see [`Tx`]).
pub fn transaction<T>(
    backend: &mut dyn Backend,
    f: impl FnOnce(&mut Tx) -> Result<T, SqlError>,
) -> Result<(T, u64), SqlError> {
    backend.unit_started();
    let mut tx = Tx { backend, changed: 0, begun: false };
    let result = f(&mut tx);
    let (changed, begun) = (tx.changed, tx.begun);
    let result = match result {
        Ok(v) if begun => backend.commit().map(|()| (v, changed)),
        Ok(v) => Ok((v, changed)),
        Err(e) => {
            // The unit's own error is what matters; a failed rollback adds nothing useful.
            if begun {
                let _ = backend.rollback();
            }
            Err(e)
        }
    };
    backend.unit_ended();
    result
}

/// Database faults and latency, as scenario files write them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    /// Latency before a unit runs and again after it commits.
    #[serde(default = "default_db_latency")]
    pub latency: Range,
    /// Up to this many outage windows per run.
    #[serde(default)]
    pub outages_max: u32,
    #[serde(default = "default_outage")]
    pub outage_duration: Range,
    #[serde(default)]
    pub slow_commit: Rate,
    #[serde(default = "default_slow_commit_delay")]
    pub slow_commit_delay: Range,
    /// A committed unit whose answer is lost on the way back.
    #[serde(default)]
    pub lost_answer: Rate,
}

fn default_db_latency() -> Range {
    Range::new(Millis(1), Millis(20))
}

fn default_outage() -> Range {
    Range::new(Millis::s(5), Millis::min(5))
}

fn default_slow_commit_delay() -> Range {
    Range::new(Millis(500), Millis::s(10))
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            latency: default_db_latency(),
            outages_max: 0,
            outage_duration: default_outage(),
            slow_commit: Rate::ZERO,
            slow_commit_delay: default_slow_commit_delay(),
            lost_answer: Rate::ZERO,
        }
    }
}

struct DbInner {
    backend: SharedBackend,
    sim: Sim,
    cfg: DbConfig,
    outages: Vec<(u64, u64)>,
    /// How many units (and `given` setups) changed rows.
    writes: Mutex<u64>,
}

/// The simulated database: units of work with latency and faults.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

impl Db {
    /// Wraps `backend` for one run and draws the run's outage windows.
    pub fn new(sim: &Sim, backend: SharedBackend, cfg: DbConfig) -> Db {
        let safety = sim.config().safety.0;
        let outages = sim.choose_world(|o| {
            let n = o.below(u64::from(cfg.outages_max) + 1);
            let mut w: Vec<(u64, u64)> = (0..n)
                .map(|_| {
                    let from = o.below(safety.max(1));
                    (from, from + cfg.outage_duration.draw(o))
                })
                .collect();
            w.sort();
            w
        });
        for (from, until) in &outages {
            sim.record(Kind::Run, "sim", None, || {
                format!("plan: database outage from {} to {}", crate::sim::fmt_ms(*from), crate::sim::fmt_ms(*until))
            });
        }
        Db { inner: Arc::new(DbInner { backend, sim: sim.clone(), cfg, outages, writes: Mutex::default() }) }
    }

    fn in_outage(&self, now: u64) -> bool {
        self.inner.sim.faults_active() && self.inner.outages.iter().any(|&(a, b)| a <= now && now < b)
    }

    pub fn kind(&self) -> BackendKind {
        lock(&self.inner.backend).kind()
    }

    /// Runs `f` as one unit of work on behalf of `actor`. `name` and `key` label it in the
    /// trace. `key` also tells the checker which entity the unit may write: a unit that writes
    /// rows of several entities must pass an empty key, so that everything is re-checked.
    pub async fn unit<T>(
        &self,
        actor: &str,
        name: &str,
        key: &str,
        f: impl FnOnce(&mut Tx) -> Result<T, SqlError>,
    ) -> Result<T, DbError> {
        let sim = &self.inner.sim;
        if let Some(direct) = sim.direct_mode() {
            return self.unit_direct(direct, f).await;
        }
        let cfg = &self.inner.cfg;
        let faults = sim.faults_active();
        let what = || if key.is_empty() { name.to_string() } else { format!("{name} {key}") };
        let (before, after, slow, lost) = sim.choose_world(|o| {
            let before = cfg.latency.draw(o);
            let after = cfg.latency.draw(o);
            let slow = if faults && o.chance(cfg.slow_commit.ppm()) { cfg.slow_commit_delay.draw(o) } else { 0 };
            let lost = faults && o.chance(cfg.lost_answer.ppm());
            (before, after, slow, lost)
        });
        sim.sleep_ms(before).await;
        let outage = self.in_outage(sim.now_ms());
        let tapped = sim.tap().map(|tap| {
            let at_ms = sim.now_ms();
            let fate = if outage { UnitFate::Outage } else { UnitFate::Ran { lost } };
            (tap, tap.unit(UnitEntry { delivery: tape::current_delivery(), at_ms, end_ms: at_ms, fate }))
        });
        if outage {
            sim.fault("fault:db-outage", actor, Some("db"), || format!("{}: database unavailable (outage)", what()));
            return Err(DbError::Unavailable);
        }
        let result = {
            let mut backend = lock(&self.inner.backend);
            transaction(backend.as_mut(), f)
        };
        let (value, changed) = match result {
            Ok(v) => v,
            Err(e) => {
                sim.record(Kind::Unit, actor, Some("db"), || format!("{}: rolled back: {}", what(), e.class()));
                return Err(DbError::Sql(e));
            }
        };
        sim.record(Kind::Unit, actor, Some("db"), || format!("{}: committed, {changed} row(s) changed", what()));
        if changed > 0 {
            self.wrote();
        }
        sim.step(Step::Unit { wrote: changed > 0, key });
        if slow > 0 {
            sim.fault("fault:db-slow-commit", actor, Some("db"), || {
                format!("{}: slow commit, answer {} late", what(), Millis(slow))
            });
        }
        sim.sleep_ms(after + slow).await;
        if let Some((tap, index)) = tapped {
            tap.unit_ended(index, sim.now_ms());
        }
        if lost {
            sim.fault("fault:db-lost-answer", actor, Some("db"), || {
                format!("{}: committed, but the answer was lost", what())
            });
            return Err(DbError::AnswerLost);
        }
        Ok(value)
    }

    /// [`Db::unit`] in direct mode (the HTTP floor): waits for the replayer to give this
    /// delivery its turn, then runs `f` with the fate the unit had in the recorded run.
    async fn unit_direct<T>(
        &self,
        direct: &Direct,
        f: impl FnOnce(&mut Tx) -> Result<T, SqlError>,
    ) -> Result<T, DbError> {
        let entry = direct.unit_turn().await;
        direct.set_clock(entry.at_ms);
        let UnitFate::Ran { lost } = entry.fate else { return Err(DbError::Unavailable) };
        let value = self.transact(f).map_err(DbError::Sql)?;
        direct.set_clock(entry.end_ms);
        if lost { Err(DbError::AnswerLost) } else { Ok(value) }
    }

    /// Reads at the current instant with no latency, faults or trace: for checkers, which
    /// observe the world without being part of it. `f` must not write. No transaction is
    /// opened: the simulation is single-threaded, so nothing can commit between its statements.
    pub fn read<T>(&self, f: impl FnOnce(&mut Tx) -> Result<T, SqlError>) -> Result<T, SqlError> {
        let mut backend = lock(&self.inner.backend);
        let mut tx = Tx { backend: backend.as_mut(), changed: 0, begun: false };
        let v = f(&mut tx);
        if tx.begun {
            // A checker that writes is a bug in settle; undo what it did before failing.
            let _ = tx.backend.rollback();
            return Err(SqlError::Other("a checker read tried to write to the database".into()));
        }
        v
    }

    /// Writes what a run is given to start from (rows a scenario says the database already
    /// held, drawn from the run's choices) in one transaction, at once, with no latency, faults,
    /// trace or checks: for a system's setup before its parts run, never for an actor's work.
    pub fn given<T>(&self, f: impl FnOnce(&mut Tx) -> Result<T, SqlError>) -> Result<T, SqlError> {
        self.transact(f)
    }

    /// Runs `f` in one transaction at once and counts it if it changed rows: what
    /// [`Db::given`] and a direct-mode unit do, with nothing around it.
    fn transact<T>(&self, f: impl FnOnce(&mut Tx) -> Result<T, SqlError>) -> Result<T, SqlError> {
        let (v, changed) = transaction(lock(&self.inner.backend).as_mut(), f)?;
        if changed > 0 {
            self.wrote();
        }
        Ok(v)
    }

    fn wrote(&self) {
        *lock(&self.inner.writes) += 1;
    }

    /// How many units (and [`Db::given`] setups) have changed rows through this `Db` so far. A
    /// checker that remembers the count of its last snapshot knows whether it must read again:
    /// an unchanged count means the same rows (writes made around this `Db`, straight to its
    /// backend, are not counted).
    pub fn writes(&self) -> u64 {
        *lock(&self.inner.writes)
    }

    pub fn sim(&self) -> &Sim {
        &self.inner.sim
    }

    /// The rows changed since the last call, as [`Backend::take_changed_rows`] says: `None` on
    /// the first call, and always on backends that cannot track changes (PostgreSQL, MySQL).
    /// Only one reader per run may take them: a checker's context (its `prepare`, or its
    /// `unchanged_since_checked`); a second reader would hide changes from the first.
    pub fn take_changed_rows(&self) -> Option<Vec<(String, i64)>> {
        lock(&self.inner.backend).take_changed_rows()
    }

    /// Whether [`Db::take_changed_rows`] can ever answer (embedded SQLite).
    pub fn tracks_changes(&self) -> bool {
        lock(&self.inner.backend).tracks_changes()
    }
}
