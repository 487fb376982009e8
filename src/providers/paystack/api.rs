//! Paystack's API as an axum `Router`: what the app and its jobs call. Requests and answers are
//! JSON; every answer is Paystack's envelope `{"status": bool, "message": …, "data": …}`.
//!
//! | route | does |
//! |---|---|
//! | `POST /transaction/initialize` | `{email, amount, reference?, callback_url?, metadata?, channels?}` → `{authorization_url, access_code, reference}` |
//! | `GET /transaction/verify/{reference}` | the transaction (status, amount, `paid_at`, `gateway_response`, `channel` …); 400 "Transaction reference not found" |
//! | `GET /transaction` | list, newest first: `perPage` (1–200, default 50), `page` (from 1), `status`; `meta` with `total`, `page`, `pageCount` |
//! | `POST /refund` | `{transaction}` (a reference or an id): the success becomes `reversed` |
//!
//! Every request goes through the same steps: the secret key (`Authorization: Bearer sk_…`,
//! else 401); the API's injected faults (a 5xx, a 429, or a black hole that answers 504 only
//! after the caller gave up; a black-holed POST still runs); a stale read for `verify` and the
//! list (the state of a while ago); then the operation.
//!
//! What it does not do: charge authorizations, transfers, customers, plans, or the hosted page
//! (customers act through [`super::Paystack::pay`]).

use axum::Router;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::model::{InitError, NewTransaction, Paystack, RefundError};
use super::status::{Channel, TransactionStatus};
use crate::providers::kit::ApiFault;
use crate::sim::world::lock;

pub(crate) fn router(p: Paystack) -> Router {
    Router::new()
        .route("/transaction/initialize", post(initialize))
        .route("/transaction/verify/{reference}", get(verify))
        .route("/transaction", get(list))
        .route("/refund", post(refund))
        .with_state(p)
}

/// An answer: HTTP status and Paystack's envelope.
type Answer = (u16, Value);

fn ok(message: &str, data: Value) -> Answer {
    (200, json!({ "status": true, "message": message, "data": data }))
}

fn fail(status: u16, message: impl Into<String>) -> Answer {
    (status, json!({ "status": false, "message": message.into() }))
}

fn respond((status, body): Answer) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

impl Paystack {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        given.strip_prefix("Bearer ").is_some_and(|k| k == self.cfg.secret_key)
    }

    /// Runs `op` through the steps in the module doc; `op` gets the simulated time to read as
    /// of (`None`: now) when `stale_ok`.
    async fn serve(
        &self,
        subject: String,
        headers: &HeaderMap,
        stale_ok: bool,
        op: impl FnOnce(&Paystack, Option<u64>) -> Answer,
    ) -> Response {
        if !self.authorized(headers) {
            return respond(fail(401, "Invalid key"));
        }
        let fault = self.cfg.api.draw(&self.rt, &subject);
        let answer = match fault {
            Some(ApiFault::RateLimited) => return respond(fail(429, "Too many requests. Please retry later")),
            Some(ApiFault::ServerError(code)) => fail(code, "An error occurred"),
            None | Some(ApiFault::BlackHole { .. }) => {
                let lag_ms = if stale_ok { self.cfg.api.stale_lag_ms(&self.rt, &subject) } else { 0 };
                let as_of = (lag_ms > 0).then(|| self.rt.now_ms().saturating_sub(lag_ms));
                op(self, as_of)
            }
        };
        if let Some(ApiFault::BlackHole { hold_ms }) = fault {
            self.rt.sleep_ms(hold_ms).await;
            return respond(fail(504, "Gateway timeout"));
        }
        respond(answer)
    }

    fn data(&self, reference: &str, as_of: Option<u64>) -> Option<Value> {
        let fields = self.tx_fields(reference, as_of)?;
        Some(Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>()))
    }
}

/// Parses a JSON body into an object, or the 400 Paystack would give.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, Answer> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(fail(400, "Request body must be a JSON object")),
        Err(e) => Err(fail(400, format!("Invalid JSON body: {e}"))),
    }
}

/// `amount` as Paystack takes it: an integer, or a string of digits, in the subunit.
fn amount_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn new_transaction(m: &Map<String, Value>) -> Result<NewTransaction, Answer> {
    let email = m.get("email").and_then(Value::as_str).unwrap_or_default().to_string();
    let amount = amount_of(m.get("amount")).ok_or_else(|| fail(400, "Invalid Amount Sent"))?;
    let reference = match m.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(r))
            if !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || "-.=".contains(c)) =>
        {
            Some(r.clone())
        }
        Some(_) => return Err(fail(400, "Invalid reference: only -, ., = and alphanumeric characters allowed")),
    };
    let channels = match m.get("channels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| c.as_str().and_then(Channel::parse).ok_or_else(|| fail(400, format!("Invalid channel: {c}"))))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fail(400, "channels must be an array")),
    };
    let metadata = match m.get("metadata") {
        // Paystack accepts metadata as an object or as a JSON string of one.
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let callback_url = m.get("callback_url").and_then(Value::as_str).map(str::to_string);
    Ok(NewTransaction { email, amount, reference, callback_url, metadata, channels })
}

