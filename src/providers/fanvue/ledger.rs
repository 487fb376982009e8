//! One creator's earnings ledger and its rate-limit bucket, as plain data: no simulation, no
//! network, so pagination, visibility and the bucket can be tested on their own.
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

/// The rate-limit bucket of one token: `limit` requests, refilled to full `window_ms` after the
/// first request that found it full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    limit: u32,
    window_ms: i64,
    tokens: u32,
    refill_at_ms: Option<i64>,
}

/// The bucket's state after a request, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix epoch milliseconds at which the bucket is full again.
    pub reset_at_ms: i64,
}

impl Take {
    /// Whole seconds to wait before the bucket has a token again (at least 1).
    pub fn retry_after_s(&self, now_ms: i64) -> i64 {
        ((self.reset_at_ms - now_ms + 999) / 1000).max(1)
    }
}

impl Bucket {
    pub fn new(limit: u32, window_ms: u64) -> Self {
        let window_ms = i64::try_from(window_ms.max(1)).unwrap_or(i64::MAX);
        Bucket { limit: limit.max(1), window_ms, tokens: limit.max(1), refill_at_ms: None }
    }

    /// Spends a token if there is one.
    pub fn take(&mut self, now_ms: i64) -> Take {
        if self.refill_at_ms.is_some_and(|t| now_ms >= t) {
            self.tokens = self.limit;
            self.refill_at_ms = None;
        }
        let allowed = self.tokens > 0;
        if allowed {
            if self.refill_at_ms.is_none() {
                self.refill_at_ms = Some(now_ms + self.window_ms);
            }
            self.tokens -= 1;
        }
        let reset_at_ms = self.refill_at_ms.unwrap_or(now_ms + self.window_ms);
        Take { allowed, limit: self.limit, remaining: self.tokens, reset_at_ms }
    }
}

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

    #[test]
    fn bucket_spends_then_refills_after_its_window() {
        let mut b = Bucket::new(3, 60_000);
        for remaining in [2, 1, 0] {
            let t = b.take(1_000);
            assert!(t.allowed);
            assert_eq!(t.remaining, remaining);
            assert_eq!(t.reset_at_ms, 61_000);
        }
        let refused = b.take(30_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_s(30_000), 31);
        assert!(!b.take(60_999).allowed);
        let again = b.take(61_000);
        assert!(again.allowed);
        assert_eq!(again.remaining, 2);
        assert_eq!(again.reset_at_ms, 121_000);
    }
}
