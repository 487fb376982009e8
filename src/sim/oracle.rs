//! The oracle: the one place every nondeterministic choice of a run is made.
//!
//! A run is fully determined by its sequence of choices. Each choice is a small integer drawn
//! from a bounded range, where 0 always means the simplest outcome ("no fault", "least delay",
//! "first in order"). The oracle draws them from a seeded ChaCha8 stream (random mode) or reads
//! them back from a recorded list (replay mode), and it records every choice it hands out.
//!
//! Because choices are plain bounded integers, a failing run can later be shrunk (shorten the
//! list, lower its values) or enumerated exhaustively without touching the code that asks.
//! A replayed list that runs out answers 0, the simplest choice, so any prefix is a valid run.
//!
//! What it does not do: it does not know what a choice means. Callers name the choice only for
//! the trace; the oracle stores the value alone.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Mixed into the seed for the tie-break stream (ASCII "ties").
const TIE_STREAM: u64 = 0x7469_6573;

/// Parts per million: the unit every probability in settle is expressed in.
pub const PPM: u32 = 1_000_000;

enum Source {
    /// The main stream, and a second one for tie-breaks ([`Oracle::tie`]): drawing tie orders
    /// from their own stream leaves every other random choice of a seed where it was.
    Random(Box<ChaCha8Rng>, Box<ChaCha8Rng>),
    Replay {
        choices: Vec<u64>,
        pos: usize,
    },
}

/// The single source of every choice in a run.
pub struct Oracle {
    source: Source,
    log: Vec<u64>,
    /// How many values each logged choice could have taken (2 for `chance` and `keep`).
    arities: Vec<u64>,
}

impl Oracle {
    /// An oracle whose choices come from `seed` through a portable PRNG (ChaCha8).
    pub fn random(seed: u64) -> Self {
        Oracle {
            source: Source::Random(
                Box::new(ChaCha8Rng::seed_from_u64(seed)),
                Box::new(ChaCha8Rng::seed_from_u64(seed ^ TIE_STREAM)),
            ),
            log: Vec::new(),
            arities: Vec::new(),
        }
    }

    /// An oracle that replays a recorded choice list; past its end every choice is 0.
    pub fn replay(choices: Vec<u64>) -> Self {
        Oracle { source: Source::Replay { choices, pos: 0 }, log: Vec::new(), arities: Vec::new() }
    }

    /// For tests that draw their own data: [`Oracle::below`] as a signed number.
    #[cfg(test)]
    pub(crate) fn int_below(&mut self, n: u64) -> i64 {
        self.below(n) as i64
    }

