//! The `settle` command line, as a library: parse the arguments, call the library, map errors to
//! named exit codes. `src/main.rs` only calls [`main`].
//!
//! Each subcommand is a module of its own with its arguments (a `clap::Args` struct) and its
//! `execute` function:
//!
//! - [`run`]: run scenarios' seeds and judge them; [`shrink`], [`replay`], [`explore`],
//!   [`determinism`] work on one scenario; [`merge`] folds CI shards; [`list`] shows the catalogue;
//! - [`audit`]: `settle audit` and the provider export converters.
//!
//! A team's own binary with its own systems is [`App`]: the same subcommands, its systems in the
//! registry, its name in every replay command it prints:
//!
//! ```no_run
//! use settle::systems::{Variant, midtrans_orders::Orders};
//!
//! fn main() -> std::process::ExitCode {
//!     settle::cli::App::new("shop-settle")
//!         .system(Variant::<Orders>::new("shop-orders", |h| h /* .with_app(…) */))
//!         .main()
//! }
//! ```
//!
//! What it does not do: decide verdicts, format reports or run anything itself — the library
//! does; this layer only wires flags to it and chooses where output goes.

pub mod audit;
pub mod determinism;
pub mod drive;
pub mod explore;
pub mod list;
pub mod merge;
pub mod replay;
pub mod run;
pub mod shrink;

use std::path::{Path, PathBuf};
use std::process::ExitCode as ProcessExit;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::scenario::{Backends, Scenario, Shard};
use crate::systems::{Family, Registry, Variant};
use crate::{Error, ExitCode};

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

#[derive(Subcommand)]
enum Command {
    /// Run scenarios' seeds and judge them against their expectations.
    Run(run::Args),
    /// Shrink a failing seed to a minimal counterexample; writes a replay file, prints its timeline.
    Shrink(shrink::Args),
    /// Enumerate every combination of the first K choices (delays, orderings, drops,
    /// duplicates) of a scenario instead of sampling seeds.
    Explore(explore::Args),
    /// Combine the JSON reports of CI shards (`run --shard K/N --format json`) into one verdict.
    Merge(merge::Args),
    /// Print the timeline of one seed or replay file: messages, units of work, state changes,
    /// faults, verdict.
    Replay(replay::Args),
    /// Run a real service (any language) against settle's Midtrans over HTTP on 127.0.0.1, with
    /// seeded races, then check its database.
    Drive(drive::Args),
    /// Check a system's invariants read-only against a live database (one snapshot).
    Audit(audit::AuditArgs),
    /// Turn saved Midtrans status/notification payloads (JSON files) into a provider export on stdout.
    ExportMidtrans(audit::ExportMidtransArgs),
    /// Turn saved Stripe PaymentIntents, Charges and their events (JSON files) into a provider
    /// export on stdout.
    ExportStripe(audit::ExportStripeArgs),
    /// Run each seed twice and report the first event where the two runs differ.
    CheckDeterminism(determinism::Args),
    /// List systems, flaws, invariants and scenarios.
    List(list::Args),
}

/// A `settle`-compatible program: its name (in replay commands and `--help`) and its systems.
#[derive(Clone)]
pub struct App {
    pub program: String,
    pub registry: Registry,
}

impl App {
    /// A program called `program` that knows settle's own systems.
    pub fn new(program: &str) -> Self {
        App { program: program.to_string(), registry: Registry::builtin() }
    }

    /// Adds a system (your variation of a family, under its own name).
    pub fn system<F: Family>(mut self, variant: Variant<F>) -> Self {
        self.registry.add(variant);
        self
    }

