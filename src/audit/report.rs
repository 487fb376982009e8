//! What an audit found, for any system: every invariant checked with its exact number of
//! violations, and the details of the first [`DETAILS_MAX`] per invariant, as a human report or
//! one JSON document. What it does not do: decide anything (the systems' invariant functions
//! do), or sort the details (they stay in the order the pass found them).

use std::collections::BTreeMap;

use serde::Serialize;

/// Violation details kept per invariant; counts stay exact beyond it.
pub const DETAILS_MAX: u64 = 1000;

/// One violation: the invariant, the row key (e.g. the order code) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub invariant: String,
    pub key: String,
    pub reason: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub system: String,
    /// The database URL, password redacted.
    pub database: String,
    pub as_of: i64,
    /// What the system checks one by one: `order` for `midtrans-orders`.
    pub subject: String,
    /// How many of them were checked (all of them: those a prefilter left out are proven clean).
    pub checked: u64,
    /// Lines in the provider export, if one was given.
    pub export_lines: Option<u64>,
    /// Every invariant checked → its number of violations (0 included).
    pub counts: BTreeMap<String, u64>,
    /// Details, at most [`DETAILS_MAX`] per invariant, in the order found.
    pub violations: Vec<Found>,
}

impl Report {
    /// An empty report that will check `invariants`.
    pub fn new(system: &str, database: &str, subject: &str, invariants: &[&str], export_lines: Option<u64>) -> Report {
        Report {
            system: system.to_string(),
            database: database.to_string(),
            subject: subject.to_string(),
            export_lines,
            counts: invariants.iter().map(|n| (n.to_string(), 0)).collect(),
            ..Report::default()
        }
    }

    /// Records `reason`, if any, against `invariant` for the row `key`.
    pub fn add(&mut self, invariant: &str, key: &str, reason: Option<String>) {
        let Some(reason) = reason else { return };
        let n = self.counts.entry(invariant.to_string()).or_default();
        *n += 1;
        if *n <= DETAILS_MAX {
            self.violations.push(Found { invariant: invariant.to_string(), key: key.to_string(), reason });
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The human report.
    pub fn human(&self) -> String {
        let mut out = format!(
            "audit {} on {}: {} {}(s) checked{}{}\n",
            self.system,
            self.database,
            self.checked,
            self.subject,
            // A system whose checks do not depend on a clock reports no instant.
            if self.as_of == 0 { String::new() } else { format!(", as of {}", self.as_of) },
            self.export_lines
                .map_or(", no provider export".into(), |n| format!(", {n} line(s) in the provider export"))
        );
        for f in &self.violations {
            // The invariants' reasons usually open with the row key already.
            let reason = f.reason.strip_prefix(&format!("{}: ", f.key)).unwrap_or(&f.reason);
            out += &format!("  ✗ {}  {}: {reason}\n", f.invariant, f.key);
        }
        for (name, n) in &self.counts {
            let more = n.saturating_sub(DETAILS_MAX);
            let note = if more > 0 { format!(" ({more} not listed)") } else { String::new() };
            out += &format!("  {n:>8}  {name}{note}\n");
        }
        out += &format!("{} violation(s)\n", self.total());
        out
    }

    /// One JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_exact_beyond_the_details_kept() {
        let mut r = Report::new("s", "db", "order", &["a", "b"], None);
        for i in 0..DETAILS_MAX + 5 {
            r.add("a", &format!("K{i}"), Some("K: wrong".into()));
            r.add("b", "K", None);
        }
        assert_eq!(r.counts["a"], DETAILS_MAX + 5);
        assert_eq!(r.counts["b"], 0);
        assert_eq!(r.violations.len() as u64, DETAILS_MAX);
        assert!(r.human().contains(&format!("{:>8}  a (5 not listed)", DETAILS_MAX + 5)), "{}", r.human());
    }
}
