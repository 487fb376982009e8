//! The merge's fast path: an order row read in place ([`RowView`], no `String` built) and, when
//! it is plainly clean, counted without building its [`Snapshot`].
//!
//! With a provider export every order is read (each must meet its export line), and almost all
//! are clean. [`Light`] borrows the row's cells; [`Judge::plain`] says whether
//! [`Judge::order`] would find nothing on it — no finding, no legitimate state to count, no
//! unknown word — and if so counts what `order` would have counted (rows read, amounts
//! compared, orders the export's period does not cover). Every other row (a suspect, an unusual
//! state, a cell of an unexpected type) goes through [`Mapping::read_row`] and `order` as before,
//! so the report is the same (tested against `order` on random rows, below).
//!
//! The test is deliberately narrow: both states known and among paid, pending and the ended
//! ones (not challenge, refunded or charged back, which `order` counts as states), the two
//! tables agreeing, paid times exactly on paid rows, one shipment exactly when paid, nothing
//! stuck or nearly stuck, and the export line (if any) agreeing in state and amount. What it
//! does not do: decide anything `order` would decide differently — it only skips the work.
//!
//! [`Snapshot`]: crate::systems::midtrans_orders::mapping::row::Snapshot

use std::borrow::Cow;

use crate::check::mapping::State;
use crate::check::money::{self, Verdict};
use crate::store::RowView;
use crate::systems::midtrans_orders::mapping::Mapping;

use super::super::export::Entry;
use super::check::Judge;

/// The snapshot's columns as [`Mapping::snapshot_sql`] orders them.
const WIDTH: usize = 14;

/// One row of the snapshot query, borrowed, with its states read by the mapping.
#[derive(Debug)]
pub struct Light<'a> {
    pub code: Cow<'a, str>,
    /// The order's state; `None` for a word the mapping does not name.
    pub order: Option<State>,
    /// `None` without a payment row; `Some(None)` for a payment word the mapping does not name.
    pub payment: Option<Option<State>>,
    pub paid_at: Option<i64>,
    pub created_at: Option<i64>,
    pub amount: Option<i64>,
    pub method: Option<Cow<'a, str>>,
    pub payment_paid_at: Option<i64>,
    pub payment_created_at: Option<i64>,
    pub payment_amount: Option<i64>,
    pub fulfilments: i64,
}

/// Reads a snapshot row in place; `None` when a cell is not of the plain type
/// ([`Mapping::read_row`] then reads it, or names what is wrong with it).
pub fn read<'a>(v: &'a dyn RowView, m: &Mapping) -> Option<Light<'a>> {
    if v.width() != WIDTH {
        return None;
    }
    // A column the mapping does not have is the snapshot's literal `NULL`: not read.
    let maybe = |present: bool, i: usize| if present { v.opt_text(i) } else { Some(None) };
    let (o, p) = (&m.orders, &m.order_payments);
    let code = v.opt_text(0)??;
    let status = v.opt_text(1)??;
    let order = o.states.state(&status, maybe(o.fraud_status.is_some(), 2)?.as_deref());
    let payment = match v.opt_text(6)? {
        None => None,
        Some(word) => Some(p.states.state(&word, maybe(p.fraud_status.is_some(), 7)?.as_deref())),
    };
    let fulfilments = v.opt_int(12)??;
    Some(Light {
        code,
        order,
        payment,
        paid_at: v.opt_int(3)?,
        created_at: v.opt_int(4)?,
        amount: v.opt_int(5)?,
        method: maybe(p.payment_method.is_some(), 8)?,
        payment_paid_at: v.opt_int(9)?,
        payment_created_at: v.opt_int(10)?,
        payment_amount: v.opt_int(11)?,
        fulfilments,
    })
}

/// The states the fast path handles: those [`Judge::order`] counts nothing for.
fn simple(s: State) -> bool {
    matches!(s, State::Paid | State::Pending | State::Expired | State::Cancelled | State::Denied | State::Failed)
}

