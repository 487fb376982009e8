//! Seed 002's invariants: one aggregate query per model over `models` and
//! `fanvue_transactions`, plus each creator's ledger (the provider's ground truth).
//!
//! always (after every unit that wrote, for the model it wrote):
//! - `revenue-total-matches`: `revenue_total` = Σ `amount` of the model's stored rows.
//! - `no-duplicate-transactions`: no Fanvue id is stored twice.
//! - `cursor-never-past-unstored`: no ledger row dated before `last_transaction_sync` (where the
//!   next sync starts reading) stays unstored for longer than `grace`. The grace lets a design
//!   move the cursor and store the rows in two units a few milliseconds apart and still pass
//!   when nothing fails between them; a row still missing a grace later is lost for good, since
//!   no sync will read it again. Rows a damaged start left behind the cursor (the scenario's
//!   given, [`super::start`]) are left out until the model's cursor is first seen reset to
//!   before them, and judged like any other row from then on.
//!
//! eventually (end of the liveness phase):
//! - `every-row-stored-once`: every ledger row visible before the liveness phase is stored
//!   exactly once, and every stored row is a ledger row with the ledger's amount.
//! - `revenue-matches-provider`: each model's `revenue_total` = Σ gross of its whole ledger.
//! - `dashboard-matches-provider`: the dashboard's total, loaded at the end of the run, = Σ
//!   gross of every ledger: what the seed's owner should have seen instead of $5,093.
//!
//! The per-transaction money properties (`no-duplicate-transactions` and the three halves of
//! `every-row-stored-once`: paid ⇒ stored, stored at most once, stored ⇒ on Fanvue) decide with
//! the shared library ([`crate::check::money`]), a ledger row being a payment Fanvue took; the
//! totals and the cursor are this system's own.
//!
//! What they do not check: net amounts (the app stores them, nothing reads them), or a missing
//! row hidden behind the cursor by a phantom row in the same span (equal counts); the eventual
//! `every-row-stored-once` catches both of those.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::tally::Tally;
use super::{Displayed, ModelInfo};
use crate::check::money::{self, Verdict};
use crate::check::{CheckCtx, Finding, Invariant};
use crate::providers::fanvue::Fanvue;
use crate::providers::fanvue::provider::short;
use crate::sim::world::lock;
use crate::sim::{Millis, fmt_ms};
use crate::store::{Db, Row, SqlError, Value};

/// One model as the invariants see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub revenue_total: i64,
    pub cursor: Option<i64>,
    pub stored_sum: i64,
    pub stored_rows: i64,
    pub distinct_ids: i64,
    /// Distinct ids stored with a date before the cursor.
    pub distinct_behind: i64,
}

pub(crate) const SNAPSHOT: &str = "SELECT m.id, m.name, m.revenue_total, m.last_transaction_sync, \
     (SELECT SUM(t.amount) FROM fanvue_transactions t WHERE t.model_id = m.id), \
     (SELECT COUNT(*) FROM fanvue_transactions t WHERE t.model_id = m.id), \
     (SELECT COUNT(DISTINCT t.fanvue_id) FROM fanvue_transactions t WHERE t.model_id = m.id), \
     (SELECT COUNT(DISTINCT t.fanvue_id) FROM fanvue_transactions t WHERE t.model_id = m.id AND t.transaction_date < m.last_transaction_sync) \
     FROM models m";

impl ModelRow {
    pub(crate) fn from_row(r: &Row) -> Result<Self, SqlError> {
        Ok(ModelRow {
            id: r.int(0)?,
            name: r.text(1)?,
            revenue_total: r.int(2)?,
            cursor: r.opt_int(3)?,
            stored_sum: r.opt_int(4)?.unwrap_or(0),
            stored_rows: r.int(5)?,
            distinct_ids: r.int(6)?,
            distinct_behind: r.int(7)?,
        })
    }
}

/// `revenue-total-matches`.
pub fn revenue_total_mismatch(m: &ModelRow) -> Option<String> {
    (m.revenue_total != m.stored_sum).then(|| {
        format!("{}: revenue_total {} but its rows sum to {}", m.name, usd(m.revenue_total), usd(m.stored_sum))
    })
}

// #[gamma::skip(reason = "a finding's wording only", tag = "trace")]
fn usd(cents: i64) -> String {
    crate::providers::fanvue::wire::format_usd(cents)
}

