//! The SQLite backend's statements for [`super::Backend::execute`], [`super::Backend::query`]
//! and the transaction words: each text prepared once and kept ([`Stmts`]), its parameters
//! bound and its rows read through SQLite's C API.
//!
//! Why not rusqlite's `prepare_cached`: a unit of work runs a handful of short statements, and
//! around each one rusqlite's cache and wrapping cost about what SQLite's own work for it did
//! (callgrind, `midtrans_hour`: about 1,600 instructions an `execute` and 4,000 a `query` beside
//! SQLite's step; the statement cache's hashing and LRU, a `ToSql` per parameter, a `ValueRef`
//! and a `Result` per cell). Both the simulator and the floor run every statement through here.
//!
//! What it does not do: anything unusual. A statement that does not prepare, holds more than
//! one statement, or is given the wrong number of parameters is `None` here, and the backend
//! takes rusqlite's path, so that its error is rusqlite's word for word; an error while
//! stepping is reported as rusqlite reports it ([`super::sqlite_each::failure`]). It keeps at
//! most [`KEPT_MAX`] texts; a statement beyond them is prepared for its one run.

use std::collections::HashMap;

use rusqlite::{Connection, ffi};

use super::sqlite_each::{Raw, Stmt, bind, failure, prepare_one};
use super::{Cell, Row, RowView, Value};

/// How many statement texts are kept prepared. A run uses a few dozen; a caller that builds
/// texts with values in them would otherwise grow the cache without end.
pub(super) const KEPT_MAX: usize = 512;

/// The prepared statements of one connection, by text. They must be finalized before the
/// connection closes: [`super::sqlite::Sqlite`] clears them when it drops.
#[derive(Default)]
pub(super) struct Stmts {
    kept: HashMap<Box<str>, Stmt, foldhash::fast::FixedState>,
}

/// Clears a statement's bindings and resets it when a run of it ends, however it ends.
struct Done<'s>(&'s Stmt);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        // SAFETY: a live statement of this thread's connection. The texts bound without a copy
        // are forgotten here, before the parameters they point into can go.
        unsafe {
            ffi::sqlite3_reset(self.0.0);
            ffi::sqlite3_clear_bindings(self.0.0);
        }
    }
}

/// Binds `params` to `stmt`, runs `run` and clears the statement again; `None`, before anything
/// ran, when the parameters do not fit it.
fn run_bound<R>(stmt: &Stmt, params: &[Value], run: impl FnOnce(&Stmt) -> R) -> Option<R> {
    let done = Done(stmt);
    bind(stmt, params, false)?;
    let out = run(stmt);
    drop(done);
    Some(out)
}

impl Stmts {
    /// Finalizes every kept statement.
    pub(super) fn clear(&mut self) {
        self.kept.clear();
    }

    /// Runs `run` over the statement for `sql` with `params` bound; `None`, before anything
    /// ran, when the statement is unusual (see the module doc).
    fn with<R>(&mut self, conn: &Connection, sql: &str, params: &[Value], run: impl FnOnce(&Stmt) -> R) -> Option<R> {
        if let Some(stmt) = self.kept.get(sql) {
            return run_bound(stmt, params, run);
        }
        let stmt = prepare_one(conn, sql, true)?;
        if self.kept.len() >= KEPT_MAX {
            return run_bound(&stmt, params, run);
        }
        run_bound(self.kept.entry(sql.into()).or_insert(stmt), params, run)
    }

