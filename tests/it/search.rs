//! Finding bugs faster (issue 5): shrinking, bounded-exhaustive exploration, swarm, threads,
//! shards and merged reports. Small planted systems give known answers; seed 001 gives the
//! real one.

use std::sync::Arc;

use settle::check::{InvariantKind, Sometimes, Violation};
use settle::report::json;
use settle::scenario::explore::{Bounds, explore};
use settle::scenario::shrink::{Budget, shrink};
use settle::scenario::{self, Backends, RunOptions, SeedSelection, Shard, Summary, run_scenario_opts};
use settle::sim::{Kind, Oracle, Sim};
use settle::store::{SharedBackend, shared, sqlite::Sqlite};
use settle::systems::{RunSpec, SeedReport, System, SystemError, SystemInfo, run_seed};

use super::load;

/// A system whose whole behaviour is `body` over the oracle; it violates `planted` when `body`
/// says so.
struct Planted(Arc<dyn Fn(&mut Oracle) -> bool + Send + Sync>);

impl System for Planted {
    fn name(&self) -> &str {
        "planted"
    }
    fn info(&self) -> SystemInfo {
        SystemInfo::bare("planted")
    }
    fn sometimes(&self, _: &RunSpec) -> Vec<Sometimes> {
        Vec::new()
    }
    fn run(&self, spec: &RunSpec, oracle: Oracle, _: SharedBackend) -> Result<SeedReport, SystemError> {
        let body = self.0.clone();
        let out = Sim::run(spec.sim.clone(), oracle, move |sim: Sim| async move {
            let bad = sim.choose(|o| body(o));
            sim.record(Kind::State, "planted", None, || format!("bad = {bad}"));
            if bad { vec![Violation::from_findings("planted", InvariantKind::Always, 0, vec![])] } else { vec![] }
        })
        .map_err(SystemError::Runtime)?;
        Ok(SeedReport::from_run(out))
    }
}

fn spec() -> RunSpec {
    load("seed001_race.toml").run_spec(false)
}

fn db() -> SharedBackend {
    shared(Sqlite::memory().unwrap())
}

/// The first seed of `system` that violates `planted`, and its choices.
fn failing(system: &Planted) -> Vec<u64> {
    (0..10_000)
        .map(|seed| run_seed(system, &spec(), Oracle::random(seed), db()).unwrap())
        .find(|r| !r.violations.is_empty())
        .expect("some seed fails")
        .choices
}

#[test]
fn shrinking_reaches_the_known_minimum_of_a_planted_bug() {
    // Five choices of noise, then the bug: x ≥ 7 and a rare flag. Minimal: [0,0,0,0,0,7,1].
    let system = Planted(Arc::new(|o: &mut Oracle| {
        for _ in 0..5 {
            o.below(100);
        }
        let x = o.below(50);
        let flag = o.chance(200_000);
        x >= 7 && flag
    }));
    let start = failing(&system);
    assert!(start.iter().take(5).any(|&v| v > 0), "the failing seed has noise to remove: {start:?}");
    let a = shrink(&system, &spec(), db(), start.clone(), "planted", Budget::default()).unwrap();
    assert_eq!(a.choices, vec![0, 0, 0, 0, 0, 7, 1]);
    let b = shrink(&system, &spec(), db(), start, "planted", Budget::default()).unwrap();
    assert_eq!((a.choices, a.runs), (b.choices, b.runs), "shrinking is deterministic");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// The known minimum of any planted threshold bug, from whichever failing seed comes first
    /// after a random start: `noise` zeros, the threshold itself, the flag.
    #[test]
    fn shrinking_reaches_the_known_minimum_of_any_planted_threshold(
        noise in 0usize..6,
        threshold in 1u64..40,
        start in 0u64..1_000,
    ) {
        let system = Planted(Arc::new(move |o: &mut Oracle| {
            for _ in 0..noise {
                o.below(100);
            }
            let x = o.below(50);
            let flag = o.chance(300_000);
            x >= threshold && flag
        }));
        let failing = (start..start + 10_000)
            .map(|seed| run_seed(&system, &spec(), Oracle::random(seed), db()).unwrap())
            .find(|r| !r.violations.is_empty())
            .expect("some seed fails")
            .choices;
        let k = shrink(&system, &spec(), db(), failing, "planted", Budget::default()).unwrap();
        let mut minimum = vec![0; noise];
        minimum.extend([threshold, 1]);
        proptest::prop_assert_eq!(k.choices, minimum);
    }
}

