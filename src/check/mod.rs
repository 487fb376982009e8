//! Invariants and the checker that runs them, the schema mapping they read ([`mapping`]), and
//! the money invariants every system shares ([`money`]).
//!
//! Three kinds, as in stateright and TigerBeetle's simulator:
//! - `always`: must hold after every step that changed the database. The checker runs them
//!   after each unit of work that wrote a row, and stops the run at the first violation, so the
//!   trace ends where the invariant broke.
//! - `eventually`: must hold at the end of the liveness phase (faults healed, load closed).
//! - `sometimes`: a mark that must be reached by at least one seed of a run set, proving that a
//!   fault fired or an interesting branch ran, so that a green run is never a vacuous one.
//!
//! Invariants are written against a system-defined context (typically the database plus the
//! provider's ground truth), mostly as SQL that returns the violating rows, so the same
//! definitions can run read-only against a live database.
//!
//! A check that cannot read what it checks (a query that fails, a snapshot that cannot be read)
//! is not a violation: it is a [`CheckFailure`], which ends the run as an infrastructure error,
//! because a verdict built on an unreadable database would be a guess.
//!
//! What it does not verify: an `always` invariant is not re-checked after steps that wrote
//! nothing (messages, read-only units), and after a unit with a key it is checked for that key
//! only. That is sound for invariants over database state and monotone ground truth (the
//! provider's history only grows) as long as a keyed unit writes only its key's rows, which is
//! all settle defines; an invariant over non-monotone outside state must be an `eventually` one.

mod checker;
mod invariant;
pub mod mapping;
pub mod money;

pub use checker::CheckFailure;
pub use checker::{Checker, Coverage, install, is_violation_event};
pub use invariant::{CheckCtx, Finding, Invariant, InvariantKind, Sometimes, Violation, violations_from_rows};
