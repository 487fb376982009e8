//! The application under test: the webhook endpoint and the admin manual-sync endpoint, as an
//! axum `Router`. This is the reference implementation; a user's own router plugs in through
//! [`super::MidtransOrders::with_app`] and receives the same [`Env`]. The flaws and the
//! `inline-retry` settings are the reference handler's own, captured by [`reference()`], not part
//! of what a user's router is given.
//!
//! The webhook verifies `signature_key` in constant time (a bad one: 401, nothing changed), then
//! asks the status API what the order's status is — the signature does not cover
//! `transaction_status`, so a replayed notification with an edited status verifies; the body only
//! says *that* something changed — applies the API's answer in one unit of work, and answers 503
//! while the payment row does not exist yet or the status API cannot answer — Midtrans retries a
//! 503 four times over two hours, where a 500 gets one retry.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;

use super::logic::{self, Applied, Part, ProviderUpdate, Source};
use super::{Env, Flaw, Flaws};
use crate::providers::midtrans::Midtrans;
use crate::providers::midtrans::notification::{Notification, verify_signature};
use crate::sim::{Kind, NetError, Request, Sim};
use crate::store::{Db, DbError};

/// The app's actor name.
pub const ACTOR: &str = "app";

/// The reference handlers' state: the run's environment and the reference's own switches.
/// axum clones it for every request, so its text is shared rather than copied.
#[derive(Clone)]
struct AppCtx {
    sim: Sim,
    db: Db,
    server_key: Arc<str>,
    provider: Arc<str>,
    flaws: Flaws,
    /// `inline-retry`: attempts and the pause between them.
    inline_retry_attempts: u32,
    inline_retry_delay_ms: u64,
}

/// The reference app with `flaws` (and the `inline-retry` flaw's attempts and pause).
pub fn reference(flaws: Flaws, inline_retry_attempts: u32, inline_retry_delay_ms: u64) -> impl Fn(Env) -> Router {
    move |env: Env| {
        let ctx = AppCtx {
            sim: env.sim,
            db: env.db,
            server_key: env.server_key.into(),
            provider: env.provider_actor.into(),
            flaws,
            inline_retry_attempts,
            inline_retry_delay_ms,
        };
        Router::new()
            .route("/webhooks/midtrans", post(webhook))
            .route("/admin/orders/{code}/sync-payment", post(manual_sync))
            .with_state(ctx)
    }
}

