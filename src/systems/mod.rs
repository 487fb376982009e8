//! Systems under test, and the plug-in platform they are built on.
//!
//! A system is a *family* ([`Family`]: one folder here, with its scenario table, flaws, world,
//! reference parts and invariants) run by the one generic [`Harness`]. settle's reference
//! systems and a user's own are built the same way, through the public API, so every part —
//! the app, each actor, the tables, the invariants, the marks, the schema mapping — can be
//! replaced or added ([`Harness::with_app`], [`Harness::with_part`], [`Harness::with_invariant`],
//! [`Harness::with_schema`] …). The [`Registry`] holds every system a program knows, by name.
//!
//! - [`part`]: apps, actors and their roles; [`family`]: what a system folder implements;
//!   [`harness`]: the run loop every system shares; [`registry`]: systems by name;
//! - [`flaws`]: flaw sets; [`swarm`]: per-seed fault rates;
//! - [`midtrans_orders`] (seed 001), [`fanvue_revenue`] (seed 002), [`paystack_bookings`]
//!   (seed 003, with browser tabs as actors) and [`stripe_barbers`] (seed 004): the reference
//!   systems.
//!
//! Adding a system: a folder here with a [`Family`] implementation, and one line in
//! [`Registry::builtin`]. A system never imports another system.

pub mod family;
pub mod fanvue_revenue;
pub mod flaws;
pub mod floor;
pub mod harness;
pub mod midtrans_orders;
pub mod part;
pub mod paystack_bookings;
pub mod registry;
pub mod stripe_barbers;
pub mod swarm;

pub use family::Family;
pub use flaws::{FlawKind, FlawSet};
pub use harness::Harness;
pub use part::{ActorInfo, InvariantInfo, Part, Role, Start};
pub use registry::{Registry, Variant};
pub use swarm::run_seed;

use std::collections::BTreeMap;

use crate::check::{CheckFailure, Sometimes, Violation};
use crate::sim::{Event, Oracle, RunOutput, SimConfig};
use crate::store::{DbConfig, SharedBackend, SqlError};

/// The system-independent part of a run: simulation and database settings.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub sim: SimConfig,
    pub db: DbConfig,
    /// Draw this seed's fault rates from the oracle first ([`swarm`]).
    pub swarm: bool,
    /// Hand back the provider's ground truth as an export at the end ([`SeedReport::export`]).
    pub export: bool,
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
    /// The provider's truth as an export (JSON Lines), when the spec asked and the system has one.
    pub export: Option<String>,
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
            export: None,
        }
    }
}

/// Why a seed could not run at all or could not be judged (as opposed to finding a violation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemError {
    #[error("database")]
    Database(#[source] SqlError),
    #[error("simulation runtime")]
    Runtime(#[source] std::io::Error),
    /// A check could not read what it checks: the verdict would be a guess.
    #[error("checker")]
    Check(#[source] CheckFailure),
}

/// A system the runner can drive.
pub trait System: Send + Sync {
    /// Its identity: the name scenario files and replay files give it.
    fn name(&self) -> &str;
    /// What it offers: flaws, invariants, actors with their roles.
    fn info(&self) -> SystemInfo;
    /// The `sometimes` marks a run set with this configuration must reach.
    fn sometimes(&self, spec: &RunSpec) -> Vec<Sometimes>;
    /// Runs one seed on a clean database.
    fn run(&self, spec: &RunSpec, oracle: Oracle, backend: SharedBackend) -> Result<SeedReport, SystemError>;
    /// The world the HTTP floor replays a seed of this system in (see [`floor`]): its apps'
    /// routers on a direct-mode `Sim`. `None`: this system has no in-process routers to replay.
    fn floor_world(
        &self,
        _spec: &RunSpec,
        _oracle: Oracle,
        _backend: SharedBackend,
        _direct: crate::sim::tape::Direct,
    ) -> Option<floor::FloorWorld> {
        None
    }
}

/// A system's catalogue entry: for `settle list`, scenario validation and diagram lanes.
#[derive(Clone, Debug)]
pub struct SystemInfo {
    pub name: String,
    /// The family it is built from (the reference system's name).
    pub family: &'static str,
    /// Its scenario table.
    pub table: &'static str,
    pub doc: String,
    /// (name, doc)
    pub flaws: Vec<(&'static str, &'static str)>,
    pub invariants: Vec<InvariantInfo>,
    pub actors: Vec<ActorInfo>,
    /// The `settle audit` pass for its schema, if any.
    pub audit: Option<&'static str>,
}

impl SystemInfo {
    /// The entry of a system built by hand (no family, table, flaws, audit), for tests and
    /// throwaway systems that implement [`System`] themselves.
    pub fn bare(name: &str) -> Self {
        SystemInfo {
            name: name.to_string(),
            family: "",
            table: "",
            doc: String::new(),
            flaws: Vec::new(),
            invariants: Vec::new(),
            actors: Vec::new(),
            audit: None,
        }
    }
}

/// Every system settle knows.
pub fn catalog() -> Vec<SystemInfo> {
    Registry::builtin().catalog()
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
    let partitions = net.partitions.count_max > 0 && net.partitions.duration.is_some();
    let (refuse, swallow) = net.partitions.kind.can();
    add(partitions && refuse, "fault:partition", "a partition refused a request");
    add(partitions && swallow, "fault:black-hole", "a black-hole partition swallowed a request");
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
