//! # Your own webhook handler and your own invariant, under settle
//!
//! settle ships reference logic for each system it simulates, but the point is to test *yours*.
//! This example plugs a shop's own Midtrans webhook handler (an ordinary axum `Router`) and the
//! shop's own invariants into the `midtrans-orders` system, finds a seed that breaks them,
//! replays it, and shows that the fix holds on the same seed.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example own_logic
//! ```
//!
//! It exits 0 when everything below happened as described, and 1 otherwise, so it doubles as a
//! test.
//!
//! ## 1. The handler
//!
//! [`shop_router`] is written from scratch, the way a shop would write it: parse the
//! notification, check `signature_key`, then in one unit of work (`ctx.db.unit`, one database
//! transaction) look the payment up by order code, move `order_payments` and `orders` forward
//! together, and insert the fulfilment when the order becomes PAID. Its bug is the one of seed
//! 001: when the payment row is not there yet — Midtrans's notification can arrive before the
//! checkout has inserted its rows — it answers `200 ok`. Midtrans treats 200 as delivered and
//! never sends that notification again, so the order stays PENDING although the customer paid.
//!
//! ## 2. The invariants
//!
//! [`no_paid_order_left_pending`] is an `eventually` invariant: at the end of the run (after a
//! liveness phase with no new load and no faults) every order Midtrans says is paid must be
//! PAID in our database. It compares the provider's ground truth (`ctx.provider.truths()`) with
//! the rows the checker read (`ctx.snapshot()`). [`paid_means_fulfilled`] is an `always`
//! invariant, checked after every unit of work that wrote: a PAID order has exactly one
//! fulfilment, never zero (fulfilment is in the same transaction) and never two (duplicates).
//!
//! ## 3. Finding a failing seed
//!
//! The scenario (load, timing, faults) comes from inline TOML, parsed and validated like a file.
//! We build the system with our router and invariants and run seeds through the [`System`]
//! trait until one violates our invariant. Each seed is one complete, deterministic run.
//!
//! ## 4. Replaying it
//!
//! The failing seed is run again with its trace recorded, and we print the story of the lost
//! order. The report also holds the oracle's choice list: replaying exactly those choices
//! reproduces the identical event list, which is what makes a counterexample shareable.
//!
//! ## 5. The fix
//!
//! Answer 503 while the row is missing: Midtrans retries a 503 (four times, over two hours),
//! and by then the checkout has inserted its row. The same seed, and every seed tried before
//! it, then passes.

use std::collections::BTreeSet;
use std::process;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use settle::check::{Finding, Invariant, Violation};
use settle::providers::midtrans::notification::{Notification, verify_signature};
use settle::providers::midtrans::status::{FraudStatus, TransactionStatus};
use settle::scenario::{self, Scenario};
use settle::sim::{Event, Kind, Oracle, first_divergence};
use settle::store::{DbError, SqlError, Tx, Value, sqlite::Sqlite};
use settle::systems::Variant;
use settle::systems::midtrans_orders::app::ACTOR;
use settle::systems::midtrans_orders::{Ctx, Env as AppCtx, MidtransOrders, Orders};
use settle::systems::{SeedReport, System};

/// The scenario. `no-reconciliation` switches off the reference system's reconciliation job
/// (every 5 minutes it asks Midtrans about old PENDING payments and repairs them): with it on,
/// the job would quietly repair what our handler loses, and the bug would never show. Shops
/// that have no such job are exactly the ones this bug hurts.
///
/// `[expect]` must name an invariant from the built-in catalogue (validation knows no others),
/// so it names the built-in sibling of ours; this example judges its own invariant itself.
const SCENARIO: &str = r#"
name = "own-logic"
description = "A shop's own Midtrans webhook handler, racing the checkout's insert."
system = "midtrans-orders"
flaws = ["no-reconciliation"]
seeds = 500

[expect]
outcome = "violation"
invariant = "provider-paid-implies-paid"

[time]
safety = "1h"
liveness = "45m"
"#;

