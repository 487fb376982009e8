//! Database URLs: which backend a scheme selects, [`redact_url`] for messages, and the
//! password forms (raw and percent-decoded) scrubbed from every error text.
//! It does not validate the rest of the URL; sqlx does that when connecting.

use crate::store::BackendKind;

/// Maps a URL's scheme to a backend and the URL sqlx should be given.
pub(super) fn parse_scheme(url: &str) -> Option<(BackendKind, String)> {
    let lower = url.get(..url.find(':')? + 1)?.to_ascii_lowercase();
    let rest = &url[lower.len()..];
    match lower.as_str() {
        "postgres:" | "postgresql:" if rest.starts_with("//") => {
            Some((BackendKind::Postgres, format!("postgres:{rest}")))
        }
        "mysql:" | "mariadb:" if rest.starts_with("//") => Some((BackendKind::Mysql, format!("mysql:{rest}"))),
        "sqlite:" => Some((BackendKind::Sqlite, format!("sqlite:{rest}"))),
        _ => None,
    }
}

/// The password forms found in a URL, to scrub from any error text.
pub(super) struct Secrets(Vec<String>);

impl Secrets {
    pub(super) fn from_url(url: &str) -> Secrets {
        let mut found = Vec::new();
        if let Some(range) = userinfo_password(url) {
            found.push(url[range].to_string());
        }
        if let Some((_, query)) = url.split_once('?') {
            for pair in query.split('&') {
                if let Some((key, value)) = pair.split_once('=')
                    && is_secret_key(key)
                {
                    found.push(value.to_string());
                }
            }
        }
        let decoded: Vec<String> = found.iter().map(|s| percent_decode(s)).collect();
        found.extend(decoded);
        found.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is scrubbed whole.
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        found.dedup();
        Secrets(found)
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key).to_ascii_lowercase();
    key.contains("password") || key == "pass" || key == "pwd"
}

/// The byte range of the password in `scheme://user:password@host…`, if there is one.
fn userinfo_password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    // The authority ends at the query; the last `@` before it ends the user info, so a
    // password with an unescaped `@` or `/` is still found whole.
    let end = url[start..].find(['?', '#']).map_or(url.len(), |p| start + p);
    let at = start + url[start..end].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    (colon + 1 < at).then_some(colon + 1..at)
}

/// `url` with its password (`user:password@`, `password=` query parameters) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(range) = userinfo_password(url) {
        out.replace_range(range, "***");
    }
    let Some((base, query)) = out.split_once('?') else {
        return out;
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if is_secret_key(key) && !value.is_empty() => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
