//! The embedded default: SQLite in memory through rusqlite, on the simulation thread.
//!
//! Why not sqlx here: a unit of work must run at one simulated instant without awaiting the
//! simulation, so sqlx needs a blocking bridge to a second runtime, measured at 53–71 µs per
//! transaction. rusqlite answers in 1–4 µs per statement on the same thread, which is what makes
//! thousands of seeds per second possible. Statements are prepared once and kept
//! (`store::sqlite_stmt`), and a run starts from empty tables rather than a new connection, so
//! they survive across seeds.
//! The SQL is the same text the sqlx backends run (see [`super::sqlx_bridge`]).
//!
//! What it does not do: persist anything (unless opened on a file for `--keep-db`), or share
//! the connection across threads.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql};

use std::sync::{Arc, Mutex};

use super::sqlite_stmt::Stmts;
use super::{Backend, BackendKind, Cell, Migration, Row, RowView, SqlError, Value};
use crate::sim::world::lock;

/// SQLite through rusqlite.
pub struct Sqlite {
    conn: Connection,
    /// The migration set applied, and the tables it created (to empty them between seeds).
    applied: Option<(String, Vec<String>)>,
    /// The rows changed since [`Backend::take_changed_rows`] last took them, once it has been
    /// called (SQLite's update hook lists them).
    changes: Option<Arc<Mutex<Changes>>>,
    /// Statements already scanned for `REPLACE` ([`hidden_changes`]), so that a write does not
    /// scan its text again each time it runs; a few dozen at most (beyond, they are scanned).
    scanned: Vec<(Box<str>, bool)>,
    /// The statements `execute`, `query` and the transaction words run, kept prepared.
    stmts: Stmts,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        // Before the connection closes: with statements left open SQLite refuses to close it,
        // and rusqlite's drop ignores the refusal, so the connection and its pages would leak.
        self.stmts.clear();
    }
}

/// How many statements' `REPLACE` scans are kept.
const SCANNED_MAX: usize = 64;

/// What the update hook saw since the last take.
#[derive(Default)]
struct Changes {
    rows: Vec<(String, i64)>,
    /// A change the hook cannot have seen, or more rows than are worth listing.
    lost: bool,
    /// The schema itself can change rows without the hook (an `ON CONFLICT REPLACE`
    /// constraint, a trigger that replaces, a `WITHOUT ROWID` table): nothing is listed while
    /// it can.
    blind: bool,
}

/// More changed rows than this between two takes are not listed: the taker reads everything.
const CHANGES_MAX: usize = 10_000;

impl Changes {
    fn lose(this: &Option<Arc<Mutex<Changes>>>) {
        if let Some(c) = this {
            let mut c = lock(c);
            c.lost = true;
            c.rows.clear();
        }
    }
}

/// Whether the hook may miss rows `sql` changes: `REPLACE` deletes the rows it conflicts with
/// without telling the update hook.
fn hidden_changes(sql: &str) -> bool {
    sql.as_bytes().windows(7).any(|w| w.eq_ignore_ascii_case(b"replace"))
}

/// [`hidden_changes`] for `sql`, scanned once per statement text and kept in `scanned`.
fn hides_changes(scanned: &mut Vec<(Box<str>, bool)>, sql: &str) -> bool {
    if let Some((_, hides)) = scanned.iter().find(|(s, _)| **s == *sql) {
        return *hides;
    }
    let hides = hidden_changes(sql);
    if scanned.len() < SCANNED_MAX {
        scanned.push((sql.into(), hides));
    }
    hides
}

/// Whether the schema can change rows without telling the hook: a constraint or trigger that
/// replaces deletes rows silently, and SQLite never calls the update hook for a `WITHOUT ROWID`
/// table at all. (A name that merely contains the words is taken as one too: the cost is a
/// full read, never a missed change.)
fn schema_hides_changes(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%replace%' OR sql LIKE '%without%rowid%'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(true, |n| n > 0)
}

