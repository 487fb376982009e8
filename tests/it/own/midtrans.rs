//! Three bugs in a shop's own Midtrans integration, each found by settle's built-in invariants:
//! two in its webhook handler, one in its reconciliation job (an actor of its own, which the
//! scenario crashes and partitions like any of settle's).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use settle::check::{Finding, Invariant};
use settle::scenario;
use settle::sim::{Oracle, first_divergence};
use settle::store::{shared, sqlite::Sqlite};
use settle::systems::midtrans_orders::{Ctx, Orders};
use settle::systems::{Part, Registry, Variant};

use super::shop::{self, HandlerBug, JobBug};
use super::{bug_cycle, runner, scenario_file, temp_dir};

/// The shop with its own handler, and no reconciliation job at all.
fn handler_only(bug: HandlerBug) -> Variant<Orders> {
    Variant::new("shop-orders", move |h| h.with_app(move |env| shop::router(env, bug)).without("jobs"))
}

const RACE: &str = r#"
name = "shop-race"
system = "midtrans-orders"
seeds = 300
[expect]
outcome = "pass"
[midtrans]
replayed_notifications_max = 0
"#;

#[test]
fn a_handler_that_acks_a_missing_row_is_found_replayed_and_fixed() {
    let dir = temp_dir("ack-missing");
    let scenario = scenario_file(&dir, "race", RACE);
    bug_cycle(
        handler_only(HandlerBug::AckMissing),
        handler_only(HandlerBug::None),
        &scenario,
        "provider-paid-implies-paid",
    );
}

#[test]
fn a_handler_that_pays_on_a_challenged_capture_is_found_replayed_and_fixed() {
    let dir = temp_dir("capture");
    // Every customer pays by card, and a fifth of captures go to fraud review.
    let text = format!("{RACE}methods = [\"credit_card\"]\n[midtrans.provider]\nfraud_challenge = 0.2\n");
    let scenario = scenario_file(&dir, "cards", &text);
    bug_cycle(
        handler_only(HandlerBug::CaptureIsPaid),
        handler_only(HandlerBug::None),
        &scenario,
        "paid-only-if-provider-paid",
    );
}

/// The shop's handler moves money on the notification's `transaction_status`: a replayed genuine
/// `pending` notification edited to `settlement` (its signature does not cover the status)
/// verifies, and an unpaid order turns PAID. Found on the default load, whose forger replays one;
/// the fix asks the status API first.
#[test]
fn a_handler_that_trusts_the_body_is_found_replayed_and_fixed() {
    let dir = temp_dir("trust-body");
    let text = RACE.replace("replayed_notifications_max = 0", "replayed_notifications_max = 2");
    let scenario = scenario_file(&dir, "replayed", &text);
    bug_cycle(
        handler_only(HandlerBug::TrustBody),
        handler_only(HandlerBug::None),
        &scenario,
        "paid-only-if-provider-paid",
    );
}

/// The shop's own handler and its own reconciliation job, `recon`, in place of settle's jobs.
fn with_job(bug: JobBug) -> Variant<Orders> {
    Variant::new("shop-orders", move |h| {
        h.with_app(|env| shop::router(env, HandlerBug::None))
            .without("jobs")
            .with_part(Part::job("recon", move |env| shop::reconciliation(env, bug)))
            .with_sometimes("shop-recon-ran", "the shop's reconciliation applied a payment")
    })
}

/// Notifications lost beyond Midtrans's retry budget: only a reconciliation job can repair them.
/// The shop's job is crashed and cut off from the provider like any of settle's actors.
const LOSSY: &str = r#"
name = "shop-lossy"
system = "midtrans-orders"
seeds = 600
[expect]
outcome = "pass"
[network]
drop_request = 0.05
partitions = { between = [["provider", "app"], ["recon", "provider"]], count_max = 2, duration = { min = "5m", max = "40m" } }
[database]
outages_max = 1
outage_duration = { min = "1m", max = "15m" }
[crashes]
actors = ["recon", "app"]
count_max = 2
down = { min = "5s", max = "3m" }
"#;

#[test]
fn a_job_whose_cutoff_is_in_seconds_is_found_replayed_and_fixed() {
    let dir = temp_dir("cutoff");
    let scenario = scenario_file(&dir, "lossy", LOSSY);
    bug_cycle(with_job(JobBug::CutoffInSeconds), with_job(JobBug::None), &scenario, "provider-paid-implies-paid");
}

