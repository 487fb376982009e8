//! Progress of a long run: a bar on a terminal, plain lines in CI logs.
//!
//! Written to stderr so that stdout stays the report (`--format json > report.json`). On a
//! terminal an indicatif bar per scenario; otherwise one line each time another tenth of the
//! seeds is done (or every 10 s when the number of seeds is open, under a time budget).
//!
//! What it does not do: touch the simulation. Wall-clock time here only paces the output.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One scenario's progress reporter.
pub struct Progress {
    name: String,
    bar: Option<ProgressBar>,
    plain: Mutex<(u64, Instant)>,
}

impl Progress {
    /// A bar when stderr is a terminal and `enabled`; plain lines otherwise (nothing when not
    /// `enabled`).
    pub fn new(name: &str, enabled: bool) -> Option<Progress> {
        if !enabled {
            return None;
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} seeds {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar
        });
        Some(Progress { name: name.to_string(), bar, plain: Mutex::new((0, Instant::now())) })
    }

    /// Seeds done so far, out of `planned` when known.
    pub fn update(&self, done: u64, planned: Option<u64>) {
        if let Some(bar) = &self.bar {
            match planned {
                Some(n) => bar.set_length(n),
                None => bar.set_length(done),
            }
            bar.set_position(done);
            return;
        }
        let mut last = crate::sim::world::lock(&self.plain);
        let due = match planned {
            Some(n) if n >= 10 => done * 10 / n > last.0 * 10 / n || done == n,
            Some(n) => done == n,
            None => last.1.elapsed() >= Duration::from_secs(10),
        };
        if due && done > last.0 {
            match planned {
                Some(n) => eprintln!("{}: {done}/{n} seeds", self.name),
                None => eprintln!("{}: {done} seeds", self.name),
            }
            *last = (done, Instant::now());
        }
    }

    /// Clears the bar (plain mode prints nothing more).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
