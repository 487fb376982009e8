//! `settle list`: the systems with their flaws, invariants and actors, and the scenarios of a
//! folder.

use std::path::PathBuf;

use super::{App, emit, scenario_paths, shown};
use crate::scenario::Outcome;
use crate::{Error, ExitCode, report};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario folder to list (default: ./scenarios).
    #[arg(long)]
    scenarios: Option<PathBuf>,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    let dir = a.scenarios.unwrap_or_else(|| PathBuf::from("scenarios"));
    let mut rows = Vec::new();
    if dir.is_dir() {
        for p in scenario_paths(std::slice::from_ref(&dir))? {
            match app.load(&p) {
                Ok(s) => {
                    let e = s.expect.get_ref();
                    let expect = match e.outcome {
                        Outcome::Pass => "pass".to_string(),
                        Outcome::Violation => format!("violation of {}", e.invariant.clone().unwrap_or_default()),
                    };
                    rows.push((shown(&p), s.name.clone(), expect));
                }
                Err(e) => rows.push((shown(&p), "(invalid)".into(), e.to_string())),
            }
        }
    }
    emit(&report::catalog(&app.registry.catalog(), &rows));
    Ok(ExitCode::Success)
}
