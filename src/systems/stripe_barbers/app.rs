//! The shop's app as an axum `Router`: Stripe's webhook, the barber's dashboard query and the
//! manual "Update Pending to Paid" button. The reference one; a user's router plugs in with
//! [`super::StripeBarbers::with_app`] and gets the same [`Env`].
//!
//! - `POST /webhooks/stripe`: verifies `Stripe-Signature` against the raw body (else 400, nothing
//!   changed), then applies the checkout event in one unit ([`logic::apply`], which also records
//!   the event id: a duplicate is noticed, and changes nothing). A refund due for a lost slot is
//!   made before answering; if Stripe cannot be reached the answer is 500, so Stripe retries.
//!   `four-mutations` runs the seed's four mutations as four units instead; `no-async-events`
//!   ignores `checkout.session.async_payment_*`, as an endpoint not subscribed to them would.
//! - `GET /barbers/{id}/appointments`: the dashboard's query, one read. `dashboard-complete-is-paid`
//!   shows a completed session's `unpaid` debit as paid; `dashboard-cache-webhook-only` caches
//!   each barber's answer until a webhook changes one of the barber's bookings.
//! - `POST /barbers/{id}/appointments/mark-paid`: the button. The reference asks Stripe about
//!   each pending appointment's session and applies what it says; `manual-blind` marks them paid.
//!
//! What it does not do: the customer's pages (the checkout runs in [`super::actors`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use super::logic::{self, Mutation, Observed, Outcome};
use super::{Env, Flaw, Flaws, barber_of, stripe_api};
use crate::providers::stripe::objects::{Event, Session, short};
use crate::providers::stripe::{self, EventType, webhook};
use crate::sim::Kind;
use crate::sim::world::lock;
use crate::store::DbError;

/// The app's actor name (Stripe's webhooks go here).
pub const ACTOR: &str = "app";

/// `dashboard-cache-webhook-only`: each barber's last dashboard answer.
type DashboardCache = Arc<Mutex<BTreeMap<i64, Vec<DashboardRow>>>>;

#[derive(Clone)]
struct AppCtx {
    env: Env,
    flaws: Flaws,
    /// Lives as long as the app process: a restart starts it empty.
    cache: DashboardCache,
}

/// The reference app with `flaws`.
pub fn reference(flaws: Flaws) -> impl Fn(Env) -> Router {
    move |env: Env| {
        Router::new()
            .route("/webhooks/stripe", post(webhook_handler))
            .route("/barbers/{id}/appointments", get(dashboard))
            .route("/barbers/{id}/appointments/mark-paid", post(mark_paid))
            .with_state(AppCtx { env, flaws, cache: DashboardCache::default() })
    }
}

/// What a checkout event says about its session.
pub fn observed(kind: EventType, s: &Session) -> Option<Observed> {
    Some(match kind {
        EventType::CheckoutSessionCompleted if s.payment_status == "paid" => {
            Observed::Paid { intent: s.payment_intent.clone() }
        }
        EventType::CheckoutSessionCompleted => Observed::Processing,
        EventType::CheckoutSessionAsyncPaymentSucceeded => Observed::Paid { intent: s.payment_intent.clone() },
        EventType::CheckoutSessionAsyncPaymentFailed => Observed::AsyncFailed,
        EventType::CheckoutSessionExpired => Observed::Expired,
        _ => return None,
    })
}

