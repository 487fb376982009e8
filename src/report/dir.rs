//! `--report-dir DIR`: the files a developer opens after a failing CI run.
//!
//! For each scenario whose run set has a failure (the first failing seed; its shrunk form when
//! shrinking ran), a folder `DIR/<scenario name>/` with:
//! - `replay.json` — a replay file: `settle replay DIR/<name>/replay.json` runs it again;
//! - `timeline.txt` — the counterexample's timeline;
//! - `sequence.mmd` and `sequence.html` — the sequence diagram of its steps that matter (see
//!   [`super::story`]; Mermaid text; a self-contained HTML page).
//!
//! Files are written whole (to a temporary name, then renamed), so an interrupted run never
//! leaves half a file. What it does not do: delete anything already in DIR.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::scenario::replay_file::Recorded;
use crate::scenario::runner::run_system;
use crate::scenario::{ReplayFile, Scenario, Summary};
use crate::sim::Oracle;
use crate::systems::System;

/// Creates `dir` if needed and proves a file can be written in it (before any run, so a bad
/// folder costs nothing); an existing file in its place is an error.
pub fn prepare(dir: &Path) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!("--report-dir {}: exists and is not a folder", dir.display())));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Usage(format!("--report-dir {}: cannot create: {e}", dir.display())))?;
    let probe = dir.join(format!(".settle-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| Error::Usage(format!("--report-dir {}: cannot write there: {e}", dir.display())))
}

/// Writes `text` to `path` through a temporary file in the same folder.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Infrastructure(format!("{}: cannot write: {e}", path.display())))
}

/// `<scenario stem>.seed-<S>.replay.json` in the current folder.
pub fn default_replay_path(scenario: &Path, seed: u64) -> PathBuf {
    let stem = scenario.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.seed-{seed}.replay.json"))
}

/// A folder name from a scenario name: letters, digits, `-`, `_`, `.`; the rest become `_`.
pub fn folder_name(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') { format!("scenario{s}") } else { s }
}

/// Writes the failure report of one scenario (nothing when its run set had no failure).
/// Returns the files written.
pub fn write_failure(
    dir: &Path,
    path: &Path,
    s: &Scenario,
    system: &dyn System,
    summary: &Summary,
    backends: &crate::scenario::Backends,
) -> Result<Vec<PathBuf>, Error> {
    let (Some(seed), Some(v)) = (summary.first_seed, &summary.first_violation) else {
        return Ok(Vec::new());
    };
    let folder = dir.join(folder_name(&s.name));
    std::fs::create_dir_all(&folder)
        .map_err(|e| Error::Infrastructure(format!("{}: cannot create: {e}", folder.display())))?;
    let (choices, shrunk, report) = match &summary.shrunk {
        Some(k) => (k.choices.clone(), true, k.report.clone()),
        None => {
            let r = run_system(system, s, Oracle::random(seed), true, backends.connect()?)?;
            (r.choices.clone(), false, r)
        }
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let replay = folder.join("replay.json");
    let run = Recorded { system: system.name(), events: &report.events };
    let file = ReplayFile::new(run, &summary.path, &text, seed, &v.invariant, shrunk, choices);
    let header = format!(
        "{} — seed {seed}{} — {}\nreplay: {} replay {}",
        s.name,
        if shrunk { " shrunk" } else { "" },
        v.invariant,
        summary.program,
        replay.display()
    );
    let timeline = folder.join("timeline.txt");
    let mermaid = folder.join("sequence.mmd");
    let html = folder.join("sequence.html");
    write_atomically(&replay, &file.to_json())?;
    write_atomically(&timeline, &super::timeline(&header, &report.events, &report.violations))?;
    // The diagrams draw the steps that matter; the timeline keeps every event.
    let story = super::story::story(&report.events, &report.violations);
    let focused = story.events(&report.events);
    let title = format!(
        "{header}\ndrawn: the {} step(s) that matter ({} of {} events; timeline.txt has them all)",
        story.steps.len(),
        focused.len(),
        report.events.len()
    );
    let lanes = super::diagram::Lanes::of(&system.info().actors);
    write_atomically(&mermaid, &super::diagram::mermaid(&focused, &report.violations, &lanes))?;
    write_atomically(&html, &super::diagram::html(&title, &focused, &report.violations, &lanes))?;
    Ok(vec![replay, timeline, mermaid, html])
}
