//! One `settle drive` run with `[run] provider = "fanvue"`: settle's Fanvue on an ephemeral port
//! ([`super::fanvue::DriveFanvue`]), the service started with the creators it syncs, the seeded
//! load on settle's clock, the service's sync hooks at simulated intervals, and seed 002's
//! invariants ([`super::fanvue_check`]) read from its database.
//!
//! 1. The load is drawn from the seed first ([`super::fanvue::Plan`]); the histories go on the
//!    ledgers before the service starts.
//! 2. Safety phase (`[fanvue] load_for`): sales, reversals and batch imports arrive; 429s, 5xx
//!    and lag as configured; every `check_every` settle waits for the service to be quiet and
//!    reads the `always` invariants.
//! 3. Liveness (`[run] settle_for`): no new rows, no 5xx; the hooks keep running; then every
//!    invariant is checked.
//!
//! The service's environment: `SETTLE_PROVIDER_URL`, `SETTLE_FANVUE_API_VERSION`,
//! `SETTLE_FANVUE_CREATORS` (JSON: `[{"name", "creator", "token"}]`), `SETTLE_DATABASE_URL`,
//! `PORT`, `SETTLE_TIME_SCALE`.
//!
//! With `[database]` the service's database URL goes through settle's proxy (latency, resets,
//! outages, lost COMMIT answers; `hold_commit` is Midtrans's and refused), and with `[crashes]`
//! the service is killed and restarted at seeded times, as for Midtrans ([`super::crash`]).
//!
//! What it does not do: webhooks to the service (Fanvue's model has none).

use std::sync::Arc;

use super::fanvue::{DriveFanvue, Plan};
use super::fanvue_check::RevenueChecks;
use super::runtime::DriveWorld;
use super::scenario::Drive;
use super::service::Launch;
use super::{Outcome, QUIET_MAX_MS, mapping_error, merge, spawn_hook};
use crate::Error;
use crate::audit::fanvue_revenue::Mapping;
use crate::check::Violation;
use crate::sim::Kind;

/// The creators as the service gets them.
fn creators_json(host: &DriveFanvue) -> String {
    let list: Vec<_> = host
        .models
        .iter()
        .map(|m| serde_json::json!({ "name": m.name, "creator": m.creator, "token": m.token }))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// One run of `seed`.
pub async fn run_once(drive: &Drive, mapping: &Mapping, seed: u64, run: u32) -> Result<Outcome, Error> {
    let f = &drive.file;
    let super::Placement { listener, provider_base, port, external, base } = super::Placement::new(drive).await?;
    let world = DriveWorld::new(seed, f.run.time_scale, &base, &f.service.webhook, &f.faults);
    let plan_of_load = Plan::draw(&world, &f.fanvue);
    let host = DriveFanvue::new(&world, &f.fanvue);
    host.add_history(&plan_of_load);
    let (db_proxy, service_db_url) = super::database_for_service(&world, drive).await?;
    let router = host.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let result = async {
        let command = f.service.command.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
        let own = [
            ("SETTLE_FANVUE_API_VERSION", f.fanvue.provider.api_version.clone()),
            ("SETTLE_FANVUE_CREATORS", creators_json(&host)),
        ];
        let settle_env = super::service_env(drive, &provider_base, &service_db_url, port, own);
        let cwd = drive.cwd();
        let launch = Launch { command: &command, cwd: &cwd, env: &f.service.env, settle_env };
        let (external, at) = (external.as_deref(), ("fanvue", provider_base.as_str()));
        let mut svc = super::start_service(drive, &world, &launch, (port, external), db_proxy.as_ref(), at).await?;
        let base = svc.base.clone();
        let work = exercise(drive, mapping, &world, &host, plan_of_load, &base, seed, run);
        let crashes = f.crashes.as_ref().map(|c| c.get_ref());
        let health = (f.service.health.as_str(), f.service.start_timeout.0);
        let out = super::crash::alongside(crashes, &world, &mut svc, &launch, health, db_proxy.as_ref(), work).await;
        svc.stop().await;
        out
    }
    .await;
    drop(db_proxy);
    server.abort();
    result
}

/// Reads the `always` invariants off the runtime's thread.
async fn always(
    checks: &Arc<RevenueChecks>,
    host: &DriveFanvue,
    url: &str,
    t: u64,
    mapping: &str,
) -> Result<Vec<Violation>, Error> {
    let (c, u, p) = (checks.clone(), url.to_string(), host.provider.clone());
    let found = tokio::task::spawn_blocking(move || {
        crate::audit::session::in_snapshot(&u, |db, _| {
            c.always(&p, db, t).map_err(|e| Error::Infrastructure(e.to_string()))
        })
    })
    .await
    .map_err(|e| Error::Infrastructure(format!("a check stopped: {e}")))?;
    found.map_err(|e| mapping_error(e, mapping))
}

#[allow(clippy::too_many_arguments)]
async fn exercise(
    drive: &Drive,
    mapping: &Mapping,
    world: &DriveWorld,
    host: &DriveFanvue,
    plan: Plan,
    base: &str,
    seed: u64,
    run: u32,
) -> Result<Outcome, Error> {
    let f = &drive.file;
    let checks = Arc::new(RevenueChecks::new(mapping.clone(), host.models.clone(), f.fanvue.grace.0));
    let url = f.check.database_url.clone();
    let mapping_path = drive.mapping_path().display().to_string();
    // The first read proves the mapping fits the database (a missing column is named here).
    let mut violations = always(&checks, host, &url, world.now_ms(), &mapping_path).await?;
    let hooks: Vec<_> = f.hooks.iter().map(|h| spawn_hook(world, base, drive, h.get_ref())).collect();
    let load = tokio::spawn(host.clone().run_load(plan));
    let every = f.fanvue.check_every.0;
    while world.now_ms() < f.fanvue.load_for.0 {
        world.sleep_sim(every.min(f.fanvue.load_for.0.saturating_sub(world.now_ms())).max(1)).await;
        world.quiet(QUIET_MAX_MS).await;
        merge(&mut violations, always(&checks, host, &url, world.now_ms(), &mapping_path).await?);
    }
    world.begin_liveness();
    load.abort();
    let visible_by = i64::try_from(world.rt("settle").wall_ms()).unwrap_or(i64::MAX);
    world.sleep_sim(f.run.settle_for.0).await;
    // Quiet first: an exchange aborted half-way would never leave the in-flight count.
    world.quiet(QUIET_MAX_MS).await;
    for h in hooks {
        h.abort();
    }
    world.quiet(QUIET_MAX_MS).await;
    let t = world.now_ms();
    let (p, c, u) = (host.provider.clone(), checks, url);
    let end = tokio::task::spawn_blocking(move || {
        crate::audit::session::in_snapshot(&u, |db, _| {
            c.at_end(&p, db, t, visible_by).map_err(|e| Error::Infrastructure(e.to_string()))
        })
    })
    .await
    .map_err(|e| Error::Infrastructure(format!("the final check stopped: {e}")))?
    .map_err(|e| mapping_error(e, &mapping_path))?;
    merge(&mut violations, end);
    world.record("settle", Kind::Run, format!("checked: {} violation(s)", violations.len()));
    Ok(Outcome { seed, run, violations, trace: world.recorder().lines(), seconds: 0.0, held: Vec::new() })
}
