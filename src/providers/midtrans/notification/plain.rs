//! A hand reader for the plain shape of a notification body: what `serde_json::to_vec` writes for
//! a [`Notification`], and so what the simulated Midtrans sends and its status API answers.
//!
//! "Plain" means: one flat JSON object with no whitespace outside strings; every key and every
//! value a string without escapes or control characters, or `null`; no key twice. That shape is
//! read with one scan for quotes into the same [`Notification`] that serde builds. Anything
//! else — whitespace, an escape, a number, a nested value, a repeated key, a missing required
//! field, a `null` where serde refuses one, bytes that are not UTF-8 — is not read here at all:
//! [`read`] answers `None` and [`Notification::from_json`] hands the body to the serde readers,
//! so every error is word for word what it was. A differential test holds the two to the same
//! result on generated bodies.
//!
//! What it does not do: accept anything serde would refuse, or report errors.

use super::{FIELDS, Notification};

/// One value of the plain shape.
enum Plain<'a> {
    Str(&'a str),
    Null,
}

/// The notification in `body` if `body` has the plain shape; `None` for every other body.
pub(super) fn read(body: &[u8]) -> Option<Notification> {
    let mut fields: [Option<Plain<'_>>; FIELDS.len()] = Default::default();
    let mut extra = serde_json::Map::new();
    // The provider writes the fields in `FIELDS`' order, so the one after the last found is
    // asked first; any other order is looked up whole.
    let mut next = 0;
    scan(body, |key, value| {
        let found = match FIELDS.get(next) {
            Some(f) if *f == key => Some(next),
            _ => FIELDS.iter().position(|f| *f == key),
        };
        if let Some(i) = found {
            next = i + 1;
        }
        match found {
            Some(i) => {
                if fields[i].is_some() {
                    return None;
                }
                fields[i] = Some(value);
            }
            None => {
                if extra.contains_key(key) {
                    return None;
                }
                let v = match value {
                    Plain::Str(s) => serde_json::Value::String(s.to_owned()),
                    Plain::Null => serde_json::Value::Null,
                };
                extra.insert(key.to_owned(), v);
            }
        }
        Some(())
    })?;
    let [time, status, id, message, code, signature, payment, order, merchant, gross, fraud, currency, settled] =
        fields;
    // Required: present and a string (serde refuses `null` and absence).
    let required = |f: Option<Plain<'_>>| match f {
        Some(Plain::Str(s)) => Some(s.to_owned()),
        _ => None,
    };
    // `null_as_default`: absent or `null` is empty.
    let lenient = |f: Option<Plain<'_>>| match f {
        Some(Plain::Str(s)) => s.to_owned(),
        _ => String::new(),
    };
    // `Option<String>`: absent or `null` is `None`.
    let optional = |f: Option<Plain<'_>>| match f {
        Some(Plain::Str(s)) => Some(s.to_owned()),
        _ => None,
    };
    Some(Notification {
        transaction_time: lenient(time),
        transaction_status: required(status)?,
        transaction_id: lenient(id),
        status_message: lenient(message),
        status_code: required(code)?,
        signature_key: required(signature)?,
        payment_type: lenient(payment),
        order_id: required(order)?,
        merchant_id: lenient(merchant),
        gross_amount: required(gross)?,
        fraud_status: optional(fraud),
        currency: lenient(currency),
        settlement_time: optional(settled),
        extra,
    })
}

/// `order_id` and `transaction_status` of a body in the plain shape, as
/// [`super::order_and_status`]'s serde reader reads them: `Some(Some(..))` with an absent status
/// as empty, `Some(None)` where that reader refuses the body (`order_id` absent, either one
/// `null` or given twice), and `None` for a body not in the plain shape (other keys may repeat
/// here: that reader ignores them).
pub(super) fn order_and_status(body: &[u8]) -> Option<Option<(&str, &str)>> {
    let (mut order, mut status): (Option<Plain<'_>>, Option<Plain<'_>>) = (None, None);
    let mut twice = false;
    scan(body, |key, value| {
        let slot = match key {
            "order_id" => &mut order,
            "transaction_status" => &mut status,
            _ => return Some(()),
        };
        twice |= slot.replace(value).is_some();
        Some(())
    })?;
    Some(match (twice, order, status) {
        (false, Some(Plain::Str(o)), None) => Some((o, "")),
        (false, Some(Plain::Str(o)), Some(Plain::Str(s))) => Some((o, s)),
        _ => None,
    })
}

