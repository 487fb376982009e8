//! Invariant definitions and violations.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::{Row, SqlError};

/// When an invariant is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvariantKind {
    Always,
    Eventually,
}

impl fmt::Display for InvariantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvariantKind::Always => "always",
            InvariantKind::Eventually => "eventually",
        })
    }
}

/// What invariants are checked against. `prepare` runs once before each round of checks, so
/// a context can read one snapshot (scoped to the entity a unit touched, or everything) and
/// let every invariant of the round evaluate it.
pub trait CheckCtx {
    fn prepare(&self, scope: Option<&str>) -> Result<(), SqlError> {
        let _ = scope;
        Ok(())
    }

    /// True when nothing `prepare(scope)` would read has changed since `scope` was last
    /// prepared for a round of `always` checks: the checker then skips the round when every
    /// `always` invariant is [`Invariant::rows_only`], since each would give the verdict it gave
    /// then (a pass: a violation ends the run). Called once per round, before `prepare`; a
    /// context that cannot tell answers false (the default), and every round runs.
    fn unchanged_since_checked(&self, scope: Option<&str>) -> bool {
        let _ = scope;
        false
    }
}

/// One violating row: what is wrong, and the subjects it is about (an order code, a model, a
/// booking) as data, so reports, stories and diagrams never have to guess them from the words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The entities the finding is about, most important first; empty when it is about the
    /// system as a whole (a dashboard total, say).
    pub subjects: Vec<String>,
    pub detail: String,
}

impl Finding {
    /// A finding about `subject`.
    pub fn about(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding { subjects: vec![subject.into()], detail: detail.into() }
    }

    /// A finding about the system as a whole, with no subject.
    pub fn general(detail: impl Into<String>) -> Self {
        Finding { subjects: Vec::new(), detail: detail.into() }
    }

    /// The same finding, also about `subject` (a transaction of the model it is about, say).
    pub fn and(mut self, subject: impl Into<String>) -> Self {
        let subject = subject.into();
        if !self.subjects.contains(&subject) {
            self.subjects.push(subject);
        }
        self
    }
}

type CheckFn<C> = dyn Fn(&C) -> Result<Vec<Finding>, SqlError> + Send + Sync;

/// A named property of a system. `check` returns one finding per violating row (empty = holds).
pub struct Invariant<C> {
    pub name: String,
    pub kind: InvariantKind,
    pub doc: String,
    check: Box<CheckFn<C>>,
    rows_only: bool,
}

impl<C> Invariant<C> {
    pub fn new(
        name: impl Into<String>,
        kind: InvariantKind,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<Finding>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Invariant { name: name.into(), kind, doc: doc.into(), check: Box::new(check), rows_only: false }
    }

    /// Declares that this invariant's verdict on a scope can change only when the rows its
    /// context reads for that scope change: it reads nothing else from the database, and
    /// whatever else it reads (the provider's truth, what it remembers from earlier checks) can
    /// only move it towards holding (the provider's "ever paid" only becomes true). The checker
    /// may then skip a round of `always` checks over a scope whose rows have not changed since
    /// they last held ([`CheckCtx::unchanged_since_checked`]). An invariant that reads the clock,
    /// another table or anything that can turn it false without a row changing must not say so.
    pub fn rows_only(mut self) -> Self {
        self.rows_only = true;
        self
    }

    /// Whether [`Invariant::rows_only`] was declared.
    pub fn is_rows_only(&self) -> bool {
        self.rows_only
    }

    pub fn always(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<Finding>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, InvariantKind::Always, doc, check)
    }

    pub fn eventually(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<Finding>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, InvariantKind::Eventually, doc, check)
    }

    pub fn check(&self, ctx: &C) -> Result<Vec<Finding>, SqlError> {
        (self.check)(ctx)
    }
}

/// A `sometimes` mark: reached when any seed of a run set marked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sometimes {
    pub mark: String,
    pub doc: String,
}

/// A broken invariant in one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: String,
    pub kind: InvariantKind,
    /// Simulated time of the check that found it.
    pub t_ms: u64,
    /// One line per violating row: its keys and the reason.
    pub details: Vec<String>,
    /// What the violating rows are about (order codes, models, bookings), each once, in the order
    /// the findings first name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
}

impl Violation {
    /// The violation of `invariant` that `findings` make up.
    pub fn from_findings(invariant: &str, kind: InvariantKind, t_ms: u64, findings: Vec<Finding>) -> Self {
        let mut subjects: Vec<String> = Vec::new();
        let mut details = Vec::with_capacity(findings.len());
        for f in findings {
            for s in f.subjects {
                if !subjects.contains(&s) {
                    subjects.push(s);
                }
            }
            details.push(f.detail);
        }
        Violation { invariant: invariant.to_string(), kind, t_ms, details, subjects }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} invariant `{}` violated: {}", self.kind, self.invariant, self.details.join("; "))
    }
}

/// Maps rows of a "find the violations" query to findings, one per row.
pub fn violations_from_rows(
    rows: Vec<Row>,
    describe: impl Fn(&Row) -> Result<Finding, SqlError>,
) -> Result<Vec<Finding>, SqlError> {
    rows.iter().map(describe).collect()
}
