//! `settle merge`: the JSON reports of CI shards folded into one verdict.

use std::path::PathBuf;

use super::{Format, emit, shown};
use crate::{Error, ExitCode, report};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn execute(a: Args) -> Result<ExitCode, Error> {
    let mut parsed = Vec::new();
    for p in &a.reports {
        let text =
            std::fs::read_to_string(p).map_err(|e| Error::Usage(format!("cannot read report {}: {e}", p.display())))?;
        parsed.push((shown(p), report::json::parse(&text, &shown(p))?));
    }
    let merged = report::json::merge(&parsed)?;
    emit(&match a.format {
        Format::Human => report::json::human(&merged),
        Format::Json => serde_json::to_string_pretty(&merged).unwrap_or_default() + "\n",
    });
    Ok(if merged.ok { ExitCode::Success } else { ExitCode::Violation })
}