    /// How many statements are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.kept.len()
    }

    /// [`super::Backend::execute`]: the number of rows changed, as rusqlite's
    /// `Statement::execute` answers it (an error if the statement returns rows).
    pub(super) fn execute(
        &mut self,
        conn: &Connection,
        sql: &str,
        params: &[Value],
    ) -> Option<Result<usize, rusqlite::Error>> {
        self.with(conn, sql, params, |stmt| {
            // SAFETY: a live statement of this thread's connection, bound; reset here as
            // rusqlite resets it, before its error is read.
            unsafe {
                let r = ffi::sqlite3_step(stmt.0);
                let rr = ffi::sqlite3_reset(stmt.0);
                match r {
                    ffi::SQLITE_DONE if rr == ffi::SQLITE_OK => Ok(ffi::sqlite3_changes64(conn.handle()) as usize),
                    ffi::SQLITE_DONE => Err(failure(conn.handle(), rr)),
                    ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
                    code => Err(failure(conn.handle(), code)),
                }
            }
        })
    }

    /// [`super::Backend::query`]: every row, each cell as rusqlite's `get_ref` reads it (a
    /// real as its decimal text, a blob as hex).
    pub(super) fn query(
        &mut self,
        conn: &Connection,
        sql: &str,
        params: &[Value],
    ) -> Option<Result<Vec<Row>, rusqlite::Error>> {
        self.with(conn, sql, params, |stmt| {
            // SAFETY: as in `execute`; a row is read only between the step that returned it and
            // the next step.
            unsafe {
                let width = usize::try_from(ffi::sqlite3_column_count(stmt.0)).unwrap_or(0);
                let mut out = Vec::new();
                loop {
                    match ffi::sqlite3_step(stmt.0) {
                        ffi::SQLITE_ROW => {
                            let raw = Raw::new(stmt, width);
                            let mut values = Vec::with_capacity(width);
                            for i in 0..width {
                                values.push(match raw.cell(i) {
                                    Ok(Cell::Null) => Value::Null,
                                    Ok(Cell::Int(n)) => Value::Int(n),
                                    Ok(Cell::Text(t)) => Value::Text(t.into_owned()),
                                    // Only out of memory: SQLite's word for it.
                                    Err(_) => return Err(failure(conn.handle(), ffi::SQLITE_NOMEM)),
                                });
                            }
                            out.push(Row(values));
                        }
                        ffi::SQLITE_DONE => return Ok(out),
                        code => return Err(failure(conn.handle(), code)),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sqlite::Sqlite;
    use super::super::{Backend, Value};
    use super::KEPT_MAX;
    use crate::sim::Oracle;

    /// What a statement gives through the backend (this module's path, falling back as the
    /// backend does) and through rusqlite's own, as text.
    fn both(db: &mut Sqlite, sql: &str, params: &[Value]) -> (String, String) {
        let fast = match db.query(sql, params) {
            Ok(rows) => format!("{rows:?}"),
            Err(e) => format!("error {e}"),
        };
        let slow = match db.query_rusqlite(sql, params) {
            Ok(rows) => format!("{rows:?}"),
            Err(e) => format!("error {e}"),
        };
        (fast, slow)
    }

    fn both_execute(db: &mut Sqlite, sql: &str, params: &[Value]) -> (String, String) {
        let fast = format!("{:?}", db.execute(sql, params).map_err(|e| e.to_string()));
        let slow = format!("{:?}", db.execute_rusqlite(sql, params).map_err(|e| e.to_string()));
        (fast, slow)
    }

    #[test]
    fn rows_read_through_kept_statements_are_what_rusqlite_reads() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        db.execute("CREATE TABLE t (a, b, c)", &[]).expect("a table without affinity");
        let mut o = Oracle::random(11);
        let literals = [
            "NULL",
            "0",
            "-9223372036854775808",
            "9223372036854775807",
            "2.5",
            "1e300",
            "''",
            "'PAID'",
            "'Pé ✓'",
            "CAST(x'ff41c3' AS TEXT)",
            "x''",
            "x'00ff10'",
        ];
        for _ in 0..200 {
            let row: Vec<&str> = (0..3).map(|_| literals[o.int_below(literals.len() as u64) as usize]).collect();
            db.execute(&format!("INSERT INTO t VALUES ({})", row.join(", ")), &[]).expect("insert");
        }
        let select = "SELECT a, b, c, ?1, ?2 FROM t WHERE ?3 IS NULL OR rowid > ?3 ORDER BY rowid";
        for cut in [Value::Null, Value::Int(150), Value::Text("7".into())] {
            let params = [Value::Int(-3), Value::Text("bound é".into()), cut];
            // Twice: the second run is of the kept statement, its bindings from the first gone.
            for _ in 0..2 {
                let (fast, slow) = both(&mut db, select, &params);
                assert_eq!(fast, slow);
                assert!(fast.len() > 100, "{fast}");
            }
        }
        assert!(db.kept() >= 2, "the statements are kept");
    }

    #[test]
    fn writes_answer_and_fail_as_rusqlite_answers_and_fails() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE)", &[]).expect("parent");
        db.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p (id))", &[])
            .expect("child");
        let insert = "INSERT INTO p (id, code) VALUES (?, ?)";
        for (id, code) in [(1, "A"), (2, "B"), (3, "A"), (1, "C")] {
            let params = [Value::Int(id), Value::Text(code.into())];
            let (fast, slow) = both_execute(&mut db, insert, &params);
            // The fast run wrote (or failed); rusqlite's run then meets what it left.
            let again = format!("{:?}", db.execute(insert, &params).map_err(|e| e.to_string()));
            assert_eq!(slow, again, "the same statement twice gives the same answer");
            assert!(fast.starts_with("Ok(1)") || fast.contains("UNIQUE constraint failed"), "{fast}");
        }
        let cases: [(&str, Vec<Value>); 8] = [
            ("UPDATE p SET code = code || 'x' WHERE id <= ?", vec![Value::Int(2)]),
            ("INSERT INTO c (p) VALUES (?)", vec![Value::Int(99)]),
            ("INSERT INTO p (id, code) VALUES (?, NULL)", vec![Value::Int(7)]),
            ("SELECT * FROM p", vec![]),
            ("UPDATE nope SET a = 1", vec![]),
            ("UPDATE p SET code = ?", vec![]),
            ("DELETE FROM p WHERE id = 9; DELETE FROM p", vec![]),
            ("UPDATE p SET id = abs(?) WHERE id = 1", vec![Value::Int(i64::MIN)]),
        ];
        for (sql, params) in &cases {
            let fast = format!("{:?}", db.execute(sql, params).map_err(|e| e.to_string()));
            let fast_again = format!("{:?}", db.execute(sql, params).map_err(|e| e.to_string()));
            let slow = format!("{:?}", db.execute_rusqlite(sql, params).map_err(|e| e.to_string()));
            if sql.starts_with("UPDATE p SET code = code") {
                assert_eq!((fast.as_str(), fast_again.as_str(), slow.as_str()), ("Ok(2)", "Ok(2)", "Ok(2)"));
            } else {
                assert_eq!(fast, slow, "{sql}");
                assert_eq!(fast, fast_again, "{sql}");
                assert!(fast.starts_with("Err"), "{sql}: {fast}");
            }
        }
        // The transaction words, and a statement after a failed one, still work.
        db.begin().expect("begin");
        assert_eq!(db.execute("DELETE FROM p WHERE id = ?", &[Value::Int(2)]).expect("delete"), 1);
        db.rollback().expect("rollback");
        assert_eq!(db.query("SELECT COUNT(*) FROM p", &[]).expect("count")[0].int(0).expect("int"), 2);
    }

    #[test]
    fn texts_beyond_the_kept_ones_are_prepared_for_one_run() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        for i in 0..KEPT_MAX + 20 {
            let rows = db.query(&format!("SELECT {i}, ?"), &[Value::Int(1)]).expect("runs");
            assert_eq!(format!("{rows:?}"), format!("[Row([Int({i}), Int(1)])]"));
        }
        assert_eq!(db.kept(), KEPT_MAX);
        // Dropping the backend finalizes each kept statement once, then closes the connection.
        drop(db);
    }
}
