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
}

type CheckFn<C> = dyn Fn(&C) -> Result<Vec<String>, SqlError> + Send + Sync;

/// A named property of a system. `check` returns one line per violating row (empty = holds).
pub struct Invariant<C> {
    pub name: String,
    pub kind: InvariantKind,
    pub doc: String,
    check: Box<CheckFn<C>>,
}

impl<C> Invariant<C> {
    pub fn new(
        name: impl Into<String>,
        kind: InvariantKind,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<String>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Invariant { name: name.into(), kind, doc: doc.into(), check: Box::new(check) }
    }

    pub fn always(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<String>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, InvariantKind::Always, doc, check)
    }

    pub fn eventually(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&C) -> Result<Vec<String>, SqlError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, InvariantKind::Eventually, doc, check)
    }

    pub fn check(&self, ctx: &C) -> Result<Vec<String>, SqlError> {
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
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} invariant `{}` violated: {}", self.kind, self.invariant, self.details.join("; "))
    }
}

/// Maps rows of a "find the violations" query to lines, one per row.
pub fn violations_from_rows(
    rows: Vec<Row>,
    describe: impl Fn(&Row) -> Result<String, SqlError>,
) -> Result<Vec<String>, SqlError> {
    rows.iter().map(describe).collect()
}
