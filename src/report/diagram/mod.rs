//! Sequence diagrams of a counterexample: what each actor sent, handled, wrote and decided, in
//! the order it happened, with injected faults and broken invariants marked.
//!
//! Lanes, always in this order: browser (a person's tabs — drawn only when the trace has a
//! browser actor, so diagrams without tabs keep their five lanes), provider (and clients —
//! customers, forgers, the owner at a dashboard: everyone outside the shop), network, app
//! (webhook endpoint, checkout, admin), jobs (cron, reconciliation, sync) and database. An
//! actor's lane is its declared role ([`Lanes`]). Messages are arrows between lanes, units of
//! work arrows to the database, state
//! changes notes on their lane, run phases and verdicts bands across every lane. A fault is
//! drawn where it happened — on the network lane for a message lost, delayed, duplicated or
//! refused, on the database lane for an outage, slow commit or lost answer, on the actor's lane
//! for a crash — marked `⚡` and in red.
//!
//! - [`mermaid()`]: Mermaid text, which GitHub renders in Markdown.
//! - [`html()`]: one self-contained HTML page (inline SVG and CSS; no script, font or link to load)
//!   with the same diagram and the plain timeline below it.
//!
//! Both are pure functions of the events and violations. What they do not do: choose which
//! events matter (give them a shrunk counterexample, or a filtered trace, for a short diagram),
//! or pair a request with its reply (each event is one row at its own instant).

mod html;
mod lanes;
mod mermaid;

pub use html::html;
pub use lanes::{Lane, Lanes};
pub use mermaid::{escape as escape_mermaid, mermaid};

use crate::check::Violation;
use crate::sim::fmt_ms;

/// Details of a violation shown in a diagram's verdict before the rest are counted.
const DETAILS_MAX: usize = 5;

/// The verdict under a diagram, one line per violation and detail.
fn verdict_lines(violations: &[Violation], details_max: usize) -> Vec<String> {
    if violations.is_empty() {
        return vec!["✓ every invariant held".to_string()];
    }
    let mut lines = Vec::new();
    for v in violations {
        lines.push(format!("✗ {} `{}` violated at {}", v.kind, v.invariant, fmt_ms(v.t_ms)));
        lines.extend(v.details.iter().take(details_max).cloned());
        if v.details.len() > details_max {
            lines.push(format!("(+{} more)", v.details.len() - details_max));
        }
    }
    lines
}
