//! The audit's pass over one snapshot: order rows read in keyset pages of [`PAGE`] in primary-key
//! order (`WHERE id > ? ORDER BY id LIMIT 5000`), each row checked by the simulator's own
//! invariant functions ([`crate::systems::midtrans_orders::invariants`]), then the sync log's
//! PAID regressions, then the export's orders that have no order row.
//!
//! Without a provider export the pages carry the SQL prefilter ([`super::prefilter`]): the
//! database returns only the rows that might violate an internal invariant, and the orders are
//! counted with one `COUNT(*)`. With an export every row is read: each PAID order needs the
//! export's word, and each order the export names its amount compared ([`Pass`]).
//!
//! Memory: one page of rows, the provider export (if any) with one index entry and one flag per
//! line, and at most [`crate::audit::DETAILS_MAX`] violation details per invariant (counts stay exact).
//! What it does not do: write, or hold all rows.

use std::collections::HashMap;

use crate::error::Error;
use crate::store::{Backend, Row, SqlError, Value};
use crate::systems::midtrans_orders::invariants::{self as inv, OrderRow};

use super::super::Report;
use super::super::export::{Entry, Export};
use super::Settings;
use super::prefilter::{self, Condition};
use super::sql::Sql;

/// Rows per page.
pub const PAGE: usize = 5000;

fn db_err(shown: &str) -> impl Fn(SqlError) -> Error + '_ {
    move |e| Error::Infrastructure(format!("{shown}: {e}"))
}

/// The newest `created_at` in the orders, payments and sync log (0 when all are empty).
pub fn newest_created_at(db: &mut dyn Backend, q: &Sql) -> Result<i64, SqlError> {
    let (mut newest, m) = (0, q.mapping);
    for (table, column) in [
        (&m.orders.table, &m.orders.created_at),
        (&m.order_payments.table, &m.order_payments.created_at),
        (&m.payment_sync_logs.table, &m.payment_sync_logs.created_at),
    ] {
        let rows = db.query(&q.newest(table.as_str(), column.as_str()), &[])?;
        if let Some(t) = rows.first().map(|r| r.opt_int(0)).transpose()?.flatten() {
            newest = newest.max(t);
        }
    }
    Ok(newest)
}

/// Checks one order row; `export` is `Some(its entry for this order, if any)` when there is one.
fn check_order(o: &OrderRow, settings: &Settings, export: Option<Option<&Entry>>, as_of: i64, r: &mut Report) {
    let s = &settings.mapping.statuses;
    let mut out = Vec::new();
    r.add("order-payment-agree", &o.code, inv::order_payment_agree(o));
    inv::paid_at_iff_paid(o, s, &mut out);
    for m in out.drain(..) {
        r.add("paid-at-iff-paid", &o.code, Some(m));
    }
    inv::fulfilled_at_most_once(o, None, &mut out);
    for m in out.drain(..) {
        r.add("fulfilled-at-most-once", &o.code, Some(m));
    }
    r.add("paid-fulfilled-once", &o.code, inv::paid_fulfilled_once(o, s));
    let cutoff = as_of.saturating_sub(settings.stuck_after_ms);
    r.add("pending-not-stuck", &o.code, inv::stuck_pending(o, cutoff, s));
    let Some(entry) = export else { return };
    // The provider's word counts once the grace period since it has passed.
    let settled = |t: i64| t.saturating_add(settings.grace_ms) <= as_of;
    if let Some(e) = entry.filter(|e| e.paid() && settled(e.time)) {
        r.add(
            "provider-paid-implies-paid",
            &o.code,
            inv::provider_paid_implies_paid(&o.code, &e.describe(), Some(o), s),
        );
    }
    if entry.is_none_or(|e| !e.paid() && settled(e.time)) {
        let why = inv::paid_without_provider(o, false, s).map(|m| match entry {
            Some(e) => format!("{m} (provider says {})", e.describe()),
            None => format!("{m} (no line in the provider export)"),
        });
        r.add("paid-only-if-provider-paid", &o.code, why);
    }
    if let Some(e) = entry {
        r.add("amount-matches-provider", &o.code, inv::amount_matches_provider(o, e.amount));
    }
}

