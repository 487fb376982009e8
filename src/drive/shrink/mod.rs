//! `settle drive --shrink`: a failing seed's plan made smaller while it still fails.
//!
//! The plan is the drive file itself, so a candidate is the file's text with one edit
//! ([`edit::Edit`], applied with `toml_edit`, comments and layout kept), parsed and validated as
//! any drive file and run with the same seed. Greedy, smallest first (as delta debugging does),
//! one pass per part of the plan, the passes repeated while one keeps something:
//!
//! - Midtrans: fewer customers (`[run] customers`: 1, half, one less), fewer held messages
//!   (`[run] hold_only = [k]` for each customer the last failing run held), each webhook fault off
//!   (`[faults]` drop, duplicate, delay), each database fault off (`[database]` latency, reset,
//!   lost_commit, outages, hold_commit), no crashes or fewer (`[crashes]`);
//! - Fanvue: fewer creators (`[fanvue] creators`), fewer batch imports (`[fanvue] batches`), the
//!   database faults and the crashes as above.
//!
//! A candidate still fails when one of `runs` runs (stopping at the first that fails) violates an
//! invariant the original failure violated; the service's own timing varies, so each step says
//! how many runs it took and how many failed. `budget` caps the candidate runs.
//!
//! What it does not do: shrink amounts, timings or the Midtrans model's own settings
//! (`[midtrans]`), search for a different failure than the one it started from, or promise a
//! minimum: a candidate that failed once may pass the next time (the replay says so).

pub mod edit;
pub mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use edit::Edit;

use super::scenario::{self, Drive};
use super::{Checks, Outcome};
use crate::Error;

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Runs of one candidate (it still fails when one of them does).
    pub runs: u32,
    /// Candidate runs in all.
    pub budget: u32,
}

/// One candidate tried.
#[derive(Clone, Debug)]
pub struct Step {
    pub edit: Edit,
    pub runs: u32,
    pub failed: u32,
    pub kept: bool,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.runs == 1 { "" } else { "s" };
        if self.kept {
            write!(f, "kept     {}: still fails (failed {} of {} run{s})", self.edit, self.failed, self.runs)
        } else {
            write!(f, "not kept {}: passed {} of {} run{s}", self.edit, self.runs - self.failed, self.runs)
        }
    }
}

/// The result of a shrink.
pub struct Shrunk {
    /// The shrunk file's text (paths relative to the original's folder).
    pub text: String,
    /// It, parsed.
    pub drive: Drive,
    pub steps: Vec<Step>,
    /// The kept plan's last failing run (the original's when nothing was kept).
    pub failing: Outcome,
    /// The invariants the original failure violated.
    pub invariants: Vec<String>,
    /// Candidate runs spent.
    pub runs: u32,
}

impl Shrunk {
    /// The kept edits, in order.
    pub fn kept(&self) -> impl Iterator<Item = &Edit> {
        self.steps.iter().filter(|s| s.kept).map(|s| &s.edit)
    }
}

struct Shrinker<'a> {
    checks: &'a Checks,
    path: &'a Path,
    seed: u64,
    settings: Settings,
    invariants: BTreeSet<String>,
    text: String,
    drive: Drive,
    failing: Outcome,
    steps: Vec<Step>,
    runs: u32,
    /// Candidate texts already run and not kept: a later cycle does not run them again.
    rejected: BTreeSet<String>,
}

/// Shrinks `original`'s seed of the failing run `failed`; `on_step` hears each candidate tried.
pub async fn shrink(
    checks: &Checks,
    original: &Drive,
    failed: Outcome,
    settings: Settings,
    mut on_step: impl FnMut(&Step),
) -> Result<Shrunk, Error> {
    let path = Path::new(&original.path);
    let mut s = Shrinker {
        checks,
        path,
        seed: failed.seed,
        settings,
        invariants: failed.violations.iter().map(|v| v.invariant.clone()).collect(),
        text: original.text.clone(),
        drive: scenario::parse(original.text.clone(), path)?,
        failing: failed,
        steps: Vec::new(),
        runs: 0,
        rejected: BTreeSet::new(),
    };
    // Each cycle tries every pass; another cycle only when one kept something.
    for _ in 0..3 {
        let mut progress = false;
        for pass in s.passes() {
            for group in pass(&s) {
                progress |= s.first_that_fails(group, &mut on_step).await?;
            }
        }
        if !progress || s.exhausted() {
            break;
        }
    }
    let Shrinker { text, drive, steps, failing, runs, invariants, .. } = s;
    Ok(Shrunk { text, drive, steps, failing, invariants: invariants.into_iter().collect(), runs })
}

/// A pass: groups of alternative edits, each group's tried smallest first until one still fails.
type Pass = fn(&Shrinker<'_>) -> Vec<Vec<Edit>>;

impl Shrinker<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.settings.budget
    }

    fn passes(&self) -> Vec<Pass> {
        if self.drive.file.run.provider.get_ref() == "fanvue" {
            vec![creators, batches, database, crashes]
        } else {
            vec![customers, hold_only, faults, database, crashes]
        }
    }

    /// Tries `group`'s edits in order; keeps the first that still fails.
    async fn first_that_fails(&mut self, group: Vec<Edit>, on_step: &mut impl FnMut(&Step)) -> Result<bool, Error> {
        for e in group {
            if self.exhausted() {
                return Ok(false);
            }
            let Some(mut doc) = edit::document(&self.text) else { return Ok(false) };
            if !edit::apply(&mut doc, &e) {
                continue;
            }
            let text = doc.to_string();
            if self.rejected.contains(&text) {
                continue;
            }
            // An edit that names what is not there, or that no longer validates, is no candidate.
            let Ok(mut d) = scenario::parse(text.clone(), self.path) else { continue };
            (d.file.run.seed, d.file.run.runs) = (Some(self.seed), 1);
            let (mut runs, mut failed) = (0, None);
            while runs < self.settings.runs && failed.is_none() && !self.exhausted() {
                runs += 1;
                self.runs += 1;
                let o = self.checks.run_once(&d, self.seed, runs).await?;
                if o.violations.iter().any(|v| self.invariants.contains(&v.invariant)) {
                    failed = Some(o);
                }
            }
            let step = Step { edit: e, runs, failed: u32::from(failed.is_some()), kept: failed.is_some() };
            on_step(&step);
            self.steps.push(step);
            if let Some(o) = failed {
                (self.text, self.drive, self.failing) = (text, d, o);
                return Ok(true);
            }
            self.rejected.insert(text);
        }
        Ok(false)
    }
}

