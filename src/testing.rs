//! Your own system under settle from an ordinary `#[test]`, with replay the way proptest and
//! madsim do it.
//!
//! ```no_run
//! use settle::systems::{Variant, midtrans_orders::Orders};
//!
//! #[test]
//! fn my_webhook_survives_the_race() {
//!     let mine = Variant::<Orders>::new("shop-orders", |h| h /* .with_app(my_router) */);
//!     settle::testing::Runner::new(mine, "tests/scenarios/race.toml").check();
//! }
//! ```
//!
//! [`Runner::check`] runs the scenario's seeds against your system and judges them by the
//! scenario's `[expect]`. Before any seed it replays every counterexample saved in the
//! regressions file (`settle-regressions/<scenario>.<system>.jsonl` beside the scenario), so a bug
//! once found is tried first forever after. When a seed fails unexpectedly it shrinks it, appends
//! its choice list to that file, and panics with the timeline's steps that matter and the command
//! that reproduces it:
//!
//! - `SETTLE_SEED=<seed> cargo test -- --exact <test>`: that one seed, with its whole timeline;
//! - `SETTLE_REPLAY=<regressions file>#<n> cargo test -- --exact <test>`: the n-th saved
//!   counterexample (or `SETTLE_REPLAY=<file>.json`, a replay file from `settle shrink`);
//! - `SETTLE_SEEDS=<n>`: run n seeds instead of the scenario's own count.
//!
//! A saved counterexample names its system and is replayed only with it. Unlike `settle replay`,
//! a regression whose run no longer starts as it did is still replayed: after a fix, the run is
//! meant to go differently, and it must pass.
//!
//! What it does not do: run several scenarios, or share the regressions file between systems.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scenario::shrink::Budget;
use crate::scenario::{
    Backends, Expect, ReplayFile, RunOptions, Scenario, SeedSelection, Summary, Verdict, run_scenario_opts,
};
use crate::sim::Oracle;
use crate::store::SharedBackend;
use crate::systems::{Family, Registry, System, Variant};

/// One saved counterexample: a line of the regressions file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    pub system: String,
    pub seed: u64,
    pub invariant: String,
    pub choices: Vec<u64>,
}

/// How a check ended, when it did not fail.
#[derive(Clone, Debug)]
pub struct Passed {
    /// Saved counterexamples replayed first (all passed).
    pub regressions: usize,
    /// The run set's summary (`None` when only one saved counterexample or seed was asked for).
    pub summary: Option<Summary>,
}

/// A `#[test]`'s run of one scenario against one system.
pub struct Runner {
    registry: Registry,
    system: String,
    scenario: PathBuf,
    regressions: PathBuf,
    seeds: Option<u64>,
    shrink: Budget,
    backends: Backends,
    env: EnvFn,
}

