//! Paystack, the provider of seed 003: transactions as they behave (`../shared/PROVIDERS.md`),
//! built on the provider [`kit`](super::kit).
//!
//! - [`status`]: the transaction status machine, channels, "paid", webhook events.
//! - [`config`]: `[paystack]` in a scenario: keys, webhook delays, the published retry
//!   schedule (live: every 3 min for 4 tries, then hourly for 72 h; test: hourly for 10 h),
//!   payment failures, waiting channels, raw-body variation, API faults.
//! - [`model`]: the provider and its ground truth; merchant, customer and chargeback actions;
//!   signed `charge.success` / `refund.processed` webhooks.
//! - [`api`]: the HTTP API the app and its jobs call: initialize, verify, list, refund.
//! - [`webhook`]: verifying `x-paystack-signature`, for apps and tests.
//!
//! What it does not do yet: the seed-003 system (bookings, escrow, browser tabs) that drives it.

pub mod api;
pub mod config;
pub mod model;
pub mod status;
#[cfg(test)]
mod tests;
pub mod webhook;

pub use config::PaystackConfig;
pub use model::{
    ACTOR, DeliveryState, InitError, Initialized, NewTransaction, PayError, PayOutcome, Paystack, RefundError,
    SIGNATURE_HEADER, TxTruth, WebhookRecord,
};
pub use status::{Channel, EventType, TransactionStatus};