/// The shop's own invariant: no order Midtrans says is paid is left unpaid at the end.
fn no_paid_order_left_behind() -> Invariant<Ctx> {
    Invariant::eventually("no-paid-order-left-behind", "Midtrans paid ⇒ our order is PAID", |c: &Ctx| {
        let orders = c.snapshot();
        Ok(c.provider
            .truths()
            .iter()
            .filter(|t| t.paid_now() && orders.get(&t.order_id).is_none_or(|o| o.status != "PAID"))
            .map(|t| Finding::about(&t.order_id, format!("{}: paid at Midtrans, not here", t.order_id)))
            .collect())
    })
}

#[test]
fn a_users_own_invariant_can_be_the_expected_verdict() {
    let dir = temp_dir("own-invariant");
    let text = RACE.replace("outcome = \"pass\"", "outcome = \"violation\"\ninvariant = \"no-paid-order-left-behind\"");
    let scenario = scenario_file(&dir, "own", &text);
    let buggy = Variant::<Orders>::new("shop-orders", |h| {
        h.with_app(|env| shop::router(env, HandlerBug::AckMissing))
            .without("jobs")
            .with_invariant(no_paid_order_left_behind)
    });
    let passed = runner(&buggy, &scenario, &dir.join("r.jsonl"), &[]).run().unwrap_or_else(|e| panic!("{e}"));
    let summary = passed.summary.unwrap();
    assert!(summary.per_invariant.contains_key("no-paid-order-left-behind"), "{:?}", summary.per_invariant);
    // Without the user's invariant the same scenario does not even parse: the name is unknown.
    let plain = Variant::<Orders>::new("shop-orders", |h| h.without("jobs"));
    let err = runner(&plain, &scenario, &dir.join("r.jsonl"), &[]).run().unwrap_err();
    assert!(err.contains("unknown invariant \"no-paid-order-left-behind\""), "{err}");
}

#[test]
fn a_users_actor_is_first_class_in_validation_info_and_lanes() {
    use settle::report::diagram::{Lane, Lanes};
    use settle::systems::System;

    let sys = with_job(JobBug::None).harness(Default::default(), Default::default());
    let info = sys.info();
    let recon = info.actors.iter().find(|a| a.name == "recon").expect("listed");
    assert!(recon.crashable);
    assert_eq!(Lanes::of(&info.actors).lane("recon"), Lane::Jobs);
    assert!(!info.actors.iter().any(|a| a.name == "jobs"), "the reference job is gone, not switched off by a flaw");
    let marks: Vec<String> = sys
        .sometimes(&settle::scenario::parse(RACE, "x").unwrap().run_spec(false))
        .into_iter()
        .map(|m| m.mark)
        .collect();
    assert!(marks.contains(&"shop-recon-ran".to_string()), "{marks:?}");
    assert!(!marks.contains(&"reconciliation-repaired".to_string()), "the replaced job's mark went with it");
}

/// A shop's own handler and job get the HTTP floor (issue 16 §1) as settle's reference does:
/// its router, built on a direct `Sim`, replays each seed's requests with the run's SQL, and its
/// job runs its own units from each of its starts.
#[test]
fn a_users_own_handler_replays_through_the_http_floor() {
    let registry = settle::systems::Registry::builtin().with(with_job(JobBug::None));
    let dir = temp_dir("floor");
    let scenario = scenario_file(&dir, "lossy", &LOSSY.replace("midtrans-orders", "shop-orders"));
    let s = settle::scenario::load_with(&scenario, &registry).expect("the scenario loads");
    let system = s.build_with(&registry).expect("the shop builds");
    let spec = s.run_spec(false);
    let (mut requests, mut job_units) = (0, 0);
    for seed in 0..10 {
        let (_, stats) = settle::systems::floor::self_check(system.as_ref(), &spec, seed)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        requests += stats.requests;
        job_units += stats.job_units;
        assert!(stats.handler_units <= stats.requests + stats.sql_units, "{stats:?}");
    }
    assert!(requests > 10, "the shop's own router handled the requests: {requests}");
    assert!(job_units > 10, "the shop's own job ran its own units in the floor: {job_units}");
}

/// An `always` invariant of the shop's own that holds and counts its rounds.
fn counted(rounds: &Arc<AtomicU64>, rows_only: bool) -> Invariant<Ctx> {
    let rounds = rounds.clone();
    let inv = Invariant::always("shop-counts-rounds", "holds; counts the rounds it was asked", move |_: &Ctx| {
        rounds.fetch_add(1, Ordering::Relaxed);
        Ok(Vec::new())
    });
    if rows_only { inv.rows_only() } else { inv }
}

