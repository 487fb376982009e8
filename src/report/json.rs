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
        if p.system != first.system {
            return Err(Error::Usage(format!(
                "{path}: scenario {name} ran system {:?} but in {path0} system {:?}",
                p.system, first.system
            )));
        }
        let shard = p.seeds.shard.map_or((1, 1), |s| (s.index, s.total));
        if shard.1 != total {
            return Err(Error::Usage(format!(
                "{path}: scenario {name} is shard {}/{} but {path0} has N = {total}",
                shard.0, shard.1
            )));
        }
        if !(1..=total).contains(&shard.0) {
            return Err(Error::Usage(format!(
                "{path}: scenario {name} is shard {}/{total}; expected K/N with 1 ≤ K ≤ N",
                shard.0
            )));
        }
        check_part(path, name, p)?;
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
    for (path, p) in parts {
        let add = |field: &str, sum: &mut u64, v: u64| -> Result<(), Error> {
            *sum = sum.checked_add(v).ok_or_else(|| {
                Error::Usage(format!(
                    "{path}: scenario {name}: {field} {v} overflows the sum {sum} of the shards before it"
                ))
            })?;
            Ok(())
        };
        add("seeds.run", &mut m.seeds.run, p.seeds.run)?;
        m.seeds.budget_spent |= p.seeds.budget_spent;
        add("violating_seeds", &mut m.violating_seeds, p.violating_seeds)?;
        for (k, v) in &p.per_invariant {
            add(&format!("per_invariant.{k}"), m.per_invariant.entry(k.clone()).or_default(), *v)?;
        }
        for (k, v) in &p.coverage {
            add(&format!("coverage.{k}"), m.coverage.entry(k.clone()).or_default(), *v)?;
        }
        add("events", &mut m.events, p.events)?;
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

/// Refuses a shard's report of scenario `name`, read from `path`, whose numbers cannot be true:
/// more seeds run than its shard holds, more violating seeds than seeds run, an invariant or a
/// mark counted on more seeds than could have, or a first failure that is not on one of the seeds
/// the shard ran or whose invariant its per-invariant counts leave out. The shard itself must
/// already be one of `1/N … N/N`.
fn check_part(path: &str, name: &str, p: &ScenarioReport) -> Result<(), Error> {
    let refuse = |what: String| Err(Error::Usage(format!("{path}: scenario {name}: {what}")));
    let (s, run) = (&p.seeds, p.seeds.run);
    let shard = s.shard.unwrap_or(Shard { index: 1, total: 1 });
    let selection = match s.count {
        Some(count) => SeedSelection::Range { start: s.start, count },
        None => SeedSelection::Endless { start: s.start },
    };
    if let Some(n) = s.count {
        // The count `run_scenario_with` plans for a shard: seed i is in shard i % N + 1.
        let held = n / shard.total + u64::from(n % shard.total >= shard.index);
        if run > held {
            return refuse(format!("seeds.run is {run} but shard {shard} of {n} seeds holds {held}"));
        }
    }
    if p.violating_seeds > run {
        return refuse(format!("violating_seeds is {} but seeds.run is {run}", p.violating_seeds));
    }
    for (inv, &n) in &p.per_invariant {
        if n > p.violating_seeds {
            return refuse(format!("per_invariant.{inv} is {n} but violating_seeds is {}", p.violating_seeds));
        }
    }
    for (mark, &n) in &p.coverage {
        if n > run {
            return refuse(format!("coverage.{mark} is {n} but seeds.run is {run}"));
        }
    }
    if let Some(f) = &p.first {
        // The seed's place in the shard, if it is in the shard at all.
        let i = f.seed.wrapping_sub(s.start) / shard.total;
        if i >= run || shard.seed_at(selection, i) != Some(f.seed) {
            return refuse(format!("first.seed is {} but is not one of the {run} seeds shard {shard} ran", f.seed));
        }
        let inv = &f.violation.invariant;
        if !p.per_invariant.contains_key(inv) {
            return refuse(format!("first.violation.invariant is {inv:?} but per_invariant does not count it"));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Shard `k`/3 of seeds 0..40 of one scenario, having run `run` seeds; `first`: its first
    /// violating seed, the one seed it counts as violating.
    fn shard(k: u64, run: u64, first: Option<u64>) -> ScenarioReport {
        let mut s: ScenarioReport = serde_json::from_str(
            r#"{"name": "race", "path": "race.toml", "system": "midtrans-orders",
                "expect": {"outcome": "violation", "invariant": "paid"},
                "seeds": {"start": 0, "count": 40, "shard": {"index": 1, "total": 3}, "run": 0, "budget_spent": false},
                "violating_seeds": 0, "per_invariant": {}, "required": {"mark": "a mark"}, "coverage": {"mark": 1},
                "events": 100, "elapsed_s": 0.5, "verdict": "expected_not_found"}"#,
        )
        .unwrap();
        s.seeds.shard = Some(Shard { index: k, total: 3 });
        s.seeds.run = run;
        if let Some(seed) = first {
            s.violating_seeds = 1;
            s.per_invariant.insert("paid".into(), 1);
            s.verdict = Verdict::Met;
            s.first = Some(
                serde_json::from_value(serde_json::json!({
                    "seed": seed,
                    "violation": {"invariant": "paid", "kind": "eventually", "t_ms": 1, "details": [], "subjects": []},
                    "replay": format!("settle replay race.toml --seed {seed}"),
                }))
                .unwrap(),
            );
        }
        s
    }

    /// The three good shards of one run: shard 2 first fails on seed 34, shard 3 on seed 26.
    fn good() -> Vec<ScenarioReport> {
        vec![shard(1, 14, None), shard(2, 13, Some(34)), shard(3, 13, Some(26))]
    }

    /// Merges `parts`, shard k read from `sK.json`.
    fn merged(parts: Vec<ScenarioReport>) -> Result<RunReport, Error> {
        let reports: Vec<(String, RunReport)> = parts
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                (format!("s{}.json", i + 1), RunReport { format: FORMAT.into(), ok: true, scenarios: vec![s] })
            })
            .collect();
        merge(&reports)
    }

    /// The refusal of `parts`: a bad-input error (exit 2).
    fn refusal(parts: Vec<ScenarioReport>) -> String {
        let e = merged(parts).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        e.to_string()
    }

    #[test]
    fn good_shards_merge_into_the_whole_run() {
        let m = merged(good()).unwrap();
        let s = &m.scenarios[0];
        assert_eq!((s.seeds.run, s.violating_seeds, s.events, s.coverage["mark"]), (40, 2, 300, 3));
        assert_eq!(s.first.as_ref().map(|f| f.seed), Some(26));
        assert_eq!(s.verdict, Verdict::Met);
        assert!(m.ok);
    }

    #[test]
    fn refuses_more_seeds_run_than_the_shard_holds() {
        for run in [1000, u64::MAX] {
            let mut parts = good();
            parts[2].seeds.run = run;
            let e = refusal(parts);
            assert_eq!(e, format!("s3.json: scenario race: seeds.run is {run} but shard 3/3 of 40 seeds holds 13"));
        }
    }

    #[test]
    fn refuses_counts_above_what_they_count_among() {
        let mut parts = good();
        parts[2].violating_seeds = 14;
        assert_eq!(refusal(parts), "s3.json: scenario race: violating_seeds is 14 but seeds.run is 13");
        let mut parts = good();
        parts[1].per_invariant.insert("paid".into(), u64::MAX);
        assert!(refusal(parts).starts_with("s2.json: scenario race: per_invariant.paid is 18446744073709551615 but"));
        let mut parts = good();
        parts[0].coverage.insert("mark".into(), 15);
        assert_eq!(refusal(parts), "s1.json: scenario race: coverage.mark is 15 but seeds.run is 14");
    }

    #[test]
    fn refuses_a_first_failure_the_shard_did_not_run_or_count() {
        for seed in [0, 27, 41, 1_000_000] {
            let mut parts = good();
            parts[2].first.as_mut().unwrap().seed = seed;
            let e = refusal(parts);
            assert_eq!(
                e,
                format!("s3.json: scenario race: first.seed is {seed} but is not one of the 13 seeds shard 3/3 ran")
            );
        }
        let mut parts = good();
        parts[2].seeds.run = 8; // seed 26 is shard 3's ninth
        parts[2].seeds.budget_spent = true;
        assert!(refusal(parts).contains("first.seed is 26"));
        let mut parts = good();
        parts[2].per_invariant = BTreeMap::from([("nope".into(), 1)]);
        assert!(refusal(parts).contains("first.violation.invariant is \"paid\" but per_invariant does not count it"));
    }

    #[test]
    fn refuses_shards_of_other_systems_or_outside_1_to_n() {
        let mut parts = good();
        parts[2].system = "fanvue-revenue".into();
        assert!(refusal(parts).starts_with("s3.json: scenario race ran system \"fanvue-revenue\""));
        let mut parts = good();
        parts.push(shard(0, 0, None));
        assert!(refusal(parts).starts_with("s4.json: scenario race is shard 0/3;"));
    }

    #[test]
    fn refuses_sums_that_overflow() {
        let mut parts = good();
        parts[2].events = u64::MAX;
        assert_eq!(
            refusal(parts),
            format!("s3.json: scenario race: events {} overflows the sum 200 of the shards before it", u64::MAX)
        );
        // Endless selections bound no shard's seeds.
        let mut parts = good();
        for p in &mut parts {
            p.seeds.count = None;
        }
        parts[1].seeds.run = u64::MAX - 20;
        let e = refusal(parts);
        assert_eq!(
            e,
            format!("s3.json: scenario race: seeds.run 13 overflows the sum {} of the shards before it", u64::MAX - 6)
        );
    }
}
