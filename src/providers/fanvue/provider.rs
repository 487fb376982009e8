//! The simulated Fanvue: one earnings ledger per creator (the ground truth), served as
//! `GET /insights/earnings` and `GET /insights/summary` to callers on the simulated network.
//!
//! Every request must carry `X-Fanvue-API-Version` (missing or unknown: 400; retired: 410) and
//! `Authorization: Bearer <token>` (a creator's token; anything else: 401). Each token has its
//! own bucket of `rate_limit` requests refilled every `rate_window` (Fanvue: 200 per 60 s); past
//! it the answer is 429 with `Retry-After`, and every answer after authentication carries
//! `X-RateLimit-Limit`, `-Remaining` and `-Reset`. In the safety phase an answer can be a 5xx
//! (`server_error`). A new row can stay out of list results for a seeded while (`lag`), though
//! its date places it earlier: singer-io/tap-stripe PR #45.
//!
//! Rows are created by direct calls ([`Fanvue::record_sale`], [`Fanvue::reverse`],
//! [`Fanvue::add_history`]): the fans' payments are not what is under test.
//!
//! Built on the provider kit: the model runs on an [`Rt`] (so it is not tied to the simulation),
//! its buckets are the kit's rate limiter and its 5xx the kit's API faults.
//!
//! What it does not model: webhooks (the kit signs Fanvue's `t=,v0=` scheme, for when it does),
//! the `source` filter, OAuth token refresh, partial refunds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::ledger::{Bucket, Ledger, LedgerRow, Source, Take};
use super::wire::{self, EarningRow, EarningsPage, ErrorBody, Summary};
use crate::providers::kit::{ApiFault, ApiFaults, Rt};
use crate::sim::world::lock;
use crate::sim::{Millis, Range, Rate, Sim};

/// The provider's actor name in traces and on the network.
pub const ACTOR: &str = "fanvue";

/// Provider behaviour; every number is a default a scenario can override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// The version this provider serves; requests must name it.
    pub api_version: String,
    /// Versions that answer 410 Gone.
    pub retired_versions: Vec<String>,
    /// Requests per token per window.
    pub rate_limit: u32,
    pub rate_window: Millis,
    /// The share of new rows that stay out of list results for a while.
    pub lag: Rate,
    /// How long such a row stays out.
    pub lag_delay: Range,
    /// Answers that are a 500, 502 or 503 (safety phase only).
    pub server_error: Rate,
    /// How long the summary endpoint serves a cached figure.
    pub summary_cache: Millis,
    /// Signs pagination cursors so that edited ones are refused.
    pub cursor_secret: String,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            api_version: "2025-06-26".into(),
            retired_versions: vec!["2024-06-26".into()],
            rate_limit: 200,
            rate_window: Millis::s(60),
            lag: Rate::ZERO,
            lag_delay: Range::new(Millis::s(1), Millis::min(3)),
            server_error: Rate::ZERO,
            summary_cache: Millis::min(10),
            cursor_secret: "fanvue-settle-sim".into(),
        }
    }
}

/// One creator's account on the provider.
struct Creator {
    name: String,
    ledger: Ledger,
    bucket: Bucket,
    /// The summary endpoint's cache: (figure, computed at).
    summary: Option<(i64, i64)>,
}

#[derive(Default)]
struct State {
    creators: BTreeMap<String, Creator>,
    /// Access token → creator uuid.
    tokens: BTreeMap<String, String>,
    next_seq: u64,
}

/// The simulated provider. Cheap to clone.
#[derive(Clone)]
pub struct Fanvue {
    rt: Rt,
    cfg: Arc<ProviderConfig>,
    state: Arc<Mutex<State>>,
    /// The kit's API faults, with Fanvue's `server_error` rate.
    faults: Arc<ApiFaults>,
}

impl Fanvue {
    /// Creates the provider in the simulated world and serves its API as the `fanvue` actor.
    pub fn start(sim: &Sim, cfg: ProviderConfig) -> Fanvue {
        let f = Fanvue::new(Rt::sim(sim, ACTOR), cfg);
        sim.serve(ACTOR, f.router());
        f
    }

