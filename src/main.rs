//! The `settle` command line: parse, call the library, map errors to named exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode as ProcessExit;

use clap::{Parser, Subcommand};

use settle::scenario::{self, Backends, Outcome, Scenario, SeedSelection};
use settle::sim::first_divergence;
use settle::{Error, ExitCode, report, systems};

#[derive(Parser)]
#[command(
    name = "settle",
    version,
    about = "Deterministic simulator and consistency checker for payment synchronization"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DbArg {
    /// Database URL (sqlite:, postgres://, mysql://); default: embedded SQLite in memory.
    #[arg(long, env = "SETTLE_DATABASE_URL")]
    db: Option<String>,
}

impl DbArg {
    fn backends(&self) -> Backends {
        self.db.clone().map_or(Backends::Embedded, Backends::Url)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios' seeds and judge them against their expectations.
    Run {
        /// Scenario files or folders (default: ./scenarios).
        paths: Vec<PathBuf>,
        /// Number of seeds (default: each scenario's own `seeds`).
        #[arg(long)]
        seeds: Option<u64>,
        /// Run only this seed.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print the timeline of one seed: messages, units of work, state changes, faults, verdict.
    Replay {
        path: PathBuf,
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Run each seed twice and report the first event where the two runs differ.
    CheckDeterminism {
        path: PathBuf,
        #[arg(long, default_value_t = 50)]
        seeds: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// List systems, flaws, invariants and scenarios.
    List {
        /// Scenario folder to list (default: ./scenarios).
        #[arg(long)]
        scenarios: Option<PathBuf>,
    },
}

/// Writes to stdout; a closed pipe (`settle … | head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

macro_rules! say {
    ($($arg:tt)*) => { emit(&format!("{}\n", format_args!($($arg)*))) };
}

fn main() -> ProcessExit {
    let cli = Cli::parse();
    let code = match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    ProcessExit::from(code.code())
}

/// Expands folders into their `*.toml` files, sorted.
fn scenario_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let paths = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths.to_vec() };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(&p).map_err(|e| Error::Usage(format!("cannot read folder {}: {e}", p.display())))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Usage(format!("no *.toml scenario files in {}", p.display())));
            }
            out.extend(files);
        } else if p.is_file() {
            out.push(p);
        } else {
            return Err(Error::Usage(format!("no such scenario file or folder: {}", p.display())));
        }
    }
    Ok(out)
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

fn execute(cmd: Command) -> Result<ExitCode, Error> {
    match cmd {
        Command::Run { paths, seeds, seed, db } => {
            if seeds == Some(0) {
                return Err(Error::Usage("--seeds must be at least 1".into()));
            }
            let files = scenario_paths(&paths)?;
            // Parse everything first: a typo in the fifth file should not cost four runs.
            let loaded: Vec<(PathBuf, Scenario)> =
                files.into_iter().map(|p| scenario::load(&p).map(|s| (p, s))).collect::<Result<_, _>>()?;
            let backends = db.backends();
            let mut failed = 0;
            for (path, s) in &loaded {
                let selection = match (seed, seeds) {
                    (Some(one), _) => SeedSelection::One(one),
                    (None, Some(n)) => SeedSelection::Range { start: 0, count: n },
                    (None, None) => SeedSelection::Range { start: 0, count: *s.seeds.get_ref() },
                };
                let summary = scenario::run_scenario(s, &shown(path), selection, &backends)?;
                emit(&report::summary(&summary));
                if !summary.verdict.ok() {
                    failed += 1;
                }
            }
            say!("{} scenario(s), {} as expected, {} not", loaded.len(), loaded.len() - failed, failed);
            Ok(if failed == 0 { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::Replay { path, seed, db } => {
            let s = scenario::load(&path)?;
            let backend = db.backends().connect()?;
            let r = scenario::run_one(&s, seed, true, backend)?;
            let flaws = s.flaw_names();
            let header = format!(
                "{} — seed {seed} — system {} — flaws [{}]\nreplay: {}",
                s.name,
                s.system.get_ref(),
                flaws.join(", "),
                scenario::replay_command(&shown(&path), seed)
            );
            emit(&report::timeline(&header, &r.events, &r.violations));
            let expect = s.expect.get_ref();
            let met = match expect.outcome {
                Outcome::Pass => r.violations.is_empty(),
                Outcome::Violation => r.violations.iter().any(|v| Some(&v.invariant) == expect.invariant.as_ref()),
            };
            Ok(if met { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::CheckDeterminism { path, seeds, db } => {
            let s = scenario::load(&path)?;
            let backends = db.backends();
            let backend = backends.connect()?;
            for seed in 0..seeds {
                let a = scenario::run_one(&s, seed, true, backend.clone())?;
                let b = scenario::run_one(&s, seed, true, backend.clone())?;
                if let Some(d) = first_divergence(&a.events, &b.events) {
                    say!("NONDETERMINISM in {} seed {seed} at event {}:", shown(&path), d.index);
                    say!("  first run:  {}", d.first.map_or("(end of trace)".into(), |e| e.to_string()));
                    say!("  second run: {}", d.second.map_or("(end of trace)".into(), |e| e.to_string()));
                    say!("reproduce: settle check-determinism {} --seeds {}", shown(&path), seed + 1);
                    return Ok(ExitCode::Nondeterminism);
                }
                if a.choices != b.choices {
                    say!("NONDETERMINISM in {} seed {seed}: same trace, different oracle choices", shown(&path));
                    return Ok(ExitCode::Nondeterminism);
                }
            }
            say!("{}: {seeds} seed(s), each run twice, identical traces", shown(&path));
            Ok(ExitCode::Success)
        }
        Command::List { scenarios } => {
            let dir = scenarios.unwrap_or_else(|| PathBuf::from("scenarios"));
            let mut rows = Vec::new();
            if dir.is_dir() {
                for p in scenario_paths(std::slice::from_ref(&dir))? {
                    match scenario::load(&p) {
                        Ok(s) => {
                            let e = s.expect.get_ref();
                            let expect = match e.outcome {
                                Outcome::Pass => "pass".to_string(),
                                Outcome::Violation => {
                                    format!("violation of {}", e.invariant.clone().unwrap_or_default())
                                }
                            };
                            rows.push((shown(&p), s.name.clone(), expect));
                        }
                        Err(e) => rows.push((shown(&p), "(invalid)".into(), e.to_string())),
                    }
                }
            }
            emit(&report::catalog(&systems::catalog(), &rows));
            Ok(ExitCode::Success)
        }
    }
}
