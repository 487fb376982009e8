//! Scenario files: TOML that names a system, its flaws, load, timing, faults and what to expect.
//!
//! Parsing is strict: unknown keys, wrong types, impossible ranges, unknown flaws, invariants or
//! actors are errors that name the file, line and column and what was expected. A parsed file
//! prints back to TOML that parses to the same scenario (a tested round trip).
//!
//! - [`mod@file`]: the format and its validation.
//! - [`runner`]: running seeds of a scenario and judging the run set.
//! - [`determinism`]: running each seed twice and finding the first divergence.

pub mod determinism;
pub mod file;
pub mod runner;

pub use determinism::{Nondeterminism, check_determinism};
pub use file::{Expect, Outcome, Scenario, load, parse};
pub use runner::{Backends, SeedSelection, Summary, Verdict, replay_command, run_one, run_scenario, run_scenario_with};
