//! Seed 001's invariants: one snapshot query over the database, plus the provider's ground
//! truth, and a named predicate per invariant.
//!
//! always (after every unit that wrote, for the order it wrote):
//! - `paid-only-if-provider-paid`: an order is PAID only if the provider has ever said paid.
//! - `order-payment-agree`: an order's status equals its payment's.
//! - `paid-never-regresses`: a PAID order never goes back to PENDING, EXPIRED or FAILED (the
//!   provider can still reverse it: DENIED, REFUNDED, CANCELLED).
//! - `paid-at-iff-paid`: `paid_at` is set exactly when the status is PAID, on both tables.
//! - `fulfilled-at-most-once`: no order is fulfilled twice; none is fulfilled unpaid.
//!
//! eventually (end of the liveness phase, every order):
//! - `provider-paid-implies-paid`: provider paid ⇒ order PAID (and the order exists).
//! - `provider-failed-implies-not-paid`: provider expired/cancelled/denied/failed ⇒ not PAID.
//! - `paid-fulfilled-once`: every PAID order has exactly one fulfilment.
//!
//! Why a snapshot: the five `always` invariants run after every writing unit; one indexed query
//! for the unit's order, read once per round, costs a fifth of five queries, and the same rows
//! can be streamed from a live database.
//!
//! What they do not check: amounts between the provider and the order (the apply logic refuses
//! a mismatch and logs it), or orders the provider never saw.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::check::{CheckCtx, Invariant};
use crate::providers::midtrans::Midtrans;
use crate::sim::world::lock;
use crate::store::{Db, Row, SqlError, Value};

/// One order as the invariants see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    pub code: String,
    pub status: String,
    pub paid_at: Option<i64>,
    /// `None` when there is no payment row.
    pub payment_status: Option<String>,
    pub payment_paid_at: Option<i64>,
    pub fulfilments: i64,
}

impl OrderRow {
    fn from_row(r: &Row) -> Result<Self, SqlError> {
        Ok(OrderRow {
            code: r.text(0)?,
            status: r.text(1)?,
            paid_at: r.opt_int(2)?,
            payment_status: r.opt_text(3)?,
            payment_paid_at: r.opt_int(4)?,
            fulfilments: r.int(5)?,
        })
    }
}

const SNAPSHOT: &str = "SELECT o.order_code, o.status, o.paid_at, p.payment_status, p.paid_at, \
    (SELECT COUNT(*) FROM fulfilments f WHERE f.order_id = o.id) \
    FROM orders o LEFT JOIN order_payments p ON p.order_id = o.id";

/// What the invariants look at.
pub struct Ctx {
    pub db: Db,
    pub provider: Midtrans,
    /// Orders seen PAID so far (for `paid-never-regresses`).
    paid_seen: Mutex<BTreeSet<String>>,
    snapshot: Mutex<BTreeMap<String, OrderRow>>,
}

impl Ctx {
    pub fn new(db: Db, provider: Midtrans) -> Self {
        Ctx { db, provider, paid_seen: Mutex::default(), snapshot: Mutex::default() }
    }

    /// The rows read for the current round of checks, by order code.
    pub fn snapshot(&self) -> BTreeMap<String, OrderRow> {
        lock(&self.snapshot).clone()
    }

    fn each(&self, mut f: impl FnMut(&OrderRow, &mut Vec<String>)) -> Result<Vec<String>, SqlError> {
        let snap = lock(&self.snapshot);
        let mut out = Vec::new();
        for row in snap.values() {
            f(row, &mut out);
        }
        Ok(out)
    }
}

impl CheckCtx for Ctx {
    fn prepare(&self, scope: Option<&str>) -> Result<(), SqlError> {
        let rows = self.db.read(|tx| match scope {
            Some(code) => tx.query(&format!("{SNAPSHOT} WHERE o.order_code = ?"), &[Value::from(code)]),
            None => tx.query(&format!("{SNAPSHOT} ORDER BY o.order_code"), &[]),
        })?;
        let mut snap = lock(&self.snapshot);
        snap.clear();
        for r in &rows {
            let row = OrderRow::from_row(r)?;
            snap.insert(row.code.clone(), row);
        }
        Ok(())
    }
}

