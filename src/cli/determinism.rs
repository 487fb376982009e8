//! `settle check-determinism`: each seed run twice, the first diverging event reported.

use std::path::PathBuf;

use super::{App, DbArg, say, shown};
use crate::scenario;
use crate::{Error, ExitCode};

#[derive(clap::Args)]
pub struct Args {
    path: PathBuf,
    #[arg(long, default_value_t = 50)]
    seeds: u64,
    #[command(flatten)]
    db: DbArg,
}

pub fn execute(a: Args, app: &App) -> Result<ExitCode, Error> {
    let Args { path, seeds, db } = a;
    if seeds == 0 {
        return Err(Error::Usage("--seeds must be at least 1".into()));
    }
    let s = app.load(&path)?;
    let backend = db.backends().connect()?;
    let found = scenario::check_determinism(s.build_with(&app.registry)?.as_ref(), &s.run_spec(true), seeds, backend)?;
    let Some(n) = found else {
        say!("{}: {seeds} seed(s), each run twice, identical traces", shown(&path));
        return Ok(ExitCode::Success);
    };
    match n.divergence {
        Some(d) => {
            say!("NONDETERMINISM in {} seed {} at event {}:", shown(&path), n.seed, d.index);
            say!("  first run:  {}", d.first.map_or("(end of trace)".into(), |e| e.to_string()));
            say!("  second run: {}", d.second.map_or("(end of trace)".into(), |e| e.to_string()));
        }
        None => say!("NONDETERMINISM in {} seed {}: same trace, different oracle choices", shown(&path), n.seed),
    }
    say!("reproduce: {} check-determinism {} --seeds {}", app.program, shown(&path), n.seed + 1);
    Ok(ExitCode::Nondeterminism)
}
