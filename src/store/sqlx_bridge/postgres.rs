//! Postgres values on the wire: built-in type OIDs, the base type behind a domain or enum, each
//! parameter encoded for the type Postgres inferred for it, and binary NUMERIC both ways.
//! It does not rewrite placeholders ([`super::sql`]) or decode whole rows ([`super::decode`]).

use std::fmt::Write as _;

use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgTypeKind, Postgres};
use sqlx::{Encode, Type, TypeInfo, encode::IsNull};

use crate::store::{SqlError, Value};

// Built-in type OIDs (pg_type.dat); these never change.
pub(super) const PG_BOOL: u32 = 16;
const PG_NAME: u32 = 19;
pub(super) const PG_INT8: u32 = 20;
pub(super) const PG_INT2: u32 = 21;
pub(super) const PG_INT4: u32 = 23;
const PG_TEXT: u32 = 25;
pub(super) const PG_FLOAT4: u32 = 700;
pub(super) const PG_FLOAT8: u32 = 701;
const PG_UNKNOWN: u32 = 705;
const PG_BPCHAR: u32 = 1042;
const PG_VARCHAR: u32 = 1043;
pub(super) const PG_NUMERIC: u32 = 1700;

/// The type a value is stored as: a domain's base type, an enum as text.
pub(super) fn pg_base(ty: &PgTypeInfo) -> (Option<u32>, bool) {
    let mut ty = ty;
    // Domains over domains are allowed; a handful of levels is plenty.
    for _ in 0..8 {
        match ty.kind() {
            PgTypeKind::Domain(base) => ty = base,
            PgTypeKind::Enum(_) => return (Some(PG_TEXT), true),
            _ => break,
        }
    }
    let oid = ty.oid().map(|o| o.0);
    let is_text = matches!(oid, Some(PG_TEXT | PG_VARCHAR | PG_BPCHAR | PG_NAME | PG_UNKNOWN))
        || ty.name().eq_ignore_ascii_case("citext");
    (oid, is_text)
}

/// One parameter, already encoded for the type Postgres inferred for it.
pub(super) struct PgParam {
    ty: PgTypeInfo,
    /// Binary wire format; `None` is NULL.
    bytes: Option<Vec<u8>>,
}

impl Type<Postgres> for PgParam {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(PG_UNKNOWN))
    }
}

impl Encode<'_, Postgres> for PgParam {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match &self.bytes {
            None => Ok(IsNull::Yes),
            Some(b) => {
                buf.extend_from_slice(b);
                Ok(IsNull::No)
            }
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.ty.clone())
    }

    fn size_hint(&self) -> usize {
        self.bytes.as_ref().map_or(0, Vec::len)
    }
}

/// Encodes parameter `i` (0-based) for the type Postgres inferred for it.
pub(super) fn pg_param(i: usize, value: Value, ty: &PgTypeInfo) -> Result<PgParam, SqlError> {
    let (oid, is_text) = pg_base(ty);
    let refuse = |what: &str| {
        SqlError::Other(format!(
            "parameter ${} has type {}; settle cannot bind {what} to it (write a CAST in the SQL)",
            i + 1,
            ty.name()
        ))
    };
    let int = |v: &Value| -> Result<i64, SqlError> {
        match v {
            Value::Int(n) => Ok(*n),
            Value::Text(s) => s.trim().parse().map_err(|_| refuse("non-integer text")),
            Value::Null => Err(refuse("NULL")),
        }
    };
    let range = |_| refuse("an integer out of its range");
    let bytes = match (&value, oid) {
        (Value::Null, _) => None,
        (_, Some(PG_INT8)) => Some(int(&value)?.to_be_bytes().to_vec()),
        (_, Some(PG_INT4)) => Some(i32::try_from(int(&value)?).map_err(range)?.to_be_bytes().to_vec()),
        (_, Some(PG_INT2)) => Some(i16::try_from(int(&value)?).map_err(range)?.to_be_bytes().to_vec()),
        (_, Some(PG_BOOL)) => match int(&value)? {
            0 => Some(vec![0]),
            1 => Some(vec![1]),
            _ => return Err(refuse("an integer other than 0 or 1")),
        },
        (_, Some(PG_NUMERIC)) => Some(pg_numeric_bytes(int(&value)?)),
        (Value::Text(s), _) if is_text => Some(s.as_bytes().to_vec()),
        (Value::Int(n), _) if is_text => Some(n.to_string().into_bytes()),
        (Value::Int(_), _) => return Err(refuse("an integer")),
        (Value::Text(_), _) => return Err(refuse("text")),
    };
    Ok(PgParam { ty: ty.clone(), bytes })
}

/// Postgres' binary NUMERIC: ndigits, weight, sign, dscale (all 16-bit, big-endian), then
/// `ndigits` base-10000 digits, most significant first; the first has weight `weight`.
pub(super) fn pg_numeric_bytes(n: i64) -> Vec<u8> {
    let mut digits = Vec::new();
    let mut rest = n.unsigned_abs();
    while rest > 0 {
        digits.push((rest % 10_000) as i16);
        rest /= 10_000;
    }
    digits.reverse();
    let weight = digits.len().saturating_sub(1) as i16;
    // Trailing zero digits are implied by the weight, as Postgres itself stores them.
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign: u16 = if n < 0 { 0x4000 } else { 0 };
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// Renders binary NUMERIC as decimal text with `dscale` fractional digits.
pub(super) fn pg_numeric_text(b: &[u8]) -> Result<String, BoxDynError> {
    let word = |at: usize| -> Result<u16, BoxDynError> {
        let pair = b.get(at..at + 2).ok_or("truncated NUMERIC")?;
        Ok(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => return Err(format!("bad NUMERIC sign {sign:#x}").into()),
    }
    let digits = (0..ndigits).map(|k| word(8 + 2 * k)).collect::<Result<Vec<u16>, _>>()?;
    if digits.iter().any(|&d| d > 9999) || weight.unsigned_abs() > 10_000 {
        return Err("bad NUMERIC digits".into());
    }
    // Digit k (0-based) is worth 10000^(weight - k).
    let digit = |pos: i64| -> u16 {
        let k = weight - pos;
        usize::try_from(k).ok().and_then(|k| digits.get(k).copied()).unwrap_or(0)
    };
    let mut int = String::new();
    for pos in (0..=weight.max(0)).rev() {
        let d = digit(pos);
        if int.is_empty() {
            if d != 0 || pos == 0 {
                int.push_str(&d.to_string());
            }
        } else {
            let _ = write!(int, "{d:04}");
        }
    }
    let mut frac = String::new();
    let mut pos = -1;
    while frac.len() < dscale {
        let _ = write!(frac, "{:04}", digit(pos));
        pos -= 1;
    }
    frac.truncate(dscale);
    let mut out = String::new();
    if sign == 0x4000 && (int != "0" || frac.bytes().any(|c| c != b'0')) {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}
