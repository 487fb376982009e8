//! `syncModelTransactions`: read one model's cursor, page through Fanvue's earnings from it,
//! and store each page — the reference logic, with the flaws as switches.
//!
//! Reference: one unit per page inserts the rows not stored yet, moves the cursor and recomputes
//! `revenue_total`, so a failure at any point leaves the database as it was before that page.
//! The cursor is left `lookback` behind the newest row read (or the window's end), so a row that
//! became visible late is read again by the next sync and the dedupe drops the rest. A 429 is
//! waited out (`Retry-After`); 5xx answers, timeouts and refused connections are retried a few
//! times, then the sync stops and the next heartbeat resumes from the cursor.
//!
//! What it does not do: decide when to sync (the heartbeat and the force-sync endpoint do), or
//! talk to any endpoint but `/insights/earnings`.

use std::sync::Arc;

use super::units::{self, Stats, TxRow};
use super::{Config, Env, Flaw, Flaws, ModelInfo, SyncFn, SyncFuture};
use crate::providers::fanvue::{self, wire};
use crate::sim::{Kind, Millis, NetError, Request, Sim};
use crate::store::Db;

/// At most this many pages per sync, and this many `Retry-After` waits.
const MAX_PAGES: u32 = 2_000;
const MAX_RATE_WAITS: u32 = 100;

/// What the reference sync needs; cheap to clone.
#[derive(Clone)]
pub struct SyncEnv {
    pub sim: Sim,
    pub db: Db,
    pub cfg: Arc<Config>,
    pub flaws: Flaws,
}

/// The reference sync with `flaws`, as the system's replaceable sync.
pub fn reference(flaws: Flaws) -> SyncFn {
    Arc::new(move |env: Env, actor: String, model: ModelInfo| {
        Box::pin(async move {
            let s = SyncEnv { sim: env.sim, db: env.db, cfg: env.cfg, flaws };
            sync_model(&s, &actor, &model).await
        }) as SyncFuture
    })
}

impl SyncEnv {
    fn now(&self) -> i64 {
        i64::try_from(self.sim.wall_ms()).unwrap_or(i64::MAX)
    }

    /// A wall instant as the timeline shows time: simulated `hh:mm:ss.mmm`, or ISO before the run.
    // #[gamma::skip(reason = "trace wording only", tag = "trace")]
    pub fn at(&self, wall_ms: i64) -> String {
        super::show_instant(&self.sim, wall_ms)
    }
}

/// How a sync ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read to the end of the window.
    Done { pages: u32, inserted: usize },
    /// Stopped early; the cursor says where the next sync resumes.
    Stopped(String),
}

/// What one earnings request came back with.
enum Fetched {
    Page(wire::EarningsPage),
    RateLimited { retry_after_s: u64 },
    Failed(String),
}

