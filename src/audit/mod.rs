//! `settle audit`: a system's invariants, read-only, against a live database settle did not
//! create — the same definitions the simulation checks
//! ([`crate::systems::midtrans_orders::invariants`]), fed by rows streamed from one consistent
//! snapshot instead of a simulated run.
//!
//! - [`session`]: the read-only transaction per backend.
//! - [`mapping`]: the mapping file (table and column names, status vocabulary).
//! - [`export`]: the provider export (JSON Lines; Midtrans and Stripe lines), and its converters
//!   from saved Midtrans and Stripe payloads.
//! - [`time`]: `--as-of` and Midtrans's local times.
//! - [`check`]: the streaming pass.
//! - [`keep`]: `replay --keep-db`, a real database with real violations to audit.
//!
//! Invariants checked without an export: `order-payment-agree`, `paid-at-iff-paid`,
//! `paid-never-regresses` (from the sync log), `fulfilled-at-most-once`, `paid-fulfilled-once`,
//! `pending-not-stuck`; with one, also `provider-paid-implies-paid`, `paid-only-if-provider-paid`
//! and `amount-matches-provider`. What it does not do: write, fix anything, or audit a system
//! other than `midtrans-orders`.

pub mod check;
pub mod export;
pub mod keep;
pub mod mapping;
pub mod prefilter;
pub mod session;
pub mod time;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::systems::midtrans_orders::{self, mapping::Mapping};

pub use export::Export;
pub use session::Session;

/// Violation details kept per invariant; counts stay exact beyond it.
pub const DETAILS_MAX: u64 = 1000;

/// What to audit and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub mapping: Mapping,
    /// Epoch ms; `None`: the newest `created_at` in the database or `time` in the export.
    pub as_of: Option<i64>,
    pub grace_ms: i64,
    pub stuck_after_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options { mapping: Mapping::default(), as_of: None, grace_ms: 15 * 60_000, stuck_after_ms: 30 * 60_000 }
    }
}

/// One violation: the invariant, the row key (the order code) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub invariant: String,
    pub key: String,
    pub reason: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub system: String,
    /// The database URL, password redacted.
    pub database: String,
    pub as_of: i64,
    pub orders_checked: u64,
    /// Lines in the provider export, if one was given.
    pub export_orders: Option<u64>,
    /// Every invariant checked → its number of violations (0 included).
    pub counts: BTreeMap<String, u64>,
    /// Details, at most [`DETAILS_MAX`] per invariant, in the order found.
    pub violations: Vec<Found>,
}

impl Report {
    pub fn new(database: String, export: Option<&Export>) -> Report {
        let mut counts = BTreeMap::new();
        let mut names = vec![
            "order-payment-agree",
            "paid-at-iff-paid",
            "paid-never-regresses",
            "fulfilled-at-most-once",
            "paid-fulfilled-once",
            "pending-not-stuck",
        ];
        if export.is_some() {
            names.extend(["provider-paid-implies-paid", "paid-only-if-provider-paid", "amount-matches-provider"]);
        }
        for n in names {
            counts.insert(n.to_string(), 0);
        }
        Report {
            system: midtrans_orders::NAME.to_string(),
            database,
            export_orders: export.map(|e| e.entries.len() as u64),
            counts,
            ..Report::default()
        }
    }

    /// Records `reason`, if any, against `invariant` for the row `key`.
    pub fn add(&mut self, invariant: &str, key: &str, reason: Option<String>) {
        let Some(reason) = reason else { return };
        let n = self.counts.entry(invariant.to_string()).or_default();
        *n += 1;
        if *n <= DETAILS_MAX {
            self.violations.push(Found { invariant: invariant.to_string(), key: key.to_string(), reason });
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The human report.
    pub fn human(&self) -> String {
        let mut out = format!(
            "audit {} on {}: {} order(s) checked, as of {}{}\n",
            self.system,
            self.database,
            self.orders_checked,
            self.as_of,
            self.export_orders
                .map_or(", no provider export".into(), |n| format!(", {n} order(s) in the provider export"))
        );
        for f in &self.violations {
            // The invariants' reasons usually open with the order code already.
            let reason = f.reason.strip_prefix(&format!("{}: ", f.key)).unwrap_or(&f.reason);
            out += &format!("  ✗ {}  {}: {reason}\n", f.invariant, f.key);
        }
        for (name, n) in &self.counts {
            let more = n.saturating_sub(DETAILS_MAX);
            let note = if more > 0 { format!(" ({more} not listed)") } else { String::new() };
            out += &format!("  {n:>8}  {name}{note}\n");
        }
        out += &format!("{} violation(s)\n", self.total());
        out
    }

    /// One JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Audits the database at `url` for `system`, read-only, in one snapshot.
pub fn audit(system: &str, url: &str, opts: &Options, export: Option<&Export>) -> Result<Report, Error> {
    if system != midtrans_orders::NAME {
        return Err(Error::Usage(format!("--system {system}: unknown system; expected {}", midtrans_orders::NAME)));
    }
    let mut session = Session::open(url)?;
    let mut report = Report::new(session.shown.clone(), export);
    let shown = session.shown.clone();
    check::run(session.backend(), opts, export, &shown, &mut report, check::Pass::Prefiltered)?;
    session.close()?;
    Ok(report)
}
