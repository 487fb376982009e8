//! The actors around the app: the checkout (creates the charge, then inserts its rows after a
//! delay — the race window), the customer (picks a method and pays, or walks away), the jobs
//! (reconciliation every 5 minutes of PENDING payments and of PAID ones that can still be
//! reversed, the stuck-payment monitor) and the admin who presses the
//! seed's "Sync Payment Status" button (and, when told, sweeps every PENDING order at the end of
//! the day).
//!
//! Each is a [`Part`] of the system, so a user can replace any of them: the checkout keeps its
//! load (orders, charges, customers) and takes the shop's own insert ([`checkout`] with an
//! [`InsertFn`]), and the jobs, the admin and the forger are replaced whole.
//!
//! What they do not do: crash mid-charge (the checkout and customer are not crash targets; an
//! orphaned charge is a different bug from seed 001's).

use std::sync::Arc;

use super::app::{self, fetch_status};
use super::logic::{self, Applied, OrderStatus, Source};
use super::{Captured, Config, Env, Flaw, Flaws};
use crate::providers::midtrans::status::PaymentType;
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, Phase, Request, Sim};
use crate::store::{BackendKind, DbError, SqlError, Tx, Value};
use crate::systems::{Part, Role};

pub const CHECKOUT: &str = "checkout";
pub const CUSTOMER: &str = "customer";
pub const JOBS: &str = "jobs";
pub const ADMIN: &str = "admin";
pub const FORGER: &str = "forger";

/// Deterministic order codes in the seed's format.
pub fn order_code(n: u64) -> String {
    format!("ZVR-20260122-{:08X}", 0x26A6_A050_u64 + n)
}

struct Planned {
    keep: bool,
    n: u64,
    at: u64,
    method: PaymentType,
    amount: i64,
    insert_delay: u64,
    pays: bool,
    pay_delay: u64,
}

/// A new order as the checkout inserts it, once Midtrans has its charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The order's number in the run (1, 2, …), usable as a primary key.
    pub id: i64,
    /// The order code Midtrans knows (`order_id` in its payloads).
    pub code: String,
    /// Midtrans's transaction id for the charge.
    pub transaction_id: String,
    pub method: PaymentType,
    /// In minor units (IDR × 100).
    pub amount: i64,
    /// Simulated milliseconds, read inside the unit.
    pub now_ms: u64,
}

/// The shop's insert of a new order, in one unit of work.
pub type InsertFn = Arc<dyn Fn(&mut Tx, &NewOrder) -> Result<(), SqlError> + Send + Sync>;