async fn webhook_handler(State(ctx): State<AppCtx>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let env = &ctx.env;
    let sig = headers.get(stripe::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now_s = env.sim.wall_ms() / 1000;
    if let Err(e) = webhook::verify(sig, &body, &env.cfg.stripe.webhook_secret, now_s) {
        env.sim.record(Kind::State, ACTOR, None, || format!("webhook signature refused: {e}"));
        return (StatusCode::BAD_REQUEST, format!("signature: {e}"));
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed event: {e}")),
    };
    let Some(kind) = EventType::parse(&event.type_) else { return (StatusCode::OK, "ignored".into()) };
    let async_result =
        matches!(kind, EventType::CheckoutSessionAsyncPaymentSucceeded | EventType::CheckoutSessionAsyncPaymentFailed);
    if ctx.flaws.has(Flaw::NoAsyncEvents) && async_result {
        // `no-async-events`: the endpoint is subscribed to completed and expired only.
        return (StatusCode::OK, "ignored".into());
    }
    let session: Session = match serde_json::from_value(event.data.object.clone()) {
        Ok(s) => s,
        // Not a Checkout Session (payment_intent.*, charge.refunded…): nothing to do here.
        Err(_) => return (StatusCode::OK, "ignored".into()),
    };
    let Some(obs) = observed(kind, &session) else { return (StatusCode::OK, "ignored".into()) };
    let slot_hint = session.metadata.get("slot_id").and_then(|v| v.parse().ok());
    if ctx.flaws.has(Flaw::FourMutations) && matches!(obs, Observed::Paid { .. }) {
        return four_mutations(env, &session, &obs).await;
    }
    let (sim, flaws, id, sid) = (env.sim.clone(), ctx.flaws, event.id.clone(), session.id.clone());
    let created = event.created;
    let key = unit_key(&sid, slot_hint);
    let applied = env
        .db
        .unit(ACTOR, "webhook.apply", &key, |tx| {
            let now = sim.now_ms() as i64;
            let dup = logic::seen_event(tx, &id, kind.as_str(), now)?;
            let out = logic::apply(tx, &sid, slot_hint, &obs, Some(created), now, flaws)?;
            Ok((dup, out))
        })
        .await;
    let (dup, out) = match applied {
        Ok(v) => v,
        Err(DbError::Sql(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    if dup {
        env.sim.mark("duplicate-event");
    }
    if ctx.flaws.has(Flaw::DashboardCacheWebhookOnly) && !matches!(out, Outcome::Unchanged { .. } | Outcome::NoBooking)
    {
        // The webhook invalidates the barber's cached dashboard on a status change; nothing
        // else does.
        let mut cache = lock(&ctx.cache);
        match slot_hint {
            Some(slot) => drop(cache.remove(&barber_of(slot))),
            None => cache.clear(),
        }
    }
    note(env, ACTOR, &session.id, &obs, &out);
    finish(env, ACTOR, out).await
}

/// How a unit about `session` is named in the trace: the session's short id and its slot.
pub fn unit_key(session: &str, slot: Option<i64>) -> String {
    match slot {
        Some(slot) => format!("{} (slot {slot})", short(session)),
        None => short(session).to_string(),
    }
}

/// Trace lines and marks for what applying an observation did (webhook, cron, button).
pub fn note(env: &Env, actor: &str, session: &str, obs: &Observed, out: &Outcome) {
    let sim = &env.sim;
    match out {
        Outcome::Released { why: "expired", .. } => sim.mark("abandoned-hold-freed"),
        Outcome::Processing { .. } => sim.mark("async-payment"),
        Outcome::NoBooking | Outcome::Unchanged { .. } if *obs == Observed::Expired => sim.mark("out-of-order-expired"),
        _ => {}
    }
    sim.record(Kind::State, actor, None, || {
        format!("{}: Stripe says {}; {}", short(session), obs.as_str(), describe(out))
    });
}

/// A few words for the trace about what applying an observation did.
pub fn describe(out: &Outcome) -> String {
    match out {
        Outcome::NoBooking => "no booking has this session".into(),
        Outcome::Unchanged { booking, status } => format!("booking {booking} already {status}: nothing to do"),
        Outcome::Processing { booking } => format!("booking {booking} processing, the hold stays"),
        Outcome::Confirmed { booking } => format!("booking {booking} CONFIRMED, appointment paid"),
        Outcome::Reclaimed { booking, slot } => {
            format!("slot {slot} still free: re-claimed, booking {booking} CONFIRMED")
        }
        Outcome::Released { why, slot } => format!("hold ended ({why}): slot {slot} released"),
        Outcome::RefundDue { booking, .. } => format!("booking {booking}'s slot was taken meanwhile: refund due"),
    }
}

/// Makes a refund that applying an observation called for, and records it.
pub async fn finish(env: &Env, actor: &str, out: Outcome) -> (StatusCode, String) {
    let Outcome::RefundDue { booking, intent } = out else { return (StatusCode::OK, "ok".into()) };
    let secret = env.cfg.stripe.secret_key.clone();
    if let Err(e) = stripe_api::refund(&env.sim, actor, &secret, booking, &intent).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    let sim = env.sim.clone();
    let done = env
        .db
        .unit(actor, "booking.refunded", &booking.to_string(), |tx| logic::refunded(tx, booking, sim.now_ms() as i64))
        .await;
    match done {
        Ok(true) => {
            env.sim.mark("refund-lost-slot");
            env.sim.record(Kind::State, actor, None, || format!("booking {booking}: slot taken meanwhile; refunded"));
            (StatusCode::OK, "refunded".into())
        }
        Ok(false) => (StatusCode::OK, "ok".into()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `four-mutations`: the seed's webhook, four units; a failure between them answers 500 after
/// the earlier ones committed.
async fn four_mutations(env: &Env, session: &Session, obs: &Observed) -> (StatusCode, String) {
    let Observed::Paid { intent } = obs else { return (StatusCode::OK, "ok".into()) };
    for (m, name) in [
        (Mutation::ForceSlot, "webhook.force-slot"),
        (Mutation::PaymentStatus, "webhook.payment-status"),
        (Mutation::BookingAndAppointment, "webhook.booking-and-appointment"),
        (Mutation::Refresh, "webhook.force-refresh"),
    ] {
        let sim = env.sim.clone();
        let r = env
            .db
            .unit(ACTOR, name, &session.id, |tx| {
                logic::seed_mutation(tx, m, &session.id, intent.as_deref(), sim.now_ms() as i64)
            })
            .await;
        match r {
            Ok(true) => {}
            Ok(false) => return (StatusCode::OK, "no booking".into()),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    (StatusCode::OK, "ok".into())
}

/// One appointment as the dashboard gets it: `[appointment id, booking id, status]`.
pub type DashboardRow = (i64, i64, String);

/// The dashboard's query. `dashboard-complete-is-paid` shows `paid` for a pending appointment
/// whose Checkout Session completed with `payment_status` `unpaid` (the booking's `processing`).
const DASHBOARD_QUERY: &str = "SELECT id, booking_id, status FROM appointments WHERE barber_id = ? ORDER BY id";
const DASHBOARD_QUERY_COMPLETE_IS_PAID: &str = "SELECT a.id, a.booking_id, CASE WHEN a.status = 'pending' AND b.payment_status = 'processing' THEN 'paid' ELSE a.status END FROM appointments a LEFT JOIN bookings b ON b.id = a.booking_id WHERE a.barber_id = ? ORDER BY a.id";

async fn dashboard(State(ctx): State<AppCtx>, Path(barber): Path<i64>) -> (StatusCode, String) {
    let cached = ctx.flaws.has(Flaw::DashboardCacheWebhookOnly);
    if cached && let Some(rows) = lock(&ctx.cache).get(&barber) {
        return (StatusCode::OK, serde_json::to_string(rows).unwrap_or_default());
    }
    let sql =
        if ctx.flaws.has(Flaw::DashboardCompleteIsPaid) { DASHBOARD_QUERY_COMPLETE_IS_PAID } else { DASHBOARD_QUERY };
    let rows = ctx
        .env
        .db
        .unit(ACTOR, "dashboard.query", "", |tx| {
            let rows = tx.query(sql, &[barber.into()])?;
            rows.iter().map(|r| Ok((r.int(0)?, r.opt_int(1)?.unwrap_or(0), r.text(2)?))).collect::<Result<Vec<_>, _>>()
        })
        .await;
    match rows {
        Ok(rows) => {
            if cached {
                lock(&ctx.cache).insert(barber, rows.clone());
            }
            (StatusCode::OK, serde_json::to_string(&rows).unwrap_or_default())
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn mark_paid(State(ctx): State<AppCtx>, Path(barber): Path<i64>) -> (StatusCode, String) {
    let env = &ctx.env;
    if ctx.flaws.has(Flaw::ManualBlind) {
        let sim = env.sim.clone();
        let n = env
            .db
            .unit(ACTOR, "button.mark-pending-paid", "", |tx| {
                tx.execute(
                    "UPDATE appointments SET status = 'paid', updated_at = ? WHERE barber_id = ? AND status = 'pending'",
                    &[(sim.now_ms() as i64).into(), barber.into()],
                )
            })
            .await;
        return match n {
            Ok(n) => (StatusCode::OK, format!(r#"{{"updated":{n}}}"#)),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
    }
    let pending = env
        .db
        .unit(ACTOR, "button.list-pending", "", |tx| {
            let rows = tx.query(
                "SELECT b.session_id FROM appointments a JOIN bookings b ON b.id = a.booking_id WHERE a.barber_id = ? AND a.status = 'pending' ORDER BY a.id",
                &[barber.into()],
            )?;
            rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
        })
        .await;
    let Ok(pending) = pending else { return (StatusCode::SERVICE_UNAVAILABLE, "database".into()) };
    let mut updated = 0;
    for sid in pending {
        if sync_session(env, ACTOR, &sid, ctx.flaws).await.is_ok_and(|changed| changed) {
            updated += 1;
        }
    }
    (StatusCode::OK, format!(r#"{{"updated":{updated}}}"#))
}

/// Asks Stripe about `session` and applies what it says (the cron and the button); true when
/// the booking changed.
pub async fn sync_session(env: &Env, actor: &str, session: &str, flaws: Flaws) -> Result<bool, String> {
    let secret = env.cfg.stripe.secret_key.clone();
    let (obs, slot) = stripe_api::observe(&env.sim, actor, &secret, session).await?;
    let sim = env.sim.clone();
    let out = env
        .db
        .unit(actor, "sync.apply", &unit_key(session, slot), |tx| {
            logic::apply(tx, session, slot, &obs, None, sim.now_ms() as i64, flaws)
        })
        .await
        .map_err(|e| e.to_string())?;
    let changed = !matches!(out, Outcome::Unchanged { .. } | Outcome::NoBooking);
    note(env, actor, session, &obs, &out);
    let (status, msg) = finish(env, actor, out).await;
    if status != StatusCode::OK {
        return Err(msg);
    }
    Ok(changed)
}
