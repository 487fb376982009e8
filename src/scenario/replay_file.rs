//! Replay files: a counterexample that `settle replay FILE` runs again, exactly.
//!
//! A replay file is JSON holding the scenario's own text (so it still replays after the
//! scenario file changes or moves), the seed it came from, the invariant it violates and the
//! oracle's choice list. Replaying feeds the list to an oracle in replay mode; past its end
//! every choice is 0, so a shrunk list is short.
//!
//! What it does not do: record the backend (traces are backend-identical) or the trace itself
//! (the replay recomputes it).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

use super::file::{Scenario, parse};

/// The format tag every replay file starts with.
pub const FORMAT: &str = "settle-replay/1";

/// A saved counterexample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    pub format: String,
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

impl ReplayFile {
    pub fn new(
        scenario_path: &str,
        scenario: &str,
        seed: u64,
        invariant: &str,
        shrunk: bool,
        choices: Vec<u64>,
    ) -> Self {
        ReplayFile {
            format: FORMAT.to_string(),
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
        if r.format != FORMAT {
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

    /// The scenario it replays; errors point into the embedded text.
    pub fn scenario(&self, path: &str) -> Result<Scenario, Error> {
        parse(&self.scenario, &format!("{path} (embedded scenario {})", self.scenario_path))
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
        let r = ReplayFile::new("s.toml", "name = \"x\"\n", 7, "inv", true, vec![1, 0, 3]);
        let text = r.to_json();
        assert!(text.contains("\"choices\": [1,0,3]"), "{text}");
        assert_eq!(ReplayFile::parse(&text, "f.json").unwrap(), r);
        let err = ReplayFile::parse("{\"format\": 1}", "f.json").unwrap_err().to_string();
        assert!(err.starts_with("f.json:1:"), "{err}");
        let other = text.replace(FORMAT, "settle-replay/9");
        assert!(ReplayFile::parse(&other, "f.json").unwrap_err().to_string().contains("unknown replay format"));
    }
}
