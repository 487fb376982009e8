//! Stripe, the provider of seed 004: Checkout Sessions and PaymentIntents as they behave
//! (`../shared/PROVIDERS.md`), built on the provider [`kit`](super::kit).
//!
//! - [`status`]: the PaymentIntent and Checkout Session status machines, "paid", event types;
//!   also what the audit's export converter reads saved payloads with.
//! - [`objects`]: ids and the JSON of sessions, intents, charges, refunds, events, lists, errors.
//! - [`config`]: `[stripe]` in a scenario: keys, webhook delays and retry schedule (3 days live),
//!   rate limits, 3-D Secure, declines, async methods, API faults.
//! - [`model`]: the provider — ground truth, the customer's side, expiry, refunds, events and
//!   their signed webhooks.
//! - [`api`]: the HTTP API the app and its jobs call, with idempotency keys and rate limits.
//! - [`webhook`]: verifying `Stripe-Signature` as Stripe's libraries do, for apps and tests.

pub mod api;
pub mod config;
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
