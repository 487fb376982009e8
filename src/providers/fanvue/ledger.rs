//! One creator's earnings ledger, as plain data: no simulation, no network, so pagination and
//! visibility can be tested on their own. The rate-limit bucket is the provider kit's
//! ([`Bucket`], re-exported here).
//!
//! The ledger is append-only and ordered by (date, id): rows are dated when they are created,
//! and ids grow with creation, so appending keeps the order. A refund or chargeback is a new row
//! with negative amounts that names the original; originals are never rewritten.
//!
//! Visibility lag: a row has a `visible_at` instant, and list results leave it out before then
//! even though its date (and so its place in the order) is earlier. A page whose span covers such
//! a row reports it as hidden, so the simulation can mark that lag really hid a row from a page.
//!
//! What it does not do: the `source` filter, currencies other than USD, partial refunds.

use super::wire::CursorPos;

/// Where an earning came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Subscription,
    Tip,
    Message,
    Post,
    Refund,
    Chargeback,
}

impl Source {
    /// The sources a fan's payment can have (not reversals).
    pub const SALES: [Source; 4] = [Source::Subscription, Source::Tip, Source::Message, Source::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Subscription => "subscription",
            Source::Tip => "tip",
            Source::Message => "message",
            Source::Post => "post",
            Source::Refund => "refund",
            Source::Chargeback => "chargeback",
        }
    }

    pub fn is_reversal(self) -> bool {
        matches!(self, Source::Refund | Source::Chargeback)
    }
}

/// One ledger row: the provider's ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    pub id: String,
    /// Unix epoch milliseconds.
    pub date_ms: i64,
    /// From this instant on the row appears in list results.
    pub visible_at_ms: i64,
    /// USD cents; negative for refunds and chargebacks.
    pub gross: i64,
    pub net: i64,
    pub source: Source,
    pub user_uuid: String,
    /// The original row of a refund or chargeback.
    pub related: Option<String>,
}

impl LedgerRow {
    fn pos(&self) -> (i64, &str) {
        (self.date_ms, self.id.as_str())
    }
}

/// What one list request returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOut<'a> {
    pub rows: Vec<&'a LedgerRow>,
    /// The position of the last row when more visible rows follow in the range.
    pub next: Option<(i64, String)>,
    /// Rows the page's span covered that were not visible yet.
    pub hidden: usize,
}

/// A creator's ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    rows: Vec<LedgerRow>,
}

impl Ledger {
    /// Appends a row; it must sort after every row already there.
    pub fn push(&mut self, row: LedgerRow) {
        debug_assert!(
            self.rows.last().is_none_or(|last| last.pos() < row.pos()),
            "ledger rows must be appended in order"
        );
        self.rows.push(row);
    }

    /// The date of the newest row, if any.
    pub fn last_date_ms(&self) -> Option<i64> {
        self.rows.last().map(|r| r.date_ms)
    }

    pub fn rows(&self) -> &[LedgerRow] {
        &self.rows
    }

    pub fn get(&self, id: &str) -> Option<&LedgerRow> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// Σ gross of every row, reversals included: what the creator really earned.
    pub fn total(&self) -> i64 {
        self.rows.iter().map(|r| r.gross).sum()
    }

    /// Σ gross of the rows visible at `now_ms`, reversals left out: what the summary endpoint says.
    pub fn summary_total(&self, now_ms: i64) -> i64 {
        self.rows.iter().filter(|r| r.visible_at_ms <= now_ms && !r.source.is_reversal()).map(|r| r.gross).sum()
    }

    /// The rows dated before `cursor_ms`.
    pub fn before(&self, cursor_ms: i64) -> &[LedgerRow] {
        let n = self.rows.partition_point(|r| r.date_ms < cursor_ms);
        &self.rows[..n]
    }

    /// One page at `now_ms`: visible rows with `start ≤ date < end`, after `after`, in order.
    pub fn page(
        &self,
        now_ms: i64,
        start: Option<i64>,
        end: Option<i64>,
        after: Option<&CursorPos>,
        size: usize,
    ) -> PageOut<'_> {
        let size = size.max(1);
        let first = match (start, after) {
            (_, Some(a)) => {
                let key = (a.date_ms, a.id.as_str());
                let by_cursor = self.rows.partition_point(|r| r.pos() <= key);
                let by_start = start.map_or(0, |s| self.rows.partition_point(|r| r.date_ms < s));
                by_cursor.max(by_start)
            }
            (Some(s), None) => self.rows.partition_point(|r| r.date_ms < s),
            (None, None) => 0,
        };
        let in_range = self.rows[first..].iter().take_while(|r| end.is_none_or(|e| r.date_ms < e));
        let mut rows = Vec::new();
        let mut hidden_before_last = 0;
        let mut hidden_after_last = 0;
        let mut more = false;
        for r in in_range {
            if r.visible_at_ms > now_ms {
                hidden_after_last += 1;
                continue;
            }
            if rows.len() == size {
                more = true;
                break;
            }
            hidden_before_last += hidden_after_last;
            hidden_after_last = 0;
            rows.push(r);
        }
        // On the last page, hidden rows after its last row are skipped too; otherwise they will
        // be covered by the next page.
        let hidden = if more { hidden_before_last } else { hidden_before_last + hidden_after_last };
        let next = if more { rows.last().map(|r| (r.date_ms, r.id.clone())) } else { None };
        PageOut { rows, next, hidden }
    }
}

