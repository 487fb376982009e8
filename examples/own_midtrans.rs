//! # A shop's own Midtrans webhook handler under settle
//!
//! The shop writes its webhook handler as an ordinary axum `Router` against seed 001's tables.
//! It plugs it into settle's `midtrans-orders` system in place of the reference handler, and
//! gets everything the reference gets: the provider's real notifications and retry schedule,
//! the checkout racing its insert, faults, crashes, the built-in invariants, shrinking, replay.
//!
//! The handler has seed 001's bugs unless `SHOP_FIXED=1`: when the payment row does not exist yet
//! it answers `200 ok`, Midtrans never sends that notification again, and the order stays
//! PENDING although the customer paid (the shop has no reconciliation job, so nothing repairs
//! it); and it moves money on the body's `transaction_status`, which Midtrans's signature does
//! not cover, so settle's forger replays a genuine `pending` notification edited to `settlement`
//! and an unpaid order turns PAID. The fix answers 503 while the row is missing and asks the
//! status API what the notification is about.
//!
//! Two ways to run it, both with the same system:
//!
//! ```text
//! cargo test --example own_midtrans                 # the #[test] way: settle::testing::Runner
//! cargo run --example own_midtrans -- run examples/own/midtrans_race.toml   # a settle of its own
//! SHOP_FIXED=1 cargo run --example own_midtrans -- run examples/own/midtrans_race.toml
//! ```
//!
//! The second is a `settle`-compatible binary (`settle::cli::App`): the same subcommands (`run`,
//! `replay`, `shrink`, `explore`, `check-determinism`, `list`), with the shop's system in its
//! registry, and every replay command it prints names this binary.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use settle::providers::midtrans::notification::{Notification, verify_signature};
use settle::providers::midtrans::status::{FraudStatus, TransactionStatus as T};
use settle::store::{DbError, SqlError, Tx, Value};
use settle::systems::Variant;
use settle::systems::midtrans_orders::{Env, Orders, app};

/// The shop's system: its own router in place of the reference app, and no reconciliation job.
fn shop(fixed: bool) -> Variant<Orders> {
    Variant::new("shop-orders", move |h| h.with_app(move |env| router(env, fixed)).without("jobs"))
}

fn router(env: Env, fixed: bool) -> Router {
    Router::new().route("/webhooks/midtrans", post(webhook)).with_state((env, fixed))
}

async fn webhook(State((env, fixed)): State<(Env, bool)>, body: Bytes) -> StatusCode {
    let Ok(n) = serde_json::from_slice::<Notification>(&body) else { return StatusCode::BAD_REQUEST };
    if !verify_signature(&n, &env.server_key) {
        return StatusCode::UNAUTHORIZED;
    }
    // The fix, part two: the signature does not cover `transaction_status`; the status API says
    // what the notification is about.
    let n = if fixed {
        match app::status_notification(&env.sim, "app", &env.provider_actor, &env.server_key, &n.order_id).await {
            Ok(Some(confirmed)) => confirmed,
            _ => return StatusCode::SERVICE_UNAVAILABLE,
        }
    } else {
        n
    };
    let target = match (n.status(), n.fraud()) {
        (Some(T::Settlement), _) | (Some(T::Capture), Some(FraudStatus::Accept)) => "PAID",
        (Some(T::Expire), _) => "EXPIRED",
        (Some(T::Cancel), _) => "CANCELLED",
        (Some(T::Deny), _) => "DENIED",
        (Some(T::Failure), _) => "FAILED",
        (Some(T::Refund | T::Chargeback), _) => "REFUNDED",
        _ => return StatusCode::OK,
    };
    let sim = env.sim.clone();
    match env.db.unit("app", "shop.webhook", &n.order_id, |tx| apply(tx, &n, target, sim.now_ms())).await {
        Ok(true) => StatusCode::OK,
        // THE BUG: the checkout has not inserted the payment yet, and we say "ok".
        Ok(false) if !fixed => StatusCode::OK,
        // The fix: 503, and Midtrans retries (four times, over two hours).
        Ok(false) => StatusCode::SERVICE_UNAVAILABLE,
        Err(DbError::Sql(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// One transaction: forward moves only, payment and order together, fulfilled once on PAID.
/// Returns false when the payment row does not exist yet.
fn apply(tx: &mut Tx, n: &Notification, target: &str, now: u64) -> Result<bool, SqlError> {
    let sql = "SELECT o.id, p.payment_status, p.gross_amount FROM orders o \
               JOIN order_payments p ON p.order_id = o.id WHERE o.order_code = ?";
    let Some(row) = tx.query_opt(sql, &[Value::from(&n.order_id)])? else { return Ok(false) };
    let (id, current, gross) = (row.int(0)?, row.text(1)?, row.int(2)?);
    let forward = match current.as_str() {
        "PENDING" => target != "PENDING",
        "PAID" => matches!(target, "DENIED" | "CANCELLED" | "REFUNDED"),
        _ => false,
    };
    if n.gross_amount_minor() != Some(gross) || !forward {
        return Ok(true);
    }
    let paid_at = if target == "PAID" { Value::from(now) } else { Value::Null };
    let args = [target.into(), paid_at, now.into(), id.into()];
    tx.execute("UPDATE order_payments SET payment_status = ?, paid_at = ?, updated_at = ? WHERE order_id = ?", &args)?;
    tx.execute("UPDATE orders SET status = ?, paid_at = ?, updated_at = ? WHERE id = ?", &args)?;
    if target == "PAID" {
        tx.execute(
            "INSERT INTO fulfilments (order_id, source, created_at) VALUES (?, 'shop', ?)",
            &[id.into(), now.into()],
        )?;
    }
    Ok(true)
}

/// A settle of the shop's own: `own_midtrans run …`, `own_midtrans replay …`.
fn main() -> std::process::ExitCode {
    let fixed = std::env::var("SHOP_FIXED").is_ok_and(|v| v == "1");
    settle::cli::App::new("own_midtrans").system(shop(fixed)).main()
}

#[cfg(test)]
mod tests {
    use settle::testing::Runner;

    const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/own/midtrans_race.toml");

    /// The handler with the bug is caught; the failure says how to reproduce it, and saves its
    /// counterexample to a regressions file replayed first on every later run.
    #[test]
    fn the_handler_that_acks_a_missing_row_is_caught() {
        let dir = std::env::temp_dir().join(format!("own-midtrans-{}", std::process::id()));
        let found = Runner::new(super::shop(false), SCENARIO).regressions(dir.join("r.jsonl")).run().unwrap_err();
        assert!(found.contains("violated provider-paid-implies-paid"), "{found}");
        assert!(found.contains("reproduce: SETTLE_SEED="), "{found}");
    }

    /// The fixed handler passes every seed (and the saved counterexample).
    #[test]
    fn the_fixed_handler_passes() {
        let dir = std::env::temp_dir().join(format!("own-midtrans-fixed-{}", std::process::id()));
        Runner::new(super::shop(true), SCENARIO).regressions(dir.join("r.jsonl")).check();
    }
}
