//! The `midtrans-orders` audit: seed 001's invariants — the functions the simulation checks
//! ([`crate::systems::midtrans_orders::invariants`]) — over a shop's orders, payments, sync log
//! and fulfilments, read through a [`Mapping`], and against the provider export.
//!
//! - [`mapping`]: the mapping file for this system: names, and what the columns hold.
//! - [`sql`]: the snapshot query, converting time and amount columns to what the checks read.
//! - [`check`]: the pass over one snapshot.
//! - [`prefilter`]: the SQL that lets the database skip clean rows when there is no export.
//!
//! Invariants checked without an export: `order-payment-agree`, `paid-at-iff-paid`,
//! `paid-never-regresses` (from the sync log), `fulfilled-at-most-once`, `paid-fulfilled-once`,
//! `pending-not-stuck`; with one, also `provider-paid-implies-paid`, `paid-only-if-provider-paid`
//! and `amount-matches-provider`. What it does not do: several payment rows per order, or
//! `provider-failed-implies-not-paid` apart from `paid-only-if-provider-paid` (which covers it).

pub mod check;
pub mod mapping;
pub mod prefilter;
pub mod sql;

use crate::error::Error;
use crate::systems::midtrans_orders::mapping::Mapping;

use super::export::{self, Export};
use super::session::in_snapshot;
use super::{Options, Report};
use mapping::Types;

pub use crate::systems::midtrans_orders::NAME;

/// The invariants checked with or without a provider export.
pub const INTERNAL: &[&str] = &[
    "order-payment-agree",
    "paid-at-iff-paid",
    "paid-never-regresses",
    "fulfilled-at-most-once",
    "paid-fulfilled-once",
    "pending-not-stuck",
];

/// The invariants only a provider export can check.
pub const WITH_EXPORT: &[&str] =
    &["provider-paid-implies-paid", "paid-only-if-provider-paid", "amount-matches-provider"];

/// How this system is audited: where its data lives, and the audit's clock.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mapping: Mapping,
    pub types: Types,
    /// Epoch ms; `None`: the newest `created_at` in the database or `time` in the export.
    pub as_of: Option<i64>,
    pub grace_ms: i64,
    pub stuck_after_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        let o = Options::default();
        let (mapping, types) = (Mapping::default(), Types::default());
        Settings { mapping, types, as_of: o.as_of, grace_ms: o.grace_ms, stuck_after_ms: o.stuck_after_ms }
    }
}

/// Reads the options' mapping and export files, then audits (a [`super::AuditFn`]).
pub fn audit(url: &str, opts: &Options) -> Result<Report, Error> {
    let (mapping, types) = opts.mapping.as_deref().map(mapping::load).transpose()?.unwrap_or_default();
    let export = opts.provider_export.as_deref().map(export::load).transpose()?;
    let (as_of, grace_ms, stuck_after_ms) = (opts.as_of, opts.grace_ms, opts.stuck_after_ms);
    let settings = Settings { mapping, types, as_of, grace_ms, stuck_after_ms };
    audit_with(url, &settings, export.as_ref())
}

/// Audits the database at `url` with a mapping and an export already loaded.
pub fn audit_with(url: &str, settings: &Settings, export: Option<&Export>) -> Result<Report, Error> {
    in_snapshot(url, |db, shown| {
        let mut r = report(shown, export);
        check::run(db, settings, export, shown, &mut r, check::Pass::Prefiltered)?;
        Ok(r)
    })
}

/// An empty report of this system's invariants on `database`.
pub fn report(database: &str, export: Option<&Export>) -> Report {
    let mut invariants = INTERNAL.to_vec();
    if export.is_some() {
        invariants.extend(WITH_EXPORT);
    }
    Report::new(NAME, database, "order", &invariants, export.map(|e| e.entries.len() as u64))
}
