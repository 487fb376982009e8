//! A creator agency's own Fanvue revenue sync and cron, plugged into `fanvue-revenue` in place of
//! settle's: the sync replaces the reference sync everywhere it runs (the reference cron and the
//! force-sync endpoint call it), the cron replaces the reference cron and keeps a table of its own.
//! Three bugs, each found by the built-in invariants.

use settle::providers::fanvue::{self, wire};
use settle::sim::Request;
use settle::store::{Migration, SqlError, Tx, Value};
use settle::systems::fanvue_revenue::sync::Outcome;
use settle::systems::fanvue_revenue::{Env, FanvueRevenue, ModelInfo, Revenue};
use settle::systems::{Part, Variant};

use super::{bug_cycle, scenario_file, temp_dir};

/// The sync's bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncBug {
    None,
    /// The cursor moves to the end of the window read: rows that became visible late, dated
    /// before it, are never read again.
    CursorAtEnd,
    /// `revenue_total += Σ page`, the rows already stored (re-read in the lookback) included.
    AddPageSum,
}

/// The agency's sync of one model.
async fn sync(env: Env, actor: String, model: ModelInfo, bug: SyncBug) -> Outcome {
    let (db, sim) = (env.db.clone(), env.sim.clone());
    let load = db.unit(&actor, "agency.load", &model.name, |tx| {
        tx.query_opt("SELECT last_transaction_sync FROM models WHERE id = ?", &[model.id.into()])?
            .map(|r| r.opt_int(0))
            .transpose()
    });
    let cursor = match load.await {
        Ok(c) => c.flatten(),
        Err(e) => return Outcome::Stopped(e.to_string()),
    };
    let end = sim.wall_ms() as i64;
    let (mut next, mut pages, mut inserted) = (None::<String>, 0, 0);
    loop {
        let page = match earnings_page(&env, &actor, &model, end, cursor, next.as_deref()).await {
            Fetch::Page(p) => p,
            Fetch::RateLimited => continue,
            Fetch::Stop(o) => return o,
        };
        let now = sim.wall_ms() as i64;
        let stored = db.unit(&actor, "agency.store", &model.name, |tx| store(tx, model.id, &page, bug, now)).await;
        match stored {
            Ok(n) => inserted += n,
            Err(e) => return Outcome::Stopped(e.to_string()),
        }
        pages += 1;
        match page.next_cursor {
            Some(c) => next = Some(c),
            None => break,
        }
    }
    if inserted > 0 {
        sim.mark("agency-stored-a-row");
    }
    // Only once every page is stored does the cursor move.
    let lookback = env.cfg.lookback.0 as i64;
    let target = if bug == SyncBug::CursorAtEnd { end } else { end - lookback };
    let moved = db.unit(&actor, "agency.cursor", &model.name, |tx| {
        tx.execute(
            "UPDATE models SET last_transaction_sync = ?, updated_at = ? WHERE id = ? \
             AND (last_transaction_sync IS NULL OR last_transaction_sync < ?)",
            &[target.into(), end.into(), model.id.into(), target.into()],
        )
    });
    match moved.await {
        Ok(_) => Outcome::Done { pages, inserted },
        Err(e) => Outcome::Stopped(e.to_string()),
    }
}

/// What one request for a page of earnings gave.
pub(super) enum Fetch {
    Page(wire::EarningsPage),
    /// A 429: its `Retry-After` has been waited out; ask again.
    RateLimited,
    Stop(Outcome),
}

