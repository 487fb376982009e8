//! Names a mapping may put into SQL: [`Ident`] (a table or column, `[A-Za-z_][A-Za-z0-9_]*`) and
//! [`TableName`] (a table, optionally schema-qualified: `shop.orders`). Both are checked when
//! they are parsed, so nothing else can ever be interpolated into SQL. What it does not do:
//! quote names (they are written as they are, so PostgreSQL folds them to lower case as it does
//! for any unquoted name), or check that they exist.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A table or column name: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ident(String);

impl Ident {
    /// Checks `s`; the error says what is wrong with it.
    pub fn new(s: &str) -> Result<Ident, String> {
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !ok_start || s.len() > 63 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{s:?} is not a plain identifier: use letters, digits and underscores only \
                 (starting with a letter or underscore, at most 63 characters)"
            ));
        }
        Ok(Ident(s.to_string()))
    }

    /// A built-in name, known to be plain.
    pub fn lit(s: &'static str) -> Ident {
        debug_assert!(Ident::new(s).is_ok(), "{s}");
        Ident(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ident::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A table, optionally in a schema (PostgreSQL) or database (MySQL): `orders`, `shop.orders`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    pub schema: Option<Ident>,
    pub name: Ident,
}

impl TableName {
    /// Checks `s`: one or two plain identifiers separated by a dot.
    pub fn new(s: &str) -> Result<TableName, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let bad = |e: String| format!("table {s:?}: {e}");
        match parts.as_slice() {
            [name] => Ok(TableName { schema: None, name: Ident::new(name).map_err(bad)? }),
            [schema, name] => {
                Ok(TableName { schema: Some(Ident::new(schema).map_err(bad)?), name: Ident::new(name).map_err(bad)? })
            }
            _ => Err(format!("table {s:?}: expected `table` or `schema.table`")),
        }
    }

    /// A built-in table name without a schema.
    pub fn lit(s: &'static str) -> TableName {
        TableName { schema: None, name: Ident::lit(s) }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

impl Serialize for TableName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TableName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        assert!(Ident::new("order_code").is_ok());
        assert!(Ident::new("_x1").is_ok());
        for bad in ["", "1a", "a b", "a;drop", "a\"", "a.b", "ä"] {
            assert!(Ident::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tables_may_name_their_schema() {
        assert_eq!(TableName::new("shop.orders").unwrap().to_string(), "shop.orders");
        assert_eq!(TableName::new("orders").unwrap(), TableName::lit("orders"));
        for bad in ["a.b.c", ".orders", "shop.", "shop.or ders", "x;y.z"] {
            assert!(TableName::new(bad).is_err(), "{bad:?}");
        }
    }
}
