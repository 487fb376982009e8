//! A shop's own Midtrans integration, written the way a shop writes it — not settle's reference
//! code: a webhook handler and a reconciliation job against seed 001's tables, each with a
//! switch for the bug it can be written with.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use settle::providers::midtrans::Midtrans;
use settle::providers::midtrans::notification::{Notification, verify_signature};
use settle::providers::midtrans::status::{FraudStatus, TransactionStatus};
use settle::sim::Request;
use settle::store::{DbError, SqlError, Tx, Value};
use settle::systems::midtrans_orders::{Env, app};

/// The handler's bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerBug {
    None,
    /// Answers 200 when the payment row does not exist yet (seed 001's incident).
    AckMissing,
    /// Counts any card capture as paid, whatever its fraud review says.
    CaptureIsPaid,
    /// Moves money on the notification's `transaction_status`, which the signature does not
    /// cover, without asking the status API.
    TrustBody,
}

impl HandlerBug {
    /// Whether the handler asks the status API before moving money state. Seed 001's own
    /// handler (`AckMissing`) did not, any more than `TrustBody`.
    fn confirms(self) -> bool {
        matches!(self, HandlerBug::None | HandlerBug::CaptureIsPaid)
    }
}

#[derive(Clone)]
struct Shop {
    env: Env,
    bug: HandlerBug,
}

/// The shop's app: the webhook only.
pub fn router(env: Env, bug: HandlerBug) -> Router {
    Router::new().route("/webhooks/midtrans", post(webhook)).with_state(Shop { env, bug })
}