/// Asks Fanvue for one page of `model`'s earnings up to `end`, from `start` and at `cursor` when
/// given, as the agency's syncs do; waits out a 429's `Retry-After` (60 s when absent).
pub(super) async fn earnings_page(
    env: &Env,
    actor: &str,
    model: &ModelInfo,
    end: i64,
    start: Option<i64>,
    cursor: Option<&str>,
) -> Fetch {
    let mut path = format!("/insights/earnings?endDate={}&size={}", wire::format_instant(end), env.cfg.page_size);
    if let Some(c) = start {
        path += &format!("&startDate={}", wire::format_instant(c));
    }
    if let Some(n) = cursor {
        path += &format!("&cursor={n}");
    }
    let req = Request::new(http::Method::GET, path)
        .header("authorization", format!("Bearer {}", model.token))
        .header(wire::VERSION_HEADER, env.cfg.provider.api_version.clone())
        .label(format!("GET /insights/earnings {}", model.name));
    let resp = match env.sim.request(actor, fanvue::ACTOR, req, 30_000).await {
        Ok(r) if r.status == 429 => {
            let wait_s: u64 = r.header(wire::RETRY_AFTER_HEADER).and_then(|v| v.parse().ok()).unwrap_or(60);
            env.sim.sleep_ms(wait_s * 1_000).await;
            return Fetch::RateLimited;
        }
        Ok(r) if r.status == 200 => r,
        Ok(r) => return Fetch::Stop(Outcome::Stopped(format!("earnings answered {}", r.status))),
        Err(e) => return Fetch::Stop(Outcome::Stopped(format!("{e:?}"))),
    };
    match serde_json::from_slice::<wire::EarningsPage>(&resp.body) {
        Ok(page) => Fetch::Page(page),
        Err(_) => Fetch::Stop(Outcome::Stopped("malformed page".into())),
    }
}

/// Stores the rows not stored yet and brings `revenue_total` up to date, in one transaction.
pub(super) fn store(
    tx: &mut Tx,
    model: i64,
    page: &wire::EarningsPage,
    bug: SyncBug,
    now: i64,
) -> Result<usize, SqlError> {
    let mut inserted = 0;
    for r in &page.data {
        let seen = tx.query_opt("SELECT 1 FROM fanvue_transactions WHERE fanvue_id = ?", &[Value::from(&r.id)])?;
        if seen.is_some() {
            continue;
        }
        let date = wire::parse_instant(&r.date).map_err(SqlError::Decode)?;
        tx.execute(
            "INSERT INTO fanvue_transactions (model_id, fanvue_id, transaction_date, amount, net_amount, source, \
             related_fanvue_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                model.into(),
                Value::from(&r.id),
                date.into(),
                r.gross.into(),
                r.net.into(),
                Value::from(&r.source),
                r.related_transaction_id.as_deref().into(),
                now.into(),
            ],
        )?;
        inserted += 1;
    }
    if bug == SyncBug::AddPageSum {
        let page_sum: i64 = page.data.iter().map(|r| r.gross).sum();
        tx.execute(
            "UPDATE models SET revenue_total = revenue_total + ? WHERE id = ?",
            &[page_sum.into(), model.into()],
        )?;
    } else {
        tx.execute(
            "UPDATE models SET revenue_total = (SELECT COALESCE(SUM(amount), 0) FROM fanvue_transactions \
             WHERE model_id = ?) WHERE id = ?",
            &[model.into(), model.into()],
        )?;
    }
    Ok(inserted)
}

fn agency(bug: SyncBug) -> Variant<Revenue> {
    Variant::new("agency-revenue", move |h: FanvueRevenue| {
        h.with_sync(move |env, actor, model| sync(env, actor, model, bug))
            .with_sometimes("agency-stored-a-row", "the agency's sync stored a row")
    })
}

/// Three creators, late rows, low rate limits, refunds, force-syncs, and faults.
const BUSY: &str = r#"
name = "agency-busy"
system = "fanvue-revenue"
seeds = 300
[expect]
outcome = "pass"
[network]
drop_request = 0.02
drop_response = 0.02
duplicate = 0.02
[database]
outages_max = 1
outage_duration = { min = "5s", max = "3m" }
lost_answer = 0.02
[crashes]
actors = ["app", "jobs"]
count_max = 1
down = { min = "5s", max = "3m" }
[fanvue]
creators = 3
history_rows_max = 60
sales_max = 20
refund = 0.1
lookback = "5m"
force_syncs_max = 2
double_click = 0.5
[fanvue.provider]
rate_limit = 6
lag = 0.3
lag_delay = { min = "1s", max = "4m" }
"#;

