//! The SQL of seed 002's units of work, each a function over one open transaction: loading a
//! model, storing a page (insert-if-absent, cursor, `updateModelStats`), moving or resetting the
//! cursor, reading the dashboard. Portable SQL with `?` placeholders, on every backend.
//!
//! Which of these run together in one unit is the caller's choice ([`super::sync`]): that choice
//! is where the flaws live. What this module does not do: talk to the network.

use super::ModelInfo;
use crate::store::{SqlError, Tx, Value};

/// One earnings row as the app stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRow {
    pub fanvue_id: String,
    pub date_ms: i64,
    /// Gross, USD cents.
    pub amount: i64,
    pub net: i64,
    pub source: String,
    pub related: Option<String>,
}

/// Inserts the connected creators (before a run, outside the simulation).
pub fn insert_models(tx: &mut Tx, models: &[ModelInfo], now: i64) -> Result<(), SqlError> {
    for m in models {
        tx.execute(
            "INSERT INTO models (id, name, fanvue_creator_uuid, fanvue_access_token, revenue_total, last_transaction_sync, updated_at) VALUES (?, ?, ?, ?, 0, NULL, ?)",
            &[m.id.into(), Value::from(&m.name), Value::from(&m.creator), Value::from(&m.token), now.into()],
        )?;
    }
    Ok(())
}

/// What a sync reads first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub token: Option<String>,
    /// `last_transaction_sync`: where to start reading.
    pub cursor: Option<i64>,
    /// Σ amount stored now (read only by the `stale-stats` flaw's sync).
    pub sum: i64,
}

pub fn load_model(tx: &mut Tx, model_id: i64, with_sum: bool) -> Result<Option<Loaded>, SqlError> {
    let Some(row) =
        tx.query_opt("SELECT fanvue_access_token, last_transaction_sync FROM models WHERE id = ?", &[model_id.into()])?
    else {
        return Ok(None);
    };
    let sum = if with_sum { stored_sum(tx, model_id)? } else { 0 };
    Ok(Some(Loaded { token: row.opt_text(0)?, cursor: row.opt_int(1)?, sum }))
}

/// The ids of the connected models, in order.
pub fn list_models(tx: &mut Tx) -> Result<Vec<i64>, SqlError> {
    let rows = tx.query("SELECT id FROM models WHERE fanvue_access_token IS NOT NULL ORDER BY id", &[])?;
    rows.iter().map(|r| r.int(0)).collect()
}

fn stored_sum(tx: &mut Tx, model_id: i64) -> Result<i64, SqlError> {
    // SUM is NUMERIC/DECIMAL on PostgreSQL and MySQL; integral values decode to integers.
    let row = tx.query_opt("SELECT SUM(amount) FROM fanvue_transactions WHERE model_id = ?", &[model_id.into()])?;
    Ok(row.map(|r| r.opt_int(0)).transpose()?.flatten().unwrap_or(0))
}

/// How `revenue_total` is set by a page's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stats {
    /// `updateModelStats` in the same unit: SUM(amount) read now.
    Recompute,
    /// `stale-stats`: this base (read earlier) plus what this unit inserts.
    FromBase(i64),
}

/// What storing a page did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub inserted: Vec<TxRow>,
    pub already: usize,
    pub cursor: Option<i64>,
    pub revenue_total: i64,
}

impl Stored {
    // #[gamma::skip(reason = "read only with stale-stats on", tag = "flaw")]
    pub fn inserted_sum(&self) -> i64 {
        self.inserted.iter().map(|r| r.amount).sum()
    }
}

