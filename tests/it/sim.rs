//! The simulation core through the public API: per-message faults, crash and restart,
//! partitions, and the paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::post;
use settle::sim::{
    CrashConfig, DEFAULT_EPOCH_MS, Millis, NetConfig, NetError, Oracle, PartitionConfig, PartitionKind, Range, Rate,
    Request, Sim, SimConfig,
};

fn config(net: NetConfig) -> SimConfig {
    SimConfig {
        record: true,
        safety: Millis::min(10),
        liveness: Millis::min(1),
        epoch_ms: DEFAULT_EPOCH_MS,
        net,
        crashes: CrashConfig::default(),
        notes: Vec::new(),
        tap: None,
    }
}

fn counting_router(hits: Arc<AtomicU32>) -> Router {
    Router::new().route(
        "/hit",
        post(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    )
}

/// Sends one request from `a` to `b` and returns what the caller saw.
fn one_request(net: NetConfig, seed: u64) -> (Result<u16, NetError>, u32) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let out = Sim::run(config(net), Oracle::random(seed), move |sim| async move {
        sim.serve("b", counting_router(h));
        let r = sim.request("a", "b", Request::new(http::Method::POST, "/hit"), 15_000).await.map(|r| r.status);
        // Let duplicates land before the run ends.
        sim.sleep_ms(120_000).await;
        r
    })
    .unwrap();
    (out.result, hits.load(Ordering::SeqCst))
}

#[test]
fn a_clean_network_delivers_once() {
    let (r, hits) = one_request(NetConfig::default(), 1);
    assert_eq!(r, Ok(200));
    assert_eq!(hits, 1);
}

#[test]
fn a_dropped_request_never_reaches_the_handler() {
    let net = NetConfig { drop_request: Rate(1_000_000), ..NetConfig::default() };
    let (r, hits) = one_request(net, 1);
    assert_eq!(r, Err(NetError::Timeout));
    assert_eq!(hits, 0);
}

#[test]
fn a_dropped_response_means_the_handler_ran_but_the_caller_timed_out() {
    let net = NetConfig { drop_response: Rate(1_000_000), ..NetConfig::default() };
    let (r, hits) = one_request(net, 1);
    assert_eq!(r, Err(NetError::Timeout));
    assert_eq!(hits, 1);
}

#[test]
fn a_duplicated_request_runs_the_handler_twice() {
    let net = NetConfig { duplicate: Rate(1_000_000), ..NetConfig::default() };
    let (r, hits) = one_request(net, 3);
    assert_eq!(r, Ok(200));
    assert_eq!(hits, 2);
}

#[test]
fn a_partition_refuses_requests_only_inside_its_window() {
    let net = NetConfig {
        partitions: PartitionConfig {
            between: vec![("a".into(), "b".into())],
            count_max: 1,
            duration: Some(Range::fixed(Millis::min(10))),
            ..PartitionConfig::default()
        },
        ..NetConfig::default()
    };
    // With a 10-minute partition drawn somewhere in a 10-minute safety phase, find a seed
    // where one exists and check both sides of its start.
    for seed in 0..50 {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let out = Sim::run(config(net.clone()), Oracle::random(seed), move |sim| async move {
            sim.serve("b", counting_router(h));
            let mut seen = Vec::new();
            for _ in 0..20 {
                let r = sim.request("a", "b", Request::new(http::Method::POST, "/hit"), 15_000).await;
                seen.push(r.is_ok());
                sim.sleep_ms(30_000).await;
            }
            seen
        })
        .unwrap();
        let plan = out.events.iter().any(|e| e.text.starts_with("plan: partition a ⇹ b"));
        let refused = out.events.iter().filter(|e| e.text.contains("refused")).count();
        if plan {
            assert!(out.result.iter().any(|ok| !ok), "seed {seed}: partition planned but nothing refused");
            assert!(refused > 0);
            return;
        }
        assert!(out.result.iter().all(|ok| *ok), "seed {seed}: refused without a partition");
    }
    panic!("no seed in 0..50 planned a partition");
}

/// Per request, what the caller got and how long it waited; the run's marks; its plan lines.
type PartitionedRun = (Vec<(Result<u16, NetError>, u64)>, Vec<String>, Vec<String>);

