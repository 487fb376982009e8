//! `settle drive`: settle as the payment provider of a real service, in any language, over real
//! HTTP on 127.0.0.1, then the service's own database checked against the provider's truth.
//!
//! One run of one seed:
//! 1. settle serves Midtrans ([`midtrans::DriveMidtrans`]: the model of
//!    `src/providers/midtrans/`, the third transport after the simulator and turmoil) on an
//!    ephemeral port, and starts the service ([`service`]) with its environment, or uses one
//!    that already listens; it waits for the health URL.
//! 2. Load: customers arrive at seeded (simulated) times through the service's checkout
//!    template; before each, settle waits for the service to be quiet (no exchange in flight).
//!    At the provider they pay or abandon, bank transfers may be reversed, notifications go to
//!    the webhook with real signatures and the real retry schedule, and Snap answers may be held
//!    (the race on purpose). The service's jobs run through its hooks at simulated intervals.
//!    After each checkout, the `always` invariants are read from the database.
//! 3. Liveness: the load closes (no more payments or reversals), hooks keep running for
//!    `settle_for`, then every invariant is checked ([`crate::hosted::OrderChecks`], the
//!    simulator's seed-001 functions through the `settle audit` mapping).
//!
//! Time runs `time_scale` times faster than real time for everything settle does (retries,
//! expiries, hooks); the service's own clock is not touched (see the README's "Any language").
//!
//! With `[run] provider = "fanvue"` the run is [`fanvue_run`]'s instead: settle serves Fanvue's
//! earnings API ([`fanvue`]), the creators' rows arrive on settle's clock, and seed 002's
//! invariants are read through the `fanvue-revenue` audit mapping ([`fanvue_check`]). Both print
//! through [`report`] (human, JSON, JUnit; "failed k of n runs" per seed).
//!
//! With a `[database]` table the service's database URL goes through settle's proxy
//! ([`proxy`]: PostgreSQL or MySQL wire framing, latency, resets, outages, lost COMMIT answers,
//! held COMMITs), and a step also waits for no transaction to be open there. With `[crashes]` the
//! service is killed and restarted at seeded times ([`crash`]).
//!
//! What it does not do yet: Stripe or Paystack over HTTP, the Core API charge, shrinking.

pub mod crash;
pub mod fanvue;
pub mod fanvue_check;
pub mod fanvue_run;
pub mod midtrans;
pub mod proxy;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod service;

use std::time::Duration;

use crate::Error;
use crate::check::Violation;
use crate::hosted::{OrderChecks, TraceLine};
use crate::providers::midtrans::ProviderConfig;
use crate::sim::{Kind, Millis, Range, Rate, Request};
use crate::systems::midtrans_orders::mapping::Mapping;
use midtrans::DriveMidtrans;
use runtime::DriveWorld;
use scenario::{Drive, Fill};
use service::{Launch, Service};

/// Real milliseconds a step waits at most for the service to be quiet.
const QUIET_MAX_MS: u64 = 10_000;
/// Real milliseconds a checkout or hook request may take.
const REQUEST_TIMEOUT_MS: u64 = 15_000;

/// What one run of one seed found.
pub struct Outcome {
    pub seed: u64,
    pub run: u32,
    pub violations: Vec<Violation>,
    pub trace: Vec<TraceLine>,
}

/// Runs every seed of `drive` `runs` times; stops at the first error (a run that could not be
/// judged), killing the service.
pub async fn drive(drive: &Drive, mapping: &Mapping) -> Result<Vec<Outcome>, Error> {
    let mut out = Vec::new();
    for seed in drive.seeds() {
        for run in 1..=drive.file.run.runs {
            out.push(run_once(drive, mapping, seed, run).await?);
        }
    }
    Ok(out)
}

fn rate(share: f64) -> Rate {
    Rate((share.clamp(0.0, 1.0) * 1_000_000.0).round() as u32)
}