/// What the invariants look at.
pub struct Ctx {
    pub db: Db,
    pub provider: Fanvue,
    models: Arc<Vec<ModelInfo>>,
    grace_ms: u64,
    displayed: Displayed,
    final_load_ms: u64,
    /// (model, Fanvue id) → when it was first seen unstored behind the cursor.
    missing_since: Mutex<BTreeMap<(String, String), u64>>,
    snapshot: Mutex<BTreeMap<String, ModelRow>>,
    tally: Mutex<Tally>,
    snapshot_one: String,
    snapshot_all: String,
    /// Rows a damaged start left unstored behind the cursor, not yet judged.
    inherited: super::start::Inherited,
}

impl Ctx {
    pub fn new(
        db: Db,
        provider: Fanvue,
        models: Arc<Vec<ModelInfo>>,
        grace_ms: u64,
        displayed: Displayed,
        final_load_ms: u64,
    ) -> Self {
        Ctx {
            db,
            provider,
            models,
            grace_ms,
            displayed,
            final_load_ms,
            missing_since: Mutex::default(),
            snapshot: Mutex::default(),
            tally: Mutex::default(),
            snapshot_one: format!("{SNAPSHOT} WHERE m.name = ?"),
            snapshot_all: format!("{SNAPSHOT} ORDER BY m.id"),
            inherited: super::start::Inherited::default(),
        }
    }

    /// Leaves the rows of a damaged start out of `cursor-never-past-unstored` until each
    /// model's cursor is seen reset to before them (see [`super::start`]).
    pub fn with_inherited(mut self, inherited: super::start::Inherited) -> Self {
        self.inherited = inherited;
        self
    }

    /// The given rows `m` still has exempt; none once its cursor is at or before the oldest.
    fn exempt(&self, m: &ModelRow) -> BTreeSet<String> {
        let mut inherited = lock(&self.inherited);
        let Some((oldest, ids)) = inherited.get(&m.name) else { return BTreeSet::new() };
        if m.cursor.is_none_or(|c| c <= *oldest) {
            inherited.remove(&m.name);
            return BTreeSet::new();
        }
        ids.clone()
    }

