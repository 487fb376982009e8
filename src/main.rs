//! The `settle` command line: parse, call the library, map errors to named exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode as ProcessExit;

use clap::{Parser, Subcommand};

use settle::scenario::{self, Backends, Outcome, Scenario, SeedSelection};
use settle::{Error, ExitCode, audit, report, systems};

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

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
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
        /// Run on this SQLite file and keep it, with the provider export beside it
        /// (FILE.provider.jsonl), for `settle audit`.
        #[arg(long, value_name = "FILE", conflicts_with = "db")]
        keep_db: Option<PathBuf>,
        /// With --keep-db: overwrite existing files.
        #[arg(long, requires = "keep_db")]
        force: bool,
    },
    /// Check a system's invariants read-only against a live database (one snapshot).
    Audit {
        /// The system whose schema and invariants to use (midtrans-orders).
        #[arg(long)]
        system: String,
        /// sqlite://PATH, postgres://…, mysql://…
        #[arg(long, env = "SETTLE_DATABASE_URL")]
        db: String,
        /// Table and column names, column types (TOML); default: seed 001's schema.
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// The provider's truth, JSON Lines (see `settle export-midtrans` and `settle export-stripe`).
        #[arg(long, value_name = "FILE")]
        provider_export: Option<PathBuf>,
        /// Epoch milliseconds or YYYY-MM-DDTHH:MM:SSZ; default: the newest created_at or export time.
        #[arg(long)]
        as_of: Option<String>,
        /// How long the database may lag the provider.
        #[arg(long, default_value = "15m")]
        grace: String,
        /// PENDING for longer than this is stuck.
        #[arg(long, default_value = "30m")]
        stuck_after: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Turn saved Midtrans status/notification payloads (JSON files) into a provider export on stdout.
    ExportMidtrans {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Turn saved Stripe PaymentIntents, Charges and their events (JSON files) into a provider
    /// export on stdout.
    ExportStripe {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The metadata key that holds the order id.
        #[arg(long, default_value = "order_id")]
        metadata_key: String,
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
        Command::Replay { path, seed, db, keep_db, force } => {
            let s = scenario::load(&path)?;
            let r = match &keep_db {
                Some(file) => audit::keep::replay_keep_db(&s, seed, true, file, force)?,
                None => scenario::run_one(&s, seed, true, db.backends().connect()?)?,
            };
            let flaws = s.flaw_names();
            let header = format!(
                "{} — seed {seed} — system {} — flaws [{}]\nreplay: {}",
                s.name,
                s.system.get_ref(),
                flaws.join(", "),
                scenario::replay_command(&shown(&path), seed)
            );
            emit(&report::timeline(&header, &r.events, &r.violations));
            if let Some(file) = &keep_db {
                let jsonl = audit::keep::export_path(file);
                say!("kept: {} and {}", file.display(), jsonl.display());
                say!(
                    "audit: settle audit --system {} --db sqlite://{} --provider-export {}",
                    s.system.get_ref(),
                    file.display(),
                    jsonl.display()
                );
            }
            let expect = s.expect.get_ref();
            let met = match expect.outcome {
                Outcome::Pass => r.violations.is_empty(),
                Outcome::Violation => r.violations.iter().any(|v| Some(&v.invariant) == expect.invariant.as_ref()),
            };
            Ok(if met { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::CheckDeterminism { path, seeds, db } => {
            let s = scenario::load(&path)?;
            let backend = db.backends().connect()?;
            let found = scenario::check_determinism(s.build_system().as_ref(), &s.run_spec(true), seeds, backend)?;
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
                None => {
                    say!("NONDETERMINISM in {} seed {}: same trace, different oracle choices", shown(&path), n.seed)
                }
            }
            say!("reproduce: settle check-determinism {} --seeds {}", shown(&path), n.seed + 1);
            Ok(ExitCode::Nondeterminism)
        }
        Command::Audit { system, db, mapping, provider_export, as_of, grace, stuck_after, format } => {
            let duration = |flag: &str, v: &str| {
                settle::sim::Millis::parse(v)
                    .map(|m| i64::try_from(m.0).unwrap_or(i64::MAX))
                    .map_err(|e| Error::Usage(format!("{flag} {v}: {e}")))
            };
            let opts = audit::Options {
                mapping,
                provider_export,
                as_of: as_of
                    .map(|t| {
                        audit::time::parse_instant(&t).ok_or_else(|| {
                            Error::Usage(format!("--as-of {t}: expected epoch milliseconds or YYYY-MM-DDTHH:MM:SSZ"))
                        })
                    })
                    .transpose()?,
                grace_ms: duration("--grace", &grace)?,
                stuck_after_ms: duration("--stuck-after", &stuck_after)?,
            };
            let r = audit::audit(&system, &db, &opts)?;
            emit(&match format {
                Format::Human => r.human(),
                Format::Json => r.json(),
            });
            Ok(if r.total() == 0 { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::ExportMidtrans { files } => {
            emit(&audit::export::midtrans::convert(&files)?);
            Ok(ExitCode::Success)
        }
        Command::ExportStripe { files, metadata_key } => {
            let converted = audit::export::stripe::convert(&files, &metadata_key)?;
            for note in &converted.notes {
                eprintln!("note: {note}");
            }
            emit(&converted.text);
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