#[test]
fn shrinking_drops_optional_load_and_shortens_the_list() {
    // Up to 8 optional items (kept in random runs); the bug needs two kept items whose sizes
    // add up to at least 10. Minimal: keep only the first two, sizes 0 and 10.
    let system = Planted(Arc::new(|o: &mut Oracle| {
        let items: Vec<u64> = (0..8).map(|_| (o.keep(), o.below(20))).filter(|(k, _)| *k).map(|(_, s)| s).collect();
        items.len() >= 2 && items[0] + items[1] >= 10
    }));
    let k = shrink(&system, &spec(), db(), failing(&system), "planted", Budget::default()).unwrap();
    assert_eq!(k.choices, vec![1, 0, 1, 10]);
}

#[test]
fn the_seed_001_race_shrinks_to_one_order_without_faults() {
    let s = load("seed001_race.toml");
    let system = s.build_system().unwrap();
    let summary = super::run("seed001_race.toml", None);
    let seed = summary.first_seed.expect("the race is found");
    let spec = s.run_spec(false);
    let first = run_seed(system.as_ref(), &spec, Oracle::random(seed), db()).unwrap();
    let k =
        shrink(system.as_ref(), &spec, db(), first.choices.clone(), "provider-paid-implies-paid", Budget::default())
            .unwrap();
    let events = &k.report.events;
    let charges = events.iter().filter(|e| e.text.starts_with("POST /snap/v1/transactions")).count();
    assert_eq!(charges, 1, "one order is enough for the race");
    assert!(events.iter().all(|e| e.kind != Kind::Fault), "no injected fault is needed");
    assert!(k.report.event_count * 4 < first.event_count, "{} → {}", first.event_count, k.report.event_count);
    // The steps that matter: the charge, the webhooks answered 200 without a row, the late
    // insert, the monitor's last read (it saw the payment stuck, and nothing acted), the
    // verdict — at most seven, and the race is among them.
    let story = settle::report::story::story(events, &k.report.violations);
    let text = story.render(events);
    assert!(story.steps.len() <= 7, "{text}");
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"));
    assert!(at("answering 200 anyway") < at("checkout.insert"), "the webhook is acknowledged before the insert");
    assert!(at("checkout.insert") < at("✗ VIOLATED eventually `provider-paid-implies-paid`"));
    assert_eq!(text.matches("monitor.stuck-payments").count(), 1, "only the monitor's last read:\n{text}");
    // The counterexample replays from its choices alone.
    let again = run_seed(system.as_ref(), &s.run_spec(true), Oracle::replay(k.choices.clone()), db()).unwrap();
    assert_eq!(again.events, k.report.events);
    assert!(again.violations.iter().any(|v| v.invariant == "provider-paid-implies-paid"));
}

/// Issue 11: a counterexample with a three-hour outage used to tell 61 steps, 45 of them the
/// same refused units; repeats now fold, and the job's last read — the query that no longer
/// selects the PAID row — is kept although it wrote nothing.
#[test]
fn the_long_outage_counterexample_reads_in_at_most_15_steps() {
    let s = load("recon_pending_only.toml");
    let system = s.build_system().unwrap();
    let spec = s.run_spec(false);
    let invariant = "provider-failed-implies-not-paid";
    let first = run_seed(system.as_ref(), &spec, Oracle::random(22), db()).unwrap();
    assert!(first.violations.iter().any(|v| v.invariant == invariant), "seed 22 fails");
    let k = shrink(system.as_ref(), &spec, db(), first.choices.clone(), invariant, Budget::default()).unwrap();
    let events = &k.report.events;
    assert!(events.iter().filter(|e| e.kind == Kind::Fault).count() > 15, "the outage refuses many units");
    let story = settle::report::story::story(events, &k.report.violations);
    let text = story.render(events);
    assert!(story.steps.len() <= 15, "{text}");
    assert!(text.contains("more like it, until"), "{text}");
    assert!(text.contains("giving up after 4 retries"), "the notification outlives its retries:\n{text}");
    let at = |needle: &str| text.rfind(needle).unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"));
    assert!(at("recon.select-pending: committed, 0 row(s) changed") < at("✗ VIOLATED"), "{text}");
}

#[test]
fn exhaustive_count_equals_the_hand_count() {
    // c0 ∈ {0,1}; when c0 = 1 a choice of 3; then a choice of 2. Depth 3 enumerates
    // c0 = 0: 2 schedules; c0 = 1: 3 × 2 = 6 schedules. Total 8. The bug: c0 = 1, middle 2.
    let system = Planted(Arc::new(|o: &mut Oracle| {
        let c0 = o.chance(500_000);
        let mid = if c0 { o.below(3) } else { 0 };
        let _last = o.below(2);
        c0 && mid == 2
    }));
    let x = explore(&system, &spec(), db(), Bounds { depth: 3, values: 3, max_runs: 1_000 }).unwrap();
    assert_eq!(x.schedules, 8);
    assert!(x.complete);
    let mut violating: Vec<Vec<u64>> = x.violating.iter().map(|v| v.choices.clone()).collect();
    violating.sort();
    assert_eq!(violating, vec![vec![1, 2], vec![1, 2, 1]]);
    // Depth 1 only branches on c0.
    assert_eq!(explore(&system, &spec(), db(), Bounds { depth: 1, values: 3, max_runs: 1_000 }).unwrap().schedules, 2);
    // The budget stops the walk and says so.
    let cut = explore(&system, &spec(), db(), Bounds { depth: 3, values: 3, max_runs: 5 }).unwrap();
    assert_eq!((cut.schedules, cut.complete), (5, false));
}