/// The rate-limit bucket of one token: now the provider kit's (see
/// [`crate::providers::kit::ratelimit`]), re-exported where Fanvue's code has always found it.
pub use crate::providers::kit::ratelimit::{Bucket, Take};

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: i64, date: i64, visible: i64) -> LedgerRow {
        LedgerRow {
            id: format!("{n:08x}"),
            date_ms: date,
            visible_at_ms: visible,
            gross: 100 * n,
            net: 80 * n,
            source: Source::Tip,
            user_uuid: "u".into(),
            related: None,
        }
    }

    fn ledger(rows: &[(i64, i64, i64)]) -> Ledger {
        let mut l = Ledger::default();
        for &(n, d, v) in rows {
            l.push(row(n, d, v));
        }
        l
    }

    fn after(p: &(i64, String)) -> CursorPos {
        CursorPos { creator: "c".into(), date_ms: p.0, id: p.1.clone() }
    }

    #[test]
    fn pages_walk_the_range_in_order_without_gaps_or_repeats() {
        let l = ledger(&(1..=7).map(|n| (n, n * 10, 0)).collect::<Vec<_>>());
        let mut seen = Vec::new();
        let mut cursor: Option<CursorPos> = None;
        for _ in 0..10 {
            let p = l.page(1_000, Some(20), Some(70), cursor.as_ref(), 2);
            seen.extend(p.rows.iter().map(|r| r.date_ms));
            match &p.next {
                Some(n) => cursor = Some(after(n)),
                None => break,
            }
        }
        // startDate inclusive, endDate exclusive.
        assert_eq!(seen, vec![20, 30, 40, 50, 60]);
    }

    #[test]
    fn a_full_last_page_has_no_next_cursor() {
        let l = ledger(&[(1, 10, 0), (2, 20, 0)]);
        let p = l.page(100, None, None, None, 2);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.next, None);
    }

    #[test]
    fn rows_with_the_same_date_are_split_by_id() {
        let l = ledger(&[(1, 10, 0), (2, 10, 0), (3, 10, 0)]);
        let p1 = l.page(100, None, None, None, 2);
        let p2 = l.page(100, None, None, Some(&after(p1.next.as_ref().unwrap())), 2);
        assert_eq!(p2.rows.len(), 1);
        assert_eq!(p2.rows[0].id, "00000003");
    }

    #[test]
    fn an_invisible_row_is_left_out_and_counted_as_hidden() {
        let l = ledger(&[(1, 10, 0), (2, 20, 500), (3, 30, 0)]);
        let early = l.page(100, None, None, None, 10);
        assert_eq!(early.rows.iter().map(|r| r.date_ms).collect::<Vec<_>>(), vec![10, 30]);
        assert_eq!(early.hidden, 1);
        let late = l.page(500, None, None, None, 10);
        assert_eq!(late.rows.len(), 3);
        assert_eq!(late.hidden, 0);
        // A cursor already past it never brings it back: the tap-stripe bug in two lines.
        let past = l.page(500, None, None, Some(&after(&(30, "00000003".into()))), 10);
        assert!(past.rows.is_empty());
    }

    #[test]
    fn hidden_rows_after_a_full_page_belong_to_the_next_page() {
        let l = ledger(&[(1, 10, 0), (2, 20, 0), (3, 30, 900), (4, 40, 0)]);
        let p = l.page(100, None, None, None, 2);
        assert_eq!(p.hidden, 0);
        let p2 = l.page(100, None, None, Some(&after(p.next.as_ref().unwrap())), 2);
        assert_eq!(p2.hidden, 1);
        assert_eq!(p2.rows.len(), 1);
    }

    #[test]
    fn totals_count_reversals_and_the_summary_does_not() {
        let mut l = ledger(&[(1, 10, 0), (2, 20, 0)]);
        l.push(LedgerRow {
            id: "00000003".into(),
            date_ms: 30,
            visible_at_ms: 30,
            gross: -200,
            net: -160,
            source: Source::Refund,
            user_uuid: "u".into(),
            related: Some("00000002".into()),
        });
        assert_eq!(l.total(), 100);
        assert_eq!(l.summary_total(1_000), 300);
        assert_eq!(l.before(30).len(), 2);
        assert_eq!(l.before(31).len(), 3);
    }
}
