//! Values and rows crossing the store boundary, the same for every backend.
//!
//! Only what settle's SQL needs: NULL, 64-bit integers (money in minor units, ids, epoch
//! milliseconds) and text. No floats: money is never a float, and timestamps are integers so
//! every backend stores them with the same precision.

use std::fmt;

use super::SqlError;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    #[default]
    Null,
    Int(i64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn get(&self, i: usize) -> Result<&Value, SqlError> {
        self.0.get(i).ok_or_else(|| SqlError::Decode(format!("no column {i} in a row of {}", self.0.len())))
    }

    pub fn int(&self, i: usize) -> Result<i64, SqlError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            // Some backends return DECIMAL sums as text; accept integral text.
            Value::Text(s) => {
                s.parse().map_err(|_| SqlError::Decode(format!("column {i}: expected an integer, found {s:?}")))
            }
            Value::Null => Err(SqlError::Decode(format!("column {i}: expected an integer, found NULL"))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, SqlError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, SqlError> {
        match self.get(i)? {
            Value::Text(s) => Ok(s.clone()),
            Value::Int(v) => Ok(v.to_string()),
            Value::Null => Err(SqlError::Decode(format!("column {i}: expected text, found NULL"))),
        }
    }

    /// Moves text out of column `i` (leaving NULL), for readers that consume rows and would
    /// otherwise copy every string.
    pub fn take_text(&mut self, i: usize) -> Result<String, SqlError> {
        match self.0.get_mut(i).map(std::mem::take) {
            Some(Value::Text(s)) => Ok(s),
            Some(Value::Int(v)) => Ok(v.to_string()),
            Some(Value::Null) => Err(SqlError::Decode(format!("column {i}: expected text, found NULL"))),
            None => Err(SqlError::Decode(format!("no column {i} in a row of {}", self.0.len()))),
        }
    }

    /// Like [`Row::take_text`], NULL allowed.
    pub fn take_opt_text(&mut self, i: usize) -> Result<Option<String>, SqlError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.take_text(i).map(Some),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, SqlError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// One cell of a row read in place ([`RowView`]): text borrowed from the driver's buffer where
/// it can be, with the same contents [`Value`] would hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Text(std::borrow::Cow<'a, str>),
}

/// A result row read in place, for readers that look at millions of rows and keep few
/// (`settle audit`): no [`Value`] or `String` is built for a cell unless asked.
pub trait RowView {
    /// How many columns the row has.
    fn width(&self) -> usize;
    /// Column `i`.
    fn cell(&self, i: usize) -> Result<Cell<'_>, SqlError>;
    /// Column `i` when it is NULL or an integer (`Some(None)`, `Some(Some(n))`); `None` when it
    /// is anything else or cannot be read. What [`RowView::cell`] says, without building a
    /// [`Cell`] where a backend can avoid it.
    fn opt_int(&self, i: usize) -> Option<Option<i64>> {
        match self.cell(i).ok()? {
            Cell::Null => Some(None),
            Cell::Int(n) => Some(Some(n)),
            Cell::Text(_) => None,
        }
    }
    /// Column `i` when it is NULL or text; `None` when it is an integer or cannot be read. As
    /// [`RowView::opt_int`], for text.
    fn opt_text(&self, i: usize) -> Option<Option<std::borrow::Cow<'_, str>>> {
        match self.cell(i).ok()? {
            Cell::Null => Some(None),
            Cell::Text(t) => Some(Some(t)),
            Cell::Int(_) => None,
        }
    }
    /// The row, owned, exactly as [`super::Backend::query`] gives it.
    fn to_row(&self) -> Result<Row, SqlError> {
        (0..self.width())
            .map(|i| {
                Ok(match self.cell(i)? {
                    Cell::Null => Value::Null,
                    Cell::Int(v) => Value::Int(v),
                    Cell::Text(t) => Value::Text(t.into_owned()),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Row)
    }
}

impl RowView for Row {
    fn width(&self) -> usize {
        self.0.len()
    }

    fn cell(&self, i: usize) -> Result<Cell<'_>, SqlError> {
        Ok(match self.get(i)? {
            Value::Null => Cell::Null,
            Value::Int(v) => Cell::Int(*v),
            Value::Text(s) => Cell::Text(std::borrow::Cow::Borrowed(s)),
        })
    }

    fn to_row(&self) -> Result<Row, SqlError> {
        Ok(self.clone())
    }
}