/// How the order rows reach the invariant functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Without an export, only the rows the SQL prefilter ([`super::prefilter`]) keeps; with
    /// one, every row. What `settle audit` runs.
    Prefiltered,
    /// Every row, always: the reference the prefiltered pass is tested against.
    Unfiltered,
}

/// Runs every check inside the open read-only transaction.
pub fn run(
    db: &mut dyn Backend,
    settings: &Settings,
    export: Option<&Export>,
    shown: &str,
    r: &mut Report,
    pass: Pass,
) -> Result<(), Error> {
    let m = &settings.mapping;
    let q = Sql { kind: db.kind(), mapping: m, types: settings.types };
    let as_of = match settings.as_of {
        Some(t) => t,
        None => newest_created_at(db, &q).map_err(db_err(shown))?.max(export.and_then(Export::newest).unwrap_or(0)),
    };
    r.as_of = as_of;
    let filter = match (pass, export) {
        (Pass::Prefiltered, None) => {
            // Every order is checked: those the prefilter leaves out are proven clean.
            let count = format!("SELECT COUNT(*) FROM {}", m.orders.table);
            let n = db.query(&count, &[]).map_err(db_err(shown))?.first().map(|r| r.int(0)).transpose();
            r.checked = u64::try_from(n.map_err(db_err(shown))?.unwrap_or(0)).unwrap_or(0);
            Some(prefilter::internal(&q, as_of.saturating_sub(settings.stuck_after_ms)))
        }
        _ => None,
    };
    let mut lookup = export.map(Lookup::new);
    let mut page = Pages::new(&q, filter);
    while let Some(rows) = page.next(db).map_err(db_err(shown))? {
        for row in rows {
            let order_id = row.int(10).map_err(db_err(shown))?;
            let o = OrderRow::from_row(row).map_err(db_err(shown))?;
            if page.filter.is_none() {
                r.checked += 1;
            }
            let entry = lookup.as_mut().map(|l| l.find(&o.code));
            check_order(&o, settings, entry, as_of, r);
            page.cursor = Some(order_id);
        }
    }
    regressions(db, &q, shown, r)?;
    if let Some(lookup) = lookup {
        let s = &m.statuses;
        for (code, e) in lookup.unseen() {
            if e.paid() && e.time.saturating_add(settings.grace_ms) <= as_of {
                r.add(
                    "provider-paid-implies-paid",
                    code,
                    inv::provider_paid_implies_paid(code, &e.describe(), None, s),
                );
            }
        }
    }
    Ok(())
}

/// The export indexed for one pass: one hash probe per order row (giving the entry and its
/// position) instead of a walk down a tree of strings, and a flag per entry for "has an order
/// row" instead of a set of copied codes. The hash map is only ever asked, never iterated: what
/// is reported comes in the export's own order, by order code.
struct Lookup<'a> {
    export: &'a Export,
    index: HashMap<&'a str, (usize, &'a Entry)>,
    seen: Vec<bool>,
}

impl<'a> Lookup<'a> {
    fn new(export: &'a Export) -> Lookup<'a> {
        let mut index = HashMap::with_capacity(export.entries.len());
        index.extend(export.entries.iter().enumerate().map(|(i, (code, e))| (code.as_str(), (i, e))));
        Lookup { export, index, seen: vec![false; export.entries.len()] }
    }

    /// The entry for `code`, if any, marked seen.
    fn find(&mut self, code: &str) -> Option<&'a Entry> {
        let (i, e) = *self.index.get(code)?;
        self.seen[i] = true;
        Some(e)
    }

