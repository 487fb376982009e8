//! The actors around the app: the fans (sales on each creator's ledger, some later refunded or
//! charged back), the jobs (the revenue heartbeat cron over every model), and the owner (presses
//! "Force Sync Revenue", sometimes twice, and loads the dashboard, last at the end of the run).
//!
//! What they do not do: connect or disconnect creators, or pay in the liveness phase (the
//! provider's truth is fixed once the safety phase ends, so the liveness phase can converge).

use std::sync::Arc;

use super::app::{self, Dashboard};
use super::{Config, Displayed, Env, ModelInfo, units};
use crate::providers::fanvue::{Source, wire};
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, Phase, Request, Sim};

pub const FANS: &str = "fans";
pub const JOBS: &str = "jobs";
pub const OWNER: &str = "owner";

struct Sale {
    at: u64,
    creator: usize,
    n: u64,
    gross: i64,
    source: Source,
    user: u64,
    /// Refund or chargeback, and how long after the sale.
    reversal: Option<(Source, u64)>,
}

pub(super) fn amount(o: &mut crate::sim::Oracle, cfg: &Config) -> i64 {
    let span = u64::try_from(cfg.amount_max - cfg.amount_min).unwrap_or(0);
    cfg.amount_min + i64::try_from(o.below(span + 1)).unwrap_or(0)
}

/// Fills each ledger's history now (after a damaged start's older rows, when the scenario asks
/// for one) and starts the sales of the safety phase.
pub fn start_fans(sim: &Sim, env: &Env) {
    super::start::damage(sim, env);
    let (provider, cfg, models) = (&env.provider, &env.cfg, env.models.as_slice());
    let epoch = i64::try_from(sim.config().epoch_ms).unwrap_or(0);
    let span = cfg.history_span.0.max(1);
    for m in models {
        let mut history: Vec<(u64, i64, Source, u64)> = sim.choose(|o| {
            let n = o.below(u64::from(cfg.history_rows_max) + 1);
            (0..n).map(|_| (o.below(span), amount(o, cfg), Source::SALES[o.below(4) as usize], o.below(500))).collect()
        });
        // Oldest first: the ledger is appended in date order.
        history.sort_by_key(|h| std::cmp::Reverse(h.0));
        for (ago, gross, source, user) in history {
            let date = epoch - i64::try_from(ago + 1).unwrap_or(0);
            provider.add_history(&m.creator, date, gross, source, &format!("fan-{user:03}"));
        }
    }
    let mut plan: Vec<Sale> = sim.choose(|o| {
        let mut out = Vec::new();
        for creator in 0..models.len() {
            let count = o.range(u64::from(cfg.sales_min), u64::from(cfg.sales_max));
            for n in 0..count {
                let at = cfg.arrival.draw_uniform(o);
                let gross = amount(o, cfg);
                let source = Source::SALES[o.below(4) as usize];
                let user = o.below(500);
                let reversal = if o.chance(cfg.refund.ppm()) {
                    Some((Source::Refund, cfg.reversal_delay.draw(o)))
                } else if o.chance(cfg.chargeback.ppm()) {
                    Some((Source::Chargeback, cfg.reversal_delay.draw(o)))
                } else {
                    None
                };
                out.push(Sale { at, creator, n, gross, source, user, reversal });
            }
        }
        out
    });
    plan.sort_by_key(|s| (s.at, s.creator, s.n));
    let (sim2, provider, creators) =
        (sim.clone(), provider.clone(), models.iter().map(|m| m.creator.clone()).collect::<Vec<_>>());
    sim.spawn(FANS, async move {
        for s in plan {
            sim2.sleep_until_ms(s.at).await;
            if sim2.phase() != Phase::Safety {
                break;
            }
            let creator = &creators[s.creator];
            let Some(id) = provider.record_sale(creator, s.gross, s.source, &format!("fan-{:03}", s.user)) else {
                continue;
            };
            if let Some((kind, after)) = s.reversal {
                let (s3, p, c) = (sim2.clone(), provider.clone(), creator.clone());
                sim2.spawn(FANS, async move {
                    s3.sleep_ms(after).await;
                    if s3.phase() == Phase::Safety {
                        p.reverse(&c, &id, kind);
                    }
                });
            }
        }
    });
}

/// The jobs actor's main task: the revenue heartbeat every `heartbeat_every`, each tick its own
/// task (a slow tick does not hold back the next one, as with the seed's Vercel cron). Runs
/// again from the next tick after a restart.
pub async fn heartbeat(env: Env) {
    let sim = env.sim.clone();
    let every = env.cfg.heartbeat_every.0.max(1_000);
    // #[gamma::skip(arith.mul_to_add, arith.mul_to_div, arith.add_to_mul, reason = "the first tick's phase: these start the schedule at or just after the run's start, or catch a restarted job up with a burst of ticks; what the jobs do does not depend on their phase", tag = "timing")]
    let mut next = (sim.now_ms() / every + 1) * every;
    loop {
        sim.sleep_until_ms(next).await;
        let env = env.clone();
        sim.spawn(JOBS, async move { tick(&env).await });
        next += every;
    }
}