    fn creator(&self, name: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.name == name)
    }

    fn each(
        &self,
        mut f: impl FnMut(&ModelRow, &mut Vec<Finding>) -> Result<(), SqlError>,
    ) -> Result<Vec<Finding>, SqlError> {
        let snap = lock(&self.snapshot).clone();
        let mut out = Vec::new();
        for m in snap.values() {
            f(m, &mut out)?;
        }
        Ok(out)
    }

    /// The stored (Fanvue id, amount) rows of a model, dated before `before` if given.
    fn stored(&self, model_id: i64, before: Option<i64>) -> Result<Vec<(String, i64)>, SqlError> {
        let rows = self.db.read(|tx| match before {
            Some(c) => tx.query(
                "SELECT fanvue_id, amount FROM fanvue_transactions WHERE model_id = ? AND transaction_date < ? ORDER BY fanvue_id",
                &[model_id.into(), c.into()],
            ),
            None => tx.query(
                "SELECT fanvue_id, amount FROM fanvue_transactions WHERE model_id = ? ORDER BY fanvue_id",
                &[model_id.into()],
            ),
        })?;
        rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
    }

    fn duplicates(&self, m: &ModelRow) -> Result<Vec<Finding>, SqlError> {
        let mut count: BTreeMap<String, u32> = BTreeMap::new();
        for (id, _) in self.stored(m.id, None)? {
            // Called only once the counts show a duplicate: a count that wraps below zero names
            // every id as repeated, so the finding's details change, never whether there is one.
            // #[gamma::skip(assign.add_to_sub, reason = "changes a finding's details, never whether there is one", tag = "equivalent")]
            *count.entry(id).or_default() += 1;
        }
        Ok(count
            .into_iter()
            .filter(|(_, n)| money::repeated(i64::from(*n)))
            .map(|(id, n)| {
                Finding::about(&m.name, format!("{}: txn {} stored {n} times", m.name, short(&id))).and(short(&id))
            })
            .collect())
    }

    /// `cursor-never-past-unstored` for one model.
    fn cursor_check(&self, m: &ModelRow, out: &mut Vec<Finding>) -> Result<(), SqlError> {
        let now = self.db.sim().now_ms();
        let mut since = lock(&self.missing_since);
        let Some(info) = self.creator(&m.name) else { return Ok(()) };
        let exempt = self.exempt(m);
        let (behind, cursor) = match m.cursor {
            Some(c) => {
                // With nothing exempt, the ledger's rows before the cursor are counted by length,
                // not walked: the walk grows with the day.
                let n = self.provider.with_ledger(&info.creator, |l| {
                    if exempt.is_empty() {
                        l.before(c).len()
                    } else {
                        l.before(c).iter().filter(|r| !exempt.contains(&r.id)).count()
                    }
                });
                (n.unwrap_or(0) as i64, c)
            }
            None => (0, i64::MIN),
        };
        // The fast path: counts first, the exact missing set only when they disagree or a gap of
        // this model is being timed. A closed gap's entry left behind by a skipped pass is
        // dropped by the next exact pass, and a stored row never goes missing again.
        // #[gamma::skip(reason = "the fast path: when as many distinct rows are stored before the cursor as the ledger has there, the exact set below is empty too, so these change only which way the same answer is reached", tag = "equivalent")]
        let tracked = since.keys().any(|(model, _)| *model == m.name);
        // #[gamma::skip(logical.and_remove_right, unary.remove_not, relational.ge_to_gt, reason = "the fast path: when as many distinct rows are stored before the cursor as the ledger has there, the exact set below is empty too, so these change only which way the same answer is reached", tag = "equivalent")]
        if m.distinct_behind >= behind && !tracked {
            return Ok(());
        }
        // #[gamma::skip(relational.ge_to_gt, reason = "the fast path: when as many distinct rows are stored before the cursor as the ledger has there, the exact set below is empty too, so these change only which way the same answer is reached", tag = "equivalent")]
        let missing: BTreeSet<String> = if m.distinct_behind >= behind {
            BTreeSet::new()
        } else {
            let stored: BTreeSet<String> = self.stored(m.id, Some(cursor))?.into_iter().map(|(id, _)| id).collect();
            // Reached only while the counts disagree, and every entry of this model not missing is
            // dropped the moment they agree again: timing stored or exempt rows too only adds rows
            // to the details of a finding that a gap outliving the grace raises anyway.
            // #[gamma::skip(logical, reason = "changes a finding's details, never whether there is one", tag = "equivalent")]
            self.provider
                .with_ledger(&info.creator, |l| {
                    l.before(cursor)
                        .iter()
                        .filter(|r| !stored.contains(&r.id) && !exempt.contains(&r.id))
                        .map(|r| r.id.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        since.retain(|(model, id), _| *model != m.name || missing.contains(id));
        for id in missing {
            let first = *since.entry((m.name.clone(), id.clone())).or_insert(now);
            if now - first >= self.grace_ms {
                let detail = format!(
                    "{}: txn {} is dated before the cursor {} but not stored, since {} (grace {})",
                    m.name,
                    short(&id),
                    super::show_instant(self.db.sim(), cursor),
                    fmt_ms(first),
                    Millis(self.grace_ms)
                );
                out.push(Finding::about(&m.name, detail).and(short(&id)));
            }
        }
        Ok(())
    }

    fn every_row_stored_once(&self, m: &ModelRow, out: &mut Vec<Finding>) -> Result<(), SqlError> {
        let mut found = |id: &str, detail: String| out.push(Finding::about(&m.name, detail).and(short(id)));
        let Some(info) = self.creator(&m.name) else { return Ok(()) };
        let epoch = i64::try_from(self.db.sim().config().epoch_ms).unwrap_or(0);
        // #[gamma::skip(arith.add_to_mul, reason = "moves the bound past the end of the run: a row first visible after the safety phase and still unstored at the end fails revenue-matches-provider in every design (Fanvue's total counts it), so a later bound only names the same loss twice", tag = "equivalent")]
        let visible_by = epoch + i64::try_from(self.db.sim().config().safety.0).unwrap_or(0);
        let mut stored: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (id, amount) in self.stored(m.id, None)? {
            stored.entry(id).or_default().push(amount);
        }
        let truth: BTreeMap<String, (i64, i64)> = self
            .provider
            .with_ledger(&info.creator, |l| {
                l.rows().iter().map(|r| (r.id.clone(), (r.gross, r.visible_at_ms))).collect()
            })
            .unwrap_or_default();
        // A ledger row is a payment Fanvue took (its verdict is always paid); a stored row is
        // its record, and storing it is its effect.
        for (id, (gross, visible_at)) in &truth {
            let n = stored.get(id).map_or(0, Vec::len) as i64;
            let record = (n > 0).then_some(Verdict::Paid);
            if money::unrecorded(Verdict::Paid, record).is_some() {
                if *visible_at <= visible_by {
                    found(id, format!("{}: txn {} ({}) never stored", m.name, short(id), usd(*gross)))
                }
            } else if money::repeated(n) {
                found(id, format!("{}: txn {} stored {n} times", m.name, short(id)))
            }
        }
        for (id, amounts) in &stored {
            let gross = truth.get(id).map(|(g, _)| *g);
            if money::paid_without_provider(true, gross.is_some()) {
                found(id, format!("{}: txn {} is stored but not on Fanvue", m.name, short(id)))
            } else if let Some(gross) = gross
                && amounts.iter().any(|a| *a != gross)
            {
                let detail = format!(
                    "{}: txn {} stored as {} but Fanvue says {}",
                    m.name,
                    short(id),
                    usd(amounts[0]),
                    usd(gross)
                );
                found(id, detail)
            }
        }
        Ok(())
    }
}

impl CheckCtx for Ctx {
    /// On a backend that lists changed rows, from the [`Tally`] kept up to date with them;
    /// elsewhere by the snapshot query (the same values either way).
    fn prepare(&self, scope: Option<&str>) -> Result<(), SqlError> {
        if self.db.tracks_changes() {
            let mut tally = lock(&self.tally);
            tally.refresh(&self.db)?;
            let rows = match scope {
                Some(name) => tally.model(name).into_iter().collect(),
                None => tally.all(),
            };
            let mut snap = lock(&self.snapshot);
            snap.clear();
            for m in rows {
                snap.insert(m.name.clone(), m);
            }
            return Ok(());
        }
        let rows = self.db.read(|tx| match scope {
            Some(name) => tx.query(&self.snapshot_one, &[Value::from(name)]),
            None => tx.query(&self.snapshot_all, &[]),
        })?;
        let mut snap = lock(&self.snapshot);
        snap.clear();
        for r in &rows {
            let m = ModelRow::from_row(r)?;
            snap.insert(m.name.clone(), m);
        }
        Ok(())
    }
}

/// The reference invariants (fresh per run: `cursor-never-past-unstored` remembers).
pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always(
            "revenue-total-matches",
            "each model's revenue_total = Σ amount of its stored transactions",
            |c: &Ctx| {
                c.each(|m, out| {
                    out.extend(revenue_total_mismatch(m).map(|d| Finding::about(&m.name, d)));
                    Ok(())
                })
            },
        ),
        Invariant::always("no-duplicate-transactions", "no Fanvue transaction id is stored twice", |c: &Ctx| {
            c.each(|m, out| {
                if m.stored_rows != m.distinct_ids {
                    out.extend(c.duplicates(m)?);
                }
                Ok(())
            })
        }),
        Invariant::always(
            "cursor-never-past-unstored",
            "no ledger row dated before the cursor stays unstored past the grace",
            |c: &Ctx| c.each(|m, out| c.cursor_check(m, out)),
        ),
        Invariant::eventually(
            "every-row-stored-once",
            "every ledger row visible before the liveness phase is stored exactly once",
            |c: &Ctx| c.each(|m, out| c.every_row_stored_once(m, out)),
        ),
        Invariant::eventually(
            "revenue-matches-provider",
            "each model's revenue_total = Σ gross of its Fanvue ledger",
            |c: &Ctx| {
                c.each(|m, out| {
                    let truth = c.creator(&m.name).map_or(0, |i| c.provider.total(&i.creator));
                    if m.revenue_total != truth {
                        let detail = format!(
                            "{}: revenue_total {} but Fanvue says {}",
                            m.name,
                            usd(m.revenue_total),
                            usd(truth)
                        );
                        out.push(Finding::about(&m.name, detail));
                    }
                    Ok(())
                })
            },
        ),
        Invariant::eventually(
            "dashboard-matches-provider",
            "the dashboard's total at the end = Σ gross of every ledger",
            |c: &Ctx| {
                let truth: i64 = c.models.iter().map(|m| c.provider.total(&m.creator)).sum();
                Ok(match *lock(&c.displayed) {
                    Some((at, shown)) if at >= c.final_load_ms => (shown != truth)
                        .then(|| {
                            Finding::general(format!(
                                "the dashboard shows {} but the creators earned {}",
                                usd(shown),
                                usd(truth)
                            ))
                        })
                        .into_iter()
                        .collect(),
                    _ => vec![Finding::general(format!(
                        "the dashboard was not loaded at the end of the run ({})",
                        fmt_ms(c.final_load_ms)
                    ))],
                })
            },
        ),
    ]
}
