//! The scenario file format and its validation.
//!
//! A scenario names a system (any the [`Registry`] knows), its flaws, seeds, expectation, phases,
//! network, database and crash faults, and the system's own table (`[midtrans]`, `[fanvue]`, or a
//! user's system's), which the system's entry reads itself — with the file's spans, so an error
//! inside it still names its line and column. Validation builds the system and checks the
//! expectation's invariant and every actor named against what that system really has: a user's
//! own invariant may be expected, a user's own job may crash.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use crate::error::Error;
use crate::sim::{CrashConfig, DEFAULT_EPOCH_MS, Millis, NetConfig, Range, SimConfig};
use crate::store::DbConfig;
use crate::systems::registry::TableError;
use crate::systems::{Family, Harness, Registry, RunSpec, System, SystemInfo, Variant};

/// A scenario, as written in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub system: Spanned<String>,
    #[serde(default)]
    pub flaws: Vec<Spanned<String>>,
    /// Seeds `run` tries when not told otherwise.
    #[serde(default = "default_seeds")]
    pub seeds: Spanned<u64>,
    /// Draw each seed's fault rates from the seed (some seeds without a fault at all).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swarm: bool,
    pub expect: Spanned<Expect>,
    #[serde(default)]
    pub time: Time,
    #[serde(default)]
    pub network: NetConfig,
    #[serde(default)]
    pub database: DbConfig,
    #[serde(default = "no_crashes")]
    pub crashes: Spanned<Crashes>,
    /// The system's own table (`[midtrans]` …), as its entry read it; `None`: its defaults.
    #[serde(skip)]
    pub config: Option<toml::Value>,
}

/// The keys a scenario has besides its system's table.
const KEYS: [&str; 11] =
    ["name", "description", "system", "flaws", "seeds", "swarm", "expect", "time", "network", "database", "crashes"];

fn no_crashes() -> Spanned<Crashes> {
    Spanned::new(0..0, Crashes::default())
}

fn default_seeds() -> Spanned<u64> {
    Spanned::new(0..0, 200)
}

/// What a scenario expects of its run set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// With `outcome = "violation"`: the invariant that must be violated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<String>,
    /// With `outcome = "pass"`: marks (`sim.mark` names, the system's or a user's own logic's)
    /// the run set must also reach, beside the ones the system and its faults require; a set
    /// that misses one is vacuous.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sometimes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No invariant may be violated, and every enabled fault must fire somewhere.
    Pass,
    /// The named invariant must be violated by some seed.
    Violation,
}

/// Phase lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Time {
    /// Load arrives and faults fire.
    pub safety: Millis,
    /// Faults healed, no new load: the time the system has to converge.
    pub liveness: Millis,
}

impl Default for Time {
    fn default() -> Self {
        Time { safety: Millis::h(1), liveness: Millis::min(45) }
    }
}

/// Crash faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Crashes {
    pub actors: Vec<String>,
    pub count_max: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<Range>,
}

impl Scenario {
    /// The system this scenario runs, with its flaws, from settle's own systems.
    pub fn build_system(&self) -> Result<Box<dyn System>, Error> {
        self.build_with(&Registry::builtin())
    }

    /// The system this scenario runs, from `registry` (a program's own systems).
    pub fn build_with(&self, registry: &Registry) -> Result<Box<dyn System>, Error> {
        let name = self.system.get_ref();
        let entry = registry.get(name).ok_or_else(|| unknown_system(name, registry))?;
        entry
            .build(self.config.as_ref(), &self.flaw_names_owned())
            .map_err(|e| Error::Scenario { location: format!("scenario {:?}", self.name), message: e.message })
    }

    /// The scenario's system as `variant` (your own variation of a family, say), to run with
    /// [`super::run_scenario_with`]. The scenario must name the variant or its family.
    pub fn harness<F: Family>(&self, variant: &Variant<F>) -> Result<Harness<F>, Error> {
        let name = self.system.get_ref();
        if name != variant.name() && name != F::NAME {
            return Err(Error::Scenario {
                location: format!("scenario {:?}", self.name),
                message: format!("the scenario runs {name:?}, not {:?} (nor its family {})", variant.name(), F::NAME),
            });
        }
        variant
            .from_table(self.config.as_ref(), &self.flaw_names_owned())
            .map_err(|e| Error::Scenario { location: format!("scenario {:?}", self.name), message: e.message })
    }

    /// Sets the system's table from a typed configuration (for scenarios built in code).
    pub fn set_config<T: Serialize>(&mut self, cfg: Option<&T>) {
        self.config = cfg.and_then(|c| toml::Value::try_from(c).ok());
    }

