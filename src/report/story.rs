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
//! - **The last read.** The last unit of work outside an exchange that only read (a job's
//!   query, the monitor's) before the verdict is kept, with the account its actor gives of it
//!   just after ("reconciliation: 0 PENDING payment(s)"): a job that no longer selects the row
//!   is often the whole explanation, and it writes nothing.
//! - **Repeats fold.** Steps that repeat — the same events up to numbers (times, retry counts,
//!   other orders' codes), or units refused by the same fault whatever their name — fold into
//!   their first within each stretch of repeating steps: "… and 44 more like it, until
//!   02:55:00.002". A stretch ends at any step that happens once, so two outages with something
//!   between them stay two steps.
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
    /// The first events of later steps that repeat this one and were folded into it.
    pub like: Vec<usize>,
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
    let last_read = last_read(events);
    let steps: Vec<Step> = groups
        .into_iter()
        .filter_map(|g| {
            if let Some((read, account)) = last_read.filter(|(r, _)| g.contains(r)) {
                return Some(Step { events: [Some(read), account].into_iter().flatten().collect(), like: Vec::new() });
            }
            if account_of(last_read, &g) {
                return None;
            }
            g.iter().any(|&i| matters(&events[i])).then(|| Step {
                // An exchange is shown whole; what joined it by `continues` only where it matters.
                events: g.into_iter().filter(|&i| events[i].exchange.is_some() || matters(&events[i])).collect(),
                like: Vec::new(),
            })
        })
        .collect();
    let steps = fold_repeats(events, steps, &subjects, last_read.map(|(r, _)| r));
    Story { steps, subjects, of_events: events.len() }
}

/// Whether group `g` is only the account of the last read (already shown with it).
fn account_of(last_read: Option<(usize, Option<usize>)>, g: &[usize]) -> bool {
    matches!(last_read, Some((_, Some(a))) if g == [a])
}

/// The last unit outside an exchange that only read, before the first verdict, and the state
/// change its actor records next (within 5 ms, before any other event of that actor).
fn last_read(events: &[Event]) -> Option<(usize, Option<usize>)> {
    let verdict = events.iter().position(is_violation_event)?;
    let read = (0..verdict).rev().find(|&i| {
        let e = &events[i];
        e.kind == Kind::Unit && e.exchange.is_none() && e.text.ends_with("committed, 0 row(s) changed")
    })?;
    let actor = &events[read].actor;
    let account = (read + 1..verdict)
        .find(|&i| events[i].actor == *actor)
        .filter(|&i| {
            let e = &events[i];
            e.kind == Kind::State && e.exchange.is_none() && e.t_ms <= events[read].t_ms + 5
        })
        // Only when it is a step of its own (not folded into something else by `continues`).
        .filter(|&i| !continues(events, i));
    Some((read, account))
}

