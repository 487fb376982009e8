//! The shop's logic on the shop's own tables and status words — `shop_orders.state` in
//! `waiting/paid/expired/…`, `shop_payments`, `shop_shipments` — described by a mapping in the
//! format `settle audit --mapping` reads, so that settle's built-in invariants check *their*
//! tables. The correct logic passes; a planted bug is caught by a built-in invariant.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use settle::providers::midtrans::notification::{Notification, verify_signature};
use settle::providers::midtrans::status::{FraudStatus, TransactionStatus};
use settle::store::{DbError, Migration, SqlError, Tx, Value};
use settle::systems::Variant;
use settle::systems::midtrans_orders::actors::{self, NewOrder};
use settle::systems::midtrans_orders::{Env, Mapping, Orders, app};

use super::{runner, scenario_file, temp_dir};

const SCHEMA: Migration = Migration::portable(
    "20261130000001_shop",
    "CREATE TABLE shop_orders (id BIGINT NOT NULL PRIMARY KEY, code VARCHAR(64) NOT NULL UNIQUE, \
       state VARCHAR(16) NOT NULL, total BIGINT NOT NULL, paid_on BIGINT NULL, placed_at BIGINT NOT NULL);
     CREATE TABLE shop_payments (order_ref BIGINT NOT NULL UNIQUE REFERENCES shop_orders (id), \
       state VARCHAR(16) NOT NULL, amount BIGINT NOT NULL, paid_on BIGINT NULL, opened_at BIGINT NOT NULL);
     CREATE TABLE shop_shipments (order_ref BIGINT NOT NULL, shipped_at BIGINT NOT NULL);
     CREATE TABLE shop_sync_log (code VARCHAR(64) NOT NULL, before_state VARCHAR(16) NULL, \
       after_state VARCHAR(16) NULL, logged_at BIGINT NOT NULL);",
);

/// Where the shop's data lives, in the audit's mapping format.
const MAPPING: &str = r#"
[orders]
table = "shop_orders"
id = "id"
code = "code"
status = "state"
paid_at = "paid_on"
created_at = "placed_at"
amount = "total"

[orders.states]
pending = ["waiting"]
paid = ["paid"]
expired = ["expired"]
cancelled = ["cancelled"]
denied = ["denied"]
failed = ["failed"]
refunded = ["refunded"]

[order_payments]
table = "shop_payments"
order_id = "order_ref"
status = "state"
paid_at = "paid_on"
created_at = "opened_at"
gross_amount = "amount"

[order_payments.states]
pending = ["waiting"]
paid = ["paid"]
expired = ["expired"]
cancelled = ["cancelled"]
denied = ["denied"]
failed = ["failed"]
refunded = ["refunded"]

[payment_sync_logs]
table = "shop_sync_log"
order_code = "code"
old_status = "before_state"
new_status = "after_state"
created_at = "logged_at"

[fulfilments]
table = "shop_shipments"
order_id = "order_ref"
"#;

/// The checkout's insert, in the shop's words.
fn insert(tx: &mut Tx, o: &NewOrder) -> Result<(), SqlError> {
    tx.execute(
        "INSERT INTO shop_orders (id, code, state, total, paid_on, placed_at) VALUES (?, ?, 'waiting', ?, NULL, ?)",
        &[o.id.into(), Value::from(&o.code), o.amount.into(), o.now_ms.into()],
    )?;
    tx.execute(
        "INSERT INTO shop_payments (order_ref, state, amount, paid_on, opened_at) VALUES (?, 'waiting', ?, NULL, ?)",
        &[o.id.into(), o.amount.into(), o.now_ms.into()],
    )?;
    Ok(())
}

#[derive(Clone)]
struct Shop {
    env: Env,
    /// The planted bug: the payment's `paid_on` is left empty.
    forget_paid_on: bool,
}

