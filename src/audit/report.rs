//! What an audit found, for any system: every invariant checked with its exact number of
//! violations, the details of the first [`DETAILS_MAX`] per invariant, each with the fix an
//! auditor would make; what the audit read (its inputs: mapping digest, export and window,
//! thresholds, as-of), warnings about the inputs, findings the allowlist excused (with their
//! reasons), and the legitimate states seen — as a human report grouped per order, one JSON
//! document, or CSV rows for a spreadsheet. What it does not do: decide anything (the systems'
//! invariant functions do).

use std::collections::BTreeMap;

use serde::Serialize;

use super::allow::Allowlist;
use super::time::Zone;

/// Violation details kept per invariant; counts stay exact beyond it.
pub const DETAILS_MAX: u64 = 1000;

/// One violation: the invariant, the row key (e.g. the order code), the reason, and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub invariant: String,
    pub key: String,
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// A finding the allowlist excused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allowed {
    #[serde(flatten)]
    pub found: Found,
    pub allowed_because: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub system: String,
    /// The database URL, password redacted.
    pub database: String,
    /// Epoch ms; 0 for a system whose checks read no clock.
    pub as_of: i64,
    /// What the system checks one by one: `order` for `midtrans-orders`.
    pub subject: String,
    /// How many of them were checked (all of them: those a prefilter left out are proven clean).
    pub checked: u64,
    /// Lines in the provider export, if one was given.
    pub export_lines: Option<u64>,
    /// What the audit read and with which settings: files and their digests, the window, the
    /// thresholds, the zone times are printed in.
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Problems with the inputs that did not stop the audit; printed before any finding.
    pub warnings: Vec<String>,
    /// Every invariant checked → its number of violations (0 included), allowlisted ones left out.
    pub counts: BTreeMap<String, u64>,
    /// Details, at most [`DETAILS_MAX`] per invariant, in the order found.
    pub violations: Vec<Found>,
    /// Findings the allowlist excused.
    pub allowed: Vec<Allowed>,
    /// Legitimate states seen (e.g. `challenge`: held for fraud review) → how many orders.
    pub states: BTreeMap<String, u64>,
    /// The zone times are printed in.
    #[serde(skip)]
    pub zone: Zone,
    #[serde(skip)]
    pub allowlist: Option<Allowlist>,
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
        self.add_with_fix(invariant, key, reason, String::new());
    }

    /// Records `reason`, if any, with the fix an auditor would make; an allowlisted finding is
    /// kept apart with the allowlist's reason.
    pub fn add_with_fix(&mut self, invariant: &str, key: &str, reason: Option<String>, fix: String) {
        let Some(reason) = reason else { return };
        let found = Found { invariant: invariant.to_string(), key: key.to_string(), reason, fix };
        if let Some(why) = self.allowlist.as_mut().and_then(|a| a.excuse(key, invariant)) {
            self.allowed.push(Allowed { found, allowed_because: why });
            return;
        }
        let n = self.counts.entry(invariant.to_string()).or_default();
        *n += 1;
        if *n <= DETAILS_MAX {
            self.violations.push(found);
        }
    }

    /// Counts one order in a legitimate state.
    pub fn state(&mut self, name: &str) {
        *self.states.entry(name.to_string()).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Notes the allowlist entries nothing matched, as warnings (call once, at the end).
    pub fn finish(&mut self) {
        if let Some(a) = &self.allowlist {
            self.warnings.extend(a.unused());
        }
    }

    /// The human report: inputs, warnings, findings grouped per order with their fixes,
    /// excused findings, legitimate states, counts.
    pub fn human(&self) -> String {
        let mut out = format!(
            "audit {} on {}: {} {}(s) checked{}{}\n",
            self.system,
            self.database,
            self.checked,
            self.subject,
            // A system whose checks do not depend on a clock reports no instant.
            if self.as_of == 0 { String::new() } else { format!(", as of {}", self.zone.iso(self.as_of)) },
            self.export_lines
                .map_or(", no provider export".into(), |n| format!(", {n} line(s) in the provider export"))
        );
        for (name, value) in &self.inputs {
            let shown = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out += &format!("  {name}: {shown}\n");
        }
        for w in &self.warnings {
            out += &format!("  ⚠ warning: {w}\n");
        }
        let mut by_key: BTreeMap<&str, Vec<&Found>> = BTreeMap::new();
        for f in &self.violations {
            by_key.entry(&f.key).or_default().push(f);
        }
        for (key, found) in &by_key {
            out += &format!("✗ {key}\n");
            for f in found {
                out += &format!("    {}: {}\n", f.invariant, f.reason);
                if !f.fix.is_empty() {
                    out += &format!("      fix: {}\n", f.fix);
                }
            }
        }
        for a in &self.allowed {
            out += &format!(
                "  allowed  {} {}: {} (allowlist: {})\n",
                a.found.key, a.found.invariant, a.found.reason, a.allowed_because
            );
        }
        for (state, n) in &self.states {
            out += &format!("  {n:>8}  in a legitimate state: {state}\n");
        }
        for (name, n) in &self.counts {
            let more = n.saturating_sub(DETAILS_MAX);
            let note = if more > 0 { format!(" ({more} not listed)") } else { String::new() };
            out += &format!("  {n:>8}  {name}{note}\n");
        }
        let orders = by_key.len();
        out += &format!("{} violation(s) in {orders} {}(s)\n", self.total(), self.subject);
        out
    }

    /// One JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The findings as CSV (RFC 4180), one row per finding, sorted by key: `key,invariant,
    /// finding,fix`, then the excused ones with `allowed_because` filled.
    pub fn csv(&self) -> String {
        let cell = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        };
        let mut out = format!("{},invariant,finding,fix,allowed_because\r\n", self.subject);
        let mut rows: Vec<(&Found, &str)> = self.violations.iter().map(|f| (f, "")).collect();
        rows.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        rows.extend(self.allowed.iter().map(|a| (&a.found, a.allowed_because.as_str())));
        for (f, why) in rows {
            out += &[&f.key, &f.invariant, &f.reason, &f.fix, why].map(&cell).join(",");
            out += "\r\n";
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_exact_beyond_the_details_kept() {
        let mut r = Report::new("s", "db", "order", &["a", "b"], None);
        for i in 0..DETAILS_MAX + 5 {
            r.add("a", &format!("K{i}"), Some("wrong".into()));
            r.add("b", "K", None);
        }
        assert_eq!(r.counts["a"], DETAILS_MAX + 5);
        assert_eq!(r.counts["b"], 0);
        assert_eq!(r.violations.len() as u64, DETAILS_MAX);
        assert!(r.human().contains(&format!("{:>8}  a (5 not listed)", DETAILS_MAX + 5)), "{}", r.human());
    }

    #[test]
    fn findings_are_grouped_per_key_with_their_fixes_and_quoted_in_csv() {
        let mut r = Report::new("s", "db", "order", &["a", "b"], None);
        r.add_with_fix("b", "K2", Some("says \"x\", y".into()), "do z".into());
        r.add_with_fix("a", "K1", Some("one".into()), String::new());
        r.add_with_fix("a", "K2", Some("two".into()), "fix two".into());
        let human = r.human();
        let k2 = human.find("✗ K2").unwrap();
        assert!(human.find("✗ K1").unwrap() < k2, "{human}");
        assert!(human[k2..].starts_with("✗ K2\n    b: says \"x\", y\n      fix: do z\n    a: two\n"), "{human}");
        assert!(human.ends_with("3 violation(s) in 2 order(s)\n"), "{human}");
        let csv = r.csv();
        assert!(csv.starts_with("order,invariant,finding,fix,allowed_because\r\nK1,a,one,,\r\n"), "{csv}");
        assert!(csv.contains("K2,b,\"says \"\"x\"\", y\",do z,\r\n"), "{csv}");
    }
}
