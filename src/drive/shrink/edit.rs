//! The edits `settle drive --shrink` tries on a drive file, applied to its text with `toml_edit`
//! so the user's comments, order and layout survive and only the changed keys differ; and the
//! rewrite of relative paths when the shrunk file is written in another folder.
//!
//! What it does not do: decide which edit to try (see [`super`]) or validate the result (the
//! shrinker parses every candidate with [`crate::drive::scenario::parse`]).

use std::path::Path;

use toml_edit::{Array, DocumentMut, Item, Value, value};

/// One change to a drive file's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// `[table] key = n` (from `was`), e.g. `[run] customers`, `[crashes] count`.
    Count { table: &'static str, key: &'static str, was: u32, to: u32 },
    /// `[run] hold_only = [k, …]`.
    HoldOnly(Vec<u32>),
    /// `[table] key` removed (its default is "off").
    Off { table: &'static str, key: &'static str },
    /// The whole `[table]` removed.
    Drop { table: &'static str },
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::Count { table, key, was, to } => write!(f, "[{table}] {key} {was} → {to}"),
            Edit::HoldOnly(l) => write!(f, "[run] hold_only = {}", list(l)),
            Edit::Off { table, key } => write!(f, "[{table}] {key} off"),
            Edit::Drop { table } => write!(f, "[{table}] removed"),
        }
    }
}

/// `[1, 3]`.
pub fn list(l: &[u32]) -> String {
    format!("[{}]", l.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
}

/// Parses a drive file's text for editing; `None` when it is not TOML (it was parsed before).
pub fn document(text: &str) -> Option<DocumentMut> {
    text.parse().ok()
}

/// The table `name` of `doc` (a `[name]` table or an inline one), created when absent.
fn table<'a>(doc: &'a mut DocumentMut, name: &str) -> Option<&'a mut dyn toml_edit::TableLike> {
    if !doc.contains_key(name) {
        doc.insert(name, Item::Table(toml_edit::Table::new()));
    }
    doc.get_mut(name)?.as_table_like_mut()
}

/// Applies `e` to `doc`; `false` when it cannot (a table of another shape).
pub fn apply(doc: &mut DocumentMut, e: &Edit) -> bool {
    match e {
        Edit::Count { table: t, key, to, .. } => set(doc, t, key, value(i64::from(*to))),
        Edit::HoldOnly(l) => {
            let arr: Array = l.iter().map(|&k| Value::from(i64::from(k))).collect();
            set(doc, "run", "hold_only", value(arr))
        }
        Edit::Off { table: t, key } => {
            doc.get_mut(t).and_then(Item::as_table_like_mut).and_then(|tbl| tbl.remove(key)).is_some()
        }
        Edit::Drop { table: t } => doc.remove(t).is_some(),
    }
}

/// Sets `[t] key = v`, keeping the decoration (comment, spacing) of a value already there.
fn set(doc: &mut DocumentMut, t: &str, key: &str, mut v: Item) -> bool {
    let Some(tbl) = table(doc, t) else { return false };
    if let (Some(old), Some(new)) = (tbl.get(key).and_then(Item::as_value), v.as_value_mut()) {
        *new.decor_mut() = old.decor().clone();
    }
    tbl.insert(key, v);
    true
}