async fn initialize(AxState(p): AxState<Paystack>, headers: HeaderMap, body: Bytes) -> Response {
    p.clone()
        .serve("POST /transaction/initialize".into(), &headers, false, move |p, _| {
            let t = match body_object(&body).and_then(|m| new_transaction(&m)) {
                Ok(t) => t,
                Err(a) => return a,
            };
            match p.initialize(t) {
                Ok(i) => ok(
                    "Authorization URL created",
                    json!({ "authorization_url": i.authorization_url, "access_code": i.access_code, "reference": i.reference }),
                ),
                Err(e @ (InitError::DuplicateReference | InitError::InvalidAmount | InitError::InvalidEmail)) => {
                    fail(400, e.to_string())
                }
            }
        })
        .await
}

async fn verify(AxState(p): AxState<Paystack>, Path(reference): Path<String>, headers: HeaderMap) -> Response {
    let subject = format!("GET /transaction/verify/{reference}");
    p.clone()
        .serve(subject, &headers, true, move |p, as_of| match p.data(&reference, as_of) {
            Some(d) => ok("Verification successful", d),
            None => fail(400, "Transaction reference not found"),
        })
        .await
}

async fn list(AxState(p): AxState<Paystack>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    p.clone()
        .serve("GET /transaction".into(), &headers, true, move |p, as_of| {
            let (mut per_page, mut page, mut status) = (50u64, 1u64, None);
            for (k, v) in form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
                match &*k {
                    "perPage" => match v.parse::<u64>() {
                        Ok(n) if (1..=200).contains(&n) => per_page = n,
                        _ => return fail(400, format!("perPage: {v:?} is not a number from 1 to 200")),
                    },
                    "page" => match v.parse::<u64>() {
                        Ok(n) if n >= 1 => page = n,
                        _ => return fail(400, format!("page: {v:?} is not a number from 1")),
                    },
                    "status" => match TransactionStatus::parse(&v) {
                        Some(s) => status = Some(s),
                        None => {
                            return fail(400, format!("status: {v:?} is not one of {}", TransactionStatus::names()));
                        }
                    },
                    _ => {}
                }
            }
            // Newest first: reverse creation order. A stale list sees what existed then.
            let refs: Vec<String> = {
                let st = lock(&p.state);
                st.txs
                    .ids_in_creation_order()
                    .iter()
                    .rev()
                    .filter(|r| st.txs.get(r).is_some_and(|rec| as_of.is_none_or(|t| rec.created_ms <= t)))
                    .cloned()
                    .collect()
            };
            let rows: Vec<Value> = refs
                .iter()
                .filter_map(|r| p.data(r, as_of))
                .filter(|d| status.is_none_or(|s| d["status"] == s.as_str()))
                .collect();
            let total = rows.len() as u64;
            let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
            let data: Vec<Value> = rows.into_iter().skip(skip).take(per_page as usize).collect();
            let mut answer = ok("Transactions retrieved", Value::Array(data));
            answer.1["meta"] = json!({
                "total": total, "skipped": skip, "perPage": per_page, "page": page,
                "pageCount": total.div_ceil(per_page),
            });
            answer
        })
        .await
}

async fn refund(AxState(p): AxState<Paystack>, headers: HeaderMap, body: Bytes) -> Response {
    p.clone()
        .serve("POST /refund".into(), &headers, false, move |p, _| {
            let m = match body_object(&body) {
                Ok(m) => m,
                Err(a) => return a,
            };
            let reference = match m.get("transaction") {
                Some(Value::String(r)) => r.clone(),
                Some(Value::Number(n)) => {
                    let by_id = n.as_u64().and_then(|id| lock(&p.state).by_id.get(&id).cloned());
                    by_id.unwrap_or_default()
                }
                _ => return fail(400, "transaction: a reference or an id is required"),
            };
            match p.refund(&reference) {
                Ok(()) => ok(
                    "Refund has been queued for processing",
                    json!({ "transaction": { "reference": reference }, "status": "processed" }),
                ),
                Err(e @ RefundError::NotFound) => fail(404, e.to_string()),
                Err(e) => fail(400, e.to_string()),
            }
        })
        .await
}
