//! Stripe's API as an axum `Router`: what the app and its jobs call. Requests are
//! form-encoded (`a[b][0]=c`), as Stripe's client libraries send them; answers are JSON with
//! Stripe's shapes ([`super::objects`]).
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/checkout/sessions` | create a Checkout Session (`mode=payment`, `line_items[i][price_data]…`, `metadata[…]`, `client_reference_id`, `expires_at`, `payment_method_types[i]`, `payment_intent_data[metadata][…]`) |
//! | `GET /v1/checkout/sessions/{id}` | retrieve a session |
//! | `POST /v1/checkout/sessions/{id}/expire` | expire an open session |
//! | `GET /v1/payment_intents/{id}` | retrieve a PaymentIntent |
//! | `POST /v1/payment_intents/{id}/cancel` | cancel a PaymentIntent |
//! | `POST /v1/refunds` | refund (`payment_intent` or `charge`, `amount`, `reason`) |
//! | `GET /v1/events` | list events: newest first, `limit` 1–100, `starting_after` / `ending_before`, `has_more`, `type` (`*` wildcards), `types[i]`, `delivery_success`, `created[gte…]`; 30 days |
//! | `GET /v1/events/{id}` | retrieve an event (30 days) |
//!
//! Every request goes through the same steps, in this order: the secret key (`Authorization:
//! Bearer sk_…`, or basic with the key as user; else 401); the rate limits, per key and per
//! endpoint (else 429 with `code: rate_limit`); the `Idempotency-Key` of a POST (a retry gets the
//! saved answer with `Idempotent-Replayed: true`, even a 500; the same key with other parameters
//! is a 400 `idempotency_error`); the API's injected faults (a 5xx is saved under the key like
//! any answer; a black-holed POST runs, is saved, and answers 504 only after the caller gave up;
//! an injected 429 is not saved); a stale read for retrievals; then the operation. Answers that
//! are 2xx or 5xx are saved under the key; 4xx are not (Stripe saves only requests that began
//! executing).
//!
//! What it does not do: the hosted payment page (customers act through
//! [`super::Stripe::pay_card`] and friends), `expand[]`, search, or any other resource.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use super::model::{DeliveryState, NewSession, Stripe};
use super::objects::{self, ApiError, short};
use crate::providers::kit::ApiFault;
use crate::providers::kit::idempotency::{Lookup, Saved};
use crate::providers::kit::list::{self, ListParams};
use crate::sim::world::lock;

pub(crate) fn router(s: Stripe) -> Router {
    Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/payment_intents/{id}", get(get_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .with_state(s)
}

/// Decodes a form body or query string into keys and values. Repeated `k[]` keys become
/// `k[0]`, `k[1]`, … (Stripe's libraries send indexed keys; some clients send `[]`).
pub fn parse_form(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut next_index: BTreeMap<String, usize> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        let key = match k.strip_suffix("[]") {
            Some(stem) => {
                let i = next_index.entry(stem.to_string()).or_insert(0);
                *i += 1;
                format!("{stem}[{}]", *i - 1)
            }
            None => k.into_owned(),
        };
        out.insert(key, v.into_owned());
    }
    out
}

/// The values of `prefix[key]` entries: `metadata[order_id]=7` → `{order_id: 7}`.
fn nested(params: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(k, v)| {
            let inner = k.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
            (!inner.contains('[')).then(|| (inner.to_string(), v.clone()))
        })
        .collect()
}

/// The values of `prefix[0]`, `prefix[1]`, … in order.
fn indexed(params: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    (0..).map_while(|i| params.get(&format!("{prefix}[{i}]")).cloned()).collect()
}

fn int(params: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match params.get(key) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| ApiError::invalid(key, format!("Invalid integer: {v}"))),
    }
}

/// One API request on its way through the pipeline.
struct Call {
    post: bool,
    /// `POST /v1/refunds`, with ids as `{id}`: the per-endpoint bucket.
    endpoint: &'static str,
    /// The concrete path, for fingerprints and trace lines.
    path: String,
    headers: HeaderMap,
    params: BTreeMap<String, String>,
    /// A retrieval that may be answered from an older state.
    stale_ok: bool,
}

type OpResult = Result<Value, ApiError>;