    /// Creates the provider on any runtime; serve [`Fanvue::router`] on its transport.
    pub fn new(rt: Rt, cfg: ProviderConfig) -> Fanvue {
        let faults = ApiFaults { server_error: cfg.server_error, ..ApiFaults::default() };
        Fanvue { rt, cfg: Arc::new(cfg), state: Arc::default(), faults: Arc::new(faults) }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.cfg
    }

    /// Opens a creator account reachable with `token`; `name` labels it in traces.
    pub fn add_creator(&self, uuid: &str, name: &str, token: &str) {
        let mut st = lock(&self.state);
        let bucket = Bucket::new(self.cfg.rate_limit, self.cfg.rate_window.0);
        st.creators.insert(
            uuid.to_string(),
            Creator { name: name.to_string(), ledger: Ledger::default(), bucket, summary: None },
        );
        st.tokens.insert(token.to_string(), uuid.to_string());
    }

    fn next_id(st: &mut State) -> String {
        st.next_seq += 1;
        // UUID-shaped, unique per run, and growing with creation so ledger order is (date, id).
        format!("{:08x}-fa00-4e00-8000-{:012x}", st.next_seq, st.next_seq * 7_919)
    }

    fn push(&self, creator: &str, row: impl FnOnce(String) -> LedgerRow) -> Option<LedgerRow> {
        let mut st = lock(&self.state);
        if !st.creators.contains_key(creator) {
            return None;
        }
        let id = Self::next_id(&mut st);
        let row = row(id);
        let ledger = &mut st.creators.get_mut(creator)?.ledger;
        if ledger.last_date_ms() == Some(row.date_ms) {
            // Keyset syncs that compare dates with `>` lose rows that share one (a batch import).
            self.rt.mark("fanvue:rows-share-timestamp");
        }
        ledger.push(row.clone());
        Some(row)
    }

    /// A row from before the run, visible from the start. Call in date order, before any sale.
    pub fn add_history(&self, creator: &str, date_ms: i64, gross: i64, source: Source, user: &str) -> Option<String> {
        self.push(creator, |id| LedgerRow {
            id,
            date_ms,
            visible_at_ms: date_ms,
            gross,
            net: net_of(gross),
            source,
            user_uuid: user.to_string(),
            related: None,
        })
        .map(|r| r.id)
    }

    /// A fan pays `gross` cents now. Returns the new row's id.
    pub fn record_sale(&self, creator: &str, gross: i64, source: Source, user: &str) -> Option<String> {
        let row = self.new_row(creator, gross, source, user, None)?;
        Some(row.id)
    }

    /// Refunds or charges back the row `original` in full, as a new negative row.
    pub fn reverse(&self, creator: &str, original: &str, kind: Source) -> Option<String> {
        debug_assert!(kind.is_reversal());
        let (gross, user) = {
            let st = lock(&self.state);
            let o = st.creators.get(creator)?.ledger.get(original)?;
            (o.gross, o.user_uuid.clone())
        };
        let row = self.new_row(creator, -gross, kind, &user, Some(original.to_string()))?;
        Some(row.id)
    }

    fn new_row(
        &self,
        creator: &str,
        gross: i64,
        source: Source,
        user: &str,
        related: Option<String>,
    ) -> Option<LedgerRow> {
        let now = self.now();
        let lag_ms = self.rt.choose(|o| if o.chance(self.cfg.lag.ppm()) { self.cfg.lag_delay.draw(o) } else { 0 });
        let row = self.push(creator, |id| LedgerRow {
            id,
            date_ms: now,
            visible_at_ms: now + i64::try_from(lag_ms).unwrap_or(i64::MAX / 4),
            gross,
            net: net_of(gross),
            source,
            user_uuid: user.to_string(),
            related: related.clone(),
        })?;
        let name = self.creator_name(creator);
        self.rt.state(|| {
            let of = related.as_deref().map(|r| format!(" of {}", short(r))).unwrap_or_default();
            let late = if lag_ms > 0 { format!(", out of list results for {}", Millis(lag_ms)) } else { String::new() };
            format!("{name}: {} {}{of} (txn {}{late})", source.as_str(), wire::format_usd(gross), short(&row.id))
        });
        Some(row)
    }

