//! Database URLs: which backend a scheme selects, [`redact_url`] for messages, and the
//! password forms (raw, percent-decoded and percent-encoded) scrubbed from every error text.
//!
//! A password is found whatever characters it holds: it runs from the first `:` of the user
//! info to the last `@` that a host follows, so an unescaped `@`, `/`, `?` or `#` in it neither
//! shows it nor cuts it short (at worst more than the password is hidden). Before sqlx sees the
//! URL such characters are percent-encoded, so the password also works. It does not validate the
//! rest of the URL; sqlx does that when connecting.

use crate::store::BackendKind;

/// Maps a URL's scheme to a backend and the URL sqlx should be given (its password
/// percent-encoded where it holds characters a URL reserves).
pub(super) fn parse_scheme(url: &str) -> Option<(BackendKind, String)> {
    let lower = url.get(..url.find(':')? + 1)?.to_ascii_lowercase();
    let encoded = encode_password(url);
    let rest = &encoded[lower.len()..];
    match lower.as_str() {
        "postgres:" | "postgresql:" if rest.starts_with("//") => {
            Some((BackendKind::Postgres, format!("postgres:{rest}")))
        }
        "mysql:" | "mariadb:" if rest.starts_with("//") => Some((BackendKind::Mysql, format!("mysql:{rest}"))),
        "sqlite:" => Some((BackendKind::Sqlite, format!("sqlite:{}", &url[lower.len()..]))),
        _ => None,
    }
}

/// `url` with the characters of its password that a URL reserves percent-encoded; an existing
/// `%XX` escape is kept as it is.
pub(super) fn encode_password(url: &str) -> String {
    let Some(range) = userinfo_password(url) else { return url.to_string() };
    let pw = &url[range.clone()];
    let b = pw.as_bytes();
    let mut enc = String::with_capacity(pw.len());
    for (i, ch) in pw.char_indices() {
        let escape = b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        match ch {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => enc.push(ch),
            '%' if escape => enc.push('%'),
            _ => {
                let mut buf = [0u8; 4];
                for byte in ch.encode_utf8(&mut buf).bytes() {
                    enc += &format!("%{byte:02X}");
                }
            }
        }
    }
    format!("{}{enc}{}", &url[..range.start], &url[range.end..])
}

/// The password forms found in a URL, to scrub from any error text.
pub(super) struct Secrets(Vec<String>);

impl Secrets {
    pub(super) fn from_url(url: &str) -> Secrets {
        let mut found = Vec::new();
        if let Some(range) = userinfo_password(url) {
            found.push(url[range].to_string());
            if let Some(range) = userinfo_password(&encode_password(url)) {
                found.push(encode_password(url)[range].to_string());
            }
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
    // The user name ends at the first `:`; it never holds one unescaped.
    let colon = start + url[start..].find(':')?;
    // The password ends at the last `@` that a host follows (letters, digits, `.-_[]:%`, up to
    // the path, the query or the end), so an unescaped `@`, `/`, `?` or `#` in it is kept whole.
    let host_like = |rest: &str| {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_[]:%".contains(c))
    };
    let at = url[colon..].rmatch_indices('@').map(|(i, _)| colon + i).find(|&at| host_like(&url[at + 1..]))?;
    // A `:` after the `@`-less authority is a port, not a password.
    if url[start..colon].contains(['/', '?', '#', '@']) {
        return None;
    }
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