/// Runs 20 requests 30 s apart from `a` to `b` (10 s timeout) under a partition plan of `kind`.
fn partitioned_run(kind: PartitionKind, seed: u64) -> PartitionedRun {
    let net = NetConfig {
        latency: Range::fixed(Millis(10)),
        partitions: PartitionConfig {
            between: vec![("a".into(), "b".into())],
            count_max: 1,
            duration: Some(Range::fixed(Millis::min(10))),
            kind,
        },
        ..NetConfig::default()
    };
    let out = Sim::run(config(net), Oracle::random(seed), move |sim| async move {
        sim.serve("b", counting_router(Arc::new(AtomicU32::new(0))));
        let mut seen = Vec::new();
        for _ in 0..20 {
            let start = sim.now_ms();
            let r = sim.request("a", "b", Request::new(http::Method::POST, "/hit"), 10_000).await.map(|r| r.status);
            seen.push((r, sim.now_ms() - start));
            sim.sleep_ms(30_000).await;
        }
        seen
    })
    .unwrap();
    let plans = out.events.iter().filter(|e| e.text.starts_with("plan: partition")).map(|e| e.text.clone()).collect();
    (out.result, out.marks.keys().cloned().collect(), plans)
}

#[test]
fn a_black_hole_swallows_requests_until_the_callers_timeout() {
    for seed in 0..50 {
        let (seen, marks, plans) = partitioned_run(PartitionKind::BlackHole, seed);
        if plans.is_empty() {
            assert!(seen.iter().all(|(r, _)| r.is_ok()), "seed {seed}: lost without a partition");
            continue;
        }
        assert!(plans[0].ends_with("(black hole)"), "{plans:?}");
        let swallowed: Vec<_> = seen.iter().filter(|(r, _)| r.is_err()).collect();
        assert!(!swallowed.is_empty(), "seed {seed}: a black hole planned but nothing swallowed");
        // Not refused at once: each caller waited out its whole 10 s timeout.
        for (r, waited) in swallowed {
            assert_eq!((r, *waited), (&Err(NetError::Timeout), 10_000));
        }
        assert!(marks.contains(&"fault:black-hole".to_string()));
        assert!(!marks.contains(&"fault:partition".to_string()));
        // The same plan as a refusing partition, refused at once instead.
        let (refused, _, refuse_plans) = partitioned_run(PartitionKind::Refuse, seed);
        assert_eq!(refuse_plans[0], plans[0].trim_end_matches(" (black hole)"));
        assert!(refused.iter().any(|(r, waited)| *r == Err(NetError::Refused) && *waited < 10_000));
        return;
    }
    panic!("no seed in 0..50 planned a partition");
}

#[test]
fn a_mixed_plan_draws_both_kinds_of_partition() {
    let kinds: std::collections::BTreeSet<bool> = (0..60)
        .flat_map(|seed| partitioned_run(PartitionKind::Mixed, seed).2)
        .map(|plan| plan.ends_with("(black hole)"))
        .collect();
    assert_eq!(kinds.len(), 2, "60 seeds of a mixed plan drew only one kind");
}

#[test]
fn partition_kinds_are_read_from_scenario_files_and_a_bad_one_is_named() {
    let ok: PartitionConfig = toml::from_str("count_max = 1\nkind = \"black-hole\"").unwrap();
    assert_eq!(ok.kind, PartitionKind::BlackHole);
    let default: PartitionConfig = toml::from_str("count_max = 1").unwrap();
    assert_eq!(default.kind, PartitionKind::Refuse);
    let err = toml::from_str::<PartitionConfig>("kind = \"blackhole\"").unwrap_err().to_string();
    assert!(err.contains("blackhole") && err.contains("black-hole"), "{err}");
}

#[test]
fn a_crash_aborts_the_actors_tasks_and_restart_runs_its_factory_again() {
    let starts = Arc::new(AtomicU32::new(0));
    let ticks = Arc::new(AtomicU32::new(0));
    let (s2, t2) = (starts.clone(), ticks.clone());
    let out = Sim::run(config(NetConfig::default()), Oracle::random(1), move |sim| async move {
        let (s3, t3) = (s2.clone(), t2.clone());
        sim.start_actor(
            "worker",
            Arc::new(move |sim: Sim| {
                let (s, t) = (s3.clone(), t3.clone());
                Box::pin(async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    loop {
                        sim.sleep_ms(1_000).await;
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                })
            }),
        );
        sim.sleep_ms(10_500).await;
        sim.crash("worker");
        assert!(!sim.is_up("worker"));
        sim.sleep_ms(60_000).await;
        let ticks_while_down = t2.load(Ordering::SeqCst);
        sim.restart("worker");
        sim.sleep_ms(5_500).await;
        ticks_while_down
    })
    .unwrap();
    assert_eq!(out.result, 10, "ticks stop at the crash");
    assert_eq!(starts.load(Ordering::SeqCst), 2, "the factory ran again on restart");
    assert_eq!(ticks.load(Ordering::SeqCst), 15);
    assert!(out.events.iter().any(|e| e.text.contains("CRASH")));
}

