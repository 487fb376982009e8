//! The sequence diagram as one self-contained HTML page: inline SVG drawn here, inline CSS, no
//! script, and nothing fetched (no font, stylesheet or image), so the file works offline.
//!
//! Layout: one row per event, top to bottom — the simulated time on the left, the lanes (five,
//! or six with the browser lane when the trace has a browser actor) with the event's arrow or
//! note in the middle, its text on the right (where a long text has
//! room, instead of being squeezed between two lanes). The lane headers stay at the top of the
//! window while a long trace scrolls. Faults are red with `⚡`, the violation's row is red, each
//! row's tooltip is its timeline line, and the plain timeline follows the diagram.
//!
//! The page is written as well-formed XML (every element closed, only XML's five named
//! entities), so an XML parser can check it; browsers read it as HTML5.

use std::fmt::Write;

use super::lanes::{Lane, Lanes, Line, Row, Shape, actors_by_lane, drawn, rows};
use super::verdict_lines;
use crate::check::Violation;
use crate::report::timeline;
use crate::sim::{Event, fmt_ms};

const ROW_H: usize = 22;
const HEAD_H: usize = 50;
const TIME_W: usize = 100;
const LANE_W: usize = 116;
const LANES_X: usize = TIME_W + 4;
/// Width of one character of 12 px monospace text, rounded up.
const CHAR_W: f64 = 7.4;
/// Longer texts are cut in the diagram (the tooltip and the timeline keep them whole).
const LABEL_CHARS_MAX: usize = 180;
/// Violation details listed under the diagram before the rest are counted.
const DETAILS_MAX: usize = 50;