/// Where the shrunk file goes without `--shrink-out`: `<stem>.seed-<S>.shrunk.toml` beside the input.
pub fn default_out(input: &Path, seed: u64) -> PathBuf {
    let stem = input.file_stem().map_or("drive".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.seed-{seed}.shrunk.toml"))
}

/// Checks `--shrink-out PATH` before anything runs: its folder must exist, it must not be one,
/// nor the `input` file itself (the shrunk plan never overwrites the user's file).
pub fn check_out(out: &Path, input: &Path) -> Result<(), Error> {
    if out.canonicalize().is_ok_and(|o| input.canonicalize().is_ok_and(|i| i == o)) {
        return Err(Error::Usage(format!(
            "--shrink-out {}: is the drive file itself; name another file",
            out.display()
        )));
    }
    let dir = folder_of(out);
    if !dir.is_dir() {
        return Err(Error::Usage(format!("--shrink-out {}: folder {} does not exist", out.display(), dir.display())));
    }
    if out.is_dir() {
        return Err(Error::Usage(format!("--shrink-out {}: is a folder; name the file to write", out.display())));
    }
    Ok(())
}

/// The folder a file path is in (`.` for a bare name).
fn folder_of(p: &Path) -> PathBuf {
    p.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Writes the shrunk plan to `out` whole (a temporary file, then a rename), its relative paths
/// rewritten when `out` is in another folder than the input's `input_dir`; proves it parses there.
pub fn write(k: &Shrunk, input_dir: &Path, out: &Path) -> Result<(), Error> {
    let canon = |p: &Path| {
        p.canonicalize().map_err(|e| Error::Usage(format!("{}: cannot resolve the folder: {e}", p.display())))
    };
    let (from, to) = (canon(input_dir)?, canon(&folder_of(out))?);
    let mut doc = edit::document(&k.text)
        .ok_or_else(|| Error::Infrastructure("the shrunk plan is no longer TOML (a bug in settle)".into()))?;
    edit::relocate(&mut doc, &from, &to)
        .map_err(|m| Error::Usage(format!("--shrink-out {}: cannot rewrite the file's paths: {m}", out.display())))?;
    let text = doc.to_string();
    scenario::parse(text.clone(), out)
        .map_err(|e| Error::Infrastructure(format!("the shrunk plan does not load from {}: {e}", out.display())))?;
    crate::report::dir::write_atomically(out, &text)
}

/// Counts below `n` down to `floor`, smallest first: `floor`, half, one less.
fn fewer(n: u32, floor: u32) -> Vec<u32> {
    let mut v: Vec<u32> = [floor, n / 2, n.saturating_sub(1)].into_iter().filter(|&m| m >= floor && m < n).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn count(table: &'static str, key: &'static str, was: u32, floor: u32) -> Vec<Edit> {
    fewer(was, floor).into_iter().map(|to| Edit::Count { table, key, was, to }).collect()
}

fn customers(s: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    let r = &s.drive.file.run;
    let floor = r.hold_only.as_ref().and_then(|l| l.iter().max().copied()).unwrap_or(1).max(1);
    vec![count("run", "customers", r.customers, floor)]
}

/// One held customer at a time, of those the last failing run held.
fn hold_only(s: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    let held = &s.failing.held;
    let already = s.drive.file.run.hold_only.as_ref();
    let singles: Vec<Edit> = held
        .iter()
        .filter(|&&k| already.is_none_or(|l| l.len() > 1 || l.first() != Some(&k)))
        .map(|&k| Edit::HoldOnly(vec![k]))
        .collect();
    vec![singles]
}

fn off(table: &'static str, keys: &[&'static str]) -> Vec<Vec<Edit>> {
    keys.iter().map(|&key| vec![Edit::Off { table, key }]).collect()
}

fn faults(_: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    off("faults", &["drop", "duplicate", "delay"])
}

fn database(_: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    off("database", &["latency", "reset", "lost_commit", "outages", "hold_commit"])
}

fn crashes(s: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    let Some(c) = &s.drive.file.crashes else { return Vec::new() };
    let mut group = vec![Edit::Drop { table: "crashes" }];
    group.extend(count("crashes", "count", c.get_ref().count, 1));
    vec![group]
}

fn creators(s: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    vec![count("fanvue", "creators", s.drive.file.fanvue.creators, 1)]
}

fn batches(s: &Shrinker<'_>) -> Vec<Vec<Edit>> {
    vec![count("fanvue", "batches", s.drive.file.fanvue.batches, 0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_is_smallest_first_and_below_n() {
        assert_eq!(fewer(6, 1), vec![1, 3, 5]);
        assert_eq!(fewer(2, 1), vec![1]);
        assert_eq!(fewer(1, 1), Vec::<u32>::new());
        assert_eq!(fewer(6, 4), vec![4, 5]);
        assert_eq!(fewer(3, 0), vec![0, 1, 2]);
    }
}
