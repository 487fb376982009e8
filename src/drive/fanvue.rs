//! Fanvue over real HTTP on 127.0.0.1 for `settle drive` (`[run] provider = "fanvue"`): the
//! model of `src/providers/fanvue/` (the one the `fanvue-revenue` system simulates) served by
//! axum on an ephemeral port, and the creators' earnings arriving on settle's clock.
//!
//! The service calls `GET /insights/earnings` (`startDate`, `endDate`, `cursor`, `size`, Fanvue's
//! keyset pagination with opaque `nextCursor`) and `GET /insights/summary` exactly as in the
//! simulator: `X-Fanvue-API-Version` and `Authorization: Bearer <token>` checked, a bucket of
//! `rate_limit` requests per `rate_window` (simulated) per token, past it 429 with `Retry-After`
//! (simulated seconds), 5xx at `server_error` in the safety phase, rows out of list results for
//! a while (`lag`).
//!
//! The load ([`Plan`], drawn from the seed before the run starts, so the ledgers of a seed are
//! the same whatever the service does): each creator's history (rows dated before the run; with
//! `history_batch` all in one millisecond, the simulator's `batch-import` load shape), sales at
//! uniform times over `load_for`, some refunded or charged back later as new negative rows, and
//! `batches` batch imports of `batch_rows` rows dated the same millisecond during the load — the
//! rows a `date > last_seen` sync loses.
//!
//! ```toml
//! [fanvue]                    # every key optional; these are the defaults
//! creators = 2                # at most 8: lanaa, bella, cleo, …
//! history_rows_max = 20
//! history_span = "30d"
//! history_batch = false
//! sales_min = 5
//! sales_max = 15
//! load_for = "30m"            # the safety phase
//! amount_min = 300            # USD cents
//! amount_max = 10000
//! refund = 0.05
//! chargeback = 0.01
//! reversal_delay = { min = "1m", max = "20m" }
//! batches = 0                 # batch imports per creator during the load
//! batch_rows = 30
//! check_every = "1m"          # the `always` invariants read this often (simulated)
//! grace = "1m"                # with a mapped cursor: how long a row may sit unstored behind it
//!
//! [fanvue.provider]           # the model's own settings, as in `settle run`'s [fanvue.provider]
//! rate_limit = 200
//! rate_window = "60s"
//! server_error = 0.0
//! lag = 0.0
//! ```
//!
//! What it does not serve: webhooks (Fanvue's model has none yet), OAuth token refresh, the
//! `source` filter; the creators cannot be connected or disconnected during a run.

use axum::Router;
use serde::Deserialize;

use super::runtime::DriveWorld;
use crate::providers::fanvue::{Fanvue, ProviderConfig, Source, provider::short, wire};
use crate::sim::{Kind, Millis, Phase, Range, Rate};
use crate::systems::fanvue_revenue::ModelInfo;

/// The `[fanvue]` section of a drive file. See the module doc.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FanvueSpec {
    pub creators: u32,
    pub history_rows_max: u32,
    pub history_span: Millis,
    /// The whole history of each creator dated in one millisecond.
    pub history_batch: bool,
    pub sales_min: u32,
    pub sales_max: u32,
    /// The safety phase: sales and batch imports arrive within it.
    pub load_for: Millis,
    pub amount_min: i64,
    pub amount_max: i64,
    pub refund: Rate,
    pub chargeback: Rate,
    pub reversal_delay: Range,
    pub batches: u32,
    pub batch_rows: u32,
    pub check_every: Millis,
    /// With `[models] cursor` mapped: how long (simulated) a row dated before the cursor may stay
    /// unstored before `cursor-never-past-unstored` calls it lost.
    pub grace: Millis,
    pub provider: ProviderConfig,
}