    fn creator_name(&self, uuid: &str) -> String {
        lock(&self.state).creators.get(uuid).map_or_else(|| uuid.to_string(), |c| c.name.clone())
    }

    fn now(&self) -> i64 {
        i64::try_from(self.rt.wall_ms()).unwrap_or(i64::MAX)
    }

    /// Runs `f` on a creator's ledger (the ground truth), if the creator exists.
    pub fn with_ledger<T>(&self, creator: &str, f: impl FnOnce(&Ledger) -> T) -> Option<T> {
        lock(&self.state).creators.get(creator).map(|c| f(&c.ledger))
    }

    /// Σ gross of a creator's rows, reversals included.
    pub fn total(&self, creator: &str) -> i64 {
        self.with_ledger(creator, Ledger::total).unwrap_or(0)
    }

    /// The API, to be served by the transport (the simulation serves it as `fanvue`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/insights/earnings", get(earnings))
            .route("/insights/summary", get(summary))
            .with_state(self.clone())
    }

    /// The checks every request goes through: version, token, bucket, injected 5xx. `Ok` holds
    /// the creator and the bucket's state.
    #[allow(clippy::result_large_err)]
    fn admit(&self, headers: &HeaderMap) -> Result<(String, Take), Response> {
        let version = headers.get(wire::VERSION_HEADER).and_then(|v| v.to_str().ok());
        match version {
            None => return Err(error(StatusCode::BAD_REQUEST, "missing X-Fanvue-API-Version header", None)),
            Some(v) if self.cfg.retired_versions.iter().any(|r| r == v) => {
                let msg = format!("API version {v} is retired; use {}", self.cfg.api_version);
                return Err(error(StatusCode::GONE, &msg, None));
            }
            Some(v) if v != self.cfg.api_version => {
                let msg = format!("unknown API version {v:?}; use {}", self.cfg.api_version);
                return Err(error(StatusCode::BAD_REQUEST, &msg, None));
            }
            Some(_) => {}
        }
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let now = self.now();
        let (creator, take, name) = {
            let mut st = lock(&self.state);
            let Some(creator) = st.tokens.get(token).cloned() else {
                drop(st);
                return Err(error(StatusCode::UNAUTHORIZED, "invalid or missing bearer token", None));
            };
            let c = st.creators.get_mut(&creator).ok_or_else(|| error(StatusCode::UNAUTHORIZED, "no creator", None))?;
            (creator, c.bucket.take(now), c.name.clone())
        };
        if !take.allowed {
            self.rt.mark("provider:rate-limited");
            self.rt.state(|| {
                format!("{name}: rate limit of {} per {} reached; 429", self.cfg.rate_limit, self.cfg.rate_window)
            });
            return Err(error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded", Some((&take, now))));
        }
        // Only `server_error` is set in `faults`, so the draw is Fanvue's own: a chance, then
        // which of 500, 502, 503.
        if let Some(ApiFault::ServerError(code)) = self.faults.draw(&self.rt, &name) {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(error(status, "upstream error, try again", Some((&take, now))));
        }
        Ok((creator, take))
    }
}

/// Fanvue keeps 20 %; the creator's net is the rest (negative for reversals).
fn net_of(gross: i64) -> i64 {
    gross - gross / 5
}

/// The first block of a row id, enough to tell rows apart in a trace.
pub fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

fn with_limit_headers(mut resp: Response, take: &Take, now_ms: i64, retry: bool) -> Response {
    let h = resp.headers_mut();
    let mut set = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    set(wire::LIMIT_HEADER, take.limit.to_string());
    set(wire::REMAINING_HEADER, take.remaining.to_string());
    set(wire::RESET_HEADER, ((take.reset_at_ms + 999).div_euclid(1000)).to_string());
    if retry {
        set(wire::RETRY_AFTER_HEADER, take.retry_after_s(now_ms).to_string());
    }
    resp
}

