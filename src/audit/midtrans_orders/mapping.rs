//! The `midtrans-orders` mapping file: [`Mapping`] in TOML, every section and key optional and
//! defaulting to the seed-001 schema; unknown keys, wrong types and identifiers that are not plain
//! (letters, digits, underscores) are errors naming `file:line:col`.
//! What it does not do: check that the tables and columns exist (the audit's first query does).

use std::path::Path;

use crate::error::Error;
use crate::systems::midtrans_orders::mapping::Mapping;

/// Parses mapping text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<Mapping, Error> {
    let mapping: Mapping = super::super::mapping::parse(text, path)?;
    if mapping.statuses.paid.is_empty() || mapping.statuses.pending.is_empty() {
        return Err(Error::Scenario {
            location: path.to_string(),
            message: "statuses.paid and statuses.pending must not be empty".into(),
        });
    }
    Ok(mapping)
}

/// Reads a mapping file.
pub fn load(path: &Path) -> Result<Mapping, Error> {
    let (text, shown) = super::super::mapping::read(path)?;
    parse(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_seed_001() {
        assert_eq!(parse("", "m.toml").unwrap(), Mapping::default());
    }

    #[test]
    fn shipped_example_is_seed_001() {
        let text = include_str!("../../../examples/audit/seed001_mapping.toml");
        assert_eq!(parse(text, "seed001_mapping.toml").unwrap(), Mapping::default());
    }

    #[test]
    fn bad_identifier_and_unknown_key_are_located() {
        let e = parse("[orders]\ntable = \"orders\"\ncode = \"code; DROP TABLE x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:3:8: "), "{e}");
        assert!(e.to_string().contains("not a plain identifier"), "{e}");
        let e = parse("[orders]\ncolour = \"x\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("m.toml:2:1: unknown field `colour`"), "{e}");
    }
}