impl Stripe {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if let Some(key) = given.strip_prefix("Bearer ") {
            return key == self.cfg.secret_key;
        }
        let basic = given.strip_prefix("Basic ").and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        basic.is_some_and(|b| b.strip_suffix(b":").unwrap_or(&b) == self.cfg.secret_key.as_bytes())
    }

    /// Runs `op` through the pipeline in the module doc. `op` gets the simulated time to read
    /// as of (`None`: now).
    async fn serve(&self, call: Call, op: impl FnOnce(&Stripe, Option<u64>) -> OpResult) -> Response {
        let request_id = {
            let mut st = lock(&self.state);
            let n = st.next("request");
            objects::object_id("req_", "request", n, 14)
        };
        let subject = format!("{} {}", if call.post { "POST" } else { "GET" }, short_path(&call.path));
        if !self.authorized(&call.headers) {
            let e = ApiError {
                status: 401,
                kind: "invalid_request_error",
                code: None,
                message: "Invalid API Key provided".into(),
                param: None,
            };
            return respond(e.status, &e.json(), &request_id, &[]);
        }
        let now_wall = i64::try_from(self.rt.wall_ms()).unwrap_or(i64::MAX);
        let (by_key, by_endpoint) = {
            let mut st = lock(&self.state);
            let k = st.key_buckets.take(&self.cfg.secret_key, now_wall);
            let e = st.endpoint_buckets.take(call.endpoint, now_wall);
            (k, e)
        };
        if !by_key.allowed || !by_endpoint.allowed {
            self.rt.mark("stripe:rate-limited");
            self.rt.state(|| format!("{subject}: rate limit reached; 429"));
            return rate_limited(&request_id);
        }
        let key =
            call.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).filter(|_| call.post).map(str::to_string);
        let fingerprint = format!("{} {:?}", call.path, call.params);
        let now_ms = self.rt.now_ms();
        if let Some(k) = &key {
            let lookup = lock(&self.state).idempotency.check(k, &fingerprint, now_ms);
            match lookup {
                Err(e) => {
                    return respond(400, &ApiError::invalid("Idempotency-Key", e.to_string()).json(), &request_id, &[]);
                }
                Ok(Lookup::Replay(saved)) => {
                    self.rt.mark("stripe:idempotent-replay");
                    self.rt.state(|| format!("{subject}: Idempotency-Key seen; the saved {} again", saved.status));
                    return replay(&saved, &request_id, k);
                }
                Ok(Lookup::Mismatch { .. }) => {
                    let e = ApiError {
                        status: 400,
                        kind: "idempotency_error",
                        code: None,
                        message: format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."
                        ),
                        param: None,
                    };
                    return respond(400, &e.json(), &request_id, &[]);
                }
                Ok(Lookup::New) => {}
            }
        }
        let fault = self.cfg.api.draw(&self.rt, &subject);
        let (status, body) = match fault {
            Some(ApiFault::RateLimited) => return rate_limited(&request_id),
            Some(ApiFault::ServerError(code)) => {
                let e = ApiError {
                    status: code,
                    kind: "api_error",
                    code: None,
                    message: "An unknown error occurred".into(),
                    param: None,
                };
                (code, e.json())
            }
            None | Some(ApiFault::BlackHole { .. }) => {
                let lag_ms = if call.stale_ok { self.cfg.api.stale_lag_ms(&self.rt, &subject) } else { 0 };
                let as_of = (lag_ms > 0).then(|| now_ms.saturating_sub(lag_ms));
                match op(self, as_of) {
                    Ok(v) => (200, v),
                    Err(e) => (e.status, e.json()),
                }
            }
        };
        if let Some(k) = &key
            && (status == 200 || status >= 500)
        {
            let saved = Saved {
                fingerprint,
                status,
                headers: Vec::new(),
                body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                saved_ms: now_ms,
            };
            lock(&self.state).idempotency.save(k, saved);
        }
        if let Some(ApiFault::BlackHole { hold_ms }) = fault {
            // The request ran (for a POST, its effect and saved answer stand); its answer never
            // reaches a caller that gives up before `hold_ms`.
            self.rt.sleep_ms(hold_ms).await;
            let e =
                ApiError { status: 504, kind: "api_error", code: None, message: "Gateway timeout".into(), param: None };
            return respond(504, &e.json(), &request_id, &[]);
        }
        let echo: Vec<(&str, String)> = key.iter().map(|k| ("idempotency-key", k.clone())).collect();
        respond(status, &body, &request_id, &echo)
    }
}

/// `/v1/checkout/sessions/cs_live_a1b2…` with long ids cut, for trace lines.
fn short_path(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.len() > 20 && seg.contains('_') { short(seg) } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn respond(status: u16, body: &Value, request_id: &str, extra: &[(&str, String)]) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, [(http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v);
    }
    for (k, v) in extra {
        if let (Ok(name), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            h.insert(name, v);
        }
    }
    resp
}

fn replay(saved: &Saved, request_id: &str, key: &str) -> Response {
    let code = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, [(http::header::CONTENT_TYPE, "application/json")], saved.body.clone()).into_response();
    let h = resp.headers_mut();
    for (k, v) in [("request-id", request_id), ("idempotency-key", key), ("idempotent-replayed", "true")] {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    resp
}

