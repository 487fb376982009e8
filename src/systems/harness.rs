//! The one harness that runs any system: a [`Family`]'s configuration and flaws, its parts (the
//! reference ones, or a user's in their place), its invariants and marks, its schema — and the
//! run loop every system shares.
//!
//! A run: reset the database to the schema (the system's migrations and the user's, tables
//! emptied between seeds) and write the rows that exist before the run; then, on the simulated
//! world, open the database (which draws its outage windows), start the family's world (the
//! provider), build what the invariants read, install the checker, start every part in order,
//! run the safety and liveness phases, check the `eventually` invariants, and hand back the
//! violations (or the check that could not run, as an infrastructure error).
//!
//! Everything a user can change goes through the builder methods here, and settle's reference
//! systems are built with the very same methods, so a user's app, job or invariant gets every
//! seam the reference gets: crash and restart, partitions, diagram lanes, marks, replay, shrink.
//!
//! What it does not do: parse scenario files (the scenario layer does, through the registry) or
//! choose seeds (the runner does).

use std::sync::Arc;

use axum::Router;

use super::family::Family;
use super::floor::{FloorWorld, JobFn};
use super::part::{ActorInfo, InvariantFn, InvariantInfo, Part, Role, Start};
use super::{FlawKind, FlawSet, RunSpec, SeedReport, System, SystemError, SystemInfo, fault_marks};
use crate::check::{self, Checker, Invariant, Sometimes};
use crate::sim::tape::{self, Direct};
use crate::sim::world::lock;
use crate::sim::{Oracle, Sim};
use crate::store::{Db, Migration, SharedBackend};

/// A system ready to run seeds: a family's reference design, or a user's variation of it.
pub struct Harness<F: Family> {
    name: String,
    cfg: Arc<F::Config>,
    flaws: FlawSet<F::Flaw>,
    parts: Vec<Part<F::Env>>,
    /// Reference invariants switched off by name.
    without_invariants: Vec<String>,
    extra_invariants: Vec<InvariantFn<F::Ctx>>,
    marks: Vec<Sometimes>,
    /// The schema: the family's migrations unless replaced, then the user's added tables.
    migrations: Vec<Migration>,
    mapping: F::Mapping,
    ext: F::Ext,
}

impl<F: Family> Clone for Harness<F> {
    fn clone(&self) -> Self {
        Harness {
            name: self.name.clone(),
            cfg: self.cfg.clone(),
            flaws: self.flaws,
            parts: self.parts.clone(),
            without_invariants: self.without_invariants.clone(),
            extra_invariants: self.extra_invariants.clone(),
            marks: self.marks.clone(),
            migrations: self.migrations.clone(),
            mapping: self.mapping.clone(),
            ext: self.ext.clone(),
        }
    }
}

impl<F: Family> Harness<F> {
    /// The reference design for `cfg` with `flaws` switched on.
    pub fn new(cfg: F::Config, flaws: FlawSet<F::Flaw>) -> Self {
        let cfg = Arc::new(cfg);
        Harness {
            name: F::NAME.to_string(),
            parts: F::parts(&cfg, flaws),
            migrations: F::migrations(&cfg, flaws),
            ext: F::ext(&cfg, flaws),
            cfg,
            flaws,
            without_invariants: Vec::new(),
            extra_invariants: Vec::new(),
            marks: Vec::new(),
            mapping: F::Mapping::default(),
        }
    }

    /// The same system under another name: how it is called in scenario files, replay files and
    /// reports. A variation of a reference system should carry its own name, so that nothing
    /// ever replays the reference in its place.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Replaces the app the provider sends its webhooks to (the part named `app`) with `router`.
    pub fn with_app(self, router: impl Fn(F::Env) -> Router + Send + Sync + 'static) -> Self {
        self.with_part(Part::app("app", router))
    }

    /// Adds `part`, or replaces the part of the same name where it stood (so it starts when the
    /// one it replaces would have).
    pub fn with_part(mut self, part: Part<F::Env>) -> Self {
        match self.parts.iter_mut().find(|p| p.info.name == part.info.name) {
            Some(slot) => *slot = part,
            None => self.parts.push(part),
        }
        self
    }

    /// Removes the part called `name` (and the marks it promised): a reference job switched off
    /// for good.
    pub fn without(mut self, name: &str) -> Self {
        self.parts.retain(|p| p.info.name != name);
        self
    }

    /// Adds an invariant of your own, built afresh for every run; `[expect]` may name it.
    pub fn with_invariant(mut self, inv: impl Fn() -> Invariant<F::Ctx> + Send + Sync + 'static) -> Self {
        self.extra_invariants.push(Arc::new(inv));
        self
    }

