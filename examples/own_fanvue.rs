//! # A creator agency's own Fanvue revenue sync under settle
//!
//! The agency writes its own sync of one creator's earnings: page through Fanvue's
//! `GET /insights/earnings` from the model's cursor, store the rows it has not stored, update
//! `revenue_total`, move the cursor a lookback behind the window's end so late rows are read
//! again. It plugs the sync into settle's `fanvue-revenue` system with `with_sync`, which replaces
//! the sync everywhere it runs: in the revenue cron and behind the force-sync button.
//!
//! The sync has a bug unless `AGENCY_FIXED=1`: it adds each page's sum to `revenue_total`, the
//! rows it had already stored (re-read in the lookback window) included. The fix recomputes the
//! total from the stored rows in the same transaction.
//!
//! ```text
//! cargo test --example own_fanvue                    # the #[test] way: settle::testing::Runner
//! cargo run --example own_fanvue -- run examples/own/fanvue_busy.toml    # a settle of its own
//! AGENCY_FIXED=1 cargo run --example own_fanvue -- run examples/own/fanvue_busy.toml
//! ```

use settle::providers::fanvue::{self, wire};
use settle::sim::Request;
use settle::store::{SqlError, Tx, Value};
use settle::systems::Variant;
use settle::systems::fanvue_revenue::sync::Outcome;
use settle::systems::fanvue_revenue::{Env, FanvueRevenue, ModelInfo, Revenue};

/// The agency's system: the reference cron, app and owner, with the agency's own sync.
fn agency(fixed: bool) -> Variant<Revenue> {
    Variant::new("agency-revenue", move |h: FanvueRevenue| h.with_sync(move |env, actor, m| sync(env, actor, m, fixed)))
}

async fn sync(env: Env, actor: String, model: ModelInfo, fixed: bool) -> Outcome {
    let (db, sim) = (&env.db, &env.sim);
    let load = |tx: &mut Tx| {
        let row = tx.query_opt("SELECT last_transaction_sync FROM models WHERE id = ?", &[model.id.into()])?;
        row.map(|r| r.opt_int(0)).transpose().map(Option::flatten)
    };
    let cursor = match db.unit(&actor, "agency.load", &model.name, load).await {
        Ok(c) => c,
        Err(e) => return Outcome::Stopped(e.to_string()),
    };
    let end = sim.wall_ms() as i64;
    let (mut next, mut pages, mut inserted) = (None::<String>, 0, 0);
    loop {
        let mut path = format!("/insights/earnings?endDate={}&size={}", wire::format_instant(end), env.cfg.page_size);
        if let Some(c) = cursor {
            path += &format!("&startDate={}", wire::format_instant(c));
        }
        if let Some(n) = &next {
            path += &format!("&cursor={n}");
        }
        let req = Request::new(http::Method::GET, path)
            .header("authorization", format!("Bearer {}", model.token))
            .header(wire::VERSION_HEADER, env.cfg.provider.api_version.clone())
            .label(format!("GET /insights/earnings {}", model.name));
        let page = match sim.request(&actor, fanvue::ACTOR, req, 30_000).await {
            Ok(r) if r.status == 429 => {
                let wait_s: u64 = r.header(wire::RETRY_AFTER_HEADER).and_then(|v| v.parse().ok()).unwrap_or(60);
                sim.sleep_ms(wait_s * 1_000).await;
                continue;
            }
            Ok(r) if r.status == 200 => match serde_json::from_slice::<wire::EarningsPage>(&r.body) {
                Ok(p) => p,
                Err(e) => return Outcome::Stopped(format!("malformed page: {e}")),
            },
            Ok(r) => return Outcome::Stopped(format!("earnings answered {}", r.status)),
            Err(e) => return Outcome::Stopped(format!("{e:?}")),
        };
        let now = sim.wall_ms() as i64;
        match db.unit(&actor, "agency.store", &model.name, |tx| store(tx, model.id, &page, fixed, now)).await {
            Ok(n) => inserted += n,
            Err(e) => return Outcome::Stopped(e.to_string()),
        }
        pages += 1;
        match page.next_cursor {
            Some(c) => next = Some(c),
            None => break,
        }
    }
    // Every page is stored: the cursor moves, a lookback behind the end, never backwards.
    let target = end - env.cfg.lookback.0 as i64;
    let sql = "UPDATE models SET last_transaction_sync = ? WHERE id = ? \
               AND (last_transaction_sync IS NULL OR last_transaction_sync < ?)";
    match db
        .unit(&actor, "agency.cursor", &model.name, |tx| {
            tx.execute(sql, &[target.into(), model.id.into(), target.into()])
        })
        .await
    {
        Ok(_) => Outcome::Done { pages, inserted },
        Err(e) => Outcome::Stopped(e.to_string()),
    }
}

/// The page's new rows and the total, in one transaction.
fn store(tx: &mut Tx, model: i64, page: &wire::EarningsPage, fixed: bool, now: i64) -> Result<usize, SqlError> {
    let mut inserted = 0;
    for r in &page.data {
        if tx.query_opt("SELECT 1 FROM fanvue_transactions WHERE fanvue_id = ?", &[Value::from(&r.id)])?.is_some() {
            continue;
        }
        let date = wire::parse_instant(&r.date).map_err(SqlError::Decode)?;
        let sql = "INSERT INTO fanvue_transactions (model_id, fanvue_id, transaction_date, amount, net_amount, source, \
                   related_fanvue_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
        let related = r.related_transaction_id.as_deref();
        let args = [
            model.into(),
            Value::from(&r.id),
            date.into(),
            r.gross.into(),
            r.net.into(),
            Value::from(&r.source),
            related.into(),
            now.into(),
        ];
        tx.execute(sql, &args)?;
        inserted += 1;
    }
    if fixed {
        let sql = "UPDATE models SET revenue_total = \
                   (SELECT COALESCE(SUM(amount), 0) FROM fanvue_transactions WHERE model_id = ?) WHERE id = ?";
        tx.execute(sql, &[model.into(), model.into()])?;
    } else {
        // THE BUG: the page's rows already stored are counted again.
        let sum: i64 = page.data.iter().map(|r| r.gross).sum();
        tx.execute("UPDATE models SET revenue_total = revenue_total + ? WHERE id = ?", &[sum.into(), model.into()])?;
    }
    Ok(inserted)
}

/// A settle of the agency's own: `own_fanvue run …`, `own_fanvue replay …`.
fn main() -> std::process::ExitCode {
    let fixed = std::env::var("AGENCY_FIXED").is_ok_and(|v| v == "1");
    settle::cli::App::new("own_fanvue").system(agency(fixed)).main()
}

#[cfg(test)]
mod tests {
    use settle::testing::Runner;

    const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/own/fanvue_busy.toml");

    #[test]
    fn the_sync_that_adds_pages_is_caught() {
        let dir = std::env::temp_dir().join(format!("own-fanvue-{}", std::process::id()));
        let found = Runner::new(super::agency(false), SCENARIO).regressions(dir.join("r.jsonl")).run().unwrap_err();
        assert!(found.contains("violated revenue-total-matches"), "{found}");
    }

    #[test]
    fn the_fixed_sync_passes() {
        let dir = std::env::temp_dir().join(format!("own-fanvue-fixed-{}", std::process::id()));
        Runner::new(super::agency(true), SCENARIO).regressions(dir.join("r.jsonl")).check();
    }
}