/// Stores a page: each row not stored yet (or every row, without `dedupe`), then the cursor
/// (unless `cursor` is `None`), then `revenue_total`.
pub fn store_page(
    tx: &mut Tx,
    model_id: i64,
    rows: &[TxRow],
    dedupe: bool,
    cursor: Option<i64>,
    stats: Stats,
    now: i64,
) -> Result<Stored, SqlError> {
    let mut known = std::collections::BTreeSet::new();
    // #[gamma::skip(logical, reason = "`dedupe` is false only with no-unique on, and the read for an empty page finds nothing to skip", tag = "flaw")]
    if dedupe && !rows.is_empty() {
        // The emulation of `INSERT … ON CONFLICT (fanvue_id) DO NOTHING`, portable to MySQL: the
        // rows of this model in the page's date span. Rows are never redated, so this suffices.
        let lo = rows.iter().map(|r| r.date_ms).min().unwrap_or(0);
        let hi = rows.iter().map(|r| r.date_ms).max().unwrap_or(0);
        let existing = tx.query(
            "SELECT fanvue_id FROM fanvue_transactions WHERE model_id = ? AND transaction_date >= ? AND transaction_date <= ?",
            &[model_id.into(), lo.into(), hi.into()],
        )?;
        for r in existing {
            known.insert(r.text(0)?);
        }
    }
    let mut out = Stored::default();
    for r in rows {
        // #[gamma::skip(logical.and_remove_left, reason = "`dedupe` is false only with no-unique on", tag = "flaw")]
        if dedupe && !known.insert(r.fanvue_id.clone()) {
            // #[gamma::skip(assign, reason = "the count only labels the page in the trace", tag = "trace")]
            out.already += 1;
            continue;
        }
        tx.execute(
            "INSERT INTO fanvue_transactions (model_id, fanvue_id, transaction_date, amount, net_amount, source, related_fanvue_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                model_id.into(),
                Value::from(&r.fanvue_id),
                r.date_ms.into(),
                r.amount.into(),
                r.net.into(),
                Value::from(&r.source),
                r.related.clone().into(),
                now.into(),
            ],
        )?;
        out.inserted.push(r.clone());
    }
    out.revenue_total = match stats {
        Stats::Recompute => stored_sum(tx, model_id)?,
        // #[gamma::skip(arith, reason = "stale-stats' sum, read only with that flaw on", tag = "flaw")]
        Stats::FromBase(base) => base + out.inserted_sum(),
    };
    out.cursor = match cursor {
        Some(target) => Some(advance_cursor(tx, model_id, target, now)?),
        None => current_cursor(tx, model_id)?,
    };
    tx.execute(
        "UPDATE models SET revenue_total = ?, updated_at = ? WHERE id = ?",
        &[out.revenue_total.into(), now.into(), model_id.into()],
    )?;
    Ok(out)
}

// #[gamma::skip(fn_value.ok, reason = "advance_cursor's never-back guard: without the current cursor a cursor can only move back, which costs re-reads (deduplicated), never a row", tag = "equivalent")]
fn current_cursor(tx: &mut Tx, model_id: i64) -> Result<Option<i64>, SqlError> {
    let row = tx.query_opt("SELECT last_transaction_sync FROM models WHERE id = ?", &[model_id.into()])?;
    Ok(row.map(|r| r.opt_int(0)).transpose()?.flatten())
}

/// Moves the cursor forward to `target` (never back: a concurrent sync may be further on);
/// returns where it is now.
pub fn advance_cursor(tx: &mut Tx, model_id: i64, target: i64, now: i64) -> Result<i64, SqlError> {
    let to = current_cursor(tx, model_id)?.map_or(target, |c| c.max(target));
    tx.execute(
        "UPDATE models SET last_transaction_sync = ?, updated_at = ? WHERE id = ?",
        &[to.into(), now.into(), model_id.into()],
    )?;
    Ok(to)
}

/// The force-sync's reset: the next read starts from the beginning.
pub fn reset_cursor(tx: &mut Tx, model_id: i64, now: i64) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE models SET last_transaction_sync = NULL, updated_at = ? WHERE id = ?",
        &[now.into(), model_id.into()],
    )?;
    Ok(())
}

/// The dashboard's rows: (name, revenue_total) of every connected model.
pub fn dashboard_rows(tx: &mut Tx) -> Result<Vec<(String, i64)>, SqlError> {
    let rows =
        tx.query("SELECT name, revenue_total FROM models WHERE fanvue_access_token IS NOT NULL ORDER BY id", &[])?;
    rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
}
