//! The audit's pass over one snapshot.
//!
//! - Without a provider export: order rows in keyset pages of [`PAGE`] in the orders' key order
//!   (`WHERE id > ? ORDER BY id LIMIT 5000`), carrying the SQL prefilter ([`super::prefilter`]):
//!   the database returns only the rows a check might flag, and the orders are counted with one
//!   `COUNT(*)`.
//! - With one: every order row, in order-code byte order ([`Sql::code_order`]), merged with the
//!   export streamed in the same order ([`crate::audit::export::sorted`]): each order meets its
//!   export line, if any, and export lines no order meets are the provider's payments without an
//!   order. PostgreSQL walks a server-side cursor (one sort); SQLite and MySQL walk keyset pages.
//!   Each row is read in place ([`crate::store::Backend::query_each`]; on SQLite from its own
//!   buffers) and a plainly clean one is only counted ([`super::light`]); the rest are judged whole.
//!
//! Then the sync log's PAID regressions. Memory: one page of rows (none held on SQLite with an
//! export), one export line (plus one per
//! sorted run when the export had to be sorted), and at most [`crate::audit::DETAILS_MAX`] details
//! per invariant. What it does not do: write, or hold all rows or the export.

use crate::check::mapping::State;
use crate::error::Error;
use crate::store::{Backend, BackendKind, Row, RowView, SqlError, Value};
use crate::systems::midtrans_orders::mapping::Column;
use crate::systems::midtrans_orders::mapping::row::Snapshot;

use super::super::Report;
use super::super::export::Entry;
use super::check::Judge;
use super::sql::{Condition, Sql};
use super::{light, prefilter};

/// Rows per page.
pub const PAGE: usize = 5000;

/// How the order rows reach the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Without an export, only the rows the SQL prefilter keeps; with one, every row. What
    /// `settle audit` runs.
    Prefiltered,
    /// Every row, always: the reference the prefiltered pass is tested against.
    Unfiltered,
}

/// A database error in one of the audit's queries, naming what built it.
fn db_err<'a>(shown: &'a str, what: &'a str) -> impl Fn(SqlError) -> Error + 'a {
    move |e| Error::Infrastructure(format!("{shown}: {what}: {e}"))
}

/// The newest `created_at` in the orders, payments and sync log (0 when all are empty).
pub fn newest_created_at(db: &mut dyn Backend, q: &Sql) -> Result<i64, SqlError> {
    let (mut newest, m) = (0, q.mapping);
    for (table, c, column) in [
        (&m.orders.table, Column::OrderCreatedAt, &m.orders.created_at),
        (&m.order_payments.table, Column::PaymentCreatedAt, &m.order_payments.created_at),
        (&m.payment_sync_logs.table, Column::LogCreatedAt, &m.payment_sync_logs.created_at),
    ] {
        let rows = db.query(&q.newest(&table.to_string(), c, column.as_str()), &[])?;
        if let Some(t) = rows.first().map(|r| r.opt_int(0)).transpose()?.flatten() {
            newest = newest.max(t);
        }
    }
    Ok(newest)
}