fn error(status: StatusCode, msg: &str, take: Option<(&Take, i64)>) -> Response {
    let body = serde_json::to_string(&ErrorBody { error: msg.to_string() }).unwrap_or_default();
    let resp = (status, [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
    match take {
        Some((t, now)) => with_limit_headers(resp, t, now, status == StatusCode::TOO_MANY_REQUESTS),
        None => resp,
    }
}

/// The query of `GET /insights/earnings`; every field is read as text so that a bad value gets
/// Fanvue's own 400, naming it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EarningsQuery {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub cursor: Option<String>,
    pub size: Option<String>,
}

async fn earnings(AxState(f): AxState<Fanvue>, headers: HeaderMap, Query(q): Query<EarningsQuery>) -> Response {
    let (creator, take) = match f.admit(&headers) {
        Ok(ok) => ok,
        Err(resp) => return resp,
    };
    let now = f.now();
    let bad = |msg: String| error(StatusCode::BAD_REQUEST, &msg, Some((&take, now)));
    let size = match q.size.as_deref() {
        None => wire::SIZE_DEFAULT,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (wire::SIZE_MIN..=wire::SIZE_MAX).contains(&n) => n,
            _ => {
                return bad(format!(
                    "size must be an integer from {} to {}, found {s:?}",
                    wire::SIZE_MIN,
                    wire::SIZE_MAX
                ));
            }
        },
    };
    let date = |v: &Option<String>, name: &str| match v {
        None => Ok(None),
        Some(s) => wire::parse_instant(s).map(Some).map_err(|e| format!("{name}: {e}")),
    };
    let (start, end) = match (date(&q.start_date, "startDate"), date(&q.end_date, "endDate")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad(m),
    };
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => match wire::decode_cursor(&f.cfg.cursor_secret, c) {
            Ok(pos) if pos.creator == creator => Some(pos),
            Ok(_) => return bad("invalid cursor: it belongs to another creator".into()),
            Err(m) => return bad(m),
        },
    };
    let (page, hidden, name) = {
        let st = lock(&f.state);
        let Some(c) = st.creators.get(&creator) else { return bad("no such creator".into()) };
        let out = c.ledger.page(now, start, end, after.as_ref(), size as usize);
        let data = out.rows.iter().map(|r| to_wire(r)).collect();
        let next_cursor = out.next.map(|(date_ms, id)| {
            wire::encode_cursor(&f.cfg.cursor_secret, &wire::CursorPos { creator: creator.clone(), date_ms, id })
        });
        (EarningsPage { data, next_cursor }, out.hidden, c.name.clone())
    };
    if hidden > 0 {
        f.rt.mark("provider:lag-hid-row");
        f.rt.state(|| format!("{name}: {hidden} row(s) in this page's span not visible yet; left out"));
    }
    let body = serde_json::to_string(&page).unwrap_or_default();
    let resp = (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
    with_limit_headers(resp, &take, now, false)
}

fn to_wire(r: &LedgerRow) -> EarningRow {
    EarningRow {
        id: r.id.clone(),
        date: wire::format_instant(r.date_ms),
        gross: r.gross,
        net: r.net,
        currency: "USD".into(),
        source: r.source.as_str().into(),
        user_uuid: r.user_uuid.clone(),
        related_transaction_id: r.related.clone(),
    }
}

async fn summary(AxState(f): AxState<Fanvue>, headers: HeaderMap) -> Response {
    let (creator, take) = match f.admit(&headers) {
        Ok(ok) => ok,
        Err(resp) => return resp,
    };
    let now = f.now();
    let ttl = i64::try_from(f.cfg.summary_cache.0).unwrap_or(i64::MAX);
    let (total, cached_at) = {
        let mut st = lock(&f.state);
        let Some(c) = st.creators.get_mut(&creator) else {
            return error(StatusCode::UNAUTHORIZED, "no creator", Some((&take, now)));
        };
        match c.summary {
            Some((v, at)) if now - at < ttl => (v, at),
            _ => {
                let v = c.ledger.summary_total(now);
                c.summary = Some((v, now));
                (v, now)
            }
        }
    };
    let body = Summary { total_revenue: total, currency: "USD".into(), cached_at: wire::format_instant(cached_at) };
    let resp = (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response();
    with_limit_headers(resp, &take, now, false)
}
