//! `settle drive SCENARIO`: run a real service against settle's Midtrans or Fanvue over HTTP and
//! check its database (see [`crate::drive`]). Prints each run's verdict and, for a violation, the
//! story of what crossed the boundary, then "failed k of n runs" per seed (`--format json|junit`:
//! see [`crate::drive::report`]); exits 0 when every run passed, 1 when one found a violation, 2 on
//! a bad scenario or mapping, 4 when the database cannot be reached, 5 when the service does not
//! start or never becomes healthy, 130 when interrupted. `--report-dir DIR` writes a folder per
//! failing run ([`crate::drive::report_dir`]); a folder that cannot be written is exit 2 before
//! anything runs.
//!
//! What it does not do: shrinking (not yet).

use std::path::PathBuf;

use super::{RunFormat, emit, say};
use crate::drive::{self, report, scenario};
use crate::systems::midtrans_orders::mapping::Mapping;
use crate::{Error, ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// The drive scenario (TOML).
    pub scenario: PathBuf,
    /// Print the whole trace of each run.
    #[arg(long)]
    pub trace: bool,
    /// Story lines shown per order of a violation.
    #[arg(long, default_value_t = 40)]
    pub story_lines: usize,
    /// Run only this seed (instead of the file's `seeds`/`seed`).
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run seeds 1..=N (instead of the file's).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Run each seed N times (instead of the file's `runs`): "failed k of n runs" per seed.
    #[arg(long)]
    pub runs: Option<u32>,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub(crate) format: RunFormat,
    /// Write, for each failing run: its timeline, story, sequence diagram, JSON and JUnit.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

pub fn execute(a: Args, program: &str) -> Result<ExitCode, Error> {
    let mut d = scenario::load(&a.scenario)?;
    if a.seeds == Some(0) || a.runs == Some(0) {
        return Err(Error::Usage("--seeds and --runs must be at least 1".into()));
    }
    if let Some(s) = a.seed {
        d.file.run.seed = Some(s);
    }
    if let Some(n) = a.seeds {
        (d.file.run.seed, d.file.run.seeds) = (None, n);
    }
    if let Some(n) = a.runs {
        d.file.run.runs = n;
    }
    if let Some(dir) = &a.report_dir {
        crate::report::dir::prepare(dir)?;
    }
    let provider = d.file.run.provider.get_ref().clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Infrastructure(format!("cannot start the async runtime: {e}")))?;
    let outcomes = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Infrastructure(format!("cannot watch SIGTERM: {e}")))?;
        let run = async {
            if provider == "fanvue" {
                let mapping = fanvue_mapping(&d.mapping_path())?;
                drive::fanvue_run::drive(&d, &mapping).await
            } else {
                let (mapping, _) = Mapping::load(&d.mapping_path())?;
                drive::drive(&d, &mapping).await
            }
        };
        tokio::select! {
            out = run => out.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
            _ = term.recv() => Ok(None),
        }
    });
    // Dropping the unfinished run killed its service; kill any group left, whatever happened.
    drop(runtime);
    drive::service::kill_all();
    let Some(outcomes) = outcomes? else {
        eprintln!("settle drive: interrupted; the service's process group was killed");
        std::process::exit(130);
    };
    emit(&match a.format {
        RunFormat::Human => report::human(&d.path, &outcomes, a.trace, a.story_lines),
        RunFormat::Json => report::json(program, &d.path, &provider, &outcomes),
        RunFormat::Junit => report::junit(program, &d.path, &outcomes, a.story_lines),
    });
    if let Some(dir) = &a.report_dir {
        let folders = drive::report_dir::write_failures(dir, program, &d.path, &provider, &outcomes, a.story_lines)?;
        for f in &folders {
            // The JSON and JUnit documents own stdout.
            let line =
                format!("reports of the failing run: {}/ ({})", f.display(), drive::report_dir::FILES.join(", "));
            if a.format == RunFormat::Human { say!("{line}") } else { eprintln!("{line}") }
        }
    }
    if outcomes.iter().any(|o| !o.violations.is_empty()) { Ok(ExitCode::Violation) } else { Ok(ExitCode::Success) }
}

/// The `settle audit` mapping for `fanvue-revenue` at `path`.
fn fanvue_mapping(path: &std::path::Path) -> Result<crate::audit::fanvue_revenue::Mapping, Error> {
    let (text, shown) = crate::check::mapping::read(path)?;
    crate::check::mapping::parse(&text, &shown)
}