/// Runs the checks without an export (prefiltered or not), inside the open transaction.
pub fn internal(
    db: &mut dyn Backend,
    q: &Sql,
    judge: &mut Judge,
    shown: &str,
    r: &mut Report,
    pass: Pass,
) -> Result<(), Error> {
    let what = "the snapshot query (orders, order_payments, fulfilments of the mapping)";
    let window = q.window(judge.since, judge.until);
    let filter = match pass {
        Pass::Prefiltered => {
            // Every order in the window is checked: those the prefilter leaves out are clean.
            let (o, cond) = (&q.mapping.orders, &window);
            let count = format!(
                "SELECT COUNT(*) FROM {} o{}",
                o.table,
                if cond.sql.is_empty() { String::new() } else { format!(" WHERE {}", cond.sql) }
            );
            let n = db.query(&count, &cond.params).map_err(db_err(shown, "counting the orders"))?;
            let n = n.first().map(|r| r.int(0)).transpose().map_err(db_err(shown, "counting the orders"))?;
            r.checked = u64::try_from(n.unwrap_or(0)).unwrap_or(0);
            window.clone().and(prefilter::internal(q, judge.latest_cutoff()))
        }
        Pass::Unfiltered => window.clone(),
    };
    let mut pages = KeyPages::new(q, filter);
    while let Some(rows) = pages.next(db).map_err(db_err(shown, what))? {
        for row in rows {
            let snap = q.mapping.read_row(row).map_err(db_err(shown, what))?;
            if pass == Pass::Unfiltered {
                r.checked += 1;
            }
            judge.order(&snap, None, r);
            pages.cursor = Some(snap.key);
        }
    }
    Ok(())
}

/// Keyset pages of the snapshot query in the orders' key order, optionally filtered.
struct KeyPages {
    first: String,
    next: String,
    filter: Condition,
    /// The last key read; `None` before the first page.
    cursor: Option<Value>,
    done: bool,
}

impl KeyPages {
    fn new(q: &Sql, filter: Condition) -> KeyPages {
        let (select, id) = (q.snapshot(), q.mapping.id_column());
        let cond = if filter.sql.is_empty() { String::new() } else { format!(" AND ({})", filter.sql) };
        let first_cond = if filter.sql.is_empty() { String::new() } else { format!(" WHERE ({})", filter.sql) };
        KeyPages {
            first: format!("{select}{first_cond} ORDER BY {id} LIMIT {PAGE}"),
            next: format!("{select} WHERE {id} > ?{cond} ORDER BY {id} LIMIT {PAGE}"),
            filter,
            cursor: None,
            done: false,
        }
    }

    fn next(&mut self, db: &mut dyn Backend) -> Result<Option<Vec<Row>>, SqlError> {
        if self.done {
            return Ok(None);
        }
        let mut params = Vec::new();
        params.extend(self.cursor.clone());
        params.extend(self.filter.params.iter().cloned());
        let sql = if self.cursor.is_some() { &self.next } else { &self.first };
        let rows = db.query(sql, &params)?;
        self.done = rows.len() < PAGE;
        Ok(Some(rows))
    }
}

/// Runs the checks with an export: every order row in code order, merged with the export's
/// entries in the same order. Rows are read in place ([`Backend::query_each`]); the plainly
/// clean ones are only counted ([`super::light`]), the others are read whole and judged.
pub fn merged(
    db: &mut dyn Backend,
    q: &Sql,
    judge: &mut Judge,
    entries: &mut dyn Iterator<Item = Result<(String, Entry), Error>>,
    shown: &str,
    r: &mut Report,
) -> Result<(), Error> {
    let what = "the snapshot query in order-code order (orders, order_payments, fulfilments of the mapping)";
    let ahead = entries.next().transpose()?;
    let mut m = Merge { q, judge, r, entries, ahead, last: String::new(), started: false, outside: 0 };
    let mut rows = CodePages::open(db, q).map_err(db_err(shown, what))?;
    let mut failed = None;
    loop {
        let mut each = |v: &dyn RowView| match m.row(v, shown, what) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        };
        let more = rows.next(db, &mut each).map_err(db_err(shown, what))?;
        if let Some(e) = failed.take() {
            return Err(e);
        }
        if !more {
            break;
        }
        rows.cursor = Some(m.last.clone());
    }
    while let Some((c, e)) = m.ahead.take() {
        m.judge.unseen(&c, &e, m.r);
        m.ahead = m.entries.next().transpose()?;
    }
    rows.close(db).map_err(db_err(shown, what))?;
    if m.outside > 0 {
        m.r.inputs.insert("orders outside the window".into(), serde_json::Value::from(m.outside));
    }
    Ok(())
}

