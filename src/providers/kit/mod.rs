//! The shared provider kit: what every simulated payment provider needs, written once.
//!
//! - [`runtime`]: the small interface a provider model runs on ([`Runtime`], held as [`Rt`]) and
//!   its implementation on settle's simulated world ([`SimRuntime`]).
//! - [`webhook`]: the webhook sender — attempts as messages through the runtime, the provider's
//!   retry schedule, jitter, timeouts, provider-side duplicates, giving up.
//! - [`retry`]: retry schedules as data (intervals, rules by response class, age limit).
//! - [`sign`]: signatures — SHA-512 concatenation (Midtrans), HMAC-SHA256 `t=,v1=` (Stripe) and
//!   `t=,v0=` (Fanvue), HMAC-SHA512 hex (Paystack).
//! - [`book`]: the ground-truth book — per object its current state and full history with times.
//! - [`list`]: paginated lists (`limit`, `starting_after` / `ending_before`, `has_more`).
//! - [`ratelimit`]: rate-limit buckets per caller.
//! - [`idempotency`]: `Idempotency-Key` storage (a retry gets the saved answer, even a 500).
//! - [`faults`]: faults on the provider's own API (5xx, 429, black holes, stale reads), off by
//!   default, drawn through the oracle and marked when they fire.
//!
//! # One model, several transports
//!
//! A provider model (its status machine, payloads, signatures, retry schedule and APIs) is
//! written against two things only:
//!
//! 1. **An [`Rt`]**, for everything it does on its own: read the clock ([`Rt::now_ms`] for
//!    durations, [`Rt::wall_ms`] for payload timestamps and signatures), sleep, spawn its own
//!    tasks (expiries, delayed settlements, webhook senders), send webhooks to the app
//!    ([`Rt::send`] → status, headers, body, or a timeout or refusal), draw every random choice
//!    from the one oracle ([`Rt::choose`]), record trace lines, marks and faults, and read the
//!    phase (faults fire only in the safety phase).
//! 2. **An axum `Router`**, for everything done to it: the API the app and its jobs call. The
//!    provider builds the router; the transport serves it. Customer-side actions (pay, abandon)
//!    are plain Rust methods on the provider, called by whatever drives the load.
//!
//! So a provider never names [`crate::sim::Sim`] outside its `start` convenience function.
//!
//! **Adding a provider**: hold an [`Rt`] and your state (a [`book::Book`] per kind of object
//! behind a `Mutex`), build deliveries with [`webhook::Delivery`] (a [`webhook::Signer`] for
//! per-attempt signature headers) and send them with a [`webhook::WebhookSender`] built from
//! your [`retry::RetrySchedule`]; serve your API as a `Router` whose handlers use
//! [`list`], [`ratelimit`], [`idempotency`] and [`faults`] as they need; offer
//! `fn new(rt: Rt, cfg) -> Self`, `fn router(&self) -> Router`, and for the simulation
//! `fn start(sim, cfg)` = `new(Rt::sim(sim, ACTOR), cfg)` + `sim.serve(ACTOR, p.router())`.
//! Midtrans, Fanvue and Stripe are built this way.
//!
//! **Adding a transport**: implement [`Runtime`] (twelve methods) and serve the provider's
//! `Router`:
//! - *Simulation* ([`SimRuntime`]): time is tokio's paused clock, `send` is
//!   [`crate::sim::Sim::request`] on the simulated network, the oracle is the run's.
//! - *Real HTTP on 127.0.0.1* (for a service in any language): `now_ms`/`wall_ms` from tokio's
//!   real clock (wall time offset as the scenario wants, so signatures carry the time the
//!   service sees), `sleep_ms` = `tokio::time::sleep` (scaled if time is compressed), `spawn` =
//!   `tokio::spawn` tracked in a `JoinSet` so the provider can be stopped, `send` = an HTTP client
//!   request to the service's base URL plus the delivery's path (map `to` through a table of
//!   names → URLs), `with_oracle` = a `Mutex<Oracle>` seeded from the run's seed, `record`/`mark`
//!   into the run's trace. Serve `provider.router()` with `axum::serve` on a `TcpListener`.
//! - *A host in a user's turmoil simulation*: the same, with turmoil's `net::TcpListener` for the
//!   router and a turmoil-aware HTTP client for `send`, `tokio::time` (which turmoil drives) for
//!   the clock, and an oracle seeded from the user's seed.
//!
//! Nothing in the kit or in a provider reads the wall clock, spawns threads or iterates a
//! `HashMap`, so a transport that keeps those rules keeps its runs replayable.
//!
//! What the kit does not do: model any particular provider, or serve HTTP itself.

pub mod book;
pub mod faults;
pub mod idempotency;
pub mod list;
pub mod ratelimit;
pub mod retry;
pub mod runtime;
pub mod sign;
pub mod webhook;

pub use faults::{ApiFault, ApiFaults};
pub use retry::{Outcome, RetrySchedule};
pub use runtime::{BoxFuture, Rt, Runtime, SimRuntime};
pub use webhook::{Delivery, WebhookSender};
