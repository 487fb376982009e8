//! Tests of the simulated Stripe on the simulated network: a small harness (Stripe, an app
//! endpoint that records every delivery and answers as scripted, a client calling the API) and
//! one module per concern. The network has a fixed latency and no faults unless a test says so,
//! so every effect is the provider's own.
//!
//! - [`flows`]: the customer's paths through both status machines and the events they send.
//! - [`delivery`]: signatures, retries by answer, the 3-day limit, duplicates, no ordering.
//! - [`api`]: the HTTP API, idempotency keys, rate limits, pagination, API faults.
//! - [`vectors`]: `Stripe-Signature` against `openssl`, and determinism of a whole run.

mod api;
mod delivery;
mod flows;
mod vectors;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use serde_json::Value;

use super::{Stripe, StripeConfig};
use crate::sim::world::lock;
use crate::sim::{Event, Millis, NetConfig, Oracle, Range, Request, Response, RunOutput, Sim, SimConfig};

/// The endpoint secret and key the harness uses.
pub const SECRET: &str = "whsec_settle_sim";
pub const KEY: &str = "sk_live_settle_sim";

/// One delivery as the app saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub t_ms: u64,
    pub wall_ms: u64,
    pub signature: String,
    pub body: Bytes,
    pub answered: u16,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery is JSON")
    }

    pub fn id(&self) -> String {
        self.json()["id"].as_str().unwrap_or_default().to_string()
    }

    pub fn type_(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

/// The app's webhook endpoint: records deliveries, answers the next scripted status (200 once
/// the script is empty).
#[derive(Clone, Default)]
pub struct App {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub script: Arc<Mutex<VecDeque<u16>>>,
}

impl App {
    pub fn answering(statuses: &[u16]) -> App {
        let app = App::default();
        lock(&app.script).extend(statuses.iter().copied());
        app
    }

    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    pub fn types(&self) -> Vec<String> {
        self.seen().iter().map(Seen::type_).collect()
    }

    fn router(&self, sim: Sim) -> Router {
        Router::new().route("/webhooks/stripe", post(handler)).with_state((self.clone(), sim))
    }
}

async fn handler(State((app, sim)): State<(App, Sim)>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let answered = lock(&app.script).pop_front().unwrap_or(200);
    let signature = headers.get(super::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    lock(&app.seen).push(Seen { t_ms: sim.now_ms(), wall_ms: sim.wall_ms(), signature, body, answered });
    http::StatusCode::from_u16(answered).unwrap_or(http::StatusCode::OK)
}

pub fn sim_config(record: bool) -> SimConfig {
    SimConfig {
        record,
        safety: Millis::h(24 * 5),
        liveness: Millis::h(1),
        epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
        net: NetConfig { latency: Range::fixed(Millis(5)), ..NetConfig::default() },
        crashes: Default::default(),
        notes: Vec::new(),
        tap: None,
    }
}

/// Runs `body` with Stripe (config `cfg`) and the app `app` on a fresh world seeded `seed`.
pub fn run_with<F, Fut, R>(seed: u64, cfg: StripeConfig, app: App, body: F) -> RunOutput<R>
where
    F: FnOnce(Sim, Stripe) -> Fut,
    Fut: Future<Output = R>,
{
    run_on(Oracle::random(seed), cfg, app, body)
}

/// [`run_with`] on any oracle (a replayed choice list).
pub fn run_on<F, Fut, R>(oracle: Oracle, cfg: StripeConfig, app: App, body: F) -> RunOutput<R>
where
    F: FnOnce(Sim, Stripe) -> Fut,
    Fut: Future<Output = R>,
{
    Sim::run(sim_config(true), oracle, move |sim| async move {
        let stripe = Stripe::start(&sim, cfg);
        sim.serve("app", app.router(sim.clone()));
        body(sim, stripe).await
    })
    .expect("the runtime starts")
}

/// A config with no provider-side duplicates and a fixed webhook delay, so tests can count.
pub fn quiet() -> StripeConfig {
    StripeConfig {
        duplicate_webhook: crate::sim::Rate::ZERO,
        webhook_delay: Range::fixed(Millis(100)),
        ..StripeConfig::default()
    }
}

/// A form-encoded API call with the harness's key.
pub async fn call(sim: &Sim, method: http::Method, path: &str, form: &[(&str, &str)], key: Option<&str>) -> Response {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut req = Request::new(method, path).header("authorization", format!("Bearer {KEY}"));
    req.body = Bytes::from(body);
    req = req.header("content-type", "application/x-www-form-urlencoded");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    sim.request("client", super::ACTOR, req, 60_000).await.expect("no network faults here")
}

pub fn json(resp: &Response) -> Value {
    serde_json::from_slice(&resp.body).expect("an API answer is JSON")
}

/// Creates a $25.00 session through the API; returns its id.
pub async fn new_session(sim: &Sim, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("mode", "payment"),
        ("success_url", "https://shop.example/ok"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2500"),
        ("line_items[0][price_data][product_data][name]", "Haircut"),
        ("line_items[0][quantity]", "1"),
        ("metadata[booking_id]", "b-1"),
    ];
    form.extend_from_slice(extra);
    let resp = call(sim, http::Method::POST, "/v1/checkout/sessions", &form, None).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    json(&resp)["id"].as_str().expect("an id").to_string()
}

/// The provider's own trace lines.
pub fn stripe_lines(events: &[Event]) -> Vec<String> {
    events.iter().filter(|e| e.actor == super::ACTOR).map(|e| e.text.clone()).collect()
}
