//! What `settle drive` prints: the human summary (each run's verdict and stories, then "failed k
//! of n runs" per seed and overall), JSON, and JUnit XML, so a CI job of any stack can gate on it.
//! All three are pure functions of the outcomes.
//!
//! JSON (`--format json`): `{"scenario", "provider", "verdict": "pass"|"fail", "runs", "failed",
//! "seeds": [{"seed", "runs", "failed"}], "outcomes": [{"seed", "run", "verdict", "rerun",
//! "violations": [{"invariant", "kind", "t_ms", "details", "subjects"}]}]}`.
//!
//! JUnit (`--format junit`): one suite, `settle drive`, one test case per run (name `seed S run
//! R`, classname the scenario's path); a failing run's `<failure>` names the invariants broken,
//! and its text holds the command that runs that seed again, the details and the stories.
//!
//! What it does not do: timings (a drive's wall time is the machine's, not part of the verdict),
//! the shrink's own lines (see [`super::shrink::report`]), or the simulator's story and diagrams (`--report-dir` writes those:
//! [`super::report_dir`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Outcome;
use crate::check::Violation;
use crate::hosted::story;
use crate::report::junit::{Case, Failure, render_cases};

/// Subjects of one violation whose stories are printed, and details shown; the rest are counted.
const STORIES_MAX: usize = 3;
const DETAILS_MAX: usize = 8;

/// How many runs of each seed failed, in seed order: (seed, runs, failed).
pub fn per_seed(outcomes: &[Outcome]) -> Vec<(u64, u32, u32)> {
    let mut by: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    for o in outcomes {
        let e = by.entry(o.seed).or_default();
        e.0 += 1;
        e.1 += u32::from(!o.violations.is_empty());
    }
    by.into_iter().map(|(s, (n, k))| (s, n, k)).collect()
}

/// The command that runs `seed` of the scenario at `path` again.
pub fn rerun(program: &str, path: &str, seed: u64) -> String {
    format!("{program} drive {path} --seed {seed}")
}

/// The stories of `v`: at most [`STORIES_MAX`] subjects, `lines` lines each.
fn stories(v: &Violation, trace: &[crate::hosted::TraceLine], lines: usize) -> String {
    let mut shown = v.clone();
    let more = shown.subjects.len().saturating_sub(STORIES_MAX);
    shown.subjects.truncate(STORIES_MAX);
    if shown.details.len() > DETAILS_MAX {
        let rest = shown.details.len() - DETAILS_MAX;
        shown.details.truncate(DETAILS_MAX);
        shown.details.push(format!("… and {rest} more (--format json lists them all)"));
    }
    let mut out = story(&shown, trace, lines);
    if more > 0 {
        out.push_str(&format!("  … and {more} more subject(s); --trace prints every line\n"));
    }
    out
}

/// The human report; `trace` prints every run's whole trace first.
pub fn human(path: &str, outcomes: &[Outcome], trace: bool, lines: usize) -> String {
    let mut out = String::new();
    for o in outcomes {
        if trace {
            for l in &o.trace {
                out.push_str(&format!("{l}\n"));
            }
        }
        if o.violations.is_empty() {
            out.push_str(&format!("seed {} run {}: pass (every invariant held)\n", o.seed, o.run));
            continue;
        }
        out.push_str(&format!("seed {} run {}: FAIL, {} invariant(s) violated\n", o.seed, o.run, o.violations.len()));
        for v in &o.violations {
            out.push_str(&stories(v, &o.trace, lines));
        }
    }
    let seeds = per_seed(outcomes);
    if seeds.iter().any(|(_, n, _)| *n > 1) {
        for (seed, n, k) in &seeds {
            let verb = if *k > 0 { "failed" } else { "passed" };
            let count = if *k > 0 { *k } else { *n };
            out.push_str(&format!("seed {seed}: {verb} {count} of {n} runs\n"));
        }
    }
    let (n, failed) = (outcomes.len(), outcomes.iter().filter(|o| !o.violations.is_empty()).count());
    if failed > 0 {
        out.push_str(&format!("{path}: failed {failed} of {n} run(s)\n"));
    } else {
        out.push_str(&format!("{path}: passed {n} of {n} run(s)\n"));
    }
    out
}

#[derive(Serialize)]
struct Json<'a> {
    scenario: &'a str,
    provider: &'a str,
    verdict: &'static str,
    runs: usize,
    failed: usize,
    seeds: Vec<JsonSeed>,
    outcomes: Vec<JsonOutcome<'a>>,
}

