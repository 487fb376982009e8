//! The parts a system is made of, each replaceable: apps (axum routers served as actors), actors
//! (jobs, crons, checkouts, syncs, admins, customers), invariants and `sometimes` marks — and
//! what is known about each actor: its role (which diagram lane it stands in) and whether it may
//! crash.
//!
//! A part is data: a name, a role and a function that starts it from the system's per-run
//! environment (`E`, see [`super::Family::Env`]). settle's reference parts and a user's are the
//! same type, so a user's job can crash, restart from its own factory, be partitioned from the
//! provider and get its own lane, exactly as the reference job can.
//!
//! What it does not do: decide in what order parts start (the harness starts them in list order,
//! which is part of a run's determinism) or know any system.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use serde::Serialize;

use crate::check::{Invariant, InvariantKind, Sometimes};
use crate::sim::Sim;
use crate::sim::world::ActorFuture;

/// What an actor is, for people and for diagrams: the lane it stands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The payment provider (its API and its webhook sender).
    Provider,
    /// Someone outside the shop who acts on the provider or the shop: customers, fans, forgers,
    /// the owner looking at a dashboard.
    Client,
    /// A person's browser: tabs that cache, poll and show what the shop says (drawn in a lane of
    /// their own, apart from the provider's).
    Browser,
    /// The shop's own request handlers: webhook endpoints, checkout, admin pages.
    App,
    /// The shop's background work: crons, reconciliation, syncs, monitors.
    Jobs,
    /// The database.
    Database,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::Client => "client",
            Role::Browser => "browser",
            Role::App => "app",
            Role::Jobs => "jobs",
            Role::Database => "database",
        }
    }
}

/// One actor of a system, as `settle list`, scenario validation and diagrams see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActorInfo {
    pub name: String,
    pub role: Role,
    /// Whether `crashes.actors` may name it.
    pub crashable: bool,
}

/// One invariant, as `settle list` and scenario validation see it (derived from the very
/// invariants a run checks, never from a second list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvariantInfo {
    pub name: String,
    pub kind: InvariantKind,
    pub doc: String,
}

/// Builds an app's router from the run's environment.
pub type AppFn<E> = Arc<dyn Fn(E) -> Router + Send + Sync>;
/// Builds an actor's main task from the run's environment; runs again after every restart.
pub type MainFn<E> = Arc<dyn Fn(E) -> ActorFuture + Send + Sync>;
/// Starts an actor once: draws its plan and spawns its tasks (which a crash kills for good).
pub type OnceFn<E> = Arc<dyn Fn(&Sim, &E) + Send + Sync>;
/// Builds one invariant, afresh for every run (an invariant may remember what it saw).
pub type InvariantFn<C> = Arc<dyn Fn() -> Invariant<C> + Send + Sync>;

/// How a part starts.
pub enum Start<E> {
    /// An HTTP endpoint: the router is served as the actor; a crash refuses its requests until
    /// the restart.
    Serve(AppFn<E>),
    /// A main task, restarted from this factory after a crash (a cron, a worker).
    Main(MainFn<E>),
    /// Started once when the run begins (load: checkouts, customers, an admin's clicks).
    Once(OnceFn<E>),
}

impl<E> Clone for Start<E> {
    fn clone(&self) -> Self {
        match self {
            Start::Serve(f) => Start::Serve(f.clone()),
            Start::Main(f) => Start::Main(f.clone()),
            Start::Once(f) => Start::Once(f.clone()),
        }
    }
}

/// An app or actor of a system, with the `sometimes` marks it promises to reach.
pub struct Part<E> {
    pub info: ActorInfo,
    pub start: Start<E>,
    /// Marks a run set must reach when this part is in it (its interesting branches).
    pub marks: Vec<Sometimes>,
}

impl<E> Clone for Part<E> {
    fn clone(&self) -> Self {
        Part { info: self.info.clone(), start: self.start.clone(), marks: self.marks.clone() }
    }
}

impl<E: Clone + Send + 'static> Part<E> {
    /// An app: `router` is served as actor `name`, which may crash (its requests are refused
    /// while it is down).
    pub fn app(name: &str, router: impl Fn(E) -> Router + Send + Sync + 'static) -> Self {
        Part {
            info: ActorInfo { name: name.to_string(), role: Role::App, crashable: true },
            start: Start::Serve(Arc::new(router)),
            marks: Vec::new(),
        }
    }

    /// A background actor whose main task `main` builds; it may crash, and restarts by running
    /// `main` again.
    pub fn job<F, Fut>(name: &str, main: F) -> Self
    where
        F: Fn(E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Part {
            info: ActorInfo { name: name.to_string(), role: Role::Jobs, crashable: true },
            start: Start::Main(Arc::new(move |env: E| Box::pin(main(env)) as ActorFuture)),
            marks: Vec::new(),
        }
    }

    /// An actor started once when the run begins (`start` draws its plan and spawns its tasks);
    /// it does not crash unless [`Part::crashable`] says so, and nothing restarts it.
    pub fn once(name: &str, role: Role, start: impl Fn(&Sim, &E) + Send + Sync + 'static) -> Self {
        Part {
            info: ActorInfo { name: name.to_string(), role, crashable: false },
            start: Start::Once(Arc::new(start)),
            marks: Vec::new(),
        }
    }

    /// The same part in another role (its diagram lane).
    pub fn role(mut self, role: Role) -> Self {
        self.info.role = role;
        self
    }

    /// Whether `crashes.actors` may name it.
    pub fn crashable(mut self, crashable: bool) -> Self {
        self.info.crashable = crashable;
        self
    }

    /// A `sometimes` mark this part promises: a passing run set that never reaches it is vacuous.
    pub fn sometimes(mut self, mark: &str, doc: &str) -> Self {
        self.marks.push(Sometimes { mark: mark.to_string(), doc: doc.to_string() });
        self
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }
}
