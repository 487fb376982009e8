//! The `midtrans-orders` audit: seed 001's invariants — the functions the simulation checks
//! ([`crate::systems::midtrans_orders::invariants`]) — over a shop's orders, payments, sync log
//! and fulfilments, read through a [`Mapping`] (the same format and parser the simulation uses),
//! and against the provider export.
//!
//! - [`sql`]: the snapshot query and the SQL pieces the passes build from the mapping.
//! - [`preflight`]: each mapping entry tried alone, errors naming it; the indexes the queries want.
//! - [`prefilter`]: the SQL that lets the database skip clean rows when there is no export.
//! - [`check`]: the checks on one order, in the shop's words, with the fix.
//! - [`pass`]: the passes over one snapshot (keyset pages; the merge with the export).
//! - [`light`]: the merge's fast path: rows read in place, the plainly clean ones only counted.
//!
//! Invariants checked without an export: `order-payment-agree`, `paid-at-iff-paid`,
//! `paid-never-regresses` (from the sync log), `fulfilled-at-most-once` (twice, or shipped and
//! never paid), `paid-fulfilled-once`, `pending-not-stuck` (per payment method); with one, also
//! `provider-paid-implies-paid`, `paid-only-if-provider-paid`, `provider-ended-implies-not-pending`
//! and `amount-matches-provider`. What it does not do: several payment rows per order.

pub mod check;
pub mod light;
pub mod pass;
pub mod prefilter;
pub mod preflight;
pub mod sql;

use crate::error::Error;
use crate::systems::midtrans_orders::mapping::Mapping;
use crate::systems::midtrans_orders::mapping::file::Source;

use super::allow::Allowlist;
use super::export::{Truths, sorted::ExportFile};
use super::session::in_snapshot;
use super::time::{Zone, duration};
use super::{Options, Report};
use check::Judge;
use pass::Pass;
use sql::Sql;

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
pub const WITH_EXPORT: &[&str] = &[
    "provider-paid-implies-paid",
    "paid-only-if-provider-paid",
    "provider-ended-implies-not-pending",
    "amount-matches-provider",
];

/// How this system is audited: where its data lives, the audit's clock and window.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mapping: Mapping,
    /// Where the mapping came from, to name its entries in messages.
    pub source: Source,
    /// Epoch ms; `None`: the newest `created_at` in the database or `time` in the export.
    pub as_of: Option<i64>,
    pub grace_ms: i64,
    /// How long a payment of a method without a known expiry may stay pending.
    pub stuck_after_ms: i64,
    /// Orders created in `[since, until)` are audited; `None`: open. With an export, an order
    /// missing from it is a finding only inside the period the export covers.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub zone: Zone,
    pub allowlist: Option<Allowlist>,
    /// Whether status words the mapping does not name on most rows stop the audit (default), or
    /// only warn.
    pub strict_words: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let o = Options::default();
        Settings {
            mapping: Mapping::default(),
            source: Source::default(),
            as_of: o.as_of,
            grace_ms: o.grace_ms,
            stuck_after_ms: o.stuck_after_ms,
            since: None,
            until: None,
            zone: Zone::default(),
            allowlist: None,
            strict_words: true,
        }
    }
}

/// Every invariant this audit can report.
pub fn invariants() -> Vec<&'static str> {
    INTERNAL.iter().chain(WITH_EXPORT).copied().collect()
}

/// Reads the options' mapping, allowlist and export, then audits (a [`super::AuditFn`]).
pub fn audit(url: &str, opts: &Options) -> Result<Report, Error> {
    let settings = settings(opts)?;
    let export = opts.provider_export.as_deref().map(ExportFile::open).transpose()?;
    let mut r = audit_with(url, &settings, export.as_ref().map(|e| e as &dyn Truths))?;
    if let (Some(e), Some(path)) = (&export, &opts.provider_export) {
        r.inputs.insert("provider export".into(), path.display().to_string().into());
        if !e.stated {
            r.warnings.push(format!(
                "{}: no header line; its period was read from its lines ({} line(s))",
                e.shown, e.header.lines
            ));
        }
    }
    Ok(r)
}

/// The settings the options give.
pub fn settings(opts: &Options) -> Result<Settings, Error> {
    let (mapping, source) = match opts.mapping.as_deref() {
        Some(path) => Mapping::load(path)?,
        None => (Mapping::default(), Source::default()),
    };
    let allowlist = opts.allowlist.as_deref().map(|p| Allowlist::load(p, &invariants())).transpose()?;
    Ok(Settings {
        mapping,
        source,
        as_of: opts.as_of,
        grace_ms: opts.grace_ms,
        stuck_after_ms: opts.stuck_after_ms,
        since: opts.since,
        until: opts.until,
        zone: opts.zone,
        allowlist,
        strict_words: true,
    })
}

/// Audits the database at `url` with a mapping and an export already loaded.
pub fn audit_with(url: &str, settings: &Settings, export: Option<&dyn Truths>) -> Result<Report, Error> {
    in_snapshot(url, |db, shown| {
        let mut r = report(shown, export.map(|e| e.header().lines));
        run(db, settings, export, shown, &mut r, Pass::Prefiltered)?;
        Ok(r)
    })
}

/// An empty report of this system's invariants on `database`.
pub fn report(database: &str, export_lines: Option<u64>) -> Report {
    let mut invariants = INTERNAL.to_vec();
    if export_lines.is_some() {
        invariants.extend(WITH_EXPORT);
    }
    Report::new(NAME, database, "order", &invariants, export_lines)
}