/// Walks `body` if it has the plain shape, handing each key and value to `each` in order;
/// `None` for a body not in that shape, or as soon as `each` answers `None`.
fn scan<'a>(body: &'a [u8], mut each: impl FnMut(&'a str, Plain<'a>) -> Option<()>) -> Option<()> {
    // A backslash or a control character is an escape or a control character inside a string,
    // or something other than the shape's punctuation outside one: never in the plain shape.
    // One pass over the whole body, then, rather than one per string.
    if !unescaped(body) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let b = text.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut at = 1;
    if b.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let key = string(text, &mut at)?;
            if b.get(at) != Some(&b':') {
                return None;
            }
            at += 1;
            let value = if b.get(at) == Some(&b'"') {
                Plain::Str(string(text, &mut at)?)
            } else if b.get(at..at + 4) == Some(b"null") {
                at += 4;
                Plain::Null
            } else {
                return None;
            };
            each(key, value)?;
            match b.get(at) {
                Some(b',') => at += 1,
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (at == b.len()).then_some(())
}

/// Whether `bytes` hold no backslash and no control character: between quotes, JSON text with
/// nothing escaped (serde_json writes such a string as it is). Without an early exit, so that it
/// runs over whole vectors of bytes.
pub(super) fn unescaped(bytes: &[u8]) -> bool {
    !bytes.iter().fold(false, |bad, &c| bad | (c == b'\\') | (c < 0x20))
}

/// The string starting at `*at` (its opening quote); moves `*at` past its closing quote. Only
/// for text [`scan`] has found free of escapes and control characters.
fn string<'a>(text: &'a str, at: &mut usize) -> Option<&'a str> {
    let b = text.as_bytes();
    if b.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let end = start + memchr::memchr(b'"', &b[start..])?;
    *at = end + 1;
    // Quotes are ASCII, so both ends are character boundaries.
    text.get(start..end)
}

#[cfg(test)]
mod tests {
    //! [`read`] against the derived parser on generated bodies, most in the plain shape and the
    //! rest broken in one of the ways that shape excludes.

    use super::super::{FIELDS as KNOWN, Notification};
    use super::{order_and_status, read};

    /// xorshift64*, so a failure names its case; `wild` bodies may break the plain shape
    /// anywhere, the others only by leaving out or nulling a field.
    struct Gen {
        state: u64,
        wild: bool,
    }

    impl Gen {
        fn below(&mut self, n: u64) -> u64 {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }

        /// Below `n`, or at least `plain` when the body is not wild.
        fn pick(&mut self, n: u64, plain: u64) -> u64 {
            let v = self.below(n);
            if self.wild { v } else { v.max(plain) }
        }

        /// A string's contents: plain (sometimes not ASCII, or empty), or in a wild body
        /// sometimes with what the plain shape refuses.
        fn text(&mut self) -> Vec<u8> {
            let mut t = format!("v{}", self.below(1000)).into_bytes();
            match self.pick(30, 5) {
                0 => t.extend_from_slice(b"\\\""),
                1 => t.extend_from_slice(b"\\u00e9"),
                2 => t.push(b'\t'),
                3 => t.push(0xff),
                4 => t.push(0x1f),
                5 => t.extend_from_slice("é—ü 🦀".as_bytes()),
                6 => t.clear(),
                7 => t.push(0x7f),
                _ => {}
            }
            t
        }

