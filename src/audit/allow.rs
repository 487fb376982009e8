//! The allowlist (`--allowlist FILE`): known exceptions an auditor has already looked at, each
//! with its reason, so a finding that is understood stops counting as a violation but stays in
//! the report (under "allowed", with the reason). TOML:
//!
//! ```toml
//! [[allow]]
//! order = "ZVR-0042"
//! invariant = "pending-not-stuck"   # optional: every invariant of that order
//! reason = "paid by bank transfer outside Midtrans; finance ticket FIN-311"
//! ```
//!
//! A missing or empty reason, an unknown key, or an unknown invariant is an error naming
//! `file:line:col`; an entry that excused nothing is a warning in the report (a stale entry
//! hides nothing, but should go). What it does not do: excuse whole invariants or patterns.

use std::path::Path;

use serde::Deserialize;

use crate::check::mapping as file;
use crate::error::Error;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    order: String,
    invariant: Option<String>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    allow: Vec<Entry>,
}

/// The allowlist, and which entries excused something.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    entries: Vec<(Entry, bool)>,
    shown: String,
}

impl Allowlist {
    /// Parses allowlist text; `invariants` are the names a finding can have.
    pub fn parse(text: &str, shown: &str, invariants: &[&str]) -> Result<Allowlist, Error> {
        let doc: Doc = file::parse(text, shown)?;
        for (i, e) in doc.allow.iter().enumerate() {
            let at = |key: &str, message: String| {
                let location =
                    locate_entry(text, i, key).map_or(shown.to_string(), |(l, c)| format!("{shown}:{l}:{c}"));
                Error::Scenario { location, message }
            };
            if e.reason.trim().is_empty() {
                return Err(at("reason", format!("allow entry {} ({}): the reason must not be empty", i + 1, e.order)));
            }
            if e.order.is_empty() {
                return Err(at("order", format!("allow entry {}: the order must not be empty", i + 1)));
            }
            if let Some(inv) = &e.invariant
                && !invariants.contains(&inv.as_str())
            {
                return Err(at(
                    "invariant",
                    format!(
                        "allow entry {}: unknown invariant {inv:?}; expected one of {}",
                        i + 1,
                        invariants.join(", ")
                    ),
                ));
            }
        }
        Ok(Allowlist { entries: doc.allow.into_iter().map(|e| (e, false)).collect(), shown: shown.to_string() })
    }

    /// Reads an allowlist file.
    pub fn load(path: &Path, invariants: &[&str]) -> Result<Allowlist, Error> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("{shown}: cannot read the allowlist: {e}")))?;
        Allowlist::parse(&text, &shown, invariants)
    }

    /// The reason a finding of `invariant` on `key` is excused, if it is (and marks it used).
    pub fn excuse(&mut self, key: &str, invariant: &str) -> Option<String> {
        let (e, used) = self
            .entries
            .iter_mut()
            .find(|(e, _)| e.order == key && e.invariant.as_deref().is_none_or(|i| i == invariant))?;
        *used = true;
        Some(e.reason.clone())
    }

    /// Warnings for the entries that excused nothing.
    pub fn unused(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, used)| !used)
            .map(|(e, _)| {
                format!(
                    "{}: the allow entry for {}{} excused nothing: remove it if the problem is gone",
                    self.shown,
                    e.order,
                    e.invariant.as_deref().map_or(String::new(), |i| format!(" ({i})"))
                )
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Line and column of `key` in the `index`-th `[[allow]]` table (or of the table itself).
fn locate_entry(text: &str, index: usize, key: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let (_, list) = doc.get_ref().iter().find(|(k, _)| k.get_ref().as_ref() == "allow")?;
    let DeValue::Array(items) = list.get_ref() else { return None };
    let item = items.get(index)?;
    let offset = match item.get_ref() {
        DeValue::Table(t) => {
            t.iter().find(|(k, _)| k.get_ref().as_ref() == key).map_or(item.span().start, |(_, v)| v.span().start)
        }
        _ => item.span().start,
    };
    Some(file::line_col(text, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &[&str] = &["pending-not-stuck", "paid-at-iff-paid"];

    #[test]
    fn entries_excuse_findings_and_report_when_unused() {
        let text = "[[allow]]\norder = \"A\"\nreason = \"known\"\n\n[[allow]]\norder = \"B\"\ninvariant = \"paid-at-iff-paid\"\nreason = \"ticket 7\"\n";
        let mut a = Allowlist::parse(text, "a.toml", INV).unwrap();
        assert_eq!(a.excuse("A", "pending-not-stuck").as_deref(), Some("known"));
        assert_eq!(a.excuse("B", "pending-not-stuck"), None);
        assert_eq!(a.unused().len(), 1);
        assert!(a.unused()[0].contains("the allow entry for B (paid-at-iff-paid) excused nothing"));
    }

    #[test]
    fn every_entry_needs_a_reason_and_a_known_invariant() {
        let e = Allowlist::parse("[[allow]]\norder = \"A\"\nreason = \" \"\n", "a.toml", INV).unwrap_err().to_string();
        assert!(e.starts_with("a.toml:3:10: allow entry 1 (A): the reason must not be empty"), "{e}");
        let e = Allowlist::parse("[[allow]]\norder = \"A\"\n", "a.toml", INV).unwrap_err().to_string();
        assert!(e.contains("missing field `reason`"), "{e}");
        let text = "[[allow]]\norder = \"A\"\ninvariant = \"stuck\"\nreason = \"x\"\n";
        let e = Allowlist::parse(text, "a.toml", INV).unwrap_err().to_string();
        assert!(e.starts_with("a.toml:3:13: allow entry 1: unknown invariant \"stuck\""), "{e}");
    }
}
