//! Where in a scenario file a validation message points, when the check that wrote it saw the
//! parsed values and not the text: the message starts with the dotted key it is about
//! (`midtrans.orders: …`, `network.partitions.count_max: …`), and this finds that key's line.
//!
//! It reads the text line by line: a `[table]` header opens a table, and the key is looked for
//! up to the next header, also inside inline tables (`partitions = { count_max = 3 }` under
//! `[network]`). It is a best effort for error messages only: when it finds nothing, the caller
//! points at the start of the file, as before, and the message still names the key.

use std::ops::Range;

/// The span of the key that `message` starts with (`table.key:` or `table.sub.key:`; of a pair
/// `table.a/b:` the first), if the text has it.
pub fn key_of_message(text: &str, message: &str) -> Option<Range<usize>> {
    let dotted = message.split(':').next()?.split([' ', '/']).next()?;
    let (table, key) = dotted.rsplit_once('.')?;
    let mut table = table;
    loop {
        if let Some(span) = key_in_table(text, table, key) {
            return Some(span);
        }
        // `network.partitions` written inline under `[network]`.
        table = table.rsplit_once('.')?.0;
    }
}

/// The span of `key` between the header `[table]` and the next header.
fn key_in_table(text: &str, table: &str, key: &str) -> Option<Range<usize>> {
    let mut inside = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed.trim_start_matches('[').trim_end_matches(']').trim() == table;
        } else if inside && let Some(at) = find_key(line, key) {
            return Some(offset + at..offset + at + key.len());
        }
        offset += line.len();
    }
    None
}

/// Where `key` stands as a key in `line` (followed by `=`, not inside a longer name).
fn find_key(line: &str, key: &str) -> Option<usize> {
    let code = line.split('#').next().unwrap_or(line);
    let mut from = 0;
    while let Some(i) = code[from..].find(key).map(|i| i + from) {
        let before = code[..i].chars().next_back();
        let after = code[i + key.len()..].trim_start();
        let starts = before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',');
        if starts && after.starts_with('=') {
            return Some(i);
        }
        from = i + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::key_of_message;

    fn line_of(text: &str, message: &str) -> Option<usize> {
        key_of_message(text, message).map(|s| text[..s.start].matches('\n').count() + 1)
    }

    #[test]
    fn finds_a_key_in_its_table_inline_and_not_in_a_longer_name() {
        let text = "name = \"x\"\n[midtrans]\norders_max_x = 1\norders = 5\n\n[network]\n\
                    partitions = { between = [], count_max = 9 }\n[crashes]\ncount_max = 2\n";
        assert_eq!(line_of(text, "midtrans.orders: 5 is too many"), Some(4));
        assert_eq!(line_of(text, "network.partitions.count_max: 9 is more"), Some(7));
        assert_eq!(line_of(text, "crashes.count_max: 2"), Some(9));
        assert_eq!(line_of(text, "midtrans.amount_min/amount_max: need"), None);
        assert_eq!(line_of(text, "no key here"), None);
    }
}
