//! The embedded default: SQLite in memory through rusqlite, on the simulation thread.
//!
//! Why not sqlx here: a unit of work must run at one simulated instant without awaiting the
//! simulation, so sqlx needs a blocking bridge to a second runtime, measured at 53–71 µs per
//! transaction. rusqlite answers in 1–4 µs per statement on the same thread, which is what makes
//! thousands of seeds per second possible. Statements are prepared once and cached, and a run
//! starts from empty tables rather than a new connection, so the cache survives across seeds.
//! The SQL is the same text the sqlx backends run (see [`super::sqlx_bridge`]).
//!
//! What it does not do: persist anything (unless opened on a file for `--keep-db`), or share
//! the connection across threads.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql};

use super::{Backend, BackendKind, Cell, Migration, Row, RowView, SqlError, Value};

/// SQLite through rusqlite.
pub struct Sqlite {
    conn: Connection,
    /// The migration set applied, and the tables it created (to empty them between seeds).
    applied: Option<(String, Vec<String>)>,
}

impl Sqlite {
    /// A private in-memory database.
    pub fn memory() -> Result<Self, SqlError> {
        let conn = Connection::open_in_memory().map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(128);
        // Small pages: every write copies its page into the in-memory rollback journal, and
        // a run's tables are tiny. Measured: 4 KiB → 1 KiB pages cut the cost of a writing unit.
        conn.execute_batch("PRAGMA page_size = 1024").map_err(map_err)?;
        // sqlx's SQLite, PostgreSQL and MySQL all enforce foreign keys; so must the default.
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(map_err)?;
        Ok(Sqlite { conn, applied: None })
    }

    /// A database file (created if missing).
    pub fn file(path: &std::path::Path) -> Result<Self, SqlError> {
        let conn = Connection::open(path).map_err(map_err)?;
        Ok(Sqlite { conn, applied: None })
    }

    /// Opens an existing database file read-only.
    pub fn read_only(path: &std::path::Path) -> Result<Self, SqlError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
        Ok(Sqlite { conn, applied: None })
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

fn map_err(e: rusqlite::Error) -> SqlError {
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

    // Cached statements: `execute_batch` would parse these three words on every unit.
    fn begin(&mut self) -> Result<(), SqlError> {
        self.conn.prepare_cached("BEGIN").and_then(|mut s| s.execute([])).map(drop).map_err(map_err)
    }

    fn commit(&mut self) -> Result<(), SqlError> {
        self.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map(drop).map_err(map_err)
    }

    fn rollback(&mut self) -> Result<(), SqlError> {
        self.conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([])).map(drop).map_err(map_err)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        stmt.execute(rusqlite::params_from_iter(params.iter())).map(|n| n as u64).map_err(map_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
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

    fn query_each(
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

    fn reset(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError> {
        if let Some((applied, tables)) = &self.applied
            && applied == set
        {
            // Emptying tables keeps the prepared-statement cache warm across seeds; one
            // transaction for all of them, not one commit each.
            let tables = tables.clone();
            self.begin()?;
            for t in tables {
                if let Err(e) = self.execute(&format!("DELETE FROM {t}"), &[]) {
                    let _ = self.rollback();
                    return Err(e);
                }
            }
            return self.commit();
        }
        let existing =
            self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", &[])?;
        // Another set's tables go whole, rows and all: with foreign keys enforced, dropping a
        // parent table before its children would fail, so enforcement pauses for the drops.
        let fk = self.query("PRAGMA foreign_keys", &[])?.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        self.conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(map_err)?;
        let dropped = existing.iter().try_for_each(|row| {
            let name = row.text(0)?;
            self.conn.execute_batch(&format!("DROP TABLE IF EXISTS \"{name}\"")).map_err(map_err)
        });
        self.conn
            .execute_batch(&format!("PRAGMA foreign_keys = {}", if fk == 0 { "OFF" } else { "ON" }))
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
        self.applied = Some((set.to_string(), tables));
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
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t)),
            ValueRef::Real(f) => Cell::Text(f.to_string().into()),
            ValueRef::Blob(b) => Cell::Text(hex::encode(b).into()),
        })
    }
}
