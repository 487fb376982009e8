//! [`super::Backend::query_each`] on SQLite: one statement stepped through SQLite's C API, each
//! row's cells read straight from SQLite's own buffers ([`Raw`]).
//!
//! Why not rusqlite's `Row::get_ref`: `settle audit` with a provider export reads every order
//! row, ten cells each, and rusqlite's checks and wrapping around each cell (a column count,
//! a `Result`, a `ValueRef`) cost about as much as SQLite's own calls for it: about 80 of the 224
//! instructions a cell took (callgrind, 1,000,000 orders). Here a cell is `sqlite3_column_value`,
//! its type and one getter, nothing more.
//!
//! Its pieces (a statement, its binding, a row read in place, a failed step's error) are also
//! what [`super::sqlite_stmt`] runs the backend's other statements with.
//!
//! What it does not do: anything unusual. A statement that does not prepare, holds more than one
//! statement, or is given the wrong number of parameters goes to rusqlite's path (`Sqlite::query_each_rusqlite`), so
//! its error is word for word rusqlite's; so does a database error while stepping, reported as
//! rusqlite reports it. It never writes, caches nothing (a call is a page of thousands of rows),
//! and a row it hands out lives only inside the callback.

use std::borrow::Cow;
use std::ffi::{CStr, c_char, c_int};

use rusqlite::{Connection, ffi};

use super::{Cell, RowView, SqlError, Value};

/// A prepared statement, finalized when dropped.
pub(super) struct Stmt(pub(super) *mut ffi::sqlite3_stmt);

// SAFETY: a statement moves between threads only with the connection it belongs to (both live
// in one `Sqlite`, which is used by one thread at a time), as rusqlite's own statements do.
unsafe impl Send for Stmt {}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful prepare and is finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.0);
        }
    }
}

/// SQLite's message for `code` on `db`, as rusqlite reports a failed step.
pub(super) fn failure(db: *mut ffi::sqlite3, code: c_int) -> rusqlite::Error {
    // SAFETY: `db` is the open connection; SQLite's messages are NUL-terminated strings it owns,
    // copied here before any other call on the connection.
    let message = unsafe {
        let text = if ffi::sqlite3_errcode(db) == code { ffi::sqlite3_errmsg(db) } else { ffi::sqlite3_errstr(code) };
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

/// Prepares `sql`, one whole statement; `None` when anything is unusual (the caller then takes
/// rusqlite's path, which reports it). A statement to be kept is prepared as rusqlite's
/// `prepare_cached` prepares one (`SQLITE_PREPARE_PERSISTENT`): prepared without it, the
/// reference design's statements measured 18 % more of SQLite's own instructions.
pub(super) fn prepare_one(conn: &Connection, sql: &str, keep: bool) -> Option<Stmt> {
    let len = c_int::try_from(sql.len()).ok()?;
    // SAFETY: the handle is only used on this thread for the duration of the call, as the
    // `Connection` it belongs to is (`&Connection` borrowed); SQLite copies the SQL it keeps.
    unsafe {
        let db = conn.handle();
        let (mut stmt, mut tail) = (std::ptr::null_mut(), std::ptr::null::<c_char>());
        let flags = if keep { ffi::SQLITE_PREPARE_PERSISTENT as std::ffi::c_uint } else { 0 };
        let rc = ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), len, flags, &mut stmt, &mut tail);
        if stmt.is_null() {
            return None;
        }
        let stmt = Stmt(stmt);
        let used = (tail as usize).checked_sub(sql.as_ptr() as usize)?;
        if rc != ffi::SQLITE_OK || !sql.get(used..).is_some_and(|t| t.trim().is_empty()) {
            return None;
        }
        Some(stmt)
    }
}