/// Runs every check inside the open read-only transaction: the mapping's entries first, then
/// the orders (merged with the export when there is one), then the sync log.
pub fn run(
    db: &mut dyn crate::store::Backend,
    settings: &Settings,
    export: Option<&dyn Truths>,
    shown: &str,
    r: &mut Report,
    pass: Pass,
) -> Result<(), Error> {
    let m = &settings.mapping;
    let q = Sql { kind: db.kind(), mapping: m };
    preflight::check(db, &q, &settings.source)?;
    let header = export.map(|e| e.header());
    let as_of = match settings.as_of {
        Some(t) => t,
        None => pass::newest_created_at(db, &q)
            .map_err(|e| Error::Infrastructure(format!("{shown}: the newest created_at: {e}")))?
            .max(header.and_then(|h| h.until).unwrap_or(0)),
    };
    r.as_of = as_of;
    r.zone = settings.zone;
    r.allowlist = settings.allowlist.clone();
    // An order missing from the export counts only inside the period the export covers: an
    // order created before its first transaction or after its last line may simply not be in
    // it, and saying nothing there is the cautious side.
    let covers = header.and_then(|h| Some((h.from?, h.until?)));
    let mut judge = Judge {
        mapping: m,
        as_of,
        grace_ms: settings.grace_ms,
        stuck_after_ms: settings.stuck_after_ms,
        since: settings.since,
        until: settings.until,
        covers,
        uncovered: 0,
        strict_words: settings.strict_words,
        zone: settings.zone,
        statuses: Default::default(),
        tally: Default::default(),
    };
    record_inputs(settings, &judge, header, r);
    if let Ok(wants) = preflight::explain(db, &q, export.is_some()) {
        for w in wants.iter().filter(|w| w.found.is_none()) {
            r.warnings.push(format!(
                "no index on {} ({}): the audit {}; a DBA can add one: {}",
                w.table,
                w.column,
                w.why,
                w.create()
            ));
        }
    }
    match (pass, export) {
        (Pass::Prefiltered, Some(e)) | (Pass::Unfiltered, Some(e)) => {
            let mut entries = e.entries()?;
            pass::merged(db, &q, &mut judge, entries.as_mut(), shown, r)?;
        }
        (_, None) => pass::internal(db, &q, &mut judge, shown, r, pass)?,
    }
    pass::regressions(db, &q, &judge, shown, r)?;
    if judge.uncovered > 0 {
        r.inputs.insert(
            "orders before or after the export's period".into(),
            format!("{} without a line: not compared with the export (its period: see above)", judge.uncovered).into(),
        );
    }
    judge.finish(&settings.source, r)?;
    r.finish();
    Ok(())
}

/// What the audit read and with which settings, for the report.
fn record_inputs(settings: &Settings, judge: &Judge, header: Option<super::export::Header>, r: &mut Report) {
    let (s, z) = (settings, settings.zone);
    let mut put = |k: &str, v: serde_json::Value| {
        r.inputs.insert(k.to_string(), v);
    };
    // A file's digest says which mapping was audited; the built-in one has no text to digest.
    let mapping = match s.source.path.as_deref() {
        Some(path) => format!("{path} (sha256 {})", s.source.digest()),
        None => "built-in seed-001 mapping".to_string(),
    };
    put("mapping", mapping.into());
    put("as of", z.iso(judge.as_of).into());
    put("times shown in", z.suffix().into());
    put("currency", format!("{} (exponent {})", s.mapping.currency.code, s.mapping.currency.exponent).into());
    put("grace", duration(s.grace_ms).into());
    put("stuck after", format!("{} (methods without an expiry)", duration(s.stuck_after_ms)).into());
    let expiry: Vec<String> = s.mapping.expiry.0.iter().map(|(m, e)| format!("{m} {}", duration(*e))).collect();
    put("expiry per payment method", expiry.join(", ").into());
    let window = match (judge.since, judge.until) {
        (None, None) => "all orders".to_string(),
        (since, until) => format!(
            "orders created from {} until {} (--since/--until)",
            since.map_or("the first".into(), |t| z.iso(t)),
            until.map_or("the last".into(), |t| z.iso(t))
        ),
    };
    put("window", window.into());
    if let Some(h) = header {
        let covers = match (h.from, h.until) {
            (Some(a), Some(b)) => format!("{} line(s) from {} to {}", h.lines, z.iso(a), z.iso(b)),
            _ => format!("{} line(s)", h.lines),
        };
        put("provider export covers", covers.into());
    }
    if let Some(a) = &s.allowlist {
        put("allowlist entries", a.len().into());
    }
}

/// `settle audit --explain`: the indexes the audit's queries want on the database at `url`,
/// which exist and which are missing (with the statement that would add each), and the
/// snapshot query itself. Reads the catalogue only.
pub fn explain(url: &str, settings: &Settings, with_export: bool) -> Result<String, Error> {
    in_snapshot(url, |db, shown| {
        let q = Sql { kind: db.kind(), mapping: &settings.mapping };
        preflight::check(db, &q, &settings.source)?;
        let wants = preflight::explain(db, &q, with_export)
            .map_err(|e| Error::Infrastructure(format!("{shown}: reading the catalogue: {e}")))?;
        let mut out = format!("indexes the audit of {shown} wants:\n");
        for w in &wants {
            match &w.found {
                Some(name) => out += &format!("  ✓ {} ({}): {name} — {}\n", w.table, w.column, w.why),
                None => out += &format!("  ✗ {} ({}): missing — {}\n      {};\n", w.table, w.column, w.why, w.create()),
            }
        }
        let missing = wants.iter().filter(|w| w.found.is_none()).count();
        out += &format!("{missing} missing\nthe snapshot query:\n  {}\n", q.snapshot());
        Ok(out)
    })
}
