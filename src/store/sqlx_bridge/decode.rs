//! Result rows to [`Value`]s, per driver: integers, booleans and integral NUMERIC/DECIMAL
//! become [`Value::Int`], text becomes [`Value::Text`], anything else is a [`SqlError::Decode`]
//! naming the column. It does not bind parameters or run statements.

use sqlx::error::BoxDynError;
use sqlx::mysql::MySqlRow;
use sqlx::postgres::{PgRow, PgValueFormat, PgValueRef, Postgres};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Decode, Row as _, TypeInfo, ValueRef};

use super::postgres::{PG_BOOL, PG_FLOAT4, PG_FLOAT8, PG_INT2, PG_INT4, PG_INT8, PG_NUMERIC, pg_base, pg_numeric_text};
use crate::store::{Row, SqlError, Value};

/// The failure to decode column `i`, naming it.
fn decode_err(i: usize, name: &str, e: impl std::fmt::Display) -> SqlError {
    SqlError::Decode(format!("column {i} ({name}): {e}"))
}

fn unsupported(i: usize, name: &str, ty: &str) -> SqlError {
    SqlError::Decode(format!(
        "column {i} ({name}) has type {ty}, which settle does not decode; CAST it to an integer or text"
    ))
}

/// Decodes by each value's own storage class, as SQLite types values, not columns; REAL and
/// BLOB become text exactly as the rusqlite backend renders them.
pub(super) fn lite_row(row: &SqliteRow) -> Result<Row, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name();
        let raw = row.try_get_raw(i).map_err(|e| decode_err(i, name, e))?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let err = |e: sqlx::Error| decode_err(i, name, e);
        let ty = raw.type_info().name().to_string();
        values.push(match ty.as_str() {
            "INTEGER" => Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
            "TEXT" => Value::Text(row.try_get_unchecked::<String, _>(i).map_err(err)?),
            "REAL" => Value::Text(row.try_get_unchecked::<f64, _>(i).map_err(err)?.to_string()),
            "BLOB" => Value::Text(hex::encode(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(err)?)),
            other => return Err(unsupported(i, name, other)),
        });
    }
    Ok(Row(values))
}

pub(super) fn my_row(row: &MySqlRow) -> Result<Row, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name();
        let raw = row.try_get_raw(i).map_err(|e| decode_err(i, name, e))?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let err = |e: sqlx::Error| decode_err(i, name, e);
        let ty = col.type_info().name();
        values.push(match ty {
            "BIGINT" | "INT" | "MEDIUMINT" | "SMALLINT" | "TINYINT" | "BOOLEAN" => {
                Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(err)?)
            }
            "BIGINT UNSIGNED" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED" | "SMALLINT UNSIGNED" | "TINYINT UNSIGNED" => {
                let n = row.try_get_unchecked::<u64, _>(i).map_err(err)?;
                Value::Int(i64::try_from(n).map_err(|_| decode_err(i, name, format!("{n} does not fit in i64")))?)
            }
            // SUM over integers is DECIMAL; the binary protocol sends it as text.
            "DECIMAL" => decimal_value(&row.try_get_unchecked::<String, _>(i).map_err(err)?),
            "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "JSON" => {
                Value::Text(row.try_get_unchecked::<String, _>(i).map_err(err)?)
            }
            // Expressions sometimes come back with the binary collation; they are still text.
            "VARBINARY" | "BINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                let bytes = row.try_get_unchecked::<Vec<u8>, _>(i).map_err(err)?;
                Value::Text(String::from_utf8(bytes).map_err(|_| unsupported(i, name, "binary (not UTF-8)"))?)
            }
            "DOUBLE" => Value::Text(row.try_get_unchecked::<f64, _>(i).map_err(err)?.to_string()),
            "FLOAT" => Value::Text(row.try_get_unchecked::<f32, _>(i).map_err(err)?.to_string()),
            other => return Err(unsupported(i, name, other)),
        });
    }
    Ok(Row(values))
}

pub(super) fn pg_row(row: &PgRow) -> Result<Row, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name();
        let raw = row.try_get_raw(i).map_err(|e| decode_err(i, name, e))?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let err = |e: sqlx::Error| decode_err(i, name, e);
        values.push(match pg_base(col.type_info()) {
            (Some(PG_INT8), _) => Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
            (Some(PG_INT4), _) => Value::Int(row.try_get_unchecked::<i32, _>(i).map_err(err)?.into()),
            (Some(PG_INT2), _) => Value::Int(row.try_get_unchecked::<i16, _>(i).map_err(err)?.into()),
            (Some(PG_BOOL), _) => Value::Int(row.try_get_unchecked::<bool, _>(i).map_err(err)?.into()),
            (Some(PG_NUMERIC), _) => pg_numeric_value(&raw).map_err(|e| decode_err(i, name, e))?,
            (Some(PG_FLOAT8), _) => Value::Text(row.try_get_unchecked::<f64, _>(i).map_err(err)?.to_string()),
            (Some(PG_FLOAT4), _) => Value::Text(row.try_get_unchecked::<f32, _>(i).map_err(err)?.to_string()),
            (_, true) => {
                Value::Text(<&str as Decode<Postgres>>::decode(raw).map_err(|e| decode_err(i, name, e))?.to_string())
            }
            _ => return Err(unsupported(i, name, col.type_info().name())),
        });
    }
    Ok(Row(values))
}

/// A NUMERIC value: integral ones (what `SUM` over BIGINT gives) as [`Value::Int`].
fn pg_numeric_value(raw: &PgValueRef<'_>) -> Result<Value, BoxDynError> {
    let text = match raw.format() {
        PgValueFormat::Text => raw.as_str()?.to_string(),
        PgValueFormat::Binary => pg_numeric_text(raw.as_bytes()?)?,
    };
    Ok(decimal_value(&text))
}

/// A DECIMAL or NUMERIC rendered as text: integral values that fit become [`Value::Int`], so
/// `SUM(amount)` reads the same on every backend; anything else stays text.
pub(super) fn decimal_value(text: &str) -> Value {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.bytes().all(|c| c == b'0')
        && let Ok(n) = int.parse::<i64>()
    {
        return Value::Int(n);
    }
    Value::Text(text.to_string())
}