    /// A choice in `0..n`. `n == 0` is treated as 1 (the only choice is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        let value = match &mut self.source {
            Source::Random(rng, _) => {
                // Lemire's multiply-shift: unbiased enough for simulation and portable.
                ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
            }
            Source::Replay { choices, pos } => {
                let v = choices.get(*pos).copied().unwrap_or(0);
                *pos += 1;
                // A recorded value outside the range (after shrinking edits) is clamped.
                v.min(n - 1)
            }
        };
        debug_assert!(value < n);
        self.log.push(value);
        self.arities.push(n);
        value
    }

    /// True with probability `ppm / 1_000_000`. Certain outcomes draw no choice, so a
    /// configuration with a fault disabled asks the oracle nothing about it.
    pub fn chance(&mut self, ppm: u32) -> bool {
        if ppm == 0 {
            return false;
        }
        if ppm >= PPM {
            return true;
        }
        match &self.source {
            // Record the decision (1 = the fault happens), not the raw draw: a recorded 0 then
            // means "no fault" whatever the rate, which is what shrinking needs.
            Source::Random(..) => {
                let fired = self.draw_raw(u64::from(PPM)) < u64::from(ppm);
                self.log.push(u64::from(fired));
                self.arities.push(2);
                fired
            }
            Source::Replay { .. } => self.below(2) == 1,
        }
    }

    /// Whether an optional piece of load (an order, a click) takes place. A random run always
    /// keeps it (and records 1); a replayed 0 drops it. Dropping is what the shrinker does to
    /// reach the fewest orders and actors, so a kept item costs one recorded choice and no draw:
    /// adding `keep` calls to a system does not change its random runs.
    pub fn keep(&mut self) -> bool {
        match &mut self.source {
            Source::Random(..) => {
                self.log.push(1);
                self.arities.push(2);
                true
            }
            Source::Replay { .. } => self.below(2) == 1,
        }
    }

    /// The order of an event among `n` due in the same simulated millisecond: a choice in `0..n`,
    /// where 0 is the order the runtime would have used (spawn/wake order). Random runs draw it
    /// from the tie stream, so adding tie-breaks changed no other choice of any seed; replays and
    /// exploration read and enumerate it like any choice.
    pub fn tie(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        match &mut self.source {
            Source::Random(_, ties) => {
                let value = ((u128::from(ties.next_u64()) * u128::from(n)) >> 64) as u64;
                self.log.push(value);
                self.arities.push(n);
                value
            }
            Source::Replay { .. } => self.below(n),
        }
    }

    /// A value in `lo..=hi`; the choice 0 gives `lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    fn draw_raw(&mut self, n: u64) -> u64 {
        match &mut self.source {
            Source::Random(rng, _) => ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64,
            Source::Replay { .. } => unreachable!("draw_raw is only used in random mode"),
        }
    }

    /// Every choice handed out so far, in order: enough to replay this run exactly.
    pub fn choices(&self) -> &[u64] {
        &self.log
    }

    /// The number of possible values of each choice so far (what exhaustive exploration
    /// enumerates).
    pub fn arities(&self) -> &[u64] {
        &self.arities
    }

    /// How many choices have been made.
    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// True before the first choice.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices() {
        let mut a = Oracle::random(7);
        let mut b = Oracle::random(7);
        for n in 1..200 {
            assert_eq!(a.below(n), b.below(n));
        }
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = Oracle::random(1);
        let mut b = Oracle::random(2);
        let xs: Vec<u64> = (0..32).map(|_| a.below(1 << 40)).collect();
        let ys: Vec<u64> = (0..32).map(|_| b.below(1 << 40)).collect();
        assert_ne!(xs, ys);
    }

    #[test]
    fn replay_reproduces_a_random_run() {
        let mut a = Oracle::random(42);
        let first: Vec<u64> =
            (0..100).map(|i| if i % 3 == 0 { u64::from(a.chance(300_000)) } else { a.range(5, 900) }).collect();
        let mut b = Oracle::replay(a.choices().to_vec());
        let second: Vec<u64> =
            (0..100).map(|i| if i % 3 == 0 { u64::from(b.chance(300_000)) } else { b.range(5, 900) }).collect();
        assert_eq!(first, second);
        assert_eq!(a.choices(), b.choices());
    }

    #[test]
    fn exhausted_replay_is_simplest() {
        let mut o = Oracle::replay(vec![3]);
        assert_eq!(o.below(10), 3);
        assert_eq!(o.below(10), 0);
        assert!(!o.chance(999_999));
        assert_eq!(o.range(17, 40), 17);
    }

    #[test]
    fn keep_is_free_in_random_runs_and_droppable_in_replays() {
        let mut a = Oracle::random(5);
        let mut b = Oracle::random(5);
        assert!(a.keep());
        assert_eq!(a.below(1000), b.below(1000), "keep draws nothing from the stream");
        assert_eq!(a.choices(), &[1, b.choices()[0]]);
        let mut r = Oracle::replay(vec![1, 0]);
        assert!(r.keep());
        assert!(!r.keep());
        assert!(!r.keep(), "past the end: the simplest run has no optional load");
    }

    #[test]
    fn replay_clamps_out_of_range_values() {
        let mut o = Oracle::replay(vec![99]);
        assert_eq!(o.below(4), 3);
    }

    #[test]
    fn certain_outcomes_draw_nothing() {
        let mut o = Oracle::random(1);
        assert!(!o.chance(0));
        assert!(o.chance(PPM));
        assert!(o.is_empty());
    }

    #[test]
    fn chance_rate_is_roughly_right() {
        let mut o = Oracle::random(9);
        let hits = (0..100_000).filter(|_| o.chance(100_000)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
    }
}
