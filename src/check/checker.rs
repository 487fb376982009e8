//! The checker: runs `always` invariants after every writing step of a run (a unit that wrote,
//! or an observation a client recorded: see [`Step::Observation`]) and `eventually`
//! invariants at its end, and tallies `sometimes` marks over a run set. A round of `always`
//! checks over rows that have not changed since they last held is skipped when every `always`
//! invariant says its verdict depends only on those rows ([`Invariant::rows_only`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::invariant::{CheckCtx, Invariant, InvariantKind, Sometimes, Violation};
use crate::sim::world::lock;
use crate::sim::{Event, Kind, Sim, Step};
use crate::store::SqlError;

/// How the checker's event for a broken invariant starts.
const VIOLATED: &str = "VIOLATED";

/// Whether `e` is the checker's record of a broken invariant (and not of invariants holding).
pub fn is_violation_event(e: &Event) -> bool {
    e.kind == Kind::Check && e.text.starts_with(VIOLATED)
}

/// A check that could not run: the database could not be read, or an invariant's own query
/// failed. The run's verdict is then unknown, so it ends as an infrastructure error (exit 4),
/// never as a violation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the check `{check}` could not run at {}", crate::sim::fmt_ms(*t_ms))]
pub struct CheckFailure {
    /// The invariant whose check failed, or `snapshot` when the rows could not be read.
    pub check: String,
    pub t_ms: u64,
    #[source]
    pub source: SqlError,
}

/// The invariants of one run and the violations found so far.
pub struct Checker<C> {
    invariants: Vec<Invariant<C>>,
    /// Every `always` invariant is [`Invariant::rows_only`]: a round over unchanged rows may be
    /// skipped.
    skippable: bool,
    violations: Mutex<Vec<Violation>>,
    failure: Mutex<Option<CheckFailure>>,
}

impl<C: CheckCtx> Checker<C> {
    pub fn new(invariants: Vec<Invariant<C>>) -> Self {
        let skippable = invariants.iter().filter(|i| i.kind == InvariantKind::Always).all(|i| i.is_rows_only());
        Checker { invariants, skippable, violations: Mutex::new(Vec::new()), failure: Mutex::new(None) }
    }

    pub fn invariants(&self) -> &[Invariant<C>] {
        &self.invariants
    }

    fn fail(&self, sim: &Sim, check: &str, source: SqlError) {
        let t_ms = sim.now_ms();
        sim.record(Kind::Check, "checker", None, || format!("CHECK FAILED `{check}`: {source}"));
        lock(&self.failure).get_or_insert(CheckFailure { check: check.to_string(), t_ms, source });
        sim.stop();
    }

    /// Runs the invariants of `kind` over `scope`; true when one was violated or a check could
    /// not run (both end the run).
    fn run(&self, sim: &Sim, ctx: &C, kind: InvariantKind, scope: Option<&str>) -> bool {
        if kind == InvariantKind::Always && self.skippable && ctx.unchanged_since_checked(scope) {
            return false;
        }
        if let Err(e) = ctx.prepare(scope) {
            self.fail(sim, "snapshot", e);
            return true;
        }
        let mut found = false;
        for inv in self.invariants.iter().filter(|i| i.kind == kind) {
            let findings = match inv.check(ctx) {
                Ok(f) => f,
                Err(e) => {
                    self.fail(sim, &inv.name, e);
                    return true;
                }
            };
            if findings.is_empty() {
                continue;
            }
            found = true;
            let v = Violation::from_findings(&inv.name, kind, sim.now_ms(), findings);
            sim.record(Kind::Check, "checker", None, || {
                format!("{VIOLATED} {kind} `{}`: {}", inv.name, v.details.join("; "))
            });
            lock(&self.violations).push(v);
        }
        found
    }

    /// Runs every `always` invariant now over `scope` (one entity's key, or `None` for all);
    /// true when one was violated (or could not be checked).
    pub fn check_always(&self, sim: &Sim, ctx: &C, scope: Option<&str>) -> bool {
        self.run(sim, ctx, InvariantKind::Always, scope)
    }

    /// Runs every `eventually` invariant now (at the end of the liveness phase).
    pub fn check_eventually(&self, sim: &Sim, ctx: &C) -> bool {
        let found = self.run(sim, ctx, InvariantKind::Eventually, None);
        if !found {
            sim.record(Kind::Check, "checker", None, || "all eventually invariants hold".to_string());
        }
        found
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    /// The check that could not run, if one could not.
    pub fn failure(&self) -> Option<CheckFailure> {
        lock(&self.failure).clone()
    }
}

/// Makes the checker look at the world after every unit of work that wrote and after every
/// observation an actor records (what a browser tab shows), and stop the run at the first
/// `always` violation.
pub fn install<C: CheckCtx + Send + Sync + 'static>(sim: &Sim, checker: Arc<Checker<C>>, ctx: Arc<C>) {
    sim.set_observer(Arc::new(move |sim: &Sim, step: Step<'_>| {
        let key = match step {
            Step::Unit { wrote: true, key } | Step::Observation { key } => key,
            _ => return,
        };
        let scope = if key.is_empty() { None } else { Some(key) };
        if !sim.is_stopped() && checker.check_always(sim, &ctx, scope) {
            sim.stop();
        }
    }));
}

/// `sometimes` coverage over a run set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Mark → number of seeds that reached it.
    pub seeds_reaching: BTreeMap<String, u64>,
    pub required: Vec<Sometimes>,
}

impl Coverage {
    pub fn new(required: Vec<Sometimes>) -> Self {
        Coverage { seeds_reaching: required.iter().map(|s| (s.mark.clone(), 0)).collect(), required }
    }

    /// Adds one seed's marks.
    pub fn add(&mut self, marks: &BTreeMap<String, u64>) {
        for (mark, count) in marks {
            if *count > 0 {
                *self.seeds_reaching.entry(mark.clone()).or_default() += 1;
            }
        }
    }

    /// Required marks no seed reached.
    pub fn unreached(&self) -> Vec<&Sometimes> {
        self.required.iter().filter(|s| self.seeds_reaching.get(&s.mark).copied().unwrap_or(0) == 0).collect()
    }
}