impl Default for FanvueSpec {
    fn default() -> Self {
        FanvueSpec {
            creators: 2,
            history_rows_max: 20,
            history_span: Millis::h(24 * 30),
            history_batch: false,
            sales_min: 5,
            sales_max: 15,
            load_for: Millis::min(30),
            amount_min: 300,
            amount_max: 10_000,
            refund: Rate(50_000),
            chargeback: Rate(10_000),
            reversal_delay: Range::new(Millis::min(1), Millis::min(20)),
            batches: 0,
            batch_rows: 30,
            check_every: Millis::min(1),
            grace: Millis::min(1),
            provider: ProviderConfig::default(),
        }
    }
}

impl FanvueSpec {
    /// Checks what serde cannot; each message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.creators) {
            return Err(format!("[fanvue] creators: {} is not between 1 and 8", self.creators));
        }
        if self.sales_min > self.sales_max || self.sales_max > 10_000 || self.history_rows_max > 10_000 {
            return Err("[fanvue] sales_min/sales_max/history_rows_max: need sales_min ≤ sales_max ≤ 10000 and \
                        history_rows_max ≤ 10000"
                .into());
        }
        if self.amount_min <= 0 || self.amount_min > self.amount_max || self.amount_max > 100_000_000 {
            return Err(format!(
                "[fanvue] amount_min/amount_max: need 0 < amount_min ≤ amount_max ≤ 100000000 cents, found {} and {}",
                self.amount_min, self.amount_max
            ));
        }
        if self.batches > 100 || self.batch_rows == 0 || self.batch_rows > 10_000 {
            return Err("[fanvue] batches/batch_rows: need batches ≤ 100 and 1 ≤ batch_rows ≤ 10000".into());
        }
        if self.load_for.0 == 0 || self.check_every.0 == 0 {
            return Err("[fanvue] load_for/check_every: both must be more than 0".into());
        }
        if self.history_span.0 == 0 || self.history_span.0 > Millis::h(24 * 3_650).0 {
            return Err("[fanvue] history_span: more than 0 and at most 3650d".into());
        }
        let p = &self.provider;
        if p.rate_limit == 0 || p.rate_window.0 == 0 {
            return Err("[fanvue.provider] rate_limit/rate_window: both must be above 0".into());
        }
        if p.api_version.is_empty() || p.retired_versions.contains(&p.api_version) {
            return Err("[fanvue.provider] api_version: must be set, and not be one of retired_versions".into());
        }
        Ok(())
    }

    /// The creators of a run: the simulator's names, uuids and tokens.
    pub fn models(&self) -> Vec<ModelInfo> {
        let cfg = crate::systems::fanvue_revenue::Config { creators: self.creators, ..Default::default() };
        crate::systems::fanvue_revenue::models(&cfg)
    }
}

/// One thing that happens to a ledger during the load.
#[derive(Clone, Debug)]
enum Event {
    Sale { gross: i64, source: Source, user: u64, reversal: Option<(Source, u64)> },
    Batch { rows: Vec<(i64, Source, u64)> },
}

/// The seeded load of one run: per creator, its history (ms before the run, gross, source,
/// user), then the events at simulated times.
pub struct Plan {
    history: Vec<Vec<(u64, i64, Source, u64)>>,
    events: Vec<(u64, usize, Event)>,
}

fn amount(o: &mut crate::sim::Oracle, s: &FanvueSpec) -> i64 {
    let span = u64::try_from(s.amount_max - s.amount_min).unwrap_or(0);
    s.amount_min + i64::try_from(o.below(span + 1)).unwrap_or(0)
}

fn sale_source(o: &mut crate::sim::Oracle) -> Source {
    Source::SALES[usize::try_from(o.below(4)).unwrap_or(0)]
}

