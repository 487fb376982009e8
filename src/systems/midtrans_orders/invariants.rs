//! Seed 001's invariants: SQL over the database plus the provider's ground truth.
//!
//! always (after every unit that wrote):
//! - `paid-only-if-provider-paid`: an order is PAID only if the provider has ever said paid.
//! - `order-payment-agree`: an order's status equals its payment's.
//! - `paid-never-regresses`: a PAID order never goes back to PENDING, EXPIRED or FAILED (the
//!   provider can still reverse it: DENIED, REFUNDED, CANCELLED).
//! - `paid-at-iff-paid`: `paid_at` is set exactly when the status is PAID, on both tables.
//! - `fulfilled-at-most-once`: no order is fulfilled twice; none is fulfilled unpaid.
//!
//! eventually (end of the liveness phase):
//! - `provider-paid-implies-paid`: provider paid ⇒ order PAID (and the order exists).
//! - `provider-failed-implies-not-paid`: provider expired/cancelled/denied/failed ⇒ not PAID.
//! - `paid-fulfilled-once`: every PAID order has exactly one fulfilment.
//!
//! What they do not check: amounts between the provider and the order (the apply logic refuses
//! a mismatch and logs it; `settle audit` will check amounts against an export), or anything
//! about orders the provider never saw.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::check::{Invariant, violations_from_rows};
use crate::providers::midtrans::Midtrans;
use crate::sim::world::lock;
use crate::store::Db;

/// What the invariants look at.
pub struct Ctx {
    pub db: Db,
    pub provider: Midtrans,
    /// Orders seen PAID so far (for `paid-never-regresses`).
    pub paid_seen: Mutex<BTreeSet<String>>,
}

impl Ctx {
    pub fn new(db: Db, provider: Midtrans) -> Self {
        Ctx { db, provider, paid_seen: Mutex::new(BTreeSet::new()) }
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

/// The reference invariants (fresh per run: some hold state).
pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always("paid-only-if-provider-paid", doc("paid-only-if-provider-paid"), |c: &Ctx| {
            let rows = c.db.read(|tx| tx.query("SELECT order_code FROM orders WHERE status = 'PAID' ORDER BY order_code", &[]))?;
            let mut out = Vec::new();
            for r in rows {
                let code = r.text(0)?;
                if !c.provider.ever_paid(&code) {
                    out.push(format!("{code} is PAID but the provider never said paid"));
                }
            }
            Ok(out)
        }),
        Invariant::always("order-payment-agree", doc("order-payment-agree"), |c: &Ctx| {
            let rows = c.db.read(|tx| {
                tx.query(
                    "SELECT o.order_code, o.status, p.payment_status FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE o.status <> p.payment_status ORDER BY o.order_code",
                    &[],
                )
            })?;
            violations_from_rows(rows, |r| Ok(format!("{}: order {} but payment {}", r.text(0)?, r.text(1)?, r.text(2)?)))
        }),
        Invariant::always("paid-never-regresses", doc("paid-never-regresses"), |c: &Ctx| {
            let rows = c.db.read(|tx| tx.query("SELECT order_code, status FROM orders ORDER BY order_code", &[]))?;
            let mut seen = lock(&c.paid_seen);
            let mut out = Vec::new();
            for r in rows {
                let (code, status) = (r.text(0)?, r.text(1)?);
                if status == "PAID" {
                    seen.insert(code);
                } else if seen.contains(&code) && matches!(status.as_str(), "PENDING" | "EXPIRED" | "FAILED") {
                    out.push(format!("{code} went from PAID back to {status}"));
                }
            }
            Ok(out)
        }),
        Invariant::always("paid-at-iff-paid", doc("paid-at-iff-paid"), |c: &Ctx| {
            let rows = c.db.read(|tx| {
                tx.query(
                    "SELECT 'order', order_code, status FROM orders WHERE (status = 'PAID') <> (paid_at IS NOT NULL) \
                     UNION ALL SELECT 'payment', o.order_code, p.payment_status FROM order_payments p JOIN orders o ON o.id = p.order_id WHERE (p.payment_status = 'PAID') <> (p.paid_at IS NOT NULL) \
                     ORDER BY 2, 1",
                    &[],
                )
            })?;
            violations_from_rows(rows, |r| Ok(format!("{} {}: status {} with paid_at that disagrees", r.text(0)?, r.text(1)?, r.text(2)?)))
        }),
        Invariant::always("fulfilled-at-most-once", doc("fulfilled-at-most-once"), |c: &Ctx| {
            let rows = c.db.read(|tx| {
                tx.query(
                    "SELECT o.order_code, COUNT(*) FROM fulfilments f JOIN orders o ON o.id = f.order_id GROUP BY o.order_code ORDER BY o.order_code",
                    &[],
                )
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (code, n) = (r.text(0)?, r.int(1)?);
                if n > 1 {
                    out.push(format!("{code} fulfilled {n} times"));
                }
                if !c.provider.ever_paid(&code) {
                    out.push(format!("{code} fulfilled but never paid"));
                }
            }
            Ok(out)
        }),
        Invariant::eventually("provider-paid-implies-paid", doc("provider-paid-implies-paid"), |c: &Ctx| {
            let mut out = Vec::new();
            for t in c.provider.truths().iter().filter(|t| t.paid_now()) {
                let status = c.db.read(|tx| tx.query_opt("SELECT status FROM orders WHERE order_code = ?", &[t.order_id.as_str().into()]))?;
                let provider = t.status.map_or("none", |s| s.as_str());
                match status.map(|r| r.text(0)).transpose()? {
                    Some(s) if s == "PAID" => {}
                    Some(s) => out.push(format!("{}: provider says {provider}, database says {s}", t.order_id)),
                    None => out.push(format!("{}: provider says {provider}, no order row", t.order_id)),
                }
            }
            Ok(out)
        }),
        Invariant::eventually("provider-failed-implies-not-paid", doc("provider-failed-implies-not-paid"), |c: &Ctx| {
            let mut out = Vec::new();
            for t in c.provider.truths().iter().filter(|t| t.failed_now()) {
                let status = c.db.read(|tx| tx.query_opt("SELECT status FROM orders WHERE order_code = ?", &[t.order_id.as_str().into()]))?;
                if status.map(|r| r.text(0)).transpose()?.as_deref() == Some("PAID") {
                    let provider = t.status.map_or("none", |s| s.as_str());
                    out.push(format!("{}: provider says {provider}, database says PAID", t.order_id));
                }
            }
            Ok(out)
        }),
        Invariant::eventually("paid-fulfilled-once", doc("paid-fulfilled-once"), |c: &Ctx| {
            let rows = c.db.read(|tx| {
                tx.query(
                    "SELECT o.order_code, (SELECT COUNT(*) FROM fulfilments f WHERE f.order_id = o.id) FROM orders o WHERE o.status = 'PAID' ORDER BY o.order_code",
                    &[],
                )
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (code, n) = (r.text(0)?, r.int(1)?);
                if n != 1 {
                    out.push(format!("{code} is PAID and fulfilled {n} times"));
                }
            }
            Ok(out)
        }),
    ]
}
