//! `settle replay`: the timeline of one seed of a scenario, or of a replay file, optionally kept
//! in a SQLite file for `settle audit`.

use std::path::PathBuf;

use super::{DbArg, emit, say, shown};
use crate::scenario::{self, Outcome, ReplayFile};
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

pub fn execute(a: Args) -> Result<ExitCode, Error> {
    let Args { path, seed, db, keep_db, force } = a;
    // A replay file carries its scenario and choices; a scenario file needs --seed.
    let (s, oracle, what, again) = if scenario::replay_file::is_replay_file(&path) {
        if seed.is_some() {
            return Err(Error::Usage(format!("{}: a replay file has its own choices; drop --seed", shown(&path))));
        }
        let file = ReplayFile::load(&path)?;
        let s = file.scenario(&shown(&path))?;
        let what = format!(
            "seed {}{} — {} choice(s)",
            file.seed,
            if file.shrunk { " shrunk" } else { "" },
            file.choices.len()
        );
        let again = format!("settle replay {}", shown(&path));
        let oracle = crate::sim::Oracle::replay(file.choices);
        (s, oracle, what, again)
    } else {
        let Some(seed) = seed else {
            return Err(Error::Usage(format!("{}: --seed is required to replay a scenario file", shown(&path))));
        };
        let s = scenario::load(&path)?;
        (s, crate::sim::Oracle::random(seed), format!("seed {seed}"), scenario::replay_command(&shown(&path), seed))
    };
    let r = match &keep_db {
        Some(file) => audit::keep::replay_keep_db(&s, oracle, true, file, force)?,
        None => scenario::run_choices(&s, oracle, true, db.backends().connect()?)?,
    };
    let flaws = s.flaw_names();
    let header =
        format!("{} — {what} — system {} — flaws [{}]\nreplay: {again}", s.name, s.system.get_ref(), flaws.join(", "),);
    emit(&report::timeline(&header, &r.events, &r.violations));
    if let Some(file) = &keep_db {
        let jsonl = audit::keep::export_path(file);
        let export = if jsonl.exists() {
            say!("kept: {} and {}", file.display(), jsonl.display());
            format!(" --provider-export {}", jsonl.display())
        } else {
            say!("kept: {}", file.display());
            String::new()
        };
        say!("audit: settle audit --system {} --db sqlite://{}{export}", s.system.get_ref(), file.display());
    }
    let expect = s.expect.get_ref();
    let met = match expect.outcome {
        Outcome::Pass => r.violations.is_empty(),
        Outcome::Violation => r.violations.iter().any(|v| Some(&v.invariant) == expect.invariant.as_ref()),
    };
    Ok(if met { ExitCode::Success } else { ExitCode::Violation })
}
