//! What a system folder implements: a [`Family`] — its scenario table, flaws, the world its parts
//! run in (providers and shared handles), what its invariants read, and its reference parts.
//!
//! The harness ([`super::Harness`]) does everything else, the same way for every system: schema
//! migrations, the database, the checker, serving apps, starting actors, phases, the eventually
//! checks, the report. A system never writes its own run loop.
//!
//! What it does not do: hold state. A family is a type; a run's state lives in its `Env`.

use std::fmt::Debug;
use std::sync::Arc;

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{FlawKind, FlawSet, RunSpec};
use crate::check::{CheckCtx, Invariant, Sometimes};
use crate::sim::Sim;
use crate::store::{Db, Migration, SqlError, Tx};

use super::part::{ActorInfo, Part};

/// A system's type-level description. Implemented once per folder under `src/systems/` (and by
/// a user's own system: see the test that builds one through the public API alone).
pub trait Family: Sized + Send + Sync + 'static {
    /// The scenario table (`[midtrans]`), with validation beyond serde's in [`Family::validate`].
    type Config: Clone + Debug + Default + Serialize + DeserializeOwned + PartialEq + Send + Sync + 'static;
    /// The system's named flaws.
    type Flaw: FlawKind + Debug + Send + Sync;
    /// Everything a part works with during one run (the simulation, the database, the provider,
    /// the configuration, shared bookkeeping); cheap to clone.
    type Env: Clone + Send + Sync + 'static;
    /// What the invariants read (a snapshot of the database and the provider's truth).
    type Ctx: CheckCtx + Send + Sync + 'static;
    /// Where the system's data lives (table, column and status names), so the built-in
    /// invariants read a user's schema; `()` for a system with no mapping.
    type Mapping: Clone + Debug + Default + Send + Sync + 'static;
    /// Family-specific replaceable logic that several parts share (e.g. Fanvue's sync, which both
    /// the cron and the force-sync endpoint run); `()` when there is none.
    type Ext: Clone + Send + Sync + 'static;

    /// The system's name in scenario files.
    const NAME: &'static str;
    /// The scenario table that configures it (`midtrans` for `[midtrans]`).
    const TABLE: &'static str;
    /// One line for `settle list`.
    const DOC: &'static str;

    /// Checks what serde cannot; the message names the field.
    fn validate(cfg: &Self::Config) -> Result<(), String>;

    /// The system's own schema (timestamped migrations per backend). A flaw may leave one out.
    fn migrations(cfg: &Self::Config, flaws: FlawSet<Self::Flaw>) -> Vec<Migration>;

    /// Rows that exist before a run starts, written in the reset's transaction (e.g. the
    /// creators a shop has connected). `epoch_ms` is the run's wall-clock start.
    fn seed_rows(cfg: &Self::Config, tx: &mut Tx, epoch_ms: u64) -> Result<(), SqlError> {
        let _ = (cfg, tx, epoch_ms);
        Ok(())
    }

    /// The reference logic's shared replaceable pieces for this configuration.
    fn ext(cfg: &Arc<Self::Config>, flaws: FlawSet<Self::Flaw>) -> Self::Ext;

    /// Starts the world the parts run in (the provider serves its API here) and returns the
    /// run's environment. It must draw no choice the reference did not draw in its place.
    fn env(sim: &Sim, db: &Db, cfg: &Arc<Self::Config>, ext: &Self::Ext) -> Self::Env;

    /// What the invariants read, over the schema `mapping` describes.
    fn ctx(env: &Self::Env, mapping: &Self::Mapping) -> Self::Ctx;

    /// The actors the world itself has (the provider), whatever the parts are.
    fn world_actors(cfg: &Self::Config) -> Vec<ActorInfo>;

    /// The reference apps and actors with `flaws` switched on, in the order they start (part of
    /// a run's determinism).
    fn parts(cfg: &Arc<Self::Config>, flaws: FlawSet<Self::Flaw>) -> Vec<Part<Self::Env>>;

    /// The reference invariants, built afresh for each run (their names, kinds and docs are what
    /// `settle list` shows and `[expect]` may name).
    fn invariants(cfg: &Self::Config, flaws: FlawSet<Self::Flaw>) -> Vec<Invariant<Self::Ctx>>;

    /// The load shapes a swarm run draws from, one per seed (see [`super::swarm`]); none by
    /// default.
    fn load_shapes() -> Vec<super::swarm::LoadShape<Self::Config>> {
        Vec::new()
    }

    /// The marks the world promises whatever the parts (a provider-side duplicate, say).
    fn world_marks(cfg: &Self::Config, spec: &RunSpec) -> Vec<Sometimes>;

    /// The marks the shared logic in `ext` promises (they go when it is replaced).
    fn ext_marks(cfg: &Self::Config, ext: &Self::Ext) -> Vec<Sometimes> {
        let _ = (cfg, ext);
        Vec::new()
    }

    /// Wraps every app served as `actor`, the reference one or a user's, so the harness can
    /// observe what arrives (e.g. a notification before the checkout's insert) without the app
    /// knowing. The default is no wrapper.
    fn observe_app(env: &Self::Env, actor: &str, router: Router) -> Router {
        let _ = (env, actor);
        router
    }

    /// The provider's ground truth as an export (JSON Lines, the audit's format), when the
    /// system has one; asked at the end of a run that wants it (`replay --keep-db`).
    fn export(env: &Self::Env) -> Option<String> {
        let _ = env;
        None
    }

    /// The name of the `settle audit` pass for this system's schema, if there is one.
    fn audit() -> Option<&'static str> {
        None
    }
}
