//! `settle`: a deterministic simulator and consistency checker for payment synchronization.
//!
//! The crate is layered, and every arrow points down:
//!
//! ```text
//! cli → audit → scenario, report → systems → providers, check → sim, store
//! ```
//!
//! - [`sim`]: the world — simulated clock, one oracle for every choice, the per-message network,
//!   actors with crash and restart, the trace. It knows nothing of payments.
//! - [`store`]: units of work against a database (embedded SQLite, or sqlx), with injected latency,
//!   outages, slow commits and lost answers.
//! - [`providers`]: simulated payment providers with their real wire formats and retry schedules.
//! - [`check`]: invariants (`always`, `eventually`, `sometimes`) and the checker that runs them.
//! - [`systems`]: reference reconciliation logic per system, with named flaws that reintroduce
//!   real bugs.
//! - [`scenario`]: scenario files, validation with `file:line:col` errors, and the seed runner.
//! - [`report`]: human timelines and summaries, JUnit XML, sequence diagrams (Mermaid, HTML).
//! - [`cli`]: the command line, one module per subcommand (`src/main.rs` only calls it).
//! - [`testing`]: your own system under settle from an ordinary `#[test]`, with saved
//!   counterexamples replayed first, as proptest does.
//! - [`audit`]: the same invariants, read-only, against a live database settle did not create.
//! - [`alloc`]: the global allocator the binary and the benches name (mimalloc, word-aligned
//!   requests through its plain entry points).
//! - `turmoil` (cargo feature `turmoil`): settle's providers as hosts, a seeded load and settle's
//!   invariants inside a user's own turmoil simulation.

pub mod alloc;
pub mod audit;
pub mod check;
pub mod cli;
pub mod drive;
pub mod error;
pub mod hosted;
pub mod providers;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod store;
pub mod systems;
pub mod testing;
#[cfg(feature = "turmoil")]
pub mod turmoil;

pub use error::{Error, ExitCode};