impl Judge<'_> {
    /// Whether [`Judge::order`] on this row, with this export line, would find nothing and count
    /// no state; if so, counts what it would have counted and returns `true`. Otherwise changes
    /// nothing and returns `false`: the caller runs `order`.
    pub fn plain(&mut self, l: &Light, entry: Option<&Entry>) -> bool {
        let Some(order) = l.order.filter(|s| simple(*s)) else { return false };
        let payment = match l.payment {
            None => None,
            Some(Some(s)) if simple(s) && s == order => Some(s),
            Some(_) => return false,
        };
        let paid = order == State::Paid;
        // paid-at-iff-paid, on both tables.
        if paid != l.paid_at.is_some() || payment.is_some() && paid != l.payment_paid_at.is_some() {
            return false;
        }
        // fulfilled-at-most-once and paid-fulfilled-once: one shipment exactly when paid.
        if l.fulfilments != i64::from(paid) {
            return false;
        }
        // pending-not-stuck, and the "within its method's expiry" state.
        if order == State::Pending {
            let since = if payment.is_some() { l.payment_created_at } else { l.created_at };
            let cutoff = self.as_of.saturating_sub(self.stuck_threshold(l.method.as_deref()));
            let near = self.as_of.saturating_sub(self.stuck_after_ms);
            if money::stuck(Verdict::Pending, since, cutoff) || money::stuck(Verdict::Pending, since, near) {
                return false;
            }
        }
        // The export's checks.
        let covered = self.covers.is_none_or(|(a, b)| l.created_at.is_some_and(|t| a <= t && t <= b));
        match entry {
            Some(e) => {
                let settled = self.settled(e.time);
                let provider_paid = e.paid();
                // provider-paid-implies-paid, then paid-only-if-provider-paid.
                if settled && provider_paid != paid
                    || settled && e.state().ended_unpaid() && order == State::Pending
                    || l.amount.is_some_and(|a| a != e.amount)
                    || l.payment_amount.is_some_and(|a| a != e.amount)
                {
                    return false;
                }
                self.tally.amounts_compared += 1;
            }
            None => {
                if paid && covered {
                    return false;
                }
                if !covered {
                    self.uncovered += 1;
                }
            }
        }
        self.tally.orders_read += 1;
        if payment.is_some() {
            self.tally.payments_read += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Report;
    use crate::audit::export::Truth;
    use crate::audit::time::Zone;
    use crate::providers::midtrans::status::{FraudStatus, TransactionStatus};
    use crate::store::{Row, Value};
    use crate::systems::midtrans_orders::mapping::Vocabulary;

    fn judge(m: &Mapping) -> Judge<'_> {
        Judge {
            mapping: m,
            as_of: 10_000_000,
            grace_ms: 1000,
            stuck_after_ms: 5_000_000,
            since: None,
            until: None,
            covers: Some((1000, 9_000_000)),
            uncovered: 0,
            strict_words: false,
            zone: Zone::default(),
            statuses: Default::default(),
            tally: Default::default(),
        }
    }

    const WORDS: &[&str] = &["PAID", "PENDING", "EXPIRED", "REFUNDED", "settlement", "capture", "expire", "odd"];
    const TIMES: &[Option<i64>] = &[None, Some(500), Some(3_000_000), Some(8_000_000), Some(9_999_500)];
    const AMOUNTS: &[Option<i64>] = &[None, Some(10_000), Some(100)];

    /// A provider line: paid, pending, ended, challenged or refunded.
    fn entry(kind: usize, time: Option<i64>, amount: i64) -> Entry {
        use TransactionStatus as S;
        let (status, fraud) = [
            (S::Settlement, None),
            (S::Pending, None),
            (S::Expire, None),
            (S::Capture, Some(FraudStatus::Challenge)),
            (S::Refund, None),
        ][kind % 5];
        Entry { truth: Truth::Midtrans { status, fraud }, amount, time: time.unwrap_or(9_999_999), line: 1 }
    }

    /// Wherever the fast path counts a row, `order` finds nothing and counts the same; and
    /// where it declines, it changes nothing. Rows are mostly coherent (as a shop's are), each
    /// field disturbed now and then, so both paths are taken many times.
    #[test]
    fn plain_rows_are_exactly_what_order_finds_nothing_on() {
        use rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
        let mut pick = move |n: usize| (rng.next_u64() % n as u64) as usize;
        let (mut plain, cases) = (0, 40_000);
        for _ in 0..cases {
            let midtrans = pick(2) == 0;
            let mut m = Mapping::default();
            let words = if midtrans {
                m.orders.states = Vocabulary::midtrans();
                m.order_payments.states = Vocabulary::midtrans();
                m.orders.fraud_status = Some(crate::check::mapping::Ident::lit("fraud_status"));
                ["settlement", "pending", "expire"]
            } else {
                ["PAID", "PENDING", "EXPIRED"]
            };
            if pick(2) == 0 {
                m.expiry.0.clear();
            }
            // The payments' optional columns, each present or not: an absent one is the
            // snapshot's literal NULL.
            if pick(2) == 0 {
                m.order_payments.fraud_status = Some(crate::check::mapping::Ident::lit("fraud_status"));
            }
            if pick(4) != 0 {
                m.order_payments.payment_method = Some(crate::check::mapping::Ident::lit("payment_method"));
            }
            let has = |column: &Option<crate::check::mapping::Ident>, v: Value| {
                if column.is_some() { v } else { Value::Null }
            };
            let state = pick(3);
            let paid = state == 0;
            let t = |s: &str| Value::Text(s.into());
            let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
            let word = if pick(5) == 0 { WORDS[pick(WORDS.len())] } else { words[state] };
            let fraud = if pick(5) == 0 { t(["accept", "challenge"][pick(2)]) } else { Value::Null };
            let fraud = has(&m.orders.fraud_status, fraud);
            let paid_at = if pick(5) == 0 { TIMES[pick(TIMES.len())] } else { paid.then_some(3_000_000) };
            let amount = if pick(5) == 0 { AMOUNTS[pick(AMOUNTS.len())] } else { Some(10_000) };
            let pword = match pick(5) {
                0 => Value::Null,
                1 => t(WORDS[pick(WORDS.len())]),
                _ => t(word),
            };
            let pfraud = if pick(5) == 0 { t(["accept", "challenge"][pick(2)]) } else { Value::Null };
            let pfraud = has(&m.order_payments.fraud_status, pfraud);
            let method = [Value::Null, t("qris"), t("credit_card"), t("carrier_pigeon")][pick(4)].clone();
            let method = has(&m.order_payments.payment_method, method);
            let ppaid = if pick(5) == 0 { TIMES[pick(TIMES.len())] } else { paid_at };
            let pamount = if pick(5) == 0 { AMOUNTS[pick(AMOUNTS.len())] } else { amount };
            let fulfilments = if pick(5) == 0 { pick(3) as i64 } else { i64::from(paid) };
            let r = Row(vec![
                t("O-1"),
                t(word),
                fraud,
                int(paid_at),
                int(TIMES[pick(TIMES.len())]),
                int(amount),
                pword,
                pfraud,
                method,
                int(ppaid),
                int(TIMES[pick(TIMES.len())]),
                int(pamount),
                Value::Int(fulfilments),
                Value::Int(7),
            ]);
            let e = match pick(5) {
                0 => None,
                1 => Some(entry(pick(5), TIMES[pick(TIMES.len())], [10_000, 100][pick(2)])),
                _ => Some(entry(state, TIMES[pick(TIMES.len())], 10_000)),
            };
            let covers = [None, Some((1000, 9_000_000))][pick(2)];
            let light = read(&r, &m).expect("a row of plain cells reads in place");
            let mut fast = Judge { covers, ..judge(&m) };
            let mut full = Judge { covers, ..judge(&m) };
            if fast.plain(&light, e.as_ref()) {
                plain += 1;
                let mut full_r = Report::new("t", "db", "order", &[], Some(1));
                full.order(&m.read_row(r.clone()).unwrap(), Some(e.as_ref()), &mut full_r);
                assert_eq!(full_r.total(), 0, "{r:?} {e:?}: {:?}", full_r.violations);
                assert!(full_r.states.is_empty(), "{r:?} {e:?}: {:?}", full_r.states);
                assert_eq!(format!("{:?}", full.tally), format!("{:?}", fast.tally), "{r:?} {e:?}");
                assert_eq!(full.uncovered, fast.uncovered, "{r:?} {e:?}");
            } else {
                assert_eq!(format!("{:?}", fast.tally), format!("{:?}", full.tally), "declined: nothing counted");
                assert_eq!(fast.uncovered, 0);
            }
        }
        assert!(plain > cases / 20 && plain < cases * 9 / 10, "{plain} of {cases} rows took the fast path");
    }

    #[test]
    fn the_bench_rows_take_the_fast_path_and_odd_cells_do_not() {
        let m = Mapping::default();
        let t = |s: &str| Value::Text(s.into());
        let paid = Row(vec![
            t("ZVR-1"),
            t("PAID"),
            Value::Null,
            Value::Int(2000),
            Value::Int(1000),
            Value::Int(10_000),
            t("PAID"),
            Value::Null,
            Value::Null,
            Value::Int(2000),
            Value::Int(1000),
            Value::Int(10_000),
            Value::Int(1),
            Value::Int(1),
        ]);
        let e = Entry {
            truth: Truth::Midtrans { status: TransactionStatus::Settlement, fraud: None },
            amount: 10_000,
            time: 2000,
            line: 2,
        };
        let mut j = judge(&m);
        assert!(j.plain(&read(&paid, &m).unwrap(), Some(&e)));
        assert_eq!((j.tally.orders_read, j.tally.payments_read, j.tally.amounts_compared), (1, 1, 1));
        // Shipped twice: `order` must see it.
        let mut twice = paid.clone();
        twice.0[12] = Value::Int(2);
        assert!(!j.plain(&read(&twice, &m).unwrap(), Some(&e)));
        // A time stored as text is read (or refused) by `read_row`, not here.
        let mut text_time = paid;
        text_time.0[4] = t("1000");
        assert!(read(&text_time, &m).is_none());
    }
}