impl Sqlite {
    /// `conn`, with nothing applied or tracked yet.
    fn over(conn: Connection) -> Self {
        Sqlite { conn, applied: None, changes: None, scanned: Vec::new(), stmts: Stmts::default() }
    }

    /// A private in-memory database.
    pub fn memory() -> Result<Self, SqlError> {
        let conn = Connection::open_in_memory().map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(128);
        // Small pages: every write copies its page into the in-memory rollback journal, and
        // a run's tables are tiny. Measured: 4 KiB → 1 KiB pages cut the cost of a writing unit.
        conn.execute_batch("PRAGMA page_size = 1024").map_err(map_err)?;
        // sqlx's SQLite, PostgreSQL and MySQL all enforce foreign keys; so must the default.
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(map_err)?;
        Ok(Sqlite::over(conn))
    }

    /// A database file (created if missing).
    pub fn file(path: &std::path::Path) -> Result<Self, SqlError> {
        let conn = Connection::open(path).map_err(map_err)?;
        Ok(Sqlite::over(conn))
    }

    /// Opens an existing database file read-only.
    pub fn read_only(path: &std::path::Path) -> Result<Self, SqlError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
        Ok(Sqlite::over(conn))
    }

    /// The connection, for [`super::sqlite_each`]'s tests.
    #[cfg(test)]
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// How many statements are kept prepared.
    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.stmts.len()
    }

    /// `sql` run through rusqlite's cached statement: the path for a statement
    /// [`Stmts::execute`] finds unusual, and what it is tested against.
    pub(super) fn execute_rusqlite(&mut self, sql: &str, params: &[Value]) -> Result<usize, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(map_err)
    }

    /// A transaction word (`BEGIN`, `COMMIT`, `ROLLBACK`), kept prepared: `execute_batch`
    /// would parse it on every unit.
    fn word(&mut self, sql: &str) -> Result<(), SqlError> {
        match self.stmts.execute(&self.conn, sql, &[]) {
            Some(r) => r.map(drop).map_err(map_err),
            None => self.execute_rusqlite(sql, &[]).map(drop),
        }
    }

    /// Whether foreign keys are enforced on the connection now.
    fn foreign_keys(&mut self) -> Result<bool, SqlError> {
        Ok(self.query("PRAGMA foreign_keys", &[])?.first().map(|r| r.int(0)).transpose()?.unwrap_or(0) != 0)
    }

    /// Deletes every row of `tables`, in that order, in one transaction.
    fn empty(&mut self, tables: &[String]) -> Result<(), SqlError> {
        self.begin()?;
        for t in tables {
            if let Err(e) = self.execute(&format!("DELETE FROM {t}"), &[]) {
                let _ = self.rollback();
                return Err(e);
            }
        }
        self.commit()
    }

    /// [`Backend::query`] through rusqlite's rows: the path for a statement [`Stmts::query`]
    /// finds unusual, and what it is tested against.
    pub(super) fn query_rusqlite(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Real(f) => Value::Text(f.to_string()),
                    ValueRef::Blob(b) => Value::Text(hex::encode(b)),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    /// [`Backend::query_each`] through rusqlite's rows: the path for a statement that is
    /// unusual in any way, and what the C-API path is tested against.
    pub(super) fn query_each_rusqlite(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> bool,
    ) -> Result<usize, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(map_err)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(map_err)? {
            n += 1;
            if !each(&InPlace { row, width }) {
                break;
            }
        }
        Ok(n)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

pub(super) fn map_err(e: rusqlite::Error) -> SqlError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            SqlError::Constraint(e.to_string())
        }
        _ => SqlError::Other(e.to_string()),
    }
}

impl Backend for Sqlite {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    fn begin(&mut self) -> Result<(), SqlError> {
        self.word("BEGIN")
    }

    fn commit(&mut self) -> Result<(), SqlError> {
        self.word("COMMIT")
    }