#[derive(Serialize)]
struct JsonSeed {
    seed: u64,
    runs: u32,
    failed: u32,
}

#[derive(Serialize)]
struct JsonOutcome<'a> {
    seed: u64,
    run: u32,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rerun: Option<String>,
    /// Wall-clock seconds of the run.
    seconds: f64,
    violations: &'a [Violation],
}

fn verdict(failed: bool) -> &'static str {
    if failed { "fail" } else { "pass" }
}

/// The JSON report (one document, pretty-printed, ending in a newline).
pub fn json(program: &str, path: &str, provider: &str, outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.violations.is_empty()).count();
    let doc = Json {
        scenario: path,
        provider,
        verdict: verdict(failed > 0),
        runs: outcomes.len(),
        failed,
        seeds: per_seed(outcomes).into_iter().map(|(seed, runs, failed)| JsonSeed { seed, runs, failed }).collect(),
        outcomes: outcomes
            .iter()
            .map(|o| JsonOutcome {
                seed: o.seed,
                run: o.run,
                verdict: verdict(!o.violations.is_empty()),
                rerun: (!o.violations.is_empty()).then(|| rerun(program, path, o.seed)),
                seconds: (o.seconds * 1000.0).round() / 1000.0,
                violations: &o.violations,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The JUnit report: one test case per run.
pub fn junit(program: &str, path: &str, outcomes: &[Outcome], lines: usize) -> String {
    let cases: Vec<Case> = outcomes
        .iter()
        .map(|o| {
            let failure = (!o.violations.is_empty()).then(|| {
                let names: Vec<&str> = o.violations.iter().map(|v| v.invariant.as_str()).collect();
                let mut body = format!("rerun: {}\n", rerun(program, path, o.seed));
                for v in &o.violations {
                    body.push_str(&stories(v, &o.trace, lines));
                }
                Failure { kind: "violation".into(), message: format!("violated: {}", names.join(", ")), body }
            });
            Case {
                name: format!("seed {} run {}", o.seed, o.run),
                classname: path.to_string(),
                time_s: o.seconds,
                failure,
                system_out: String::new(),
            }
        })
        .collect();
    render_cases("settle drive", &cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::InvariantKind;

    fn outcome(seed: u64, run: u32, bad: bool) -> Outcome {
        let violations = if bad {
            vec![Violation {
                invariant: "every-row-stored-once".into(),
                kind: InvariantKind::Eventually,
                t_ms: 5,
                details: vec!["lanaa: txn 0000002b ($1.00) never stored".into()],
                subjects: vec!["0000002b".into()],
            }]
        } else {
            Vec::new()
        };
        Outcome { seed, run, violations, trace: Vec::new(), seconds: 1.5, held: Vec::new() }
    }

    #[test]
    fn the_summary_counts_failed_runs_per_seed() {
        let o = [
            outcome(1, 1, true),
            outcome(1, 2, false),
            outcome(1, 3, true),
            outcome(2, 1, false),
            outcome(2, 2, false),
        ];
        assert_eq!(per_seed(&o), vec![(1, 3, 2), (2, 2, 0)]);
        let text = human("x.toml", &o, false, 10);
        assert!(
            text.contains("seed 1: failed 2 of 3 runs\nseed 2: passed 2 of 2 runs\nx.toml: failed 2 of 5 run(s)\n"),
            "{text}"
        );
    }

    #[test]
    fn json_and_junit_carry_the_verdicts() {
        let o = [outcome(3, 1, false), outcome(3, 2, true)];
        let v: serde_json::Value = serde_json::from_str(&json("settle", "x.toml", "fanvue", &o)).unwrap();
        assert_eq!(v["verdict"], "fail");
        assert_eq!(v["seeds"][0]["failed"], 1);
        assert_eq!(v["outcomes"][1]["violations"][0]["invariant"], "every-row-stored-once");
        assert!(v["outcomes"][0].get("rerun").is_none());
        assert_eq!(v["outcomes"][0]["seconds"], 1.5);
        let x = junit("settle", "x.toml", &o, 10);
        assert!(x.contains("tests=\"2\"") && x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("time=\"1.5"), "each case carries its run's wall time: {x}");
        assert!(x.contains("violated: every-row-stored-once") && x.contains("settle drive x.toml --seed 3"), "{x}");
    }
}
