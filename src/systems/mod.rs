//! Systems under test: one module per system, each the correct reference reconciliation logic
//! plus named flaws that reintroduce known bugs, its schema, its actors and its invariants.
//!
//! A system never imports another system. Each implements [`System`], which is all the scenario
//! runner needs: the `sometimes` marks a run set must reach, and how to run one seed.

pub mod fanvue_revenue;
pub mod flaws;
pub mod midtrans_orders;
pub mod swarm;

pub use flaws::{FlawKind, FlawSet};
pub use swarm::run_seed;

use std::collections::BTreeMap;

use crate::check::{Sometimes, Violation};
use crate::sim::{Event, Oracle, RunOutput, SimConfig};
use crate::store::{DbConfig, SharedBackend};

/// The system-independent part of a run: simulation and database settings.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub sim: SimConfig,
    pub db: DbConfig,
    /// Draw this seed's fault rates from the oracle first ([`swarm`]).
    pub swarm: bool,
}

/// What one seed produced.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub violations: Vec<Violation>,
    /// Recorded events (empty unless the run recorded its trace).
    pub events: Vec<Event>,
    pub event_count: u64,
    /// The oracle's choices: replaying them reproduces the run.
    pub choices: Vec<u64>,
    /// How many values each choice could have taken (for exhaustive exploration).
    pub arities: Vec<u64>,
    pub end_ms: u64,
    pub marks: BTreeMap<String, u64>,
}

impl SeedReport {
    /// A seed's report from its finished run, whose result is the violations found.
    pub fn from_run(out: RunOutput<Vec<Violation>>) -> Self {
        SeedReport {
            violations: out.result,
            events: out.events,
            event_count: out.event_count,
            choices: out.choices,
            arities: out.arities,
            end_ms: out.end_ms,
            marks: out.marks,
        }
    }
}

/// Why a seed could not run at all (as opposed to finding a violation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemError {
    #[error("database: {0}")]
    Database(String),
    #[error("runtime: {0}")]
    Runtime(String),
}

/// A system the runner can drive.
pub trait System: Send + Sync {
    fn name(&self) -> &str;
    /// The `sometimes` marks a run set with this configuration must reach.
    fn sometimes(&self, spec: &RunSpec) -> Vec<Sometimes>;
    /// Runs one seed on a clean database.
    fn run(&self, spec: &RunSpec, oracle: Oracle, backend: SharedBackend) -> Result<SeedReport, SystemError>;
}

/// A system's catalogue entry for `settle list`.
#[derive(Clone, Debug)]
pub struct SystemInfo {
    pub name: &'static str,
    pub doc: &'static str,
    pub flaws: Vec<(&'static str, &'static str)>,
    /// (name, kind, doc)
    pub invariants: Vec<(&'static str, &'static str, &'static str)>,
    /// (actor, can it crash)
    pub actors: Vec<(&'static str, bool)>,
}

/// Every system settle knows.
pub fn catalog() -> Vec<SystemInfo> {
    vec![midtrans_orders::describe(), fanvue_revenue::describe()]
}

/// The `sometimes` marks of the faults a spec enables: a fault that is on must fire somewhere.
pub fn fault_marks(spec: &RunSpec) -> Vec<Sometimes> {
    let net = &spec.sim.net;
    let db = &spec.db;
    let mut out = Vec::new();
    let mut add = |on: bool, mark: &str, doc: &str| {
        if on {
            out.push(Sometimes { mark: mark.to_string(), doc: doc.to_string() });
        }
    };
    add(!net.drop_request.is_zero(), "fault:drop-request", "a request was lost");
    add(!net.drop_response.is_zero(), "fault:drop-response", "a response was lost after the handler ran");
    add(!net.duplicate.is_zero(), "fault:duplicate", "a request was delivered twice");
    add(!net.reorder.is_zero(), "fault:reorder", "a request was delayed behind later ones");
    add(
        net.partitions.count_max > 0 && net.partitions.duration.is_some(),
        "fault:partition",
        "a partition refused a request",
    );
    add(db.outages_max > 0, "fault:db-outage", "a unit of work hit a database outage");
    add(!db.slow_commit.is_zero(), "fault:db-slow-commit", "a commit was slow");
    add(!db.lost_answer.is_zero(), "fault:db-lost-answer", "a commit's answer was lost");
    let crashes = &spec.sim.crashes;
    add(
        crashes.count_max > 0 && !crashes.actors.is_empty() && crashes.down.is_some(),
        "fault:crash",
        "an actor crashed",
    );
    out
}