impl Plan {
    /// Draws the whole load from the world's oracle, before anything else draws.
    pub fn draw(world: &DriveWorld, s: &FanvueSpec) -> Plan {
        world.choose(|o| {
            let mut history = Vec::new();
            let mut events = Vec::new();
            for creator in 0..s.creators as usize {
                let n = o.below(u64::from(s.history_rows_max) + 1);
                let mut rows: Vec<_> = (0..n)
                    .map(|_| {
                        let ago = if s.history_batch { 0 } else { o.below(s.history_span.0) };
                        (ago + 1, amount(o, s), sale_source(o), o.below(500))
                    })
                    .collect();
                rows.sort_by_key(|r| std::cmp::Reverse(r.0));
                history.push(rows);
                let load = Range::new(Millis(0), Millis(s.load_for.0.saturating_sub(1)));
                for _ in 0..o.range(u64::from(s.sales_min), u64::from(s.sales_max)) {
                    let at = load.draw_uniform(o);
                    let (gross, source, user) = (amount(o, s), sale_source(o), o.below(500));
                    let reversal = if o.chance(s.refund.ppm()) {
                        Some((Source::Refund, s.reversal_delay.draw(o)))
                    } else if o.chance(s.chargeback.ppm()) {
                        Some((Source::Chargeback, s.reversal_delay.draw(o)))
                    } else {
                        None
                    };
                    events.push((at, creator, Event::Sale { gross, source, user, reversal }));
                }
                for _ in 0..s.batches {
                    let at = load.draw_uniform(o);
                    let rows = (0..s.batch_rows).map(|_| (amount(o, s), sale_source(o), o.below(500))).collect();
                    events.push((at, creator, Event::Batch { rows }));
                }
            }
            events.sort_by_key(|(at, creator, _)| (*at, *creator));
            Plan { history, events }
        })
    }
}

/// Settle's Fanvue for one drive run. Cheap to clone.
#[derive(Clone)]
pub struct DriveFanvue {
    pub world: DriveWorld,
    pub provider: Fanvue,
    pub models: Vec<ModelInfo>,
}

impl DriveFanvue {
    /// The provider with its creators' accounts open (no rows yet).
    pub fn new(world: &DriveWorld, spec: &FanvueSpec) -> DriveFanvue {
        let provider = Fanvue::new(world.rt("fanvue"), spec.provider.clone());
        let models = spec.models();
        for m in &models {
            provider.add_creator(&m.creator, &m.name, &m.token);
        }
        DriveFanvue { world: world.clone(), provider, models }
    }

    /// The wall instant (Unix ms) the run started at: history is dated before it.
    fn epoch_wall(&self) -> i64 {
        let rt = self.world.rt("fanvue");
        i64::try_from(rt.wall_ms().saturating_sub(rt.now_ms())).unwrap_or(0)
    }

    /// The creator whose token `authorization` carries, by name.
    fn creator_of(&self, authorization: &str) -> String {
        let token = authorization.strip_prefix("Bearer ").unwrap_or("");
        self.models.iter().find(|m| m.token == token).map_or_else(|| "unknown token".into(), |m| m.name.clone())
    }