    fn rollback(&mut self) -> Result<(), SqlError> {
        self.word("ROLLBACK")
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let before = self.changes.as_ref().map(|c| lock(c).rows.len());
        let n = match self.stmts.execute(&self.conn, sql, params) {
            Some(r) => r.map_err(map_err)?,
            None => self.execute_rusqlite(sql, params)?,
        };
        let (Some(changes), Some(before)) = (&self.changes, before) else { return Ok(n as u64) };
        if sql.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("create")) {
            lock(changes).blind = schema_hides_changes(&self.conn);
        }
        // Every changed row passes the hook (a trigger's too, so it may see more than `n`),
        // except those a `DELETE` without `WHERE` empties at once and those `REPLACE` deletes.
        let mut c = lock(changes);
        if !c.lost && (c.rows.len() - before < n || hides_changes(&mut self.scanned, sql)) {
            c.lost = true;
            c.rows.clear();
        }
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        match self.stmts.query(&self.conn, sql, params) {
            Some(r) => r.map_err(map_err),
            None => self.query_rusqlite(sql, params),
        }
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> bool,
    ) -> Result<usize, SqlError> {
        match super::sqlite_each::query_each(&self.conn, sql, params, each).map_err(map_err)? {
            Some(n) => Ok(n),
            // Something unusual about the statement: rusqlite reports it.
            None => self.query_each_rusqlite(sql, params, each),
        }
    }

    fn tracks_changes(&self) -> bool {
        true
    }

    fn take_changed_rows(&mut self) -> Option<Vec<(String, i64)>> {
        let Some(changes) = &self.changes else {
            let blind = schema_hides_changes(&self.conn);
            let changes = Arc::new(Mutex::new(Changes { blind, ..Changes::default() }));
            let seen = changes.clone();
            let hook = move |_: rusqlite::hooks::Action, _: &str, table: &str, rowid: i64| {
                let mut c = lock(&seen);
                if c.lost {
                } else if c.rows.len() < CHANGES_MAX {
                    c.rows.push((table.to_string(), rowid));
                } else {
                    c.lost = true;
                    c.rows.clear();
                }
            };
            // Only fails on a connection borrowed from elsewhere, which this one never is.
            if self.conn.update_hook(Some(hook)).is_ok() {
                self.changes = Some(changes);
            }
            return None;
        };
        let mut c = lock(changes);
        let rows = std::mem::take(&mut c.rows);
        if std::mem::take(&mut c.lost) || c.blind { None } else { Some(rows) }
    }

    fn reset(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError> {
        // Emptied or rebuilt tables: what the hook saw says nothing about them.
        Changes::lose(&self.changes);
        if let Some((applied, tables)) = &self.applied
            && applied == set
        {
            // Emptying tables keeps the prepared statements warm across seeds; one transaction
            // for all of them, not one commit each. (Foreign keys stay on: with them off,
            // SQLite drops each table's pages at once, and the next seed allocates them again,
            // which measured 12 % more instructions a `midtrans_hour` seed than deleting rows.)
            let tables = tables.clone();
            return self.empty(&tables);
        }
        // The kept statements are of the tables about to go.
        self.stmts.clear();
        let existing =
            self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", &[])?;
        // Another set's tables go whole, rows and all: with foreign keys enforced, dropping a
        // parent table before its children would fail, so enforcement pauses for the drops.
        let fk = self.foreign_keys()?;
        self.conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(map_err)?;
        let dropped = existing.iter().try_for_each(|row| {
            let name = row.text(0)?;
            self.conn.execute_batch(&format!("DROP TABLE IF EXISTS \"{name}\"")).map_err(map_err)
        });
        self.conn
            .execute_batch(&format!("PRAGMA foreign_keys = {}", if fk { "ON" } else { "OFF" }))
            .map_err(map_err)?;
        dropped?;
        for m in migrations {
            self.conn
                .execute_batch(m.sql_for(BackendKind::Sqlite))
                .map_err(|e| SqlError::Other(format!("migration {}: {}", m.version, map_err(e))))?;
        }
        // Emptied children first: a table can only refer to tables created before it, so the
        // reverse of the creation order never deletes a row another still refers to.
        let tables = self
            .query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid DESC",
                &[],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>, _>>()?;
        // `AUTOINCREMENT` keeps each table's highest id there: emptied with the tables, so that
        // a seed's ids do not depend on the seeds run before it on this connection.
        let mut tables = tables;
        if !self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'", &[])?.is_empty()
        {
            tables.push("sqlite_sequence".to_string());
        }
        self.applied = Some((set.to_string(), tables));
        if let Some(c) = &self.changes {
            lock(c).blind = schema_hides_changes(&self.conn);
        }
        Ok(())
    }
}