fn rate_limited(request_id: &str) -> Response {
    let e = ApiError {
        status: 429,
        kind: "invalid_request_error",
        code: Some("rate_limit"),
        message: "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
            .into(),
        param: None,
    };
    respond(429, &e.json(), request_id, &[("stripe-should-retry", "true".into())])
}

fn call(
    post: bool,
    endpoint: &'static str,
    path: String,
    headers: HeaderMap,
    params: BTreeMap<String, String>,
) -> Call {
    Call { post, endpoint, path, headers, params, stale_ok: false }
}

async fn create_session(AxState(s): AxState<Stripe>, headers: HeaderMap, body: Bytes) -> Response {
    let params = parse_form(&body);
    let c = call(true, "POST /v1/checkout/sessions", "/v1/checkout/sessions".into(), headers, params.clone());
    s.serve(c, |s, _| {
        let new = new_session(&params)?;
        let id = s.create_session(new)?;
        s.session_json(&id, None).ok_or_else(|| ApiError::missing("checkout.session", &id, "id"))
    })
    .await
}

/// Reads `POST /v1/checkout/sessions` parameters.
fn new_session(p: &BTreeMap<String, String>) -> Result<NewSession, ApiError> {
    match p.get("mode").map(String::as_str) {
        Some("payment") => {}
        Some(other) => return Err(ApiError::invalid("mode", format!("mode {other:?} is not simulated; use payment"))),
        None => return Err(ApiError::invalid("mode", "Missing required param: mode.")),
    }
    let mut total = 0i64;
    let mut currency: Option<String> = None;
    for i in 0..100 {
        let item = |k: &str| format!("line_items[{i}]{k}");
        if !p.keys().any(|k| k.starts_with(&format!("line_items[{i}]"))) {
            if i == 0 {
                return Err(ApiError::invalid("line_items", "Missing required param: line_items."));
            }
            break;
        }
        if p.contains_key(&item("[price]")) {
            return Err(ApiError::invalid(&item("[price]"), "Prices are not simulated: use price_data."));
        }
        let unit = int(p, &item("[price_data][unit_amount]"))?
            .filter(|v| *v >= 0)
            .ok_or_else(|| ApiError::invalid(&item("[price_data][unit_amount]"), "Missing or negative unit_amount."))?;
        let quantity = int(p, &item("[quantity]"))?.unwrap_or(1);
        if quantity < 1 {
            return Err(ApiError::invalid(&item("[quantity]"), "quantity must be at least 1"));
        }
        let cur = p
            .get(&item("[price_data][currency]"))
            .ok_or_else(|| ApiError::invalid(&item("[price_data][currency]"), "Missing required param: currency."))?
            .to_ascii_lowercase();
        if currency.as_ref().is_some_and(|c| *c != cur) {
            return Err(ApiError::invalid(&item("[price_data][currency]"), "All line items must use one currency."));
        }
        currency = Some(cur);
        total = unit
            .checked_mul(quantity)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| ApiError::invalid(&item("[quantity]"), "amount too large"))?;
    }
    let expires_at_s = int(p, "expires_at")?.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(NewSession {
        amount_total: total,
        currency: currency.unwrap_or_else(|| "usd".into()),
        client_reference_id: p.get("client_reference_id").cloned(),
        customer_email: p.get("customer_email").cloned(),
        metadata: nested(p, "metadata"),
        intent_metadata: nested(p, "payment_intent_data[metadata]"),
        payment_method_types: indexed(p, "payment_method_types"),
        expires_at_s,
        success_url: p.get("success_url").cloned(),
        cancel_url: p.get("cancel_url").cloned(),
    })
}

async fn get_session(AxState(s): AxState<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut c =
        call(false, "GET /v1/checkout/sessions/{id}", format!("/v1/checkout/sessions/{id}"), headers, BTreeMap::new());
    c.stale_ok = true;
    s.serve(c, |s, as_of| {
        s.session_json(&id, as_of).ok_or_else(|| ApiError::missing("checkout.session", &id, "session"))
    })
    .await
}

async fn expire_session(
    AxState(s): AxState<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/checkout/sessions/{id}/expire");
    let c = call(true, "POST /v1/checkout/sessions/{id}/expire", path, headers, parse_form(&body));
    s.serve(c, |s, _| {
        s.expire(&id)?;
        s.session_json(&id, None).ok_or_else(|| ApiError::missing("checkout.session", &id, "session"))
    })
    .await
}

async fn get_intent(AxState(s): AxState<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut c =
        call(false, "GET /v1/payment_intents/{id}", format!("/v1/payment_intents/{id}"), headers, BTreeMap::new());
    c.stale_ok = true;
    s.serve(c, |s, as_of| s.intent_json(&id, as_of).ok_or_else(|| ApiError::missing("payment_intent", &id, "intent")))
        .await
}