    /// The system's table as a typed configuration, or its defaults.
    pub fn config_as<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, Error> {
        match &self.config {
            None => Ok(T::default()),
            Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| Error::Scenario {
                location: format!("scenario {:?}", self.name),
                message: e.message().to_string(),
            }),
        }
    }

    /// The simulation and database settings of one run.
    pub fn run_spec(&self, record: bool) -> RunSpec {
        let c = self.crashes.get_ref();
        RunSpec {
            sim: SimConfig {
                record,
                safety: self.time.safety,
                liveness: self.time.liveness,
                epoch_ms: DEFAULT_EPOCH_MS,
                net: self.network.clone(),
                crashes: CrashConfig { actors: c.actors.clone(), count_max: c.count_max, down: c.down },
                notes: Vec::new(),
                tap: None,
            },
            db: self.database.clone(),
            swarm: self.swarm,
            export: false,
        }
    }

    pub fn flaw_names(&self) -> Vec<&str> {
        self.flaws.iter().map(|f| f.get_ref().as_str()).collect()
    }

    fn flaw_names_owned(&self) -> Vec<String> {
        self.flaws.iter().map(|f| f.get_ref().clone()).collect()
    }

    /// Prints the scenario back as TOML, its system's table included, under `table`.
    pub fn to_toml_with(&self, table: &str) -> String {
        let mut doc = match toml::Table::try_from(self) {
            Ok(t) => t,
            Err(e) => return format!("# could not print scenario: {e}\n"),
        };
        if let Some(v) = &self.config {
            doc.insert(table.to_string(), v.clone());
        }
        toml::to_string(&doc).unwrap_or_else(|e| format!("# could not print scenario: {e}\n"))
    }

    /// Prints the scenario back as TOML (its system's table named as settle's registry names it).
    pub fn to_toml(&self) -> String {
        let table = Registry::builtin().get(self.system.get_ref()).map_or("config", |e| e.table());
        self.to_toml_with(table)
    }
}

fn unknown_system(name: &str, registry: &Registry) -> Error {
    Error::Scenario {
        location: "scenario".into(),
        message: format!("unknown system {name:?}, expected one of: {}", registry.names().join(", ")),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The error at `span`; an empty span at the start (a check that saw values, not text) points at
/// the key the message starts with, where the text has it ([`super::locate`]).
pub(crate) fn at(path: &str, text: &str, span: std::ops::Range<usize>, message: String) -> Error {
    let span = if span == (0..0) { super::locate::key_of_message(text, &message).unwrap_or(span) } else { span };
    let (line, col) = line_col(text, span.start);
    Error::Scenario { location: format!("{path}:{line}:{col}"), message }
}

/// Reads and validates a scenario file against settle's own systems.
pub fn load(path: &Path) -> Result<Scenario, Error> {
    load_with(path, &Registry::builtin())
}

/// Reads and validates a scenario file against `registry`.
pub fn load_with(path: &Path, registry: &Registry) -> Result<Scenario, Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Scenario {
        location: shown.clone(),
        message: format!("cannot read the scenario file: {e}"),
    })?;
    parse_with(&text, &shown, registry)
}

/// Parses and validates scenario text against settle's own systems; `path` is used in error
/// locations.
pub fn parse(text: &str, path: &str) -> Result<Scenario, Error> {
    parse_with(text, path, &Registry::builtin())
}

/// Parses and validates scenario text against `registry`.
pub fn parse_with(text: &str, path: &str, registry: &Registry) -> Result<Scenario, Error> {
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at(path, text, span, e.message().trim_end().to_string())
    })?;
    let name = scenario.system.get_ref().clone();
    let Some(entry) = registry.get(&name) else {
        return Err(at(
            path,
            text,
            scenario.system.span(),
            format!("unknown system {name:?}, expected one of: {}", registry.names().join(", ")),
        ));
    };
    check_keys(text, path, entry.table(), &name, registry)?;
    // A validation message is about one key, but carries the span of its whole table or none.
    // `at` looks the key up for no span; for the table's header, look it up here.
    let located = |e: TableError| {
        let span = match e.span {
            Some(s) if text.get(s.start..).is_some_and(|t| t.starts_with('[')) => {
                super::locate::key_of_message(text, &e.message).unwrap_or(s)
            }
            other => other.unwrap_or(0..0),
        };
        at(path, text, span, e.message)
    };
    scenario.config = entry.parse_table(text).map_err(located)?;
    for f in &scenario.flaws {
        if !entry.flaw_names().contains(&f.get_ref().as_str()) {
            return Err(at(
                path,
                text,
                f.span(),
                format!(
                    "unknown flaw {:?} for {name}, expected one of: {}",
                    f.get_ref(),
                    entry.flaw_names().join(", ")
                ),
            ));
        }
    }
    let system = entry.build(scenario.config.as_ref(), &scenario.flaw_names_owned()).map_err(located)?;
    validate(&scenario, &system.info(), text, path)?;
    Ok(scenario)
}

