//! The floor (issue 16 §1): a recorded seed's exact database work — the same reset, the same
//! units with the same statements and parameters, in the same order — run directly on embedded
//! SQLite with no simulator, network, oracle, trace or checker, beside the simulator running
//! the same seeds. What the floor leaves out, and so why it is a lower bound: see
//! `settle::store::recording`.
//!
//! Run with `cargo bench --bench floor`. Before criterion's figures it prints, per scenario, the
//! statements and units per seed and both rates over the same seeds, and their ratio.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the `settle` binary (src/main.rs)

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use settle::scenario;
use settle::sim::Oracle;
use settle::store::recording::{self, Op, Recording};
use settle::store::{shared, sqlite::Sqlite};

/// Seeds per scenario (`SETTLE_FLOOR_SEEDS` to change).
fn seeds() -> u64 {
    std::env::var("SETTLE_FLOOR_SEEDS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(128)
}

/// `SETTLE_FLOOR_SCENARIOS` (paths, separated by `:`) measures other scenarios instead.
fn bench(c: &mut Criterion) {
    let paths: Vec<PathBuf> = match std::env::var("SETTLE_FLOOR_SCENARIOS") {
        Ok(list) if !list.is_empty() => list.split(':').map(PathBuf::from).collect(),
        _ => ["midtrans_hour", "fanvue_fixed", "barbers_fixed"]
            .iter()
            .map(|n| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{n}.toml")))
            .collect(),
    };
    for path in paths {
        bench_scenario(c, &path);
    }
}

fn bench_scenario(c: &mut Criterion, path: &Path) {
    let seeds = seeds();
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_owned();
    let s = scenario::load(path).expect("scenario loads");
    let system = s.build_system().expect("the scenario builds");
    let spec = s.run_spec(false);

    // Each seed's database work, recorded from a real run.
    let logs: Vec<Vec<Op>> = (0..seeds)
        .map(|seed| {
            let (rec, log) = Recording::new(Sqlite::memory().expect("sqlite"));
            system.run(&spec, Oracle::random(seed), shared(rec)).expect("run");
            std::mem::take(&mut *log.lock().expect("log"))
        })
        .collect();
    let count = |f: fn(&Op) -> bool| logs.iter().flatten().filter(|o| f(o)).count() as f64 / seeds as f64;
    let statements = count(|o| matches!(o, Op::Execute { .. } | Op::Query { .. }));
    let transactions = count(|o| matches!(o, Op::Begin));

    let backend = shared(Sqlite::memory().expect("sqlite"));
    let mut floor = Sqlite::memory().expect("sqlite");
    // Both once over every seed, timed over the same seeds, after one warm-up pass each.
    let sim_pass = || {
        let t = Instant::now();
        for seed in 0..seeds {
            system.run(&spec, Oracle::random(seed), backend.clone()).expect("run");
        }
        t.elapsed().as_secs_f64()
    };
    let mut floor_pass = || {
        let t = Instant::now();
        for ops in &logs {
            recording::replay(&mut floor, ops).expect("the floor replays");
        }
        t.elapsed().as_secs_f64()
    };
    sim_pass();
    floor_pass();
    let (sim_s, floor_s) = (sim_pass(), floor_pass());
    eprintln!(
        "{name}: {statements:.0} statements and {transactions:.0} transactions per seed; simulator {:.0} seeds/s, floor {:.0} seeds/s: \
         the simulator takes {:.2}x the floor",
        seeds as f64 / sim_s,
        seeds as f64 / floor_s,
        sim_s / floor_s
    );

    let mut group = c.benchmark_group(format!("floor/{name}"));
    group.throughput(Throughput::Elements(1));
    let mut seed = 0u64;
    group.bench_function("simulator seeds", |b| {
        b.iter(|| {
            seed = (seed + 1) % seeds;
            system.run(&spec, Oracle::random(seed), backend.clone()).expect("run")
        })
    });
    let mut i = 0usize;
    group.bench_function("floor seeds", |b| {
        b.iter(|| {
            i = (i + 1) % logs.len();
            recording::replay(&mut floor, &logs[i]).expect("the floor replays")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
