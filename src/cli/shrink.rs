//! `settle shrink`: one failing seed reduced to a minimal counterexample, written as a replay
//! file, its timeline printed.

use std::path::PathBuf;

use super::{App, DbArg, emit, shown};
use crate::scenario::replay_file::Recorded;
use crate::scenario::{self, Outcome, ReplayFile};
use crate::{Error, ExitCode, report};

#[derive(clap::Args)]
pub struct Args {
    path: PathBuf,
    #[arg(long)]
    seed: u64,
    /// The replay file to write (default: SCENARIO.seed-S.replay.json here).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Candidate runs the shrinker may spend.
    #[arg(long, default_value_t = 20_000)]
    budget: u64,
    #[command(flatten)]
    db: DbArg,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    let Args { path, seed, out, budget, db } = a;
    let s = app.load(&path)?;
    let system = s.build_with(&app.registry)?;
    let spec = s.run_spec(false);
    let backend = db.backends().connect()?;
    let first = crate::systems::run_seed(system.as_ref(), &spec, crate::sim::Oracle::random(seed), backend.clone())
        .map_err(Error::run(format!("{} seed {seed}", shown(&path))))?;
    let expect = s.expect.get_ref();
    let target = expect.found_in(&first.violations).or(first.violations.first()).map(|v| v.invariant.clone());
    let Some(invariant) = target else {
        return Err(Error::Usage(format!("{} seed {seed}: every invariant held; nothing to shrink", shown(&path))));
    };
    let k = scenario::shrink::shrink(
        system.as_ref(),
        &spec,
        backend,
        first.choices,
        &invariant,
        scenario::shrink::Budget { runs: budget },
    )?;
    let out = out.unwrap_or_else(|| report::dir::default_replay_path(&path, seed));
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let run = Recorded { system: system.name(), events: &k.report.events };
    let file = ReplayFile::new(run, &shown(&path), &text, seed, &invariant, true, k.choices.clone());
    report::dir::write_atomically(&out, &file.to_json())?;
    let header =
        format!("{} — seed {seed} {}\nreplay: {}", s.name, report::shrunk_line(&k), app.replay_file_command(&out));
    emit(&report::timeline(&header, &k.report.events, &k.report.violations));
    Ok(if expect.outcome == Outcome::Violation { ExitCode::Success } else { ExitCode::Violation })
}
