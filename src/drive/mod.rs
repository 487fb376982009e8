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
//!    After each checkout, and every `[check] every` (simulated, 1 minute by default) while
//!    settle waits, the `always` invariants are read from the database once the service is quiet.
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
//! through [`report`] (human, JSON, JUnit; "failed k of n runs" per seed); `--report-dir` writes a
//! failing run's trace as the simulator's events ([`events`]), story and diagrams ([`report_dir`]).
//!
//! With a `[database]` table the service's database URL goes through settle's proxy
//! ([`proxy`]: PostgreSQL or MySQL wire framing, latency, resets, outages, lost COMMIT answers,
//! held COMMITs), and a step also waits for no transaction to be open there. With `[crashes]` the
//! service is killed and restarted at seeded times ([`crash`]).
//!
//! Midtrans serves Snap's create transaction and the Core API's `/v2/charge`
//! ([`crate::hosted::core_api`]). Fanvue runs take `[database]` and `[crashes]` too.
//!
//! `--shrink` ([`shrink`]) makes a failing seed's plan smaller (fewer customers, faults, crashes,
//! held messages: `[run] hold_only`) while it still fails, and writes it as a drive file.
//!
//! What it does not do yet: Stripe or Paystack over HTTP.

pub mod crash;
pub mod events;
pub mod fanvue;
pub mod fanvue_check;
pub mod fanvue_run;
pub mod midtrans;
pub mod proxy;
pub mod report;
pub mod report_dir;
pub mod runtime;
pub mod scenario;
pub mod service;
pub mod shrink;

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
#[derive(Clone)]
pub struct Outcome {
    pub seed: u64,
    pub run: u32,
    pub violations: Vec<Violation>,
    pub trace: Vec<TraceLine>,
    /// Wall-clock seconds the run took, service start to final check (JUnit's `time`).
    pub seconds: f64,
    /// The customers (1-based) whose messages settle held on purpose (Midtrans; see
    /// [`midtrans::DriveMidtrans::held_customers`]).
    pub held: Vec<u32>,
}

/// The mapping a drive's checks read the service's database through, by provider.
pub enum Checks {
    Midtrans(Box<Mapping>),
    Fanvue(Box<crate::audit::fanvue_revenue::Mapping>),
}

impl Checks {
    /// Loads the mapping of `drive`'s provider (`[check] mapping`).
    pub fn load(drive: &Drive) -> Result<Checks, Error> {
        if drive.file.run.provider.get_ref() == "fanvue" {
            let (text, shown) = crate::check::mapping::read(&drive.mapping_path())?;
            Ok(Checks::Fanvue(Box::new(crate::check::mapping::parse(&text, &shown)?)))
        } else {
            Ok(Checks::Midtrans(Box::new(Mapping::load(&drive.mapping_path())?.0)))
        }
    }

    /// Every seed of `drive`, `runs` times each; stops at the first error (a run that could not
    /// be judged), killing the service.
    pub async fn run_set(&self, drive: &Drive) -> Result<Vec<Outcome>, Error> {
        let mut out = Vec::new();
        for seed in drive.seeds() {
            for run in 1..=drive.file.run.runs {
                out.push(self.run_once(drive, seed, run).await?);
            }
        }
        Ok(out)
    }

    /// One run of `seed`.
    pub async fn run_once(&self, drive: &Drive, seed: u64, run: u32) -> Result<Outcome, Error> {
        match self {
            Checks::Midtrans(m) => timed(run_once(drive, m, seed, run)).await,
            Checks::Fanvue(m) => timed(fanvue_run::run_once(drive, m, seed, run)).await,
        }
    }
}

/// `run`'s outcome with the wall-clock seconds it took.
pub(crate) async fn timed(run: impl std::future::Future<Output = Result<Outcome, Error>>) -> Result<Outcome, Error> {
    let started = std::time::Instant::now();
    let mut o = run.await?;
    o.seconds = started.elapsed().as_secs_f64();
    Ok(o)
}

fn rate(share: f64) -> Rate {
    Rate((share.clamp(0.0, 1.0) * 1_000_000.0).round() as u32)
}

/// Where one run's provider and service listen: the provider's listener on an ephemeral port and
/// its base URL, and the service's port (settle starts it) or URL (it already listens).
struct Placement {
    listener: tokio::net::TcpListener,
    provider_base: String,
    port: u16,
    external: Option<String>,
    base: String,
}