    /// Runs the process's command line and returns its exit code.
    pub fn main(self) -> ProcessExit {
        use clap::{CommandFactory, FromArgMatches};
        let name: &'static str = Box::leak(self.program.clone().into_boxed_str());
        let matches = Cli::command().name(name).bin_name(name).get_matches();
        let code = match Cli::from_arg_matches(&matches) {
            Ok(cli) => match execute(cli.command, &self) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {}", error_chain(&e));
                    e.exit_code()
                }
            },
            Err(e) => {
                let _ = e.print();
                ExitCode::Usage
            }
        };
        let failed = STDOUT_FAILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(e) = failed {
            eprintln!("error: cannot write to standard output: {e}; what it holds is incomplete");
            return ProcessExit::from(ExitCode::Infrastructure.code());
        }
        ProcessExit::from(code.code())
    }

    /// Reads and validates a scenario file against this program's systems.
    pub fn load(&self, path: &Path) -> Result<Scenario, Error> {
        crate::scenario::file::load_with(path, &self.registry)
    }

    /// The command that replays a replay file.
    pub fn replay_file_command(&self, file: &Path) -> String {
        format!("{} replay {}", self.program, file.display())
    }
}

/// Runs settle's own command line and returns its exit code.
pub fn main() -> ProcessExit {
    App::new("settle").main()
}

/// An error with every source it carries, `: `-separated, so nothing a library error knew is lost
/// on its way to the terminal.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn execute(cmd: Command, app: &App) -> Result<ExitCode, Error> {
    match cmd {
        Command::Run(a) => run::execute(a, app),
        Command::Shrink(a) => shrink::execute(a, app),
        Command::Explore(a) => explore::execute(a, app),
        Command::Merge(a) => merge::execute(a),
        Command::Replay(a) => replay::execute(a, app),
        Command::Drive(a) => drive::execute(a, &app.program),
        Command::Audit(a) => audit::execute(a, app),
        Command::ExportMidtrans(a) => audit::export_midtrans(a),
        Command::ExportStripe(a) => audit::export_stripe(a),
        Command::CheckDeterminism(a) => determinism::execute(a, app),
        Command::List(a) => list::execute(a, app),
    }
}

// ---- what the subcommands share ----

#[derive(clap::Args, Clone)]
pub(crate) struct DbArg {
    /// Database URL (sqlite:, postgres://, mysql://); default: embedded SQLite in memory.
    #[arg(long, env = "SETTLE_DATABASE_URL", hide_env_values = true)]
    db: Option<String>,
}

impl DbArg {
    pub(crate) fn backends(&self) -> Backends {
        self.db.clone().map_or(Backends::Embedded, Backends::Url)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RunFormat {
    Human,
    Json,
    Junit,
}

/// How many cores, which part of the seeds, for how long.
#[derive(clap::Args, Clone)]
pub(crate) struct ScaleArgs {
    /// Threads to run seeds on; results do not depend on it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) jobs: u64,
    /// Run shard K of N (1-based): seed i of the selection belongs to shard i mod N + 1.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub(crate) shard: Option<Shard>,
    /// Run seeds until this much wall-clock time is spent (e.g. 60s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
    pub(crate) time_budget: Option<Duration>,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub(crate) progress: ProgressMode,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// Shown when stderr is a terminal or CI=true.
    Auto,
    Always,
    Never,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text)
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    let ms = crate::sim::Millis::parse(text).map_err(|e| e.to_string())?;
    if ms.0 == 0 {
        return Err("the time budget must be positive".into());
    }
    Ok(Duration::from_millis(ms.0))
}

/// Writes to stdout; a closed pipe (`settle … | head`) is not an error worth a panic.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not a failure; a full disk or a broken
        // device is: what went out is incomplete, so the command must not exit 0.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut first = STDOUT_FAILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// The first error writing to stdout other than a closed pipe; the command then exits 4.
static STDOUT_FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

macro_rules! say {
    ($($arg:tt)*) => { $crate::cli::emit(&format!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use say;

/// Expands folders into their `*.toml` files, sorted.
pub(crate) fn scenario_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
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

pub(crate) fn shown(p: &Path) -> String {
    p.display().to_string()
}