/// Names and docs, for `settle list` and scenario validation.
pub const CATALOG: &[(&str, &str, &str)] = &[
    ("paid-only-if-provider-paid", "always", "an order is PAID only if the provider's truth says it was paid"),
    ("order-payment-agree", "always", "order and payment statuses agree after every unit"),
    ("paid-never-regresses", "always", "a PAID order never goes back to PENDING, EXPIRED or FAILED"),
    ("paid-at-iff-paid", "always", "paid_at is set iff the status is PAID (orders and payments)"),
    ("fulfilled-at-most-once", "always", "each order is fulfilled at most once, and only if paid"),
    ("provider-paid-implies-paid", "eventually", "provider paid ⇒ the order is PAID"),
    ("provider-failed-implies-not-paid", "eventually", "provider expired/cancelled/denied ⇒ the order is not PAID"),
    ("paid-fulfilled-once", "eventually", "every PAID order is fulfilled exactly once"),
];

fn doc(name: &str) -> &'static str {
    CATALOG.iter().find(|(n, _, _)| *n == name).map_or("", |(_, _, d)| d)
}

/// The reference invariants (fresh per run: `paid-never-regresses` remembers).
pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always("paid-only-if-provider-paid", doc("paid-only-if-provider-paid"), |c: &Ctx| {
            c.each(|o, out| {
                if o.status == "PAID" && !c.provider.ever_paid(&o.code) {
                    out.push(format!("{} is PAID but the provider never said paid", o.code));
                }
            })
        }),
        Invariant::always("order-payment-agree", doc("order-payment-agree"), |c: &Ctx| {
            c.each(|o, out| {
                if let Some(p) = &o.payment_status
                    && *p != o.status
                {
                    out.push(format!("{}: order {} but payment {p}", o.code, o.status));
                }
            })
        }),
        Invariant::always("paid-never-regresses", doc("paid-never-regresses"), |c: &Ctx| {
            let mut seen = lock(&c.paid_seen);
            c.each(|o, out| {
                if o.status == "PAID" {
                    seen.insert(o.code.clone());
                } else if seen.contains(&o.code) && matches!(o.status.as_str(), "PENDING" | "EXPIRED" | "FAILED") {
                    out.push(format!("{} went from PAID back to {}", o.code, o.status));
                }
            })
        }),
        Invariant::always("paid-at-iff-paid", doc("paid-at-iff-paid"), |c: &Ctx| {
            c.each(|o, out| {
                if (o.status == "PAID") != o.paid_at.is_some() {
                    out.push(format!("order {}: status {} but paid_at {:?}", o.code, o.status, o.paid_at));
                }
                if let Some(p) = &o.payment_status
                    && (p == "PAID") != o.payment_paid_at.is_some()
                {
                    out.push(format!("payment of {}: status {p} but paid_at {:?}", o.code, o.payment_paid_at));
                }
            })
        }),
        Invariant::always("fulfilled-at-most-once", doc("fulfilled-at-most-once"), |c: &Ctx| {
            c.each(|o, out| {
                if o.fulfilments > 1 {
                    out.push(format!("{} fulfilled {} times", o.code, o.fulfilments));
                }
                if o.fulfilments > 0 && !c.provider.ever_paid(&o.code) {
                    out.push(format!("{} fulfilled but never paid", o.code));
                }
            })
        }),
        Invariant::eventually("provider-paid-implies-paid", doc("provider-paid-implies-paid"), |c: &Ctx| {
            let snap = lock(&c.snapshot);
            let mut out = Vec::new();
            for t in c.provider.truths().iter().filter(|t| t.paid_now()) {
                let provider = t.status.map_or("none", |s| s.as_str());
                match snap.get(&t.order_id) {
                    Some(o) if o.status == "PAID" => {}
                    Some(o) => {
                        out.push(format!("{}: provider says {provider}, database says {}", t.order_id, o.status))
                    }
                    None => out.push(format!("{}: provider says {provider}, no order row", t.order_id)),
                }
            }
            Ok(out)
        }),
        Invariant::eventually(
            "provider-failed-implies-not-paid",
            doc("provider-failed-implies-not-paid"),
            |c: &Ctx| {
                let snap = lock(&c.snapshot);
                let mut out = Vec::new();
                for t in c.provider.truths().iter().filter(|t| t.failed_now()) {
                    if snap.get(&t.order_id).is_some_and(|o| o.status == "PAID") {
                        let provider = t.status.map_or("none", |s| s.as_str());
                        out.push(format!("{}: provider says {provider}, database says PAID", t.order_id));
                    }
                }
                Ok(out)
            },
        ),
        Invariant::eventually("paid-fulfilled-once", doc("paid-fulfilled-once"), |c: &Ctx| {
            c.each(|o, out| {
                if o.status == "PAID" && o.fulfilments != 1 {
                    out.push(format!("{} is PAID and fulfilled {} times", o.code, o.fulfilments));
                }
            })
        }),
    ]
}
