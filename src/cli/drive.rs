//! `settle drive SCENARIO`: run a real service against settle's Midtrans or Fanvue over HTTP and
//! check its database (see [`crate::drive`]). Prints each run's verdict and, for a violation, the
//! story of what crossed the boundary, then "failed k of n runs" per seed (`--format json|junit`:
//! see [`crate::drive::report`]); exits 0 when every run passed, 1 when one found a violation, 2 on
//! a bad scenario or mapping, 4 when the database cannot be reached, 5 when the service does not
//! start or never becomes healthy, 130 when interrupted. `--report-dir DIR` writes a folder per
//! failing run ([`crate::drive::report_dir`]); a folder that cannot be written is exit 2 before
//! anything runs.
//!
//! `--shrink` ([`crate::drive::shrink`]): when a seed fails, its plan is made smaller while it
//! still fails and written as a drive file (`<stem>.seed-<S>.shrunk.toml` beside the input, or
//! `--shrink-out`); the output names what was removed, the final plan, the file and the command
//! that replays it. Exit 1 when the (shrunk) failure stands, 0 when every run passed ("nothing to
//! shrink"), 2 for bad flags; an interrupted shrink writes no file.
//!
//! What it does not do: shrink more than the first failing seed of the first run set.

use std::path::PathBuf;

use super::{RunFormat, emit, say};
use crate::drive::{self, report, scenario, shrink};
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
    /// When a seed fails, make its plan smaller while it still fails; write the shrunk file.
    #[arg(long)]
    pub shrink: bool,
    /// Runs of each shrink candidate: it still fails when one of them does.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "shrink")]
    pub shrink_runs: u32,
    /// Candidate runs the shrink may spend in all.
    #[arg(long, value_name = "N", default_value_t = 30, requires = "shrink")]
    pub shrink_budget: u32,
    /// Where to write the shrunk drive file (default: STEM.seed-S.shrunk.toml beside it).
    #[arg(long, value_name = "PATH", requires = "shrink")]
    pub shrink_out: Option<PathBuf>,
}

pub fn execute(a: Args, program: &str) -> Result<ExitCode, Error> {
    let mut d = scenario::load(&a.scenario)?;
    if a.seeds == Some(0) || a.runs == Some(0) {
        return Err(Error::Usage("--seeds and --runs must be at least 1".into()));
    }
    if a.shrink_runs == 0 || a.shrink_budget == 0 {
        return Err(Error::Usage("--shrink-runs and --shrink-budget must be at least 1".into()));
    }
    if let Some(out) = &a.shrink_out {
        shrink::check_out(out, &a.scenario)?;
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
    let checks = drive::Checks::load(&d)?;
    let settings = shrink::Settings { runs: a.shrink_runs, budget: a.shrink_budget };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Infrastructure(format!("cannot start the async runtime: {e}")))?;
    let done = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Infrastructure(format!("cannot watch SIGTERM: {e}")))?;
        let run = async {
            let outcomes = checks.run_set(&d).await?;
            let failed = outcomes.iter().find(|o| !o.violations.is_empty());
            let shrunk = match failed.filter(|_| a.shrink) {
                Some(f) => {
                    let f = f.clone();
                    if a.format == RunFormat::Human {
                        emit(&report::human(&d.path, &outcomes, a.trace, a.story_lines));
                    }
                    let invariants: Vec<String> = f.violations.iter().map(|v| v.invariant.clone()).collect();
                    tell(a.format, &shrink::report::header(f.seed, &invariants, settings));
                    Some(shrink::shrink(&checks, &d, f, settings, |s| tell(a.format, &format!("  {s}"))).await?)
                }
                None => None,
            };
            Ok::<_, Error>((outcomes, shrunk))
        };
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => Ok(None),
            _ = term.recv() => Ok(None),
            out = run => out.map(Some),
        }
    });
    // Dropping the unfinished run killed its service; kill any group left, whatever happened.
    drop(runtime);
    drive::service::kill_all();
    let Some((outcomes, shrunk)) = done? else {
        eprintln!("settle drive: interrupted; the service's process group was killed (no shrunk file written)");
        std::process::exit(130);
    };
    if let Some(k) = shrunk {
        return finish_shrink(&a, program, &d, &provider, &outcomes, &k);
    }
    emit(&match a.format {
        RunFormat::Human => report::human(&d.path, &outcomes, a.trace, a.story_lines),
        RunFormat::Json => report::json(program, &d.path, &provider, &outcomes),
        RunFormat::Junit => report::junit(program, &d.path, &outcomes, a.story_lines),
    });
    let failed = outcomes.iter().any(|o| !o.violations.is_empty());
    if a.shrink && !failed && a.format == RunFormat::Human {
        say!("every run passed: nothing to shrink");
    } else if a.shrink && !failed {
        eprintln!("every run passed: nothing to shrink");
    }
    if let Some(dir) = &a.report_dir {
        report_dirs(
            a.format,
            &drive::report_dir::write_failures(dir, program, &d.path, &provider, &outcomes, a.story_lines)?,
        );
    }
    if failed { Ok(ExitCode::Violation) } else { Ok(ExitCode::Success) }
}

/// A line about the shrink: on stdout in the human format, on stderr when a JSON or JUnit
/// document owns stdout.
fn tell(format: RunFormat, line: &str) {
    if format == RunFormat::Human { say!("{line}") } else { eprintln!("{line}") }
}

/// Names the `--report-dir` folders written.
fn report_dirs(format: RunFormat, folders: &[PathBuf]) {
    for f in folders {
        tell(
            format,
            &format!("reports of the failing run: {}/ ({})", f.display(), drive::report_dir::FILES.join(", ")),
        );
    }
}

/// After a shrink: writes the shrunk file, prints the shrunk plan's failing run and the summary.
fn finish_shrink(
    a: &Args,
    program: &str,
    d: &scenario::Drive,
    provider: &str,
    outcomes: &[drive::Outcome],
    k: &shrink::Shrunk,
) -> Result<ExitCode, Error> {
    let seed = k.failing.seed;
    let out = a.shrink_out.clone().unwrap_or_else(|| shrink::default_out(&a.scenario, seed));
    shrink::write(k, &d.dir, &out)?;
    let file = out.display().to_string();
    let replay = report::rerun(program, &file, seed);
    let last = std::slice::from_ref(&k.failing);
    match a.format {
        RunFormat::Human => {
            say!("the shrunk plan's failing run:");
            emit(&report::human(&file, last, a.trace, a.story_lines));
            emit(&shrink::report::human(k, &file, &replay));
        }
        RunFormat::Json => {
            let doc = report::json(program, &d.path, provider, outcomes);
            let mut v: serde_json::Value = serde_json::from_str(&doc)
                .map_err(|e| Error::Infrastructure(format!("the JSON report does not parse: {e}")))?;
            v["shrink"] = shrink::report::json(k, &file, &replay);
            emit(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
        }
        RunFormat::Junit => emit(&report::junit(program, &file, last, a.story_lines)),
    }
    if let Some(dir) = &a.report_dir {
        report_dirs(a.format, &drive::report_dir::write_failures(dir, program, &file, provider, last, a.story_lines)?);
    }
    Ok(ExitCode::Violation)
}