    /// The entries no order row matched, by order code.
    fn unseen(self) -> impl Iterator<Item = (&'a String, &'a Entry)> {
        self.export.entries.iter().zip(self.seen).filter(|(_, seen)| !seen).map(|(e, _)| e)
    }
}

/// Keyset pages of the snapshot query, in primary-key order, optionally prefiltered.
struct Pages {
    first: String,
    next: String,
    filter: Option<Condition>,
    /// The last order id read; `None` before the first page.
    cursor: Option<i64>,
    done: bool,
}

impl Pages {
    fn new(q: &Sql, filter: Option<Condition>) -> Pages {
        let (select, id) = (q.snapshot(), q.mapping.id_column());
        let (first, next) = match &filter {
            None => (
                format!("{select} ORDER BY {id} LIMIT {PAGE}"),
                format!("{select} WHERE {id} > ? ORDER BY {id} LIMIT {PAGE}"),
            ),
            Some(c) => (
                format!("{select} WHERE ({}) ORDER BY {id} LIMIT {PAGE}", c.sql),
                format!("{select} WHERE {id} > ? AND ({}) ORDER BY {id} LIMIT {PAGE}", c.sql),
            ),
        };
        Pages { first, next, filter, cursor: None, done: false }
    }

    /// The next page, or `None` after the last one.
    fn next(&mut self, db: &mut dyn Backend) -> Result<Option<Vec<Row>>, SqlError> {
        if self.done {
            return Ok(None);
        }
        let mut params = Vec::new();
        params.extend(self.cursor.map(Value::from));
        params.extend(self.filter.iter().flat_map(|c| c.params.iter().cloned()));
        let sql = if self.cursor.is_some() { &self.next } else { &self.first };
        let rows = db.query(sql, &params)?;
        self.done = rows.len() < PAGE;
        Ok(Some(rows))
    }
}

/// `paid-never-regresses`, from the sync log: rows whose old status is PAID and whose new one is
/// a regression status, one result row per order (so keyset pagination is exact).
fn regressions(db: &mut dyn Backend, q: &Sql, shown: &str, r: &mut Report) -> Result<(), Error> {
    let (l, s) = (&q.mapping.payment_sync_logs, &q.mapping.statuses);
    if s.regressions.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; s.regressions.len()].join(", ");
    let base = format!(
        "SELECT {code}, MIN({at}), MIN({new}), COUNT(*) FROM {t} WHERE {old} = ? AND {new} IN ({marks})",
        code = l.order_code,
        at = q.time(l.created_at.as_str()),
        new = l.new_status,
        t = l.table,
        old = l.old_status,
    );
    let tail = format!("GROUP BY {code} ORDER BY {code} LIMIT {PAGE}", code = l.order_code);
    let mut params: Vec<Value> = std::iter::once(&s.paid).chain(&s.regressions).map(Value::from).collect();
    let mut cursor: Option<String> = None;
    loop {
        let sql = match cursor {
            None => format!("{base} {tail}"),
            Some(_) => format!("{base} AND {} > ? {tail}", l.order_code),
        };
        let rows = db.query(&sql, &params).map_err(db_err(shown))?;
        for row in &rows {
            let code = row.text(0).map_err(db_err(shown))?;
            let (at, new, n) = (row.opt_int(1), row.text(2), row.int(3));
            let (at, new, n) = (at.map_err(db_err(shown))?, new.map_err(db_err(shown))?, n.map_err(db_err(shown))?);
            let why = inv::regressed(&code, true, &new, s).map(|m| {
                format!("{m} in the sync log at {} ({n} log row(s))", at.map_or("?".into(), |t| t.to_string()))
            });
            r.add("paid-never-regresses", &code, why);
            cursor = Some(code);
        }
        if rows.len() < PAGE {
            break;
        }
        if let Some(c) = &cursor {
            params.truncate(1 + s.regressions.len());
            params.push(Value::from(c));
        }
    }
    Ok(())
}
