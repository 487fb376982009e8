//! The scenario file format and its validation.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use crate::error::Error;
use crate::sim::{CrashConfig, DEFAULT_EPOCH_MS, Millis, NetConfig, Range, SimConfig};
use crate::store::DbConfig;
use crate::systems::fanvue_revenue::{self, FanvueRevenue};
use crate::systems::midtrans_orders::{self, Flaw, Flaws, MidtransOrders};
use crate::systems::{FlawKind, RunSpec, System, SystemInfo, catalog};

/// A scenario, as written in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midtrans: Option<Spanned<midtrans_orders::Config>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanvue: Option<Spanned<fanvue_revenue::Config>>,
}

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
    /// The system this scenario runs, with its flaws.
    pub fn build_system(&self) -> Box<dyn System> {
        match self.system.get_ref().as_str() {
            fanvue_revenue::NAME => Box::new(self.fanvue_revenue()),
            _ => Box::new(self.midtrans_orders()),
        }
    }

    /// The scenario's Fanvue revenue system (seed 002), with its flaws.
    pub fn fanvue_revenue(&self) -> FanvueRevenue {
        let flaws = self.flaws.iter().filter_map(|f| fanvue_revenue::Flaw::parse(f.get_ref())).collect();
        let cfg = self.fanvue.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
        FanvueRevenue::new(cfg, flaws)
    }

    /// The scenario's Midtrans system, to customise (your own app or invariants) before running
    /// it with [`super::run_scenario_with`].
    pub fn midtrans_orders(&self) -> MidtransOrders {
        let flaws: Flaws = self.flaws.iter().filter_map(|f| Flaw::parse(f.get_ref())).collect();
        let cfg = self.midtrans.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
        MidtransOrders::new(cfg, flaws)
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
            },
            db: self.database.clone(),
            swarm: self.swarm,
        }
    }

    pub fn flaw_names(&self) -> Vec<&str> {
        self.flaws.iter().map(|f| f.get_ref().as_str()).collect()
    }

    /// Prints the scenario back as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# could not print scenario: {e}\n"))
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

fn at(path: &str, text: &str, span: std::ops::Range<usize>, message: String) -> Error {
    let (line, col) = line_col(text, span.start);
    Error::Scenario { location: format!("{path}:{line}:{col}"), message }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Scenario {
        location: shown.clone(),
        message: format!("cannot read the scenario file: {e}"),
    })?;
    parse(&text, &shown)
}

/// Parses and validates scenario text; `path` is used in error locations.
pub fn parse(text: &str, path: &str) -> Result<Scenario, Error> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at(path, text, span, e.message().trim_end().to_string())
    })?;
    validate(&scenario, text, path)?;
    Ok(scenario)
}

fn validate(s: &Scenario, text: &str, path: &str) -> Result<(), Error> {
    let systems = catalog();
    let Some(info) = systems.iter().find(|i| i.name == s.system.get_ref()) else {
        let known: Vec<&str> = systems.iter().map(|i| i.name).collect();
        return Err(at(
            path,
            text,
            s.system.span(),
            format!("unknown system {:?}, expected one of: {}", s.system.get_ref(), known.join(", ")),
        ));
    };
    for f in &s.flaws {
        if !info.flaws.iter().any(|(n, _)| n == f.get_ref()) {
            let known: Vec<&str> = info.flaws.iter().map(|(n, _)| *n).collect();
            return Err(at(
                path,
                text,
                f.span(),
                format!("unknown flaw {:?} for {}, expected one of: {}", f.get_ref(), info.name, known.join(", ")),
            ));
        }
    }
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
    for (a, b) in &s.network.partitions.between {
        for name in [a, b] {
            if !info.actors.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = info.actors.iter().map(|(n, _)| *n).collect();
                return Err(at(
                    path,
                    text,
                    0..0,
                    format!(
                        "network.partitions.between: unknown actor {name:?}, expected one of: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    let crashes = s.crashes.get_ref();
    for name in &crashes.actors {
        if !info.actors.iter().any(|(n, crashable)| n == name && *crashable) {
            let known: Vec<&str> = info.actors.iter().filter(|(_, c)| *c).map(|(n, _)| *n).collect();
            return Err(at(
                path,
                text,
                s.crashes.span(),
                format!("crashes.actors: {name:?} cannot crash; crashable actors: {}", known.join(", ")),
            ));
        }
    }
    if crashes.count_max > 0 && (crashes.actors.is_empty() || crashes.down.is_none()) {
        return Err(at(path, text, s.crashes.span(), "crashes: count_max > 0 needs `actors` and `down`".into()));
    }
    if let Some(cfg) = &s.midtrans {
        if s.system.get_ref() != midtrans_orders::NAME {
            return Err(at(
                path,
                text,
                cfg.span(),
                format!("[midtrans] configures {}, but the system is {}", midtrans_orders::NAME, s.system.get_ref()),
            ));
        }
        cfg.get_ref().validate().map_err(|m| at(path, text, cfg.span(), m))?;
    }
    if let Some(cfg) = &s.fanvue {
        if s.system.get_ref() != fanvue_revenue::NAME {
            return Err(at(
                path,
                text,
                cfg.span(),
                format!("[fanvue] configures {}, but the system is {}", fanvue_revenue::NAME, s.system.get_ref()),
            ));
        }
        cfg.get_ref().validate().map_err(|m| at(path, text, cfg.span(), m))?;
    }
    Ok(())
}

fn validate_expect(s: &Scenario, info: &SystemInfo, text: &str, path: &str) -> Result<(), Error> {
    let e = s.expect.get_ref();
    match (e.outcome, &e.invariant) {
        (Outcome::Pass, None) => Ok(()),
        (Outcome::Pass, Some(_)) => {
            Err(at(path, text, s.expect.span(), "expect: outcome \"pass\" takes no invariant".into()))
        }
        (Outcome::Violation, None) => {
            Err(at(path, text, s.expect.span(), "expect: outcome \"violation\" needs `invariant = \"<name>\"`".into()))
        }
        (Outcome::Violation, Some(name)) if info.invariants.iter().any(|(n, _, _)| n == name) => Ok(()),
        (Outcome::Violation, Some(name)) => {
            let known: Vec<&str> = info.invariants.iter().map(|(n, _, _)| *n).collect();
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
