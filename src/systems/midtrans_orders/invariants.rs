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
//! can be streamed from a live database. And on embedded SQLite, a round over an order whose
//! rows (orders, payments, fulfilments) have not changed since it last held is skipped: the
//! five `always` invariants are [`Invariant::rows_only`] ([`CheckCtx::unchanged_since_checked`]).
//!
//! Each invariant's logic is a pure function over one [`OrderRow`] (plus the provider's truth
//! where it needs it) that decides with the shared money library ([`crate::check::money`]) and
//! writes the finding in seed 001's words, shared by the simulation's [`Invariant`]s here and by `settle audit`
//! (`crate::audit`), which streams the same rows from a live database through a [`Mapping`].
//!
//! What they do not check in the simulation: amounts between the provider and the order (the
//! apply logic refuses a mismatch and logs it; the audit checks them), or orders the provider
//! never saw.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::check::mapping::TableName;
use crate::check::money::{self, Gap, PaidSeen, Verdict};
use crate::check::{CheckCtx, Finding, Invariant};
use crate::providers::midtrans::Midtrans;
use crate::sim::world::lock;
use crate::store::{Db, Row, SqlError, Value};

use super::mapping::{Mapping, Statuses};

/// One order as the invariants see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    pub code: String,
    pub status: String,
    pub paid_at: Option<i64>,
    pub created_at: Option<i64>,
    /// In minor units.
    pub amount: Option<i64>,
    /// `None` when there is no payment row.
    pub payment_status: Option<String>,
    pub payment_paid_at: Option<i64>,
    pub payment_created_at: Option<i64>,
    pub payment_amount: Option<i64>,
    pub fulfilments: i64,
}

