//! Settle's providers and invariants inside a user's own turmoil simulation (cargo feature
//! `turmoil`).
//!
//! Teams that already test their services on [turmoil](https://github.com/tokio-rs/turmoil)
//! (hosts, a simulated network, seeded faults) get settle's payment providers as turmoil hosts
//! beside their own: the real APIs, real signed webhooks with the real retry schedules, sent over
//! turmoil's network to the user's host, so turmoil's partitions, holds and latencies apply to
//! them. A seeded load plan drives customers (paying, abandoning, reversed by the provider), and
//! at the end settle's invariants compare the provider's ground truth with the user's database
//! through a mapping, giving settle's [`crate::check::Violation`]s and a story for each.
//!
//! - [`runtime`]: the provider kit's [`crate::providers::kit::Runtime`] on a turmoil host
//!   ([`TurmoilRuntime`]) and what the providers of a run share ([`World`]: the seeded oracle,
//!   the recorder, the phase, the address book).
//! - [`http`]: serving an axum `Router` on `turmoil::net::TcpListener`, and sending a request
//!   over `turmoil::net::TcpStream` (hyper, HTTP/1.1).
//! - [`midtrans`]: Midtrans as a host ([`MidtransHost`]: Snap + status API + notifications) and
//!   the load driver ([`MidtransHost::customers`], a turmoil client).
//! - [`crate::hosted`] (shared with `settle drive`): seed 001's invariants over the user's
//!   database and the host's truth ([`OrderChecks`]), and [`story`].
//!
//! In a test, the shape is:
//!
//! ```ignore
//! let world = World::new(seed, DEFAULT_EPOCH_MS);
//! let midtrans = MidtransHost::new(&world, "midtrans", ProviderConfig::default(), LoadPlan::default());
//! midtrans.notify("shop", 8080);               // notify_actor → the user's turmoil host
//! let mut sim = turmoil::Builder::new().tick_duration(..).simulation_duration(..).rng_seed(seed).build();
//! let h = midtrans.clone();
//! sim.host("midtrans", move || h.clone().serve(443));
//! sim.host("shop", || my_service());           // the user's own service
//! sim.client("customers", midtrans.customers(|c| checkout_over_http(c)));
//! sim.run()?;
//! let violations = OrderChecks::new(mapping).at_end(midtrans.provider(), &mut my_db, world.now_ms())?;
//! ```
//!
//! Fanvue and Stripe run the same way at the level of the runtime: build the model with
//! `Fanvue::new(world.runtime("fanvue").rt(), cfg)` (or `Stripe::new`), name its webhook
//! party with [`World::add_peer`], and serve its router with [`serve_provider`] (tested: Fanvue's
//! API, and Stripe's Checkout API with its signed webhooks reaching a user's host). Their load
//! drivers and invariants over a user's database are not written yet (see the README).
//!
//! Determinism: every choice settle makes comes from the [`World`]'s oracle, seeded by the
//! user; turmoil runs every host on one thread, in a fixed order, from its own seed. A run is
//! replayable when the user's service keeps the same rules (no wall clock, no thread timing).
//!
//! What it does not do: drive the simulation (the user's `turmoil::Sim` does), shrink a failing
//! run, or check `always` invariants after every write (only when the user asks, see
//! [`OrderChecks::always`]); settle's own simulator does all three.

pub mod http;
pub mod midtrans;
pub mod runtime;
#[cfg(test)]
mod tests;

use axum::Router;

pub use crate::hosted::{OrderChecks, story};
pub use midtrans::{Checkout, LoadPlan, MidtransHost};
pub use runtime::{Recorder, TraceLine, TurmoilRuntime, World};

/// A turmoil host's software serving any settle provider: attaches `runtime` to the host (so the
/// provider's tasks run there) and serves `router` on `port`.
pub async fn serve_provider(runtime: TurmoilRuntime, port: u16, router: Router) -> ::turmoil::Result {
    runtime.attach_current();
    http::serve(port, router).await?;
    Ok(())
}