    /// Switches a reference invariant off by name.
    pub fn without_invariant(mut self, name: &str) -> Self {
        self.without_invariants.push(name.to_string());
        self
    }

    /// A `sometimes` mark of your own (your code calls `sim.mark(mark)`): a passing run set that
    /// never reaches it is reported as vacuous.
    pub fn with_sometimes(mut self, mark: &str, doc: &str) -> Self {
        self.marks.push(Sometimes { mark: mark.to_string(), doc: doc.to_string() });
        self
    }

    /// Adds tables of your own (timestamped migrations per backend), created with the system's
    /// and emptied between seeds like them.
    pub fn with_migrations(mut self, migrations: &[Migration]) -> Self {
        self.migrations.extend_from_slice(migrations);
        self
    }

    /// Replaces the system's schema with yours and tells the built-in invariants where your data
    /// lives. Every reference part that writes the system's own tables must then be replaced too.
    pub fn with_schema(mut self, migrations: &[Migration], mapping: F::Mapping) -> Self {
        self.migrations = migrations.to_vec();
        self.mapping = mapping;
        self
    }

    /// Tells the built-in invariants where the data lives (table, column and status names).
    pub fn with_mapping(mut self, mapping: F::Mapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Changes the family's shared replaceable logic (e.g. Fanvue's sync) in place.
    pub fn with_ext(mut self, change: impl FnOnce(&mut F::Ext)) -> Self {
        change(&mut self.ext);
        self
    }

    pub fn config(&self) -> &F::Config {
        &self.cfg
    }

    pub fn flaws(&self) -> FlawSet<F::Flaw> {
        self.flaws
    }

    pub fn parts(&self) -> &[Part<F::Env>] {
        &self.parts
    }

    pub fn mapping(&self) -> &F::Mapping {
        &self.mapping
    }

    /// The invariants one run checks, in order: the reference ones not switched off, then yours.
    pub fn build_invariants(&self) -> Vec<Invariant<F::Ctx>> {
        let mut out: Vec<Invariant<F::Ctx>> = F::invariants(&self.cfg, self.flaws)
            .into_iter()
            .filter(|i| !self.without_invariants.contains(&i.name))
            .collect();
        out.extend(self.extra_invariants.iter().map(|f| f()));
        out
    }

    /// The migration set's name: the family and every version, so a different schema is never
    /// mistaken for one a backend already has.
    fn migration_set(&self) -> String {
        let versions: Vec<&str> = self.migrations.iter().map(|m| m.version).collect();
        format!("{}:{}", F::NAME, versions.join(","))
    }

    /// What a seed draws before its run: with swarm testing, its fault rates, then its load
    /// shape (whoever started the seed). `None` keeps `spec` as it is.
    fn drawn(&self, spec: &RunSpec, oracle: &mut Oracle) -> (Option<RunSpec>, Arc<F::Config>) {
        if !spec.swarm {
            return (None, self.cfg.clone());
        }
        let mut s = spec.swarmed(oracle);
        let cfg = match super::swarm::draw_shape(&F::load_shapes(), oracle, &*self.cfg, &mut s) {
            Some(shaped) => Arc::new(shaped),
            None => self.cfg.clone(),
        };
        (Some(s), cfg)
    }

    fn start_part(&self, sim: &Sim, env: &F::Env, part: &Part<F::Env>) {
        let name = part.info.name.as_str();
        match &part.start {
            Start::Serve(router) => sim.serve(name, F::observe_app(env, name, router(env.clone()))),
            Start::Main(main) => {
                let (main, env, actor) = (main.clone(), env.clone(), name.to_string());
                sim.start_actor(
                    name,
                    Arc::new(move |sim: Sim| {
                        let task = main(env.clone());
                        // Tapped for the floor, each start (the first, and every restart) runs
                        // under an id of its own, as a handler runs under its delivery's.
                        match sim.tap() {
                            Some(tap) => Box::pin(tape::in_delivery(tap.job_started(&actor, sim.now_ms()), task)),
                            None => task,
                        }
                    }),
                );
            }
            Start::Once(start) => start(sim, env),
        }
    }
}

