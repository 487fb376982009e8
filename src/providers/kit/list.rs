//! Paginated lists as providers serve them: `limit`, `starting_after` / `ending_before` (object
//! ids, not combinable), newest first, `has_more` — Stripe's shape, which Paystack's cursor mode
//! and others resemble.
//!
//! Items are kept oldest first (creation order) and new ones are only ever appended, so a walk
//! that follows `starting_after` from the newest page down never loses or repeats an item that
//! existed when it started, however many are created meanwhile: newer items land before the
//! walk's first page, never between its pages (tested, with inserts between pages).
//!
//! Opaque cursors (Fanvue's `nextCursor`, Paystack's `next`) are [`seal_cursor`] /
//! [`open_cursor`]: the provider's own position text, sealed with a check value so an edited or
//! foreign cursor is refused rather than read as another position.
//!
//! What it does not do: answer HTTP. The provider parses the query with [`ListParams::parse`],
//! filters with its own predicate, and wraps the [`Page`] in its own JSON.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Bounds and default of `limit`.
pub const LIMIT_MIN: usize = 1;
pub const LIMIT_MAX: usize = 100;
pub const LIMIT_DEFAULT: usize = 10;

/// A list request's paging parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// Why a list request is refused (a 400, with the parameter's name).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    #[error("limit must be an integer from {LIMIT_MIN} to {LIMIT_MAX}, found {0:?}")]
    BadLimit(String),
    #[error("starting_after and ending_before cannot be combined")]
    BothCursors,
    #[error("{param}: no such object: {id:?}")]
    UnknownCursor { param: &'static str, id: String },
}

impl ListError {
    /// The query parameter at fault.
    pub fn param(&self) -> &'static str {
        match self {
            ListError::BadLimit(_) => "limit",
            ListError::BothCursors => "ending_before",
            ListError::UnknownCursor { param, .. } => param,
        }
    }
}

impl ListParams {
    /// Reads `limit`, `starting_after` and `ending_before` from a decoded query.
    pub fn parse(query: &BTreeMap<String, String>) -> Result<ListParams, ListError> {
        let limit = match query.get("limit") {
            None => LIMIT_DEFAULT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (LIMIT_MIN..=LIMIT_MAX).contains(&n) => n,
                _ => return Err(ListError::BadLimit(s.clone())),
            },
        };
        let cursor = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
        let (starting_after, ending_before) = (cursor("starting_after"), cursor("ending_before"));
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ListError::BothCursors);
        }
        Ok(ListParams { limit, starting_after, ending_before })
    }
}

/// One page: items newest first, and whether more follow in the direction of travel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<'a, T> {
    pub data: Vec<&'a T>,
    pub has_more: bool,
}

/// One page of `items` (oldest first), newest first, keeping those `keep` accepts. A cursor
/// must name an item of `items` (kept or not), or the request is refused.
pub fn newest_first<'a, T>(
    items: &'a [T],
    id: impl Fn(&T) -> &str,
    keep: impl Fn(&T) -> bool,
    p: &ListParams,
) -> Result<Page<'a, T>, ListError> {
    let limit = p.limit.clamp(LIMIT_MIN, LIMIT_MAX);
    let find = |param: &'static str, cursor: &str| {
        items
            .iter()
            .position(|t| id(t) == cursor)
            .ok_or_else(|| ListError::UnknownCursor { param, id: cursor.to_string() })
    };
    if let Some(c) = &p.ending_before {
        // The `limit` kept items just newer than the cursor, then shown newest first.
        let at = find("ending_before", c)?;
        let mut newer = items[at + 1..].iter().filter(|t| keep(t));
        let mut data: Vec<&T> = newer.by_ref().take(limit).collect();
        let has_more = newer.next().is_some();
        data.reverse();
        return Ok(Page { data, has_more });
    }
    let end = match &p.starting_after {
        Some(c) => find("starting_after", c)?,
        None => items.len(),
    };
    let mut older = items[..end].iter().rev().filter(|t| keep(t));
    let data: Vec<&T> = older.by_ref().take(limit).collect();
    let has_more = older.next().is_some();
    Ok(Page { data, has_more })
}

fn cursor_check(secret: &str, payload: &str) -> String {
    let digest = Sha256::digest(format!("{secret}|{payload}").as_bytes());
    hex::encode(&digest[..6])
}