/// Binds `params` to `stmt`; `None` when their number is not the statement's or a bind fails
/// (the caller then takes rusqlite's path, which reports it). With `copy` false, SQLite keeps
/// pointers to the texts: the caller must clear the bindings before `params` go.
pub(super) fn bind(stmt: &Stmt, params: &[Value], copy: bool) -> Option<()> {
    // SAFETY: `stmt` is a live statement of this thread's connection; each text is bound with
    // its exact length, copied by SQLite (`copy`) or kept only while the caller promises.
    unsafe {
        if usize::try_from(ffi::sqlite3_bind_parameter_count(stmt.0)).ok()? != params.len() {
            return None;
        }
        let keep = if copy { ffi::SQLITE_TRANSIENT() } else { ffi::SQLITE_STATIC() };
        for (i, v) in params.iter().enumerate() {
            let at = c_int::try_from(i + 1).ok()?;
            let rc = match v {
                Value::Null => ffi::sqlite3_bind_null(stmt.0, at),
                Value::Int(n) => ffi::sqlite3_bind_int64(stmt.0, at, *n),
                Value::Text(s) => {
                    ffi::sqlite3_bind_text(stmt.0, at, s.as_ptr().cast(), c_int::try_from(s.len()).ok()?, keep)
                }
            };
            if rc != ffi::SQLITE_OK {
                return None;
            }
        }
        Some(())
    }
}

/// Prepares `sql` and binds `params` (copied); `None` when anything is unusual.
fn prepare(conn: &Connection, sql: &str, params: &[Value]) -> Option<Stmt> {
    let stmt = prepare_one(conn, sql, false)?;
    bind(&stmt, params, true)?;
    Some(stmt)
}

/// Runs `sql` with `params`, handing each row to `each` until it returns `false`; the number of
/// rows handed out. `Ok(None)`: not run, take rusqlite's path.
pub(super) fn query_each(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    each: &mut dyn FnMut(&dyn RowView) -> bool,
) -> Result<Option<usize>, rusqlite::Error> {
    let Some(stmt) = prepare(conn, sql, params) else { return Ok(None) };
    // SAFETY: as in `prepare`; the statement is stepped on this thread only, and a row's cells
    // are read only while `each` runs, before the next step.
    unsafe {
        let width = usize::try_from(ffi::sqlite3_column_count(stmt.0)).unwrap_or(0);
        let mut n = 0;
        loop {
            match ffi::sqlite3_step(stmt.0) {
                ffi::SQLITE_ROW => {
                    n += 1;
                    if !each(&Raw { stmt: &stmt, width }) {
                        return Ok(Some(n));
                    }
                }
                ffi::SQLITE_DONE => return Ok(Some(n)),
                code => return Err(failure(conn.handle(), code)),
            }
        }
    }
}

/// Text as [`String::from_utf8_lossy`] reads it, with the common case (ASCII: codes, status
/// words) checked first, at a fraction of `from_utf8`'s cost on short strings.
pub(super) fn text(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    String::from_utf8_lossy(bytes)
}

/// The current row of a stepped statement, read in place.
pub(super) struct Raw<'s> {
    stmt: &'s Stmt,
    width: usize,
}

impl<'s> Raw<'s> {
    /// The current row of `stmt`, which has `width` columns.
    ///
    /// # Safety
    /// The last step of `stmt` returned `SQLITE_ROW`, and it is not stepped, reset or finalized
    /// while the view lives.
    pub(super) unsafe fn new(stmt: &'s Stmt, width: usize) -> Self {
        Raw { stmt, width }
    }
}

