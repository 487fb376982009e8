//! Shrinking: reducing a failing seed to a minimal counterexample.
//!
//! A run is its oracle's choice list, and every choice is a bounded integer where 0 is the
//! simplest outcome (no fault, least delay, optional load dropped). So shrinking needs no
//! knowledge of the system: it edits the list — deletes blocks, zeroes blocks, lowers single
//! values by binary search — replays each candidate, and keeps it when the same invariant is
//! still violated and the list the run actually consumed is simpler (shorter, then smaller in
//! order). Dropping a kept order (its `keep` choice set to 0) removes an order and its actors;
//! zeroing a fault choice removes the fault; lowering a latency choice shortens the delay.
//!
//! Deterministic: the same failing list and budget always give the same result, because every
//! candidate is a replay and the passes visit positions in a fixed order.
//!
//! What it does not do: change the scenario (its configured counts and ranges), or search for a
//! different violation than the one it started from.

use crate::error::Error;
use crate::sim::Oracle;
use crate::store::SharedBackend;
use crate::systems::{RunSpec, SeedReport, System, run_seed};

/// The result of shrinking one failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The invariant the counterexample violates.
    pub invariant: String,
    /// The minimal choice list (trailing zeros removed: a replay past its end answers 0).
    pub choices: Vec<u64>,
    /// The counterexample's recorded run.
    pub report: SeedReport,
    /// Candidate runs it took.
    pub runs: u64,
    /// Length of the choice list before shrinking, and events of the original run.
    pub original_choices: usize,
    pub original_events: u64,
}

/// Limits of a shrink.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// At most this many candidate runs.
    pub runs: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { runs: 20_000 }
    }
}

fn trimmed(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Shorter is simpler; at equal length, the smaller list in lexicographic order.
fn simpler(a: &[u64], b: &[u64]) -> bool {
    (a.len(), a) < (b.len(), b)
}

struct Shrinker<'a> {
    system: &'a dyn System,
    spec: RunSpec,
    backend: SharedBackend,
    invariant: String,
    current: Vec<u64>,
    runs: u64,
    budget: Budget,
}

impl Shrinker<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.budget.runs
    }

    /// Replays `candidate`; adopts it when it still fails the same way and is simpler.
    fn try_candidate(&mut self, candidate: Vec<u64>) -> Result<bool, Error> {
        if self.exhausted() || !simpler(&trimmed(candidate.clone()), &self.current) {
            return Ok(false);
        }
        self.runs += 1;
        let r = run_seed(self.system, &self.spec, Oracle::replay(candidate), self.backend.clone())
            .map_err(Error::run("a shrink candidate"))?;
        if !r.violations.iter().any(|v| v.invariant == self.invariant) {
            return Ok(false);
        }
        let consumed = trimmed(r.choices);
        if simpler(&consumed, &self.current) {
            self.current = consumed;
            return Ok(true);
        }
        Ok(false)
    }

    fn delete_blocks(&mut self) -> Result<bool, Error> {
        let mut progress = false;
        for k in [64usize, 16, 8, 4, 2, 1] {
            let mut i = self.current.len().saturating_sub(k);
            loop {
                if i + k <= self.current.len() {
                    let mut c = self.current.clone();
                    c.drain(i..i + k);
                    progress |= self.try_candidate(c)?;
                }
                if i == 0 || self.exhausted() {
                    break;
                }
                i -= 1;
            }
        }
        Ok(progress)
    }

    fn zero_blocks(&mut self) -> Result<bool, Error> {
        let mut progress = false;
        for k in [16usize, 4, 1] {
            let mut i = 0;
            while i < self.current.len() && !self.exhausted() {
                let end = (i + k).min(self.current.len());
                if self.current[i..end].iter().any(|&v| v != 0) {
                    let mut c = self.current.clone();
                    c[i..end].iter_mut().for_each(|v| *v = 0);
                    progress |= self.try_candidate(c)?;
                }
                i += k;
            }
        }
        Ok(progress)
    }

    /// Lowers each value to the smallest that still fails (binary search; zero was tried).
    fn lower_values(&mut self) -> Result<bool, Error> {
        let mut progress = false;
        let mut i = 0;
        while i < self.current.len() && !self.exhausted() {
            let (mut lo, mut hi) = (0, self.current[i]);
            // Invariant: `hi` fails (it is the current value), values ≤ lo are not known to.
            while lo + 1 < hi && !self.exhausted() {
                let mid = lo + (hi - lo) / 2;
                let mut c = self.current.clone();
                c[i] = mid;
                if self.try_candidate(c)? {
                    progress = true;
                    hi = mid;
                    if i >= self.current.len() {
                        break;
                    }
                } else {
                    lo = mid;
                }
            }
            i += 1;
        }
        Ok(progress)
    }
}

/// Shrinks the failing run `choices` of `system` (which violates `invariant`).
pub fn shrink(
    system: &dyn System,
    spec: &RunSpec,
    backend: SharedBackend,
    choices: Vec<u64>,
    invariant: &str,
    budget: Budget,
) -> Result<Shrunk, Error> {
    let mut quiet = spec.clone();
    quiet.sim.record = false;
    let original_choices = choices.len();
    let first = run_seed(system, &quiet, Oracle::replay(choices.clone()), backend.clone())
        .map_err(Error::run("a shrink candidate"))?;
    if !first.violations.iter().any(|v| v.invariant == invariant) {
        return Err(Error::Usage(format!("the run to shrink does not violate `{invariant}`")));
    }
    let mut s = Shrinker {
        system,
        spec: quiet,
        backend: backend.clone(),
        invariant: invariant.to_string(),
        current: trimmed(choices),
        runs: 1,
        budget,
    };
    loop {
        let mut progress = s.zero_blocks()?;
        progress |= s.delete_blocks()?;
        progress |= s.lower_values()?;
        if !progress || s.exhausted() {
            break;
        }
    }
    let mut loud = spec.clone();
    loud.sim.record = true;
    let report = run_seed(system, &loud, Oracle::replay(s.current.clone()), backend)
        .map_err(Error::run("a shrink candidate"))?;
    Ok(Shrunk {
        invariant: s.invariant,
        choices: s.current,
        report,
        runs: s.runs,
        original_choices,
        original_events: first.event_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simpler_is_shortlex() {
        assert!(simpler(&[5], &[0, 0]));
        assert!(simpler(&[1, 2], &[1, 3]));
        assert!(!simpler(&[1, 3], &[1, 3]));
        assert_eq!(trimmed(vec![1, 0, 2, 0, 0]), vec![1, 0, 2]);
    }
}
