//! The story of a counterexample: the steps that matter, one numbered step each.
//!
//! A shrunk counterexample is short, but its trace still holds everything the simulation did:
//! run phases, the jobs' ticks that read nothing of interest, every half of every message. The
//! story is the slice of it a developer reads first:
//!
//! - **Steps.** Events of one message exchange (the send, its faults, the handling, the work the
//!   handler did and the reply; see [`Event::exchange`]) fold into one step, and so does a
//!   state change an actor records at the same instant as its event just before. Any other
//!   event outside an exchange is a step of its own.
//! - **What matters.** A step matters when it mentions a subject of the violation (the order,
//!   creator or transaction the violating rows name), carries an injected fault or a crash, or
//!   is the broken invariant's verdict (always a step of its own). Run phases, passing checks
//!   and units of work outside an exchange that wrote nothing never do. When the violation
//!   names no subject (say, "the dashboard shows $5k"), every other step matters. Inside a step
//!   that matters, an exchange is shown whole; state changes folded into it are shown only
//!   where they matter themselves (the ledger's other creators are left out).
//!
//! What it does not do: decide causality. Subjects are what the violation's findings say they
//! are about ([`crate::check::Finding`]), so a step about another order that made this one fail
//! (a lock it held, say) is left out unless it also carries a fault; the full timeline is always
//! printed beside the story.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::check::{Violation, is_violation_event};
use crate::sim::{Event, Kind, fmt_ms};

/// One step of the story.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Indices into the trace of the events the step folds, in order.
    pub events: Vec<usize>,
}

/// The steps that matter, and what they were chosen by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Story {
    pub steps: Vec<Step>,
    /// The subjects of the violation found in its details.
    pub subjects: Vec<String>,
    /// Events in the whole trace.
    pub of_events: usize,
}