impl RowView for Raw<'_> {
    fn width(&self) -> usize {
        self.width
    }

    /// As rusqlite's `get_ref` read it (NULL, integer, text; a real as its decimal text, a blob
    /// as hex), and the same error for a column past the row's width.
    fn cell(&self, i: usize) -> Result<Cell<'_>, SqlError> {
        let Some((v, t)) = self.value(i) else {
            return Err(super::sqlite::map_err(rusqlite::Error::InvalidColumnIndex(i)));
        };
        // SAFETY: see `value`. A cell is read with the getter of its own type, so SQLite
        // converts nothing and the bytes stay valid until the next step, which cannot happen
        // while `&self` is borrowed.
        unsafe {
            Ok(match t {
                ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_TEXT => Cell::Text(text(bytes(ffi::sqlite3_value_text(v), ffi::sqlite3_value_bytes(v))?)),
                ffi::SQLITE_FLOAT => Cell::Text(ffi::sqlite3_value_double(v).to_string().into()),
                ffi::SQLITE_BLOB => {
                    let b = bytes(ffi::sqlite3_value_blob(v).cast(), ffi::sqlite3_value_bytes(v))?;
                    Cell::Text(hex::encode(b).into())
                }
                _ => Cell::Null,
            })
        }
    }

    /// As the default reads [`Raw::cell`], without building the `Cell`.
    fn opt_int(&self, i: usize) -> Option<Option<i64>> {
        let (v, t) = self.value(i)?;
        match t {
            ffi::SQLITE_NULL => Some(None),
            // SAFETY: see `value`; the value is an integer.
            ffi::SQLITE_INTEGER => Some(Some(unsafe { ffi::sqlite3_value_int64(v) })),
            _ => None,
        }
    }

    /// As the default reads [`Raw::cell`], without building the `Cell`.
    fn opt_text(&self, i: usize) -> Option<Option<Cow<'_, str>>> {
        let (v, t) = self.value(i)?;
        match t {
            ffi::SQLITE_NULL => Some(None),
            // SAFETY: see `cell`; the value is text, read as text.
            ffi::SQLITE_TEXT => {
                Some(Some(text(unsafe { bytes(ffi::sqlite3_value_text(v), ffi::sqlite3_value_bytes(v)) }.ok()?)))
            }
            ffi::SQLITE_INTEGER => None,
            // A real or a blob reads as text (its decimal or hex form), as `cell` gives it.
            _ => match self.cell(i).ok()? {
                Cell::Text(t) => Some(Some(t)),
                _ => None,
            },
        }
    }
}

impl Raw<'_> {
    /// Column `i`'s value and its type, for the typed readers; `None` past the width.
    fn value(&self, i: usize) -> Option<(*mut ffi::sqlite3_value, c_int)> {
        if i >= self.width {
            return None;
        }
        // SAFETY: the statement has a current row (this view exists only between a step that
        // returned SQLITE_ROW and the next step) and `i` is below its column count. The value
        // is SQLite's "unprotected" one, which is safe on the thread that steps the statement
        // (the connection is never shared across threads).
        unsafe {
            let v = ffi::sqlite3_column_value(self.stmt.0, i as c_int);
            Some((v, ffi::sqlite3_value_type(v)))
        }
    }
}