impl Placement {
    async fn new(drive: &Drive) -> Result<Placement, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Infrastructure(format!("cannot listen on 127.0.0.1: {e}")))?;
        let provider_base = listener
            .local_addr()
            .map(|a| format!("http://{a}"))
            .map_err(|e| Error::Infrastructure(format!("cannot read the provider's address: {e}")))?;
        let (port, external) = match &drive.file.service.url {
            Some(u) => (0, Some(u.get_ref().clone())),
            None => (service::free_port()?, None),
        };
        let base = external.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        Ok(Placement { listener, provider_base, port, external, base })
    }
}

/// One run of `seed`.
pub async fn run_once(drive: &Drive, mapping: &Mapping, seed: u64, run: u32) -> Result<Outcome, Error> {
    let f = &drive.file;
    let Placement { listener, provider_base, port, external, base } = Placement::new(drive).await?;
    let world = DriveWorld::new(seed, f.run.time_scale, &base, &f.service.webhook, &f.faults);
    let cfg = ProviderConfig { notify_path: f.service.webhook.clone(), ..f.midtrans.clone() };
    let server_key = cfg.server_key.clone();
    let mut host = DriveMidtrans::new(&world, cfg, rate(f.run.pay), rate(f.run.race));
    host.hold_only(f.run.hold_only.clone());
    if let Some(d) = &f.database {
        host.hold_commits(rate(d.get_ref().hold_commit));
    }
    let (db_proxy, service_db_url) = database_for_service(&world, drive).await?;
    let router = host.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let result = async {
        let command = f.service.command.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
        let own = [("SETTLE_SERVER_KEY", server_key.clone())];
        let settle_env = service_env(drive, &provider_base, &service_db_url, port, own);
        let cwd = drive.cwd();
        let launch = Launch { command: &command, cwd: &cwd, env: &f.service.env, settle_env };
        let at = ("provider", provider_base.as_str());
        let mut svc = start_service(drive, &world, &launch, (port, external.as_deref()), db_proxy.as_ref(), at).await?;
        let base = svc.base.clone();
        let work = exercise(drive, mapping, &world, &host, &base, seed, run);
        let crashes = f.crashes.as_ref().map(|c| c.get_ref());
        let health = (f.service.health.as_str(), f.service.start_timeout.0);
        let out = crash::alongside(crashes, &world, &mut svc, &launch, health, db_proxy.as_ref(), work).await;
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
    let mut sampler =
        Sampler { checks: &checks, host, url: &url, mapping: &mapping_path, every: f.check.every.0, next_ms: 0 };
    // The first read proves the mapping fits the database (a missing column is named here).
    let mut violations = Vec::new();
    sampler.read(world, &mut violations).await?;
    let hooks: Vec<_> = f.hooks.iter().map(|h| spawn_hook(world, base, drive, h.get_ref())).collect();
    let checkout = f.checkout.get_ref();
    let method = http::Method::from_bytes(checkout.method.as_bytes()).unwrap_or(http::Method::POST);
    let gap = Range::new(Millis::s(1), Millis::s(30));
    for customer in 1..=f.run.customers {
        let (wait, amount) = world.choose(|o| (gap.draw(o), 10_000 + i64::try_from(o.below(490_001)).unwrap_or(0)));
        sampler.sleep(world, wait, &mut violations).await?;
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
            host.checkout_of(Some(customer));
            let answer = world.in_flight(service::send(base, req, REQUEST_TIMEOUT_MS)).await;
            host.checkout_of(None);
            answer
        };
        let shown = match &answer {
            Ok(r) => r.status.to_string(),
            Err(e) => e.to_string(),
        };
        host.checkout_answered(&fill.order_id, answer.as_ref().is_ok_and(|r| (200..300).contains(&r.status)));
        world.record("service", Kind::Reply, format!("checkout {}: {shown}", fill.order_id));
        world.quiet(QUIET_MAX_MS).await;
        sampler.read(world, &mut violations).await?;
    }
    // The last customer's page: a method within 30 s, payment within 40 s more.
    sampler.sleep(world, 75_000, &mut violations).await?;
    world.begin_liveness();
    sampler.sleep(world, f.run.settle_for.0, &mut violations).await?;
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
    let held = host.held_customers();
    Ok(Outcome { seed, run, violations, trace: world.recorder().lines(), seconds: 0.0, held })
}

