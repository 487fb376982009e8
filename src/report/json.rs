//! The JSON run report, and merging the reports of CI shards into one verdict.
//!
//! One document per `settle run --format json`: every scenario's aggregates (seeds run, violating
//! seeds, counts per invariant, `sometimes` coverage as seeds-reaching counts, events), the first
//! failure with its replay command, the shrunk counterexample's choices, and the verdict. The
//! aggregates are sums and minima, so shards merge exactly: the merge of all shards of a run is
//! the report of the whole run, except for wall-clock time.
//!
//! What it does not do: carry traces (replay files and `--report-dir` do).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::{Coverage, Sometimes, Violation};
use crate::error::Error;
use crate::scenario::{Expect, SeedSelection, Shard, Summary, Verdict};

/// The format tag of a run report.
pub const FORMAT: &str = "settle-run/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    pub format: String,
    pub ok: bool,
    pub scenarios: Vec<ScenarioReport>,
}

/// The seeds a report covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seeds {
    pub start: u64,
    /// `None`: until a time budget was spent.
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub run: u64,
    pub budget_spent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstFailure {
    pub seed: u64,
    pub violation: Violation,
    pub replay: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShrunkReport {
    pub invariant: String,
    pub choices: Vec<u64>,
    pub events: u64,
    pub original_events: u64,
    pub runs: u64,
}

// No `deny_unknown_fields` here: serde cannot combine it with the flattened verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub path: String,
    pub system: String,
    pub expect: Expect,
    pub seeds: Seeds,
    pub violating_seeds: u64,
    pub per_invariant: BTreeMap<String, u64>,
    /// Required `sometimes` mark → its doc.
    pub required: BTreeMap<String, String>,
    /// Mark → seeds that reached it.
    pub coverage: BTreeMap<String, u64>,
    pub events: u64,
    pub elapsed_s: f64,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkReport>,
}

fn selection_parts(s: SeedSelection) -> (u64, Option<u64>) {
    match s {
        SeedSelection::Range { start, count } => (start, Some(count)),
        SeedSelection::One(seed) => (seed, Some(1)),
        SeedSelection::Endless { start } => (start, None),
    }
}

impl ScenarioReport {
    pub fn from_summary(s: &Summary) -> Self {
        let (start, count) = selection_parts(s.selection);
        ScenarioReport {
            name: s.name.clone(),
            path: s.path.clone(),
            system: s.system.clone(),
            expect: s.expect.clone(),
            seeds: Seeds { start, count, shard: s.shard, run: s.seeds_run, budget_spent: s.budget_spent },
            violating_seeds: s.violating_seeds,
            per_invariant: s.per_invariant.clone(),
            required: s.coverage.required.iter().map(|m| (m.mark.clone(), m.doc.clone())).collect(),
            coverage: s.coverage.seeds_reaching.clone(),
            events: s.events,
            elapsed_s: s.elapsed_s,
            verdict: s.verdict.clone(),
            first: match (s.first_seed, &s.first_violation, s.replay_command()) {
                (Some(seed), Some(v), Some(replay)) => Some(FirstFailure { seed, violation: v.clone(), replay }),
                _ => None,
            },
            shrunk: s.shrunk.as_ref().map(|k| ShrunkReport {
                invariant: k.invariant.clone(),
                choices: k.choices.clone(),
                events: k.report.event_count,
                original_events: k.original_events,
                runs: k.runs,
            }),
        }
    }

    fn coverage_struct(&self) -> Coverage {
        Coverage {
            seeds_reaching: self.coverage.clone(),
            required: self.required.iter().map(|(m, d)| Sometimes { mark: m.clone(), doc: d.clone() }).collect(),
        }
    }
}

