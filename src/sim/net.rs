//! The network, per message: a request from one actor to another actor's HTTP endpoint (an axum
//! `Router` called in-process) takes a seeded latency there and back, and may be
//!
//! - dropped before delivery (the caller times out),
//! - delivered with its response dropped (the handler ran; the caller times out and retries —
//!   the classic duplicate),
//! - duplicated (a second copy arrives later),
//! - delayed past later messages (reorder),
//! - refused, while a partition window separates the two actors or the receiver is down — or,
//!   in a black-hole partition, swallowed: the caller hears nothing until its own timeout, as
//!   behind a firewall that drops packets instead of resetting connections.
//!
//! Handlers run as tasks of the receiving actor, so a crash aborts them mid-flight. Every
//! per-message decision comes from the oracle, in a fixed order, so a run replays exactly.
//!
//! What it does not do: TCP segments, TLS, or bandwidth. A message is the unit of fault.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::tape;
use super::time::{Millis, Range, Rate};
use super::trace::Kind;
use super::world::{Sim, Step, lock};

/// The largest response body read back from a handler.
const BODY_LIMIT: usize = 1 << 20;

/// Network behaviour of a run. Rates are per message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// One-way latency.
    #[serde(default = "default_latency")]
    pub latency: Range,
    #[serde(default)]
    pub drop_request: Rate,
    #[serde(default)]
    pub drop_response: Rate,
    #[serde(default)]
    pub duplicate: Rate,
    #[serde(default)]
    pub reorder: Rate,
    /// Extra delay of a reordered message.
    #[serde(default = "default_reorder_delay")]
    pub reorder_delay: Range,
    #[serde(default)]
    pub partitions: PartitionConfig,
}

fn default_latency() -> Range {
    Range::new(Millis(5), Millis(400))
}

fn default_reorder_delay() -> Range {
    Range::new(Millis(1_000), Millis(60_000))
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: default_latency(),
            drop_request: Rate::ZERO,
            drop_response: Rate::ZERO,
            duplicate: Rate::ZERO,
            reorder: Rate::ZERO,
            reorder_delay: default_reorder_delay(),
            partitions: PartitionConfig::default(),
        }
    }
}

/// Partition windows: up to `count_max` per run, each between one of `between`'s pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    #[serde(default)]
    pub between: Vec<(String, String)>,
    #[serde(default)]
    pub count_max: u32,
    #[serde(default)]
    pub duration: Option<Range>,
    /// What a partition does to a message: refuse it at once (the default), swallow it (a black
    /// hole: the caller times out), or either, drawn per window.
    #[serde(default, skip_serializing_if = "PartitionKind::is_refuse")]
    pub kind: PartitionKind,
}

/// What a partition does to the messages it separates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// The connection is refused at once (`fault:partition`).
    #[default]
    Refuse,
    /// The message is swallowed; the caller waits out its timeout (`fault:black-hole`).
    BlackHole,
    /// Each window is one or the other, drawn from the oracle.
    Mixed,
}

impl PartitionKind {
    pub fn is_refuse(&self) -> bool {
        *self == PartitionKind::Refuse
    }

    /// Whether windows of this kind can refuse, and whether they can swallow.
    pub fn can(self) -> (bool, bool) {
        match self {
            PartitionKind::Refuse => (true, false),
            PartitionKind::BlackHole => (false, true),
            PartitionKind::Mixed => (true, true),
        }
    }
}

/// One partition window (both directions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub a: String,
    pub b: String,
    pub from_ms: u64,
    pub until_ms: u64,
    /// Messages are swallowed rather than refused.
    pub black_hole: bool,
}

