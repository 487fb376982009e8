//! `settle run`: every scenario's seeds, judged against its expectation, with a summary per
//! scenario and, on request, a report folder per failure.

use std::path::PathBuf;

use super::{App, DbArg, ProgressMode, RunFormat, ScaleArgs, emit, say, scenario_paths, shown};
use crate::scenario::{self, RunOptions, Scenario, SeedSelection};
use crate::{Error, ExitCode, report};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or folders (default: ./scenarios).
    paths: Vec<PathBuf>,
    /// Number of seeds (default: each scenario's own `seeds`; with --time-budget: no limit).
    #[arg(long)]
    seeds: Option<u64>,
    /// Run only this seed.
    #[arg(long, conflicts_with_all = ["seeds", "shard", "time_budget"])]
    seed: Option<u64>,
    /// First seed of the selection.
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    scale: ScaleArgs,
    /// Do not shrink the first failure of each scenario.
    #[arg(long)]
    no_shrink: bool,
    /// Candidate runs the shrinker may spend per failure.
    #[arg(long, default_value_t = 20_000)]
    shrink_budget: u64,
    /// Draw every seed's fault rates from the seed (swarm testing), even where the scenario
    /// does not ask for it.
    #[arg(long)]
    swarm: bool,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    format: RunFormat,
    /// Write, for each failure: the replay file, the timeline and the sequence diagram.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    if a.seeds == Some(0) {
        return Err(Error::Usage("--seeds must be at least 1".into()));
    }
    let files = scenario_paths(&a.paths)?;
    // Parse everything first: a typo in the fifth file should not cost four runs.
    let loaded: Vec<(PathBuf, Scenario)> =
        files.into_iter().map(|p| app.load(&p).map(|s| (p, s))).collect::<Result<_, _>>()?;
    let selection_of = |s: &Scenario| match (a.seed, a.seeds, a.scale.time_budget) {
        (Some(one), _, _) => SeedSelection::One(one),
        (None, Some(n), _) => SeedSelection::Range { start: a.seed_start, count: n },
        (None, None, Some(_)) => SeedSelection::Endless { start: a.seed_start },
        (None, None, None) => SeedSelection::Range { start: a.seed_start, count: *s.seeds.get_ref() },
    };
    // Seeds never wrap around past the last u64 to 0 (`seed_at` ends there): a range that
    // would is refused before anything runs.
    for (path, s) in &loaded {
        let selection = selection_of(s);
        if let SeedSelection::Range { start, count } = selection
            && selection.seed_at(count - 1).is_none()
        {
            return Err(Error::Usage(format!(
                "--seed-start {start} with {count} seed(s) ({}) runs past the last seed, {}",
                path.display(),
                u64::MAX
            )));
        }
    }
    if let Some(dir) = &a.report_dir {
        report::dir::prepare(dir)?;
    }
    let backends = a.db.backends();
    let show_progress = match a.scale.progress {
        ProgressMode::Always => true,
        ProgressMode::Never => false,
        ProgressMode::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()) || std::env::var_os("CI").is_some(),
    };
    let mut summaries = Vec::new();
    for (path, s) in &loaded {
        let selection = selection_of(s);
        let progress = report::progress::Progress::new(&s.name, show_progress);
        let callback = |done: u64, planned: Option<u64>| {
            if let Some(p) = &progress {
                p.update(done, planned);
            }
        };
        let opts = RunOptions {
            jobs: a.scale.jobs as usize,
            shard: a.scale.shard,
            time_budget: a.scale.time_budget,
            shrink: (!a.no_shrink).then_some(scenario::shrink::Budget { runs: a.shrink_budget }),
            swarm: a.swarm,
            progress: Some(&callback),
            program: Some(&app.program),
        };
        let system = s.build_with(&app.registry)?;
        let summary = scenario::run_scenario_opts(s, system.as_ref(), &shown(path), selection, &backends, &opts)?;
        if let Some(p) = &progress {
            p.finish();
        }
        if a.format == RunFormat::Human {
            emit(&report::summary(&summary));
        }
        if let Some(dir) = &a.report_dir {
            for written in report::dir::write_failure(dir, path, s, system.as_ref(), &summary, &backends)? {
                if a.format == RunFormat::Human {
                    say!("  wrote {}", written.display());
                }
            }
        }
        summaries.push(summary);
    }
    let failed = summaries.iter().filter(|s| !s.verdict.ok()).count();
    match a.format {
        RunFormat::Human => say!("{} scenario(s), {} as expected, {} not", loaded.len(), loaded.len() - failed, failed),
        RunFormat::Json => emit(&report::json::render(&summaries)),
        RunFormat::Junit => emit(&report::junit::render(&summaries)),
    }
    Ok(if failed == 0 { ExitCode::Success } else { ExitCode::Violation })
}
