//! The simulated world: clock, event loop, oracle, network, actors with crash and restart, and
//! the trace. Nothing here knows about payments; providers and systems are built on top.
//!
//! - [`oracle`]: every nondeterministic choice, seeded or replayed.
//! - [`time`]: durations, latency ranges and rates as scenario files write them.
//! - [`calendar`]: days since the epoch ⇄ Gregorian dates, for timestamps in payloads.
//! - `clock`: the run's clock as actors read it, read from the runtime once per instant.
//! - [`world`]: the run (paused tokio runtime), phases, actors, crash/restart, marks, observer.
//! - [`net`]: per-message delivery to in-process axum routers, with faults.
//! - [`trace`]: the event log and the first divergence between two logs.
//! - [`tape`]: what the HTTP floor replays from a run, and the direct mode that replays it.

pub mod calendar;
mod clock;
pub mod net;
pub mod oracle;
pub mod tape;
pub mod time;
pub mod trace;
pub mod world;

pub use net::{NetConfig, NetError, PartitionConfig, PartitionKind, Request, Response};
pub use oracle::{Oracle, PPM};
pub use time::{Millis, Range, Rate};
pub use trace::{Divergence, Event, Kind, first_divergence};
pub use world::{CrashConfig, DEFAULT_EPOCH_MS, Factory, Phase, RunOutput, Sim, SimConfig, Step, fmt_ms};

/// The most a scenario may ask of one per-run count of faults or load events (`count_max`,
/// `outages_max`, an actor's `*_max` clicks, forgeries and the like). Each is drawn up front, so
/// an unbounded one would reserve memory for billions of events before the run starts.
pub const COUNT_MAX: u32 = 1_000;

/// `Err` naming `field` when `n` is above [`COUNT_MAX`].
pub fn count_at_most(field: &str, n: u32) -> Result<(), String> {
    if n > COUNT_MAX {
        return Err(format!("{field}: {n} is more than the {COUNT_MAX} a run can draw"));
    }
    Ok(())
}
