//! The determinism check: run each seed twice with full traces and report the first event where
//! the two runs differ (or, with identical traces, differing oracle choices).
//!
//! What it does not do: prove determinism. It can only find a divergence that two runs of the
//! same seeds happen to show; the tests run it over hundreds of seeds and across processes.

use crate::error::Error;
use crate::sim::{Divergence, Oracle, first_divergence};
use crate::store::SharedBackend;
use crate::systems::{RunSpec, System, run_seed};

/// Where a seed's two runs first differed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nondeterminism {
    pub seed: u64,
    /// `None` when the traces agree but the oracle's choices do not.
    pub divergence: Option<Divergence>,
}

/// Runs seeds `0..seeds` of `system` twice each; the first seed whose runs differ, if any.
pub fn check_determinism(
    system: &dyn System,
    spec: &RunSpec,
    seeds: u64,
    backend: SharedBackend,
) -> Result<Option<Nondeterminism>, Error> {
    debug_assert!(spec.sim.record, "a determinism check compares recorded traces");
    for seed in 0..seeds {
        let run = || {
            run_seed(system, spec, Oracle::random(seed), backend.clone()).map_err(Error::run(format!("seed {seed}")))
        };
        let (a, b) = (run()?, run()?);
        if let Some(d) = first_divergence(&a.events, &b.events) {
            return Ok(Some(Nondeterminism { seed, divergence: Some(d) }));
        }
        if a.choices != b.choices {
            return Ok(Some(Nondeterminism { seed, divergence: None }));
        }
    }
    Ok(None)
}
