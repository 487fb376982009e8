//! `settle drive SCENARIO`: run a real service against settle's Midtrans over HTTP and check its
//! database (see [`crate::drive`]). Prints each run's verdict and, for a violation, the story of
//! what crossed the boundary; exits 0 when every run passed, 1 when one found a violation, 2 on
//! a bad scenario or mapping, 4 when the database cannot be reached, 5 when the service does not
//! start or never becomes healthy, 130 when interrupted.
//!
//! What it does not do: JSON/JUnit output or shrinking (not yet).

use std::path::PathBuf;

use crate::drive::{self, scenario};
use crate::hosted::story;
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
}

pub fn execute(a: Args) -> Result<ExitCode, Error> {
    let d = scenario::load(&a.scenario)?;
    let (mapping, _) = Mapping::load(&d.mapping_path())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Infrastructure(format!("cannot start the async runtime: {e}")))?;
    let outcomes = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Infrastructure(format!("cannot watch SIGTERM: {e}")))?;
        tokio::select! {
            out = drive::drive(&d, &mapping) => out.map(Some),
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
    let mut failed = 0;
    for o in &outcomes {
        if a.trace {
            for l in &o.trace {
                println!("{l}");
            }
        }
        if o.violations.is_empty() {
            println!("seed {} run {}: pass (every invariant held)", o.seed, o.run);
            continue;
        }
        failed += 1;
        println!("seed {} run {}: FAIL, {} invariant(s) violated", o.seed, o.run, o.violations.len());
        for v in &o.violations {
            print!("{}", story(v, &o.trace, a.story_lines));
        }
    }
    let n = outcomes.len();
    if failed > 0 {
        println!("{}: failed {failed} of {n} run(s)", d.path);
        Ok(ExitCode::Violation)
    } else {
        println!("{}: passed {n} of {n} run(s)", d.path);
        Ok(ExitCode::Success)
    }
}
