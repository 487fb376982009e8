//! The server as an axum `Router` (the reference one; a user's plugs in with
//! [`super::PaystackBookings::with_app`] and gets the same [`Env`]):
//!
//! | route | does |
//! |---|---|
//! | `POST /webhooks/paystack` | checks `x-paystack-signature` (HMAC-SHA512 of the raw body, else 401), dedupes `charge.success` on `data.reference`, moves the payment to ESCROW in one unit |
//! | `POST /api/bookings?customer=` | initializes a Paystack transaction and creates the booking with its PENDING payment |
//! | `GET /api/payment/verify?reference=` | the callback's verify: asks Paystack, moves the payment to ESCROW on success, answers the representation |
//! | `GET /api/bookings/sync?customer=` | the representation with an ETag over every shown field, `Cache-Control: no-cache`; `If-None-Match` equal → 304 |
//! | `POST /api/bookings/{id}/cancel` | ESCROW → REFUNDING (one unit), Paystack's refund, → REFUNDED; 409 when not in escrow (`refund-before-claim`: a check, the refund, then an unguarded REFUNDED) |
//!
//! Every mutation is one unit of work. The sync endpoint records what each ETag was issued for
//! ([`super::SyncLog`]) so `sync-never-304-for-a-change` can judge every 304.
//!
//! What it does not do: the customer's pages (the tabs are in [`super::tabs`]).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::logic::{self, Escrow, Rep};
use super::{Env, Flaw, Flaws, SyncAnswer};
use crate::providers::paystack::{self, NewTransaction, SIGNATURE_HEADER, webhook};
use crate::sim::world::lock;
use crate::sim::{Kind, NetError, Request, Sim};
use crate::store::DbError;

pub const ACTOR: &str = "app";
const PAYSTACK_TIMEOUT_MS: u64 = 30_000;

#[derive(Clone)]
struct AppCtx {
    env: Env,
    flaws: Flaws,
}

pub fn reference(flaws: Flaws) -> impl Fn(Env) -> Router {
    move |env: Env| {
        Router::new()
            .route("/webhooks/paystack", post(webhook_in))
            .route("/api/bookings", post(create))
            .route("/api/payment/verify", get(verify))
            .route("/api/bookings/sync", get(sync))
            .route("/api/bookings/{id}/cancel", post(cancel))
            .with_state(AppCtx { env, flaws })
    }
}

fn db_error(e: DbError) -> Response {
    let code =
        if matches!(e, DbError::Sql(_)) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, e.to_string()).into_response()
}

/// Asks Paystack for `reference`'s status (`GET /transaction/verify/{reference}`).
pub async fn paystack_status(sim: &Sim, actor: &str, secret: &str, reference: &str) -> Result<String, String> {
    let path = format!("/transaction/verify/{reference}");
    let label = if sim.recording() { format!("GET {path}") } else { String::new() };
    let req = Request::new(http::Method::GET, path).header("authorization", format!("Bearer {secret}")).label(label);
    match sim.request(actor, paystack::ACTOR, req, PAYSTACK_TIMEOUT_MS).await {
        Ok(r) if r.status == 200 => {
            let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| format!("malformed verify: {e}"))?;
            v["data"]["status"].as_str().map(str::to_string).ok_or_else(|| "verify without data.status".into())
        }
        Ok(r) => Err(format!("Paystack answered {}", r.status)),
        Err(NetError::Timeout) => Err("Paystack timed out".into()),
        Err(NetError::Refused) => Err("Paystack refused the connection".into()),
    }
}

/// Asks Paystack to refund `reference` (`POST /refund`); an already reversed one is done too.
pub async fn paystack_refund(sim: &Sim, actor: &str, secret: &str, reference: &str) -> Result<(), String> {
    let label = if sim.recording() { format!("POST /refund {reference}") } else { String::new() };
    let mut req = Request::new(http::Method::POST, "/refund")
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .label(label);
    req.body = serde_json::json!({ "transaction": reference }).to_string().into();
    match sim.request(actor, paystack::ACTOR, req, PAYSTACK_TIMEOUT_MS).await {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) if String::from_utf8_lossy(&r.body).contains("fully reversed") => Ok(()),
        Ok(r) => Err(format!("refund answered {}", r.status)),
        Err(e) => Err(format!("refund: {e:?}")),
    }
}

/// Moves `reference` to ESCROW in one unit and notes what happened; `source` names the path.
pub async fn to_escrow(
    env: &Env,
    actor: &str,
    source: &str,
    reference: &str,
    unguarded: bool,
) -> Result<Escrow, DbError> {
    let sim = env.sim.clone();
    let out = env
        .db
        .unit(actor, &format!("{source}.escrow"), reference, |tx| {
            logic::escrow(tx, reference, sim.now_ms() as i64, unguarded)
        })
        .await?;
    env.sim.record(Kind::State, actor, None, || format!("{reference}: {source} says success; {out:?}"));
    Ok(out)
}

