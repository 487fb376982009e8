//! Settle's seed-001 invariants over a hosted run (turmoil or real HTTP): the user's database,
//! read through a [`Mapping`], against the ground truth of settle's [`Midtrans`] model.
//!
//! The invariant logic is the simulator's own (the pure functions of
//! `systems::midtrans_orders::invariants`, the same ones `settle audit` runs), fed by the
//! mapping's snapshot query, so the user's schema and status words are read as settle reads
//! seed 001's. Results are settle's [`Violation`]s, one per broken invariant, with the orders
//! they are about, and a [`story`] per violation from the run's trace.
//!
//! - [`OrderChecks::always`]: the `always` invariants, callable any time during the run (from a
//!   turmoil client, or after each exchange of `settle drive`); it remembers the orders it has seen PAID,
//!   so `paid-never-regresses` holds across calls.
//! - [`OrderChecks::at_end`]: the `always` invariants once more, and the `eventually` ones
//!   (provider paid ⇒ PAID, provider failed ⇒ not PAID, PAID ⇒ fulfilled once). Call it after
//!   `Sim::run` returned, when the load has closed and `settle_for` has passed.
//!
//! What it does not check: orders the provider never saw, the sync log, amounts (the audit
//! checks those with an export), or `always` invariants between two calls (a state that broke
//! one and was repaired before the next look is not seen; settle's own simulator checks after
//! every unit of work).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::trace::TraceLine;
use crate::check::money::PaidSeen;
use crate::check::{Finding, InvariantKind, Violation};
use crate::providers::midtrans::Midtrans;
use crate::sim::world::lock;
use crate::store::{Backend, SqlError};
use crate::systems::midtrans_orders::invariants::{
    OrderRow, fulfilled_at_most_once, order_payment_agree, paid_at_iff_paid, paid_fulfilled_once,
    paid_without_provider, provider_failed_implies_not_paid, provider_paid_implies_paid, regressed_since_seen,
};
use crate::systems::midtrans_orders::mapping::{Mapping, Statuses};

/// The checks of one run. Keep one per run: it remembers what it has seen.
pub struct OrderChecks {
    mapping: Mapping,
    statuses: Statuses,
    snapshot_sql: Option<String>,
    paid_seen: Mutex<PaidSeen>,
}

impl OrderChecks {
    /// Checks reading the tables and words `mapping` names.
    pub fn new(mapping: Mapping) -> Self {
        OrderChecks { mapping, statuses: Statuses::default(), snapshot_sql: None, paid_seen: Mutex::default() }
    }

    fn rows(&self, db: &mut dyn Backend) -> Result<BTreeMap<String, OrderRow>, SqlError> {
        let sql = match &self.snapshot_sql {
            Some(s) => s.clone(),
            None => format!("{} ORDER BY {}", self.mapping.snapshot_sql_for(db.kind()), self.mapping.code_column()),
        };
        let mut out = BTreeMap::new();
        for r in db.query(&sql, &[])? {
            let row = self.mapping.read_row(r)?.row;
            out.insert(row.code.clone(), row);
        }
        Ok(out)
    }

    /// The `always` invariants now (at simulated time `t_ms`), over every order in `db`.
    pub fn always(&self, provider: &Midtrans, db: &mut dyn Backend, t_ms: u64) -> Result<Vec<Violation>, SqlError> {
        let rows = self.rows(db)?;
        Ok(self.always_over(provider, &rows, t_ms))
    }

