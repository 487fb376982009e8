//! The checker: runs `always` invariants after every writing step of a run and `eventually`
//! invariants at its end, and tallies `sometimes` marks over a run set.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::invariant::{CheckCtx, Invariant, InvariantKind, Sometimes, Violation};
use crate::sim::world::lock;
use crate::sim::{Event, Kind, Sim, Step};

/// How the checker's event for a broken invariant starts.
const VIOLATED: &str = "VIOLATED";

/// Whether `e` is the checker's record of a broken invariant (and not of invariants holding).
pub fn is_violation_event(e: &Event) -> bool {
    e.kind == Kind::Check && e.text.starts_with(VIOLATED)
}

/// The invariants of one run and the violations found so far.
pub struct Checker<C> {
    invariants: Vec<Invariant<C>>,
    violations: Mutex<Vec<Violation>>,
}

impl<C: CheckCtx> Checker<C> {
    pub fn new(invariants: Vec<Invariant<C>>) -> Self {
        Checker { invariants, violations: Mutex::new(Vec::new()) }
    }

    pub fn invariants(&self) -> &[Invariant<C>] {
        &self.invariants
    }

    fn run(&self, sim: &Sim, ctx: &C, kind: InvariantKind, scope: Option<&str>) -> bool {
        let mut found = false;
        if let Err(e) = ctx.prepare(scope) {
            // A snapshot that cannot be read is itself a finding: never silently pass.
            let t_ms = sim.now_ms();
            lock(&self.violations).push(Violation {
                invariant: "checker".into(),
                kind,
                t_ms,
                details: vec![format!("the check itself failed: {e}")],
            });
            return true;
        }
        for inv in self.invariants.iter().filter(|i| i.kind == kind) {
            let details = match inv.check(ctx) {
                Ok(d) => d,
                // A checker query that fails is itself a finding: never silently pass.
                Err(e) => vec![format!("the check itself failed: {e}")],
            };
            if details.is_empty() {
                continue;
            }
            found = true;
            let t_ms = sim.now_ms();
            sim.record(Kind::Check, "checker", None, || {
                format!("{VIOLATED} {kind} `{}`: {}", inv.name, details.join("; "))
            });
            lock(&self.violations).push(Violation { invariant: inv.name.clone(), kind, t_ms, details });
        }
        found
    }

    /// Runs every `always` invariant now over `scope` (one entity's key, or `None` for all);
    /// true when one was violated.
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
}

/// Makes the checker look at the world after every unit of work that wrote, and stop the run
/// at the first `always` violation.
pub fn install<C: CheckCtx + Send + Sync + 'static>(sim: &Sim, checker: Arc<Checker<C>>, ctx: Arc<C>) {
    sim.set_observer(Arc::new(move |sim: &Sim, step: Step<'_>| {
        let Step::Unit { wrote: true, key } = step else { return };
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
