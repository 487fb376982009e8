//! The `settle` command line: parse, call the library, map errors to named exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode as ProcessExit;
use std::time::Duration;

use clap::{Parser, Subcommand};

use settle::scenario::{self, Backends, Outcome, ReplayFile, RunOptions, Scenario, SeedSelection, Shard};
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RunFormat {
    Human,
    Json,
    Junit,
}

/// How many cores, which part of the seeds, for how long.
#[derive(clap::Args, Clone)]
struct ScaleArgs {
    /// Threads to run seeds on; results do not depend on it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: u64,
    /// Run shard K of N (1-based): seed i of the selection belongs to shard i mod N + 1.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Run seeds until this much wall-clock time is spent (e.g. 60s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
    time_budget: Option<Duration>,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProgressMode {
    /// Shown when stderr is a terminal or CI=true.
    Auto,
    Always,
    Never,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text)
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    let ms = settle::sim::Millis::parse(text).map_err(|e| e.to_string())?;
    if ms.0 == 0 {
        return Err("the time budget must be positive".into());
    }
    Ok(Duration::from_millis(ms.0))
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios' seeds and judge them against their expectations.
    Run {
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
    },
    /// Shrink a failing seed to a minimal counterexample; writes a replay file, prints its timeline.
    Shrink {
        path: PathBuf,
        #[arg(long)]
        seed: u64,
        /// The replay file to write (default: <scenario>.seed-<S>.replay.json here).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Candidate runs the shrinker may spend.
        #[arg(long, default_value_t = 20_000)]
        budget: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Enumerate every combination of the first K choices (delays, orderings, drops,
    /// duplicates) of a scenario instead of sampling seeds.
    Explore {
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
    },
    /// Combine the JSON reports of CI shards (`run --shard K/N --format json`) into one verdict.
    Merge {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the timeline of one seed or replay file: messages, units of work, state changes,
    /// faults, verdict.
    Replay {
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
        Command::Run {
            paths,
            seeds,
            seed,
            seed_start,
            db,
            scale,
            no_shrink,
            shrink_budget,
            swarm,
            format,
            report_dir,
        } => {
            if seeds == Some(0) {
                return Err(Error::Usage("--seeds must be at least 1".into()));
            }
            let files = scenario_paths(&paths)?;
            // Parse everything first: a typo in the fifth file should not cost four runs.
            let loaded: Vec<(PathBuf, Scenario)> =
                files.into_iter().map(|p| scenario::load(&p).map(|s| (p, s))).collect::<Result<_, _>>()?;
            if let Some(dir) = &report_dir {
                report::dir::prepare(dir)?;
            }
            let backends = db.backends();
            let show_progress = match scale.progress {
                ProgressMode::Always => true,
                ProgressMode::Never => false,
                ProgressMode::Auto => {
                    std::io::IsTerminal::is_terminal(&std::io::stderr()) || std::env::var_os("CI").is_some()
                }
            };
            let mut summaries = Vec::new();
            for (path, s) in &loaded {
                let selection = match (seed, seeds, scale.time_budget) {
                    (Some(one), _, _) => SeedSelection::One(one),
                    (None, Some(n), _) => SeedSelection::Range { start: seed_start, count: n },
                    (None, None, Some(_)) => SeedSelection::Endless { start: seed_start },
                    (None, None, None) => SeedSelection::Range { start: seed_start, count: *s.seeds.get_ref() },
                };
                let progress = report::progress::Progress::new(&s.name, show_progress);
                let callback = |done: u64, planned: Option<u64>| {
                    if let Some(p) = &progress {
                        p.update(done, planned);
                    }
                };
                let opts = RunOptions {
                    jobs: scale.jobs as usize,
                    shard: scale.shard,
                    time_budget: scale.time_budget,
                    shrink: (!no_shrink).then_some(scenario::shrink::Budget { runs: shrink_budget }),
                    swarm,
                    progress: Some(&callback),
                };
                let system = s.build_system();
                let summary =
                    scenario::run_scenario_opts(s, system.as_ref(), &shown(path), selection, &backends, &opts)?;
                if let Some(p) = &progress {
                    p.finish();
                }
                if format == RunFormat::Human {
                    emit(&report::summary(&summary));
                }
                if let Some(dir) = &report_dir {
                    for written in report::dir::write_failure(dir, path, s, &summary, &backends)? {
                        if format == RunFormat::Human {
                            say!("  wrote {}", written.display());
                        }
                    }
                }
                summaries.push(summary);
            }
            let failed = summaries.iter().filter(|s| !s.verdict.ok()).count();
            match format {
                RunFormat::Human => {
                    say!("{} scenario(s), {} as expected, {} not", loaded.len(), loaded.len() - failed, failed)
                }
                RunFormat::Json => emit(&report::json::render(&summaries)),
                RunFormat::Junit => emit(&report::junit::render(&summaries)),
            }
            Ok(if failed == 0 { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::Shrink { path, seed, out, budget, db } => {
            let s = scenario::load(&path)?;
            let system = s.build_system();
            let spec = s.run_spec(false);
            let backend = db.backends().connect()?;
            let first =
                settle::systems::run_seed(system.as_ref(), &spec, settle::sim::Oracle::random(seed), backend.clone())
                    .map_err(|e| Error::Infrastructure(e.to_string()))?;
            let expect = s.expect.get_ref();
            let target = first
                .violations
                .iter()
                .find(|v| expect.outcome == Outcome::Pass || Some(&v.invariant) == expect.invariant.as_ref())
                .or(first.violations.first())
                .map(|v| v.invariant.clone());
            let Some(invariant) = target else {
                return Err(Error::Usage(format!(
                    "{} seed {seed}: every invariant held; nothing to shrink",
                    shown(&path)
                )));
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
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
            let file = ReplayFile::new(&shown(&path), &text, seed, &invariant, true, k.choices.clone());
            report::dir::write_atomically(&out, &file.to_json())?;
            let header = format!(
                "{} — seed {seed} {}\nreplay: settle replay {}",
                s.name,
                report::shrunk_line(&k),
                out.display()
            );
            emit(&report::timeline(&header, &k.report.events, &k.report.violations));
            Ok(if expect.outcome == Outcome::Violation { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::Explore { path, depth, values, max_runs, format, report_dir } => {
            let s = scenario::load(&path)?;
            if let Some(dir) = &report_dir {
                report::dir::prepare(dir)?;
            }
            let system = s.build_system();
            let backend = Backends::Embedded.connect()?;
            let bounds = scenario::explore::Bounds { depth, values, max_runs };
            let started = std::time::Instant::now();
            let x = scenario::explore::explore(system.as_ref(), &s.run_spec(false), backend, bounds)?;
            let elapsed_s = started.elapsed().as_secs_f64();
            let verdict = report::explore::verdict(&s, &x);
            let mut written = Vec::new();
            if let Some(dir) = &report_dir {
                written = report::explore::write_replays(dir, &path, &s, &x)?;
            }
            emit(&match format {
                RunFormat::Human => report::explore::human(&shown(&path), &s, &x, &verdict, elapsed_s, &written),
                RunFormat::Json => report::explore::json(&shown(&path), &s, &x, &verdict, elapsed_s),
                RunFormat::Junit => report::explore::junit(&shown(&path), &s, &x, &verdict, elapsed_s),
            });
            Ok(if verdict.ok() { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::Merge { reports, format } => {
            let mut parsed = Vec::new();
            for p in &reports {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Usage(format!("cannot read report {}: {e}", p.display())))?;
                parsed.push((shown(p), report::json::parse(&text, &shown(p))?));
            }
            let merged = report::json::merge(&parsed)?;
            emit(&match format {
                Format::Human => report::json::human(&merged),
                Format::Json => serde_json::to_string_pretty(&merged).unwrap_or_default() + "\n",
            });
            Ok(if merged.ok { ExitCode::Success } else { ExitCode::Violation })
        }
        Command::Replay { path, seed, db, keep_db, force } => {
            // A replay file carries its scenario and choices; a scenario file needs --seed.
            let (s, oracle, what, again) = if scenario::replay_file::is_replay_file(&path) {
                if seed.is_some() {
                    return Err(Error::Usage(format!(
                        "{}: a replay file has its own choices; drop --seed",
                        shown(&path)
                    )));
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
                let oracle = settle::sim::Oracle::replay(file.choices);
                (s, oracle, what, again)
            } else {
                let Some(seed) = seed else {
                    return Err(Error::Usage(format!(
                        "{}: --seed is required to replay a scenario file",
                        shown(&path)
                    )));
                };
                let s = scenario::load(&path)?;
                (
                    s,
                    settle::sim::Oracle::random(seed),
                    format!("seed {seed}"),
                    scenario::replay_command(&shown(&path), seed),
                )
            };
            let r = match &keep_db {
                Some(file) => audit::keep::replay_keep_db(&s, oracle, true, file, force)?,
                None => scenario::run_choices(&s, oracle, true, db.backends().connect()?)?,
            };
            let flaws = s.flaw_names();
            let header = format!(
                "{} — {what} — system {} — flaws [{}]\nreplay: {again}",
                s.name,
                s.system.get_ref(),
                flaws.join(", "),
            );
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