        fn value(&mut self) -> Vec<u8> {
            if !self.wild {
                return if self.below(16) == 0 {
                    b"null".to_vec()
                } else {
                    [b"\"".as_slice(), &self.text(), b"\""].concat()
                };
            }
            match self.below(24) {
                0 => b"null".to_vec(),
                1 => b"12".to_vec(),
                2 => b"{\"k\":\"v\"}".to_vec(),
                3 => b"[\"a\"]".to_vec(),
                4 => b"nul".to_vec(),
                5 => b"true".to_vec(),
                _ => [b"\"".as_slice(), &self.text(), b"\""].concat(),
            }
        }

        fn body(&mut self) -> Vec<u8> {
            self.wild = self.below(2) == 0;
            let mut fields: Vec<Vec<u8>> = Vec::new();
            for name in KNOWN {
                let reps = match self.pick(30, 0) {
                    1 if !self.wild => 1,
                    0 => 0,
                    1 => 2,
                    _ => 1,
                };
                for _ in 0..reps {
                    fields.push([format!("\"{name}\":").as_bytes(), &self.value()].concat());
                }
            }
            for i in 0..self.below(3) {
                for _ in 0..1 + u64::from(self.wild && self.below(6) == 0) {
                    fields.push([format!("\"extra_{i}\":").as_bytes(), &self.value()].concat());
                }
            }
            if self.wild && self.below(20) == 0 {
                fields.push(b"\"order\\u005fid\":\"escaped\"".to_vec());
            }
            for i in (1..fields.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                fields.swap(i, j);
            }
            let sep: &[u8] = if self.pick(20, 1) == 0 { b", " } else { b"," };
            let mut body = [b"{".as_slice(), &fields.join(sep), b"}"].concat();
            match self.pick(40, 6) {
                0 => body.push(b' '),
                1 => body.insert(0, b' '),
                2 => body.truncate(body.len() / 2),
                3 => body.extend_from_slice(b"{}"),
                4 => body = b"{}".to_vec(),
                5 => body = b"[]".to_vec(),
                _ => {}
            }
            body
        }
    }

    #[test]
    fn reads_exactly_what_the_derived_parser_reads_or_nothing() {
        let mut g = Gen { state: 0x9a1d_0000_0000_0001, wild: false };
        let mut taken = 0;
        for case in 0..40_000 {
            let body = g.body();
            let derived = serde_json::from_slice::<Notification>(&body).map_err(|e| e.to_string());
            if let Some(n) = read(&body) {
                taken += 1;
                assert_eq!(Ok(&n), derived.as_ref(), "case {case}: {}", String::from_utf8_lossy(&body));
            }
            let from_json = Notification::from_json(&body).map_err(|e| e.to_string());
            assert_eq!(from_json, derived, "case {case}: {}", String::from_utf8_lossy(&body));
        }
        // Both ways were taken: bodies read here, and bodies left to serde.
        assert!((8_000..32_000).contains(&taken), "read {taken} of 40,000 bodies");
    }

    #[test]
    fn peeks_order_and_status_exactly_as_the_serde_reader_or_not_at_all() {
        let mut g = Gen { state: 0x51ee_0000_0000_0007, wild: false };
        let (mut taken, mut refused) = (0, 0);
        for case in 0..40_000 {
            let body = g.body();
            let derived = super::super::order_and_status_serde(&body);
            let both = super::super::order_and_status(&body);
            assert_eq!(both, derived, "case {case}: {}", String::from_utf8_lossy(&body));
            if let Some(peeked) = order_and_status(&body) {
                taken += 1;
                refused += usize::from(peeked.is_none());
                let peeked = peeked.map(|(o, s)| (o.to_string(), s.to_string()));
                let derived = derived.map(|(o, s)| (o.into_owned(), s.into_owned()));
                assert_eq!(peeked, derived, "case {case}: {}", String::from_utf8_lossy(&body));
            }
        }
        // Both ways were taken, and the hand reader refused some bodies itself.
        assert!((8_000..32_000).contains(&taken) && refused > 500, "peeked {taken} of 40,000, {refused} refused");
    }
}