/// Syncs one model on behalf of `actor` (the heartbeat's jobs, or the app's force-sync).
pub async fn sync_model(env: &SyncEnv, actor: &str, model: &ModelInfo) -> Outcome {
    let (flaws, name) = (env.flaws, model.name.as_str());
    let stale = flaws.has(Flaw::StaleStats);
    let loaded = env.db.unit(actor, "sync.load-model", name, |tx| units::load_model(tx, model.id, stale)).await;
    let loaded = match loaded {
        Ok(Some(l)) => l,
        Ok(None) => return Outcome::Stopped("no such model".into()),
        Err(e) => return Outcome::Stopped(format!("sync.load-model: {e}")),
    };
    let Some(token) = loaded.token else { return Outcome::Stopped("not connected".into()) };
    let start = loaded.cursor;
    let end = env.now();
    let lookback = if flaws.has(Flaw::NoLookback) { 0 } else { i64::try_from(env.cfg.lookback.0).unwrap_or(0) };
    // `stale-stats`: the sum read before the sync began, plus what this sync inserts.
    let mut stale_base = loaded.sum;
    let (mut page_cursor, mut pages, mut inserted, mut rate_waits) = (None::<String>, 0u32, 0usize, 0u32);
    while under_page_cap(pages) {
        // #[gamma::skip(arith, reason = "the page number only labels the request in the trace", tag = "equivalent")]
        let fetched = fetch(env, actor, model, &token, start, end, page_cursor.as_deref(), pages + 1).await;
        let page = match fetched {
            Fetched::Page(p) => p,
            Fetched::RateLimited { .. } if flaws.has(Flaw::StopOn429) => {
                // #[gamma::skip(arith, reason = "stop-on-429's own target, reached only with that flaw on", tag = "flaw")]
                let target = end - lookback;
                let r = env
                    .db
                    .unit(actor, "sync.stop-at-429", name, |tx| units::advance_cursor(tx, model.id, target, end))
                    .await;
                env.sim.record(Kind::State, actor, None, || {
                    format!(
                        "{name}: 429 ends the sync; cursor kept at the window's end {} (stop-on-429)",
                        env.at(target)
                    )
                });
                return Outcome::Stopped(format!(
                    "429 (stop-on-429), cursor unit: {}",
                    r.map_or_else(|e| e.to_string(), |_| "ok".into())
                ));
            }
            Fetched::RateLimited { .. } if flaws.has(Flaw::IgnoreRetryAfter) => {
                // #[gamma::skip(reason = "ignore-retry-after's own count, kept only with that flaw on", tag = "flaw")]
                rate_waits += 1;
                // #[gamma::skip(relational, reason = "ignore-retry-after's own cap, reached only with that flaw on", tag = "flaw")]
                if rate_waits > MAX_RATE_WAITS {
                    env.sim.record(Kind::State, actor, None, || format!("{name}: sync stops: rate limited too often"));
                    return Outcome::Stopped("rate limited too often".into());
                }
                env.sim
                    .record(Kind::State, actor, None, || format!("{name}: 429; retrying at once (ignore-retry-after)"));
                continue;
            }
            Fetched::RateLimited { retry_after_s } => {
                rate_waits += 1;
                // #[gamma::skip(relational.gt_to_ge, reason = "a safety valve like the page cap: a sync stopped one wait sooner is resumed from its cursor by the next, so where it stops changes nothing a check sees", tag = "equivalent")]
                if rate_waits > MAX_RATE_WAITS {
                    return Outcome::Stopped("rate limited too often".into());
                }
                env.sim.mark("sync-honoured-retry-after");
                env.sim
                    .record(Kind::State, actor, None, || format!("{name}: 429; waiting Retry-After {retry_after_s}s"));
                env.sim.sleep_ms(retry_after_s.saturating_mul(1_000)).await;
                continue;
            }
            Fetched::Failed(why) => {
                env.sim.record(Kind::State, actor, None, || format!("{name}: sync stops: {why}"));
                return Outcome::Stopped(why);
            }
        };
        pages += 1;
        let rows = match page.data.iter().map(to_row).collect::<Result<Vec<_>, _>>() {
            Ok(r) => r,
            Err(why) => return Outcome::Stopped(why),
        };
        // Everything before the newest row read is stored once this page is; leave the cursor a
        // lookback behind it so late rows are read again.
        let newest = match (&page.next_cursor, rows.last()) {
            (Some(_), Some(last)) => last.date_ms,
            _ => end,
        };
        let target = newest - lookback;
        let stats = if stale { Stats::FromBase(stale_base) } else { Stats::Recompute };
        let dedupe = !flaws.has(Flaw::NoUnique);
        let now = env.now();
        let stored = if flaws.has(Flaw::CursorBeforeCommit) {
            let first = env
                .db
                .unit(actor, "sync.advance-cursor", name, |tx| units::advance_cursor(tx, model.id, target, now))
                .await;
            if let Err(e) = first {
                return Outcome::Stopped(format!("sync.advance-cursor: {e}"));
            }
            let now = env.now();
            env.db
                .unit(actor, "sync.store-page", name, |tx| {
                    units::store_page(tx, model.id, &rows, dedupe, None, stats, now)
                })
                .await
        } else {
            env.db
                .unit(actor, "sync.store-page", name, |tx| {
                    units::store_page(tx, model.id, &rows, dedupe, Some(target), stats, now)
                })
                .await
        };
        let stored = match stored {
            Ok(s) => s,
            Err(e) => {
                env.sim.record(Kind::State, actor, None, || format!("{name}: sync stops: sync.store-page: {e}"));
                return Outcome::Stopped(format!("sync.store-page: {e}"));
            }
        };
        // #[gamma::skip(reason = "stale-stats' running sum, read only with that flaw on", tag = "flaw")]
        stale_base += stored.inserted_sum();
        // #[gamma::skip(reason = "the count only goes into force-sync's answer body, which the owner's click only shows", tag = "trace")]
        inserted += stored.inserted.len();
        note_marks(env, start, lookback, &stored.inserted);
        env.sim.record(Kind::State, actor, None, || {
            format!(
                "{name}: page {pages}: {} new, {} already stored; cursor {}; revenue_total {}",
                stored.inserted.len(),
                stored.already,
                stored.cursor.map_or_else(|| "none".into(), |c| env.at(c)),
                wire::format_usd(stored.revenue_total)
            )
        });
        match page.next_cursor {
            Some(c) => page_cursor = Some(c),
            None => return Outcome::Done { pages, inserted },
        }
    }
    Outcome::Stopped(format!("more than {MAX_PAGES} pages"))
}