/// A row as the merge read it: in place, or whole when it could not be read in place.
enum Read<'v> {
    Light(light::Light<'v>),
    Full(Snapshot),
}

/// The merge's state between rows.
struct Merge<'a, 'j, 'm> {
    q: &'a Sql<'m>,
    judge: &'a mut Judge<'j>,
    r: &'a mut Report,
    entries: &'a mut dyn Iterator<Item = Result<(String, Entry), Error>>,
    /// The next export line no order row has reached yet.
    ahead: Option<(String, Entry)>,
    /// The last order code read (once `started`).
    last: String,
    started: bool,
    outside: u64,
}

impl Merge<'_, '_, '_> {
    /// One order row: its export line, if any, then the checks.
    fn row(&mut self, v: &dyn RowView, shown: &str, what: &str) -> Result<(), Error> {
        let fail = db_err(shown, what);
        let read = match light::read(v, self.q.mapping) {
            Some(l) => Read::Light(l),
            None => Read::Full(self.q.mapping.read_row(v.to_row().map_err(&fail)?).map_err(&fail)?),
        };
        let (code, created): (&str, Option<i64>) = match &read {
            Read::Light(l) => (&l.code, l.created_at),
            Read::Full(s) => (&s.row.code, s.row.created_at),
        };
        if self.started && self.last.as_bytes() > code.as_bytes() {
            return Err(Error::Infrastructure(format!(
                "{shown}: the database returned order code {code:?} after {:?}: not in byte order",
                self.last
            )));
        }
        // Export lines before this code have no order row.
        let mut entry: Option<Entry> = None;
        while let Some((c, e)) = &self.ahead {
            match c.as_bytes().cmp(code.as_bytes()) {
                std::cmp::Ordering::Less => self.judge.unseen(c, e, self.r),
                std::cmp::Ordering::Equal => entry = self.ahead.take().map(|(_, e)| e),
                std::cmp::Ordering::Greater => break,
            }
            self.ahead = self.entries.next().transpose()?;
            if entry.is_some() {
                break;
            }
        }
        if self.judge.in_window(created) {
            self.r.checked += 1;
            match &read {
                Read::Light(l) if self.judge.plain(l, entry.as_ref()) => {}
                Read::Full(snap) => self.judge.order(snap, Some(entry.as_ref()), self.r),
                Read::Light(_) => {
                    let snap = self.q.mapping.read_row(v.to_row().map_err(&fail)?).map_err(&fail)?;
                    self.judge.order(&snap, Some(entry.as_ref()), self.r);
                }
            }
        } else {
            self.outside += 1;
        }
        self.last.clear();
        self.last.push_str(code);
        self.started = true;
        Ok(())
    }
}

/// The snapshot in order-code byte order: a cursor on PostgreSQL (one sort on the server),
/// keyset pages elsewhere (SQLite walks the code's index; MySQL sorts by bytes per page).
struct CodePages {
    first: String,
    next: String,
    cursor: Option<String>,
    done: bool,
    pg_cursor: bool,
}

const CURSOR: &str = "settle_audit_orders";

