//! The trace: every message, unit of work, state change, injected fault and invariant verdict
//! of a run, stamped with simulated time.
//!
//! Recording is switched on for replays and determinism checks and off for bulk runs, where
//! only the count of events is kept (formatting text for events nobody reads would cost more
//! than the simulation itself). A run that fails is replayed from its seed with recording on,
//! so nothing is lost by not recording the first time.
//!
//! What it does not do: it does not interpret events. Lanes (`actor`, `peer`) are plain names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened, in broad classes; the sequence diagram and the timeline colour by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Run structure: start, fault plan, phase changes, end.
    Run,
    /// A request sent from `actor` to `peer`.
    Send,
    /// A request handled by `actor` (the receiver) and its response.
    Deliver,
    /// A response received back by the caller.
    Reply,
    /// A unit of work (one database transaction).
    Unit,
    /// A state change inside an actor (a provider status, a job decision).
    State,
    /// An injected fault: drop, duplicate, delay, partition, outage, crash.
    Fault,
    /// An actor crashed or restarted.
    Lifecycle,
    /// An invariant verdict.
    Check,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Send => "send",
            Kind::Deliver => "handle",
            Kind::Reply => "reply",
            Kind::Unit => "unit",
            Kind::State => "state",
            Kind::Fault => "FAULT",
            Kind::Lifecycle => "life",
            Kind::Check => "CHECK",
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated milliseconds since the start of the run.
    pub t_ms: u64,
    pub kind: Kind,
    /// The actor the event belongs to.
    pub actor: String,
    /// The other party of a message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub text: String,
    /// The message exchange the event belongs to: a request, its handling, the work done while
    /// handling it, and its reply share one number, so a reader can fold them into one step.
    /// `None` for events outside any exchange (jobs' ticks, run phases, verdicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<u64>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.t_ms;
        let (h, m, s, ms) = (t / 3_600_000, (t / 60_000) % 60, (t / 1_000) % 60, t % 1_000);
        write!(f, "{h:02}:{m:02}:{s:02}.{ms:03}  {:<6} {:<9}", self.kind.label(), self.actor)?;
        // Deliveries and replies travel back toward `actor`.
        let arrow = if matches!(self.kind, Kind::Deliver | Kind::Reply) { '←' } else { '→' };
        match &self.peer {
            Some(p) => write!(f, " {arrow} {p:<9} {}", self.text),
            None => write!(f, "  {:<10}{}", "", self.text),
        }
    }
}

/// The event log of one run.
#[derive(Debug, Default)]
pub struct Trace {
    recording: bool,
    events: Vec<Event>,
    count: u64,
}

impl Trace {
    pub fn new(recording: bool) -> Self {
        Trace { recording, events: Vec::new(), count: 0 }
    }

    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Counts the event and, when recording, stores what `make` builds.
    pub fn record(&mut self, make: impl FnOnce() -> Event) {
        self.count += 1;
        if self.recording {
            self.events.push(make());
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// Events seen, recorded or not.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Where two traces of the same seed first disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub index: usize,
    pub first: Option<Event>,
    pub second: Option<Event>,
}

/// Compares two traces event by event; `None` when they are identical.
pub fn first_divergence(a: &[Event], b: &[Event]) -> Option<Divergence> {
    let n = a.len().max(b.len());
    (0..n).find(|&i| a.get(i) != b.get(i)).map(|index| Divergence {
        index,
        first: a.get(index).cloned(),
        second: b.get(index).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, text: &str) -> Event {
        Event { t_ms: t, kind: Kind::State, actor: "a".into(), peer: None, text: text.into(), exchange: None }
    }

    #[test]
    fn identical_traces_have_no_divergence() {
        let a = vec![ev(1, "x"), ev(2, "y")];
        assert_eq!(first_divergence(&a, &a.clone()), None);
    }

    #[test]
    fn divergence_points_at_first_difference() {
        let a = vec![ev(1, "x"), ev(2, "y"), ev(3, "z")];
        let b = vec![ev(1, "x"), ev(2, "Y"), ev(3, "z")];
        let d = first_divergence(&a, &b).unwrap();
        assert_eq!(d.index, 1);
        assert_eq!(d.first.unwrap().text, "y");
    }

    #[test]
    fn a_shorter_trace_diverges_where_it_ends() {
        let a = vec![ev(1, "x")];
        let b = vec![ev(1, "x"), ev(2, "y")];
        let d = first_divergence(&a, &b).unwrap();
        assert_eq!(d.index, 1);
        assert!(d.first.is_none());
    }

    #[test]
    fn not_recording_still_counts() {
        let mut t = Trace::new(false);
        t.record(|| ev(1, "x"));
        assert_eq!(t.count(), 1);
        assert!(t.events().is_empty());
    }
}