async fn webhook(State(shop): State<Shop>, body: Bytes) -> (StatusCode, &'static str) {
    let Ok(n) = serde_json::from_slice::<Notification>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed");
    };
    if !verify_signature(&n, &shop.env.server_key) {
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    // The body only says that something changed; the status API says what.
    let n = if shop.bug.confirms() {
        match status(&shop.env, "app", &n.order_id).await {
            Some(confirmed) => confirmed,
            None => return (StatusCode::SERVICE_UNAVAILABLE, "status API did not confirm"),
        }
    } else {
        n
    };
    let Some(target) = target(&n, shop.bug) else { return (StatusCode::OK, "nothing to do") };
    let sim = shop.env.sim.clone();
    let applied = shop.env.db.unit("app", "shop.webhook", &n.order_id, |tx| apply(tx, &n, target, sim.now_ms())).await;
    match applied {
        Ok(true) => (StatusCode::OK, "ok"),
        Ok(false) if shop.bug == HandlerBug::AckMissing => (StatusCode::OK, "ok"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "not yet"),
        Err(DbError::Sql(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "database error"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// The order status a notification calls for.
fn target(n: &Notification, bug: HandlerBug) -> Option<&'static str> {
    use TransactionStatus as T;
    match (n.status()?, n.fraud()) {
        (T::Settlement, _) | (T::Capture, Some(FraudStatus::Accept)) => Some("PAID"),
        (T::Capture, _) if bug == HandlerBug::CaptureIsPaid => Some("PAID"),
        (T::Expire, _) => Some("EXPIRED"),
        (T::Cancel, _) => Some("CANCELLED"),
        (T::Deny, _) => Some("DENIED"),
        (T::Failure, _) => Some("FAILED"),
        (T::Refund | T::Chargeback, _) => Some("REFUNDED"),
        _ => None,
    }
}

fn may_become(from: &str, to: &str) -> bool {
    match from {
        "PENDING" => to != "PENDING",
        "PAID" => matches!(to, "DENIED" | "CANCELLED" | "REFUNDED"),
        _ => false,
    }
}

/// Moves one order forward in one transaction; false when its payment row is not there yet.
pub fn apply(tx: &mut Tx, n: &Notification, target: &str, now: u64) -> Result<bool, SqlError> {
    let row = tx.query_opt(
        "SELECT o.id, p.payment_status, p.gross_amount FROM orders o JOIN order_payments p ON p.order_id = o.id \
         WHERE o.order_code = ?",
        &[Value::from(&n.order_id)],
    )?;
    let Some(row) = row else { return Ok(false) };
    let (id, current, gross) = (row.int(0)?, row.text(1)?, row.int(2)?);
    if n.gross_amount_minor() != Some(gross) || !may_become(&current, target) {
        return Ok(true);
    }
    set_status(tx, id, target, &n.transaction_status, now)?;
    Ok(true)
}

/// Sets order and payment to `target`, fulfilling on PAID.
pub fn set_status(tx: &mut Tx, id: i64, target: &str, provider: &str, now: u64) -> Result<(), SqlError> {
    let paid_at = if target == "PAID" { Value::from(now) } else { Value::Null };
    tx.execute(
        "UPDATE order_payments SET payment_status = ?, provider_status = ?, paid_at = ?, updated_at = ? WHERE order_id = ?",
        &[target.into(), provider.into(), paid_at.clone(), now.into(), id.into()],
    )?;
    tx.execute(
        "UPDATE orders SET status = ?, paid_at = ?, updated_at = ? WHERE id = ?",
        &[target.into(), paid_at, now.into(), id.into()],
    )?;
    if target == "PAID" {
        tx.execute(
            "INSERT INTO fulfilments (order_id, source, created_at) VALUES (?, 'shop', ?)",
            &[id.into(), now.into()],
        )?;
    }
    Ok(())
}

/// The job's bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobBug {
    None,
    /// Compares `created_at` (milliseconds) with a cutoff in seconds: it never finds anything.
    CutoffInSeconds,
    /// Takes the status API's 404 for "paid": Snap answers 404 until the customer chooses a
    /// payment method, which on the default load is always within 30 s (issue 11).
    NotFoundIsPaid,
}

/// The shop's reconciliation job: every 5 minutes, asks Midtrans about PENDING payments older
/// than 5 minutes and applies the answer. Its actor is `recon`; after a crash it starts over.
pub async fn reconciliation(env: Env, bug: JobBug) {
    let every = 300_000;
    loop {
        let now = env.sim.now_ms();
        env.sim.sleep_until_ms((now / every + 1) * every).await;
        let now = env.sim.now_ms();
        let cutoff = if bug == JobBug::CutoffInSeconds { now / 1_000 - 300 } else { now - 300_000 };
        let pending = env
            .db
            .unit("recon", "recon.pending", "", |tx| {
                let rows = tx.query(
                    "SELECT o.order_code FROM orders o JOIN order_payments p ON p.order_id = o.id \
                     WHERE p.payment_status = 'PENDING' AND p.created_at < ? ORDER BY o.order_code",
                    &[cutoff.into()],
                )?;
                rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
            })
            .await;
        for code in pending.unwrap_or_default() {
            if bug == JobBug::NotFoundIsPaid && status_is_404(&env, &code).await {
                let sim = env.sim.clone();
                let _ = env
                    .db
                    .unit("recon", "recon.apply-404", &code, |tx| {
                        let id = tx.query_opt("SELECT id FROM orders WHERE order_code = ?", &[Value::from(&code)])?;
                        match id {
                            Some(r) => set_status(tx, r.int(0)?, "PAID", "settlement", sim.now_ms()),
                            None => Ok(()),
                        }
                    })
                    .await;
                continue;
            }
            let Some(n) = status(&env, "recon", &code).await else { continue };
            let Some(target) = target(&n, HandlerBug::None) else { continue };
            let sim = env.sim.clone();
            let applied = env.db.unit("recon", "recon.apply", &code, |tx| apply(tx, &n, target, sim.now_ms())).await;
            if target == "PAID" && applied.is_ok() {
                env.sim.mark("shop-recon-ran");
            }
        }
    }
}

/// Whether the status API answers 404 for this order (the buggy job's question).
async fn status_is_404(env: &Env, code: &str) -> bool {
    let req = Request::new(http::Method::GET, format!("/v2/{code}/status"))
        .header("authorization", Midtrans::basic_auth(&env.server_key))
        .label(format!("GET /v2/{code}/status"));
    env.sim.request("recon", &env.provider_actor, req, 10_000).await.is_ok_and(|r| r.status == 404)
}

/// Midtrans's status API for one order, as the shop's client calls it.
async fn status(env: &Env, actor: &str, code: &str) -> Option<Notification> {
    app::status_notification(&env.sim, actor, &env.provider_actor, &env.server_key, code).await.ok().flatten()
}
