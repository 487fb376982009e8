//! Seed 002's invariants over a real service's database, read through the `settle audit`
//! mapping for `fanvue-revenue` (`[models]` and `[transactions]`), against the exact ledgers of
//! settle's Fanvue ([`crate::providers::fanvue::Fanvue`]).
//!
//! always (read every `check_every` and after the load):
//! - `revenue-total-matches`: each model's `revenue_total` = Σ `amount` of its stored rows (the
//!   simulator's and the audit's own function);
//! - `no-duplicate-transactions`: no Fanvue id stored twice for a model;
//! - `cursor-never-past-unstored`, when the mapping names the cursor column (`[models] cursor`,
//!   Unix epoch milliseconds): no ledger row dated before a model's cursor stays unstored for
//!   longer than `[fanvue] grace` — the next sync starts at the cursor and never reads it again.
//!
//! eventually (after `settle_for` of liveness):
//! - `every-row-stored-once`: every ledger row visible before the liveness phase is stored
//!   exactly once, and every stored row is a ledger row with the ledger's gross (the simulator's
//!   halves, decided by [`crate::check::money`]);
//! - `revenue-matches-provider`: each model's `revenue_total` = Σ gross of its whole ledger.
//!
//! Models are matched to creators by name (the service gets them in `SETTLE_FANVUE_CREATORS`).
//!
//! What it does not check: the cursor when the mapping names none, a cursor kept in another unit
//! than milliseconds, the dashboard figure (a service need not have one), net amounts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::audit::fanvue_revenue::Mapping;
use crate::check::money::{self, Verdict};
use crate::check::{Finding, InvariantKind, Violation};
use crate::providers::fanvue::{Fanvue, provider::short, wire::format_usd};
use crate::store::{Backend, SqlError};
use crate::systems::fanvue_revenue::ModelInfo;
use crate::systems::fanvue_revenue::invariants::{ModelRow, revenue_total_mismatch};

/// One model as its database holds it.
#[derive(Debug, Default)]
struct Held {
    id: i64,
    revenue_total: i64,
    /// The cursor, when the mapping names its column and it is set.
    cursor: Option<i64>,
    /// (Fanvue id, amount), every stored row.
    rows: Vec<(String, i64)>,
}

/// The checks of one run.
pub struct RevenueChecks {
    mapping: Mapping,
    models: Vec<ModelInfo>,
    /// Simulated ms a row may sit unstored behind the cursor.
    grace_ms: u64,
    /// (model, Fanvue id) → when a check first saw the row behind the cursor, unstored.
    missing_since: Mutex<BTreeMap<(String, String), u64>>,
}

impl RevenueChecks {
    pub fn new(mapping: Mapping, models: Vec<ModelInfo>, grace_ms: u64) -> Self {
        RevenueChecks { mapping, models, grace_ms, missing_since: Mutex::default() }
    }

    fn read(&self, db: &mut dyn Backend) -> Result<BTreeMap<String, Held>, SqlError> {
        let (md, t) = (&self.mapping.models, &self.mapping.transactions);
        let mut out: BTreeMap<String, Held> = BTreeMap::new();
        let cursor = md.cursor.as_ref().map_or_else(|| "NULL".to_string(), |c| c.to_string());
        let sql = format!(
            "SELECT {id}, {name}, {total}, {cursor} FROM {mt} ORDER BY {id}",
            id = md.id,
            name = md.name,
            total = md.revenue_total,
            mt = md.table
        );
        let mut names = BTreeMap::new();
        for r in db.query(&sql, &[])? {
            let (id, name) = (r.int(0)?, r.text(1)?);
            names.insert(id, name.clone());
            out.insert(name, Held { id, revenue_total: r.int(2)?, cursor: r.opt_int(3)?, rows: Vec::new() });
        }
        let sql = format!(
            "SELECT {fk}, {pid}, {amount} FROM {tt} ORDER BY {fk}, {pid}",
            fk = t.model_id,
            pid = t.provider_id,
            amount = t.amount,
            tt = t.table
        );
        for r in db.query(&sql, &[])? {
            if let Some(h) = names.get(&r.int(0)?).and_then(|n| out.get_mut(n)) {
                h.rows.push((r.text(1)?, r.int(2)?));
            }
        }
        Ok(out)
    }

