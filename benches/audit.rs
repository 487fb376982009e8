//! `settle audit` against the plain SQL query doing the same checks, on a SQLite file of N orders
//! (`SETTLE_AUDIT_BENCH_ROWS`, default 1,000,000; the 10 million:
//! `SETTLE_AUDIT_BENCH_ROWS=10000000 cargo bench --bench audit`, ≈ 2 GB of disk in the temp dir).
//! 1 order in 1000 is planted with a disagreeing payment, so both sides find the same rows
//! (asserted). The file is built once per N and reused (`settle-audit-bench-N.db` in the temp dir).
//!
//! - `settle_audit_internal`: the audit without an export (prefiltered), session included.
//! - `plain_sql`: the plain query a person would write; the target is ≤ 1.2× this.
//! - `plain_sql_one_count`: the same with the fulfilment count evaluated once per row, as the
//!   prefilter does it, to show what the audit costs on top of the best plain query.
//!
//! Up to 1,000,000 orders also (minutes each on 10 million):
//! - `settle_audit_unfiltered`: every row read into Rust, as before the prefilter.
//! - `settle_audit_with_export`: with the provider's truth for every order, where every row is
//!   read (`settle-audit-bench-N.provider.jsonl`, built once, loaded outside the timing).
//!
//! `SETTLE_AUDIT_BENCH_PAIRS=8 cargo bench --bench audit` runs, instead of criterion, 8 pairs of
//! `plain_sql` and `settle_audit_with_export` back to back (the order alternated) and prints each
//! pair's ratio and their median: on a shared machine whose speed drifts between criterion's
//! groups, the pairs compare the two under the same conditions.

#[global_allocator]
static GLOBAL: settle::alloc::Mimalloc = settle::alloc::Mimalloc; // as the `settle` binary (src/main.rs)

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use settle::audit::export::{Truths, sorted::ExportFile};
use settle::audit::midtrans_orders::pass::Pass;
use settle::audit::midtrans_orders::{self as mo, Settings};
use settle::audit::{self, Options, Session};
use settle::store::Backend;
use settle::store::sqlite::Sqlite;
use settle::systems::midtrans_orders::MIGRATIONS;

/// The audit's "now": the first order's creation, so no pending order is stuck.
const AS_OF: i64 = 1_769_094_000_000;

