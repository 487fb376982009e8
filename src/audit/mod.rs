//! `settle audit`: a system's invariants, read-only, against a live database settle did not
//! create — the same definitions the simulation checks, fed by rows read from one consistent
//! snapshot instead of a simulated run.
//!
//! [`audit`] picks the system by name from [`SYSTEMS`], the one place that lists them; each
//! system is a module of its own that owns its mapping, its checks and its report's invariants:
//!
//! - [`midtrans_orders`]: seed 001's orders, payments, sync log and fulfilments, against the
//!   simulator's `midtrans-orders` invariants, with the provider export for the cross-checks.
//! - [`fanvue_revenue`]: seed 002's creators and transactions: `revenue_total` = Σ amount, no
//!   provider id stored twice.
//! - [`stripe_barbers`]: seed 004's slots, bookings and appointments: the slot checks, and with
//!   a Stripe export the money checks of the shared library.
//!
//! What every system shares:
//!
//! - [`session`]: the read-only transaction per backend ([`session::in_snapshot`]).
//! - [`report`]: what an audit found, as text grouped per order, JSON or CSV, with its inputs.
//! - [`allow`]: the allowlist of known exceptions, each with its reason.
//! - [`export`]: the provider export (JSON Lines; Midtrans and Stripe lines), streamed in order
//!   (sorted on disk when it is not), and its converters from saved Midtrans and Stripe payloads.
//! - [`time`]: `--as-of`, `--since`, `--until`, Midtrans's local times, and ISO output in a zone.
//! - [`keep`]: `replay --keep-db`, a real database with real violations to audit.
//!
//! Mapping files are read by [`crate::check::mapping`] (the format the simulation reads too).
//! Adding a system (e.g. `fanvue-revenue`): a module beside [`midtrans_orders`] with a function
//! of [`AuditFn`]'s shape — read its mapping (its own serde type, through
//! [`crate::check::mapping::read`] and [`crate::check::mapping::parse`]), open
//! [`session::in_snapshot`], page through its rows, [`Report::add`] what its invariant functions
//! say — and one line in [`SYSTEMS`]. What this module does not do: write, or fix anything.

pub mod allow;
pub mod export;
pub mod fanvue_revenue;
pub mod keep;
pub mod midtrans_orders;
pub mod report;
pub mod session;
pub mod stripe_barbers;
pub mod time;

use std::path::PathBuf;

use crate::error::Error;

pub use export::Export;
pub use report::{Allowed, DETAILS_MAX, Found, Report};
pub use session::Session;

/// What to audit and how, as the command line gives it: the same for every system.
#[derive(Clone, Debug)]
pub struct Options {
    /// The mapping file (TOML), read by the system; `None`: the system's own schema.
    pub mapping: Option<PathBuf>,
    /// The provider's truth (JSON Lines), read by the system; `None`: only the checks that need
    /// none.
    pub provider_export: Option<PathBuf>,
    /// Epoch ms; `None`: the newest time in the database or the export.
    pub as_of: Option<i64>,
    /// How long the database may lag the provider.
    pub grace_ms: i64,
    /// How long a payment may stay pending when its method has no known expiry.
    pub stuck_after_ms: i64,
    /// Audit only the orders created in `[since, until)` (epoch ms).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Known exceptions, each with its reason (TOML).
    pub allowlist: Option<PathBuf>,
    /// The zone the report prints times in.
    pub zone: time::Zone,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mapping: None,
            provider_export: None,
            as_of: None,
            grace_ms: 15 * 60_000,
            stuck_after_ms: 30 * 60_000,
            since: None,
            until: None,
            allowlist: None,
            zone: time::Zone::default(),
        }
    }
}

/// Audits the database at `url` for one system.
pub type AuditFn = fn(url: &str, opts: &Options) -> Result<Report, Error>;

/// Every system `settle audit` knows, by name.
pub const SYSTEMS: &[(&str, AuditFn)] = &[
    (midtrans_orders::NAME, midtrans_orders::audit),
    (fanvue_revenue::NAME, fanvue_revenue::audit),
    (stripe_barbers::NAME, stripe_barbers::audit),
];

/// Audits the database at `url` for `system`, read-only, in one snapshot.
pub fn audit(system: &str, url: &str, opts: &Options) -> Result<Report, Error> {
    match SYSTEMS.iter().find(|(name, _)| *name == system) {
        Some((_, audit)) => audit(url, opts),
        None => {
            let known: Vec<&str> = SYSTEMS.iter().map(|(name, _)| *name).collect();
            Err(Error::Usage(format!("--system {system}: unknown system; settle audits {}", known.join(", "))))
        }
    }
}