/// A row read in place: the cells as [`Backend::query`] converts them (text lossily as UTF-8,
/// a float as its text, a blob in hex), text borrowed when it is valid UTF-8.
struct InPlace<'a, 'b> {
    row: &'a rusqlite::Row<'b>,
    width: usize,
}

impl RowView for InPlace<'_, '_> {
    fn width(&self) -> usize {
        self.width
    }

    fn cell(&self, i: usize) -> Result<Cell<'_>, SqlError> {
        Ok(match self.row.get_ref(i).map_err(map_err)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Text(t) => Cell::Text(super::sqlite_each::text(t)),
            ValueRef::Real(f) => Cell::Text(f.to_string().into()),
            ValueRef::Blob(b) => Cell::Text(hex::encode(b).into()),
        })
    }
}

/// For tests: runs `f` with a [`super::Db`] over a fresh in-memory SQLite with `migrations`
/// applied, inside a simulation (a `Db` belongs to one).
#[cfg(test)]
pub(crate) fn with_memory_db<R>(migrations: &[Migration], f: impl FnOnce(super::Db) -> R) -> R {
    use crate::sim::{Millis, Oracle, Sim, SimConfig};
    let cfg = SimConfig {
        record: false,
        safety: Millis::h(1),
        liveness: Millis::h(1),
        epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
        net: Default::default(),
        crashes: Default::default(),
        notes: Vec::new(),
        tap: None,
    };
    let out = Sim::run(cfg, Oracle::random(1), |sim| async move {
        let mut backend = Sqlite::memory().expect("an in-memory SQLite opens");
        backend.reset("test", migrations).expect("the migrations apply");
        f(super::Db::new(&sim, super::shared(backend), super::DbConfig::default()))
    });
    out.expect("a simulation runtime starts").result
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, v BIGINT NOT NULL);";

    fn migrations() -> Vec<Migration> {
        vec![Migration::portable("t", SCHEMA)]
    }

    fn rows(changed: Option<Vec<(String, i64)>>) -> Option<Vec<i64>> {
        changed.map(|c| c.into_iter().map(|(t, r)| if t == "t" { r } else { -1 }).collect())
    }

    #[test]
    fn the_update_hook_lists_each_changed_row_and_says_when_it_cannot() {
        with_memory_db(&migrations(), |db| {
            // The first call starts tracking and cannot say what came before.
            assert_eq!(db.take_changed_rows(), None);
            assert!(db.tracks_changes());
            db.given(|tx| {
                tx.execute("INSERT INTO t (id, v) VALUES (10, 1), (20, 2)", &[])?;
                tx.execute("UPDATE t SET v = 3 WHERE id = 20", &[])
            })
            .unwrap();
            assert_eq!(rows(db.take_changed_rows()), Some(vec![1, 2, 2]));
            assert_eq!(rows(db.take_changed_rows()), Some(vec![]), "taken rows are not listed again");
            db.given(|tx| tx.execute("DELETE FROM t WHERE id = 10", &[])).unwrap();
            assert_eq!(rows(db.take_changed_rows()), Some(vec![1]));
            // A rolled-back change is listed too: the row is simply read again.
            let failed: Result<(), SqlError> = db.given(|tx| {
                tx.execute("INSERT INTO t (id, v) VALUES (30, 1)", &[])?;
                Err(SqlError::Other("no".into()))
            });
            assert!(failed.is_err());
            assert_eq!(rows(db.take_changed_rows()), Some(vec![3]));
            // Emptied at once (no hook call per row) and REPLACE's deletions: it cannot say.
            db.given(|tx| tx.execute("DELETE FROM t", &[])).unwrap();
            assert_eq!(db.take_changed_rows(), None);
            db.given(|tx| tx.execute("INSERT INTO t (id, v) VALUES (1, 1)", &[])).unwrap();
            assert!(db.take_changed_rows().is_some(), "tracking goes on after a loss");
            db.given(|tx| tx.execute("REPLACE INTO t (id, v) VALUES (1, 5)", &[])).unwrap();
            assert_eq!(db.take_changed_rows(), None);
            // A constraint that replaces makes a plain INSERT delete: nothing is listed after it.
            db.given(|tx| tx.execute("CREATE TABLE u (k BIGINT NOT NULL UNIQUE ON CONFLICT REPLACE)", &[])).unwrap();
            db.given(|tx| tx.execute("INSERT INTO t (id, v) VALUES (2, 2)", &[])).unwrap();
            assert_eq!(db.take_changed_rows(), None);
        });
    }

    #[test]
    fn a_without_rowid_table_makes_the_hook_blind() {
        with_memory_db(&migrations(), |db| {
            assert_eq!(db.take_changed_rows(), None);
            db.given(|tx| tx.execute("INSERT INTO t (id, v) VALUES (1, 1)", &[])).unwrap();
            assert_eq!(rows(db.take_changed_rows()), Some(vec![1]));
            // SQLite never calls the update hook for such a table: its changes cannot be listed.
            db.given(|tx| tx.execute("CREATE TABLE w (k BIGINT NOT NULL PRIMARY KEY) WITHOUT ROWID", &[])).unwrap();
            db.given(|tx| tx.execute("INSERT INTO w (k) VALUES (7)", &[])).unwrap();
            assert_eq!(db.take_changed_rows(), None);
            db.given(|tx| tx.execute("INSERT INTO t (id, v) VALUES (2, 2)", &[])).unwrap();
            assert_eq!(db.take_changed_rows(), None, "nothing is listed while such a table exists");
        });
    }

    const AUTOINCREMENT: [Migration; 1] = [Migration::portable(
        "1",
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL);
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a (id))",
    )];

    /// The ids the database gives three rows in each table.
    fn ids(db: &mut Sqlite) -> Vec<i64> {
        db.begin().expect("begin");
        for v in ["x", "y", "z"] {
            db.execute("INSERT INTO a (v) VALUES (?)", &[Value::Text(v.into())]).expect("a");
            db.execute("INSERT INTO b (a_id) VALUES (last_insert_rowid())", &[]).expect("b");
        }
        db.commit().expect("commit");
        let rows = db.query("SELECT id FROM a UNION ALL SELECT id FROM b", &[]).expect("ids");
        rows.iter().map(|r| r.int(0).expect("int")).collect()
    }

    #[test]
    fn a_reset_database_gives_the_ids_a_new_one_gives() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        db.reset("s", &AUTOINCREMENT).expect("first reset builds the tables");
        let first = ids(&mut db);
        assert_eq!(first, [1, 2, 3, 1, 2, 3]);
        for _ in 0..2 {
            db.reset("s", &AUTOINCREMENT).expect("a reset empties the tables");
            assert_eq!(ids(&mut db), first, "a seed's ids do not depend on the seeds run before it");
        }
        let mut fresh = Sqlite::memory().expect("opens");
        fresh.reset("s", &AUTOINCREMENT).expect("builds");
        assert_eq!(ids(&mut fresh), first);
    }
}