#[test]
fn a_sync_that_moves_its_cursor_to_the_window_end_is_found_replayed_and_fixed() {
    let dir = temp_dir("cursor-at-end");
    let scenario = scenario_file(&dir, "busy", BUSY);
    bug_cycle(agency(SyncBug::CursorAtEnd), agency(SyncBug::None), &scenario, "cursor-never-past-unstored");
}

#[test]
fn a_sync_that_adds_each_page_to_the_total_is_found_replayed_and_fixed() {
    let dir = temp_dir("add-page");
    let scenario = scenario_file(&dir, "busy", BUSY);
    bug_cycle(agency(SyncBug::AddPageSum), agency(SyncBug::None), &scenario, "revenue-total-matches");
}

/// The agency's cron log: a table of its own, created with the system's and emptied between
/// seeds like them.
const CRON_RUNS: Migration = Migration::portable(
    "20261130000000_agency_cron_runs",
    "CREATE TABLE agency_cron_runs (tick BIGINT NOT NULL PRIMARY KEY, models BIGINT NOT NULL);",
);

/// The agency's revenue cron: every heartbeat it syncs its models and logs the tick. The bug:
/// it lists at most two models.
async fn cron(env: Env, two_only: bool) {
    let every = env.cfg.heartbeat_every.0.max(1_000);
    loop {
        let next = (env.sim.now_ms() / every + 1) * every;
        env.sim.sleep_until_ms(next).await;
        let limit = if two_only { " LIMIT 2" } else { "" };
        let sql = format!("SELECT id FROM models ORDER BY id{limit}");
        let Ok(ids) = env
            .db
            .unit("revenue-cron", "cron.list", "", |tx| {
                tx.query(&sql, &[])?.iter().map(|r| r.int(0)).collect::<Result<Vec<_>, _>>()
            })
            .await
        else {
            continue;
        };
        let tick = (next / every) as i64;
        let n = ids.len() as i64;
        let _ = env
            .db
            .unit("revenue-cron", "cron.log", "", |tx| {
                tx.execute("INSERT INTO agency_cron_runs (tick, models) VALUES (?, ?)", &[tick.into(), n.into()])
            })
            .await;
        for id in ids {
            if let Some(m) = env.models.iter().find(|m| m.id == id) {
                env.sync("revenue-cron", m).await;
            }
        }
    }
}

fn with_cron(two_only: bool) -> Variant<Revenue> {
    Variant::new("agency-revenue", move |h: FanvueRevenue| {
        h.without("jobs")
            .with_migrations(&[CRON_RUNS])
            .with_part(Part::job("revenue-cron", move |env| cron(env, two_only)))
    })
}

const QUIET: &str = r#"
name = "agency-quiet"
system = "fanvue-revenue"
seeds = 50
[expect]
outcome = "pass"
[fanvue]
creators = 3
history_rows_max = 60
page_size = 5
force_syncs_max = 0
[fanvue.provider]
rate_limit = 6
"#;

#[test]
fn a_cron_that_lists_two_models_only_is_found_replayed_and_fixed() {
    let dir = temp_dir("cron");
    let scenario = scenario_file(&dir, "quiet", QUIET);
    bug_cycle(with_cron(true), with_cron(false), &scenario, "revenue-matches-provider");
}

#[test]
fn a_users_own_table_is_emptied_between_seeds_like_the_systems() {
    use settle::sim::Oracle;
    use settle::store::{shared, sqlite::Sqlite};
    use settle::systems::System;

    let s = settle::scenario::parse(QUIET, "quiet.toml").unwrap();
    let system = with_cron(false).harness(s.config_as().unwrap(), Default::default());
    let backend = shared(Sqlite::memory().unwrap());
    // 1 h of safety and 45 min of liveness: a tick every 10 minutes, 10 in all.
    for seed in 0..3 {
        let r = system.run(&s.run_spec(false), Oracle::random(seed), backend.clone()).unwrap();
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        let mut b = backend.lock().unwrap();
        let rows = b.query("SELECT COUNT(*) FROM agency_cron_runs", &[]).unwrap();
        assert_eq!(rows[0].int(0).unwrap(), 10, "seed {seed}: only this seed's ticks");
    }
}
