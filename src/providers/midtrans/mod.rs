//! Midtrans (Core API / Snap), the provider of seed 001.
//!
//! - [`status`]: transaction statuses, legal transitions, what "paid" means, payment methods.
//! - [`notification`]: the notification JSON, `signature_key`, amounts and timestamps.
//! - [`retry`]: the retry policy by response code.
//! - [`provider`]: the simulated provider (ground truth, notifications through the provider
//!   kit's sender, the status API with optional API faults).

#[cfg(test)]
mod api_tests;
pub mod notification;
pub mod provider;
pub mod retry;
pub mod status;
#[cfg(test)]
mod wire_tests;

pub use provider::{Midtrans, ProviderConfig, Truth};
