//! Throughput of the simulator: seeds per second on the one-hour reference scenario (10
//! orders, every fault on, embedded SQLite), and the cost per simulated event; the same for
//! seed 002's fixed design (`fanvue_fixed`: three creators, 1 h 45 m, every fault on).
//!
//! Run with `cargo bench`. Each iteration runs one seed; seeds rotate so that the measurement
//! covers a spread of fault plans rather than one.

#[global_allocator]
static GLOBAL: settle::alloc::Mimalloc = settle::alloc::Mimalloc; // as the `settle` binary (src/main.rs)

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use settle::scenario;
use settle::sim::Oracle;
use settle::store::{shared, sqlite::Sqlite};

fn bench(c: &mut Criterion) {
    bench_scenario(c, "midtrans_hour");
    bench_scenario(c, "fanvue_fixed");
}

fn bench_scenario(c: &mut Criterion, name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let s = scenario::load(&path).expect("scenario loads");
    let system = s.build_system().expect("the scenario builds");
    let spec = s.run_spec(false);
    let backend = shared(Sqlite::memory().expect("sqlite"));

    // Average events per seed over the seeds the benchmark rotates through.
    const SEEDS: u64 = 256;
    let events: u64 =
        (0..SEEDS).map(|seed| system.run(&spec, Oracle::random(seed), backend.clone()).expect("run").event_count).sum();
    let per_seed = events / SEEDS;

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut seed = 0u64;
    group.bench_function("seeds", |b| {
        b.iter(|| {
            seed = (seed + 1) % SEEDS;
            system.run(&spec, Oracle::random(seed), backend.clone()).expect("run")
        })
    });
    group.throughput(Throughput::Elements(per_seed));
    group.bench_function(format!("events ({per_seed} per seed)"), |b| {
        b.iter(|| {
            seed = (seed + 1) % SEEDS;
            system.run(&spec, Oracle::random(seed), backend.clone()).expect("run")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