async fn webhook(State(ctx): State<AppCtx>, body: Bytes) -> (StatusCode, String) {
    let n = match Notification::from_json(&body) {
        Ok(n) => n,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed notification: {e}")),
    };
    if !verify_signature(&n, &ctx.server_key) {
        ctx.sim.record(Kind::State, ACTOR, None, || {
            format!("{}: signature_key does not verify; 401, nothing changed", n.order_id)
        });
        return (StatusCode::UNAUTHORIZED, "invalid signature_key".into());
    }
    let said = match ProviderUpdate::from_notification(&n) {
        Ok(u) => u,
        Err(e) => return (StatusCode::BAD_REQUEST, e),
    };
    // Midtrans's signature covers order_id, status_code and gross_amount, not
    // transaction_status: the body is a hint that something changed, the status API the truth.
    let upd = if ctx.flaws.has(Flaw::TrustBody) {
        said
    } else {
        match confirm(&ctx, said).await {
            Ok(u) => u,
            Err(answer) => return answer,
        }
    };
    let split = ctx.flaws.has(Flaw::SplitUpdate);
    let part = if split { Part::PaymentOnly } else { Part::Both };
    let mut retries = 0;
    loop {
        let sim = ctx.sim.clone();
        let flaws = ctx.flaws;
        let result = ctx
            .db
            .unit(ACTOR, "webhook.apply", &upd.order_code, |tx| {
                logic::apply(tx, &upd, Source::Webhook, sim.now_ms(), flaws, part)
            })
            .await;
        let applied = match result {
            Ok(a) => a,
            Err(DbError::Sql(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        // #[gamma::skip(match_guard, reason = "split-update's guard, the only guard of this match: always false leaves the flaw's order never following (the flaw's violation, sooner); always true sends the reference, which applied both parts in one unit, through a second unit that finds the order already moved", tag = "flaw")]
        match applied {
            Applied::Missing => {
                if ctx.flaws.has(Flaw::AckMissing) {
                    // The seed's incident: the row is not there yet, and the handler says OK.
                    ctx.sim.record(Kind::State, ACTOR, None, || {
                        format!("{}: payment row not found; answering 200 anyway (ack-missing)", upd.order_code)
                    });
                    return (StatusCode::OK, "ok".into());
                }
                if ctx.flaws.has(Flaw::InlineRetry) {
                    // The seed's own fix: retry inside the handler, then give up with 200.
                    // #[gamma::skip(reason = "inline-retry's own loop, run only with that flaw on", tag = "flaw")]
                    if retries < ctx.inline_retry_attempts {
                        retries += 1;
                        ctx.sim.record(Kind::State, ACTOR, None, || {
                            format!(
                                "{}: payment not found, retry {retries}/{} in {} ms",
                                upd.order_code, ctx.inline_retry_attempts, ctx.inline_retry_delay_ms
                            )
                        });
                        ctx.sim.sleep_ms(ctx.inline_retry_delay_ms).await;
                        continue;
                    }
                    ctx.sim.record(Kind::State, ACTOR, None, || {
                        format!("{}: payment row still not found; giving up with 200 (inline-retry)", upd.order_code)
                    });
                    return (StatusCode::OK, "payment not found after retries".into());
                }
                ctx.sim.record(Kind::State, ACTOR, None, || {
                    format!("{}: payment row not found yet; 503 so Midtrans retries", upd.order_code)
                });
                return (StatusCode::SERVICE_UNAVAILABLE, "payment not found yet, retry later".into());
            }
            Applied::Changed { order_id, from, to } if split => {
                ctx.sim.record(Kind::State, ACTOR, None, || {
                    format!(
                        "{}: payment {} → {}; order follows in a second unit (split-update)",
                        upd.order_code,
                        from.as_str(),
                        to.as_str()
                    )
                });
                // `split-update`: the order follows in a second unit; a crash in between
                // leaves payment and order disagreeing.
                let sim = ctx.sim.clone();
                let second = ctx
                    .db
                    .unit(ACTOR, "webhook.apply-order", &upd.order_code, |tx| {
                        logic::apply_order(tx, order_id, to, Source::Webhook, sim.now_ms(), flaws)
                    })
                    .await;
                return match second {
                    Ok(()) => (StatusCode::OK, "ok".into()),
                    Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                };
            }
            other => {
                ctx.sim.record(Kind::State, ACTOR, None, || {
                    format!("{}: {} → {}", upd.order_code, upd.status.as_str(), describe(other))
                });
                return (StatusCode::OK, "ok".into());
            }
        }
    }
}

/// Asks the status API what the notification `said` is about, and returns the API's answer to
/// apply instead. A status API that cannot answer, or knows no transaction, is a 503: Midtrans
/// retries, and reconciliation catches up after its retries.
async fn confirm(ctx: &AppCtx, said: ProviderUpdate) -> Result<ProviderUpdate, (StatusCode, String)> {
    match fetch_status(&ctx.sim, ACTOR, &ctx.provider, &ctx.server_key, &said.order_code).await {
        Ok(Some(api)) => {
            // #[gamma::skip(reason = "decides only whether the trace says the two differed", tag = "trace")]
            if api.status != said.status || api.fraud != said.fraud {
                ctx.sim.record(Kind::State, ACTOR, None, || {
                    format!(
                        "{}: notification said {}, status API says {}; applying the status API's",
                        said.order_code,
                        said.status.as_str(),
                        api.status.as_str()
                    )
                });
            }
            Ok(api)
        }
        Ok(None) => {
            ctx.sim.record(Kind::State, ACTOR, None, || {
                format!("{}: status API knows no transaction; 503, nothing changed", said.order_code)
            });
            Err((StatusCode::SERVICE_UNAVAILABLE, "status API knows no transaction yet".into()))
        }
        Err(e) => {
            ctx.sim.record(Kind::State, ACTOR, None, || format!("{}: {e}; 503, nothing changed", said.order_code));
            Err((StatusCode::SERVICE_UNAVAILABLE, e))
        }
    }
}

/// A few words for the trace about what applying an update did.
// #[gamma::skip(reason = "trace wording only", tag = "trace")]
pub fn describe(a: Applied) -> String {
    match a {
        Applied::Missing => "payment row not found".into(),
        Applied::AmountMismatch => "amount differs from the order's; ignored".into(),
        Applied::NoTarget => "no status change called for".into(),
        Applied::Unchanged(s) => format!("already {}", s.as_str()),
        Applied::Stale { from, to } => format!("stale: {} → {} is not forward; ignored", from.as_str(), to.as_str()),
        Applied::Changed { from, to, .. } => format!("{} → {}", from.as_str(), to.as_str()),
    }
}

/// Asks the status API for one order, on behalf of `actor`.
pub async fn fetch_status(
    sim: &Sim,
    actor: &str,
    provider: &str,
    server_key: &str,
    order_code: &str,
) -> Result<Option<ProviderUpdate>, String> {
    match status_notification(sim, actor, provider, server_key, order_code).await? {
        Some(n) => ProviderUpdate::from_notification(&n).map(Some),
        None => Ok(None),
    }
}

/// The status API's answer for one order as Midtrans sends it (the notification's shape), on
/// behalf of `actor`; `None` for its 404 (no transaction yet). For a user's own handler or job
/// that wants to confirm a notification the way the reference does.
pub async fn status_notification(
    sim: &Sim,
    actor: &str,
    provider: &str,
    server_key: &str,
    order_code: &str,
) -> Result<Option<Notification>, String> {
    let label = if sim.recording() { format!("GET /v2/{order_code}/status") } else { String::new() };
    let req = Request::new(http::Method::GET, format!("/v2/{order_code}/status"))
        .header("authorization", Midtrans::basic_auth(server_key))
        .header("accept", "application/json")
        .label(label);
    let resp = match sim.request(actor, provider, req, 10_000).await {
        Ok(r) => r,
        Err(NetError::Timeout) => return Err("status API timed out".into()),
        Err(NetError::Refused) => return Err("status API refused the connection".into()),
    };
    match resp.status {
        200 => Notification::from_json(&resp.body).map(Some).map_err(|e| format!("malformed status API answer: {e}")),
        // Every caller treats a 404 as it treats an error (the webhook's 503, reconciliation's
        // skip) but the manual sync, whose answer body no one reads.
        404 => Ok(None),
        s => Err(format!("status API answered {s}")),
    }
}

async fn manual_sync(State(ctx): State<AppCtx>, Path(code): Path<String>) -> (StatusCode, String) {
    let upd = match fetch_status(&ctx.sim, ACTOR, &ctx.provider, &ctx.server_key, &code).await {
        Ok(Some(u)) => u,
        Ok(None) => return (StatusCode::OK, r#"{"updated":false,"status":"UNKNOWN"}"#.into()),
        Err(e) => return (StatusCode::BAD_GATEWAY, e),
    };
    if ctx.flaws.has(Flaw::ManualSyncNoop) {
        // The broken button: the status is read, shown as synced, and never written.
        ctx.sim.record(Kind::State, ACTOR, None, || {
            format!("{code}: manual sync read {}; nothing written (manual-sync-noop)", upd.status.as_str())
        });
        return (StatusCode::OK, format!(r#"{{"updated":true,"status":"{}"}}"#, upd.status.as_str()));
    }
    let (sim, flaws) = (ctx.sim.clone(), ctx.flaws);
    match ctx
        .db
        .unit(ACTOR, "admin.sync-payment", &code, |tx| {
            logic::apply(tx, &upd, Source::Manual, sim.now_ms(), flaws, Part::Both)
        })
        .await
    {
        Ok(Applied::Changed { to, .. }) => {
            // #[gamma::skip(relational.eq_to_ne, reason = "coverage only: decides which changes the run set reports as the manual sync's repair, never what is written; a mark that fires on the wrong changes has no check to refute it (one that never fires is caught: the suite requires it)", tag = "coverage")]
            if to == logic::OrderStatus::Paid {
                ctx.sim.mark("manual-sync-repaired");
            }
            (StatusCode::OK, format!(r#"{{"updated":true,"status":"{}"}}"#, to.as_str()))
        }
        Ok(_) => (StatusCode::OK, r#"{"updated":false}"#.into()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
