//! SQL text: finding `?` placeholders outside literals, quoted identifiers and comments,
//! rewriting them to Postgres' `$n`, and quoting identifiers and string literals.
//! It does not parse SQL beyond that, nor bind any value.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::store::BackendKind;

/// Calls `at` with the byte offset of every `?` placeholder: those outside string literals
/// (`'…'` with `''` escapes, `E'…'` with backslash escapes, `$tag$…$tag$`), quoted identifiers
/// (`"…"`, `` `…` ``) and comments.
fn scan_placeholders(sql: &str, mut at: impl FnMut(usize)) {
    let b = sql.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        i = match b[i] {
            b'\'' => {
                let e_string = i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !ident(b[i - 2]));
                skip_quoted(b, i, b'\'', e_string)
            }
            q @ (b'"' | b'`') => skip_quoted(b, i, q, false),
            b'-' if next == Some(b'-') => b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1),
            b'/' if next == Some(b'*') => skip_block_comment(b, i),
            b'$' if i == 0 || !ident(b[i - 1]) => skip_dollar_quoted(b, i),
            b'?' => {
                at(i);
                i + 1
            }
            _ => i + 1,
        };
    }
}

/// How many `?` placeholders `sql` has (see [`scan_placeholders`]).
pub(super) fn count_placeholders(sql: &str) -> usize {
    let mut n = 0;
    if sql.contains('?') {
        scan_placeholders(sql, |_| n += 1);
    }
    n
}

/// Rewrites `?` placeholders to Postgres' `$1, $2, …` (see [`scan_placeholders`] for what is
/// left alone). Borrows when there is nothing to rewrite.
pub(super) fn pg_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut copied, mut n) = (0usize, 0u32);
    scan_placeholders(sql, |i| {
        out.push_str(&sql[copied..i]);
        n += 1;
        let _ = write!(out, "${n}");
        copied = i + 1;
    });
    if n == 0 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// The index just past the quoted run that opens at `start`; a doubled quote is an escape.
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Past a `/* … */` comment; Postgres lets them nest.
fn skip_block_comment(b: &[u8], start: usize) -> usize {
    let (mut i, mut depth) = (start + 2, 1u32);
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Past a `$tag$ … $tag$` string if one opens at `start`; otherwise just past the `$`.
fn skip_dollar_quoted(b: &[u8], start: usize) -> usize {
    let tag_len = b[start + 1..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80));
    let Some(tag_len) = tag_len else { return start + 1 };
    let close = start + 1 + tag_len;
    // A tag cannot start with a digit (`$1` is a parameter), and must end with `$`.
    if b[close] != b'$' || b.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return start + 1;
    }
    let tag = &b[start..=close];
    let body = close + 1;
    b[body..].windows(tag.len()).position(|w| w == tag).map_or(b.len(), |p| body + p + tag.len())
}

pub(super) fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn my_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub(super) fn quote_ident(kind: BackendKind, name: &str) -> String {
    match kind {
        BackendKind::Mysql => my_ident(name),
        _ => pg_ident(name),
    }
}

/// A string literal.
pub(super) fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