/// An opaque cursor for `payload` (a provider's position text): base64url of the payload and a
/// check value keyed with `secret`.
pub fn seal_cursor(secret: &str, payload: &str) -> String {
    let text = format!("{payload}|{}", cursor_check(secret, payload));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The payload of a cursor [`seal_cursor`] made with the same `secret`; `None` for anything
/// else (edited, truncated, foreign, not base64).
pub fn open_cursor(secret: &str, cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (payload, check) = text.rsplit_once('|')?;
    super::sign::hex_eq(&cursor_check(secret, payload), check).then(|| payload.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: usize, after: Option<&str>, before: Option<&str>) -> ListParams {
        ListParams { limit, starting_after: after.map(str::to_string), ending_before: before.map(str::to_string) }
    }

    fn ids(page: &Page<'_, String>) -> Vec<String> {
        page.data.iter().map(|s| s.to_string()).collect()
    }

    fn items(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("o{i:02}")).collect()
    }

    #[test]
    fn pages_are_newest_first_with_has_more() {
        let all = items(5);
        let p1 = newest_first(&all, |s| s, |_| true, &params(2, None, None)).unwrap();
        assert_eq!(ids(&p1), ["o04", "o03"]);
        assert!(p1.has_more);
        let p3 = newest_first(&all, |s| s, |_| true, &params(2, Some("o01"), None)).unwrap();
        assert_eq!(ids(&p3), ["o00"]);
        assert!(!p3.has_more);
        let exact = newest_first(&all, |s| s, |_| true, &params(5, None, None)).unwrap();
        assert!(!exact.has_more, "a full last page has no more");
    }

    #[test]
    fn ending_before_pages_toward_newer_items() {
        let all = items(6);
        let p = newest_first(&all, |s| s, |_| true, &params(2, None, Some("o01"))).unwrap();
        assert_eq!(ids(&p), ["o03", "o02"]);
        assert!(p.has_more);
        let last = newest_first(&all, |s| s, |_| true, &params(10, None, Some("o03"))).unwrap();
        assert_eq!(ids(&last), ["o05", "o04"]);
        assert!(!last.has_more);
    }

    #[test]
    fn filters_apply_and_cursors_may_name_filtered_items() {
        let all = items(6);
        let even = |s: &String| s.ends_with(['0', '2', '4', '6', '8']);
        let p = newest_first(&all, |s| s, even, &params(10, Some("o05"), None)).unwrap();
        assert_eq!(ids(&p), ["o04", "o02", "o00"]);
    }

    #[test]
    fn a_walk_loses_and_repeats_nothing_under_concurrent_inserts() {
        let mut all = items(23);
        let existing: Vec<String> = all.clone();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for round in 0..100 {
            let page = newest_first(&all, |s| s, |_| true, &params(4, after.as_deref(), None)).unwrap();
            let got = ids(&page);
            let has_more = page.has_more;
            seen.extend(got.iter().cloned());
            // Three new objects appear between every two pages.
            for k in 0..3 {
                all.push(format!("new{round:03}-{k}"));
            }
            if !has_more {
                break;
            }
            after = got.last().cloned();
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "no item repeated: {seen:?}");
        for e in &existing {
            assert!(seen.contains(e), "{e} lost");
        }
        assert!(seen.iter().all(|s| existing.contains(s)), "a walk from the top never meets newer items");
    }

    #[test]
    fn sealed_cursors_open_with_their_secret_only() {
        let c = seal_cursor("s", "creator|1769094000123|id|x");
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{c}");
        assert_eq!(open_cursor("s", &c).as_deref(), Some("creator|1769094000123|id|x"));
        assert_eq!(open_cursor("other", &c), None);
        for i in 0..c.len() {
            let mut edited = c.clone().into_bytes();
            edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(edited).unwrap();
            if edited != c {
                assert_eq!(open_cursor("s", &edited), None, "edit at {i} accepted");
            }
        }
        assert_eq!(open_cursor("s", ""), None);
        assert_eq!(open_cursor("s", "not base64!"), None);
    }

    #[test]
    fn bad_parameters_are_refused_naming_them() {
        let q = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()
        };
        assert_eq!(ListParams::parse(&q(&[])).unwrap().limit, LIMIT_DEFAULT);
        assert_eq!(ListParams::parse(&q(&[("limit", "100")])).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            let e = ListParams::parse(&q(&[("limit", bad)])).unwrap_err();
            assert_eq!(e.param(), "limit", "{bad}");
        }
        let both = ListParams::parse(&q(&[("starting_after", "a"), ("ending_before", "b")]));
        assert_eq!(both, Err(ListError::BothCursors));
        let all = items(2);
        let e = newest_first(&all, |s| s, |_| true, &params(2, Some("nope"), None)).unwrap_err();
        assert_eq!(e, ListError::UnknownCursor { param: "starting_after", id: "nope".into() });
    }
}