/// One run of `seed`.
pub async fn run_once(drive: &Drive, mapping: &Mapping, seed: u64, run: u32) -> Result<Outcome, Error> {
    let f = &drive.file;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Infrastructure(format!("cannot listen on 127.0.0.1: {e}")))?;
    let provider_base = listener
        .local_addr()
        .map(|a| format!("http://{a}"))
        .map_err(|e| Error::Infrastructure(format!("cannot read the provider's address: {e}")))?;
    let (port, external) = match &f.service.url {
        Some(u) => (0, Some(u.get_ref().clone())),
        None => (service::free_port()?, None),
    };
    let base = external.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let world = DriveWorld::new(seed, f.run.time_scale, &base, &f.service.webhook, &f.faults);
    let cfg = ProviderConfig { notify_path: f.service.webhook.clone(), ..f.midtrans.clone() };
    let server_key = cfg.server_key.clone();
    let mut host = DriveMidtrans::new(&world, cfg, rate(f.run.pay), rate(f.run.race));
    let db_proxy = match &f.database {
        Some(d) => {
            host.hold_commits(rate(d.get_ref().hold_commit));
            let upstream = proxy::upstream_of(&f.check.database_url).map_err(Error::Usage)?;
            Some(proxy::DbProxy::start(&world, upstream, d.get_ref()).await?)
        }
        None => None,
    };
    let service_db_url = db_proxy
        .as_ref()
        .map_or_else(|| f.check.database_url.clone(), |p| proxy::through(&f.check.database_url, &p.addr.to_string()));
    let router = host.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let result = async {
        let command = f.service.command.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
        let settle_env = vec![
            ("SETTLE_PROVIDER_URL".to_string(), provider_base.clone()),
            ("SETTLE_SERVER_KEY".to_string(), server_key.clone()),
            ("SETTLE_DATABASE_URL".to_string(), service_db_url.clone()),
            ("PORT".to_string(), port.to_string()),
            ("SETTLE_TIME_SCALE".to_string(), f.run.time_scale.to_string()),
        ];
        let cwd = drive.cwd();
        let launch = Launch { command: &command, cwd: &cwd, env: &f.service.env, settle_env };
        let mut svc = match &external {
            Some(u) => Service::external(u)?,
            None => Service::spawn(&launch, port)?,
        };
        svc.wait_healthy(&f.service.health, f.service.start_timeout.0).await?;
        world.record(
            "settle",
            Kind::Lifecycle,
            format!("service healthy at {}; provider at {provider_base}", svc.base),
        );
        if let Some(p) = &db_proxy {
            world.record("settle", Kind::Lifecycle, format!("database proxy at {} for the service", p.addr));
            p.arm();
        }
        let base = svc.base.clone();
        let out = match &f.crashes {
            Some(plan) => tokio::select! {
                biased;
                e = crash::run(plan.get_ref(), &world, &mut svc, &launch, &f.service.health, f.service.start_timeout.0) => Err(e),
                out = exercise(drive, mapping, &world, &host, &base, seed, run) => out,
            },
            None => exercise(drive, mapping, &world, &host, &base, seed, run).await,
        };
        svc.stop().await;
        out
    }
    .await;
    drop(db_proxy);
    server.abort();
    result
}

async fn exercise(
    drive: &Drive,
    mapping: &Mapping,
    world: &DriveWorld,
    host: &DriveMidtrans,
    base: &str,
    seed: u64,
    run: u32,
) -> Result<Outcome, Error> {
    let f = &drive.file;
    let checks = std::sync::Arc::new(OrderChecks::new(mapping.clone()));
    let url = f.check.database_url.clone();
    let mapping_path = drive.mapping_path().display().to_string();
    // The first read proves the mapping fits the database (a missing column is named here).
    let mut violations = always(&checks, host, &url, world.now_ms(), &mapping_path).await?;
    let hooks: Vec<_> = f.hooks.iter().map(|h| spawn_hook(world, base, drive, h.get_ref())).collect();
    let checkout = f.checkout.get_ref();
    let method = http::Method::from_bytes(checkout.method.as_bytes()).unwrap_or(http::Method::POST);
    let gap = Range::new(Millis::s(1), Millis::s(30));
    for customer in 1..=f.run.customers {
        let (wait, amount) = world.choose(|o| (gap.draw(o), 10_000 + i64::try_from(o.below(490_001)).unwrap_or(0)));
        world.sleep_sim(wait).await;
        world.quiet(QUIET_MAX_MS).await;
        let mut fill = Fill { order_id: String::new(), amount, customer, seed, run };
        fill.order_id = scenario::render(&checkout.order_id, &fill)
            .map_err(|m| Error::Usage(format!("[checkout] order_id {m}")))?;
        let body = scenario::render(&checkout.body, &fill).map_err(|m| Error::Usage(format!("[checkout] body {m}")))?;
        let req = Request::new(method.clone(), &checkout.path).json(body);
        world.record(
            "customers",
            Kind::Send,
            format!("{} {} {} amount {amount} → service", checkout.method, checkout.path, fill.order_id),
        );
        let answer = {
            let _gate = world.checkout_gate().lock().await;
            world.in_flight(service::send(base, req, REQUEST_TIMEOUT_MS)).await
        };
        let shown = match &answer {
            Ok(r) => r.status.to_string(),
            Err(e) => e.to_string(),
        };
        host.checkout_answered(&fill.order_id, answer.as_ref().is_ok_and(|r| (200..300).contains(&r.status)));
        world.record("service", Kind::Reply, format!("checkout {}: {shown}", fill.order_id));
        world.quiet(QUIET_MAX_MS).await;
        merge(&mut violations, always(&checks, host, &url, world.now_ms(), &mapping_path).await?);
    }
    // The last customer's page: a method within 30 s, payment within 40 s more.
    world.sleep_sim(75_000).await;
    world.begin_liveness();
    world.sleep_sim(f.run.settle_for.0).await;
    for h in hooks {
        h.abort();
    }
    world.quiet(QUIET_MAX_MS).await;
    let t = world.now_ms();
    let p = host.provider.clone();
    let (c, u) = (checks, url);
    let end = tokio::task::spawn_blocking(move || {
        crate::audit::session::in_snapshot(&u, |db, _| {
            c.at_end(&p, db, t).map_err(|e| Error::Infrastructure(e.to_string()))
        })
    })
    .await
    .map_err(|e| Error::Infrastructure(format!("the final check stopped: {e}")))?
    .map_err(|e| mapping_error(e, &mapping_path))?;
    merge(&mut violations, end);
    world.record("settle", Kind::Run, format!("checked: {} violation(s)", violations.len()));
    Ok(Outcome { seed, run, violations, trace: world.recorder().lines() })
}