/// The JSON report of a run.
pub fn render(summaries: &[Summary]) -> String {
    let report = RunReport {
        format: FORMAT.into(),
        ok: summaries.iter().all(|s| s.verdict.ok()),
        scenarios: summaries.iter().map(ScenarioReport::from_summary).collect(),
    };
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

/// Parses a run report; errors name `path`, line and column.
pub fn parse(text: &str, path: &str) -> Result<RunReport, Error> {
    let r: RunReport = serde_json::from_str(text)
        .map_err(|e| Error::Usage(format!("{path}:{}:{}: not a settle run report: {e}", e.line(), e.column())))?;
    if r.format != FORMAT {
        return Err(Error::Usage(format!("{path}: unknown report format {:?}; expected {FORMAT:?}", r.format)));
    }
    Ok(r)
}

/// Merges shard reports into one. Every scenario must appear in every report with the same
/// selection and expectation, and the shards of one scenario must be exactly `1/N … N/N`.
pub fn merge(reports: &[(String, RunReport)]) -> Result<RunReport, Error> {
    let mut groups: BTreeMap<(String, String), Vec<(&str, &ScenarioReport)>> = BTreeMap::new();
    let mut order = Vec::new();
    for (path, r) in reports {
        for s in &r.scenarios {
            let key = (s.path.clone(), s.name.clone());
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push((path, s));
        }
    }
    let mut out = Vec::new();
    for key in order {
        let parts = &groups[&key];
        out.push(merge_one(&key.1, parts)?);
    }
    Ok(RunReport { format: FORMAT.into(), ok: out.iter().all(|s| s.verdict.ok()), scenarios: out })
}

fn merge_one(name: &str, parts: &[(&str, &ScenarioReport)]) -> Result<ScenarioReport, Error> {
    let (path0, first) = parts[0];
    let total = first.seeds.shard.map_or(1, |s| s.total);
    let mut seen = BTreeMap::new();
    for (path, p) in parts {
        if p.expect != first.expect || p.seeds.start != first.seeds.start || p.seeds.count != first.seeds.count {
            return Err(Error::Usage(format!(
                "{path}: scenario {name} was run with other seeds or expectations than in {path0}"
            )));
        }
        let shard = p.seeds.shard.map_or((1, 1), |s| (s.index, s.total));
        if shard.1 != total {
            return Err(Error::Usage(format!(
                "{path}: scenario {name} is shard {}/{} but {path0} has N = {total}",
                shard.0, shard.1
            )));
        }
        if let Some(other) = seen.insert(shard.0, *path) {
            return Err(Error::Usage(format!(
                "scenario {name}: shard {}/{total} appears twice ({other} and {path})",
                shard.0
            )));
        }
    }
    let missing: Vec<String> = (1..=total).filter(|k| !seen.contains_key(k)).map(|k| format!("{k}/{total}")).collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!("scenario {name}: missing shard(s) {}", missing.join(", "))));
    }
    let mut m = first.clone();
    m.seeds.shard = None;
    m.seeds.run = 0;
    m.seeds.budget_spent = false;
    m.violating_seeds = 0;
    m.per_invariant.clear();
    m.coverage = first.required.keys().map(|k| (k.clone(), 0)).collect();
    m.events = 0;
    m.elapsed_s = 0.0;
    m.first = None;
    m.shrunk = None;
    for (_, p) in parts {
        m.seeds.run += p.seeds.run;
        m.seeds.budget_spent |= p.seeds.budget_spent;
        m.violating_seeds += p.violating_seeds;
        for (k, v) in &p.per_invariant {
            *m.per_invariant.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &p.coverage {
            *m.coverage.entry(k.clone()).or_default() += v;
        }
        m.events += p.events;
        m.elapsed_s += p.elapsed_s;
        if let Some(f) = &p.first
            && m.first.as_ref().is_none_or(|cur| f.seed < cur.seed)
        {
            m.first = Some(f.clone());
            m.shrunk = p.shrunk.clone();
        }
    }
    let coverage = m.coverage_struct();
    m.verdict = Verdict::judge(&m.expect, m.violating_seeds, m.first.is_some(), (m.seeds.run > 1).then_some(&coverage));
    Ok(m)
}

/// The merged report as text for people.
pub fn human(r: &RunReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for s in &r.scenarios {
        let verdict = verdict_text(&s.verdict);
        let _ = writeln!(out, "{}  ({})  {verdict}", s.name, s.path);
        let _ = writeln!(out, "  seeds {}  violating {}  ({} events)", s.seeds.run, s.violating_seeds, s.events);
        for (inv, n) in &s.per_invariant {
            let _ = writeln!(out, "  violated {inv}: {n} seed(s)");
        }
        if let Some(f) = &s.first {
            let _ = writeln!(out, "  first seed {}: `{}`", f.seed, f.violation.invariant);
            let _ = writeln!(out, "  replay: {}", f.replay);
        }
        if let Verdict::Vacuous(marks) = &s.verdict {
            let _ = writeln!(out, "  never exercised: {}", marks.join(", "));
        }
    }
    let failed = r.scenarios.iter().filter(|s| !s.verdict.ok()).count();
    let _ =
        writeln!(out, "{} scenario(s), {} as expected, {failed} not", r.scenarios.len(), r.scenarios.len() - failed);
    out
}

/// A verdict in one line.
pub fn verdict_text(v: &Verdict) -> &'static str {
    match v {
        Verdict::Met => "ok",
        Verdict::UnexpectedViolation => "FAILED: unexpected violation",
        Verdict::ExpectedNotFound => "FAILED: expected violation not found",
        Verdict::Vacuous(_) => "FAILED: vacuous (faults never exercised)",
    }
}
