//! Reports: what a run found, for people and for CI.
//!
//! - this module: human-readable text — run summaries, replay timelines, the catalogue;
//! - [`json`]: the machine-readable run report and the merge of CI shards;
//! - [`junit`]: JUnit XML, one test case per scenario, failures carrying the replay command;
//! - [`diagram`]: sequence diagrams of a counterexample, as Mermaid text and as one
//!   self-contained HTML page;
//! - [`dir`]: `--report-dir`: replay file, timeline and sequence diagram per failure (the one
//!   module here that writes files);
//! - [`explore`]: the output of `settle explore`;
//! - [`progress`]: a progress bar on a terminal, plain lines in CI logs;
//! - [`story`]: the steps of a counterexample that matter, for the end of a timeline and a
//!   focused diagram.
//!
//! Every other function returns a `String`, so the CLI decides where it goes and tests can
//! snapshot it. What it does not do: choose which seeds to report (the runner does).

pub mod diagram;
pub mod dir;
pub mod explore;
pub mod json;
pub mod junit;
pub mod progress;
pub mod story;

use std::fmt::Write;

use crate::check::{Violation, is_violation_event};
use crate::scenario::Summary;
use crate::scenario::shrink::Shrunk;
use crate::sim::{Event, Kind, fmt_ms};
use crate::systems::SystemInfo;

/// One scenario's summary block.
pub fn summary(s: &Summary) -> String {
    let mut out = String::new();
    let verdict = json::verdict_text(&s.verdict);
    let _ = writeln!(out, "{}  ({})  {verdict}", s.name, s.path);
    if let Some(shard) = s.shard {
        let _ = writeln!(out, "  shard {shard}");
    }
    if s.budget_spent {
        let _ = writeln!(out, "  time budget spent after {} seed(s)", s.seeds_run);
    }
    for line in counts(s) {
        let _ = writeln!(out, "  {line}");
    }
    if let (Some(seed), Some(v)) = (s.first_seed, &s.first_violation) {
        let _ = writeln!(out, "  first seed {seed}: {}", first_line(v));
        if let Some(cmd) = s.replay_command() {
            let _ = writeln!(out, "  replay: {cmd}");
        }
    }
    if let Some(k) = &s.shrunk {
        let _ = writeln!(out, "  {}", shrunk_line(k));
    }
    let unreached = s.coverage.unreached();
    if !unreached.is_empty() {
        let names: Vec<&str> = unreached.iter().map(|m| m.mark.as_str()).collect();
        let _ = writeln!(out, "  never exercised: {}", names.join(", "));
    }
    out
}

/// How far shrinking got: `shrunk in R run(s): C choice(s) → c, E event(s) → e in S step(s) that
/// matter` (for `run`'s summary and `shrink`'s header).
pub fn shrunk_line(k: &Shrunk) -> String {
    format!(
        "shrunk in {} run(s): {} choice(s) → {}, {} event(s) → {} in {} step(s) that matter",
        k.runs,
        k.original_choices,
        k.choices.len(),
        k.original_events,
        k.report.event_count,
        story::story(&k.report.events, &k.report.violations).steps.len()
    )
}

/// A run set's throughput line, then one line per violated invariant (the human summary indents
/// them; JUnit's `<system-out>` does not).
pub(crate) fn counts(s: &Summary) -> Vec<String> {
    // A shard given no seed ran no event: it has no time per event.
    let per_event = if s.events == 0 { "–".to_string() } else { format!("{:.1}", 1e6 / s.events_per_s().max(1e-9)) };
    let mut lines = vec![format!(
        "seeds {}  violating {}  {:.0} seeds/s  {:.0} events/s  {per_event} µs/event  ({} events, {:.2}s)",
        s.seeds_run,
        s.violating_seeds,
        s.seeds_per_s(),
        s.events_per_s(),
        s.events,
        s.elapsed_s
    )];
    lines.extend(s.per_invariant.iter().map(|(inv, n)| format!("violated {inv}: {n} seed(s)")));
    lines
}

fn first_line(v: &Violation) -> String {
    let detail = v.details.first().cloned().unwrap_or_default();
    let more = if v.details.len() > 1 { format!(" (+{} more)", v.details.len() - 1) } else { String::new() };
    format!("{} `{}` at {}: {detail}{more}", v.kind, v.invariant, fmt_ms(v.t_ms))
}

/// A replay's timeline: every event, then the verdict, then (for a failing run with a recorded
/// trace) the steps that matter.
pub fn timeline(header: &str, events: &[Event], violations: &[Violation]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    for e in events {
        let marker = match e.kind {
            Kind::Fault => "!",
            _ if is_violation_event(e) => "✗",
            _ => " ",
        };
        let _ = writeln!(out, "{marker} {e}");
    }
    if violations.is_empty() {
        let _ = writeln!(out, "result: every invariant held");
    } else {
        for v in violations {
            let _ = writeln!(out, "result: {}", first_line(v));
            for d in v.details.iter().skip(1) {
                let _ = writeln!(out, "        {d}");
            }
        }
        if !events.is_empty() {
            out.push('\n');
            out.push_str(&story::story(events, violations).render(events));
        }
    }
    out
}

/// `settle list`.
pub fn catalog(systems: &[SystemInfo], scenarios: &[(String, String, String)]) -> String {
    let mut out = String::new();
    for s in systems {
        let variant = if s.name == s.family { String::new() } else { format!(" (a variant of {})", s.family) };
        let _ = writeln!(out, "system {}{variant}: {}", s.name, s.doc);
        let _ = writeln!(out, "  scenario table: [{}]", s.table);
        let _ = writeln!(out, "  flaws:");
        for (name, doc) in &s.flaws {
            let _ = writeln!(out, "    {name:<20} {doc}");
        }
        let _ = writeln!(out, "  invariants:");
        for i in &s.invariants {
            let _ = writeln!(out, "    {:<10} {:<34} {}", i.kind.to_string(), i.name, i.doc);
        }
        let actors: Vec<String> = s
            .actors
            .iter()
            .map(|a| {
                let crash = if a.crashable { ", crashable" } else { "" };
                format!("{} ({}{crash})", a.name, a.role.as_str())
            })
            .collect();
        let _ = writeln!(out, "  actors: {}", actors.join(", "));
    }
    if !scenarios.is_empty() {
        let _ = writeln!(out, "scenarios:");
        for (path, name, expect) in scenarios {
            let _ = writeln!(out, "  {path:<44} {name:<28} expects {expect}");
        }
    }
    out
}