/// `len` bytes at `p`, as SQLite hands a text or blob out (`p` is NULL for an empty blob, or
/// when SQLite ran out of memory for a non-empty one).
///
/// # Safety
/// `p` must point to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(p: *const u8, len: c_int) -> Result<&'a [u8], SqlError> {
    let len = usize::try_from(len).unwrap_or(0);
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(super::sqlite::map_err(rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_NOMEM), None)));
    }
    // SAFETY: the caller's promise.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests {
    use super::super::sqlite::Sqlite;
    use super::super::{Backend, Cell, RowView, Value};
    use crate::sim::Oracle;

    /// One cell as a reader sees it: `cell` (or its error), `opt_int`, `opt_text`.
    type Seen = (Result<Cell<'static>, String>, Option<Option<i64>>, Option<Option<String>>);

    /// The rows `sql` hands out (each cell read three ways, and one column past the width), or
    /// the error, through the C-API path (falling back as `Backend::query_each` does) or
    /// through rusqlite's rows; `stop` rows at most.
    fn read(
        db: &mut Sqlite,
        raw: bool,
        sql: &str,
        params: &[Value],
        stop: usize,
    ) -> Result<(usize, Vec<Vec<Seen>>), String> {
        let mut rows = Vec::new();
        let mut each = |v: &dyn RowView| {
            let row = (0..=v.width())
                .map(|i| {
                    let cell = v.cell(i).map_err(|e| e.to_string()).map(|c| match c {
                        Cell::Text(t) => Cell::Text(t.into_owned().into()),
                        Cell::Null => Cell::Null,
                        Cell::Int(n) => Cell::Int(n),
                    });
                    (cell, v.opt_int(i), v.opt_text(i).map(|t| t.map(|t| t.into_owned())))
                })
                .collect();
            rows.push(row);
            rows.len() < stop
        };
        let n =
            if raw { db.query_each(sql, params, &mut each) } else { db.query_each_rusqlite(sql, params, &mut each) };
        n.map(|n| (n, rows)).map_err(|e| e.to_string())
    }

    /// A value of every kind SQLite stores, as an SQL literal.
    fn literal(o: &mut Oracle) -> String {
        let n = o.int_below(1 << 40) - (1 << 39);
        match o.int_below(14) {
            0 => "NULL".into(),
            1 => "0".into(),
            2 => i64::MIN.to_string(),
            3 => i64::MAX.to_string(),
            4 => n.to_string(),
            5 => format!("{n}.25"),
            6 => "1e300".into(),
            7 => "''".into(),
            8 => "'PAID'".into(),
            9 => format!("'ZVR-{n:010}'"),
            10 => "'Pé ✓'".into(),
            11 => "CAST(x'ff41c3' AS TEXT)".into(),
            12 => "x''".into(),
            _ => "x'00ff10'".into(),
        }
    }

    #[test]
    fn cells_read_through_the_c_api_are_what_rusqlite_reads() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        db.execute("CREATE TABLE t (a, b, c, d, e)", &[]).expect("a table without affinity");
        let mut o = Oracle::random(7);
        for _ in 0..400 {
            let values: Vec<String> = (0..5).map(|_| literal(&mut o)).collect();
            db.execute(&format!("INSERT INTO t VALUES ({})", values.join(", ")), &[]).expect("insert");
        }
        let select = "SELECT a, b, c, d, e, ?1, ?2, ?3 FROM t WHERE ?1 IS NULL OR ?2 >= 0 ORDER BY rowid";
        let params = [Value::Null, Value::Int(-3), Value::Text("bound é".into())];
        for stop in [usize::MAX, 1, 57] {
            let raw = read(&mut db, true, select, &params, stop);
            assert!(raw.as_ref().is_ok_and(|(n, rows)| *n == stop.min(400) && rows.len() == *n), "{raw:?}");
            assert_eq!(raw, read(&mut db, false, select, &params, stop), "stop after {stop}");
        }
        // The common statement takes the C-API path, not the fallback.
        let taken = super::query_each(db.conn(), select, &params, &mut |_| true).expect("runs");
        assert_eq!(taken, Some(400));
    }

    #[test]
    fn unusual_statements_and_errors_are_reported_as_rusqlite_reports_them() {
        let mut db = Sqlite::memory().expect("an in-memory SQLite opens");
        db.execute("CREATE TABLE t (a)", &[]).expect("table");
        db.execute("INSERT INTO t VALUES (1), (-9223372036854775808), (3)", &[]).expect("insert");
        let cases: [(&str, &[Value]); 6] = [
            ("SELECT nope FROM t", &[]),
            ("SELECT 1; SELECT 2", &[]),
            ("SELECT ?1", &[]),
            ("SELECT ?1", &[Value::Int(1), Value::Int(2)]),
            ("SELECT abs(a) FROM t ORDER BY rowid", &[]),
            ("   ", &[]),
        ];
        for (sql, params) in cases {
            let raw = read(&mut db, true, sql, params, usize::MAX);
            assert_eq!(raw, read(&mut db, false, sql, params, usize::MAX), "{sql:?}");
        }
        // The failing step (abs of the smallest integer) is the C-API path's own error.
        let failed = super::query_each(db.conn(), "SELECT abs(a) FROM t ORDER BY rowid", &[], &mut |_| true);
        assert!(failed.as_ref().is_err_and(|e| e.to_string().contains("integer overflow")), "{failed:?}");
    }
}