    /// The model's API, every exchange recorded in the trace and counted in flight.
    pub fn router(&self) -> Router {
        let me = self.clone();
        self.provider.router().layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let me = me.clone();
                async move {
                    let auth = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    let who = me.creator_of(auth.unwrap_or(""));
                    let line = format!("{} {} {who}{}", req.method(), req.uri().path(), query_shown(req.uri()));
                    me.world.record("service", Kind::Send, format!("{line} → fanvue"));
                    let answer = me.world.in_flight(next.run(req)).await;
                    let (parts, body) = answer.into_parts();
                    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
                    let status = parts.status.as_u16();
                    let more = match serde_json::from_slice::<wire::EarningsPage>(&bytes) {
                        Ok(p) if status == 200 => page_shown(&p),
                        _ => match parts.headers.get(wire::RETRY_AFTER_HEADER).and_then(|v| v.to_str().ok()) {
                            Some(s) => format!(", Retry-After {s}"),
                            None => String::new(),
                        },
                    };
                    me.world.record("fanvue", Kind::Reply, format!("{line}: {status}{more}"));
                    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
                }
            },
        ))
    }

    /// Puts each creator's history on its ledger (dated before the run, visible from the start).
    pub fn add_history(&self, plan: &Plan) {
        let epoch = self.epoch_wall();
        for (m, rows) in self.models.iter().zip(&plan.history) {
            for (ago, gross, source, user) in rows {
                let date = epoch - i64::try_from(*ago).unwrap_or(0);
                self.provider.add_history(&m.creator, date, *gross, *source, &format!("fan-{user:03}"));
            }
            let total = rows.iter().map(|r| r.1).sum();
            self.world.record(
                "fans",
                Kind::State,
                format!("{}: {} history row(s) before the run, {}", m.name, rows.len(), wire::format_usd(total)),
            );
        }
    }

    /// Runs the load's events at their simulated times; stops when the safety phase ends.
    pub async fn run_load(self, plan: Plan) {
        for (at, creator, event) in plan.events {
            let now = self.world.now_ms();
            self.world.sleep_sim(at.saturating_sub(now)).await;
            if self.world.phase() != Phase::Safety {
                break;
            }
            let m = &self.models[creator];
            match event {
                Event::Sale { gross, source, user, reversal } => {
                    let Some(id) = self.provider.record_sale(&m.creator, gross, source, &format!("fan-{user:03}"))
                    else {
                        continue;
                    };
                    if let Some((kind, after)) = reversal {
                        let (me, creator) = (self.clone(), m.creator.clone());
                        tokio::spawn(async move {
                            me.world.sleep_sim(after).await;
                            if me.world.phase() == Phase::Safety {
                                me.provider.reverse(&creator, &id, kind);
                            }
                        });
                    }
                }
                Event::Batch { rows } => {
                    // One wall instant for every row, taken once: nothing awaits in between, so no
                    // other row lands inside the batch.
                    let date = i64::try_from(self.world.rt("fanvue").wall_ms()).unwrap_or(0);
                    let (n, total) = (rows.len(), rows.iter().map(|r| r.0).sum());
                    let ids: Vec<String> = rows
                        .into_iter()
                        .filter_map(|(gross, source, user)| {
                            self.provider.add_history(&m.creator, date, gross, source, &format!("fan-{user:03}"))
                        })
                        .map(|id| short(&id).to_string())
                        .collect();
                    self.world.record(
                        "fans",
                        Kind::State,
                        format!(
                            "{}: batch import of {n} rows, {}, all dated {}: txn {}",
                            m.name,
                            wire::format_usd(total),
                            wire::format_instant(date),
                            ids.join(" ")
                        ),
                    );
                }
            }
        }
    }
}

/// The query of a request as the trace shows it: dates as sent, a cursor by its length.
fn query_shown(uri: &http::Uri) -> String {
    let Some(q) = uri.query() else { return String::new() };
    let parts: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("cursor", c)) => format!("cursor=<{} chars>", c.len()),
            _ => kv.replace("%3A", ":").replace("%3a", ":"),
        })
        .collect();
    format!(" ?{}", parts.join("&"))
}

/// A page as the trace shows it: how many rows, the first and last txn and their dates,
/// whether more follow.
fn page_shown(p: &wire::EarningsPage) -> String {
    let ids = match (p.data.first(), p.data.last()) {
        (Some(a), Some(b)) if a.date == b.date && p.data.len() > 1 => {
            format!(" (txn {} … {}, all dated {})", short(&a.id), short(&b.id), a.date)
        }
        (Some(a), Some(b)) if p.data.len() > 1 => {
            format!(" (txn {} … {}, dated {} … {})", short(&a.id), short(&b.id), a.date, b.date)
        }
        (Some(a), _) => format!(" (txn {}, dated {})", short(&a.id), a.date),
        _ => String::new(),
    };
    let more = if p.next_cursor.is_some() { ", nextCursor" } else { ", last page" };
    format!(", {} row(s){ids}{more}", p.data.len())
}