    /// The `always` invariants now (simulated `t_ms`).
    pub fn always(&self, provider: &Fanvue, db: &mut dyn Backend, t_ms: u64) -> Result<Vec<Violation>, SqlError> {
        let held = self.read(db)?;
        let mut found = always_over(&held, t_ms);
        found.extend(self.cursor_check(provider, &held, t_ms));
        Ok(found)
    }

    /// `cursor-never-past-unstored`: every ledger row dated before a model's cursor is stored,
    /// or has been missing for less than the grace.
    fn cursor_check(&self, provider: &Fanvue, held: &BTreeMap<String, Held>, t_ms: u64) -> Option<Violation> {
        let mut since = crate::sim::world::lock(&self.missing_since);
        let mut missing_now = BTreeSet::new();
        let mut findings = Vec::new();
        for m in &self.models {
            let Some((h, cursor)) = held.get(&m.name).and_then(|h| h.cursor.map(|c| (h, c))) else { continue };
            let stored: BTreeSet<&str> = h.rows.iter().map(|(id, _)| id.as_str()).collect();
            let behind: Vec<String> = provider
                .with_ledger(&m.creator, |l| {
                    l.before(cursor).iter().filter(|r| !stored.contains(r.id.as_str())).map(|r| r.id.clone()).collect()
                })
                .unwrap_or_default();
            for id in behind {
                let key = (m.name.clone(), id);
                let first = *since.entry(key.clone()).or_insert(t_ms);
                if t_ms.saturating_sub(first) >= self.grace_ms {
                    let detail = format!(
                        "{}: txn {} is dated before the cursor {} but not stored, since {} (grace {})",
                        m.name,
                        short(&key.1),
                        crate::providers::fanvue::wire::format_instant(cursor),
                        crate::sim::fmt_ms(first),
                        crate::sim::Millis(self.grace_ms)
                    );
                    findings.push(Finding::about(short(&key.1), detail).and(&m.name));
                }
                missing_now.insert(key);
            }
        }
        since.retain(|k, _| missing_now.contains(k));
        (!findings.is_empty())
            .then(|| Violation::from_findings("cursor-never-past-unstored", InvariantKind::Always, t_ms, findings))
    }

    /// Every invariant at the end: the `always` ones, then the `eventually` ones. `visible_by`
    /// is the wall instant (Unix ms) the liveness phase began: rows visible by then must be stored.
    pub fn at_end(
        &self,
        provider: &Fanvue,
        db: &mut dyn Backend,
        t_ms: u64,
        visible_by: i64,
    ) -> Result<Vec<Violation>, SqlError> {
        let held = self.read(db)?;
        let mut found = always_over(&held, t_ms);
        found.extend(self.cursor_check(provider, &held, t_ms));
        let (mut rows, mut totals) = (Vec::new(), Vec::new());
        let empty = Held::default();
        for m in &self.models {
            let h = held.get(&m.name).unwrap_or(&empty);
            let truth = provider.total(&m.creator);
            if !held.contains_key(&m.name) {
                totals.push(Finding::about(&m.name, format!("{}: no such model in the database", m.name)));
            } else if h.revenue_total != truth {
                let detail = format!(
                    "{}: revenue_total {} but Fanvue says {}",
                    m.name,
                    format_usd(h.revenue_total),
                    format_usd(truth)
                );
                totals.push(Finding::about(&m.name, detail));
            }
            let ledger: BTreeMap<String, (i64, i64)> = provider
                .with_ledger(&m.creator, |l| {
                    l.rows().iter().map(|r| (r.id.clone(), (r.gross, r.visible_at_ms))).collect()
                })
                .unwrap_or_default();
            rows.extend(stored_once(&m.name, &ledger, &h.rows, visible_by));
        }
        let mut push = |name: &str, findings: Vec<Finding>| {
            if !findings.is_empty() {
                found.push(Violation::from_findings(name, InvariantKind::Eventually, t_ms, findings));
            }
        };
        push("every-row-stored-once", rows);
        push("revenue-matches-provider", totals);
        Ok(found)
    }
}

