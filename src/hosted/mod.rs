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