async fn tick(env: &Env) {
    let models = env.models.clone();
    let Ok(ids) = env.db.unit(JOBS, "heartbeat.list-models", "", units::list_models).await else { return };
    env.sim.record(Kind::State, JOBS, None, || format!("revenue heartbeat: syncing {} model(s)", ids.len()));
    for id in ids {
        if let Some(m) = models.iter().find(|m| m.id == id) {
            env.sync(JOBS, m).await;
        }
    }
}

#[derive(Clone, Debug)]
enum Action {
    ForceSync(usize),
    LoadDashboard,
}

/// Starts the owner: force-sync presses (some doubled) and dashboard loads at seeded times in
/// the safety phase, and one last dashboard load at `final_load_ms`. The plan is drawn once; a
/// restarted owner carries on with what is still ahead.
pub fn start_owner(sim: &Sim, env: &Env) {
    let (cfg, models, displayed, final_load_ms) = (&env.cfg, &env.models, &env.displayed, env.final_load_ms);
    let safety = sim.config().safety.0.max(1);
    let mut plan: Vec<(u64, Action)> = sim.choose(|o| {
        let mut out = Vec::new();
        // `range(0, max)` draws as `below(max + 1)` did before there was a minimum.
        let (min, max) = (u64::from(cfg.force_syncs_min), u64::from(cfg.force_syncs_max));
        let presses = if models.is_empty() { 0 } else { o.range(min.min(max), max) };
        for _ in 0..presses {
            let (at, model) = (o.below(safety), o.below(models.len() as u64) as usize);
            out.push((at, Action::ForceSync(model)));
            if o.chance(cfg.double_click.ppm()) {
                out.push((at + o.range(500, 5_000), Action::ForceSync(model)));
            }
        }
        for _ in 0..o.below(u64::from(cfg.dashboard_loads_max) + 1) {
            out.push((o.below(safety), Action::LoadDashboard));
        }
        out
    });
    plan.push((final_load_ms, Action::LoadDashboard));
    plan.sort_by_key(|(t, a)| (*t, matches!(a, Action::LoadDashboard)));
    let plan = Arc::new(plan);
    let (cfg, models, displayed) = (cfg.clone(), models.clone(), displayed.clone());
    sim.start_actor(
        OWNER,
        Arc::new(move |s: Sim| {
            let (plan, cfg, models, displayed) = (plan.clone(), cfg.clone(), models.clone(), displayed.clone());
            Box::pin(async move { owner(s, plan, cfg, models, displayed).await })
        }),
    );
}

/// The owner's main task; after a restart it carries on with what is still ahead.
async fn owner(
    sim: Sim,
    plan: Arc<Vec<(u64, Action)>>,
    cfg: Arc<Config>,
    models: Arc<Vec<ModelInfo>>,
    displayed: Displayed,
) {
    let start = sim.now_ms();
    for (at, action) in plan.iter().filter(|(t, _)| *t >= start) {
        sim.sleep_until_ms(*at).await;
        match action {
            Action::ForceSync(i) => {
                let m = &models[*i];
                let path = format!("/api/fanvue/force-sync-revenue?modelId={}", m.id);
                let label = if sim.recording() { format!("POST {path} ({})", m.name) } else { String::new() };
                let req = Request::new(http::Method::POST, path).label(label);
                let (s, until_ok) = (sim.clone(), cfg.force_sync_until_ok);
                // The button does not wait for the last press to finish. A persistent owner
                // (`force_sync_until_ok`) presses again a minute after every answer but 200.
                sim.spawn(OWNER, async move {
                    loop {
                        let answer = s.request(OWNER, app::ACTOR, req.clone(), Millis::min(2).0).await;
                        if !until_ok || answer.is_ok_and(|r| r.status == 200) {
                            break;
                        }
                        s.sleep_ms(Millis::min(1).0).await;
                    }
                });
            }
            Action::LoadDashboard => {
                let label = if sim.recording() { "GET /api/dashboard".to_string() } else { String::new() };
                let req = Request::new(http::Method::GET, "/api/dashboard").label(label);
                let timeout = cfg.request_timeout.0.max(Millis::s(30).0);
                let Ok(resp) = sim.request(OWNER, app::ACTOR, req, timeout).await else { continue };
                let Ok(d) = serde_json::from_slice::<Dashboard>(&resp.body) else { continue };
                *lock(&displayed) = Some((sim.now_ms(), d.total_gross_revenue));
                sim.record(Kind::State, OWNER, None, || {
                    format!("dashboard shows {} ({} figure)", wire::format_usd(d.total_gross_revenue), d.source)
                });
            }
        }
    }
}
