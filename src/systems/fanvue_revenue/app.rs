//! The application's endpoints, as an axum `Router`:
//!
//! - `POST /api/fanvue/force-sync-revenue?modelId=N`: the seed's manual sync. Resets the model's
//!   cursor (`last_transaction_sync = NULL`) and re-syncs from the beginning; the insert's dedupe
//!   keeps that free of duplicates.
//! - `GET /api/dashboard`: the total across models. The reference shows the live sum of
//!   `revenue_total`, zero included; the `dashboard-fallback` flaw is the seed's
//!   `liveTotalRevenue > 0 ? liveTotalRevenue : overview.totalRevenue`, where the overview comes
//!   from Fanvue's summary endpoint (cached up to 10 minutes, blind to refunds).
//!
//! What it does not do: authentication of the owner, or pages other than the dashboard's total.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::sync::Outcome;
use super::{Env, Flaw, Flaws, units};
use crate::providers::fanvue::{self, wire};
use crate::sim::{Kind, Request};

/// The app's actor name.
pub const ACTOR: &str = "app";

#[derive(Clone)]
struct AppState {
    env: Env,
    flaws: Flaws,
}

/// The reference app with the scenario's flaws. Its force-sync runs the system's sync (yours,
/// when you replaced it).
pub fn reference(flaws: Flaws) -> impl Fn(Env) -> Router {
    move |env: Env| {
        Router::new()
            .route("/api/fanvue/force-sync-revenue", post(force_sync))
            .route("/api/dashboard", get(dashboard))
            .with_state(AppState { env, flaws })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForceSyncQuery {
    model_id: Option<String>,
}

async fn force_sync(State(st): State<AppState>, Query(q): Query<ForceSyncQuery>) -> (StatusCode, String) {
    let id = q.model_id.as_deref().and_then(|s| s.parse::<i64>().ok());
    let Some(model) = id.and_then(|id| st.env.models.iter().find(|m| m.id == id)) else {
        return (StatusCode::NOT_FOUND, format!("no model {:?}", q.model_id.unwrap_or_default()));
    };
    let env = &st.env;
    let now = i64::try_from(env.sim.wall_ms()).unwrap_or(i64::MAX);
    if st.flaws.has(Flaw::ForceSyncNoReset) {
        env.sim.mark("force-sync-ran");
        env.sim.record(Kind::State, ACTOR, None, || {
            format!("{}: force sync: re-syncing from the cursor, not reset (force-sync-no-reset)", model.name)
        });
    } else {
        let reset = env
            .db
            .unit(ACTOR, "force-sync.reset-cursor", &model.name, |tx| units::reset_cursor(tx, model.id, now))
            .await;
        if let Err(e) = reset {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
        env.sim.mark("force-sync-ran");
        env.sim.record(Kind::State, ACTOR, None, || {
            format!("{}: force sync: cursor reset, re-syncing from the beginning", model.name)
        });
    }
    match env.sync(ACTOR, model).await {
        Outcome::Done { pages, inserted } => {
            (StatusCode::OK, format!(r#"{{"synced":true,"pages":{pages},"inserted":{inserted}}}"#))
        }
        Outcome::Stopped(why) => (StatusCode::BAD_GATEWAY, why),
    }
}

/// The dashboard's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// What the owner sees, in cents.
    pub total_gross_revenue: i64,
    pub live_total_revenue: i64,
    /// "live" or "overview".
    pub source: String,
}

async fn dashboard(State(st): State<AppState>) -> (StatusCode, String) {
    let env = &st.env;
    let rows = match env.db.unit(ACTOR, "dashboard.load", "", units::dashboard_rows).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let live: i64 = rows.iter().map(|(_, v)| v).sum();
    // With the flaw off only `live <= 0` could remain, and the dashboard then shows Fanvue's own
    // summary: the stored total is 0 only before the first sync stores a row or when Fanvue has
    // none, and no check reads a load taken before everything is stored.
    // #[gamma::skip(reason = "dashboard-fallback's own condition; without the flaw, the summary it would show is the truth at every load a check reads", tag = "flaw")]
    let fallback = st.flaws.has(Flaw::DashboardFallback) && live <= 0;
    let (total, source) = if fallback {
        // The seed's `overviewData?.kpiMetrics?.totalRevenue ?? 0`: a failed overview is 0.
        (overview(&st).await, "overview")
    } else {
        (live, "live")
    };
    let body = Dashboard { total_gross_revenue: total, live_total_revenue: live, source: source.into() };
    (StatusCode::OK, serde_json::to_string(&body).unwrap_or_default())
}

/// The overview's total revenue: Fanvue's summary of every model, summed.
// #[gamma::skip(reason = "called only on dashboard-fallback's path", tag = "flaw")]
async fn overview(st: &AppState) -> i64 {
    let env = &st.env;
    let mut total = 0;
    for m in st.env.models.iter() {
        let label = if env.sim.recording() { format!("GET /insights/summary {}", m.name) } else { String::new() };
        let req = Request::new(http::Method::GET, "/insights/summary")
            .header("authorization", format!("Bearer {}", m.token))
            .header(wire::VERSION_HEADER, env.cfg.provider.api_version.clone())
            .label(label);
        if let Ok(resp) = env.sim.request(ACTOR, fanvue::ACTOR, req, env.cfg.request_timeout.0).await
            && resp.status == 200
            && let Ok(s) = serde_json::from_slice::<wire::Summary>(&resp.body)
        {
            total += s.total_revenue;
        }
    }
    total
}