/// Reads the `always` invariants of a Midtrans run: after each checkout, and every `[check]
/// every` of simulated time while settle waits (between customers, for the last page, through
/// the liveness phase), each time once the service is quiet.
struct Sampler<'a> {
    checks: &'a std::sync::Arc<OrderChecks>,
    host: &'a DriveMidtrans,
    url: &'a str,
    mapping: &'a str,
    every: u64,
    /// The simulated time of the next periodic read.
    next_ms: u64,
}

impl Sampler<'_> {
    /// Reads them now.
    async fn read(&mut self, world: &DriveWorld, into: &mut Vec<Violation>) -> Result<(), Error> {
        merge(into, always(self.checks, self.host, self.url, world.now_ms(), self.mapping).await?);
        self.next_ms = world.now_ms().saturating_add(self.every);
        Ok(())
    }

    /// Sleeps `ms` of simulated time, reading them whenever a period falls due on the way.
    async fn sleep(&mut self, world: &DriveWorld, ms: u64, into: &mut Vec<Violation>) -> Result<(), Error> {
        let end = world.now_ms().saturating_add(ms);
        loop {
            let now = world.now_ms();
            if now >= end {
                return Ok(());
            }
            // At least one real millisecond, so the simulated clock moves.
            world.sleep_sim((end.min(self.next_ms.max(now)) - now).max(world.scale())).await;
            if world.now_ms() >= self.next_ms && world.now_ms() < end {
                world.quiet(QUIET_MAX_MS).await;
                self.read(world, into).await?;
            }
        }
    }
}

/// The environment settle gives the service: the provider's URL, the database URL (through the
/// proxy with `[database]`), `PORT`, `SETTLE_TIME_SCALE`, and the provider's `own` variables.
fn service_env<const N: usize>(
    drive: &Drive,
    provider_base: &str,
    db_url: &str,
    port: u16,
    own: [(&str, String); N],
) -> Vec<(String, String)> {
    let mut env = vec![("SETTLE_PROVIDER_URL".to_string(), provider_base.to_string())];
    env.extend(own.into_iter().map(|(k, v)| (k.to_string(), v)));
    env.push(("SETTLE_DATABASE_URL".to_string(), db_url.to_string()));
    env.push(("PORT".to_string(), port.to_string()));
    env.push(("SETTLE_TIME_SCALE".to_string(), drive.file.run.time_scale.to_string()));
    env
}

/// Starts the service on `port` (or finds the one already listening at `external`), waits for
/// its health URL, and arms the database proxy; `provider` is the (name, URL) the trace shows.
async fn start_service(
    drive: &Drive,
    world: &DriveWorld,
    launch: &Launch<'_>,
    (port, external): (u16, Option<&str>),
    db_proxy: Option<&proxy::DbProxy>,
    (name, url): (&str, &str),
) -> Result<Service, Error> {
    let f = &drive.file;
    let mut svc = match external {
        Some(u) => Service::external(u)?,
        None => Service::spawn(launch, port)?,
    };
    svc.wait_healthy(&f.service.health, f.service.start_timeout.0).await?;
    world.record("settle", Kind::Lifecycle, format!("service healthy at {}; {name} at {url}", svc.base));
    if let Some(p) = db_proxy {
        world.record("settle", Kind::Lifecycle, format!("database proxy at {} for the service", p.addr));
        p.arm();
    }
    Ok(svc)
}

/// With `[database]`, settle's proxy in front of the service's database and the URL through it;
/// without, no proxy and the direct URL.
async fn database_for_service(world: &DriveWorld, drive: &Drive) -> Result<(Option<proxy::DbProxy>, String), Error> {
    let f = &drive.file;
    let Some(d) = &f.database else { return Ok((None, f.check.database_url.clone())) };
    let upstream = proxy::upstream_of(&f.check.database_url).map_err(Error::Usage)?;
    let p = proxy::DbProxy::start(world, upstream, d.get_ref()).await?;
    let url = proxy::through(&f.check.database_url, &p.addr.to_string());
    Ok((Some(p), url))
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