async fn webhook_in(State(ctx): State<AppCtx>, headers: HeaderMap, body: Bytes) -> Response {
    let env = &ctx.env;
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !webhook::verify(sig, &body, &env.cfg.paystack.secret_key) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed body").into_response();
    };
    if v["event"] != "charge.success" {
        return (StatusCode::OK, "ignored").into_response();
    }
    let Some(reference) = v["data"]["reference"].as_str().map(str::to_string) else {
        return (StatusCode::BAD_REQUEST, "data.reference missing").into_response();
    };
    let sim = env.sim.clone();
    let r = reference.clone();
    let applied = env
        .db
        .unit(ACTOR, "webhook.charge-success", &reference, |tx| {
            let now = sim.now_ms() as i64;
            if logic::seen_webhook(tx, &r, now)? {
                return Ok(None);
            }
            logic::escrow(tx, &r, now, false).map(Some)
        })
        .await;
    match applied {
        Ok(None) => {
            env.sim.record(Kind::State, ACTOR, None, || format!("{reference}: charge.success again; already applied"));
            (StatusCode::OK, "duplicate").into_response()
        }
        Ok(Some(out)) => {
            if out == Escrow::Already {
                env.sim.mark("callback-races-webhook");
            }
            env.sim.record(Kind::State, ACTOR, None, || format!("{reference}: charge.success; {out:?}"));
            (StatusCode::OK, "ok").into_response()
        }
        Err(e) => db_error(e),
    }
}

#[derive(Deserialize)]
struct CustomerQ {
    customer: i64,
}

#[derive(Deserialize)]
struct ReferenceQ {
    reference: String,
}

async fn read_rep(env: &Env, customer: i64) -> Result<Option<Rep>, DbError> {
    let mut rep = env.db.unit(ACTOR, "sync.read", "", |tx| logic::rep(tx, customer)).await?;
    if let Some(r) = rep.as_mut() {
        r.served_at = env.sim.now_ms();
    }
    Ok(rep)
}

fn json(rep: &Rep) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], serde_json::to_string(rep).unwrap_or_default())
        .into_response()
}

async fn create(State(ctx): State<AppCtx>, Query(q): Query<CustomerQ>) -> Response {
    let env = &ctx.env;
    let reference = format!("bk-{}", q.customer);
    let (sim, p) = (env.sim.clone(), env.paystack.clone());
    let init = NewTransaction {
        email: format!("customer{}@example.com", q.customer),
        amount: env.cfg.amount,
        reference: Some(reference.clone()),
        callback_url: Some("https://shop.example/api/payment/callback".into()),
        ..NewTransaction::default()
    };
    // A retry after a lost answer finds the transaction already initialized: that is fine.
    let _ = sim.exchange(|| {
        sim.record(Kind::Send, ACTOR, Some(paystack::ACTOR), || format!("POST /transaction/initialize {reference}"));
        p.initialize(init)
    });
    let service_at = (sim.now_ms() + sim.choose(|o| env.cfg.service_after.draw_uniform(o))) as i64;
    let r = reference.clone();
    let done = env
        .db
        .unit(ACTOR, "booking.create", &reference, |tx| {
            logic::create(tx, q.customer, q.customer, &r, env.cfg.amount, service_at, sim.now_ms() as i64)
        })
        .await;
    if let Err(e) = done {
        return db_error(e);
    }
    match read_rep(env, q.customer).await {
        Ok(Some(rep)) => json(&rep),
        Ok(None) => (StatusCode::NOT_FOUND, "no booking").into_response(),
        Err(e) => db_error(e),
    }
}

async fn verify(State(ctx): State<AppCtx>, Query(q): Query<ReferenceQ>) -> Response {
    let env = &ctx.env;
    let secret = env.cfg.paystack.secret_key.clone();
    match paystack_status(&env.sim, ACTOR, &secret, &q.reference).await {
        Ok(s) if s == "success" => {
            match to_escrow(env, ACTOR, "verify", &q.reference, ctx.flaws.has(Flaw::DoubleCredit)).await {
                Ok(Escrow::Already) => env.sim.mark("callback-races-webhook"),
                Ok(_) => {}
                Err(e) => return db_error(e),
            }
        }
        Ok(_) => {}
        Err(e) => return (StatusCode::BAD_GATEWAY, e).into_response(),
    }
    let customer = q.reference.strip_prefix("bk-").and_then(|c| c.parse().ok()).unwrap_or(-1);
    match read_rep(env, customer).await {
        Ok(Some(rep)) => json(&rep),
        Ok(None) => (StatusCode::NOT_FOUND, "no booking with this reference").into_response(),
        Err(e) => db_error(e),
    }
}

