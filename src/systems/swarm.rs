//! Swarm testing: per-seed fault rates drawn from the seed, so that some seeds have none of a
//! fault at all and others have it at full rate (as TigerBeetle's simulator does). A scenario
//! with every fault at a fixed rate explores one point of the fault space; bugs that need a
//! quiet network but a crashing job, or many duplicates and no drops, hide from it.
//!
//! For each fault the scenario enables, one oracle choice in `0..4` decides: 0 switches it off
//! (the simplest run, which is what shrinking moves towards), 1–3 scale its rate (or its
//! maximum count) to one third, two thirds or all of what the scenario gives. The decisions are
//! the first choices of a run and are printed at the top of its trace.
//!
//! Load shapes swarm too: a system declares the shapes of load that reach its edges
//! ([`LoadShape`], through [`super::Family::load_shapes`]) — a batch import whose rows share a
//! millisecond, customers who choose a payment method late, an outage longer than the provider's
//! retries — and a swarm run draws one per seed after the fault levels (0: the scenario's own
//! load), printed at the top of the trace as `load: <shape>`. A user who does not know which knob
//! reaches the edge gets every edge the system knows of, in some seeds.
//!
//! What it does not do: raise a rate above the scenario's, or touch latencies; combine shapes.

use crate::sim::{Oracle, Rate};

use super::{RunSpec, SeedReport, System, SystemError};
use crate::store::SharedBackend;

/// A named change to a scenario's load (its system's table, and the run's faults where the
/// shape needs them), that reaches one of the system's edges.
pub struct LoadShape<C> {
    pub name: &'static str,
    /// One line: what edge it reaches.
    pub doc: &'static str,
    pub apply: fn(&mut C, &mut RunSpec),
}

/// Draws this seed's load shape from `oracle` (one choice in `0..=shapes.len()`; 0 keeps the
/// scenario's load) and applies it to `cfg` and `spec`, noting it for the top of the trace.
/// Draws nothing when `shapes` is empty, so systems without shapes keep their choice lists.
pub fn draw_shape<C: Clone>(shapes: &[LoadShape<C>], oracle: &mut Oracle, cfg: &C, spec: &mut RunSpec) -> Option<C> {
    if shapes.is_empty() {
        return None;
    }
    let k = oracle.below(shapes.len() as u64 + 1) as usize;
    let Some(shape) = k.checked_sub(1).and_then(|i| shapes.get(i)) else {
        spec.sim.notes.push("load: the scenario's own".into());
        return None;
    };
    let mut shaped = cfg.clone();
    (shape.apply)(&mut shaped, spec);
    spec.sim.notes.push(format!("load: {} ({})", shape.name, shape.doc));
    Some(shaped)
}

/// Choices per fault: off, ⅓, ⅔, full.
const LEVELS: u64 = 4;

fn scale_rate(rate: &mut Rate, level: u64) {
    *rate = Rate((u64::from(rate.0) * level / (LEVELS - 1)) as u32);
}

fn scale_count(count: &mut u32, level: u64) {
    // A count scaled down to zero by rounding stays at least 1 unless the level is off.
    let scaled = (u64::from(*count) * level).div_ceil(LEVELS - 1) as u32;
    *count = if level == 0 { 0 } else { scaled.max(1) };
}

impl RunSpec {
    /// This spec with its fault rates drawn from `oracle` (see the module doc).
    pub fn swarmed(&self, oracle: &mut Oracle) -> RunSpec {
        let mut s = self.clone();
        let mut notes = Vec::new();
        let mut level = |on: bool, name: &str| -> Option<u64> {
            if !on {
                return None;
            }
            let l = oracle.below(LEVELS);
            notes.push(match l {
                0 => format!("{name} off"),
                l if l == LEVELS - 1 => format!("{name} full"),
                l => format!("{name} {l}/{}", LEVELS - 1),
            });
            Some(l)
        };
        let net = &mut s.sim.net;
        for (name, rate) in [
            ("drop-request", &mut net.drop_request),
            ("drop-response", &mut net.drop_response),
            ("duplicate", &mut net.duplicate),
            ("reorder", &mut net.reorder),
        ] {
            if let Some(l) = level(!rate.is_zero(), name) {
                scale_rate(rate, l);
            }
        }
        if let Some(l) = level(net.partitions.count_max > 0, "partitions") {
            scale_count(&mut net.partitions.count_max, l);
        }
        let db = &mut s.db;
        if let Some(l) = level(db.outages_max > 0, "db-outages") {
            scale_count(&mut db.outages_max, l);
        }
        for (name, rate) in [("db-slow-commit", &mut db.slow_commit), ("db-lost-answer", &mut db.lost_answer)] {
            if let Some(l) = level(!rate.is_zero(), name) {
                scale_rate(rate, l);
            }
        }
        let crashes = &mut s.sim.crashes;
        if let Some(l) = level(crashes.count_max > 0 && !crashes.actors.is_empty(), "crashes") {
            scale_count(&mut crashes.count_max, l);
        }
        if !notes.is_empty() {
            s.sim.notes.push(format!("swarm: {}", notes.join(", ")));
        }
        s.swarm = false;
        s
    }
}

/// Runs one seed of `system`. The harness draws the swarm's fault rates first when the spec
/// asks for it, however the seed is started, so a replayed choice list meets the same choices
/// in the same order.
pub fn run_seed(
    system: &dyn System,
    spec: &RunSpec,
    oracle: Oracle,
    backend: SharedBackend,
) -> Result<SeedReport, SystemError> {
    system.run(spec, oracle, backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_scale_counts_and_rates() {
        let mut r = Rate(30_000);
        scale_rate(&mut r, 0);
        assert_eq!(r, Rate(0));
        let mut r = Rate(30_000);
        scale_rate(&mut r, 1);
        assert_eq!(r, Rate(10_000));
        let mut r = Rate(30_000);
        scale_rate(&mut r, 3);
        assert_eq!(r, Rate(30_000));
        let mut c = 2;
        scale_count(&mut c, 1);
        assert_eq!(c, 1);
        let mut c = 2;
        scale_count(&mut c, 0);
        assert_eq!(c, 0);
        let mut c = 2;
        scale_count(&mut c, 3);
        assert_eq!(c, 2);
    }
}