const CSS: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
p { margin: 2px 0; }
.legend { color: #555; font-size: 13px; margin-bottom: 8px; }
.legend .red { color: #c62828; }
svg { display: block; }
svg text { font: 12px ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; fill: #222; }
.head { position: sticky; top: 0; background: #fff; z-index: 1; }
.lanehead { fill: #eef2f7; stroke: #7a8ba3; }
svg text.lanename { font-weight: bold; text-anchor: middle; }
svg text.actors { font-size: 10px; text-anchor: middle; fill: #555; }
svg text.colhead { fill: #777; }
.lane { stroke: #b8c2d0; stroke-width: 1; stroke-dasharray: 4 3; }
.bg-zebra { fill: #f6f7f9; }
.bg-fault { fill: #ffeaea; }
.bg-violation { fill: #ffc4c4; }
svg text.time { fill: #777; }
.msg { stroke: #333; stroke-width: 1.4; fill: none; }
.msg.open { stroke: #1565c0; }
.msg.dashed { stroke-dasharray: 5 3; }
.fault .msg { stroke: #c62828; stroke-width: 1.8; }
.note { fill: #fff3b0; stroke: #a08a10; }
.span { fill: #dedede; }
.violation .span { fill: #e53935; }
.fault text.label { fill: #c62828; }
.violation text.label { fill: #b71c1c; font-weight: bold; }
.badge { fill: #e53935; stroke: #b71c1c; }
.bolt { fill: #fff; }
.verdict { margin: 10px 0; padding: 8px 12px; border-radius: 4px; font-family: ui-monospace, monospace; font-size: 13px; }
.verdict.bad { background: #ffe3e3; border-left: 4px solid #c62828; }
.verdict.good { background: #e6f4ea; border-left: 4px solid #2e7d32; }
.verdict p.head-line { font-weight: bold; }
pre.timeline { font: 12px/1.4 ui-monospace, 'DejaVu Sans Mono', monospace; background: #fafafa; padding: 8px; }
pre .fault { color: #c62828; }
pre .violation { color: #b71c1c; font-weight: bold; background: #ffe0e0; }
";

/// The counterexample as a self-contained HTML page titled `title`.
pub fn html(title: &str, events: &[Event], violations: &[Violation], lanes: &Lanes) -> String {
    let rows = rows(events, lanes);
    let actors = actors_by_lane(events, lanes);
    let cols = Columns { lanes: drawn(&actors) };
    let labels: Vec<String> = rows.iter().map(|r| clip(&r.label)).collect();
    let text_chars = labels.iter().map(|l| l.chars().count() + 1).max().unwrap_or(0).max(40);
    let width = cols.text_x() + (text_chars as f64 * CHAR_W).ceil() as usize + 16;
    let faults = rows.iter().filter(|r| r.fault).count();
    let mut out = String::new();
    let t = esc(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>{t}</title>\n\
         <style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n"
    );
    let verdict = if violations.is_empty() {
        "✓ every invariant held".to_string()
    } else {
        let names: Vec<&str> = violations.iter().map(|v| v.invariant.as_str()).collect();
        format!("✗ violated: {}", names.join(", "))
    };
    let _ = writeln!(out, "<p>{} events · {faults} injected fault(s) · {}</p>", events.len(), esc(&verdict));
    out.push_str(
        "<p class=\"legend\">→ sent or written · ▷ handed over by the network · ⇢ answer received · \
         ✕ lost, refused or failed · ▬ state change · <span class=\"red\">⚡ injected fault</span></p>\n",
    );
    head(&mut out, width, &cols, &actors);
    body(&mut out, width, &cols, &rows, &labels);
    verdict_block(&mut out, violations);
    out.push_str("<h2>Timeline</h2>\n<pre class=\"timeline\">");
    for line in timeline(title, events, violations).lines() {
        let class = if line.starts_with('!') {
            Some("fault")
        } else if line.starts_with('✗') || (line.starts_with("result:") && !violations.is_empty()) {
            Some("violation")
        } else {
            None
        };
        match class {
            Some(c) => {
                let _ = writeln!(out, "<span class=\"{c}\">{}</span>", esc(line));
            }
            None => {
                let _ = writeln!(out, "{}", esc(line));
            }
        }
    }
    out.push_str("</pre>\n</body>\n</html>\n");
    out
}

/// The lanes drawn, left to right, and where things go across the page.
struct Columns {
    lanes: Vec<Lane>,
}

impl Columns {
    /// The centre line of `lane` (a lane not drawn is never asked for: every actor of the trace
    /// stands in a drawn one).
    fn x(&self, lane: Lane) -> usize {
        let at = self.lanes.iter().position(|l| *l == lane).unwrap_or(0);
        LANES_X + LANE_W * at + LANE_W / 2
    }

    fn lanes_w(&self) -> usize {
        self.lanes.len() * LANE_W
    }

    /// Where the events' texts start, right of the lanes.
    fn text_x(&self) -> usize {
        LANES_X + self.lanes_w() + 12
    }
}

/// The lane headers, in a strip that stays at the top of the window.
fn head(out: &mut String, width: usize, cols: &Columns, actors: &[Vec<String>; 6]) {
    let text_x = cols.text_x();
    let _ = writeln!(
        out,
        "<div class=\"head\"><svg width=\"{width}\" height=\"{HEAD_H}\" viewBox=\"0 0 {width} {HEAD_H}\">"
    );
    let _ = writeln!(out, "<text class=\"colhead\" x=\"8\" y=\"30\">time</text>");
    let _ = writeln!(out, "<text class=\"colhead\" x=\"{text_x}\" y=\"30\">event</text>");
    for &lane in &cols.lanes {
        let (x, seen) = (cols.x(lane), &actors[lane.index()]);
        let list = seen.join(", ");
        let _ = writeln!(
            out,
            "<g class=\"lanehead-{}\"><title>{}: {}</title>\
             <rect class=\"lanehead\" x=\"{}\" y=\"4\" width=\"{}\" height=\"38\" rx=\"4\"/>\
             <text class=\"lanename\" x=\"{x}\" y=\"20\">{}</text>\
             <text class=\"actors\" x=\"{x}\" y=\"35\">{}</text>\
             <line class=\"lane\" x1=\"{x}\" y1=\"42\" x2=\"{x}\" y2=\"{HEAD_H}\"/></g>",
            lane.name(),
            lane.name(),
            esc(if list.is_empty() { "no events" } else { &list }),
            x - LANE_W / 2 + 6,
            LANE_W - 12,
            lane.name(),
            esc(&clip_to(&list, 16)),
        );
    }
    out.push_str("</svg></div>\n");
}

/// One row per event.
fn body(out: &mut String, width: usize, cols: &Columns, rows: &[Row<'_>], labels: &[String]) {
    let text_x = cols.text_x();
    let height = rows.len() * ROW_H + 4;
    let _ = writeln!(
        out,
        "<svg class=\"rows\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<defs>\
         {}{}{}{}{}</defs>",
        marker("head", "M0,0 L10,5 L0,10 z", "fill=\"#333\""),
        marker("head-red", "M0,0 L10,5 L0,10 z", "fill=\"#c62828\""),
        marker("open", "M0,0 L10,5 L0,10", "fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.6\""),
        marker("cross", "M1,1 L9,9 M9,1 L1,9", "stroke=\"#333\" stroke-width=\"2\""),
        marker("cross-red", "M1,1 L9,9 M9,1 L1,9", "stroke=\"#c62828\" stroke-width=\"2.2\""),
    );
    for (i, row) in rows.iter().enumerate() {
        let class = if row.violation {
            "bg-violation"
        } else if row.fault {
            "bg-fault"
        } else if i % 2 == 1 {
            "bg-zebra"
        } else {
            continue;
        };
        let _ =
            writeln!(out, "<rect class=\"{class}\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"{ROW_H}\"/>", i * ROW_H);
    }
    for &lane in &cols.lanes {
        let x = cols.x(lane);
        let _ = writeln!(out, "<line class=\"lane\" x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{height}\"/>");
    }
    for (i, (row, label)) in rows.iter().zip(labels).enumerate() {
        let y = i * ROW_H + ROW_H / 2;
        let mut class = format!("row k-{}", row.event.kind.label().to_ascii_lowercase());
        if row.fault {
            class.push_str(" fault");
        }
        if row.violation {
            class.push_str(" violation");
        }
        let _ = write!(out, "<g class=\"{class}\"><title>{}</title>", esc(&row.event.to_string()));
        shape(out, cols, row, y);
        let _ = writeln!(
            out,
            "<text class=\"time\" x=\"8\" y=\"{}\">{}</text><text class=\"label\" x=\"{text_x}\" y=\"{}\">{}</text></g>",
            y + 4,
            fmt_ms(row.event.t_ms),
            y + 4,
            esc(label)
        );
    }
    out.push_str("</svg>\n");
}

fn marker(id: &str, path: &str, paint: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" \
         orient=\"auto-start-reverse\" markerUnits=\"userSpaceOnUse\"><path d=\"{path}\" {paint}/></marker>"
    )
}

fn shape(out: &mut String, cols: &Columns, row: &Row<'_>, y: usize) {
    match row.shape {
        Shape::Arrow { from, to, line } => {
            let (head, class) = match (line, row.fault) {
                (Line::Solid, false) => ("head", "msg"),
                (Line::Solid, true) => ("head-red", "msg"),
                (Line::Open, _) => ("open", "msg open"),
                (Line::Dashed, false) => ("head", "msg dashed"),
                (Line::Dashed, true) => ("head-red", "msg dashed"),
                (Line::Lost, false) => ("cross", "msg"),
                (Line::Lost, true) => ("cross-red", "msg"),
                (Line::LostDashed, false) => ("cross", "msg dashed"),
                (Line::LostDashed, true) => ("cross-red", "msg dashed"),
            };
            let (x1, x2) = (cols.x(from), cols.x(to));
            if from == to {
                // A message within one lane (a customer paying the provider): a small loop.
                let _ = write!(
                    out,
                    "<path class=\"{class}\" d=\"M{x1},{} h28 v10 h-26\" marker-end=\"url(#{head})\"/>",
                    y - 5
                );
            } else {
                let _ = write!(
                    out,
                    "<line class=\"{class}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#{head})\"/>"
                );
            }
            if row.fault {
                badge(out, if from == to { x1 + 14 } else { (x1 + x2) / 2 }, y);
            }
        }
        Shape::Note { lane } if row.fault => badge(out, cols.x(lane), y),
        Shape::Note { lane } => {
            let _ = write!(
                out,
                "<rect class=\"note\" x=\"{}\" y=\"{}\" width=\"18\" height=\"12\" rx=\"2\"/>",
                cols.x(lane) - 9,
                y - 6
            );
        }
        Shape::Span => {
            let _ = write!(
                out,
                "<rect class=\"span\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"8\" rx=\"3\"/>",
                LANES_X + 6,
                y - 4,
                cols.lanes_w() - 12
            );
        }
    }
}

/// The mark of an injected fault: a white lightning bolt on red, centred on (`x`, `y`), drawn
/// rather than typed because not every machine has a font with `⚡`.
fn badge(out: &mut String, x: usize, y: usize) {
    let (x, y) = (x as i64, y as i64);
    let _ = write!(
        out,
        "<rect class=\"badge\" x=\"{}\" y=\"{}\" width=\"22\" height=\"16\" rx=\"3\"/>\
         <path class=\"bolt\" d=\"M{},{} L{},{} L{},{} L{},{} L{},{} L{},{} z\"/>",
        x - 11,
        y - 8,
        x + 2,
        y - 7,
        x - 4,
        y + 1,
        x,
        y + 1,
        x - 2,
        y + 7,
        x + 4,
        y - 1,
        x,
        y - 1
    );
}

fn verdict_block(out: &mut String, violations: &[Violation]) {
    let class = if violations.is_empty() { "good" } else { "bad" };
    let _ = writeln!(out, "<div class=\"verdict {class}\">");
    for line in verdict_lines(violations, DETAILS_MAX) {
        let class = if line.starts_with('✗') || line.starts_with('✓') { " class=\"head-line\"" } else { "" };
        let _ = writeln!(out, "<p{class}>{}</p>", esc(&line));
    }
    out.push_str("</div>\n");
}

fn clip(label: &str) -> String {
    clip_to(label, LABEL_CHARS_MAX)
}

fn clip_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Text for XML and HTML: the five special characters as entities, and characters XML 1.0
/// cannot hold replaced by U+FFFD.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(esc("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        assert_eq!(esc("bell\u{7}"), "bell\u{FFFD}");
    }

    #[test]
    fn long_texts_are_clipped_with_an_ellipsis() {
        assert_eq!(clip_to("abcdef", 4), "abc…");
        assert_eq!(clip_to("abcd", 4), "abcd");
        assert_eq!(clip_to("ééééé", 3), "éé…");
    }
}