/// A paused clock jumps to the next timer: were it not paused, this test would take a day.
#[test]
fn a_simulated_day_passes_in_no_real_time() {
    let out = Sim::run(config(NetConfig::default()), Oracle::random(1), |sim| async move {
        sim.sleep_ms(Millis::h(24).0).await;
        sim.now_ms()
    })
    .unwrap();
    assert_eq!(out.result, Millis::h(24).0);
}

/// Three tasks due in the same millisecond (and a fourth a millisecond later): the order they
/// ran in, and the run's choices.
fn tie_order(oracle: Oracle) -> (Vec<&'static str>, Vec<u64>) {
    let out = Sim::run(config(NetConfig::default()), oracle, |sim| async move {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        for (name, at) in [("a", 5_000), ("b", 5_000), ("c", 5_000), ("d", 5_001)] {
            let (s, order) = (sim.clone(), order.clone());
            sim.spawn(name, async move {
                s.sleep_until_ms(at).await;
                order.lock().unwrap().push(name);
            });
        }
        sim.sleep_ms(10_000).await;
        order.lock().unwrap().clone()
    })
    .unwrap();
    (out.result, out.choices)
}

#[test]
fn events_due_in_the_same_millisecond_run_in_an_order_the_oracle_draws() {
    // All zeros: the runtime's own order, spawn order here.
    let (order, choices) = tie_order(Oracle::replay(Vec::new()));
    assert_eq!(order, ["a", "b", "c", "d"]);
    assert_eq!(choices, [0, 0], "a and b drew a place and went at once; c, the last of them, and d were due alone");
    // The first to wake lets the others go first; recorded choices replay it.
    let (order, choices) = tie_order(Oracle::replay(vec![1]));
    assert_eq!(order, ["b", "c", "a", "d"]);
    assert_eq!(tie_order(Oracle::replay(choices)).0, order);
    // Random seeds reach every order of the three, and never move d before them.
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let (order, choices) = tie_order(Oracle::random(seed));
        assert_eq!(order[3], "d", "seed {seed}: {order:?}");
        assert_eq!(tie_order(Oracle::replay(choices)).0, order, "seed {seed} replays");
        seen.insert(order);
    }
    assert_eq!(seen.len(), 6, "every order of three tied events: {seen:?}");
}

#[test]
fn a_tie_break_draws_from_its_own_stream_so_other_choices_keep_their_values() {
    let mut plain = Oracle::random(11);
    let mut with_ties = Oracle::random(11);
    for n in 2..50 {
        let _ = with_ties.tie(3);
        assert_eq!(plain.below(n), with_ties.below(n));
    }
}

/// The first change in `vendor/tokio` (vendor/README.md): a task woken on its own
/// runtime no longer marks the paused clock's driver as woken, so a sleep costs the runtime one
/// park, not two (stock tokio 1.54.1 parks 206 times for these 100 sleeps). If this fails, the
/// `[patch.crates-io]` entry in `Cargo.toml` is gone or no longer matches tokio's version: the
/// simulation still runs the same traces, about 5 % slower.
#[test]
fn a_paused_sleep_costs_the_runtime_one_park() {
    let parks = Arc::new(AtomicU32::new(0));
    let counted = parks.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .on_thread_park(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::spawn(async {
            for _ in 0..100 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the sleeper ends");
    });
    let parks = parks.load(Ordering::Relaxed);
    assert!(parks <= 110, "{parks} parks for 100 sleeps");
}

/// The second change in `vendor/tokio` (vendor/README.md): a runtime whose clock starts paused
/// reads no real clock around its ticks, so its busy-time metric stays zero; a runtime on real
/// time measures busy time as stock tokio does. Fails on stock tokio, where the paused runtime
/// counts busy time too (the traces are the same, about 1.3 % more instructions a seed).
#[test]
fn a_paused_runtime_measures_no_busy_time_and_a_real_one_does() {
    let busy = |paused: bool| {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_time().start_paused(paused).build().expect("runtime");
        rt.block_on(async {
            tokio::spawn(async {
                let mut sum = 0u64;
                for i in 0..20u64 {
                    for j in 0..10_000u64 {
                        sum = sum.wrapping_add(std::hint::black_box(i * j));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                sum
            })
            .await
            .expect("the worker ends")
        });
        rt.metrics().worker_total_busy_duration(0)
    };
    assert_eq!(busy(true), std::time::Duration::ZERO, "a paused runtime measured busy time");
    assert!(busy(false) > std::time::Duration::ZERO, "a runtime on real time measured no busy time");
}
