//! Bounded-exhaustive exploration: every combination of the first K choices, instead of a
//! sample of them.
//!
//! A run is its oracle's choice list. Exploration is a depth-first walk of the tree those lists
//! form (stateless model checking by replay): run a prefix with every later choice 0, then, for
//! each of the first K choice points the run met past the prefix, branch on every other value
//! of that choice and recurse. Each schedule is one leaf, so every combination of the first K
//! choices is run exactly once; the K choices are the ones that decide the race — which order is
//! kept, which of two racing deliveries or units of work lands first (their delays), whether a
//! message is dropped or duplicated. A choice of many values (a delay in 1,001 steps) is
//! enumerated at `values` evenly spaced points, its least and greatest always among them, which
//! is enough to put two racing messages in both orders.
//!
//! Each run's end state — the database's rows without their timestamp columns (names ending in
//! `_at`), and the invariants it violated — is hashed, and distinct end states are counted.
//! Every violating schedule is kept with its choice list, so each can be replayed.
//!
//! What it does not do: prune by state. The oracle is asked for a choice without seeing the
//! world's state, so two prefixes cannot soundly be declared equivalent mid-run; the walk
//! visits every leaf (and stops at a budget of runs). The end-state digest reads the tables
//! through the store ([`crate::store::tables`]), so exploration runs on every backend.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::check::Coverage;
use crate::error::Error;
use crate::sim::Oracle;
use crate::store::{SharedBackend, Value, quote_ident};
use crate::systems::{RunSpec, System, run_seed};

/// How far and how wide to explore.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Choice points enumerated (the first K of every run).
    pub depth: usize,
    /// Values tried for a choice with more than this many.
    pub values: u64,
    /// Stop after this many schedules.
    pub max_runs: u64,
}

/// A schedule that violated an invariant.
#[derive(Clone, Debug)]
pub struct Violating {
    /// The choice list (trailing zeros removed): replaying it reproduces the run.
    pub choices: Vec<u64>,
    pub invariants: Vec<String>,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Exploration {
    pub bounds: Bounds,
    pub schedules: u64,
    pub distinct_end_states: usize,
    pub violating: Vec<Violating>,
    /// False when the budget stopped the walk before every schedule ran.
    pub complete: bool,
    pub events: u64,
    /// `sometimes` marks over all schedules: a pass that never reached the race proves nothing.
    pub coverage: Coverage,
}

/// The values tried for a choice of `n` values.
pub fn domain(n: u64, values: u64) -> Vec<u64> {
    let values = values.max(2);
    if n <= values {
        return (0..n).collect();
    }
    let mut v: Vec<u64> = (0..values).map(|j| (n - 1) * j / (values - 1)).collect();
    v.dedup();
    v
}

struct Walk<'a> {
    system: &'a dyn System,
    spec: &'a RunSpec,
    backend: SharedBackend,
    bounds: Bounds,
    out: Exploration,
    states: BTreeSet<[u8; 32]>,
}

impl Walk<'_> {
    fn visit(&mut self, prefix: Vec<u64>) -> Result<(), Error> {
        if self.out.schedules >= self.bounds.max_runs {
            self.out.complete = false;
            return Ok(());
        }
        let r = run_seed(self.system, self.spec, Oracle::replay(prefix.clone()), self.backend.clone())
            .map_err(Error::run("an explored schedule"))?;
        self.out.schedules += 1;
        self.out.events += r.event_count;
        self.out.coverage.add(&r.marks);
        let invariants: BTreeSet<String> = r.violations.iter().map(|v| v.invariant.clone()).collect();
        self.states.insert(end_state(&self.backend, &invariants)?);
        if !invariants.is_empty() {
            let mut choices = r.choices.clone();
            while choices.last() == Some(&0) {
                choices.pop();
            }
            self.out.violating.push(Violating { choices, invariants: invariants.into_iter().collect() });
        }
        let limit = self.bounds.depth.min(r.choices.len());
        for i in prefix.len()..limit {
            for alt in domain(r.arities[i], self.bounds.values) {
                if alt == r.choices[i] {
                    continue;
                }
                let mut next = r.choices[..i].to_vec();
                next.push(alt);
                self.visit(next)?;
            }
        }
        Ok(())
    }
}

/// Explores `system` under `spec` within `bounds`, on the SQLite `backend`.
pub fn explore(
    system: &dyn System,
    spec: &RunSpec,
    backend: SharedBackend,
    bounds: Bounds,
) -> Result<Exploration, Error> {
    let mut quiet = spec.clone();
    quiet.sim.record = false;
    let mut walk = Walk {
        system,
        spec: &quiet,
        backend,
        bounds,
        out: Exploration {
            bounds,
            schedules: 0,
            distinct_end_states: 0,
            violating: Vec::new(),
            complete: true,
            events: 0,
            coverage: Coverage::new(system.sometimes(spec)),
        },
        states: BTreeSet::new(),
    };
    walk.visit(Vec::new())?;
    walk.out.distinct_end_states = walk.states.len();
    Ok(walk.out)
}

/// A digest of the database (rows without timestamp columns, sorted) and the violated invariants.
fn end_state(backend: &SharedBackend, invariants: &BTreeSet<String>) -> Result<[u8; 32], Error> {
    let err = |e: crate::store::SqlError| Error::Infrastructure(format!("end state: {e}"));
    let mut db = crate::sim::world::lock(backend);
    let kind = db.kind();
    let tables = crate::store::tables(db.as_mut()).map_err(err)?;
    let mut h = Sha256::new();
    for (table, cols) in tables {
        let cols: Vec<String> =
            cols.iter().filter(|c| !c.ends_with("_at") && *c != "id").map(|c| quote_ident(kind, c)).collect();
        h.update(table.as_bytes());
        if cols.is_empty() {
            continue;
        }
        let list = cols.join(", ");
        let sql = format!("SELECT {list} FROM {} ORDER BY {list}", quote_ident(kind, &table));
        for row in db.query(&sql, &[]).map_err(err)? {
            for v in &row.0 {
                match v {
                    Value::Null => h.update(b"N"),
                    other => h.update(format!("{other:?}").as_bytes()),
                }
                h.update([0]);
            }
            h.update([1]);
        }
    }
    for i in invariants {
        h.update(i.as_bytes());
        h.update([2]);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_keep_both_ends() {
        assert_eq!(domain(1, 2), vec![0]);
        assert_eq!(domain(2, 2), vec![0, 1]);
        assert_eq!(domain(3, 3), vec![0, 1, 2]);
        assert_eq!(domain(1001, 2), vec![0, 1000]);
        assert_eq!(domain(1001, 3), vec![0, 500, 1000]);
    }
}
