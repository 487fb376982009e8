//! `settle audit` and the provider export converters (`export-midtrans`, `export-stripe`).

use std::path::{Path, PathBuf};

use super::{App, emit};
use crate::{Error, ExitCode, audit};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum AuditFormat {
    Human,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// The system whose schema and invariants to use (midtrans-orders, fanvue-revenue).
    #[arg(long)]
    system: String,
    /// sqlite://PATH, postgres://…, mysql://… (`sslmode=require` / `ssl-mode=REQUIRED` for TLS).
    #[arg(long, env = "SETTLE_DATABASE_URL", hide_env_values = true)]
    db: String,
    /// Tables, columns, keys, status words, column types, currency, expiry per method (TOML);
    /// default: seed 001's schema.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    /// The provider's truth, JSON Lines (see `settle export-midtrans` and `settle export-stripe`).
    #[arg(long, value_name = "FILE")]
    provider_export: Option<PathBuf>,
    /// Known exceptions, each with its reason (TOML `[[allow]]` entries).
    #[arg(long, value_name = "FILE")]
    allowlist: Option<PathBuf>,
    /// Epoch ms or ISO 8601 (`Z` or `±HH:MM`); default: the newest created_at or export time.
    #[arg(long)]
    as_of: Option<String>,
    /// Audit the orders created from this time (default with an export: its earliest line).
    #[arg(long)]
    since: Option<String>,
    /// Audit the orders created before this time.
    #[arg(long)]
    until: Option<String>,
    /// How long the database may lag the provider.
    #[arg(long, default_value = "15m")]
    grace: String,
    /// Pending for longer than this is stuck, for payment methods without a known expiry.
    #[arg(long, default_value = "30m")]
    stuck_after: String,
    /// The zone times are printed in: UTC, ±HH:MM, Asia/Jakarta, Asia/Makassar, Asia/Jayapura.
    #[arg(long, default_value = "UTC")]
    tz: String,
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    format: AuditFormat,
    /// Also write the findings as CSV to this file (written whole, or not at all).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Say which indexes the audit's queries want and which are missing, then stop.
    #[arg(long)]
    explain: bool,
}

fn instant(flag: &str, v: &str) -> Result<i64, Error> {
    audit::time::parse_instant(v).ok_or_else(|| {
        Error::Usage(format!("{flag} {v}: expected epoch milliseconds or YYYY-MM-DDTHH:MM:SS with Z or ±HH:MM"))
    })
}

/// Writes `text` to `path` through a temporary file beside it, so a reader never sees half.
pub(crate) fn write_whole(path: &Path, text: &str) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".settle-tmp");
    let tmp = PathBuf::from(tmp);
    let fail = |e: std::io::Error| Error::Infrastructure(format!("{}: cannot write: {e}", path.display()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

pub fn execute(a: AuditArgs, app: &App) -> Result<ExitCode, Error> {
    let duration = |flag: &str, v: &str| {
        crate::sim::Millis::parse(v)
            .map(|m| i64::try_from(m.0).unwrap_or(i64::MAX))
            .map_err(|e| Error::Usage(format!("{flag} {v}: {e}")))
    };
    let zone = audit::time::Zone::parse(&a.tz).ok_or_else(|| {
        Error::Usage(format!("--tz {}: expected UTC, ±HH:MM, Asia/Jakarta, Asia/Makassar or Asia/Jayapura", a.tz))
    })?;
    let opts = audit::Options {
        mapping: a.mapping,
        provider_export: a.provider_export,
        as_of: a.as_of.map(|t| instant("--as-of", &t)).transpose()?,
        grace_ms: duration("--grace", &a.grace)?,
        stuck_after_ms: duration("--stuck-after", &a.stuck_after)?,
        since: a.since.map(|t| instant("--since", &t)).transpose()?,
        until: a.until.map(|t| instant("--until", &t)).transpose()?,
        allowlist: a.allowlist,
        zone,
    };
    if let (Some(s), Some(u)) = (opts.since, opts.until)
        && s >= u
    {
        return Err(Error::Usage("--since must be before --until".into()));
    }
    // A program's own system is audited with its family's pass.
    let system = &a.system;
    let pass = match app.registry.get(system) {
        Some(entry) => entry.info().audit.ok_or_else(|| {
            Error::Usage(format!("--system {system}: this system has no audit pass (no mapped schema to read)"))
        })?,
        None => {
            return Err(Error::Usage(format!(
                "--system {system}: unknown system, expected one of: {}",
                app.registry.names().join(", ")
            )));
        }
    };
    if a.explain {
        if pass != audit::midtrans_orders::NAME {
            return Err(Error::Usage(format!(
                "--explain: only --system {} has index advice",
                audit::midtrans_orders::NAME
            )));
        }
        let settings = audit::midtrans_orders::settings(&opts)?;
        emit(&audit::midtrans_orders::explain(&a.db, &settings, opts.provider_export.is_some())?);
        return Ok(ExitCode::Success);
    }
    let r = audit::audit(pass, &a.db, &opts)?;
    if let Some(path) = &a.csv {
        write_whole(path, &r.csv())?;
    }
    emit(&match a.format {
        AuditFormat::Human => r.human(),
        AuditFormat::Json => r.json(),
        AuditFormat::Csv => r.csv(),
    });
    Ok(if r.total() == 0 { ExitCode::Success } else { ExitCode::Violation })
}

#[derive(clap::Args)]
pub struct ExportMidtransArgs {
    /// Saved status-API answers or notification bodies: one JSON object per file, an array, or
    /// JSON Lines (a webhook log).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Stop at the first unusable file or payload (exit 2) instead of skipping and counting it.
    #[arg(long)]
    strict: bool,
}

pub fn export_midtrans(a: ExportMidtransArgs) -> Result<ExitCode, Error> {
    let converted = audit::export::midtrans::convert(&a.files, a.strict)?;
    for note in &converted.notes {
        eprintln!("note: {note}");
    }
    emit(&converted.text);
    Ok(ExitCode::Success)
}

#[derive(clap::Args)]
pub struct ExportStripeArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The metadata key that holds the order id.
    #[arg(long, default_value = "order_id")]
    metadata_key: String,
    /// Stop at the first unusable payload (exit 2) instead of skipping and counting it.
    #[arg(long)]
    strict: bool,
}

pub fn export_stripe(a: ExportStripeArgs) -> Result<ExitCode, Error> {
    let converted = audit::export::stripe::convert(&a.files, &a.metadata_key, a.strict)?;
    for note in &converted.notes {
        eprintln!("note: {note}");
    }
    emit(&converted.text);
    Ok(ExitCode::Success)
}
