//! Fanvue, the provider of seed 002: a creator's earnings ledger behind a cursor-paginated,
//! rate-limited, versioned API, with refunds and chargebacks as new negative rows and a
//! visibility lag on new rows.
//!
//! - [`wire`]: ISO 8601 instants, the row, page and summary JSON, header names, the opaque cursor.
//! - [`ledger`]: one creator's ledger (pagination, visibility) and its rate-limit bucket, as data.
//! - [`provider`]: the simulated provider actor serving `/insights/earnings` and `/insights/summary`.

pub mod ledger;
pub mod provider;
#[cfg(test)]
mod tests;
pub mod wire;

pub use ledger::{Ledger, LedgerRow, Source};
pub use provider::{ACTOR, Fanvue, ProviderConfig};