/// The checker skips a round of `always` checks over an order whose rows have not changed since
/// they last held (a unit that only wrote the sync log), when every `always` invariant says it
/// reads only those rows. A team's own invariant decides too: one that does not say so turns the
/// skipping off, one that does joins it. Either way every run is the same run: same trace event
/// for event, same violations, on passing and violating Midtrans scenarios alike.
#[test]
fn rounds_over_unchanged_rows_are_skipped_and_change_no_run() {
    let (every, skipping) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (e, s) = (every.clone(), skipping.clone());
    let registry = Registry::builtin()
        .with(Variant::<Orders>::new("orders-every-round", move |h| {
            let e = e.clone();
            h.with_invariant(move || counted(&e, false))
        }))
        .with(Variant::<Orders>::new("orders-skipping", move |h| {
            let s = s.clone();
            h.with_invariant(move || counted(&s, true))
        }));
    let scenarios = ["midtrans_hour", "midtrans_fixed", "double_fulfil", "late_regress", "split_update", "trust_body"];
    let mut violations = 0;
    for name in scenarios {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let build = |system: &str| {
            let text = text.replace("system = \"midtrans-orders\"", &format!("system = \"{system}\""));
            let s = scenario::parse_with(&text, name, &registry).unwrap_or_else(|e| panic!("{name}: {e}"));
            (s.build_with(&registry).unwrap(), s.run_spec(true))
        };
        let runs = [build("midtrans-orders"), build("orders-every-round"), build("orders-skipping")];
        for seed in 0..8 {
            let [plain, every, skipping] = runs.each_ref().map(|(system, spec)| {
                system.run(spec, Oracle::random(seed), shared(Sqlite::memory().unwrap())).unwrap()
            });
            for other in [&every, &skipping] {
                if let Some(d) = first_divergence(&plain.events, &other.events) {
                    panic!("{name} seed {seed} diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second);
                }
                assert_eq!(plain.violations, other.violations, "{name} seed {seed}");
                assert_eq!(plain.choices, other.choices, "{name} seed {seed}");
            }
            violations += usize::from(!plain.violations.is_empty());
        }
    }
    let (every, skipping) = (every.load(Ordering::Relaxed), skipping.load(Ordering::Relaxed));
    assert!(violations >= 8, "the violating scenarios violated: {violations} seeds");
    assert!(skipping * 10 < every * 9, "rounds were skipped: {skipping} of {every}");
}

/// A team's handler may use tokio's own timer (`tokio::time::sleep`, here the classic patch for
/// seed 001's race: wait before handling a notification) and it runs in simulated time: every
/// wait is exactly its length on the run's clock, and every seed runs the same twice.
#[test]
fn a_users_handler_sleeping_on_tokios_timer_sleeps_in_simulated_time() {
    const WAIT_MS: u64 = 300;
    let waits = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let w = waits.clone();
    let variant = Variant::<Orders>::new("shop-orders", move |h| {
        let w = w.clone();
        h.with_app(move |env| {
            let (sim, w) = (env.sim.clone(), w.clone());
            shop::router(env, HandlerBug::None).layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let (sim, w) = (sim.clone(), w.clone());
                    async move {
                        let before = sim.now_ms();
                        tokio::time::sleep(std::time::Duration::from_millis(WAIT_MS)).await;
                        w.lock().unwrap().push(sim.now_ms() - before);
                        next.run(req).await
                    }
                },
            ))
        })
        .without("jobs")
    });
    let registry = Registry::builtin().with(variant);
    let text = RACE.replace("midtrans-orders", "shop-orders");
    let s = scenario::parse_with(&text, "shop-waits", &registry).expect("the scenario parses");
    let (system, spec) = (s.build_with(&registry).expect("the shop builds"), s.run_spec(true));
    for seed in 0..10 {
        let [first, second] =
            [0, 1].map(|_| system.run(&spec, Oracle::random(seed), shared(Sqlite::memory().unwrap())).unwrap());
        if let Some(d) = first_divergence(&first.events, &second.events) {
            panic!("seed {seed} diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second);
        }
        assert_eq!(first.choices, second.choices, "seed {seed}");
        assert!(first.violations.is_empty(), "seed {seed}: {:?}", first.violations);
    }
    let waits = waits.lock().unwrap();
    assert!(waits.len() >= 20, "the handler waited: {waits:?}");
    assert!(waits.iter().all(|&ms| ms == WAIT_MS), "every wait took {WAIT_MS} simulated ms: {waits:?}");
}