/// Whether a sync may read another page: a safety valve against a provider that never ends its
/// list. A sync stopped here is resumed from its cursor by the next, so where a long sync splits
/// (one page sooner or later) changes nothing a check can see.
// #[gamma::skip(relational.lt_to_le, fn_value.bool_true, reason = "a safety valve: the next sync resumes from the cursor wherever this one stops, so one page more, or none at all, before it stops changes nothing", tag = "equivalent")]
fn under_page_cap(pages: u32) -> bool {
    pages < MAX_PAGES
}

fn note_marks(env: &SyncEnv, start: Option<i64>, lookback: i64, inserted: &[TxRow]) {
    // #[gamma::skip(relational.lt_to_gt, relational.lt_to_le, reason = "coverage only: which rows count as a refund decides whether the run set reports the edge reached, never what the sync stores; only the mutants that make the mark fire more often are skipped: one that fires too often has no check to refute it, one that never fires is caught (the suite requires the mark)", tag = "coverage")]
    if inserted.iter().any(|r| r.amount < 0) {
        env.sim.mark("refund-synced");
    }
    // A row new to us inside the part of the window the last sync had already read: it was not
    // visible then.
    // #[gamma::skip(relational.gt_to_ge, relational.lt_to_gt, relational.lt_to_le, arith.add_to_mul, reason = "coverage only: which rows count as caught by the lookback decides whether the run set reports the edge reached, never what the sync stores; only the mutants that make the mark fire more often are skipped: one that fires too often has no check to refute it, one that never fires is caught (the suite requires the mark)", tag = "coverage")]
    if let Some(s) = start
        && lookback > 0
        && inserted.iter().any(|r| r.date_ms < s + lookback)
    {
        env.sim.mark("lookback-caught-late-row");
    }
}

fn to_row(r: &wire::EarningRow) -> Result<TxRow, String> {
    let date_ms = wire::parse_instant(&r.date).map_err(|e| format!("row {}: {e}", r.id))?;
    Ok(TxRow {
        fanvue_id: r.id.clone(),
        date_ms,
        amount: r.gross,
        net: r.net,
        source: r.source.clone(),
        related: r.related_transaction_id.clone(),
    })
}

/// One earnings request, retried after a 5xx, a timeout or a refused connection (with a
/// doubling pause); a 429 is handed back to the caller.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    env: &SyncEnv,
    actor: &str,
    model: &ModelInfo,
    token: &str,
    start: Option<i64>,
    end: i64,
    cursor: Option<&str>,
    page_no: u32,
) -> Fetched {
    let cfg = &env.cfg;
    let mut path = format!("/insights/earnings?endDate={}&size={}", wire::format_instant(end), cfg.page_size);
    if let Some(s) = start {
        path.push_str(&format!("&startDate={}", wire::format_instant(s)));
    }
    if let Some(c) = cursor {
        path.push_str(&format!("&cursor={c}"));
    }
    let mut pause_ms = 1_000;
    let retries = if env.flaws.has(Flaw::No5xxRetry) { 0 } else { cfg.request_retries };
    for attempt in 0..=retries {
        let label = if env.sim.recording() {
            let from = start.map_or_else(|| "the beginning".to_string(), |s| env.at(s));
            format!("GET /insights/earnings {} page {page_no} from {from}", model.name)
        } else {
            String::new()
        };
        let req = Request::new(http::Method::GET, path.clone())
            .header("authorization", format!("Bearer {token}"))
            .header(wire::VERSION_HEADER, cfg.provider.api_version.clone())
            .label(label);
        let why = match env.sim.request(actor, fanvue::ACTOR, req, cfg.request_timeout.0).await {
            Ok(resp) if resp.status == 200 => {
                return match serde_json::from_slice::<wire::EarningsPage>(&resp.body) {
                    Ok(p) => Fetched::Page(p),
                    Err(e) => Fetched::Failed(format!("malformed earnings page: {e}")),
                };
            }
            Ok(resp) if resp.status == 429 => {
                let retry_after_s = resp.header(wire::RETRY_AFTER_HEADER).and_then(|v| v.trim().parse().ok());
                return Fetched::RateLimited { retry_after_s: retry_after_s.unwrap_or(60) };
            }
            Ok(resp) if resp.status >= 500 => format!("earnings answered {}", resp.status),
            Ok(resp) => {
                let body = String::from_utf8_lossy(&resp.body).into_owned();
                return Fetched::Failed(format!("earnings answered {}: {body}", resp.status));
            }
            Err(NetError::Timeout) => "earnings request timed out".to_string(),
            Err(NetError::Refused) => "earnings request refused".to_string(),
        };
        if attempt == retries {
            return Fetched::Failed(why);
        }
        env.sim.sleep_ms(pause_ms).await;
        pause_ms = (pause_ms * 2).min(Millis::s(30).0);
    }
    Fetched::Failed("no attempt made".into())
}