/// Every top-level key is a scenario key or the system's own table; another system's table is
/// named as such.
fn check_keys(text: &str, path: &str, table: &str, system: &str, registry: &Registry) -> Result<(), Error> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| at(path, text, e.span().unwrap_or(0..0), e.to_string()))?;
    for (key, _) in doc.get_ref().iter() {
        let k = key.get_ref().as_ref();
        if k == table || KEYS.contains(&k) {
            continue;
        }
        let message = match registry.tables().into_iter().find(|(t, _)| *t == k) {
            Some((t, family)) => format!("[{t}] configures {family}, but the system is {system}"),
            None => {
                let known: Vec<&str> = KEYS.iter().copied().chain([table]).collect();
                format!("unknown key `{k}`, expected one of: {}", known.join(", "))
            }
        };
        return Err(at(path, text, key.span(), message));
    }
    Ok(())
}

fn validate(s: &Scenario, info: &SystemInfo, text: &str, path: &str) -> Result<(), Error> {
    if *s.seeds.get_ref() == 0 {
        return Err(at(path, text, s.seeds.span(), "seeds must be at least 1".into()));
    }
    validate_expect(s, info, text, path)?;
    if s.time.safety.0 == 0 {
        return Err(at(path, text, 0..0, "time.safety must be longer than 0ms".into()));
    }
    if s.time.safety.0.saturating_add(s.time.liveness.0) > Millis::h(24 * 30).0 {
        return Err(at(path, text, 0..0, "time.safety + time.liveness must be at most 30 days".into()));
    }
    let names: Vec<&str> = info.actors.iter().map(|a| a.name.as_str()).collect();
    for (a, b) in &s.network.partitions.between {
        for name in [a, b] {
            if !names.contains(&name.as_str()) {
                return Err(at(
                    path,
                    text,
                    0..0,
                    format!(
                        "network.partitions.between: unknown actor {name:?} of {}, expected one of: {}",
                        info.name,
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    let crashes = s.crashes.get_ref();
    for name in &crashes.actors {
        if !info.actors.iter().any(|a| a.name == *name && a.crashable) {
            let known: Vec<&str> = info.actors.iter().filter(|a| a.crashable).map(|a| a.name.as_str()).collect();
            return Err(at(
                path,
                text,
                s.crashes.span(),
                format!("crashes.actors: {name:?} cannot crash; crashable actors: {}", known.join(", ")),
            ));
        }
    }
    let counts = [
        ("crashes.count_max", crashes.count_max),
        ("network.partitions.count_max", s.network.partitions.count_max),
        ("database.outages_max", s.database.outages_max),
    ];
    for (field, n) in counts {
        crate::sim::count_at_most(field, n).map_err(|m| at(path, text, 0..0, m))?;
    }
    if crashes.count_max > 0 && (crashes.actors.is_empty() || crashes.down.is_none()) {
        return Err(at(path, text, s.crashes.span(), "crashes: count_max > 0 needs `actors` and `down`".into()));
    }
    Ok(())
}

fn validate_expect(s: &Scenario, info: &SystemInfo, text: &str, path: &str) -> Result<(), Error> {
    let e = s.expect.get_ref();
    if !e.sometimes.is_empty() && e.outcome != Outcome::Pass {
        return Err(at(path, text, s.expect.span(), "expect: `sometimes` is for outcome \"pass\" only".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &e.sometimes {
        if m.trim().is_empty() || !seen.insert(m) {
            return Err(at(path, text, s.expect.span(), format!("expect.sometimes: {m:?} is empty or repeated")));
        }
    }
    match (e.outcome, &e.invariant) {
        (Outcome::Pass, None) => Ok(()),
        (Outcome::Pass, Some(_)) => {
            Err(at(path, text, s.expect.span(), "expect: outcome \"pass\" takes no invariant".into()))
        }
        (Outcome::Violation, None) => {
            Err(at(path, text, s.expect.span(), "expect: outcome \"violation\" needs `invariant = \"<name>\"`".into()))
        }
        (Outcome::Violation, Some(name)) if info.invariants.iter().any(|i| i.name == *name) => Ok(()),
        (Outcome::Violation, Some(name)) => {
            let known: Vec<&str> = info.invariants.iter().map(|i| i.name.as_str()).collect();
            Err(at(
                path,
                text,
                s.expect.span(),
                format!("expect: unknown invariant {name:?} for {}, expected one of: {}", info.name, known.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "name = \"x\"\nsystem = \"midtrans-orders\"\n[expect]\noutcome = \"pass\"\n";

    fn err(text: &str) -> String {
        parse(text, "s.toml").unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_parses() {
        let s = parse(MIN, "s.toml").unwrap();
        assert_eq!(*s.seeds.get_ref(), 200);
        assert_eq!(s.time, Time::default());
    }

    #[test]
    fn expect_sometimes_is_for_passing_runs_and_names_each_mark_once() {
        let s = parse(&format!("{MIN}sometimes = [\"reconciliation-repaired\"]\n"), "s.toml").unwrap();
        assert_eq!(s.expect.get_ref().sometimes, ["reconciliation-repaired"]);
        let e = err(&format!("{MIN}sometimes = [\"a\", \"a\"]\n"));
        assert!(e.starts_with("s.toml:") && e.contains("\"a\" is empty or repeated"), "{e}");
        let e = err(&format!("{MIN}sometimes = [\" \"]\n"));
        assert!(e.contains("empty or repeated"), "{e}");
        let violation = MIN.replace(
            "outcome = \"pass\"\n",
            "outcome = \"violation\"\ninvariant = \"provider-paid-implies-paid\"\nsometimes = [\"a\"]\n",
        );
        assert!(err(&violation).contains("`sometimes` is for outcome \"pass\" only"), "{}", err(&violation));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = err(&format!("{MIN}bogus = 1\n"));
        assert!(e.starts_with("s.toml:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn unknown_flaw_points_at_it() {
        let e = err(&MIN.replace(
            "system = \"midtrans-orders\"\n",
            "system = \"midtrans-orders\"\nflaws = [\"ack-missing\", \"nope\"]\n",
        ));
        assert!(e.starts_with("s.toml:3:"), "{e}");
        assert!(e.contains("unknown flaw \"nope\""), "{e}");
        assert!(e.contains("ack-missing"), "{e}");
    }

    #[test]
    fn unknown_system_is_named() {
        let e = err(&MIN.replace("midtrans-orders", "stripe"));
        assert!(e.starts_with("s.toml:2:10"), "{e}");
        assert!(e.contains("unknown system"), "{e}");
    }

    #[test]
    fn bad_duration_is_located() {
        let e = err(&format!("{MIN}[time]\nsafety = \"5 minutes\"\n"));
        assert!(e.starts_with("s.toml:6:"), "{e}");
        assert!(e.contains("duration"), "{e}");
    }

    #[test]
    fn inverted_range_is_rejected() {
        let e = err(&format!("{MIN}[network]\nlatency = {{ min = \"2s\", max = \"1s\" }}\n"));
        assert!(e.contains("greater than max"), "{e}");
        assert!(e.starts_with("s.toml:6:"), "{e}");
    }

    #[test]
    fn rate_out_of_range_is_rejected() {
        let e = err(&format!("{MIN}[network]\ndrop_request = 1.5\n"));
        assert!(e.contains("between 0.0 and 1.0"), "{e}");
    }

    #[test]
    fn violation_needs_a_known_invariant() {
        let e = err(&MIN.replace("outcome = \"pass\"", "outcome = \"violation\""));
        assert!(e.contains("needs `invariant"), "{e}");
        let e = err(&MIN.replace("outcome = \"pass\"", "outcome = \"violation\"\ninvariant = \"nope\""));
        assert!(e.contains("unknown invariant"), "{e}");
    }

    #[test]
    fn syntax_error_is_located() {
        let e = err("name = \"x\"\nsystem = \n");
        assert!(e.starts_with("s.toml:2:"), "{e}");
    }

    #[test]
    fn crash_of_unknown_actor_is_rejected() {
        let e = err(&format!(
            "{MIN}[crashes]\nactors = [\"provider\"]\ncount_max = 1\ndown = {{ min = \"1s\", max = \"2s\" }}\n"
        ));
        assert!(e.contains("cannot crash"), "{e}");
    }

    #[test]
    fn unknown_payment_method_is_rejected() {
        let e = err(&format!("{MIN}[midtrans]\nmethods = [\"cash\"]\n"));
        assert!(e.contains("unknown payment method \"cash\""), "{e}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
