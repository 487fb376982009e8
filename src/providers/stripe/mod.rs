//! Stripe, the provider of seed 004: Checkout Sessions and PaymentIntents as they behave
//! (`../shared/PROVIDERS.md`), built on the provider [`kit`](super::kit).
//!
//! - [`status`]: the PaymentIntent and Checkout Session status machines, "paid", event types;
//!   also what the audit's export converter reads saved payloads with.
//! - [`objects`]: ids and the JSON of sessions, intents, charges, refunds, events, lists, errors.
//! - [`config`]: `[stripe]` in a scenario: keys, webhook delays and retry schedule (3 days live),
//!   rate limits, 3-D Secure, declines, async methods, API faults.
//! - [`model`]: the provider and its ground truth (sessions, intents, events, refunds).
//! - [`merchant`]: what the API does — create and expire sessions, cancel intents, refund.
//! - [`customer`]: the customer's side — pay by card, by an async method, abandon.
//! - [`events`]: events and their signed, retried webhooks.
//! - [`api`]: the HTTP API the app and its jobs call, with idempotency keys and rate limits.
//! - [`webhook`]: verifying `Stripe-Signature` as Stripe's libraries do, for apps and tests.

pub mod api;
pub mod config;
pub mod customer;
pub mod events;
pub mod merchant;
pub mod model;
pub mod objects;
pub mod status;
#[cfg(test)]
mod tests;
pub mod webhook;

pub use config::StripeConfig;
pub use model::{
    ACTOR, CardOutcome, DeliveryState, EventRecord, IntentTruth, NewSession, PayError, SIGNATURE_HEADER, SessionTruth,
    Stripe,
};
pub use status::{EventType, IntentStatus, PaymentStatus, SessionStatus};