/// Whether `text` holds `word` with no letter, digit, `-` or `_` on either side.
fn contains_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The subjects of the violations — the entities their findings are about (an order code, a
/// model, a transaction), as the invariants gave them — each once, in order.
pub fn subjects(violations: &[Violation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in violations.iter().flat_map(|v| &v.subjects) {
        if !s.is_empty() && !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Whether event `i`, outside any exchange, is a state change of the actor of the event just
/// before it at the same instant: the same action, read as one step (the provider records a
/// charge and its first status in one instant).
fn continues(events: &[Event], i: usize) -> bool {
    let e = &events[i];
    i > 0 && e.exchange.is_none() && e.kind == Kind::State && {
        let prev = &events[i - 1];
        prev.t_ms == e.t_ms && !matches!(prev.kind, Kind::Run | Kind::Check) && prev.actor == e.actor
    }
}

/// Chooses the steps of `events` that matter to `violations`.
pub fn story(events: &[Event], violations: &[Violation]) -> Story {
    let subjects = subjects(violations);
    // Group by exchange, in the order each group starts; a verdict is always a step of its own.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut group_of: Vec<usize> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let exchange = e.exchange.filter(|_| e.kind != Kind::Check);
        let joined = match exchange {
            Some(x) => open.get(&x).copied(),
            None => continues(events, i).then(|| group_of[i - 1]),
        };
        let g = joined.unwrap_or_else(|| {
            if let Some(x) = exchange {
                open.insert(x, groups.len());
            }
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
        group_of.push(g);
    }
    let matters = |e: &Event| match e.kind {
        Kind::Run => false,
        Kind::Check => is_violation_event(e),
        Kind::Fault | Kind::Lifecycle => true,
        // A unit of its own that wrote nothing only read; what it read shows where it is used.
        Kind::Unit if e.exchange.is_none() && e.text.ends_with("committed, 0 row(s) changed") => false,
        _ => subjects.is_empty() || subjects.iter().any(|s| contains_word(&e.text, s)),
    };
    let steps = groups
        .into_iter()
        .filter(|g| g.iter().any(|&i| matters(&events[i])))
        // An exchange is shown whole; what joined it by `continues` only where it matters.
        .map(|g| Step {
            events: g.into_iter().filter(|&i| events[i].exchange.is_some() || matters(&events[i])).collect(),
        })
        .collect();
    Story { steps, subjects, of_events: events.len() }
}

impl Story {
    /// The events of the steps that matter, in trace order (for a focused diagram).
    pub fn events(&self, events: &[Event]) -> Vec<Event> {
        let mut idx: Vec<usize> = self.steps.iter().flat_map(|s| s.events.iter().copied()).collect();
        idx.sort_unstable();
        idx.into_iter().map(|i| events[i].clone()).collect()
    }

    /// The story as text: a heading, then each step's first event, and its other events indented
    /// under it, each at its own time.
    pub fn render(&self, events: &[Event]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "the {} step(s) that matter (of {} event(s) in the full timeline){}",
            self.steps.len(),
            self.of_events,
            if self.subjects.is_empty() { String::new() } else { format!(" — about {}", self.subjects.join(", ")) }
        );
        let width = self.steps.len().to_string().len();
        for (n, step) in self.steps.iter().enumerate() {
            let first = &events[step.events[0]];
            let head = match (&first.peer, first.kind) {
                (Some(p), Kind::Deliver | Kind::Reply) => format!("{p} → {}", first.actor),
                (Some(p), _) => format!("{} → {p}", first.actor),
                (None, _) => first.actor.clone(),
            };
            let mark = if is_violation_event(first) { "✗ " } else { "" };
            let _ = writeln!(out, "{:>width$}. {}  {head}  {mark}{}", n + 1, fmt_ms(first.t_ms), first.text);
            let pad = " ".repeat(width + 2);
            for e in step.events[1..].iter().map(|&i| &events[i]) {
                if let Some(line) = detail(first, e) {
                    let _ = writeln!(out, "{pad}{}    {line}", fmt_ms(e.t_ms));
                }
            }
        }
        out
    }
}

/// How an event reads under its step's first line; `None` when it repeats it.
fn detail(first: &Event, e: &Event) -> Option<String> {
    let fault = if e.kind == Kind::Fault { "⚡ " } else { "" };
    let text = match e.kind {
        // "handling <label>" only repeats the request.
        Kind::Deliver if e.text.strip_prefix("handling ") == Some(first.text.as_str()) => return None,
        // "<label> ← 200", "<label>: timed out after 30s": the outcome is what is new.
        Kind::Reply => match e.text.strip_prefix(first.text.as_str()) {
            Some(rest) => rest.trim_start_matches([':', ' ', '←']).to_string(),
            None => e.text.clone(),
        },
        _ => e.text.clone(),
    };
    let who = match (&e.peer, e.kind) {
        (Some(p), Kind::Deliver | Kind::Reply) => format!("{} ← {p}: ", e.actor),
        (Some(p), _) => format!("{} → {p}: ", e.actor),
        (None, _) => format!("{}: ", e.actor),
    };
    Some(format!("{fault}{who}{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Finding, InvariantKind};

    fn ev(t_ms: u64, kind: Kind, actor: &str, peer: Option<&str>, text: &str, exchange: Option<u64>) -> Event {
        Event { t_ms, kind, actor: actor.into(), peer: peer.map(Into::into), text: text.into(), exchange }
    }

    /// A violation whose findings are about the subject before `: ` in each detail, if any.
    fn violation(details: &[&str]) -> Violation {
        let findings = details
            .iter()
            .map(|d| match d.split_once(": ") {
                Some((subject, _)) if !subject.contains(' ') => Finding::about(subject, *d),
                _ => Finding::general(*d),
            })
            .collect();
        Violation::from_findings("i", InvariantKind::Eventually, 9, findings)
    }

    #[test]
    fn subjects_are_what_the_findings_are_about() {
        let v = Violation::from_findings(
            "i",
            InvariantKind::Always,
            9,
            vec![
                Finding::about("cleo", "cleo: txn 00000033 is dated before the cursor").and("00000033"),
                Finding::about("ZVR-1A", "order ZVR-1A: status PAID but paid_at None"),
                Finding::general("the dashboard shows $5,000.00"),
                Finding::about("cleo", "cleo: revenue_total $1 but Fanvue says $2"),
            ],
        );
        assert_eq!(subjects(&[v]), vec!["cleo", "00000033", "ZVR-1A"]);
        assert!(contains_word("webhook.apply ZVR-1A: committed", "ZVR-1A"));
        assert!(!contains_word("ZVR-1AB pays", "ZVR-1A"));
        assert!(!contains_word("cleopatra", "cleo"));
    }

    #[test]
    fn an_exchange_is_one_step_and_unrelated_steps_are_left_out() {
        let events = vec![
            ev(0, Kind::Run, "sim", None, "safety phase", None),
            ev(1, Kind::Send, "provider", Some("app"), "POST /hook A-1", Some(1)),
            ev(2, Kind::Send, "provider", Some("app"), "POST /hook B-2", Some(2)),
            ev(3, Kind::Deliver, "app", Some("provider"), "handling POST /hook A-1", Some(1)),
            ev(3, Kind::Unit, "app", Some("db"), "apply A-1: committed, 0 row(s) changed", Some(1)),
            ev(4, Kind::Reply, "provider", Some("app"), "POST /hook A-1 ← 200", Some(1)),
            ev(5, Kind::Unit, "jobs", Some("db"), "monitor: committed, 0 row(s) changed", None),
            ev(6, Kind::Fault, "db", None, "outage", None),
            ev(9, Kind::Check, "checker", None, "VIOLATED eventually `i`: A-1: lost", None),
        ];
        let s = story(&events, &[violation(&["A-1: lost"])]);
        let steps: Vec<&[usize]> = s.steps.iter().map(|s| s.events.as_slice()).collect();
        assert_eq!(steps, vec![&[1, 3, 4, 5][..], &[7], &[8]]);
        let text = s.render(&events);
        assert!(text.starts_with("the 3 step(s) that matter (of 9 event(s)"), "{text}");
        assert!(text.contains("1. 00:00:00.001  provider → app  POST /hook A-1\n"), "{text}");
        assert!(text.contains("   00:00:00.003    app → db: apply A-1: committed, 0 row(s) changed\n"), "{text}");
        assert!(text.contains("   00:00:00.004    provider ← app: 200\n"), "{text}");
        assert!(!text.contains("handling"), "{text}");
        assert!(text.contains("3. 00:00:00.009  checker  ✗ VIOLATED"), "{text}");
        assert_eq!(s.events(&events).len(), 6);
    }

    #[test]
    fn a_state_change_at_the_same_instant_continues_the_step_before() {
        let events = vec![
            ev(0, Kind::Send, "checkout", Some("provider"), "create A-1", Some(1)),
            ev(0, Kind::State, "provider", None, "A-1: created", Some(1)),
            ev(0, Kind::State, "provider", None, "A-1: pending", None),
            ev(0, Kind::State, "jobs", None, "A-1: noticed", None),
            ev(5, Kind::State, "provider", None, "A-1: settlement", None),
        ];
        let s = story(&events, &[violation(&["A-1: lost"])]);
        let steps: Vec<&[usize]> = s.steps.iter().map(|s| s.events.as_slice()).collect();
        assert_eq!(steps, vec![&[0, 1, 2][..], &[3], &[4]], "another actor, or a later instant, is a new step");
    }

    #[test]
    fn a_verdict_is_its_own_step_and_folded_events_must_matter() {
        let events = vec![
            ev(0, Kind::State, "fanvue", None, "A-1: sale", None),
            ev(0, Kind::State, "fanvue", None, "B-2: sale", None),
            ev(0, Kind::State, "fanvue", None, "A-1: refund", None),
            ev(1, Kind::Send, "provider", Some("app"), "POST /hook A-1", Some(4)),
            ev(2, Kind::Unit, "app", Some("db"), "apply A-1: committed, 2 row(s) changed", Some(4)),
            ev(2, Kind::Check, "checker", None, "VIOLATED always `i`: A-1: twice", Some(4)),
            ev(3, Kind::Reply, "provider", Some("app"), "POST /hook A-1 ← 200", Some(4)),
            ev(4, Kind::Unit, "jobs", Some("db"), "load A-1: committed, 0 row(s) changed", None),
        ];
        let s = story(&events, &[violation(&["A-1: twice"])]);
        let steps: Vec<&[usize]> = s.steps.iter().map(|s| s.events.as_slice()).collect();
        assert_eq!(steps, vec![&[0, 2][..], &[3, 4, 6], &[5]]);
    }

    #[test]
    fn without_subjects_every_step_but_markers_matters() {
        let events = vec![
            ev(0, Kind::Run, "sim", None, "safety phase", None),
            ev(1, Kind::State, "jobs", None, "synced", None),
            ev(2, Kind::Check, "checker", None, "all eventually invariants hold", None),
        ];
        let s = story(&events, &[violation(&["the dashboard shows $5,000.00"])]);
        assert_eq!(s.steps, vec![Step { events: vec![1] }]);
    }
}