async fn sync(State(ctx): State<AppCtx>, Query(q): Query<CustomerQ>, headers: HeaderMap) -> Response {
    let env = &ctx.env;
    let rep = match read_rep(env, q.customer).await {
        Ok(Some(rep)) => rep,
        Ok(None) => return (StatusCode::NOT_FOUND, "no booking").into_response(),
        Err(e) => return db_error(e),
    };
    let etag = rep.etag(!ctx.flaws.has(Flaw::EtagWithoutPayment));
    let given = headers.get("if-none-match").and_then(|v| v.to_str().ok()).unwrap_or("");
    let status = if given == etag { 304 } else { 200 };
    {
        let mut log = lock(&env.sync_log);
        log.issued.entry(etag.clone()).or_insert_with(|| Rep { served_at: 0, ..rep.clone() });
        let now = Rep { served_at: 0, ..rep.clone() };
        log.answers.push(SyncAnswer { t_ms: env.sim.now_ms(), customer: q.customer, status, etag: etag.clone(), now });
    }
    let cache = [("etag", etag.clone()), ("cache-control", "no-cache, must-revalidate".to_string())];
    if status == 304 {
        env.sim.mark("etag-304");
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (StatusCode::OK, cache, [("content-type", "application/json")], serde_json::to_string(&rep).unwrap_or_default())
        .into_response()
}

async fn cancel(State(ctx): State<AppCtx>, Path(id): Path<i64>) -> Response {
    let env = &ctx.env;
    // The API's own failure (a deploy, a timeout upstream): what optimistic updates roll back.
    let (fails, after) = env.sim.choose(|o| (o.chance(env.cfg.cancel_fail.ppm()), env.cfg.cancel_fail_after.draw(o)));
    if fails {
        env.sim.sleep_ms(after).await;
        return (StatusCode::INTERNAL_SERVER_ERROR, "cancellation failed").into_response();
    }
    if ctx.flaws.has(Flaw::RefundBeforeClaim) {
        return cancel_unclaimed(env, id).await;
    }
    let sim = env.sim.clone();
    let claimed = env
        .db
        .unit(ACTOR, "cancel.claim-refund", &format!("bk-{id}"), |tx| logic::claim_refund(tx, id, sim.now_ms() as i64))
        .await;
    match claimed {
        Ok(true) => {}
        Ok(false) => return (StatusCode::CONFLICT, "not in escrow").into_response(),
        Err(e) => return db_error(e),
    }
    if let Err(e) = finish_refund(env, ACTOR, id).await {
        // The detector finishes it.
        env.sim.record(Kind::State, ACTOR, None, || format!("booking {id}: refund not finished yet: {e}"));
    }
    match read_rep(env, id).await {
        Ok(Some(rep)) => json(&rep),
        Ok(None) => (StatusCode::NOT_FOUND, "no booking").into_response(),
        Err(e) => db_error(e),
    }
}

/// `refund-before-claim`: checks the payment is in escrow (one read), asks Paystack for the
/// refund, and only then writes REFUNDED, unguarded. The escrow release can run between the
/// check and the write: the customer is refunded and the escrow released.
async fn cancel_unclaimed(env: &Env, id: i64) -> Response {
    match env.db.unit(ACTOR, "cancel.check-escrow", &format!("bk-{id}"), |tx| logic::payment_status(tx, id)).await {
        Ok(Some(s)) if s == logic::ESCROW => {}
        Ok(_) => return (StatusCode::CONFLICT, "not in escrow").into_response(),
        Err(e) => return db_error(e),
    }
    let secret = env.cfg.paystack.secret_key.clone();
    if let Err(e) = paystack_refund(&env.sim, ACTOR, &secret, &format!("bk-{id}")).await {
        return (StatusCode::BAD_GATEWAY, e).into_response();
    }
    let sim = env.sim.clone();
    let done = env
        .db
        .unit(ACTOR, "refund.done", &format!("bk-{id}"), |tx| logic::refunded_unclaimed(tx, id, sim.now_ms() as i64))
        .await;
    if let Err(e) = done {
        return db_error(e);
    }
    match read_rep(env, id).await {
        Ok(Some(rep)) => json(&rep),
        Ok(None) => (StatusCode::NOT_FOUND, "no booking").into_response(),
        Err(e) => db_error(e),
    }
}

/// Asks Paystack to refund booking `id`'s payment and records REFUNDED (cancel, detector).
pub async fn finish_refund(env: &Env, actor: &str, id: i64) -> Result<(), String> {
    let secret = env.cfg.paystack.secret_key.clone();
    paystack_refund(&env.sim, actor, &secret, &format!("bk-{id}")).await?;
    let sim = env.sim.clone();
    env.db
        .unit(actor, "refund.done", &format!("bk-{id}"), |tx| logic::refunded(tx, id, sim.now_ms() as i64))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
