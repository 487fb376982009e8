//! Reading a mapping file (TOML) into a system's own mapping type: unknown keys, wrong types and
//! whatever the type's own deserialisation refuses (e.g. identifiers that are not plain) are
//! errors naming `file:line:col`. What it does not do: know any system's tables, or check that
//! they exist (the audit's first query does).

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::Error;

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, col)
}

/// Parses mapping text; `path` names it in errors.
pub fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
        Error::Scenario { location: format!("{path}:{line}:{col}"), message: e.message().trim_end().to_string() }
    })
}

/// Reads a mapping file: its text, and the name to show in errors.
pub fn read(path: &Path) -> Result<(String, String), Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("{shown}: cannot read the mapping file: {e}")))?;
    Ok((text, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let e = parse::<T>("\n  a = \"x\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:7: invalid type"), "{e}");
        let e = parse::<T>("a = 1\nb = 2\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:1: unknown field `b`"), "{e}");
    }
}
