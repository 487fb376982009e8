//! Output of `settle explore`: the count of schedules and end states, every violating schedule
//! with its choice list, the verdict — as text, JSON or JUnit — and a replay file per violating
//! schedule for `--report-dir`.
//!
//! What it does not do: run anything (the explorer in [`crate::scenario::explore`] does).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::scenario::explore::Exploration;
use crate::scenario::replay_file::Recorded;
use crate::scenario::runner::run_system;
use crate::scenario::{Outcome, ReplayFile, Scenario, Verdict};
use crate::sim::Oracle;
use crate::store::SharedBackend;
use crate::systems::System;

/// At most this many violating schedules are listed in text output (all are in JSON).
const LISTED: usize = 10;

/// The exploration judged against the scenario's expectation: every schedule is a run of the
/// set, and the set must reach the scenario's marks.
pub fn verdict(s: &Scenario, x: &Exploration) -> Verdict {
    let expect = s.expect.get_ref();
    let found = x.violating.iter().any(|v| expect.invariant.as_ref().is_some_and(|i| v.invariants.contains(i)));
    Verdict::judge(expect, x.violating.len() as u64, found, Some(&x.coverage))
}

fn choices_text(c: &[u64]) -> String {
    let shown: Vec<String> = c.iter().take(40).map(u64::to_string).collect();
    let more = if c.len() > 40 { format!(", … {} more", c.len() - 40) } else { String::new() };
    format!("[{}{more}]", shown.join(","))
}

/// Text for people.
pub fn human(
    path: &str,
    s: &Scenario,
    x: &Exploration,
    verdict: &Verdict,
    elapsed_s: f64,
    written: &[PathBuf],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({path})  {}", s.name, super::json::verdict_text(verdict));
    let _ = writeln!(
        out,
        "  depth {}  values {}  schedules {}{}  distinct end states {}  violating {}  ({} events, {:.2}s)",
        x.bounds.depth,
        x.bounds.values,
        x.schedules,
        if x.complete { " (all)" } else { " (budget reached: incomplete)" },
        x.distinct_end_states,
        x.violating.len(),
        x.events,
        elapsed_s
    );
    let unreached: Vec<&str> = x.coverage.unreached().iter().map(|m| m.mark.as_str()).collect();
    if !unreached.is_empty() && s.expect.get_ref().outcome == Outcome::Pass {
        let _ = writeln!(out, "  never exercised: {}", unreached.join(", "));
    }
    for v in x.violating.iter().take(LISTED) {
        let _ = writeln!(out, "  violates {}: choices {}", v.invariants.join(", "), choices_text(&v.choices));
    }
    if x.violating.len() > LISTED {
        let _ = writeln!(out, "  … {} more violating schedule(s)", x.violating.len() - LISTED);
    }
    if written.is_empty() && !x.violating.is_empty() {
        let _ = writeln!(out, "  replay files: add --report-dir DIR");
    }
    for w in written.iter().take(LISTED) {
        let _ = writeln!(out, "  replay: settle replay {}", w.display());
    }
    out
}

#[derive(Serialize)]
struct Json<'a> {
    format: &'static str,
    name: &'a str,
    path: &'a str,
    depth: usize,
    values: u64,
    schedules: u64,
    complete: bool,
    distinct_end_states: usize,
    events: u64,
    elapsed_s: f64,
    #[serde(flatten)]
    verdict: &'a Verdict,
    violating: Vec<JsonViolating<'a>>,
}

#[derive(Serialize)]
struct JsonViolating<'a> {
    invariants: &'a [String],
    choices: &'a [u64],
}

/// JSON.
pub fn json(path: &str, s: &Scenario, x: &Exploration, verdict: &Verdict, elapsed_s: f64) -> String {
    let j = Json {
        format: "settle-explore/1",
        name: &s.name,
        path,
        depth: x.bounds.depth,
        values: x.bounds.values,
        schedules: x.schedules,
        complete: x.complete,
        distinct_end_states: x.distinct_end_states,
        events: x.events,
        elapsed_s,
        verdict,
        violating: x
            .violating
            .iter()
            .map(|v| JsonViolating { invariants: &v.invariants, choices: &v.choices })
            .collect(),
    };
    serde_json::to_string_pretty(&j).unwrap_or_default() + "\n"
}

/// JUnit: one test case for the scenario.
pub fn junit(path: &str, s: &Scenario, x: &Exploration, verdict: &Verdict, elapsed_s: f64) -> String {
    let failure = (!verdict.ok()).then(|| {
        let message = match verdict {
            Verdict::UnexpectedViolation => format!("{} violating schedule(s)", x.violating.len()),
            _ => {
                format!("expected violation of {} not found", s.expect.get_ref().invariant.clone().unwrap_or_default())
            }
        };
        let body = x
            .violating
            .iter()
            .take(LISTED)
            .map(|v| format!("{}: choices {}", v.invariants.join(", "), choices_text(&v.choices)))
            .chain(std::iter::once(format!(
                "reproduce: settle explore {path} --depth {} --report-dir DIR",
                x.bounds.depth
            )))
            .collect::<Vec<_>>()
            .join("\n");
        super::junit::Failure { kind: "explore".into(), message, body }
    });
    let case = super::junit::Case {
        name: s.name.clone(),
        classname: path.to_string(),
        time_s: elapsed_s,
        failure,
        system_out: format!(
            "{} schedule(s), {} distinct end state(s), {} violating",
            x.schedules,
            x.distinct_end_states,
            x.violating.len()
        ),
    };
    super::junit::render_cases("settle explore", &[case])
}

/// Writes `DIR/<name>/explore-<i>.replay.json` for each violating schedule (at most 100), each
/// run once more with its trace recorded on `backend`, for the file's fingerprint.
pub fn write_replays(
    dir: &Path,
    path: &Path,
    s: &Scenario,
    system: &dyn System,
    x: &Exploration,
    backend: SharedBackend,
) -> Result<Vec<PathBuf>, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let folder = dir.join(super::dir::folder_name(&s.name));
    std::fs::create_dir_all(&folder)
        .map_err(|e| Error::Infrastructure(format!("{}: cannot create: {e}", folder.display())))?;
    let mut out = Vec::new();
    for (i, v) in x.violating.iter().take(100).enumerate() {
        let file = folder.join(format!("explore-{}.replay.json", i + 1));
        let recorded = run_system(system, s, Oracle::replay(v.choices.clone()), true, backend.clone())?;
        let run = Recorded { system: system.name(), events: &recorded.events };
        let r = ReplayFile::new(run, &path.display().to_string(), &text, 0, &v.invariants[0], false, v.choices.clone());
        super::dir::write_atomically(&file, &r.to_json())?;
        out.push(file);
    }
    Ok(out)
}