/// Seed 001's insert: the order and its PENDING payment.
pub fn reference_insert(tx: &mut Tx, o: &NewOrder) -> Result<(), SqlError> {
    let now = o.now_ms;
    tx.execute(
        "INSERT INTO orders (id, order_code, status, total_amount, paid_at, created_at, updated_at) VALUES (?, ?, 'PENDING', ?, NULL, ?, ?)",
        &[o.id.into(), Value::from(&o.code), o.amount.into(), now.into(), now.into()],
    )?;
    tx.execute(
        "INSERT INTO order_payments (id, order_id, transaction_id, payment_method, payment_status, provider_status, gross_amount, paid_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'PENDING', 'pending', ?, NULL, ?, ?)",
        &[
            o.id.into(),
            o.id.into(),
            Value::from(&o.transaction_id),
            o.method.as_str().into(),
            o.amount.into(),
            now.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// The checkout: `cfg.orders` orders at seeded times in the arrival window; each creates its
/// charge, then inserts its rows with `insert` after the race window, retrying until the insert
/// lands. Its customers pay (or walk away) at the provider. Where the race window is open, it
/// promises that some notification arrives before its insert.
pub fn checkout(cfg: &Config, insert: InsertFn) -> Part<Env> {
    let part = Part::once(CHECKOUT, Role::App, move |sim: &Sim, env: &Env| start_checkout(sim, env, insert.clone()));
    if cfg.insert_delay.max.0 > 0 && cfg.orders > 0 {
        part.sometimes("webhook-before-insert", "a notification arrived before the checkout inserted its row")
    } else {
        part
    }
}

fn start_checkout(sim: &Sim, env: &Env, insert: InsertFn) {
    let cfg = env.cfg.clone();
    let mut plan: Vec<Planned> = sim.choose(|o| {
        (0..u64::from(cfg.orders))
            // Every field is drawn even for a dropped order, so dropping one (shrinking) keeps
            // the choices of the others in place.
            .map(|n| Planned {
                keep: o.keep(),
                n: n + 1,
                at: cfg.arrival.draw_uniform(o),
                method: cfg.methods[o.below(cfg.methods.len() as u64) as usize],
                amount: (cfg.amount_min + o.below((cfg.amount_max - cfg.amount_min) as u64 / 100 + 1) as i64 * 100)
                    .min(cfg.amount_max),
                insert_delay: cfg.insert_delay.draw(o),
                pays: o.chance(cfg.pay.ppm()),
                pay_delay: cfg.pay_delay.draw(o),
            })
            .collect()
    });
    plan.retain(|p| p.keep);
    plan.sort_by_key(|p| (p.at, p.n));
    let (sim2, env) = (sim.clone(), env.clone());
    sim.add_actor(CUSTOMER);
    sim.spawn(CHECKOUT, async move {
        for p in plan {
            sim2.sleep_until_ms(p.at).await;
            if sim2.phase() != Phase::Safety {
                break;
            }
            let (s, e, i) = (sim2.clone(), env.clone(), insert.clone());
            sim2.spawn(CHECKOUT, async move { checkout_one(s, e, i, p).await });
        }
    });
}

async fn checkout_one(sim: Sim, env: Env, insert: InsertFn, p: Planned) {
    let code = order_code(p.n);
    let provider = env.provider.clone();
    let txn = sim.exchange(|| {
        sim.record(Kind::Send, CHECKOUT, Some(crate::providers::midtrans::provider::ACTOR), || {
            format!("POST /snap/v1/transactions {code}")
        });
        provider.create_charge(&code, p.amount, p.method)
    });
    if p.pays {
        let (s, m, c) = (sim.clone(), provider.clone(), code.clone());
        sim.spawn(CUSTOMER, async move {
            s.sleep_ms(p.pay_delay).await;
            // Snap: the customer can only pay once a method is chosen.
            for _ in 0..120 {
                if m.truth(&c).is_some_and(|t| t.status.is_some()) {
                    break;
                }
                s.sleep_ms(1_000).await;
            }
            if m.payable(&c) {
                s.exchange(|| {
                    s.record(Kind::Send, CUSTOMER, Some(crate::providers::midtrans::provider::ACTOR), || {
                        format!("{c}: pays")
                    });
                    let paid = m.pay(&c);
                    debug_assert!(paid, "a pending transaction in the safety phase can be paid");
                });
            }
        });
    }
    sim.sleep_ms(p.insert_delay).await;
    // The insert is retried until it lands: the checkout request is the customer's, and they
    // retry too. A lost answer after commit shows up as a duplicate key on the retry.
    for attempt in 0..600u32 {
        let (s, key, txn, ins, insert) = (sim.clone(), code.clone(), txn.clone(), env.inserted.clone(), insert.clone());
        let result = env
            .db
            .unit(CHECKOUT, "checkout.insert", &code, move |tx| {
                let order = NewOrder {
                    id: p.n as i64,
                    code: key,
                    transaction_id: txn,
                    method: p.method,
                    amount: p.amount,
                    now_ms: s.now_ms(),
                };
                insert(tx, &order)?;
                lock(&ins).insert(order.code);
                Ok(())
            })
            .await;
        match result {
            Ok(()) | Err(DbError::Sql(SqlError::Constraint(_))) => return,
            Err(_) => {
                let wait = 1_000 * u64::from(attempt.min(30) + 1);
                sim.sleep_ms(wait).await;
            }
        }
    }
}

/// The jobs actor's main task: reconciliation every `reconcile_every` (unless the
/// `no-reconciliation` flaw is on) and the stuck-payment monitor every `monitor_every`.
/// Runs again from the next tick after a restart.
pub async fn jobs(env: Env, flaws: Flaws) {
    let (sim, db, cfg, server_key) = (env.sim, env.db, env.cfg, env.server_key);
    let every = cfg.reconcile_every.0.max(1_000);
    let monitor_every = cfg.monitor_every.0.max(1_000);
    // #[gamma::skip(arith.mul_to_add, arith.mul_to_div, arith.add_to_mul, reason = "the first tick's phase: these start the schedule at or just after the run's start, or catch a restarted job up with a burst of ticks; what the jobs do does not depend on their phase", tag = "timing")]
    let mut next_reconcile = (sim.now_ms() / every + 1) * every;
    // #[gamma::skip(arith.mul_to_add, arith.mul_to_div, arith.add_to_mul, reason = "the first tick's phase: these start the schedule at or just after the run's start, or catch a restarted job up with a burst of ticks; what the jobs do does not depend on their phase", tag = "timing")]
    let mut next_monitor = (sim.now_ms() / monitor_every + 1) * monitor_every;
    loop {
        let next = if flaws.has(Flaw::NoReconciliation) { next_monitor } else { next_reconcile.min(next_monitor) };
        sim.sleep_until_ms(next).await;
        if next == next_monitor {
            monitor(&sim, &db, &cfg).await;
            next_monitor += monitor_every;
        }
        if next == next_reconcile {
            if !flaws.has(Flaw::NoReconciliation) {
                reconcile(&sim, &db, &cfg, flaws, &server_key).await;
            }
            next_reconcile += every;
        }
    }
}

async fn reconcile(sim: &Sim, db: &crate::store::Db, cfg: &Config, flaws: Flaws, server_key: &str) {
    let cutoff = sim.now_ms().saturating_sub(cfg.reconcile_older_than.0) as i64;
    let pending = db
        .unit(JOBS, "recon.select-pending", "", |tx| {
            let rows = tx.query(
                "SELECT o.order_code FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE p.payment_status = 'PENDING' AND p.created_at < ? ORDER BY p.created_at, o.order_code LIMIT 100",
                &[cutoff.into()],
            )?;
            rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
        })
        .await;
    let Ok(pending) = pending else { return };
    sim.record(Kind::State, JOBS, None, || {
        format!("reconciliation: {} PENDING payment(s) older than {}", pending.len(), cfg.reconcile_older_than)
    });
    for code in pending {
        reconcile_one(sim, db, flaws, server_key, &code).await;
    }
    // `recon-pending-only`: the seed's job stops here, and a PAID order whose reversal
    // notification was lost (an outage longer than Midtrans's retries) stays PAID for ever.
    if flaws.has(Flaw::ReconPendingOnly) {
        return;
    }
    let now = sim.now_ms() as i64;
    let horizon = cfg.reverify_paid_for.0 as i64;
    let cap = cfg.reverify_every_max.0 as i64;
    let sql = if db.kind() == BackendKind::Sqlite { REVERIFY_PAID_SQL_SQLITE } else { REVERIFY_PAID_SQL };
    let paid = db
        .unit(JOBS, "recon.select-paid", "", |tx| {
            let rows = tx.query(sql, &[horizon.into(), now.into(), cap.into(), cap.into()])?;
            rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
        })
        .await;
    let Ok(paid) = paid else { return };
    // #[gamma::skip(unary.remove_not, reason = "decides only whether the trace says how many PAID payments are re-verified", tag = "trace")]
    if !paid.is_empty() {
        sim.record(Kind::State, JOBS, None, || {
            format!(
                "reconciliation: {} PAID payment(s) to re-verify (reversible for {})",
                paid.len(),
                cfg.reverify_paid_for
            )
        });
    }
    for code in paid {
        reconcile_one(sim, db, flaws, server_key, &code).await;
    }
}

/// The text of [`REVERIFY_PAID_SQL`], with `$inner_limit` closing the derived table.
macro_rules! reverify_paid_sql {
    ($inner_limit:literal) => {
        concat!(
            "SELECT c.code FROM (SELECT o.order_code AS code, p.paid_at AS paid_at, COALESCE((SELECT MAX(l.created_at) FROM payment_sync_logs l WHERE l.order_code = o.order_code AND l.sync_type = 'reconciliation' AND l.created_at >= p.paid_at), p.paid_at) AS last_check FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE p.payment_status = 'PAID' AND p.paid_at IS NOT NULL",
            $inner_limit,
            ") c WHERE c.last_check < c.paid_at + ? AND ? - c.last_check >= CASE WHEN c.last_check - c.paid_at < ? THEN c.last_check - c.paid_at ELSE ? END ORDER BY c.paid_at, c.code LIMIT 100"
        )
    };
}

/// PAID payments due for another look at Midtrans. A payment stays on the list until a
/// reconciliation check made at least `horizon` (the first `?`) after `paid_at` has confirmed it.
/// It is due when the time since its last check (or since `paid_at`) is at least the time from
/// `paid_at` to that check, capped at `reverify_every_max` (the last two `?`): checks at 5, 10,
/// 20, 40, then every 30 minutes — so once faults heal, a payment is due within the cap. The
/// list is kept by the sync log, not by memory, so an outage of any length only delays it: after
/// the outage every payment whose last check is older than the cap is due at once.
pub const REVERIFY_PAID_SQL: &str = reverify_paid_sql!("");

/// [`REVERIFY_PAID_SQL`] as SQLite runs it: the same rows in the same order. `LIMIT -1` (no
/// limit, in SQLite's dialect) keeps SQLite from flattening the derived table into the outer
/// query, which would copy the `last_check` subquery into each of its four uses and run it
/// four times a payment (about 45 % of the statement's instructions; issue 16).
pub const REVERIFY_PAID_SQL_SQLITE: &str = reverify_paid_sql!(" LIMIT -1");

/// Asks the status API about one order and applies the answer in one unit.
async fn reconcile_one(sim: &Sim, db: &crate::store::Db, flaws: Flaws, server_key: &str, code: &str) {
    let upd = match fetch_status(sim, JOBS, crate::providers::midtrans::provider::ACTOR, server_key, code).await {
        Ok(Some(u)) => u,
        Ok(None) | Err(_) => return,
    };
    let s = sim.clone();
    let applied = db
        .unit(JOBS, "recon.apply", code, |tx| {
            logic::apply(tx, &upd, Source::Reconciliation, s.now_ms(), flaws, logic::Part::Both)
        })
        .await;
    match applied {
        Ok(Applied::Changed { to: OrderStatus::Paid, .. }) => {
            sim.mark("reconciliation-repaired");
            sim.record(Kind::State, JOBS, None, || format!("{code}: reconciliation repaired PENDING → PAID"));
        }
        Ok(Applied::Changed { from: OrderStatus::Paid, to, .. }) => {
            sim.mark("reconciliation-caught-reversal");
            sim.record(Kind::State, JOBS, None, || {
                format!("{code}: reconciliation found the payment reversed: PAID → {}", to.as_str())
            });
        }
        _ => {}
    }
}

async fn monitor(sim: &Sim, db: &crate::store::Db, cfg: &Config) {
    let cutoff = sim.now_ms().saturating_sub(cfg.stuck_after.0) as i64;
    let stuck =
        db.unit(JOBS, "monitor.stuck-payments", "", |tx| tx.query(logic::STUCK_PAYMENTS_SQL, &[cutoff.into()])).await;
    // #[gamma::skip(unary.remove_not, reason = "coverage only: the monitor only logs, so this decides whether its log line and its mark appear, never what the system stores; flagging an empty list has no check to refute it (a monitor that never flags is caught: midtrans_long_outage requires its mark)", tag = "coverage")]
    if let Ok(rows) = stuck
        && !rows.is_empty()
    {
        sim.mark("monitor-flagged-stuck");
        sim.record(Kind::State, JOBS, None, || {
            format!("monitor: {} payment(s) PENDING for more than {}", rows.len(), cfg.stuck_after)
        });
    }
}

/// The admin, who presses "Sync Payment Status" on the oldest PENDING order a few times per
/// run and, with `admin_sweep` set, sweeps at the end of the day: lists every order still
/// PENDING and presses it on each. A crash loses the clicks still ahead, the sweep too.
pub fn admin() -> Part<Env> {
    Part::once(ADMIN, Role::App, |sim: &Sim, env: &Env| start_admin(sim, env)).crashable(true)
}

fn start_admin(sim: &Sim, env: &Env) {
    let (db, cfg) = (&env.db, &env.cfg);
    let sweep_at = cfg.admin_sweep.map(|after| sim.config().safety.0 + after.0);
    if cfg.admin_clicks_max == 0 && sweep_at.is_none() {
        return;
    }
    let safety = sim.config().safety.0;
    // No choice is drawn without clicks, so a sweep alone leaves every other draw in place.
    let mut times = if cfg.admin_clicks_max == 0 {
        Vec::new()
    } else {
        sim.choose(|o| {
            let n = o.below(u64::from(cfg.admin_clicks_max) + 1);
            (0..n).map(|_| o.below(safety.max(1))).collect::<Vec<_>>()
        })
    };
    times.sort();
    let (sim2, db) = (sim.clone(), db.clone());
    sim.spawn(ADMIN, async move {
        for t in times {
            sim2.sleep_until_ms(t).await;
            let cutoff = sim2.now_ms().saturating_sub(60_000) as i64;
            let oldest = db
                .unit(ADMIN, "admin.list-pending", "", |tx| {
                    tx.query_opt(
                        "SELECT o.order_code FROM orders o WHERE o.status = 'PENDING' AND o.created_at < ? ORDER BY o.created_at, o.order_code LIMIT 1",
                        &[cutoff.into()],
                    )?
                    .map(|r| r.text(0))
                    .transpose()
                })
                .await;
            let Ok(Some(code)) = oldest else { continue };
            click_sync(&sim2, &code).await;
        }
        if let Some(at) = sweep_at {
            sim2.sleep_until_ms(at).await;
            sweep(&sim2, &db).await;
        }
    });
}

/// The end-of-day sweep: every order still PENDING on the dashboard, oldest first, gets its
/// "Sync Payment Status" press.
async fn sweep(sim: &Sim, db: &crate::store::Db) {
    let pending = db
        .unit(ADMIN, "admin.list-all-pending", "", |tx| {
            let rows = tx.query(
                "SELECT o.order_code FROM orders o WHERE o.status = 'PENDING' ORDER BY o.created_at, o.order_code",
                &[],
            )?;
            rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
        })
        .await;
    let Ok(pending) = pending else { return };
    sim.record(Kind::State, ADMIN, None, || {
        format!("end-of-day sweep: {} order(s) still PENDING; syncing each", pending.len())
    });
    for code in pending {
        click_sync(sim, &code).await;
    }
}

/// One press of "Sync Payment Status" for `code`.
async fn click_sync(sim: &Sim, code: &str) {
    let label = if sim.recording() { format!("POST /admin/orders/{code}/sync-payment") } else { String::new() };
    let req = Request::new(http::Method::POST, format!("/admin/orders/{code}/sync-payment")).label(label);
    let _ = sim.request(ADMIN, app::ACTOR, req, Millis::s(30).0).await;
}

/// Someone who knows the webhook URL but not the server key posts forged `settlement`
/// notifications for random orders. The app must answer 401 and change nothing; if it accepts
/// one, `paid-only-if-provider-paid` catches the unpaid order turning PAID.
///
/// And someone who has read a genuine `pending` notification (the shop's logs, a proxy) replays
/// it with `transaction_status` edited to `settlement`: Midtrans's `signature_key` covers
/// `order_id`, `status_code` and `gross_amount`, not the status, so it verifies. An app that
/// moves money on the body's status turns an unpaid order PAID; one that asks the status API does
/// not.
pub fn forger(cfg: &Config) -> Part<Env> {
    let part = Part::once(FORGER, Role::Client, |sim: &Sim, env: &Env| start_forger(sim, env));
    let part = if cfg.forged_notifications_max > 0 && cfg.orders > 0 {
        part.sometimes("forged-notification-rejected", "a notification with a bad signature was refused")
    } else {
        part
    };
    if cfg.replayed_notifications_max > 0 && cfg.orders > 0 {
        part.sometimes(
            "replayed-edited-notification",
            "a genuine pending notification was replayed as settlement while its order was unpaid",
        )
    } else {
        part
    }
}

fn start_forger(sim: &Sim, env: &Env) {
    let cfg = &env.cfg;
    if cfg.orders == 0 || (cfg.forged_notifications_max == 0 && cfg.replayed_notifications_max == 0) {
        return;
    }
    let safety = sim.config().safety.0;
    // (when, order number) for a guessed-key forgery; order 0 is a replay of a captured one.
    let mut plan = sim.choose(|o| {
        let mut plan = Vec::new();
        if cfg.forged_notifications_max > 0 {
            let n = o.below(u64::from(cfg.forged_notifications_max) + 1);
            plan.extend((0..n).map(|_| (o.below(safety.max(1)), o.below(u64::from(cfg.orders)) + 1)));
        }
        if cfg.replayed_notifications_max > 0 {
            let n = o.below(u64::from(cfg.replayed_notifications_max) + 1);
            plan.extend((0..n).map(|_| (o.below(safety.max(1)), 0)));
        }
        plan
    });
    plan.sort();
    let (sim2, cfg, provider, captured) = (sim.clone(), cfg.clone(), env.provider.clone(), env.captured.clone());
    sim.spawn(FORGER, async move {
        for (at, n) in plan {
            sim2.sleep_until_ms(at).await;
            if n == 0 {
                replay_edited(&sim2, &cfg, &provider, &captured).await;
            } else {
                forge(&sim2, &cfg, &order_code(n)).await;
            }
        }
    });
}

/// Posts a `settlement` for `code` signed with a guessed key.
async fn forge(sim: &Sim, cfg: &Config, code: &str) {
    use crate::providers::midtrans::notification::{NotificationParams, build};
    let forged = build(NotificationParams {
        order_id: code,
        transaction_id: "00000000-f04e-4e1d-9000-000000000000",
        status: crate::providers::midtrans::status::TransactionStatus::Settlement,
        fraud: None,
        payment_type: PaymentType::BankTransfer,
        gross_amount_minor: cfg.amount_min,
        merchant_id: &cfg.provider.merchant_id,
        server_key: "a-guessed-server-key",
        transaction_time_ms: sim.wall_ms(),
        settlement_time_ms: Some(sim.wall_ms()),
    });
    let body = serde_json::to_vec(&forged).unwrap_or_default();
    let label = if sim.recording() {
        format!("POST {} {code} settlement (forged signature)", cfg.provider.notify_path)
    } else {
        String::new()
    };
    let req = Request::new(http::Method::POST, cfg.provider.notify_path.clone()).json(body).label(label);
    if let Ok(resp) = sim.request(FORGER, app::ACTOR, req, Millis::s(15).0).await
        && (resp.status == 401 || resp.status == 403)
    {
        sim.mark("forged-notification-rejected");
    }
}

/// Replays one captured genuine `pending` notification (drawn from those seen so far) with
/// `transaction_status` edited to `settlement`; nothing to replay yet, nothing posted.
async fn replay_edited(sim: &Sim, cfg: &Config, provider: &crate::providers::midtrans::Midtrans, captured: &Captured) {
    let seen = lock(captured).len();
    if seen == 0 {
        return;
    }
    let pick = sim.choose(|o| o.below(seen as u64)) as usize;
    let body = lock(captured)[pick].clone();
    let Ok(serde_json::Value::Object(mut n)) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return;
    };
    let code = n.get("order_id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    n.insert("transaction_status".into(), "settlement".into());
    n.insert("settlement_time".into(), crate::providers::midtrans::notification::format_time(sim.wall_ms()).into());
    if !provider.ever_paid(&code) {
        sim.mark("replayed-edited-notification");
    }
    let label = if sim.recording() {
        format!(
            "POST {} {code} pending edited to settlement (replayed; signature still valid)",
            cfg.provider.notify_path
        )
    } else {
        String::new()
    };
    let body = serde_json::to_vec(&n).unwrap_or_default();
    let req = Request::new(http::Method::POST, cfg.provider.notify_path.clone()).json(body).label(label);
    let _ = sim.request(FORGER, app::ACTOR, req, Millis::s(15).0).await;
}
