//! Replay files: a counterexample that `settle replay FILE` runs again, exactly.
//!
//! A replay file is JSON holding the scenario's own text (so it still replays after the
//! scenario file changes or moves), the seed it came from, the invariant it violates and the
//! oracle's choice list. Replaying feeds the list to an oracle in replay mode; past its end
//! every choice is 0, so a shrunk list is short.
//!
//! It also says *what* it replays: the system's name (a user's own system has its own, so the
//! reference is never replayed in its place), the settle version that wrote it, and a fingerprint
//! of the run's first events. Replaying it with another system, or with a changed one whose run
//! no longer starts the same way, is refused with exit 2 ([`ReplayFile::check_system`],
//! [`ReplayFile::check_run`]) — it never silently runs something else.
//!
//! What it does not do: record the backend (traces are backend-identical) or the trace itself
//! (the replay recomputes it).

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::sim::Event;
use crate::systems::Registry;

use super::file::{Scenario, parse_with};

/// The format tag every replay file starts with.
pub const FORMAT: &str = "settle-replay/2";
/// The format before replay files said what they replay (still read; not checked).
const FORMAT_1: &str = "settle-replay/1";
/// How many of a run's first events its fingerprint covers.
pub const FINGERPRINT_EVENTS: usize = 64;

/// The fingerprint of a run: a digest of its first [`FINGERPRINT_EVENTS`] events.
pub fn fingerprint(events: &[Event]) -> String {
    let mut h = Sha256::new();
    for e in events.iter().take(FINGERPRINT_EVENTS) {
        h.update(e.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// A saved counterexample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    pub format: String,
    /// The system that failed (its name in scenario files and registries).
    #[serde(default)]
    pub system: String,
    /// The settle version that wrote the file.
    #[serde(default)]
    pub settle_version: String,
    /// [`fingerprint`] of the run as it was recorded.
    #[serde(default)]
    pub fingerprint: String,
    /// Where the scenario was read from (for people; the text below is what runs).
    pub scenario_path: String,
    /// The scenario file's text.
    pub scenario: String,
    /// The seed the failure was found with.
    pub seed: u64,
    /// The invariant the run violates.
    pub invariant: String,
    /// Whether the choices were shrunk from the seed's.
    pub shrunk: bool,
    pub choices: Vec<u64>,
}

/// What a replay file records of the run it came from.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    /// The system's name.
    pub system: &'a str,
    /// The run's recorded events (for the fingerprint).
    pub events: &'a [Event],
}

impl ReplayFile {
    pub fn new(
        run: Recorded<'_>,
        scenario_path: &str,
        scenario: &str,
        seed: u64,
        invariant: &str,
        shrunk: bool,
        choices: Vec<u64>,
    ) -> Self {
        ReplayFile {
            format: FORMAT.to_string(),
            system: run.system.to_string(),
            settle_version: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint: fingerprint(run.events),
            scenario_path: scenario_path.to_string(),
            scenario: scenario.to_string(),
            seed,
            invariant: invariant.to_string(),
            shrunk,
            choices,
        }
    }

    /// Pretty JSON (fields in declaration order) with the choice list on one line.
    pub fn to_json(&self) -> String {
        let empty = ReplayFile { choices: Vec::new(), ..self.clone() };
        let text = serde_json::to_string_pretty(&empty).unwrap_or_default();
        let choices = serde_json::to_string(&self.choices).unwrap_or_default();
        text.replacen("\"choices\": []", &format!("\"choices\": {choices}"), 1) + "\n"
    }

    /// Parses a replay file's text; errors name `path` and the line and column.
    pub fn parse(text: &str, path: &str) -> Result<ReplayFile, Error> {
        let r: ReplayFile = serde_json::from_str(text)
            .map_err(|e| Error::Usage(format!("{path}:{}:{}: not a settle replay file: {e}", e.line(), e.column())))?;
        if r.format != FORMAT && r.format != FORMAT_1 {
            return Err(Error::Usage(format!(
                "{path}: unknown replay format {:?}; this settle reads {FORMAT:?}",
                r.format
            )));
        }
        Ok(r)
    }

    /// Reads a replay file.
    pub fn load(path: &Path) -> Result<ReplayFile, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read replay file {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The scenario it replays, read against `registry`; errors point into the embedded text.
    pub fn scenario(&self, path: &str, registry: &Registry) -> Result<Scenario, Error> {
        parse_with(&self.scenario, &format!("{path} (embedded scenario {})", self.scenario_path), registry)
    }

    /// Refuses to replay with a system other than the one that failed.
    pub fn check_system(&self, path: &str, system: &str) -> Result<(), Error> {
        if self.system.is_empty() || self.system == system {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{path}: recorded with system {:?}, but this replay would run {system:?}; replay it where {:?} is \
             registered (the program or test that found it)",
            self.system, self.system
        )))
    }

    /// Refuses a file whose recorded invariant is not one of `known` (the system's): it was
    /// edited, and the replay could only ever say the invariant holds.
    pub fn check_invariant(&self, path: &str, system: &str, known: &[&str]) -> Result<(), Error> {
        if known.contains(&self.invariant.as_str()) {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{path}: the recorded invariant {:?} is not one of {system}'s: {}",
            self.invariant,
            known.join(", ")
        )))
    }

    /// Refuses a replay whose run does not start the way the recorded one did: the system or
    /// settle changed since the file was written, so it would run something else.
    pub fn check_run(&self, path: &str, events: &[Event]) -> Result<(), Error> {
        let now = fingerprint(events);
        if self.fingerprint.is_empty() || self.fingerprint == now {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{path}: the replayed run diverges from the recorded one within its first {FINGERPRINT_EVENTS} events \
             (fingerprint {} recorded by settle {}, {now} now): the system {:?} or settle changed since it was \
             written, so this is no longer the counterexample it saved",
            self.fingerprint,
            if self.settle_version.is_empty() { "?" } else { &self.settle_version },
            self.system
        )))
    }
}

/// True when `path` looks like a replay file rather than a scenario (by its extension).
pub fn is_replay_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_files() {
        let run = Recorded { system: "midtrans-orders", events: &[] };
        let r = ReplayFile::new(run, "s.toml", "name = \"x\"\n", 7, "inv", true, vec![1, 0, 3]);
        let text = r.to_json();
        assert!(text.contains("\"choices\": [1,0,3]"), "{text}");
        assert_eq!(ReplayFile::parse(&text, "f.json").unwrap(), r);
        let err = ReplayFile::parse("{\"format\": 1}", "f.json").unwrap_err().to_string();
        assert!(err.starts_with("f.json:1:"), "{err}");
        let other = text.replace(FORMAT, "settle-replay/9");
        assert!(ReplayFile::parse(&other, "f.json").unwrap_err().to_string().contains("unknown replay format"));
    }
}
