//! The crash plan of `settle drive` (`[crashes]`): at seeded simulated times during the load,
//! settle kills the service's whole process group with `SIGKILL` and starts it again with the
//! same command, environment and port, then waits for its health URL — each recorded in the
//! trace. Whatever the service had in flight dies with it: settle's webhooks see a connection
//! error and Midtrans retries them on its schedule, a hook's request fails (the next one runs on
//! time); open database transactions roll back. Midtrans and Fanvue runs both use it.
//!
//! ```toml
//! [crashes]
//! every = { min = "1m", max = "4m" }   # the gap before each crash, drawn from the seed
//! count = 2                            # at most this many, in the safety phase only
//! ```
//!
//! The gaps are drawn from the seed before anything else of the run, so the plan is the same
//! on every run of a seed. A crash waits until no customer's checkout request is in flight (the
//! checkout gate), then up to a simulated minute for an exchange in flight (a notification being
//! handled, a hook) to cut; the next customer waits until the service is healthy again.
//!
//! A service that cannot start while its database is down (the scenario's `[database]` outage:
//! the example shop connects at start-up and exits) is what a real one does; its supervisor starts
//! it again. So does settle: when a restart that began inside an outage does not come up, settle
//! records it, waits for the outage to end and starts the service once more. Only a service that
//! does not come up then, or one that failed with the database up, ends the run (exit 5).
//!
//! What it does not do: crash in the middle of a checkout (the example shop writes its order
//! after Snap answers, so a crash there loses an order the customer then pays — a real finding,
//! but not one this plan looks for), crash a service given by `url`, or crash the database.

use serde::Deserialize;

use super::proxy::DbProxy;
use super::runtime::DriveWorld;
use super::service::{LOG_TAIL, Launch, Service};
use crate::Error;
use crate::sim::{Kind, Millis, Phase, Range};

/// How long (simulated) a crash waits for an exchange in flight to cut.
const LOOK_MAX_MS: u64 = 60_000;

/// The scenario's `[crashes]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashSpec {
    pub every: Range,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl CrashSpec {
    pub fn problem(&self) -> Option<String> {
        (self.every.min.0 == 0).then(|| "[crashes] every.min must be more than 0".to_string())
    }
}

/// Runs `work` (a run's load and checks) with the crash plan `spec`, if any, beside it against
/// `svc`: `work`'s result, or the error of a service that did not come back after a crash.
/// `db` is the database proxy, if the scenario has one: its outages excuse a failed restart.
pub async fn alongside<T>(
    spec: Option<&CrashSpec>,
    world: &DriveWorld,
    svc: &mut Service,
    launch: &Launch<'_>,
    (health, start_timeout_ms): (&str, u64),
    db: Option<&DbProxy>,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match spec {
        Some(plan) => tokio::select! {
            biased;
            e = run(plan, world, svc, launch, (health, start_timeout_ms), db) => Err(e),
            out = work => out,
        },
        None => work.await,
    }
}

/// Runs the plan against `svc`; returns only on an error (the service did not come back).
pub async fn run(
    spec: &CrashSpec,
    world: &DriveWorld,
    svc: &mut Service,
    launch: &Launch<'_>,
    (health, start_timeout_ms): (&str, u64),
    db: Option<&DbProxy>,
) -> Error {
    let gaps: Vec<u64> = world.choose(|o| (0..spec.count).map(|_| spec.every.draw_uniform(o)).collect());
    for (i, gap) in gaps.iter().enumerate() {
        world.sleep_sim(*gap).await;
        if world.phase() != Phase::Safety {
            break;
        }
        let _gate = world.checkout_gate().lock().await;
        // Prefer a moment with an exchange in flight (a notification being handled), so the
        // crash cuts it: at most `LOOK_MAX_MS` of simulated time.
        let look_until = world.now_ms() + LOOK_MAX_MS;
        while world.in_flight_now() == 0 && world.now_ms() < look_until {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let n = i + 1;
        let restarted = world
            .in_flight(async {
                let in_flight = world.in_flight_now().saturating_sub(1);
                world.record(
                    "settle",
                    Kind::Fault,
                    format!(
                        "crash {n} of {}: SIGKILL to the service's process group ({in_flight} exchange(s) in flight)",
                        spec.count
                    ),
                );
                let started = world.now_ms();
                svc.restart(launch).await?;
                if let Err(e) = svc.wait_healthy(health, start_timeout_ms).await {
                    // Started inside an outage: as a supervisor would, start it again after it.
                    let Some(end) = db.and_then(|d| d.outage_end(started)) else { return Err(e) };
                    world.record(
                        "settle",
                        Kind::Lifecycle,
                        format!(
                            "crash {n}: the service did not come up while the database is down ({}); \
                             starting it again when the outage ends at {}",
                            first_line(&e),
                            Millis(end)
                        ),
                    );
                    world.sleep_sim(end.saturating_sub(world.now_ms())).await;
                    svc.restart(launch).await?;
                    svc.wait_healthy(health, start_timeout_ms).await?;
                }
                world.record("settle", Kind::Lifecycle, format!("crash {n}: service restarted and healthy"));
                Ok::<(), Error>(())
            })
            .await;
        if let Err(e) = restarted {
            return e;
        }
    }
    std::future::pending::<Error>().await
}

/// The first line of a service error, without its log's tail ([`LOG_TAIL`] on).
fn first_line(e: &Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.split(LOG_TAIL).next().unwrap_or(line).to_string()
}
