//! Issue 11: bugs that hide behind default loads, found by a default swarm scenario — one with
//! no knob set but `swarm = true` — because each seed draws one of the system's load shapes.
//! Each test plugs in a user's buggy logic, shows the default load never reaches the bug, and
//! shows the default swarm finds it within 2,000 seeds.

use settle::providers::fanvue::wire;
use settle::store::SqlError;
use settle::systems::fanvue_revenue::sync::Outcome;
use settle::systems::fanvue_revenue::{Env, FanvueRevenue, ModelInfo, Revenue};
use settle::systems::midtrans_orders::Orders;
use settle::systems::{Family, Part, Variant};

use super::creator::{Fetch, SyncBug, earnings_page, store};
use super::shop::{self, HandlerBug, JobBug};
use super::{runner, scenario_file, temp_dir};

/// A scenario of `system` with nothing set but its seed count (and `swarm`, when asked).
fn default_scenario(system: &str, swarm: bool, seeds: u32) -> String {
    format!(
        "name = \"defaults\"\nsystem = \"{system}\"\nseeds = {seeds}\nswarm = {swarm}\n[expect]\noutcome = \"pass\"\n"
    )
}

/// Runs `variant` on the default scenario; the text of its failure, if it failed.
fn failure<F: Family>(variant: &Variant<F>, name: &str, text: &str) -> Option<String> {
    let dir = temp_dir(name);
    let scenario = scenario_file(&dir, name, text);
    runner(variant, &scenario, &dir.join("r.jsonl"), &[]).run().err()
}

/// The shop's handler and a reconciliation job that takes the status API's 404 for "paid".
fn not_found_is_paid() -> Variant<Orders> {
    Variant::new("shop-orders", |h| {
        h.with_app(|env| shop::router(env, HandlerBug::None))
            .without("jobs")
            .with_part(Part::job("recon", |env| shop::reconciliation(env, JobBug::NotFoundIsPaid)))
    })
}

#[test]
fn a_job_that_takes_404_for_paid_hides_from_the_default_load_and_is_found_by_the_default_swarm() {
    let variant = not_found_is_paid();
    // Customers choose a method within 30 s and the job looks at rows older than 5 min.
    let plain = failure(&variant, "404-plain", &default_scenario("midtrans-orders", false, 400));
    assert!(plain.as_deref().is_none_or(|e| !e.contains("violated")), "{plain:?}");
    let found = failure(&variant, "404-swarm", &default_scenario("midtrans-orders", true, 2000))
        .expect("the default swarm finds the bug");
    assert!(found.contains("violated paid-only-if-provider-paid"), "{found}");
}

/// A keyset sync: each page is asked for from the newest date stored (`startDate = last_seen`),
/// and keeps the rows dated after it — `date > last_seen`, where rows that share the last date
/// with rows not read yet needed `>=` and a dedupe.
async fn keyset_sync(env: Env, actor: String, model: ModelInfo) -> Outcome {
    let (db, sim) = (env.db.clone(), env.sim.clone());
    let load = db.unit(&actor, "keyset.load", &model.name, |tx| {
        tx.query_opt("SELECT last_transaction_sync FROM models WHERE id = ?", &[model.id.into()])?
            .map(|r| r.opt_int(0))
            .transpose()
    });
    let mut last_seen = match load.await {
        Ok(c) => c.flatten(),
        Err(e) => return Outcome::Stopped(e.to_string()),
    };
    let end = sim.wall_ms() as i64;
    let (mut pages, mut inserted) = (0, 0);
    for _ in 0..500 {
        let page = match earnings_page(&env, &actor, &model, end, last_seen, None).await {
            Fetch::Page(p) => p,
            Fetch::RateLimited => continue,
            Fetch::Stop(o) => return o,
        };
        let mut fresh = Vec::new();
        for r in page.data {
            let date = match wire::parse_instant(&r.date) {
                Ok(d) => d,
                Err(e) => return Outcome::Stopped(e),
            };
            if last_seen.is_none_or(|seen| date > seen) {
                fresh.push((date, r));
            }
        }
        let Some(newest) = fresh.iter().map(|(d, _)| *d).max() else { break };
        let rows = wire::EarningsPage { data: fresh.into_iter().map(|(_, r)| r).collect(), next_cursor: None };
        let now = sim.wall_ms() as i64;
        let stored = db
            .unit(&actor, "keyset.store", &model.name, |tx| {
                let n = store(tx, model.id, &rows, SyncBug::None, now)?;
                tx.execute(
                    "UPDATE models SET last_transaction_sync = ?, updated_at = ? WHERE id = ?",
                    &[newest.into(), now.into(), model.id.into()],
                )?;
                Ok::<_, SqlError>(n)
            })
            .await;
        match stored {
            Ok(n) => inserted += n,
            Err(e) => return Outcome::Stopped(e.to_string()),
        }
        last_seen = Some(newest);
        pages += 1;
        if page.next_cursor.is_none() {
            break;
        }
    }
    Outcome::Done { pages, inserted }
}

fn keyset() -> Variant<Revenue> {
    Variant::new("agency-revenue", |h: FanvueRevenue| h.with_sync(keyset_sync))
}

#[test]
fn a_sync_keeping_date_after_last_seen_hides_from_the_default_load_and_is_found_by_the_default_swarm() {
    let variant = keyset();
    // On the default load no two rows of a ledger share a millisecond.
    let plain = failure(&variant, "keyset-plain", &default_scenario("fanvue-revenue", false, 400));
    assert!(plain.as_deref().is_none_or(|e| !e.contains("violated")), "{plain:?}");
    let found = failure(&variant, "keyset-swarm", &default_scenario("fanvue-revenue", true, 2000))
        .expect("the default swarm finds the bug");
    assert!(found.contains("violated every-row-stored-once"), "{found}");
    // The edge it takes: the batch import's knob, set by hand on the default load, finds it too.
    let by_hand = default_scenario("fanvue-revenue", false, 100) + "[fanvue]\nhistory_span = \"1ms\"\n";
    let found = failure(&variant, "keyset-batch", &by_hand).expect("a batch import finds the bug");
    assert!(found.contains("violated every-row-stored-once"), "{found}");
}
