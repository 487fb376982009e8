//! What the transports that serve settle's providers to a service settle does not run itself
//! share: the trace of the run ([`trace`]) and seed 001's invariants over that service's own
//! database against the provider's ground truth ([`check`]), and Midtrans's Snap create
//! transaction and Core API charge over the model ([`snap`], [`core_api`]).
//!
//! Two transports use it: `src/turmoil/` (the providers as hosts in a user's turmoil
//! simulation, cargo feature `turmoil`) and `src/drive/` (the providers over real HTTP on
//! 127.0.0.1 for a service in any language, `settle drive`).
//!
//! What it does not do: serve anything, or run a clock; the transports do.

pub mod check;
pub mod core_api;
pub mod http;
pub mod snap;
pub mod trace;

pub use check::{OrderChecks, story};
pub use trace::{Recorder, TRACE_LINES_MAX, TraceLine};

/// The [`crate::providers::kit::Runtime`] methods a hosted transport answers from its world alone:
/// the actor's name, the oracle, recording, marks, faults and the phase. Expands inside
/// `impl Runtime for X` where `self.world` has `choose`, `record`, `recorder` and `phase` (the
/// drive's and turmoil's worlds) and `self.actor` is a `String`; the transport writes the rest
/// (its clock, sleeps, tasks and sends).
macro_rules! runtime_from_world {
    () => {
        fn actor(&self) -> &str {
            &self.actor
        }

        fn with_oracle(&self, f: &mut dyn FnMut(&mut $crate::sim::Oracle)) {
            self.world.choose(|o| f(o));
        }

        fn recording(&self) -> bool {
            true
        }

        fn record(&self, kind: $crate::sim::Kind, text: &mut dyn FnMut() -> String) {
            self.world.record(&self.actor, kind, text());
        }

        fn mark(&self, name: &str) {
            self.world.recorder().mark(name);
        }

        fn fault(&self, mark: &str, text: &mut dyn FnMut() -> String) {
            self.world.recorder().mark(mark);
            self.world.record(&self.actor, $crate::sim::Kind::Fault, text());
        }

        fn phase(&self) -> $crate::sim::Phase {
            self.world.phase()
        }
    };
}
pub(crate) use runtime_from_world;