impl OrderRow {
    /// Reads a row of [`Mapping::snapshot_sql`], normalised by `mapping` into the canonical
    /// words ([`Mapping::read_row`]), moving its strings rather than copying them.
    pub fn from_row(r: Row, mapping: &Mapping) -> Result<Self, SqlError> {
        mapping.read_row(r).map(|s| s.row)
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants' logic: pure functions, each returning the reasons it is violated.

/// `order-payment-agree`: the order's status equals its payment's.
pub fn order_payment_agree(o: &OrderRow) -> Option<String> {
    match &o.payment_status {
        Some(p) if *p != o.status => Some(format!("{}: order {} but payment {p}", o.code, o.status)),
        _ => None,
    }
}

/// `paid-at-iff-paid`: `paid_at` is set exactly when the status is PAID, on both tables.
pub fn paid_at_iff_paid(o: &OrderRow, s: &Statuses, out: &mut Vec<String>) {
    if s.is_paid(&o.status) != o.paid_at.is_some() {
        out.push(format!("order {}: status {} but paid_at {:?}", o.code, o.status, o.paid_at));
    }
    if let Some(p) = &o.payment_status
        && s.is_paid(p) != o.payment_paid_at.is_some()
    {
        out.push(format!("payment of {}: status {p} but paid_at {:?}", o.code, o.payment_paid_at));
    }
}

/// `paid-never-regresses`: an order once PAID (`was_paid`) is now in a regression status
/// ([`money::regresses`]).
// #[gamma::skip(reason = "read only by `settle audit` (the simulation uses regressed_since_seen): tests/it/audit tests it, the scenario suite cannot", tag = "audit")]
pub fn regressed(code: &str, was_paid: bool, now: &str, s: &Statuses) -> Option<String> {
    money::regresses(was_paid, s.verdict(now)).then(|| regression(code, now, s))
}

/// `paid-never-regresses` across looks: `seen` remembers the orders seen PAID ([`PaidSeen`]).
pub fn regressed_since_seen(seen: &mut PaidSeen, o: &OrderRow, s: &Statuses) -> Option<String> {
    seen.regressed(&o.code, s.verdict(&o.status)).then(|| regression(&o.code, &o.status, s))
}

// #[gamma::skip(reason = "a finding's wording only", tag = "trace")]
fn regression(code: &str, now: &str, s: &Statuses) -> String {
    format!("{code} went from {} back to {now}", s.paid)
}

/// `paid-only-if-provider-paid`: PAID, but the provider never said paid
/// ([`money::paid_without_provider`]).
pub fn paid_without_provider(o: &OrderRow, provider_paid: bool, s: &Statuses) -> Option<String> {
    money::paid_without_provider(s.is_paid(&o.status), provider_paid)
        .then(|| format!("{} is {} but the provider never said paid", o.code, o.status))
}

/// `fulfilled-at-most-once`: fulfilled more than once, or fulfilled though never paid
/// ([`money::repeated`], [`money::effect_without_payment`]).
pub fn fulfilled_at_most_once(o: &OrderRow, provider_paid: Option<bool>, out: &mut Vec<String>) {
    if money::repeated(o.fulfilments) {
        out.push(format!("{} fulfilled {} times", o.code, o.fulfilments));
    }
    if money::effect_without_payment(o.fulfilments, provider_paid) {
        out.push(format!("{} fulfilled but never paid", o.code));
    }
}

/// `provider-paid-implies-paid`: the provider says paid (`provider` names its status)
/// ([`money::unrecorded`]).
// #[gamma::skip(match_arm, reason = "which of the two messages a finding carries", tag = "trace")]
pub fn provider_paid_implies_paid(code: &str, provider: &str, o: Option<&OrderRow>, s: &Statuses) -> Option<String> {
    money::unrecorded(Verdict::Paid, o.map(|o| s.verdict(&o.status))).map(|gap| match (gap, o) {
        (Gap::Differs, Some(o)) => format!("{code}: provider says {provider}, database says {}", o.status),
        _ => format!("{code}: provider says {provider}, no order row"),
    })
}

/// `provider-failed-implies-not-paid`: the provider says it ended unpaid (`provider`)
/// ([`money::paid_after_provider_failed`]; Midtrans's refunds count as failures here, since an
/// order need only stop being PAID).
pub fn provider_failed_implies_not_paid(o: &OrderRow, provider: &str, s: &Statuses) -> Option<String> {
    money::paid_after_provider_failed(Verdict::Failed, s.verdict(&o.status))
        .then(|| format!("{}: provider says {provider}, database says {}", o.code, o.status))
}

/// `paid-fulfilled-once`: a PAID order has exactly one fulfilment ([`money::paid_effect_not_once`]).
pub fn paid_fulfilled_once(o: &OrderRow, s: &Statuses) -> Option<String> {
    money::paid_effect_not_once(s.verdict(&o.status), o.fulfilments)
        .then(|| format!("{} is {} and fulfilled {} times", o.code, o.status, o.fulfilments))
}

/// `pending-not-stuck` (the seed's monitor query): PENDING and created before `cutoff`
/// ([`money::stuck`]). The payment's status and creation time count when there is a payment row.
// #[gamma::skip(reason = "read only by `settle audit` (no simulated check calls it): tests/it/audit tests it, the scenario suite cannot", tag = "audit")]
pub fn stuck_pending(o: &OrderRow, cutoff: i64, s: &Statuses) -> Option<String> {
    let (status, created) = match &o.payment_status {
        Some(p) => (p, o.payment_created_at),
        None => (&o.status, o.created_at),
    };
    money::stuck(s.verdict(status), created, cutoff)
        .then(|| format!("{}: {status} since {}, before the cutoff {cutoff}", o.code, created.unwrap_or(cutoff)))
}

/// `amount-matches-provider`: the order's (and payment's) amount equals the provider's.
// #[gamma::skip(reason = "read only by `settle audit` (no simulated check calls it): tests/it/audit tests it, the scenario suite cannot", tag = "audit")]
pub fn amount_matches_provider(o: &OrderRow, provider_amount: i64) -> Option<String> {
    let mut wrong = Vec::new();
    if let Some(a) = o.amount.filter(|a| *a != provider_amount) {
        wrong.push(format!("order amount {a}"));
    }
    if let Some(a) = o.payment_amount.filter(|a| *a != provider_amount) {
        wrong.push(format!("payment amount {a}"));
    }
    (!wrong.is_empty()).then(|| format!("{}: provider amount {provider_amount}, {}", o.code, wrong.join(", ")))
}

/// What the invariants look at.
pub struct Ctx {
    pub db: Db,
    pub provider: Midtrans,
    /// The canonical words the rows are normalised to.
    statuses: Statuses,
    /// The schema read, and what its words mean.
    mapping: Mapping,
    /// The snapshot query, built once from the mapping.
    snapshot_one: String,
    snapshot_all: String,
    /// Orders seen PAID so far (for `paid-never-regresses`).
    paid_seen: Mutex<PaidSeen>,
    snapshot: Mutex<BTreeMap<String, OrderRow>>,
    /// What changed since each scope was last checked ([`CheckCtx::unchanged_since_checked`]).
    changes: Mutex<Changes>,
}

/// Whether a scope's rows may have changed since its last check. `epoch` counts the times the
/// snapshot's tables (orders, payments, fulfilments) changed, or may have: the database could
/// not say which rows changed. A scope last checked in the current epoch has the rows it had.
#[derive(Default)]
struct Changes {
    /// Whether the three names the snapshot reads are plain tables (not views, whose rows the
    /// change log names by their base tables); asked once, at the first check.
    plain_tables: Option<bool>,
    epoch: u64,
    checked_in: BTreeMap<String, u64>,
}

impl Ctx {
    /// Reads the seed-001 schema.
    pub fn new(db: Db, provider: Midtrans) -> Self {
        Ctx::with_mapping(db, provider, &Mapping::default())
    }

    /// Reads the tables and columns `mapping` names, and normalises their status words into
    /// the canonical ones ([`Statuses::default`]) the invariant functions read.
    pub fn with_mapping(db: Db, provider: Midtrans, mapping: &Mapping) -> Self {
        let (select, code) = (mapping.snapshot_sql_for(db.kind()), mapping.code_column());
        Ctx {
            db,
            provider,
            statuses: Statuses::default(),
            mapping: mapping.clone(),
            snapshot_one: format!("{select} WHERE {code} = ?"),
            snapshot_all: format!("{select} ORDER BY {code}"),
            paid_seen: Mutex::default(),
            snapshot: Mutex::default(),
            changes: Mutex::default(),
        }
    }

    /// The tables the snapshot query reads.
    fn snapshot_tables(&self) -> [&TableName; 3] {
        let m = &self.mapping;
        [&m.orders.table, &m.order_payments.table, &m.fulfilments.table]
    }

    /// Whether `table` (as SQLite names it) is one the snapshot query reads.
    fn snapshot_reads(&self, table: &str) -> bool {
        self.snapshot_tables().iter().any(|n| table.eq_ignore_ascii_case(n.name.as_str()))
    }

    /// Whether every table the snapshot reads is a table of the main database's own, named
    /// without a schema (SQLite's `sqlite_master`).
    fn snapshot_reads_plain_tables(&self) -> bool {
        let names = self.snapshot_tables();
        if names.iter().any(|n| n.schema.is_some()) {
            return false;
        }
        let found = self.db.read(|tx| tx.query("SELECT name FROM sqlite_master WHERE type = 'table'", &[]));
        let Ok(rows) = found else { return false };
        let tables: Vec<String> = rows.into_iter().filter_map(|r| r.text(0).ok()).collect();
        names.iter().all(|n| tables.iter().any(|t| t.eq_ignore_ascii_case(n.name.as_str())))
    }

    /// The rows read for the current round of checks, by order code.
    // #[gamma::skip(reason = "only a user's own invariants call it (the reference ones use `each`): tests/it/own tests it, the scenario suite cannot", tag = "own")]
    pub fn snapshot(&self) -> BTreeMap<String, OrderRow> {
        lock(&self.snapshot).clone()
    }

    /// Runs `f` over every row of the snapshot; each line it adds is a finding about that order.
    fn each(&self, mut f: impl FnMut(&OrderRow, &mut Vec<String>)) -> Result<Vec<Finding>, SqlError> {
        let snap = lock(&self.snapshot);
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for row in snap.values() {
            f(row, &mut lines);
            out.extend(lines.drain(..).map(|l| Finding::about(&row.code, l)));
        }
        Ok(out)
    }
}

impl CheckCtx for Ctx {
    fn unchanged_since_checked(&self, scope: Option<&str>) -> bool {
        if !self.db.tracks_changes() {
            return false;
        }
        let mut c = lock(&self.changes);
        if !*c.plain_tables.get_or_insert_with(|| self.snapshot_reads_plain_tables()) {
            return false;
        }
        let touched = match self.db.take_changed_rows() {
            Some(rows) => rows.iter().any(|(t, _)| self.snapshot_reads(t)),
            None => true,
        };
        if touched {
            c.epoch += 1;
        }
        let epoch = c.epoch;
        let key = scope.unwrap_or_default();
        if c.checked_in.get(key) == Some(&epoch) {
            return true;
        }
        c.checked_in.insert(key.to_string(), epoch);
        false
    }

    fn prepare(&self, scope: Option<&str>) -> Result<(), SqlError> {
        let rows = self.db.read(|tx| match scope {
            Some(code) => tx.query(&self.snapshot_one, &[Value::from(code)]),
            None => tx.query(&self.snapshot_all, &[]),
        })?;
        let mut snap = lock(&self.snapshot);
        snap.clear();
        for r in rows {
            let row = OrderRow::from_row(r, &self.mapping)?;
            snap.insert(row.code.clone(), row);
        }
        Ok(())
    }
}

/// The reference invariants (fresh per run: `paid-never-regresses` remembers). Each `always`
/// one reads only the scope's snapshot row and the provider's "ever paid", which only becomes
/// true, so each is [`Invariant::rows_only`]: a round over an order whose rows have not changed
/// since they last held (a unit that only wrote the sync log) is skipped.
pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always(
            "paid-only-if-provider-paid",
            "an order is PAID only if the provider's truth says it was paid",
            |c: &Ctx| c.each(|o, out| out.extend(paid_without_provider(o, c.provider.ever_paid(&o.code), &c.statuses))),
        )
        .rows_only(),
        Invariant::always("order-payment-agree", "order and payment statuses agree after every unit", |c: &Ctx| {
            c.each(|o, out| out.extend(order_payment_agree(o)))
        })
        .rows_only(),
        Invariant::always(
            "paid-never-regresses",
            "a PAID order never goes back to PENDING, EXPIRED or FAILED",
            |c: &Ctx| {
                let mut seen = lock(&c.paid_seen);
                c.each(|o, out| out.extend(regressed_since_seen(&mut seen, o, &c.statuses)))
            },
        )
        .rows_only(),
        Invariant::always(
            "paid-at-iff-paid",
            "paid_at is set iff the status is PAID (orders and payments)",
            |c: &Ctx| c.each(|o, out| paid_at_iff_paid(o, &c.statuses, out)),
        )
        .rows_only(),
        Invariant::always(
            "fulfilled-at-most-once",
            "each order is fulfilled at most once, and only if paid",
            |c: &Ctx| {
                c.each(|o, out| {
                    // Only asked when it matters: the provider's lock is not free.
                    let paid = (o.fulfilments > 0).then(|| c.provider.ever_paid(&o.code));
                    fulfilled_at_most_once(o, paid, out)
                })
            },
        )
        .rows_only(),
        Invariant::eventually("provider-paid-implies-paid", "provider paid ⇒ the order is PAID", |c: &Ctx| {
            let snap = lock(&c.snapshot);
            let mut out = Vec::new();
            for t in c.provider.truths().iter().filter(|t| t.paid_now()) {
                let provider = t.status.map_or("none", |s| s.as_str());
                let found = provider_paid_implies_paid(&t.order_id, provider, snap.get(&t.order_id), &c.statuses);
                out.extend(found.map(|d| Finding::about(&t.order_id, d)));
            }
            Ok(out)
        }),
        Invariant::eventually(
            "provider-failed-implies-not-paid",
            "provider expired/cancelled/denied ⇒ the order is not PAID",
            |c: &Ctx| {
                let snap = lock(&c.snapshot);
                let mut out = Vec::new();
                for t in c.provider.truths().iter().filter(|t| t.failed_now()) {
                    if let Some(o) = snap.get(&t.order_id) {
                        let provider = t.status.map_or("none", |s| s.as_str());
                        let found = provider_failed_implies_not_paid(o, provider, &c.statuses);
                        out.extend(found.map(|d| Finding::about(&o.code, d)));
                    }
                }
                Ok(out)
            },
        ),
        Invariant::eventually("paid-fulfilled-once", "every PAID order is fulfilled exactly once", |c: &Ctx| {
            c.each(|o, out| out.extend(paid_fulfilled_once(o, &c.statuses)))
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::kit::runtime::Rt;
    use crate::providers::midtrans::ProviderConfig;
    use crate::store::Migration;
    use crate::store::sqlite::with_memory_db;

    /// Runs `f` on a context over seed 001's schema plus `extra` SQL, read through `mapping`.
    fn with_ctx(mapping: Mapping, extra: &'static str, f: impl FnOnce(&Ctx)) {
        let mut migrations = super::super::MIGRATIONS.to_vec();
        migrations.push(Migration { version: "99990101000000", sqlite: extra, postgres: "", mysql: "" });
        with_memory_db(&migrations, |db| {
            let provider = Midtrans::new(Rt::sim(db.sim(), "provider"), ProviderConfig::default());
            f(&Ctx::with_mapping(db, provider, &mapping));
        });
    }

    fn write(c: &Ctx, sql: &str) {
        c.db.given(|tx| tx.execute(sql, &[])).unwrap();
    }

    const ORDER: &str = "INSERT INTO orders (id, order_code, status, total_amount, created_at, updated_at) \
                         VALUES (1, 'A', 'PENDING', 100, 0, 0), (2, 'B', 'PENDING', 100, 0, 0)";
    const LOG: &str = "INSERT INTO payment_sync_logs (order_code, sync_type, provider_status, outcome, created_at) \
                       VALUES ('A', 'cron', 'pending', 'unchanged', 0)";

    #[test]
    fn a_scope_is_unchanged_until_a_table_the_snapshot_reads_changes() {
        with_ctx(Mapping::default(), "SELECT 1", |c| {
            write(c, ORDER);
            assert!(!c.unchanged_since_checked(Some("A")), "never checked");
            write(c, LOG);
            assert!(c.unchanged_since_checked(Some("A")), "only the sync log changed");
            assert!(!c.unchanged_since_checked(Some("B")), "B was never checked");
            assert!(c.unchanged_since_checked(Some("B")));
            write(c, "UPDATE orders SET status = 'PAID' WHERE order_code = 'B'");
            assert!(!c.unchanged_since_checked(Some("A")), "another order's row changed: A is read again");
            write(c, "INSERT INTO fulfilments (order_id, source, created_at) VALUES (1, 'x', 0)");
            assert!(!c.unchanged_since_checked(Some("A")), "a fulfilment");
            assert!(!c.unchanged_since_checked(None), "every order, never checked");
            write(c, LOG);
            assert!(c.unchanged_since_checked(None));
            assert!(c.unchanged_since_checked(Some("A")));
        });
    }

    #[test]
    fn a_snapshot_over_a_view_is_never_skipped() {
        // The change log names a view's rows by their base table, so the names would not match.
        let mut m = Mapping::default();
        m.orders.table = TableName::new("orders_view").unwrap();
        with_ctx(m, "CREATE VIEW orders_view AS SELECT * FROM orders", |c| {
            write(c, ORDER);
            assert!(!c.unchanged_since_checked(Some("A")));
            write(c, LOG);
            assert!(!c.unchanged_since_checked(Some("A")), "skipped over a view");
        });
    }
}