impl CodePages {
    fn open(db: &mut dyn Backend, q: &Sql) -> Result<CodePages, SqlError> {
        let (select, code) = (q.snapshot(), q.code_order());
        if q.kind == BackendKind::Postgres {
            db.execute(&format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {select} ORDER BY {code}"), &[])?;
            let fetch = format!("FETCH FORWARD {PAGE} FROM {CURSOR}");
            return Ok(CodePages { first: fetch.clone(), next: fetch, cursor: None, done: false, pg_cursor: true });
        }
        let param = match q.kind {
            BackendKind::Mysql => "CAST(? AS BINARY)",
            _ => "?",
        };
        Ok(CodePages {
            first: format!("{select} ORDER BY {code} LIMIT {PAGE}"),
            next: format!("{select} WHERE {code} > {param} ORDER BY {code} LIMIT {PAGE}"),
            cursor: None,
            done: false,
            pg_cursor: false,
        })
    }

    /// Hands the next page's rows to `each` (which returns `false` to stop); whether another
    /// page may follow.
    fn next(&mut self, db: &mut dyn Backend, each: &mut dyn FnMut(&dyn RowView) -> bool) -> Result<bool, SqlError> {
        if self.done {
            return Ok(false);
        }
        let n = match (&self.cursor, self.pg_cursor) {
            (Some(c), false) => db.query_each(&self.next, &[Value::from(c)], each)?,
            _ => db.query_each(&self.first, &[], each)?,
        };
        self.done = n < PAGE;
        Ok(!self.done)
    }

    fn close(&self, db: &mut dyn Backend) -> Result<(), SqlError> {
        if self.pg_cursor {
            db.execute(&format!("CLOSE {CURSOR}"), &[])?;
        }
        Ok(())
    }
}

/// `paid-never-regresses`, from the sync log: rows whose old status is paid and whose new one is
/// a regression (pending, expired, failed), one result row per order (so keyset paging is exact).
pub fn regressions(db: &mut dyn Backend, q: &Sql, judge: &Judge, shown: &str, r: &mut Report) -> Result<(), Error> {
    let m = q.mapping;
    let (l, vocab) = (&m.payment_sync_logs, m.log_states());
    let old = q.in_states(&format!("l.{}", l.old_status), None, vocab, &[State::Paid]);
    let new =
        q.in_states(&format!("l.{}", l.new_status), None, vocab, &[State::Pending, State::Expired, State::Failed]);
    if old.sql == "1 = 0" || new.sql == "1 = 0" {
        return Ok(());
    }
    let at = q.time(Column::LogCreatedAt, &format!("l.{}", l.created_at));
    let mut cond = old.and(new);
    if let Some(since) = judge.since {
        cond = cond.and(Condition::new(format!("{at} >= ?"), vec![since.into()]));
    }
    let base = format!(
        "SELECT l.{code}, MIN({at}), MIN(l.{newc}), MIN(l.{oldc}), COUNT(*) FROM {t} l WHERE {c}",
        code = l.order_code,
        newc = l.new_status,
        oldc = l.old_status,
        t = l.table,
        c = cond.sql,
    );
    let tail = format!("GROUP BY l.{code} ORDER BY l.{code} LIMIT {PAGE}", code = l.order_code);
    let what = "the sync-log query (payment_sync_logs of the mapping)";
    let mut cursor: Option<String> = None;
    loop {
        let (sql, mut params) = (
            match cursor {
                None => format!("{base} {tail}"),
                Some(_) => format!("{base} AND l.{} > ? {tail}", l.order_code),
            },
            cond.params.clone(),
        );
        params.extend(cursor.iter().map(Value::from));
        let rows = db.query(&sql, &params).map_err(db_err(shown, what))?;
        for row in &rows {
            let fail = db_err(shown, what);
            let code = row.text(0).map_err(&fail)?;
            let (at, new, old, n) = (
                row.opt_int(1).map_err(&fail)?,
                row.text(2).map_err(&fail)?,
                row.text(3).map_err(&fail)?,
                row.int(4).map_err(&fail)?,
            );
            let canonical: &str = match vocab.state(&new, None) {
                Some(st) => st.canonical(),
                None => &new,
            };
            let why = crate::systems::midtrans_orders::invariants::regressed(&code, true, canonical, &judge.statuses);
            r.add_with_fix(
                "paid-never-regresses",
                &code,
                why.map(|_| {
                    let when = at.map_or("?".to_string(), |t| judge.zone.iso(t));
                    format!("went from {old} back to {new} in the sync log at {when} ({n} log row(s))")
                }),
                format!("restore the paid status if the provider still says paid, and find what wrote {new}"),
            );
            cursor = Some(code);
        }
        if rows.len() < PAGE {
            break;
        }
    }
    Ok(())
}
