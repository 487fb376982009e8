//! `settle audit` and the provider export converters (`export-midtrans`, `export-stripe`).

use std::path::PathBuf;

use super::{App, Format, emit};
use crate::{Error, ExitCode, audit};

#[derive(clap::Args)]
pub struct AuditArgs {
    /// The system whose schema and invariants to use (midtrans-orders).
    #[arg(long)]
    system: String,
    /// sqlite://PATH, postgres://…, mysql://…
    #[arg(long, env = "SETTLE_DATABASE_URL", hide_env_values = true)]
    db: String,
    /// Table and column names, column types (TOML); default: seed 001's schema.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    /// The provider's truth, JSON Lines (see `settle export-midtrans` and `settle export-stripe`).
    #[arg(long, value_name = "FILE")]
    provider_export: Option<PathBuf>,
    /// Epoch milliseconds or YYYY-MM-DDTHH:MM:SSZ; default: the newest created_at or export time.
    #[arg(long)]
    as_of: Option<String>,
    /// How long the database may lag the provider.
    #[arg(long, default_value = "15m")]
    grace: String,
    /// PENDING for longer than this is stuck.
    #[arg(long, default_value = "30m")]
    stuck_after: String,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn execute(a: AuditArgs, app: &App) -> Result<ExitCode, Error> {
    let AuditArgs { system, db, mapping, provider_export, as_of, grace, stuck_after, format } = a;
    let duration = |flag: &str, v: &str| {
        crate::sim::Millis::parse(v)
            .map(|m| i64::try_from(m.0).unwrap_or(i64::MAX))
            .map_err(|e| Error::Usage(format!("{flag} {v}: {e}")))
    };
    let opts = audit::Options {
        mapping,
        provider_export,
        as_of: as_of
            .map(|t| {
                audit::time::parse_instant(&t).ok_or_else(|| {
                    Error::Usage(format!("--as-of {t}: expected epoch milliseconds or YYYY-MM-DDTHH:MM:SSZ"))
                })
            })
            .transpose()?,
        grace_ms: duration("--grace", &grace)?,
        stuck_after_ms: duration("--stuck-after", &stuck_after)?,
    };
    // A program's own system is audited with its family's pass.
    let pass = match app.registry.get(&system) {
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
    let r = audit::audit(pass, &db, &opts)?;
    emit(&match format {
        Format::Human => r.human(),
        Format::Json => r.json(),
    });
    Ok(if r.total() == 0 { ExitCode::Success } else { ExitCode::Violation })
}

#[derive(clap::Args)]
pub struct ExportMidtransArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn export_midtrans(a: ExportMidtransArgs) -> Result<ExitCode, Error> {
    emit(&audit::export::midtrans::convert(&a.files)?);
    Ok(ExitCode::Success)
}

#[derive(clap::Args)]
pub struct ExportStripeArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The metadata key that holds the order id.
    #[arg(long, default_value = "order_id")]
    metadata_key: String,
}

pub fn export_stripe(a: ExportStripeArgs) -> Result<ExitCode, Error> {
    let converted = audit::export::stripe::convert(&a.files, &a.metadata_key)?;
    for note in &converted.notes {
        eprintln!("note: {note}");
    }
    emit(&converted.text);
    Ok(ExitCode::Success)
}
