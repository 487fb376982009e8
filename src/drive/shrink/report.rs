//! What `settle drive --shrink` prints about a shrink: the plan a drive file describes in one
//! line, the human summary (what was removed, the final plan, the file, the replay command) and
//! the JSON object (`"shrink"` in `--format json`). Pure functions of the result.
//!
//! What it does not do: print the runs themselves (see [`crate::drive::report`]).

use serde::Serialize;

use super::{Settings, Shrunk, Step};
use crate::drive::scenario::Drive;

/// The plan of `d` in one line: its load, holds, faults and crashes.
pub fn plan(d: &Drive) -> String {
    let f = &d.file;
    let mut parts = Vec::new();
    if f.run.provider.get_ref() == "fanvue" {
        parts.push(format!("creators = {}", f.fanvue.creators));
        parts.push(format!("batches = {}", f.fanvue.batches));
    } else {
        parts.push(format!("customers = {}", f.run.customers));
        parts.push(format!("race = {}", f.run.race));
        if let Some(l) = &f.run.hold_only {
            parts.push(format!("hold_only = {}", super::edit::list(l)));
        }
        let w = &f.faults;
        let mut faults = Vec::new();
        if !w.drop.is_zero() {
            faults.push("drop");
        }
        if !w.duplicate.is_zero() {
            faults.push("duplicate");
        }
        if w.delay.is_some() {
            faults.push("delay");
        }
        parts.push(format!("webhook faults: {}", names(&faults)));
    }
    match &f.database {
        Some(db) => {
            let db = db.get_ref();
            let mut on = Vec::new();
            for (name, set) in [
                ("latency", db.latency.is_some()),
                ("reset", !db.reset.is_zero()),
                ("lost_commit", !db.lost_commit.is_zero()),
                ("outages", !db.outages.is_empty()),
                ("hold_commit", db.hold_commit > 0.0),
            ] {
                if set {
                    on.push(name);
                }
            }
            parts.push(format!("database faults: {}", names(&on)));
        }
        None => parts.push("no database proxy".into()),
    }
    parts.push(match &f.crashes {
        Some(c) => format!("crashes: {}", c.get_ref().count),
        None => "crashes: none".into(),
    });
    parts.join(", ")
}

fn names(l: &[&str]) -> String {
    if l.is_empty() { "none".into() } else { l.join(" ") }
}

/// The line before the first candidate.
pub fn header(seed: u64, invariants: &[String], s: Settings) -> String {
    format!(
        "shrinking seed {seed} (violated: {}); up to {} run(s) per candidate, at most {} candidate runs",
        invariants.join(", "),
        s.runs,
        s.budget
    )
}

/// The summary after the shrunk plan's failing run: what was removed, the final plan, the file
/// and the replay command.
pub fn human(k: &Shrunk, file: &str, replay: &str) -> String {
    let kept: Vec<String> = k.kept().map(ToString::to_string).collect();
    let removed = if kept.is_empty() { "nothing (no smaller plan still failed)".into() } else { kept.join("; ") };
    format!(
        "shrunk: {} candidate(s) in {} run(s), {} kept\nchanged: {removed}\nfinal plan: {}\nshrunk scenario: {file}\nreplay: {replay}\n",
        k.steps.len(),
        k.runs,
        kept.len(),
        plan(&k.drive),
    )
}

#[derive(Serialize)]
struct Json<'a> {
    seed: u64,
    file: &'a str,
    replay: &'a str,
    invariants: &'a [String],
    /// Candidate runs spent.
    runs: u32,
    steps: Vec<JsonStep>,
    kept: Vec<String>,
    plan: String,
}

#[derive(Serialize)]
struct JsonStep {
    change: String,
    runs: u32,
    failed: u32,
    kept: bool,
}

impl From<&Step> for JsonStep {
    fn from(s: &Step) -> JsonStep {
        JsonStep { change: s.edit.to_string(), runs: s.runs, failed: s.failed, kept: s.kept }
    }
}

/// The `"shrink"` object of `--format json`.
pub fn json(k: &Shrunk, file: &str, replay: &str) -> serde_json::Value {
    let doc = Json {
        seed: k.failing.seed,
        file,
        replay,
        invariants: &k.invariants,
        runs: k.runs,
        steps: k.steps.iter().map(JsonStep::from).collect(),
        kept: k.kept().map(ToString::to_string).collect(),
        plan: plan(&k.drive),
    };
    serde_json::to_value(doc).unwrap_or(serde_json::Value::Null)
}
