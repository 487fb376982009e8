//! The trace of a hosted run (turmoil or real HTTP): lines of what crossed the boundary and what
//! the providers did, and the `sometimes` marks reached, for stories and reports.
//!
//! What it does not do: format a whole report (the transports do), or keep more than
//! [`TRACE_LINES_MAX`] lines.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::sim::world::lock;
use crate::sim::{Kind, fmt_ms};

/// One line of the run's trace: when, who, what kind, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub t_ms: u64,
    pub actor: String,
    pub kind: Kind,
    pub text: String,
}

impl std::fmt::Display for TraceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>12} {:<9} {:<6} {}", fmt_ms(self.t_ms), self.actor, self.kind.label(), self.text)
    }
}

/// The bound on kept trace lines: a run longer than this keeps counting but stops storing.
pub const TRACE_LINES_MAX: usize = 200_000;

/// What the providers of one run recorded: trace lines and `sometimes` marks.
#[derive(Default)]
pub struct Recorder {
    lines: Mutex<Vec<TraceLine>>,
    marks: Mutex<BTreeMap<String, u64>>,
}

impl Recorder {
    pub fn push(&self, line: TraceLine) {
        let mut lines = lock(&self.lines);
        if lines.len() < TRACE_LINES_MAX {
            lines.push(line);
        }
    }

    pub fn mark(&self, name: &str) {
        *lock(&self.marks).entry(name.to_string()).or_default() += 1;
    }

    /// Every line so far, in the order they happened.
    pub fn lines(&self) -> Vec<TraceLine> {
        lock(&self.lines).clone()
    }

    /// Each mark reached, with how many times.
    pub fn marks(&self) -> BTreeMap<String, u64> {
        lock(&self.marks).clone()
    }
}