/// Where `SETTLE_SEED`, `SETTLE_REPLAY` and `SETTLE_SEEDS` are read from.
type EnvFn = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Runner {
    /// `variant` under the scenario file at `scenario` (which names the variant or its family).
    pub fn new<F: Family>(variant: Variant<F>, scenario: impl AsRef<Path>) -> Self {
        let scenario = scenario.as_ref().to_path_buf();
        let mut registry = Registry::builtin();
        // The scenario may name the family: in this test, that name means your system.
        registry.add_under(F::NAME, variant.clone());
        registry.add(variant.clone());
        let stem = scenario.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let dir = scenario.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        let regressions = dir.join("settle-regressions").join(format!("{stem}.{}.jsonl", variant.name()));
        Runner {
            registry,
            system: variant.name().to_string(),
            scenario,
            regressions,
            seeds: None,
            shrink: Budget::default(),
            backends: Backends::Embedded,
            env: std::sync::Arc::new(|k: &str| std::env::var(k).ok()),
        }
    }

    /// Reads `SETTLE_SEED`, `SETTLE_REPLAY` and `SETTLE_SEEDS` from `env` instead of the
    /// process's environment (for tests of the runner itself, which run in parallel).
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = std::sync::Arc::new(env);
        self
    }

    /// Runs `n` seeds instead of the scenario's own count (`SETTLE_SEEDS` overrides this).
    pub fn seeds(mut self, n: u64) -> Self {
        self.seeds = Some(n);
        self
    }

    /// Candidate runs the shrinker may spend on a failure (default 20,000).
    pub fn shrink_budget(mut self, runs: u64) -> Self {
        self.shrink = Budget { runs };
        self
    }

    /// Keeps saved counterexamples in `path` instead of beside the scenario.
    pub fn regressions(mut self, path: impl AsRef<Path>) -> Self {
        self.regressions = path.as_ref().to_path_buf();
        self
    }

    /// Runs on this database (`sqlite:`, `postgres://`, `mysql://`) instead of embedded SQLite.
    pub fn database(mut self, url: &str) -> Self {
        self.backends = Backends::Url(url.to_string());
        self
    }

    /// Where counterexamples are saved.
    pub fn regressions_path(&self) -> &Path {
        &self.regressions
    }

    /// Runs the check; panics with the counterexample and the command that reproduces it.
    pub fn check(&self) -> Passed {
        match self.run() {
            Ok(p) => p,
            Err(message) => panic!("{message}"),
        }
    }

    /// Runs the check; `Err` holds what [`Runner::check`] panics with.
    pub fn run(&self) -> Result<Passed, String> {
        let s = crate::scenario::file::load_with(&self.scenario, &self.registry).map_err(|e| e.to_string())?;
        let system = s.build_with(&self.registry).map_err(|e| e.to_string())?;
        let env = |k: &str| (self.env)(k).filter(|v| !v.is_empty());
        if let Some(which) = env("SETTLE_REPLAY") {
            return self.replay_one(&s, system.as_ref(), &which).map(|()| Passed { regressions: 0, summary: None });
        }
        if let Some(seed) = env("SETTLE_SEED") {
            let seed = seed.parse::<u64>().map_err(|e| format!("SETTLE_SEED={seed}: not a seed: {e}"))?;
            let oracle = Oracle::random(seed);
            return self
                .judge_one(&s, system.as_ref(), oracle, &format!("seed {seed}"), s.expect.get_ref())
                .map(|()| Passed { regressions: 0, summary: None });
        }
        let saved = self.load_regressions()?;
        for (i, r) in saved.iter().enumerate() {
            if r.system != self.system {
                continue;
            }
            let what = format!("saved counterexample {}#{} (seed {})", self.regressions.display(), i + 1, r.seed);
            let oracle = Oracle::replay(r.choices.clone());
            self.judge_one(&s, system.as_ref(), oracle, &what, s.expect.get_ref())?;
        }
        let count = match env("SETTLE_SEEDS") {
            Some(n) => n.parse::<u64>().map_err(|e| format!("SETTLE_SEEDS={n}: not a number: {e}"))?,
            None => self.seeds.unwrap_or(*s.seeds.get_ref()),
        };
        let path = self.scenario.display().to_string();
        // No `settle replay` line: the settle binary does not know this system; the failure
        // prints the commands that reproduce it here.
        let opts = RunOptions { shrink: Some(self.shrink), program: Some(""), ..RunOptions::default() };
        let selection = SeedSelection::Range { start: 0, count };
        let summary = run_scenario_opts(&s, system.as_ref(), &path, selection, &self.backends, &opts)
            .map_err(|e| crate::cli::error_chain(&e))?;
        if summary.verdict.ok() {
            return Ok(Passed { regressions: saved.len(), summary: Some(summary) });
        }
        Err(self.failure(&summary)?)
    }

    /// The message of a failed run set, after saving its counterexample.
    fn failure(&self, summary: &Summary) -> Result<String, String> {
        let mut text = crate::report::summary(summary);
        let (Some(seed), Some(v)) = (summary.first_seed, &summary.first_violation) else {
            return Ok(text);
        };
        // Only an unexpected failure is a regression worth saving; a flaw that was expected and
        // not found is a weak scenario, not a counterexample.
        let choices = summary.shrunk.as_ref().map_or_else(|| summary.first_choices.clone(), |k| k.choices.clone());
        let entry = Regression { system: self.system.clone(), seed, invariant: v.invariant.clone(), choices };
        let n = self.save(&entry)?;
        if let Some(k) = &summary.shrunk {
            let story = crate::report::story::story(&k.report.events, &k.report.violations);
            text.push('\n');
            text.push_str(&story.render(&k.report.events));
        }
        let test = test_filter();
        text.push_str(&format!(
            "\nreproduce: SETTLE_SEED={seed} cargo test{test}\n\
             replay the shrunk counterexample: SETTLE_REPLAY={}#{n} cargo test{test}\n\
             saved as {}#{n}; it is replayed first on every run from now on\n",
            self.regressions.display(),
            self.regressions.display(),
        ));
        Ok(text)
    }

    /// Replays `which`: `<regressions file>#<n>` or a replay file (`*.json`).
    fn replay_one(&self, s: &Scenario, system: &dyn System, which: &str) -> Result<(), String> {
        if let Some((file, n)) = which.rsplit_once('#') {
            let n: usize = n.parse().map_err(|e| format!("SETTLE_REPLAY={which}: `#{n}` is not a line number: {e}"))?;
            let saved = read_regressions(Path::new(file))?;
            let r = saved.get(n.wrapping_sub(1)).ok_or_else(|| {
                format!("SETTLE_REPLAY={which}: {file} holds {} counterexample(s), not #{n}", saved.len())
            })?;
            if r.system != system.name() {
                return Err(format!("SETTLE_REPLAY={which}: saved for system {:?}, not {:?}", r.system, system.name()));
            }
            let oracle = Oracle::replay(r.choices.clone());
            return self.judge_one(s, system, oracle, &format!("{which} (seed {})", r.seed), s.expect.get_ref());
        }
        let file = ReplayFile::load(Path::new(which)).map_err(|e| e.to_string())?;
        file.check_system(which, system.name()).map_err(|e| e.to_string())?;
        let fs = file.scenario(which, &self.registry).map_err(|e| e.to_string())?;
        let expect = Expect::violation(&file.invariant);
        // A replay file is judged by the failure it saved: the test passes when it is gone.
        match self.judge_one(&fs, system, Oracle::replay(file.choices.clone()), which, &expect) {
            Ok(()) => Err(format!("{which}: `{}` is still violated", file.invariant)),
            Err(_) => Ok(()),
        }
    }

    /// Runs one recorded run and judges it by `expect`; on failure the message holds its
    /// timeline.
    fn judge_one(
        &self,
        s: &Scenario,
        system: &dyn System,
        oracle: Oracle,
        what: &str,
        expect: &Expect,
    ) -> Result<(), String> {
        let backend: SharedBackend = self.backends.connect().map_err(|e| e.to_string())?;
        let r = crate::scenario::runner::run_system(system, s, oracle, true, backend)
            .map_err(|e| crate::cli::error_chain(&e))?;
        if Verdict::of_run(expect, &r.violations).ok() {
            return Ok(());
        }
        let header = format!("{} — {what} — system {}", s.name, system.name());
        Err(crate::report::timeline(&header, &r.events, &r.violations))
    }

    fn load_regressions(&self) -> Result<Vec<Regression>, String> {
        if !self.regressions.exists() {
            return Ok(Vec::new());
        }
        read_regressions(&self.regressions)
    }

    /// Appends `entry` (unless it is saved already); returns its 1-based position.
    fn save(&self, entry: &Regression) -> Result<usize, String> {
        let saved = self.load_regressions()?;
        if let Some(i) = saved.iter().position(|r| r == entry) {
            return Ok(i + 1);
        }
        if let Some(dir) = self.regressions.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        }
        let line = serde_json::to_string(entry).map_err(|e| e.to_string())? + "\n";
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.regressions)
            .map_err(|e| format!("{}: cannot open: {e}", self.regressions.display()))?;
        if saved.is_empty() {
            let head =
                "# settle regressions: counterexamples found by `settle::testing`, replayed first on every run.\n";
            f.write_all(head.as_bytes()).map_err(|e| format!("{}: cannot write: {e}", self.regressions.display()))?;
        }
        f.write_all(line.as_bytes()).map_err(|e| format!("{}: cannot write: {e}", self.regressions.display()))?;
        Ok(saved.len() + 1)
    }
}

/// Reads a regressions file: one JSON object per line, `#` comments and blank lines skipped.
pub fn read_regressions(path: &Path) -> Result<Vec<Regression>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r: Regression =
            serde_json::from_str(line).map_err(|e| format!("{}:{}:{}: {e}", path.display(), i + 1, e.column()))?;
        out.push(r);
    }
    Ok(out)
}

/// ` -- --exact <test>` for the running `#[test]` (its thread is named after it), or nothing.
fn test_filter() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => format!(" -- --exact {name}"),
        _ => String::new(),
    }
}
