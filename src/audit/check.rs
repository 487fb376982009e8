//! The audit's pass over one snapshot: orders streamed in pages of [`PAGE`] by keyset
//! pagination on the order code (`WHERE code > ? ORDER BY code LIMIT 5000`), each row checked by
//! the simulator's own invariant functions ([`crate::systems::midtrans_orders::invariants`]),
//! then the sync log's PAID regressions, then the export's orders that have no order row.
//!
//! Memory: one page of rows, the provider export (if any), the order codes of the export seen so
//! far, and at most [`super::DETAILS_MAX`] violation details per invariant (counts stay exact).
//! What it does not do: write, or hold all rows.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::store::{Backend, SqlError, Value};
use crate::systems::midtrans_orders::invariants::{self as inv, OrderRow};
use crate::systems::midtrans_orders::mapping::Mapping;

use super::export::Export;
use super::{Options, Report};

/// Rows per page.
pub const PAGE: usize = 5000;

fn db_err(shown: &str) -> impl Fn(SqlError) -> Error + '_ {
    move |e| Error::Infrastructure(format!("{shown}: {e}"))
}

/// The newest `created_at` in the orders, payments and sync log (0 when all are empty).
pub fn newest_created_at(db: &mut dyn Backend, m: &Mapping) -> Result<i64, SqlError> {
    let mut newest = 0;
    for (table, column) in [
        (&m.orders.table, &m.orders.created_at),
        (&m.order_payments.table, &m.order_payments.created_at),
        (&m.payment_sync_logs.table, &m.payment_sync_logs.created_at),
    ] {
        let rows = db.query(&format!("SELECT MAX({column}) FROM {table}"), &[])?;
        if let Some(t) = rows.first().map(|r| r.opt_int(0)).transpose()?.flatten() {
            newest = newest.max(t);
        }
    }
    Ok(newest)
}

/// Checks one order row.
fn check_order(o: &OrderRow, opts: &Options, export: Option<&Export>, as_of: i64, r: &mut Report) {
    let s = &opts.mapping.statuses;
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
    let cutoff = as_of.saturating_sub(opts.stuck_after_ms);
    r.add("pending-not-stuck", &o.code, inv::stuck_pending(o, cutoff, s));
    let Some(export) = export else { return };
    let entry = export.entries.get(&o.code);
    // The provider's word counts once the grace period since it has passed.
    let settled = |t: i64| t.saturating_add(opts.grace_ms) <= as_of;
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

/// Runs every check inside the open read-only transaction.
pub fn run(
    db: &mut dyn Backend,
    opts: &Options,
    export: Option<&Export>,
    shown: &str,
    r: &mut Report,
) -> Result<(), Error> {
    let m = &opts.mapping;
    let as_of = match opts.as_of {
        Some(t) => t,
        None => newest_created_at(db, m).map_err(db_err(shown))?.max(export.and_then(Export::newest).unwrap_or(0)),
    };
    r.as_of = as_of;
    let (select, id) = (m.snapshot_sql(), m.id_column());
    let first = format!("{select} ORDER BY {id} LIMIT {PAGE}");
    let next = format!("{select} WHERE {id} > ? ORDER BY {id} LIMIT {PAGE}");
    // Export orders that have an order row; only needed with an export.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut cursor: Option<i64> = None;
    loop {
        let rows = match &cursor {
            None => db.query(&first, &[]),
            Some(c) => db.query(&next, &[Value::from(*c)]),
        }
        .map_err(db_err(shown))?;
        let full = rows.len() == PAGE;
        for row in rows {
            let order_id = row.int(10).map_err(db_err(shown))?;
            let o = OrderRow::from_row(row).map_err(db_err(shown))?;
            r.orders_checked += 1;
            check_order(&o, opts, export, as_of, r);
            if export.is_some_and(|e| e.entries.contains_key(&o.code)) {
                seen.insert(o.code.clone());
            }
            cursor = Some(order_id);
        }
        if !full {
            break;
        }
    }
    regressions(db, opts, shown, r)?;
    if let Some(export) = export {
        let s = &m.statuses;
        for (code, e) in export.entries.iter().filter(|(c, _)| !seen.contains(*c)) {
            if e.paid() && e.time.saturating_add(opts.grace_ms) <= as_of {
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

/// `paid-never-regresses`, from the sync log: rows whose old status is PAID and whose new one is
/// a regression status, one result row per order (so keyset pagination is exact).
fn regressions(db: &mut dyn Backend, opts: &Options, shown: &str, r: &mut Report) -> Result<(), Error> {
    let (l, s) = (&opts.mapping.payment_sync_logs, &opts.mapping.statuses);
    if s.regressions.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; s.regressions.len()].join(", ");
    let base = format!(
        "SELECT {code}, MIN({at}), MIN({new}), COUNT(*) FROM {t} WHERE {old} = ? AND {new} IN ({marks})",
        code = l.order_code,
        at = l.created_at,
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