/// Keeps the first violation of each invariant.
fn merge(into: &mut Vec<Violation>, found: Vec<Violation>) {
    for v in found {
        if !into.iter().any(|x| x.invariant == v.invariant) {
            into.push(v);
        }
    }
}

/// A database error while reading through the mapping: most often the mapping names a table or
/// column the service's database lacks.
fn mapping_error(e: Error, mapping: &str) -> Error {
    match e {
        Error::Infrastructure(m) if !m.contains("connect") => Error::Scenario {
            location: mapping.to_string(),
            message: format!("the mapping does not fit the service's database: {m}"),
        },
        other => other,
    }
}

async fn always(
    checks: &std::sync::Arc<OrderChecks>,
    host: &DriveMidtrans,
    url: &str,
    t: u64,
    mapping: &str,
) -> Result<Vec<Violation>, Error> {
    let (p, u, c) = (host.provider.clone(), url.to_string(), checks.clone());
    // The read blocks on the database; keep the runtime (and the provider) running meanwhile.
    let found = tokio::task::spawn_blocking(move || {
        crate::audit::session::in_snapshot(&u, |db, _| {
            c.always(&p, db, t).map_err(|e| Error::Infrastructure(e.to_string()))
        })
    })
    .await
    .map_err(|e| Error::Infrastructure(format!("a check stopped: {e}")))?;
    found.map_err(|e| mapping_error(e, mapping))
}

/// Runs the hook `h` every `h.every` of simulated time until aborted.
fn spawn_hook(world: &DriveWorld, base: &str, drive: &Drive, h: &scenario::HookSpec) -> tokio::task::JoinHandle<()> {
    let (w, base, every, name) = (world.clone(), base.to_string(), h.every.0, h.name.clone());
    let request = h.request.as_deref().and_then(scenario::parse_request_line);
    let command = h.command.clone();
    let cwd = drive.cwd();
    let env: Vec<(String, String)> = drive.file.service.env.clone().into_iter().collect();
    tokio::spawn(async move {
        loop {
            w.sleep_sim(every).await;
            w.quiet(QUIET_MAX_MS).await;
            let outcome = if let Some((m, p)) = &request {
                match w.in_flight(service::send(&base, Request::new(m.clone(), p), REQUEST_TIMEOUT_MS)).await {
                    Ok(r) => format!("{m} {p}: {}", r.status),
                    Err(e) => format!("{m} {p}: {e}"),
                }
            } else if let Some(c) = &command {
                let status =
                    tokio::process::Command::new(&c[0]).args(&c[1..]).current_dir(&cwd).envs(env.clone()).status();
                match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), status).await {
                    Ok(Ok(s)) => format!("`{}`: {s}", c.join(" ")),
                    Ok(Err(e)) => format!("`{}`: {e}", c.join(" ")),
                    Err(_) => format!("`{}`: timed out", c.join(" ")),
                }
            } else {
                "nothing to run".into()
            };
            w.record("hooks", Kind::Lifecycle, format!("{name}: {outcome}"));
        }
    })
}