/// Our invariants' names, as they appear in [`Violation::invariant`].
const NO_PAID_LEFT_PENDING: &str = "no-paid-order-left-pending";
const PAID_MEANS_FULFILLED: &str = "paid-means-fulfilled";
/// The built-in invariant that catches the same bug; it is expected alongside ours.
const BUILTIN_SIBLING: &str = "provider-paid-implies-paid";

// ---------------------------------------------------------------------------------------------
// 1. The shop's webhook handler
// ---------------------------------------------------------------------------------------------

/// What the handler answers when the payment row does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnMissing {
    /// The bug: "ok", and Midtrans never sends this notification again.
    Ack,
    /// The fix: 503, so Midtrans retries later.
    Retry,
}

#[derive(Clone)]
struct Shop {
    ctx: AppCtx,
    on_missing: OnMissing,
}

/// The shop's app. Only the webhook: the simulated admin's "sync payment" clicks get a 404,
/// as they would from a shop without that button.
fn shop_router(ctx: AppCtx, on_missing: OnMissing) -> Router {
    Router::new().route("/webhooks/midtrans", post(midtrans_webhook)).with_state(Shop { ctx, on_missing })
}

async fn midtrans_webhook(State(shop): State<Shop>, body: Bytes) -> (StatusCode, &'static str) {
    let Ok(n) = serde_json::from_slice::<Notification>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed notification");
    };
    if !verify_signature(&n, &shop.ctx.server_key) {
        return (StatusCode::UNAUTHORIZED, "invalid signature_key");
    }
    // `pending`, a capture still under fraud review, a partial refund: nothing to do.
    let Some(target) = target_status(&n) else {
        return (StatusCode::OK, "ok");
    };
    let sim = shop.ctx.sim.clone();
    let found = shop
        .ctx
        .db
        // The key names the order this unit writes, so the checker re-checks just that order.
        .unit(ACTOR, "shop.webhook", &n.order_id, |tx| {
            // Read the clock inside the unit: the unit runs after the database's latency.
            apply(tx, &n, target, sim.now_ms())
        })
        .await;
    match found {
        Ok(true) => (StatusCode::OK, "ok"),
        Ok(false) => match shop.on_missing {
            OnMissing::Ack => {
                // THE BUG: the checkout has not inserted the payment yet, and we say "ok".
                shop.ctx.sim.record(Kind::State, ACTOR, None, || {
                    format!("{}: payment not found, answering 200 anyway", n.order_id)
                });
                (StatusCode::OK, "ok")
            }
            OnMissing::Retry => (StatusCode::SERVICE_UNAVAILABLE, "payment not found yet, retry later"),
        },
        Err(DbError::Sql(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "database error"),
        // An outage, or a commit whose answer was lost: ask Midtrans to retry. `apply` only
        // moves forward, so a retry of an update that did commit changes nothing.
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// The order status a notification calls for, or `None` when it calls for no change.
fn target_status(n: &Notification) -> Option<&'static str> {
    use TransactionStatus as T;
    match (n.status()?, n.fraud()) {
        (T::Settlement, _) | (T::Capture, Some(FraudStatus::Accept)) => Some("PAID"),
        (T::Expire, _) => Some("EXPIRED"),
        (T::Cancel, _) => Some("CANCELLED"),
        (T::Deny, _) => Some("DENIED"),
        (T::Failure, _) => Some("FAILED"),
        (T::Refund | T::Chargeback, _) => Some("REFUNDED"),
        _ => None,
    }
}

/// Forward moves only: PENDING can become anything; a PAID order can only be reversed by the
/// provider. Anything else is a duplicate or an out-of-order notification, and is ignored.
fn may_become(from: &str, to: &str) -> bool {
    match from {
        "PENDING" => to != "PENDING",
        "PAID" => matches!(to, "DENIED" | "CANCELLED" | "REFUNDED"),
        _ => false,
    }
}

/// Applies `n` inside one transaction. Returns whether the payment row exists.
fn apply(tx: &mut Tx, n: &Notification, target: &str, now: u64) -> Result<bool, SqlError> {
    let row = tx.query_opt(
        "SELECT o.id, p.id, p.payment_status, p.gross_amount \
         FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE o.order_code = ?",
        &[Value::from(&n.order_id)],
    )?;
    let Some(row) = row else { return Ok(false) };
    let (order_id, payment_id, current, gross) = (row.int(0)?, row.int(1)?, row.text(2)?, row.int(3)?);
    // A notification for another amount is not ours to apply (and not a missing row).
    if n.gross_amount_minor() != Some(gross) || !may_become(&current, target) {
        return Ok(true);
    }
    let paid_at = if target == "PAID" { Value::from(now) } else { Value::Null };
    tx.execute(
        "UPDATE order_payments SET payment_status = ?, provider_status = ?, paid_at = ?, updated_at = ? WHERE id = ?",
        &[target.into(), Value::from(&n.transaction_status), paid_at.clone(), now.into(), payment_id.into()],
    )?;
    tx.execute(
        "UPDATE orders SET status = ?, paid_at = ?, updated_at = ? WHERE id = ?",
        &[target.into(), paid_at, now.into(), order_id.into()],
    )?;
    if target == "PAID" {
        // Only PENDING → PAID gets here, so each order is fulfilled once.
        let id = tx.query_int("SELECT COALESCE(MAX(id), 0) + 1 FROM fulfilments", &[])?;
        tx.execute(
            "INSERT INTO fulfilments (id, order_id, source, created_at) VALUES (?, ?, 'webhook', ?)",
            &[id.into(), order_id.into(), now.into()],
        )?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// 2. The shop's invariants
// ---------------------------------------------------------------------------------------------

/// Every order Midtrans says is paid is PAID in our database, once the run has settled.
fn no_paid_order_left_pending() -> Invariant<Ctx> {
    Invariant::eventually(
        NO_PAID_LEFT_PENDING,
        "every order Midtrans says is paid is PAID in our database",
        |ctx: &Ctx| {
            // At the end of a run the snapshot holds every order.
            let orders = ctx.snapshot();
            let mut lines = Vec::new();
            for truth in ctx.provider.truths().iter().filter(|t| t.paid_now()) {
                match orders.get(&truth.order_id) {
                    Some(o) if o.status == "PAID" => {}
                    Some(o) => lines.push(Finding::about(
                        &truth.order_id,
                        format!("{}: Midtrans says paid, our order is {}", truth.order_id, o.status),
                    )),
                    None => lines.push(Finding::about(
                        &truth.order_id,
                        format!("{}: Midtrans says paid, we have no order", truth.order_id),
                    )),
                }
            }
            Ok(lines)
        },
    )
}

/// A PAID order has exactly one fulfilment, after every unit of work.
fn paid_means_fulfilled() -> Invariant<Ctx> {
    Invariant::always(PAID_MEANS_FULFILLED, "a PAID order has exactly one fulfilment", |ctx: &Ctx| {
        // After a unit, the snapshot holds just the order that unit wrote.
        Ok(ctx
            .snapshot()
            .values()
            .filter(|o| o.status == "PAID" && o.fulfilments != 1)
            .map(|o| Finding::about(&o.code, format!("{}: PAID with {} fulfilments", o.code, o.fulfilments)))
            .collect())
    })
}

// ---------------------------------------------------------------------------------------------
// 3–5. Find, replay, fix
// ---------------------------------------------------------------------------------------------

/// The scenario's system, with our router and invariants instead of the reference app.
fn shop_system(s: &Scenario, on_missing: OnMissing) -> MidtransOrders {
    // The scenario's own system (its config and flaws), with our handler and invariants.
    s.harness(&Variant::<Orders>::reference())
        .expect("the scenario runs midtrans-orders")
        .with_app(move |ctx| shop_router(ctx, on_missing))
        .with_invariant(no_paid_order_left_pending)
        .with_invariant(paid_means_fulfilled)
}

fn fail(message: &str) -> ! {
    eprintln!("own_logic: FAILED: {message}");
    process::exit(1);
}

fn find<'a>(report: &'a SeedReport, invariant: &str) -> Option<&'a Violation> {
    report.violations.iter().find(|v| v.invariant == invariant)
}

/// The order codes our invariant reports (each of its lines starts with `code:`).
fn lost_orders(v: &Violation) -> BTreeSet<String> {
    v.details.iter().filter_map(|d| d.split_once(':')).map(|(code, _)| code.to_string()).collect()
}

/// The events that tell one order's story, plus the checker's verdicts.
fn story(events: &[Event], codes: &BTreeSet<String>) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.kind == Kind::Check || codes.iter().any(|c| e.text.contains(c.as_str())))
        .cloned()
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario = scenario::parse(SCENARIO, "inline")?;
    let max_seeds = *scenario.seeds.get_ref();
    // One embedded SQLite database, reset by the system before every seed.
    let backend = settle::store::shared(Sqlite::memory()?);

    // 3. Run seeds until one violates our eventually invariant. Bulk runs record no trace.
    let naive = shop_system(&scenario, OnMissing::Ack);
    let quiet = scenario.run_spec(false);
    let mut failing = None;
    for seed in 0..max_seeds {
        let report = naive.run(&quiet, Oracle::random(seed), backend.clone())?;
        // The handler is meant to have exactly one bug; anything else means it has two.
        if let Some(v) =
            report.violations.iter().find(|v| v.invariant != NO_PAID_LEFT_PENDING && v.invariant != BUILTIN_SIBLING)
        {
            fail(&format!("seed {seed}: a violation other than the missing-row race: {v}"));
        }
        if let Some(v) = find(&report, NO_PAID_LEFT_PENDING) {
            failing = Some((seed, v.clone()));
            break;
        }
    }
    let Some((seed, violation)) = failing else {
        fail(&format!("no seed of 0..{max_seeds} violated `{NO_PAID_LEFT_PENDING}`"));
    };
    println!("== 3. search: seed {seed} is the first to fail ({} seed(s) tried)", seed + 1);
    println!("{violation}\n");

    // 4. Replay the seed with its trace recorded. Recording must not change the run.
    let recorded = naive.run(&scenario.run_spec(true), Oracle::random(seed), backend.clone())?;
    if find(&recorded, NO_PAID_LEFT_PENDING) != Some(&violation) {
        fail(&format!("seed {seed} did not fail the same way when replayed with recording on"));
    }
    let lost = lost_orders(&violation);
    let header = format!(
        "== 4. replay of seed {seed}: {} events in all; those of {} and the checker's verdicts:",
        recorded.events.len(),
        lost.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    print!("{}", settle::report::timeline(&header, &story(&recorded.events, &lost), &recorded.violations));

    // The choice list alone reproduces the run: no seed, no PRNG, the same events.
    let replayed = naive.run(&scenario.run_spec(true), Oracle::replay(recorded.choices.clone()), backend.clone())?;
    if let Some(d) = first_divergence(&recorded.events, &replayed.events) {
        fail(&format!("replaying the choice list diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second));
    }
    if replayed.violations != recorded.violations {
        fail("replaying the choice list gave different violations");
    }
    println!(
        "\nreplayed {} recorded choices: identical {} events, identical verdict\n",
        recorded.choices.len(),
        replayed.events.len()
    );

    // 5. The fix: 503 while the row is missing. The same seed must now pass, and so must every
    // seed the search went through.
    let fixed = shop_system(&scenario, OnMissing::Retry);
    let after = fixed.run(&scenario.run_spec(true), Oracle::random(seed), backend.clone())?;
    if let Some(v) = after.violations.first() {
        fail(&format!("seed {seed} still fails with the fixed handler: {v}"));
    }
    let header = format!("== 5. seed {seed} with the fixed handler (503 while the row is missing):");
    print!("{}", settle::report::timeline(&header, &story(&after.events, &lost), &after.violations));
    for s in 0..=seed {
        let report = fixed.run(&quiet, Oracle::random(s), backend.clone())?;
        if let Some(v) = report.violations.first() {
            fail(&format!("seed {s} fails with the fixed handler: {v}"));
        }
    }
    println!("\nthe fixed handler passes seeds 0..={seed}");
    Ok(())
}