fn build(n: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("settle-audit-bench-{n}.db"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let conn = rusqlite::Connection::open(&tmp).expect("open");
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").expect("pragmas");
    conn.execute_batch(MIGRATIONS[0].sqlite).expect("schema");
    conn.execute_batch("BEGIN").expect("begin");
    {
        let mut o = conn.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, 10000, ?4, ?5, ?5)").expect("prep");
        let mut p = conn
            .prepare("INSERT INTO order_payments VALUES (?1, ?1, 't', 'qris', ?2, 'x', 10000, ?3, ?4, ?4)")
            .expect("prep");
        let mut f = conn
            .prepare("INSERT INTO fulfilments (order_id, source, created_at) VALUES (?1, 'webhook', ?2)")
            .expect("prep");
        for i in 0..n as i64 {
            let code = format!("ZVR-{i:010}");
            let created = 1_769_094_000_000 + i;
            let paid = i % 3 != 0;
            let (status, paid_at) = if paid { ("PAID", Some(created + 1000)) } else { ("PENDING", None) };
            // 1 in 1000: the payment disagrees (seed 001's split update).
            let pstatus = if i % 1000 == 7 { "EXPIRED" } else { status };
            let ppaid = if pstatus == "PAID" { paid_at } else { None };
            o.execute(rusqlite::params![i, code, status, paid_at, created]).expect("order");
            p.execute(rusqlite::params![i, pstatus, ppaid, created]).expect("payment");
            if paid {
                f.execute(rusqlite::params![i, created]).expect("fulfilment");
            }
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
    drop(conn);
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

/// The provider's truth for the orders of [`build`]: paid orders settled, the others pending.
fn build_export(n: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("settle-audit-bench-{n}.provider-v2.jsonl"));
    if path.exists() {
        return path;
    }
    // The header `settle export-midtrans` writes: its period, and that it is sorted.
    let header = settle::audit::export::Header {
        settle_export: 1,
        from: Some(1_769_094_000_000),
        until: Some(1_769_094_000_000 + n as i64 + 1000),
        lines: n,
        sorted: true,
    };
    let mut text = header.line();
    text.reserve(n as usize * 100);
    for i in 0..n as i64 {
        let status = if i % 3 != 0 { "settlement" } else { "pending" };
        let time = 1_769_094_000_000 + i + 1000;
        text += &format!(
            "{{\"order_id\":\"ZVR-{i:010}\",\"status\":\"{status}\",\"gross_amount\":\"100.00\",\"time\":{time}}}\n"
        );
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the export");
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

/// The plain query a person would write for the same checks the internal pass makes.
const PLAIN: &str = "SELECT o.order_code FROM orders o LEFT JOIN order_payments p ON p.order_id = o.id \
    WHERE (p.payment_status IS NOT NULL AND p.payment_status <> o.status) \
    OR ((o.status = 'PAID') <> (o.paid_at IS NOT NULL)) \
    OR (p.payment_status IS NOT NULL AND (p.payment_status = 'PAID') <> (p.paid_at IS NOT NULL)) \
    OR (SELECT COUNT(*) FROM fulfilments f WHERE f.order_id = o.id) > 1 \
    OR (o.status = 'PAID' AND (SELECT COUNT(*) FROM fulfilments f WHERE f.order_id = o.id) <> 1) \
    OR (COALESCE(p.payment_status, o.status) = 'PENDING' AND COALESCE(p.created_at, o.created_at) < ?1)";

/// [`PLAIN`] with the fulfilment count evaluated once per row, as the audit's prefilter does it:
/// the best plain query, to show what the audit itself costs on top.
const PLAIN_ONE_COUNT: &str = "SELECT o.order_code FROM orders o LEFT JOIN order_payments p ON p.order_id = o.id \
    WHERE (p.payment_status IS NOT NULL AND p.payment_status <> o.status) \
    OR ((o.status = 'PAID') <> (o.paid_at IS NOT NULL)) \
    OR (p.payment_status IS NOT NULL AND (p.payment_status = 'PAID') <> (p.paid_at IS NOT NULL)) \
    OR (COALESCE(p.payment_status, o.status) = 'PENDING' AND COALESCE(p.created_at, o.created_at) < ?1) \
    OR (SELECT COUNT(*) FROM fulfilments f WHERE f.order_id = o.id) \
       NOT BETWEEN (CASE WHEN o.status = 'PAID' THEN 1 ELSE 0 END) AND 1";

/// Above this many orders only the two sides of the target run: the others take minutes there.
const FULL_MAX: u64 = 1_000_000;

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("SETTLE_AUDIT_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let path = build(n);
    let url = format!("sqlite://{}", path.display());
    let opts = Options { as_of: Some(AS_OF), ..Options::default() };
    let settings = Settings { as_of: Some(AS_OF), ..Settings::default() };
    let expected = audit::audit("midtrans-orders", &url, &opts).expect("audit");
    let mut group = c.benchmark_group(format!("audit_{n}_rows"));
    group.sample_size(10);
    group.bench_function("settle_audit_internal", |b| {
        b.iter(|| audit::audit("midtrans-orders", &url, &opts).expect("audit").total())
    });
    let plain = |sql: &str| {
        let mut db = Sqlite::read_only(&path).expect("open");
        db.begin().expect("begin");
        let rows = db.query(sql, &[(AS_OF - 1_800_000).into()]).expect("query");
        db.rollback().expect("rollback");
        rows.len()
    };
    assert_eq!(plain(PLAIN) as u64, expected.total(), "both sides find the same rows");
    // With the provider's truth: every order is read, merged with the export streamed from disk
    // in the same order (opening it reads only its header).
    let with_export = |path: &std::path::Path| {
        let export = ExportFile::open(path).expect("export");
        mo::audit_with(&url, &settings, Some(&export as &dyn Truths)).expect("audit").total()
    };
    if let Some(pairs) = std::env::var("SETTLE_AUDIT_BENCH_PAIRS").ok().and_then(|v| v.parse::<usize>().ok()) {
        let path = build_export(n);
        paired(pairs, &|| plain(PLAIN) as u64, &|| with_export(&path), expected.total());
        return;
    }
    group.bench_function("plain_sql", |b| b.iter(|| plain(PLAIN)));
    group.bench_function("plain_sql_one_count", |b| b.iter(|| plain(PLAIN_ONE_COUNT)));
    if n <= FULL_MAX {
        // The pass before the prefilter, every row read into Rust: what the prefilter saves.
        group.bench_function("settle_audit_unfiltered", |b| {
            b.iter(|| {
                let mut session = Session::open(&url).expect("open");
                let mut r = mo::report(&session.shown, None);
                mo::run(session.backend(), &settings, None, "bench", &mut r, Pass::Unfiltered).expect("pass");
                session.close().expect("close");
                r.total()
            })
        });
        let path = build_export(n);
        group.bench_function("settle_audit_with_export", |b| b.iter(|| with_export(&path)));
    }
    group.finish();
    eprintln!("audit found {} violation(s) in {n} orders", expected.total());
}

/// `pairs` runs of `plain` and `audit` back to back, the order alternated; prints each pair's
/// times and ratio, then the median ratio. Both must find `found` rows.
fn paired(pairs: usize, plain: &dyn Fn() -> u64, audit: &dyn Fn() -> u64, found: u64) {
    let time = |f: &dyn Fn() -> u64| {
        let start = std::time::Instant::now();
        assert_eq!(f(), found, "both sides find the same rows");
        start.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::new();
    for i in 0..pairs.max(1) {
        let (p, a) = if i % 2 == 0 {
            let p = time(plain);
            (p, time(audit))
        } else {
            let a = time(audit);
            (time(plain), a)
        };
        ratios.push(a / p);
        eprintln!("pair {i}: plain_sql {p:.3} s, settle_audit_with_export {a:.3} s, ratio {:.2}", a / p);
    }
    ratios.sort_by(f64::total_cmp);
    let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
    eprintln!("median ratio {:.2} over {} pairs (from {lo:.2} to {hi:.2})", ratios[ratios.len() / 2], ratios.len());
}

criterion_group!(benches, bench);
criterion_main!(benches);