/// Every run of digits in `text` as `#`, except inside a word that holds a subject.
fn normalized(text: &str, subjects: &[String]) -> String {
    text.split(' ')
        .map(|w| {
            if subjects.iter().any(|s| w.contains(s.as_str())) {
                return w.to_string();
            }
            let mut out = String::with_capacity(w.len());
            for c in w.chars() {
                if !c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('#') {
                    out.push('#');
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What makes two steps "the same" (see the module doc): a lone fault about no subject is
/// known by its actor and outcome (the text after its last `: `), anything else by all its
/// events up to numbers.
fn signature(events: &[Event], step: &Step, subjects: &[String]) -> String {
    let about_subject = |e: &Event| subjects.iter().any(|s| contains_word(&e.text, s));
    if let [i] = step.events[..] {
        let e = &events[i];
        if e.kind == Kind::Fault && e.exchange.is_none() && !about_subject(e) {
            let outcome = e.text.rsplit(": ").next().unwrap_or(&e.text);
            return format!("fault|{}|{:?}|{}", e.actor, e.peer, normalized(outcome, subjects));
        }
    }
    step.events
        .iter()
        .map(|&i| {
            let e = &events[i];
            format!("{:?}|{}|{:?}|{}", e.kind, e.actor, e.peer, normalized(&e.text, subjects))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Folds repeating steps (see the module doc). The verdict and the last read never fold.
fn fold_repeats(events: &[Event], steps: Vec<Step>, subjects: &[String], read: Option<usize>) -> Vec<Step> {
    let fixed = |st: &Step| st.events.iter().any(|&i| is_violation_event(&events[i]) || Some(i) == read);
    let sigs: Vec<Option<String>> =
        steps.iter().map(|st| (!fixed(st)).then(|| signature(events, st, subjects))).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for sig in sigs.iter().flatten() {
        *count.entry(sig.as_str()).or_default() += 1;
    }
    let repeats = |k: usize| sigs[k].as_deref().is_some_and(|s| count[s] > 1);
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    let mut run: Vec<(String, usize)> = Vec::new();
    for (k, st) in steps.into_iter().enumerate() {
        if !repeats(k) {
            run.clear();
            out.push(st);
            continue;
        }
        let sig = sigs[k].clone().unwrap_or_default();
        match run.iter().find(|(s, _)| *s == sig) {
            Some(&(_, at)) => out[at].like.push(st.events[0]),
            None => {
                run.push((sig, out.len()));
                out.push(st);
            }
        }
    }
    out
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
            if let Some(&last) = step.like.last() {
                // Name the other texts folded in (a different unit refused by the same fault).
                let mut also: Vec<&str> = Vec::new();
                for e in step.like.iter().map(|&i| &events[i]) {
                    if e.text != first.text && !also.contains(&e.text.as_str()) && also.len() < 3 {
                        also.push(&e.text);
                    }
                }
                let also = if also.is_empty() { String::new() } else { format!(" (also {})", also.join("; ")) };
                let _ = writeln!(
                    out,
                    "{pad}… and {} more like it, until {}{also}",
                    step.like.len(),
                    fmt_ms(events[last].t_ms)
                );
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
        // The monitor's read (6) wrote nothing, but it is the last read before the verdict.
        assert_eq!(steps, vec![&[1, 3, 4, 5][..], &[6], &[7], &[8]]);
        let text = s.render(&events);
        assert!(text.starts_with("the 4 step(s) that matter (of 9 event(s)"), "{text}");
        assert!(text.contains("1. 00:00:00.001  provider → app  POST /hook A-1\n"), "{text}");
        assert!(text.contains("   00:00:00.003    app → db: apply A-1: committed, 0 row(s) changed\n"), "{text}");
        assert!(text.contains("   00:00:00.004    provider ← app: 200\n"), "{text}");
        assert!(!text.contains("handling"), "{text}");
        assert!(text.contains("4. 00:00:00.009  checker  ✗ VIOLATED"), "{text}");
        assert_eq!(s.events(&events).len(), 7);
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
        assert_eq!(s.steps, vec![Step { events: vec![1], like: vec![] }]);
    }

    #[test]
    fn only_the_last_read_before_the_verdict_is_kept_with_its_account() {
        let events = vec![
            ev(1, Kind::Unit, "jobs", Some("db"), "recon.select: committed, 0 row(s) changed", None),
            ev(2, Kind::State, "jobs", None, "reconciliation: 1 PENDING payment(s)", None),
            ev(5, Kind::Unit, "jobs", Some("db"), "recon.select: committed, 0 row(s) changed", None),
            ev(6, Kind::State, "jobs", None, "reconciliation: 0 PENDING payment(s)", None),
            ev(7, Kind::State, "provider", None, "A-1: deny", None),
            ev(9, Kind::Check, "checker", None, "VIOLATED eventually `i`: A-1: paid", None),
            ev(9, Kind::Unit, "jobs", Some("db"), "after: committed, 0 row(s) changed", None),
        ];
        let s = story(&events, &[violation(&["A-1: paid"])]);
        let steps: Vec<&[usize]> = s.steps.iter().map(|s| s.events.as_slice()).collect();
        assert_eq!(steps, vec![&[2, 3][..], &[4], &[5]]);
        let text = s.render(&events);
        assert!(text.contains("1. 00:00:00.005  jobs → db  recon.select: committed, 0 row(s) changed\n"), "{text}");
        assert!(text.contains("jobs: reconciliation: 0 PENDING payment(s)"), "{text}");
    }

    #[test]
    fn repeated_steps_fold_within_a_stretch_of_repeats() {
        let refused = |t, unit: &str| {
            ev(t, Kind::Fault, "jobs", Some("db"), &format!("{unit}: database unavailable (outage)"), None)
        };
        let attempt = |t, x, n: u64| {
            vec![
                ev(t, Kind::Send, "provider", Some("app"), "POST /hook A-1 deny", Some(x)),
                ev(t + 1, Kind::Fault, "app", Some("db"), "apply A-1: database unavailable (outage)", Some(x)),
                ev(t + 2, Kind::Reply, "provider", Some("app"), "POST /hook A-1 deny ← 503", Some(x)),
                ev(
                    t + 2,
                    Kind::State,
                    "provider",
                    None,
                    &format!("A-1: deny: 503, retry #{n} in {}m", n * 10),
                    Some(x),
                ),
            ]
        };
        let mut events = vec![ev(0, Kind::State, "provider", None, "A-1: deny", None)];
        events.extend(attempt(10, 1, 1));
        events.push(refused(20, "monitor"));
        events.push(refused(21, "recon.select"));
        events.extend(attempt(30, 2, 2));
        events.push(refused(40, "recon.select"));
        // Something that happens once ends the stretch: the refusals after it are a new step.
        events.push(ev(50, Kind::State, "provider", None, "A-1: giving up", None));
        events.push(refused(60, "monitor"));
        events.push(refused(70, "recon.select"));
        events.push(ev(90, Kind::Check, "checker", None, "VIOLATED eventually `i`: A-1: paid", None));
        let s = story(&events, &[violation(&["A-1: paid"])]);
        let heads: Vec<(u64, usize)> = s.steps.iter().map(|st| (events[st.events[0]].t_ms, st.like.len())).collect();
        assert_eq!(heads, vec![(0, 0), (10, 1), (20, 2), (50, 0), (60, 1), (90, 0)]);
        let text = s.render(&events);
        assert!(text.contains("… and 1 more like it, until 00:00:00.030\n"), "{text}");
        assert!(
            text.contains(
                "… and 2 more like it, until 00:00:00.040 (also recon.select: database unavailable (outage))"
            ),
            "{text}"
        );
    }
}