    fn always_over(&self, p: &Midtrans, rows: &BTreeMap<String, OrderRow>, t_ms: u64) -> Vec<Violation> {
        let s = &self.statuses;
        let mut found = Vec::new();
        let mut each = |name: &str, f: &mut dyn FnMut(&OrderRow, &mut Vec<String>)| {
            let mut findings = Vec::new();
            for o in rows.values() {
                let mut lines = Vec::new();
                f(o, &mut lines);
                findings.extend(lines.into_iter().map(|l| Finding::about(&o.code, l)));
            }
            if !findings.is_empty() {
                found.push(Violation::from_findings(name, InvariantKind::Always, t_ms, findings));
            }
        };
        each("paid-only-if-provider-paid", &mut |o, out| out.extend(paid_without_provider(o, p.ever_paid(&o.code), s)));
        each("order-payment-agree", &mut |o, out| out.extend(order_payment_agree(o)));
        let mut seen = lock(&self.paid_seen);
        each("paid-never-regresses", &mut |o, out| out.extend(regressed_since_seen(&mut seen, o, s)));
        drop(seen);
        each("paid-at-iff-paid", &mut |o, out| paid_at_iff_paid(o, s, out));
        each("fulfilled-at-most-once", &mut |o, out| {
            let paid = (o.fulfilments > 0).then(|| p.ever_paid(&o.code));
            fulfilled_at_most_once(o, paid, out)
        });
        found
    }

    /// Every invariant at the end of the run (at simulated time `t_ms`): the `always` ones, then
    /// the `eventually` ones.
    pub fn at_end(&self, provider: &Midtrans, db: &mut dyn Backend, t_ms: u64) -> Result<Vec<Violation>, SqlError> {
        let rows = self.rows(db)?;
        let mut found = self.always_over(provider, &rows, t_ms);
        let s = &self.statuses;
        let truths = provider.truths();
        let mut push = |name: &str, findings: Vec<Finding>| {
            if !findings.is_empty() {
                found.push(Violation::from_findings(name, InvariantKind::Eventually, t_ms, findings));
            }
        };
        let word = |t: &crate::providers::midtrans::Truth| t.status.map_or("none", |st| st.as_str());
        push(
            "provider-paid-implies-paid",
            truths
                .iter()
                .filter(|t| t.paid_now())
                .filter_map(|t| {
                    provider_paid_implies_paid(&t.order_id, word(t), rows.get(&t.order_id), s)
                        .map(|d| Finding::about(&t.order_id, d))
                })
                .collect(),
        );
        push(
            "provider-failed-implies-not-paid",
            truths
                .iter()
                .filter(|t| t.failed_now())
                .filter_map(|t| {
                    let o = rows.get(&t.order_id)?;
                    provider_failed_implies_not_paid(o, word(t), s).map(|d| Finding::about(&o.code, d))
                })
                .collect(),
        );
        push(
            "paid-fulfilled-once",
            rows.values().filter_map(|o| paid_fulfilled_once(o, s).map(|d| Finding::about(&o.code, d))).collect(),
        );
        Ok(found)
    }
}

/// The story of a violation: the trace lines that name any order it is about, in order, under a
/// heading that says what broke. At most `lines_max` lines per order.
pub fn story(v: &Violation, trace: &[TraceLine], lines_max: usize) -> String {
    let mut out = format!("{v}\n");
    for subject in &v.subjects {
        out.push_str(&format!("  story of {subject}:\n"));
        let mine: Vec<&TraceLine> = trace.iter().filter(|l| mentions(&l.text, subject)).collect();
        for l in mine.iter().take(lines_max) {
            out.push_str(&format!("    {l}\n"));
        }
        if mine.len() > lines_max {
            out.push_str(&format!("    … {} more lines\n", mine.len() - lines_max));
        }
    }
    out
}

/// Whether `text` names `subject` as a whole word (so `ORD-1` does not match `ORD-10`).
fn mentions(text: &str, subject: &str) -> bool {
    text.match_indices(subject).any(|(i, _)| {
        let after = text[i + subject.len()..].chars().next();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_names_whole_order_codes_only() {
        assert!(mentions("POST /webhooks/midtrans ORD-1 settlement", "ORD-1"));
        assert!(!mentions("POST /webhooks/midtrans ORD-10 settlement", "ORD-1"));
        assert!(mentions("ORD-1: customer pays", "ORD-1"));
    }
}
