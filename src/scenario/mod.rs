//! Scenario files: TOML that names a system, its flaws, load, timing, faults and what to expect.
//!
//! Parsing is strict: unknown keys, wrong types, impossible ranges, unknown flaws, invariants or
//! actors are errors that name the file, line and column and what was expected. A parsed file
//! prints back to TOML that parses to the same scenario (a tested round trip).
//!
//! - [`mod@file`]: the format and its validation.
//! - `locate`: the line of the key a validation message names.
//! - [`runner`]: running seeds of a scenario and judging the run set.
//! - [`determinism`]: running each seed twice and finding the first divergence.
//! - [`pool`]: running seeds on N threads with results independent of N.
//! - [`shrink`]: reducing a failing run to a minimal counterexample.
//! - [`explore`]: bounded-exhaustive enumeration of the first K choices.
//! - [`replay_file`]: saved counterexamples that `settle replay` runs again.

pub mod determinism;
pub mod explore;
pub mod file;
mod locate;
pub mod pool;
pub mod replay_file;
pub mod runner;
pub mod shrink;

pub use determinism::{Nondeterminism, check_determinism};
pub use file::{Expect, Outcome, Scenario, load, load_with, parse, parse_with};
pub use replay_file::ReplayFile;
pub use runner::{
    Backends, RunOptions, SeedSelection, Shard, Summary, Verdict, replay_command, run_choices, run_one, run_scenario,
    run_scenario_opts, run_scenario_with,
};
