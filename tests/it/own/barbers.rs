//! A barber shop's own Stripe webhook handler for seed 004's tables, plugged into
//! `stripe-barbers` in place of settle's app through the public API alone (settle's checkout,
//! cron, dashboard and Stripe stay). Its bug is the one Stripe's fulfilment guide warns about:
//! `checkout.session.completed` is taken as "paid", but for a bank debit it arrives with
//! `payment_status = unpaid` and the money may never come. settle's built-in invariant
//! `paid-only-if-stripe-paid` finds it; the fix (look at `payment_status`, wait for
//! `async_payment_succeeded`) passes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use settle::providers::stripe::objects::{Event, Session};
use settle::providers::stripe::{SIGNATURE_HEADER, webhook};
use settle::store::{SqlError, Tx};
use settle::systems::Variant;
use settle::systems::stripe_barbers::{Barbers, Env};

use super::{bug_cycle, scenario_file, temp_dir};

/// Whether the handler has the bug.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    CompletedIsPaid,
    None,
}

#[derive(Clone)]
struct Shop {
    env: Env,
    bug: Bug,
}

fn router(env: Env, bug: Bug) -> Router {
    Router::new().route("/webhooks/stripe", post(handle)).with_state(Shop { env, bug })
}

/// Confirms the PENDING booking of `session` and marks its appointment paid.
fn confirm(tx: &mut Tx, session: &str, now: i64) -> Result<(), SqlError> {
    let n = tx.execute(
        "UPDATE bookings SET status = 'CONFIRMED', payment_status = 'succeeded', updated_at = ? WHERE session_id = ? AND status = 'PENDING'",
        &[now.into(), session.into()],
    )?;
    if n == 1 {
        tx.execute(
            "UPDATE appointments SET status = 'paid', updated_at = ? WHERE booking_id = (SELECT id FROM bookings WHERE session_id = ?)",
            &[now.into(), session.into()],
        )?;
    }
    Ok(())
}

/// Cancels the PENDING booking of `session` and frees its slot.
fn release(tx: &mut Tx, session: &str, payment: &str, now: i64) -> Result<(), SqlError> {
    let Some(row) = tx
        .query_opt("SELECT id, slot_id FROM bookings WHERE session_id = ? AND status = 'PENDING'", &[session.into()])?
    else {
        return Ok(());
    };
    let (id, slot) = (row.int(0)?, row.int(1)?);
    tx.execute(
        "UPDATE bookings SET status = 'CANCELLED', payment_status = ?, updated_at = ? WHERE id = ?",
        &[payment.into(), now.into(), id.into()],
    )?;
    tx.execute(
        "UPDATE appointments SET status = 'cancelled', updated_at = ? WHERE booking_id = ?",
        &[now.into(), id.into()],
    )?;
    tx.execute("UPDATE slots SET is_booked = 0, last_updated = ? WHERE id = ?", &[now.into(), slot.into()])?;
    Ok(())
}

async fn handle(State(shop): State<Shop>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let env = &shop.env;
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if webhook::verify(sig, &body, &env.cfg.stripe.webhook_secret, env.sim.wall_ms() / 1000).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let Ok(event) = serde_json::from_slice::<Event>(&body) else { return StatusCode::BAD_REQUEST };
    let Ok(s) = serde_json::from_value::<Session>(event.data.object) else { return StatusCode::OK };
    let (sim, bug, kind, key) = (env.sim.clone(), shop.bug, event.type_, s.id.clone());
    let result = env
        .db
        .unit("app", "shop.webhook", &key, move |tx| {
            let now = sim.now_ms() as i64;
            match kind.as_str() {
                "checkout.session.completed" if bug == Bug::CompletedIsPaid || s.payment_status == "paid" => {
                    confirm(tx, &s.id, now)
                }
                "checkout.session.completed" => {
                    tx.execute(
                        "UPDATE bookings SET payment_status = 'processing' WHERE session_id = ? AND status = 'PENDING'",
                        &[s.id.as_str().into()],
                    )?;
                    Ok(())
                }
                "checkout.session.async_payment_succeeded" => confirm(tx, &s.id, now),
                "checkout.session.async_payment_failed" => release(tx, &s.id, "failed", now),
                "checkout.session.expired" => release(tx, &s.id, "unpaid", now),
                _ => Ok(()),
            }
        })
        .await;
    if result.is_ok() { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR }
}

fn shop(bug: Bug) -> Variant<Barbers> {
    Variant::new("barber-shop", move |h| h.with_app(move |env| router(env, bug)))
}

/// Half the customers pay by bank debit, most settling (or failing) within their hold; the
/// slower ones lapse and settle's cron decides them.
const DEBITS: &str = r#"
name = "barber-shop-debits"
system = "stripe-barbers"
seeds = 200
[expect]
outcome = "pass"
[time]
safety = "1h"
liveness = "6h"
[barbers]
customers = 8
arrival = { min = "0s", max = "50m" }
async_share = 0.5
hold = { min = "1h", max = "2h" }
pay_delay = { min = "10s", max = "10m" }
manual_clicks_max = 0
[barbers.stripe]
async_delay = { min = "5m", max = "3h" }
"#;

#[test]
fn a_handler_that_takes_completed_as_paid_is_found_replayed_and_fixed() {
    let dir = temp_dir("barbers-completed");
    let scenario = scenario_file(&dir, "debits", DEBITS);
    bug_cycle(shop(Bug::CompletedIsPaid), shop(Bug::None), &scenario, "paid-only-if-stripe-paid");
}
