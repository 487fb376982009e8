//! `settle replay`: the timeline of one seed of a scenario, or of a replay file, optionally kept
//! in a SQLite file for `settle audit`.
//!
//! A replay file is judged against its own invariant (the one it was saved for), and refused with
//! exit 2 when this program's system is not the one that failed, or when its run no longer starts
//! the way the recorded one did.

use std::path::PathBuf;

use super::{App, DbArg, emit, say, shown};
use crate::scenario::{self, Expect, ReplayFile, Verdict};
use crate::{Error, ExitCode, audit, report};

#[derive(clap::Args)]
pub struct Args {
    /// A scenario file (with --seed) or a replay file (*.json, from `shrink` or --report-dir).
    path: PathBuf,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    db: DbArg,
    /// Run on this SQLite file and keep it, with the provider export beside it
    /// (FILE.provider.jsonl), for `settle audit`.
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    keep_db: Option<PathBuf>,
    /// With --keep-db: overwrite existing files.
    #[arg(long, requires = "keep_db")]
    force: bool,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    let Args { path, seed, db, keep_db, force } = a;
    // A replay file carries its scenario and choices; a scenario file needs --seed.
    let (s, oracle, what, again, file) = if scenario::replay_file::is_replay_file(&path) {
        if seed.is_some() {
            return Err(Error::Usage(format!("{}: a replay file has its own choices; drop --seed", shown(&path))));
        }
        let file = ReplayFile::load(&path)?;
        let s = file.scenario(&shown(&path), &app.registry)?;
        let what = format!(
            "seed {}{} — {} choice(s)",
            file.seed,
            if file.shrunk { " shrunk" } else { "" },
            file.choices.len()
        );
        let again = app.replay_file_command(&path);
        let oracle = crate::sim::Oracle::replay(file.choices.clone());
        (s, oracle, what, again, Some(file))
    } else {
        let Some(seed) = seed else {
            return Err(Error::Usage(format!("{}: --seed is required to replay a scenario file", shown(&path))));
        };
        let s = app.load(&path)?;
        let again = scenario::runner::replay_command_of(&app.program, &shown(&path), seed);
        (s, crate::sim::Oracle::random(seed), format!("seed {seed}"), again, None)
    };
    let system = s.build_with(&app.registry)?;
    if let Some(f) = &file {
        f.check_system(&shown(&path), system.name())?;
        let info = system.info();
        let known: Vec<&str> = info.invariants.iter().map(|i| i.name.as_str()).collect();
        f.check_invariant(&shown(&path), system.name(), &known)?;
    }
    let r = match &keep_db {
        Some(kept) => audit::keep::replay_keep_db(system.as_ref(), &s, oracle, true, kept, force)?,
        None => scenario::runner::run_system(system.as_ref(), &s, oracle, true, db.backends().connect()?)?,
    };
    if let Some(f) = &file {
        f.check_run(&shown(&path), &r.events)?;
    }
    let flaws = s.flaw_names();
    let header =
        format!("{} — {what} — system {} — flaws [{}]\nreplay: {again}", s.name, system.name(), flaws.join(", "));
    emit(&report::timeline(&header, &r.events, &r.violations));
    if let Some(kept) = &keep_db {
        let jsonl = audit::keep::export_path(kept);
        let export = if jsonl.exists() {
            say!("kept: {} and {}", kept.display(), jsonl.display());
            format!(" --provider-export {}", jsonl.display())
        } else {
            say!("kept: {}", kept.display());
            String::new()
        };
        say!("audit: {} audit --system {} --db sqlite://{}{export}", app.program, system.name(), kept.display());
    }
    // A replay file is judged by the failure it saved; a seed by the scenario's expectation.
    let expect = match &file {
        Some(f) => Expect::violation(&f.invariant),
        None => s.expect.get_ref().clone(),
    };
    let met = Verdict::of_run(&expect, &r.violations).ok();
    if let Some(f) = &file {
        match met {
            true => say!("reproduced: `{}` is violated, as recorded", f.invariant),
            false => say!("NOT reproduced: `{}` holds in this run", f.invariant),
        }
    }
    Ok(if met { ExitCode::Success } else { ExitCode::Violation })
}