/// `doc` for a file written in `to_dir` instead of `from_dir` (both absolute): `[service] cwd`
/// (absent: the file's folder) and `[check] mapping` become absolute paths into `from_dir`, so
/// they name what they named. Nothing changes when the folders are the same.
pub fn relocate(doc: &mut DocumentMut, from_dir: &Path, to_dir: &Path) -> Result<(), String> {
    if from_dir == to_dir {
        return Ok(());
    }
    let shown = |p: &Path| {
        p.to_str().map(str::to_string).ok_or_else(|| format!("{} is not UTF-8: cannot name it in TOML", p.display()))
    };
    let cwd = match doc.get("service").and_then(|s| s.get("cwd")).and_then(Item::as_str) {
        Some(c) => from_dir.join(c),
        None => from_dir.to_path_buf(),
    };
    // A service that settle does not start has no working folder to keep.
    let started = doc.get("service").and_then(|s| s.get("command")).is_some();
    if started && !set(doc, "service", "cwd", value(shown(&cwd)?)) {
        return Err("[service] is not a table".into());
    }
    if let Some(m) = doc.get("check").and_then(|c| c.get("mapping")).and_then(Item::as_str) {
        let m = shown(&from_dir.join(m))?;
        if !set(doc, "check", "mapping", value(m)) {
            return Err("[check] is not a table".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# The shop, with its bug.\n[service]\ncommand = [\"python3\", \"shop.py\"]\n\
        env = { SHOP_BUG = \"1\" }   # the bug\nhealth = \"/health\"\n\n\
        [check]\nmapping = \"../audit/m.toml\"\n\n\
        [run]\ncustomers = 6    # six customers\nrace = 0.5\n\n\
        # Faults on notifications.\n[faults]\ndrop = 0.1\nduplicate = 0.2\n\n[crashes]\nevery = { min = \"1m\", max = \"2m\" }\n";

    /// The lines of `a` not in `b`, in order.
    fn only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
        a.lines().filter(|l| !b.lines().any(|m| m == *l)).collect()
    }

    #[test]
    fn edits_change_only_their_keys_and_keep_comments() {
        let mut doc = document(FILE).unwrap();
        assert!(apply(&mut doc, &Edit::Count { table: "run", key: "customers", was: 6, to: 2 }));
        assert!(apply(&mut doc, &Edit::HoldOnly(vec![2])));
        assert!(apply(&mut doc, &Edit::Off { table: "faults", key: "drop" }));
        assert!(apply(&mut doc, &Edit::Drop { table: "crashes" }));
        let out = doc.to_string();
        assert_eq!(only_in(&out, FILE), vec!["customers = 2    # six customers", "hold_only = [2]"]);
        assert_eq!(
            only_in(FILE, &out),
            vec![
                "customers = 6    # six customers",
                "drop = 0.1",
                "[crashes]",
                "every = { min = \"1m\", max = \"2m\" }"
            ]
        );
        assert!(out.contains("# Faults on notifications.\n[faults]\nduplicate = 0.2"), "{out}");
        // The result still reads as the same plan with the changes.
        let t: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(t["run"]["customers"].as_integer(), Some(2));
        assert_eq!(t["run"]["hold_only"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn an_edit_of_what_is_not_there_says_so() {
        let mut doc = document(FILE).unwrap();
        assert!(!apply(&mut doc, &Edit::Off { table: "database", key: "reset" }));
        assert!(!apply(&mut doc, &Edit::Drop { table: "database" }));
        assert_eq!(doc.to_string(), FILE);
        // A missing [run] is created for a count.
        let mut doc = document("[service]\nhealth = \"/\"\n").unwrap();
        assert!(apply(&mut doc, &Edit::Count { table: "run", key: "customers", was: 8, to: 1 }));
        assert!(doc.to_string().contains("[run]\ncustomers = 1\n"), "{doc}");
    }

    #[test]
    fn relocation_makes_the_service_folder_and_mapping_absolute() {
        let mut doc = document(FILE).unwrap();
        relocate(&mut doc, Path::new("/a/ex"), Path::new("/a/ex")).unwrap();
        assert_eq!(doc.to_string(), FILE);
        relocate(&mut doc, Path::new("/a/ex"), Path::new("/tmp/out")).unwrap();
        let out = doc.to_string();
        assert_eq!(only_in(&out, FILE), vec!["cwd = \"/a/ex\"", "mapping = \"/a/ex/../audit/m.toml\""]);
        let mut doc = document("[service]\ncommand = [\"x\"]\ncwd = \"srv\"\n").unwrap();
        relocate(&mut doc, Path::new("/a"), Path::new("/b")).unwrap();
        assert_eq!(doc.to_string(), "[service]\ncommand = [\"x\"]\ncwd = \"/a/srv\"\n");
    }
}
