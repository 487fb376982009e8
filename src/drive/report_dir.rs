//! `settle drive --report-dir DIR`: for each failing run, a folder
//! `DIR/<scenario>.seed-<S>.run-<R>/` with the files `settle run --report-dir` writes for a
//! simulated failure, from the run's trace read as events ([`super::events`]):
//!
//! - `timeline.txt` — every event (`!` before a fault, `✗` before a verdict), the result, then the
//!   steps that matter ([`crate::report::story`]), under a header with the command that runs the
//!   seed again;
//! - `story.txt` — the steps that matter alone;
//! - `sequence.mmd` and `sequence.html` — the sequence diagram of those steps (Mermaid text; a
//!   self-contained HTML page with the plain timeline under it), lanes by the drive's parties
//!   ([`super::events::lanes`]);
//! - `report.json` and `junit.xml` — the run's JSON and JUnit reports ([`super::report`]).
//!
//! Files are written whole (through a temporary name, [`crate::report::dir::write_atomically`]).
//! What it does not do: write anything for a passing run, delete anything already in DIR, or
//! write a replay file (a drive's run depends on the service's timing; the command in the header
//! runs the seed again).

use std::path::{Path, PathBuf};

use super::Outcome;
use crate::Error;
use crate::report::dir::{folder_name, write_atomically};
use crate::report::{self, diagram};

/// The files written for a failing run, in the order they are written.
pub const FILES: [&str; 6] = ["timeline.txt", "story.txt", "sequence.mmd", "sequence.html", "report.json", "junit.xml"];

/// Writes the folder of every failing outcome; returns the folders written.
pub fn write_failures(
    dir: &Path,
    program: &str,
    path: &str,
    provider: &str,
    outcomes: &[Outcome],
    story_lines: usize,
) -> Result<Vec<PathBuf>, Error> {
    let stem = Path::new(path).file_stem().map_or("drive".into(), |s| s.to_string_lossy().into_owned());
    let mut written = Vec::new();
    for o in outcomes.iter().filter(|o| !o.violations.is_empty()) {
        let folder = dir.join(folder_name(&format!("{stem}.seed-{}.run-{}", o.seed, o.run)));
        std::fs::create_dir_all(&folder)
            .map_err(|e| Error::Infrastructure(format!("{}: cannot create: {e}", folder.display())))?;
        for (name, text) in FILES.iter().zip(files(program, path, provider, o, story_lines)) {
            write_atomically(&folder.join(name), &text)?;
        }
        written.push(folder);
    }
    Ok(written)
}

/// The texts of [`FILES`] for one failing outcome.
fn files(program: &str, path: &str, provider: &str, o: &Outcome, story_lines: usize) -> [String; 6] {
    let events = super::events::events(&o.trace, &o.violations);
    let names: Vec<&str> = o.violations.iter().map(|v| v.invariant.as_str()).collect();
    let header = format!(
        "{path} — seed {} run {} — {}\nrerun: {}",
        o.seed,
        o.run,
        names.join(", "),
        super::report::rerun(program, path, o.seed)
    );
    let story = report::story::story(&events, &o.violations);
    let focused = story.events(&events);
    let title = format!(
        "{header}\ndrawn: the {} step(s) that matter ({} of {} events; timeline.txt has them all)",
        story.steps.len(),
        focused.len(),
        events.len()
    );
    let lanes = super::events::lanes();
    let one = std::slice::from_ref(o);
    [
        report::timeline(&header, &events, &o.violations),
        format!("{header}\n{}", story.render(&events)),
        diagram::mermaid(&focused, &o.violations, &lanes),
        diagram::html(&title, &focused, &o.violations, &lanes),
        super::report::json(program, path, provider, one),
        super::report::junit(program, path, one, story_lines),
    ]
}