pub(crate) fn plan_partitions(sim: &Sim, cfg: &NetConfig, safety_ms: u64) -> Vec<Partition> {
    let p = &cfg.partitions;
    let Some(duration) = p.duration else { return Vec::new() };
    if p.count_max == 0 || p.between.is_empty() {
        return Vec::new();
    }
    sim.choose_world(|o| {
        let count = o.below(u64::from(p.count_max) + 1);
        let mut out: Vec<Partition> = (0..count)
            .map(|_| {
                let (a, b) = p.between[o.below(p.between.len() as u64) as usize].clone();
                let from_ms = o.below(safety_ms.max(1));
                let until_ms = from_ms + duration.draw(o);
                // Only a mixed plan draws the kind, so plans of one kind replay old choice lists.
                let black_hole = match p.kind {
                    PartitionKind::Refuse => false,
                    PartitionKind::BlackHole => true,
                    PartitionKind::Mixed => o.chance(500_000),
                };
                Partition { a, b, from_ms, until_ms, black_hole }
            })
            .collect();
        out.sort_by_key(|p| (p.from_ms, p.until_ms));
        out
    })
}

/// A request on the simulated wire. Cloneable, so it can be duplicated.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: http::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// A short description for the trace (empty when not recording).
    pub label: String,
}

impl Request {
    pub fn new(method: http::Method, path: impl Into<String>) -> Self {
        Request { method, path: path.into(), headers: Vec::new(), body: Bytes::new(), label: String::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self.header("content-type", "application/json")
    }

    pub fn label(mut self, label: String) -> Self {
        self.label = label;
        self
    }

    /// The request as axum takes it; an error for a path or header that is not valid HTTP.
    /// Built in place rather than through `http::request::Builder`, which moves the whole
    /// request head once per header; the same parts, checks and header order either way.
    fn to_http(&self) -> Result<http::Request<Body>, http::Error> {
        let mut req = http::Request::new(Body::from(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = http::Uri::try_from(self.path.as_str())?;
        let headers = req.headers_mut();
        headers.try_reserve(self.headers.len())?;
        for (k, v) in &self.headers {
            let name = http::HeaderName::try_from(k.as_str())?;
            headers.try_append(name, http::HeaderValue::try_from(v.as_str())?)?;
        }
        Ok(req)
    }
}

/// A response as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
    /// Response headers, lower-case names, in the order the handler set them (e.g. a provider's
    /// `retry-after` and `x-ratelimit-*`). They never reach the trace.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("timed out")]
    Timeout,
    #[error("connection refused")]
    Refused,
}

/// An actor's HTTP endpoint.
#[derive(Clone)]
pub struct Endpoint {
    router: Router,
}

/// The per-message decisions, drawn together in a fixed order.
struct Fate {
    latency_there: u64,
    latency_back: u64,
    drop_request: bool,
    drop_response: bool,
    duplicate: Option<u64>,
    reorder_extra: u64,
}

impl Sim {
    /// Makes `router` reachable as `actor`'s endpoint.
    pub fn serve(&self, actor: &str, router: Router) {
        self.add_actor(actor);
        lock(&self.inner.endpoints).insert(actor.to_string(), Endpoint { router });
    }

    /// The partition window separating `a` and `b` now, if any: `Some(true)` for a black hole.
    fn partitioned(&self, a: &str, b: &str) -> Option<bool> {
        if !self.faults_active() {
            return None;
        }
        let now = self.now_ms();
        lock(&self.inner.partitions)
            .iter()
            .find(|p| ((p.a == a && p.b == b) || (p.a == b && p.b == a)) && p.from_ms <= now && now < p.until_ms)
            .map(|p| p.black_hole)
    }

    fn fate(&self) -> Fate {
        let cfg = &self.config().net;
        let faults = self.faults_active();
        let rate = |r: Rate| if faults { r.ppm() } else { 0 };
        self.choose_world(|o| {
            let latency_there = cfg.latency.draw(o);
            let latency_back = cfg.latency.draw(o);
            let drop_request = o.chance(rate(cfg.drop_request));
            let drop_response = !drop_request && o.chance(rate(cfg.drop_response));
            let duplicate =
                if !drop_request && o.chance(rate(cfg.duplicate)) { Some(cfg.latency.draw(o)) } else { None };
            let reorder_extra = if o.chance(rate(cfg.reorder)) { cfg.reorder_delay.draw(o) } else { 0 };
            Fate { latency_there, latency_back, drop_request, drop_response, duplicate, reorder_extra }
        })
    }

    /// Sends `req` from `from` to `to`'s endpoint and waits up to `timeout_ms` for the answer.
    /// The send, its faults, the handling (and the work the handler does) and the reply are one
    /// exchange in the trace.
    pub async fn request(&self, from: &str, to: &str, req: Request, timeout_ms: u64) -> Result<Response, NetError> {
        if let Some(direct) = self.direct_mode() {
            return direct.answer().await;
        }
        let exchange = self.new_exchange();
        let result = Sim::in_exchange(exchange, self.exchange_request(exchange, from, to, req, timeout_ms)).await;
        if let Some(tap) = self.tap()
            && let Some(delivery) = tape::current_delivery()
        {
            tap.answer(tape::Answer { delivery, at_ms: self.now_ms(), result: result.clone() });
        }
        result
    }

    async fn exchange_request(
        &self,
        exchange: u64,
        from: &str,
        to: &str,
        req: Request,
        timeout_ms: u64,
    ) -> Result<Response, NetError> {
        let deadline = self.now_ms() + timeout_ms;
        let label = req.label.clone();
        self.record(Kind::Send, from, Some(to), || label.clone());
        let endpoint = lock(&self.inner.endpoints).get(to).cloned();
        let reachable = endpoint.is_some() && self.is_up(to);
        match self.partitioned(from, to) {
            Some(false) => {
                self.fault("fault:partition", from, Some(to), || format!("partition: {label} refused"));
                self.sleep_ms(self.choose_world(|o| self.config().net.latency.draw(o))).await;
                return Err(NetError::Refused);
            }
            Some(true) => {
                self.fault("fault:black-hole", from, Some(to), || format!("black hole: {label} swallowed"));
                self.sleep_until_ms(deadline).await;
                self.record(Kind::Reply, from, Some(to), || format!("{label}: timed out after {}", Millis(timeout_ms)));
                return Err(NetError::Timeout);
            }
            None => {}
        }
        let Some(endpoint) = endpoint.filter(|_| reachable) else {
            self.record(Kind::Reply, from, Some(to), || format!("{label}: connection refused ({to} is down)"));
            self.sleep_ms(self.choose_world(|o| self.config().net.latency.draw(o))).await;
            return Err(NetError::Refused);
        };
        let fate = self.fate();
        let (tx, rx) = oneshot::channel::<Response>();
        if fate.drop_request {
            self.fault("fault:drop-request", from, Some(to), || format!("request lost: {label}"));
        } else {
            if fate.reorder_extra > 0 {
                self.fault("fault:reorder", from, Some(to), || {
                    format!("delayed {} behind later messages: {label}", Millis(fate.reorder_extra))
                });
            }
            let respond = if fate.drop_response { None } else { Some((tx, fate.latency_back)) };
            // The request goes to its delivery, copied only when a duplicate needs it too.
            let (first, duplicate) = match fate.duplicate {
                Some(extra) => (req.clone(), Some((req, extra))),
                None => (req, None),
            };
            let there = fate.latency_there + fate.reorder_extra;
            self.deliver(exchange, from, to, &endpoint, first, there, respond, fate.drop_response);
            if let Some((req, extra)) = duplicate {
                self.fault("fault:duplicate", from, Some(to), || format!("duplicated: {label}"));
                self.deliver(exchange, from, to, &endpoint, req, fate.latency_there + extra, None, false);
            }
        }
        let remaining = deadline.saturating_sub(self.now_ms());
        let outcome = tokio::select! {
            biased;
            r = rx => r.ok(),
            _ = self.sleep_ms(remaining) => None,
        };
        match outcome {
            Some(resp) => {
                self.record(Kind::Reply, from, Some(to), || format!("{label} ← {}", resp.status));
                Ok(resp)
            }
            None => {
                self.sleep_until_ms(deadline).await;
                self.record(Kind::Reply, from, Some(to), || format!("{label}: timed out after {}", Millis(timeout_ms)));
                Err(NetError::Timeout)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        exchange: u64,
        from: &str,
        to: &str,
        endpoint: &Endpoint,
        req: Request,
        delay_ms: u64,
        respond: Option<(oneshot::Sender<Response>, u64)>,
        response_lost: bool,
    ) {
        let sim = self.clone();
        let router = endpoint.router.clone();
        let (from, to_name) = (from.to_string(), to.to_string());
        let task = async move {
            sim.sleep_ms(delay_ms).await;
            let label = &req.label;
            sim.record(Kind::Deliver, &to_name, Some(&from), || format!("handling {label}"));
            let resp = match sim.tap() {
                None => handle(router, &req).await,
                Some(tap) => {
                    let id = tap.delivered(tape::Delivery {
                        id: 0,
                        to: to_name.clone(),
                        request: Request { label: String::new(), ..req.clone() },
                        at_ms: sim.now_ms(),
                        units_before: 0,
                        status: None,
                    });
                    let resp = tape::in_delivery(id, handle(router, &req)).await;
                    tap.answered(id, resp.status);
                    resp
                }
            };
            sim.step(Step::Message);
            if response_lost {
                sim.fault("fault:drop-response", &to_name, Some(&from), || {
                    format!("response {} lost after the handler ran: {label}", resp.status)
                });
            }
            if let Some((tx, back)) = respond {
                sim.sleep_ms(back).await;
                let _ = tx.send(resp);
            }
        };
        self.spawn(to, Sim::in_exchange(exchange, task));
    }
}

/// Hands `req` to `router` and reads its answer: what a delivery does, and what the HTTP floor
/// does with a recorded delivery.
pub async fn handle(router: Router, req: &Request) -> Response {
    match req.to_http() {
        Ok(http_req) => match router.oneshot(http_req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = text_headers(resp.headers());
                let body = axum::body::to_bytes(resp.into_body(), BODY_LIMIT).await.unwrap_or_default();
                Response { status, body, headers }
            }
            Err(infallible) => match infallible {},
        },
        Err(_) => Response { status: 400, body: Bytes::from_static(b"malformed request"), headers: Vec::new() },
    }
}

/// A response's headers as (lower-case name, value), in order, leaving out values that are not
/// text: what [`Response::headers`] holds, whatever transport answered.
pub(crate) fn text_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(f)
    }

    #[test]
    fn a_request_reaches_axum_with_its_method_path_headers_in_order_and_body() {
        let req = Request::new(http::Method::POST, "/v2/A-1/status?x=1")
            .header("X-Trace", "one")
            .header("accept", "application/json")
            .header("x-trace", "two")
            .json(Bytes::from_static(b"{}"));
        let http = req.to_http().expect("a valid request");
        assert_eq!(http.method(), http::Method::POST);
        assert_eq!(http.uri().path(), "/v2/A-1/status");
        assert_eq!(http.uri().query(), Some("x=1"));
        let headers: Vec<(&str, &str)> =
            http.headers().iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(
            headers,
            [
                ("x-trace", "one"),
                ("x-trace", "two"),
                ("accept", "application/json"),
                ("content-type", "application/json")
            ]
        );
        let body = block_on(axum::body::to_bytes(http.into_body(), BODY_LIMIT)).unwrap();
        assert_eq!(&body[..], b"{}");
    }

    #[test]
    fn a_request_that_is_not_valid_http_is_refused_before_any_handler() {
        let bad = [
            Request::new(http::Method::GET, "no path"),
            Request::new(http::Method::GET, "/x").header("bad name", "v"),
            Request::new(http::Method::GET, "/x").header("x-ok", "line\nbreak"),
        ];
        for req in bad {
            assert!(req.to_http().is_err(), "{req:?}");
            let answered = block_on(handle(Router::new(), &req));
            assert_eq!((answered.status, &answered.body[..]), (400, &b"malformed request"[..]));
        }
    }
}