async fn webhook(State(shop): State<Shop>, body: Bytes) -> StatusCode {
    let Ok(n) = serde_json::from_slice::<Notification>(&body) else { return StatusCode::BAD_REQUEST };
    if !verify_signature(&n, &shop.env.server_key) {
        return StatusCode::UNAUTHORIZED;
    }
    // The signature does not cover the status: the status API says what changed.
    let env = &shop.env;
    let Ok(Some(n)) =
        app::status_notification(&env.sim, "app", &env.provider_actor, &env.server_key, &n.order_id).await
    else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    use TransactionStatus as T;
    let target = match (n.status(), n.fraud()) {
        (Some(T::Settlement), _) | (Some(T::Capture), Some(FraudStatus::Accept)) => "paid",
        (Some(T::Expire), _) => "expired",
        (Some(T::Cancel), _) => "cancelled",
        (Some(T::Deny), _) => "denied",
        (Some(T::Failure), _) => "failed",
        (Some(T::Refund | T::Chargeback), _) => "refunded",
        _ => return StatusCode::OK,
    };
    let (sim, forget) = (shop.env.sim.clone(), shop.forget_paid_on);
    let r =
        shop.env.db.unit("app", "shop.webhook", &n.order_id, |tx| apply(tx, &n.order_id, target, sim.now_ms(), forget));
    match r.await {
        Ok(true) => StatusCode::OK,
        Ok(false) | Err(DbError::Unavailable | DbError::AnswerLost) => StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn apply(tx: &mut Tx, code: &str, target: &str, now: u64, forget_paid_on: bool) -> Result<bool, SqlError> {
    let Some(row) = tx.query_opt("SELECT id, state FROM shop_orders WHERE code = ?", &[code.into()])? else {
        return Ok(false);
    };
    let (id, state) = (row.int(0)?, row.text(1)?);
    let forward = match state.as_str() {
        "waiting" => target != "waiting",
        "paid" => matches!(target, "denied" | "cancelled" | "refunded"),
        _ => false,
    };
    if !forward {
        return Ok(true);
    }
    let paid_on = if target == "paid" { Value::from(now) } else { Value::Null };
    let payment_paid_on = if forget_paid_on { Value::Null } else { paid_on.clone() };
    tx.execute("UPDATE shop_orders SET state = ?, paid_on = ? WHERE id = ?", &[target.into(), paid_on, id.into()])?;
    tx.execute(
        "UPDATE shop_payments SET state = ?, paid_on = ? WHERE order_ref = ?",
        &[target.into(), payment_paid_on, id.into()],
    )?;
    if target == "paid" {
        tx.execute("INSERT INTO shop_shipments (order_ref, shipped_at) VALUES (?, ?)", &[id.into(), now.into()])?;
    }
    tx.execute(
        "INSERT INTO shop_sync_log (code, before_state, after_state, logged_at) VALUES (?, ?, ?, ?)",
        &[code.into(), Value::from(&state), target.into(), now.into()],
    )?;
    Ok(true)
}

/// The shop on its own schema: its app, its checkout insert, no settle table at all.
fn own_schema(forget_paid_on: bool) -> Variant<Orders> {
    let mapping = Mapping::parse(MAPPING, "shop_mapping.toml").unwrap_or_else(|e| panic!("{e}"));
    Variant::new("shop-schema", move |h| {
        let insert = actors::checkout(h.config(), std::sync::Arc::new(insert));
        h.with_schema(&[SCHEMA], mapping.clone())
            .with_app(move |env| {
                let shop = Shop { env, forget_paid_on };
                Router::new().route("/webhooks/midtrans", post(webhook)).with_state(shop)
            })
            .with_part(insert)
            // The reference jobs and admin read settle's own tables: they go.
            .without("jobs")
            .without("admin")
    })
}

const RACE: &str = r#"
name = "shop-schema"
system = "midtrans-orders"
seeds = 300
[expect]
outcome = "pass"
[network]
drop_response = 0.03
duplicate = 0.03
"#;

#[test]
fn the_shops_own_tables_and_words_pass_and_a_planted_bug_is_caught_by_the_builtin_invariants() {
    let dir = temp_dir("schema");
    let scenario = scenario_file(&dir, "race", RACE);
    let passed = runner(&own_schema(false), &scenario, &dir.join("r.jsonl"), &[]).run();
    let summary = passed.unwrap_or_else(|e| panic!("the shop's own schema passes:\n{e}")).summary.unwrap();
    assert_eq!(summary.violating_seeds, 0);
    // The mapping is what the checks read: the built-in invariants see the shop's tables.
    assert!(summary.coverage.seeds_reaching.get("webhook-before-insert").copied().unwrap_or(0) > 0);

    let caught = runner(&own_schema(true), &scenario, &dir.join("r2.jsonl"), &[]).run().unwrap_err();
    assert!(caught.contains("violated paid-at-iff-paid"), "{caught}");
    assert!(caught.contains("payment of ZVR-") && caught.contains("but paid_at None"), "{caught}");
}