fn always_over(held: &BTreeMap<String, Held>, t_ms: u64) -> Vec<Violation> {
    let (mut totals, mut dups) = (Vec::new(), Vec::new());
    for (name, h) in held {
        let mut count: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, _) in &h.rows {
            *count.entry(id).or_default() += 1;
        }
        let row = ModelRow {
            id: h.id,
            name: name.clone(),
            revenue_total: h.revenue_total,
            cursor: None,
            stored_sum: h.rows.iter().map(|r| r.1).sum(),
            stored_rows: h.rows.len() as i64,
            distinct_ids: count.len() as i64,
            distinct_behind: 0,
        };
        totals.extend(revenue_total_mismatch(&row).map(|d| Finding::about(name, d)));
        for (id, n) in count.into_iter().filter(|(_, n)| money::repeated(*n)) {
            dups.push(Finding::about(short(id), format!("{name}: txn {} stored {n} times", short(id))).and(name));
        }
    }
    let mut found = Vec::new();
    if !totals.is_empty() {
        found.push(Violation::from_findings("revenue-total-matches", InvariantKind::Always, t_ms, totals));
    }
    if !dups.is_empty() {
        found.push(Violation::from_findings("no-duplicate-transactions", InvariantKind::Always, t_ms, dups));
    }
    found
}

/// `every-row-stored-once` for one model: `ledger` is id → (gross, visible at), `stored` the
/// model's (id, amount) rows.
fn stored_once(
    name: &str,
    ledger: &BTreeMap<String, (i64, i64)>,
    stored: &[(String, i64)],
    visible_by: i64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_id: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (id, amount) in stored {
        by_id.entry(id).or_default().push(*amount);
    }
    let mut found = |id: &str, detail: String| out.push(Finding::about(short(id), detail).and(name));
    for (id, (gross, visible_at)) in ledger {
        let n = by_id.get(id.as_str()).map_or(0, Vec::len) as i64;
        let record = (n > 0).then_some(Verdict::Paid);
        if money::unrecorded(Verdict::Paid, record).is_some() {
            if *visible_at <= visible_by {
                found(id, format!("{name}: txn {} ({}) never stored", short(id), format_usd(*gross)));
            }
        } else if money::repeated(n) {
            found(id, format!("{name}: txn {} stored {n} times", short(id)));
        }
    }
    for (id, amounts) in &by_id {
        match ledger.get(*id) {
            None if money::paid_without_provider(true, false) => {
                found(id, format!("{name}: txn {} is stored but not on Fanvue", short(id)));
            }
            Some((gross, _)) if amounts.iter().any(|a| a != gross) => found(
                id,
                format!(
                    "{name}: txn {} stored as {} but Fanvue says {}",
                    short(id),
                    format_usd(amounts[0]),
                    format_usd(*gross)
                ),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_row_a_double_and_a_stranger_are_each_named() {
        let ledger: BTreeMap<String, (i64, i64)> = [
            ("0000000a-x".to_string(), (500, 10)),
            ("0000000b-x".to_string(), (700, 10)),
            ("0000000c-x".to_string(), (900, 10_000)),
        ]
        .into();
        let stored =
            vec![("0000000a-x".to_string(), 500), ("0000000a-x".to_string(), 500), ("0000000f-x".to_string(), 1)];
        let found = stored_once("lanaa", &ledger, &stored, 100);
        let details: Vec<&str> = found.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details,
            vec![
                "lanaa: txn 0000000a stored 2 times",
                "lanaa: txn 0000000b ($7.00) never stored",
                "lanaa: txn 0000000f is stored but not on Fanvue",
            ],
            "0000000c became visible after the liveness phase began, so it may be missing"
        );
    }

    #[test]
    fn totals_and_duplicates_are_always_checked() {
        let held: BTreeMap<String, Held> = [(
            "bella".to_string(),
            Held { id: 2, revenue_total: 100, cursor: None, rows: vec![("1-a".into(), 60), ("1-a".into(), 60)] },
        )]
        .into();
        let v = always_over(&held, 5);
        assert_eq!(
            v.iter().map(|v| v.invariant.as_str()).collect::<Vec<_>>(),
            ["revenue-total-matches", "no-duplicate-transactions"]
        );
        assert!(
            always_over(
                &BTreeMap::from([(
                    "c".to_string(),
                    Held { id: 1, revenue_total: 60, cursor: None, rows: vec![("1-a".into(), 60)] }
                )]),
                5
            )
            .is_empty()
        );
    }
}