#[test]
fn exploration_finds_the_seed_001_race_with_certainty_and_none_in_the_fixed_design() {
    let explore_file = |name: &str, depth| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/explore").join(name);
        let s = scenario::load(&path).unwrap();
        let x = explore(
            s.build_system().unwrap().as_ref(),
            &s.run_spec(false),
            db(),
            Bounds { depth, values: 2, max_runs: 100_000 },
        )
        .unwrap();
        assert!(x.complete);
        x
    };
    let race = explore_file("race_small.toml", 8);
    assert!(race.violating.iter().any(|v| v.invariants.contains(&"provider-paid-implies-paid".to_string())));
    // Below the depth where the insert's delay and the payment's are both enumerated, no schedule
    // races: the count shows the enumeration is what finds it, not luck.
    assert!(explore_file("race_small.toml", 6).violating.is_empty());
    let fixed = explore_file("fixed_small.toml", 14);
    assert!(fixed.violating.is_empty(), "{:?}", fixed.violating.first());
    assert!(fixed.coverage.unreached().is_empty(), "the race and the repair are reached: {:?}", fixed.coverage);
    assert!(fixed.distinct_end_states > 1);
}

fn opts<'a>(jobs: usize, shard: Option<Shard>) -> RunOptions<'a> {
    RunOptions { jobs, shard, ..RunOptions::default() }
}

fn run_with(name: &str, count: u64, o: &RunOptions<'_>) -> Summary {
    let s = load(name);
    run_scenario_opts(
        &s,
        s.build_system().unwrap().as_ref(),
        name,
        SeedSelection::Range { start: 0, count },
        &Backends::Embedded,
        o,
    )
    .unwrap()
}

/// A summary's report with wall-clock time removed.
fn comparable(s: &Summary) -> json::ScenarioReport {
    let mut r = json::ScenarioReport::from_summary(s);
    r.elapsed_s = 0.0;
    r
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    for name in ["seed001_race.toml", "midtrans_fixed.toml"] {
        let one = run_with(name, 60, &opts(1, None));
        let two = run_with(name, 60, &opts(2, None));
        assert_eq!(comparable(&one), comparable(&two), "{name}");
        assert_eq!(one.first_choices, two.first_choices);
    }
}

#[test]
fn the_union_of_all_shards_is_the_full_run() {
    for name in ["seed001_race.toml", "double_fulfil.toml", "midtrans_fixed.toml"] {
        let full = run_with(name, 45, &opts(1, None));
        let parts: Vec<(String, json::RunReport)> = (1..=4)
            .map(|k| {
                let s = run_with(name, 45, &opts(1, Some(Shard { index: k, total: 4 })));
                let text = json::render(&[s]);
                (format!("shard-{k}.json"), json::parse(&text, "shard").unwrap())
            })
            .collect();
        let seeds: u64 = parts.iter().map(|(_, r)| r.scenarios[0].seeds.run).sum();
        assert_eq!(seeds, 45);
        let merged = json::merge(&parts).unwrap();
        let mut m = merged.scenarios[0].clone();
        m.elapsed_s = 0.0;
        let mut f = comparable(&full);
        f.shrunk = None;
        assert_eq!(m, f, "{name}");
        // A missing shard is an error, not a smaller verdict.
        let err = json::merge(&parts[1..]).unwrap_err().to_string();
        assert!(err.contains("missing shard(s) 1/4"), "{err}");
    }
}

#[test]
fn swarm_turns_faults_off_in_some_seeds_and_stays_deterministic() {
    let s = load("midtrans_fixed.toml");
    let system = s.build_system().unwrap();
    let mut spec = s.run_spec(true);
    spec.swarm = true;
    let mut off = 0;
    for seed in 0..40 {
        let a = run_seed(system.as_ref(), &spec, Oracle::random(seed), db()).unwrap();
        let plan = a.events.iter().find(|e| e.text.starts_with("plan: swarm:")).expect("the swarm plan is printed");
        off += usize::from(plan.text.contains("drop-request off"));
        let b = run_seed(system.as_ref(), &spec, Oracle::replay(a.choices.clone()), db()).unwrap();
        assert_eq!(a.events, b.events, "seed {seed} replays");
    }
    assert!((3..=20).contains(&off), "about a quarter of the seeds drop no request: {off}/40");
}