async fn cancel_intent(
    AxState(s): AxState<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/payment_intents/{id}/cancel");
    let c = call(true, "POST /v1/payment_intents/{id}/cancel", path, headers, parse_form(&body));
    s.serve(c, |s, _| {
        s.cancel_intent(&id)?;
        s.intent_json(&id, None).ok_or_else(|| ApiError::missing("payment_intent", &id, "intent"))
    })
    .await
}

async fn create_refund(AxState(s): AxState<Stripe>, headers: HeaderMap, body: Bytes) -> Response {
    let params = parse_form(&body);
    let c = call(true, "POST /v1/refunds", "/v1/refunds".into(), headers, params.clone());
    s.serve(c, |s, _| {
        let intent = match (params.get("payment_intent"), params.get("charge")) {
            (Some(pi), _) => pi.clone(),
            (None, Some(ch)) => s.intent_of_charge(ch).ok_or_else(|| ApiError::missing("charge", ch, "charge"))?,
            (None, None) => return Err(ApiError::invalid("payment_intent", "Missing required param: payment_intent.")),
        };
        let amount = int(&params, "amount")?;
        let reason = params.get("reason").cloned();
        if let Some(r) = &reason
            && !["duplicate", "fraudulent", "requested_by_customer"].contains(&r.as_str())
        {
            return Err(ApiError::invalid("reason", format!("Invalid reason: {r}")));
        }
        let refund = s.refund(&intent, amount, reason)?;
        Ok(objects::refund_json(&refund))
    })
    .await
}

impl Stripe {
    fn intent_of_charge(&self, charge: &str) -> Option<String> {
        let st = lock(&self.state);
        st.intents
            .iter()
            .find(|(_, r)| r.current().latest_charge.as_deref() == Some(charge))
            .map(|(id, _)| id.to_string())
    }
}

async fn get_event(AxState(s): AxState<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let c = call(false, "GET /v1/events/{id}", format!("/v1/events/{id}"), headers, BTreeMap::new());
    s.serve(c, |s, _| {
        let cutoff = s.rt.now_ms().saturating_sub(s.cfg.events_retention.0);
        let st = lock(&s.state);
        st.event_index
            .get(&id)
            .map(|&i| &st.events[i])
            .filter(|e| e.created_ms >= cutoff)
            .and_then(|e| serde_json::from_slice(&e.body).ok())
            .ok_or_else(|| ApiError::missing("event", &id, "id"))
    })
    .await
}

/// Whether `type_` matches a `type` filter, with `*` wildcards (`checkout.session.*`).
fn type_matches(filter: &str, type_: &str) -> bool {
    match filter.split_once('*') {
        None => filter == type_,
        Some((head, tail)) => {
            type_.len() >= head.len() + tail.len() && type_.starts_with(head) && type_.ends_with(tail)
        }
    }
}

async fn list_events(AxState(s): AxState<Stripe>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let params = parse_form(q.unwrap_or_default().as_bytes());
    let c = call(false, "GET /v1/events", "/v1/events".into(), headers, params.clone());
    s.serve(c, |s, _| {
        let paging = ListParams::parse(&params).map_err(|e| ApiError::invalid(e.param(), e.to_string()))?;
        let mut types = indexed(&params, "types");
        types.extend(params.get("type").cloned());
        let delivered = match params.get("delivery_success").map(String::as_str) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(v) => return Err(ApiError::invalid("delivery_success", format!("Invalid boolean: {v}"))),
        };
        let bound = |k: &str| int(&params, &format!("created[{k}]"));
        let (gte, gt, lte, lt, exact) =
            (bound("gte")?, bound("gt")?, bound("lte")?, bound("lt")?, int(&params, "created")?);
        let cutoff = s.rt.now_ms().saturating_sub(s.cfg.events_retention.0);
        let st = lock(&s.state);
        let keep = |e: &&super::model::EventRecord| {
            let created = i64::try_from(e.created_s).unwrap_or(i64::MAX);
            e.created_ms >= cutoff
                && (types.is_empty() || types.iter().any(|t| type_matches(t, e.type_.as_str())))
                && delivered.is_none_or(|want| (e.delivery == DeliveryState::Delivered) == want)
                && gte.is_none_or(|v| created >= v)
                && gt.is_none_or(|v| created > v)
                && lte.is_none_or(|v| created <= v)
                && lt.is_none_or(|v| created < v)
                && exact.is_none_or(|v| created == v)
        };
        let page = list::newest_first(&st.events, |e| e.id.as_str(), |e| keep(&e), &paging)
            .map_err(|e| ApiError::invalid(e.param(), e.to_string()))?;
        let data = page.data.iter().filter_map(|e| serde_json::from_slice(&e.body).ok()).collect();
        Ok(objects::list_json("/v1/events", data, page.has_more))
    })
    .await
}
