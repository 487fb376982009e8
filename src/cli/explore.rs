//! `settle explore`: every combination of a scenario's first K choices, instead of a sample.

use std::path::PathBuf;

use super::{App, DbArg, RunFormat, emit, shown};
use crate::scenario;
use crate::{Error, ExitCode, report};

#[derive(clap::Args)]
pub struct Args {
    path: PathBuf,
    /// Choice points to enumerate.
    #[arg(long)]
    depth: usize,
    /// Values tried for a choice with more (its least and greatest always among them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=1000))]
    values: u64,
    /// Stop after this many schedules.
    #[arg(long, default_value_t = 100_000)]
    max_runs: u64,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    format: RunFormat,
    /// Write a replay file per violating schedule.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    #[command(flatten)]
    db: DbArg,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    let Args { path, depth, values, max_runs, format, report_dir, db } = a;
    let s = app.load(&path)?;
    if let Some(dir) = &report_dir {
        report::dir::prepare(dir)?;
    }
    let system = s.build_with(&app.registry)?;
    let backend = db.backends().connect()?;
    let bounds = scenario::explore::Bounds { depth, values, max_runs };
    let started = std::time::Instant::now();
    let mut x = scenario::explore::explore(system.as_ref(), &s.run_spec(false), backend, bounds)?;
    // The scenario's own `sometimes` (the coverage counts every mark any schedule reached).
    x.coverage.required = s.expect.get_ref().required_marks(std::mem::take(&mut x.coverage.required));
    let elapsed_s = started.elapsed().as_secs_f64();
    let verdict = report::explore::verdict(&s, &x);
    let mut written = Vec::new();
    if let Some(dir) = &report_dir {
        written = report::explore::write_replays(dir, &path, &s, system.as_ref(), &x, db.backends().connect()?)?;
    }
    emit(&match format {
        RunFormat::Human => report::explore::human(&shown(&path), &s, &x, &verdict, elapsed_s, &written),
        RunFormat::Json => report::explore::json(&shown(&path), &s, &x, &verdict, elapsed_s),
        RunFormat::Junit => report::explore::junit(&shown(&path), &s, &x, &verdict, elapsed_s),
    });
    Ok(if verdict.ok() { ExitCode::Success } else { ExitCode::Violation })
}