impl<F: Family> System for Harness<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> SystemInfo {
        let mut actors: Vec<ActorInfo> = F::world_actors(&self.cfg);
        for p in &self.parts {
            if !actors.iter().any(|a| a.name == p.info.name) {
                actors.push(p.info.clone());
            }
        }
        SystemInfo {
            name: self.name.clone(),
            family: F::NAME,
            table: F::TABLE,
            doc: F::DOC.to_string(),
            flaws: F::Flaw::ALL.iter().map(|f| (f.name(), f.doc())).collect(),
            invariants: self
                .build_invariants()
                .iter()
                .map(|i| InvariantInfo { name: i.name.clone(), kind: i.kind, doc: i.doc.clone() })
                .collect(),
            actors,
            audit: F::audit(),
        }
    }

    fn sometimes(&self, spec: &RunSpec) -> Vec<Sometimes> {
        let mut marks = fault_marks(spec);
        marks.extend(F::world_marks(&self.cfg, spec));
        marks.extend(self.parts.iter().flat_map(|p| p.marks.iter().cloned()));
        marks.extend(F::ext_marks(&self.cfg, &self.ext));
        marks.extend(self.marks.iter().cloned());
        let mut seen = std::collections::BTreeSet::new();
        marks.retain(|m| seen.insert(m.mark.clone()));
        marks
    }

    fn floor_world(
        &self,
        spec: &RunSpec,
        oracle: Oracle,
        backend: SharedBackend,
        direct: Direct,
    ) -> Option<FloorWorld> {
        Some(self.direct_world(spec, oracle, backend, direct))
    }

    fn run(&self, spec: &RunSpec, mut oracle: Oracle, backend: SharedBackend) -> Result<SeedReport, SystemError> {
        let (swarmed, cfg) = self.drawn(spec, &mut oracle);
        let spec = swarmed.as_ref().unwrap_or(spec);
        let cfg = &cfg;
        {
            let mut b = lock(&backend);
            b.reset(&self.migration_set(), &self.migrations).map_err(SystemError::Database)?;
            crate::store::transaction(b.as_mut(), |tx| F::seed_rows(cfg, tx, spec.sim.epoch_ms))
                .map_err(SystemError::Database)?;
        }
        let out = Sim::run(spec.sim.clone(), oracle, |sim| async move {
            let db = Db::new(&sim, backend, spec.db.clone());
            let env = F::env(&sim, &db, cfg, &self.ext);
            let ctx = Arc::new(F::ctx(&env, &self.mapping));
            let checker = Arc::new(Checker::new(self.build_invariants()));
            check::install(&sim, checker.clone(), ctx.clone());
            for part in &self.parts {
                self.start_part(&sim, &env, part);
            }
            sim.run_phases().await;
            if !sim.is_stopped() {
                checker.check_eventually(&sim, &ctx);
            }
            let export = if spec.export { F::export(&env) } else { None };
            (checker.violations(), checker.failure(), export)
        })
        .map_err(SystemError::Runtime)?;
        let (violations, failure, export) = &out.result;
        if let Some(f) = failure {
            return Err(SystemError::Check(f.clone()));
        }
        let (violations, export) = (violations.clone(), export.clone());
        let mut report = SeedReport::from_run(out.map(|_| violations));
        report.export = export;
        Ok(report)
    }
}

impl<F: Family> Harness<F> {
    /// The world of the HTTP floor for one seed (see [`super::floor`]): the seed's draws as in
    /// [`System::run`], then the environment on a direct-mode `Sim` and every app's router,
    /// built as a run builds them but without settle's observation of them. Nothing is
    /// started: no provider task, actor or checker.
    fn direct_world(&self, spec: &RunSpec, mut oracle: Oracle, backend: SharedBackend, direct: Direct) -> FloorWorld {
        let (swarmed, cfg) = self.drawn(spec, &mut oracle);
        let spec = swarmed.as_ref().unwrap_or(spec);
        let sim = Sim::direct(spec.sim.clone(), oracle, direct);
        let db = Db::new(&sim, backend.clone(), spec.db.clone());
        let env = F::env(&sim, &db, &cfg, &self.ext);
        let routers = self
            .parts
            .iter()
            .filter_map(|p| match &p.start {
                Start::Serve(router) => Some((p.info.name.clone(), router(env.clone()))),
                _ => None,
            })
            .collect();
        let jobs = self
            .parts
            .iter()
            .filter_map(|p| match &p.start {
                Start::Main(main) => {
                    let (main, env) = (main.clone(), env.clone());
                    Some((p.info.name.clone(), Arc::new(move || main(env.clone())) as JobFn))
                }
                _ => None,
            })
            .collect();
        FloorWorld { sim, backend, routers, jobs }
    }
}

/// An actor's role by its name in `info`, for diagrams: the system's own word, never a guess.
pub fn role_of(info: &SystemInfo, actor: &str) -> Option<Role> {
    info.actors.iter().find(|a| a.name == actor).map(|a| a.role)
}
