//! The sequence diagram as Mermaid text, which GitHub renders inside a ```` ```mermaid ```` block.
//!
//! One participant per drawn lane (the browser lane only when the trace has a browser actor),
//! one statement per event, each starting with its simulated time; injected faults and
//! violations sit in red `rect` blocks; the verdict is the last note, across every lane.
//!
//! Escaping follows Mermaid's sequence-diagram lexer: a message or note runs from the first
//! `:` to the end of the line, `;` or `#` (so both must be written as entity codes such as
//! `#59;`), and the text is rendered as HTML (so `<`, `>`, `&` and `"` are entity codes too).
//! Mermaid rewrites `#name;` and `#123;` codes before it parses, except that its pre-pass strips
//! the last character of a line matching `style.*:\S*#.*;`, so the words `style` and `classDef`
//! are written with one letter as an entity code.

use std::fmt::Write;

use super::lanes::{Lanes, Line, Row, Shape, actors_by_lane, drawn, rows};
use super::{DETAILS_MAX, verdict_lines};
use crate::check::Violation;
use crate::sim::{Event, fmt_ms};

const FAULT_FILL: &str = "rgb(255, 228, 228)";
const VIOLATION_FILL: &str = "rgb(255, 196, 196)";

/// The counterexample as a Mermaid `sequenceDiagram`.
pub fn mermaid(events: &[Event], violations: &[Violation], lanes: &Lanes) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let actors = actors_by_lane(events, lanes);
    let drawn = drawn(&actors);
    let all = format!("{},{}", drawn[0].name(), drawn[drawn.len() - 1].name());
    for &lane in &drawn {
        let seen = &actors[lane.index()];
        if seen.is_empty() || (seen.len() == 1 && seen[0] == lane.name()) {
            let _ = writeln!(out, "    participant {}", lane.name());
        } else {
            let _ = writeln!(out, "    participant {} as {} ({})", lane.name(), lane.name(), escape(&seen.join(", ")));
        }
    }
    for row in rows(events, lanes) {
        let statement = statement(&row, &all);
        let fill = if row.violation {
            Some(VIOLATION_FILL)
        } else if row.fault {
            Some(FAULT_FILL)
        } else {
            None
        };
        match fill {
            Some(fill) => {
                let _ = writeln!(out, "    rect {fill}\n        {statement}\n    end");
            }
            None => {
                let _ = writeln!(out, "    {statement}");
            }
        }
    }
    let lines: Vec<String> = verdict_lines(violations, DETAILS_MAX).iter().map(|l| escape(l)).collect();
    let note = format!("Note over {all}: {}", lines.join("<br/>"));
    if violations.is_empty() {
        let _ = writeln!(out, "    {note}");
    } else {
        let _ = writeln!(out, "    rect {VIOLATION_FILL}\n        {note}\n    end");
    }
    out
}

/// One event's statement; `all` names the first and last drawn lanes, which a band spans.
fn statement(row: &Row<'_>, all: &str) -> String {
    let text = escape(&format!("{} {}", fmt_ms(row.event.t_ms), row.label));
    match row.shape {
        Shape::Arrow { from, to, line } => {
            let arrow = match line {
                Line::Solid => "->>",
                Line::Open => "-)",
                Line::Dashed => "-->>",
                Line::Lost => "-x",
                Line::LostDashed => "--x",
            };
            format!("{}{arrow}{}: {text}", from.name(), to.name())
        }
        Shape::Note { lane } => format!("Note over {}: {text}", lane.name()),
        Shape::Span => format!("Note over {all}: {text}"),
    }
}

/// Text made safe for a Mermaid sequence-diagram message, note or participant alias (see the
/// module doc). Line breaks become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '%' => out.push_str("#37;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push_str(&format!("#{};", u32::from(c))),
            c => out.push(c),
        }
    }
    out.replace("style", "st#121;le").replace("classDef", "cl#97;ssDef")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Mermaid and the browser make of an escaped text.
    pub(crate) fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('#') {
            out.push_str(&rest[..at]);
            let code = &rest[at + 1..];
            let end = code.find(';').expect("every # starts an entity code");
            let name = &code[..end];
            let c = match name {
                "quot" => '"',
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                n => char::from_u32(n.parse().expect("a numeric code")).expect("a valid char"),
            };
            out.push(c);
            rest = &code[end + 1..];
        }
        out + rest
    }

    #[test]
    fn special_characters_become_entity_codes() {
        assert_eq!(escape("a;b#c"), "a#59;b#35;c");
        assert_eq!(escape(r#"<x y="1">&"#), "#lt;x y=#quot;1#quot;#gt;#amp;");
        assert_eq!(escape("50%%{init}"), "50#37;#37;{init}");
        assert_eq!(escape("two\nlines"), "two lines");
        assert_eq!(escape("lifestyle: a;"), "lifest#121;le: a#59;");
    }

    #[test]
    fn escaped_text_decodes_back() {
        let s = "pay; #1 \"quoted\" <b>bold</b> & 100% style x:y;";
        assert_eq!(unescape(&escape(s)), s);
    }
}
