//! `settle audit`: planted violations found with their row keys on every backend, nothing in a
//! clean database, no writes possible, and exit codes for bad input and unreachable servers.
//! PostgreSQL and MySQL run when `SETTLE_TEST_POSTGRES_URL` / `SETTLE_TEST_MYSQL_URL` are set;
//! their fixtures live in a private `settle_audit_<pid>_<n>` schema/database, dropped afterwards.

mod auditor;
mod barbers;
mod prefilter;
mod security;
mod stripe;
mod types;

use super::{settle, text};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use settle::audit::export::Truths;
use settle::audit::midtrans_orders::{self as mo, Settings};
use settle::audit::{self, Session, export};
use settle::store::sqlite::Sqlite;
use settle::store::{Backend, BackendKind, connect_url};
use settle::systems::midtrans_orders::MIGRATIONS;

const AS_OF: i64 = 10_000_000;

pub fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("settle-audit-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (code, order status, order paid_at, payment status, payment paid_at, created_at, fulfilments)
type Order = (&'static str, &'static str, Option<i64>, &'static str, Option<i64>, i64, i64);

const CLEAN: &[Order] = &[
    ("A-OK", "PAID", Some(9_100_000), "PAID", Some(9_100_000), 9_000_000, 1),
    ("G-LATE", "PENDING", None, "PENDING", None, 9_950_000, 0),
];

const PLANTED: &[Order] = &[
    ("B-AGREE", "PAID", Some(9_900_000), "PENDING", None, 9_900_000, 1),
    ("C-PAIDAT", "PENDING", Some(5), "PENDING", None, 9_900_000, 0),
    ("D-STUCK", "PENDING", None, "PENDING", None, 1_000_000, 0),
    ("E-REGRESS", "EXPIRED", None, "EXPIRED", None, 9_000_000, 0),
    ("F-MISSED", "PENDING", None, "PENDING", None, 9_900_000, 0),
    ("H-UNPAID", "PAID", Some(9_000_000), "PAID", Some(9_000_000), 9_000_000, 1),
    ("I-AMOUNT", "PAID", Some(9_000_000), "PAID", Some(9_000_000), 9_000_000, 1),
    ("J-TWICE", "PAID", Some(9_000_000), "PAID", Some(9_000_000), 9_000_000, 2),
];

const CLEAN_EXPORT: &str = r#"{"order_id":"A-OK","status":"settlement","gross_amount":"100.00","time":9100000}
{"order_id":"G-LATE","status":"settlement","gross_amount":"100.00","time":9990000}
"#;

const PLANTED_EXPORT: &str = r#"{"order_id":"B-AGREE","status":"settlement","gross_amount":"100.00","time":9000000}
{"order_id":"C-PAIDAT","status":"pending","gross_amount":"100.00","time":9900000}
{"order_id":"D-STUCK","status":"pending","gross_amount":"100.00","time":1000000}
{"order_id":"E-REGRESS","status":"expire","gross_amount":"100.00","time":9000000}
{"order_id":"F-MISSED","status":"capture","fraud_status":"accept","gross_amount":"100.00","time":8000000}
{"order_id":"H-UNPAID","status":"expire","gross_amount":"100.00","time":1000000}
{"order_id":"I-AMOUNT","status":"settlement","gross_amount":"99.00","time":9000000}
{"order_id":"J-TWICE","status":"settlement","gross_amount":"100.00","time":9000000}
{"order_id":"K-NOROW","status":"settlement","gross_amount":"5.00","time":1000}
"#;

fn expected_planted() -> BTreeSet<(String, String)> {
    [
        ("order-payment-agree", "B-AGREE"),
        ("paid-at-iff-paid", "C-PAIDAT"),
        ("pending-not-stuck", "D-STUCK"),
        ("paid-never-regresses", "E-REGRESS"),
        ("provider-paid-implies-paid", "F-MISSED"),
        ("provider-paid-implies-paid", "K-NOROW"),
        ("paid-only-if-provider-paid", "H-UNPAID"),
        ("amount-matches-provider", "I-AMOUNT"),
        ("fulfilled-at-most-once", "J-TWICE"),
        ("paid-fulfilled-once", "J-TWICE"),
    ]
    .into_iter()
    .map(|(i, k)| (i.to_string(), k.to_string()))
    .collect()
}

/// Creates seed 001's tables on `db` and inserts `orders` (each 100.00 = 10000 minor units).
fn fixture(db: &mut dyn Backend, orders: &[Order], regress: bool) {
    for stmt in MIGRATIONS[0].sql_for(db.kind()).split(';') {
        let sql: String = stmt.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        if !sql.trim().is_empty() {
            db.execute(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    for (i, &(code, status, paid_at, pstatus, ppaid, created, fulfilments)) in orders.iter().enumerate() {
        let id = i as i64 + 1;
        db.execute(
            "INSERT INTO orders (id, order_code, status, total_amount, paid_at, created_at, updated_at) VALUES (?, ?, ?, 10000, ?, ?, ?)",
            &[id.into(), code.into(), status.into(), paid_at.into(), created.into(), created.into()],
        )
        .unwrap();
        db.execute(
            "INSERT INTO order_payments (id, order_id, transaction_id, payment_method, payment_status, provider_status, gross_amount, paid_at, created_at, updated_at) VALUES (?, ?, 't', 'qris', ?, 'x', 10000, ?, ?, ?)",
            &[id.into(), id.into(), pstatus.into(), ppaid.into(), created.into(), created.into()],
        )
        .unwrap();
        for _ in 0..fulfilments {
            db.execute(
                "INSERT INTO fulfilments (order_id, source, created_at) VALUES (?, 'webhook', ?)",
                &[id.into(), created.into()],
            )
            .unwrap();
        }
        let (old, new) = if regress && code == "E-REGRESS" { ("PAID", "EXPIRED") } else { ("PENDING", "PENDING") };
        db.execute(
            "INSERT INTO payment_sync_logs (order_code, sync_type, provider_status, old_status, new_status, outcome, created_at) VALUES (?, 'webhook', 'x', ?, ?, 'applied', ?)",
            &[code.into(), old.into(), new.into(), created.into()],
        )
        .unwrap();
    }
}

fn sqlite_fixture(orders: &[Order]) -> (PathBuf, String) {
    let path = temp_dir().join("shop.db");
    let mut db = Sqlite::file(&path).unwrap();
    fixture(&mut db, orders, true);
    drop(db);
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

fn settings() -> Settings {
    Settings { as_of: Some(AS_OF), ..Settings::default() }
}

fn found(r: &audit::Report) -> BTreeSet<(String, String)> {
    r.violations.iter().map(|f| (f.invariant.clone(), f.key.clone())).collect()
}

/// The planted and clean fixtures on `url` (a database holding seed 001's tables).
fn planted_and_clean(planted_url: &str, clean_url: &str) {
    let planted = export::parse(PLANTED_EXPORT, "planted.jsonl").unwrap();
    let r = mo::audit_with(planted_url, &settings(), Some(&planted as &dyn Truths)).unwrap();
    assert_eq!(found(&r), expected_planted(), "{}", r.human());
    assert_eq!(r.total(), 10, "{}", r.human());
    assert_eq!(r.checked, PLANTED.len() as u64);
    // Without the export: only the internal invariants.
    let r = mo::audit_with(planted_url, &settings(), None).unwrap();
    let internal: BTreeSet<_> =
        expected_planted().into_iter().filter(|(i, _)| !i.starts_with("provider") && !i.contains("provider")).collect();
    assert_eq!(found(&r), internal, "{}", r.human());
    let clean = export::parse(CLEAN_EXPORT, "clean.jsonl").unwrap();
    let r = mo::audit_with(clean_url, &settings(), Some(&clean as &dyn Truths)).unwrap();
    assert_eq!(r.total(), 0, "{}", r.human());
    assert_eq!(r.checked, 2);
}

/// A write through the audit's session fails, and nothing changed.
fn refuses_to_write(url: &str) {
    let mut s = Session::open(url).unwrap();
    let before = s.backend().query("SELECT COUNT(*) FROM fulfilments", &[]).unwrap()[0].int(0).unwrap();
    let write =
        s.backend().execute("INSERT INTO fulfilments (order_id, source, created_at) VALUES (1, 'audit', 1)", &[]);
    assert!(write.is_err(), "the read-only session wrote: {write:?}");
    drop(s);
    let mut s = Session::open(url).unwrap();
    let after = s.backend().query("SELECT COUNT(*) FROM fulfilments", &[]).unwrap()[0].int(0).unwrap();
    assert_eq!(before, after);
    s.close().unwrap();
}

#[test]
fn audit_finds_planted_violations_and_nothing_in_a_clean_sqlite_database() {
    let (_p, planted) = sqlite_fixture(PLANTED);
    let (_c, clean) = sqlite_fixture(CLEAN);
    planted_and_clean(&planted, &clean);
}

#[test]
fn the_audit_session_refuses_to_write_on_sqlite() {
    let (_p, url) = sqlite_fixture(PLANTED);
    refuses_to_write(&url);
}

/// A private namespace on a server, dropped when done.
pub struct Namespace {
    admin: Box<dyn Backend>,
    drop_sql: String,
    pub url: String,
    /// The schema (PostgreSQL) or database (MySQL) name.
    pub name: String,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.admin.execute(&self.drop_sql, &[]);
    }
}

/// An empty private namespace on the server at `base`.
pub fn namespace(base: &str) -> Namespace {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("settle_audit_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut admin = connect(base);
    let (create, drop_sql, url) = match admin.kind() {
        BackendKind::Postgres => {
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("CREATE SCHEMA {name}"),
                format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
                format!("{base}{sep}options=-c%20search_path%3D{name}"),
            )
        }
        _ => {
            let root = base.split('?').next().unwrap();
            let root = &root[..root.rfind('/').unwrap()];
            (format!("CREATE DATABASE {name}"), format!("DROP DATABASE IF EXISTS {name}"), format!("{root}/{name}"))
        }
    };
    admin.execute(&create, &[]).unwrap();
    Namespace { admin, drop_sql, url, name }
}

/// A private namespace holding seed 001's tables with `orders`.
fn seeded_namespace(base: &str, orders: &[Order]) -> Namespace {
    let ns = namespace(base);
    fixture(connect(&ns.url).as_mut(), orders, true);
    ns
}

/// A connection of its own to `url`.
pub fn connect(url: &str) -> Box<dyn Backend> {
    connect_url(url).map(|b| std::sync::Arc::try_unwrap(b).ok().unwrap().into_inner().unwrap()).unwrap()
}

fn on_server(var: &str) {
    let Some(base) = crate::server_url(var) else { return };
    let planted = seeded_namespace(&base, PLANTED);
    let clean = seeded_namespace(&base, CLEAN);
    planted_and_clean(&planted.url, &clean.url);
    refuses_to_write(&planted.url);
}

#[test]
fn audit_finds_planted_violations_and_refuses_to_write_on_postgres() {
    on_server("SETTLE_TEST_POSTGRES_URL");
}

#[test]
fn audit_finds_planted_violations_and_refuses_to_write_on_mysql() {
    on_server("SETTLE_TEST_MYSQL_URL");
}

#[test]
fn cli_audit_exits_1_with_violations_as_json_and_0_when_clean() {
    let dir = temp_dir();
    let (_p, planted) = sqlite_fixture(PLANTED);
    let export = dir.join("planted.jsonl");
    std::fs::write(&export, PLANTED_EXPORT).unwrap();
    let args = ["audit", "--system", "midtrans-orders", "--db", &planted, "--as-of", "10000000", "--format", "json"];
    let out = settle(&[&args[..], &["--provider-export", export.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["counts"]["provider-paid-implies-paid"], 2);
    assert_eq!(doc["violations"].as_array().unwrap().len(), 10);

    let (_c, clean) = sqlite_fixture(CLEAN);
    let out = settle(&["audit", "--system", "midtrans-orders", "--db", &clean, "--as-of", "1970-01-01T02:46:40Z"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("0 violation(s)"), "{}", text(&out.stdout));
}

#[test]
fn an_unreachable_server_exits_4_without_the_password() {
    let out = settle(&["audit", "--system", "midtrans-orders", "--db", "postgres://auditor:s3cr3t@127.0.0.1:1/shop"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(stderr.contains("postgres://auditor:***@127.0.0.1:1/shop"), "{stderr}");
}

#[test]
fn bad_database_urls_and_in_memory_sqlite_exit_2() {
    for url in ["sqlite::memory:", "sqlite:/no/such/file.db", "redis://u:pw@x/0"] {
        let out = settle(&["audit", "--system", "midtrans-orders", "--db", url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains(":pw@"));
    }
    let (_p, url) = sqlite_fixture(CLEAN);
    let unknown = settle(&["audit", "--system", "stripe-bookings", "--db", &url]);
    assert_eq!(unknown.status.code(), Some(2));
    let known: Vec<&str> = audit::SYSTEMS.iter().map(|(name, _)| *name).collect();
    let registry = settle::systems::Registry::builtin();
    let want = format!("--system stripe-bookings: unknown system, expected one of: {}", registry.names().join(", "));
    assert!(text(&unknown.stderr).contains(&want), "{}", text(&unknown.stderr));
    assert!(known.contains(&"midtrans-orders"), "{known:?}");
    assert_eq!(settle(&["audit", "--system", "midtrans-orders", "--db", &url, "--grace", "5"]).status.code(), Some(2));
}

#[test]
fn a_malformed_export_line_exits_2_naming_file_and_line() {
    let (_p, url) = sqlite_fixture(CLEAN);
    let export = temp_dir().join("bad.jsonl");
    let bad = CLEAN_EXPORT.to_string()
        + "\n{\"order_id\":\"X\",\"status\":\"settlement\",\"gross_amount\":10000,\"time\":1}\n";
    std::fs::write(&export, bad).unwrap();
    let out =
        settle(&["audit", "--system", "midtrans-orders", "--db", &url, "--provider-export", export.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:4: ", export.display())), "{stderr}");
}

#[test]
fn a_bad_mapping_exits_2_naming_file_line_and_column() {
    let (_p, url) = sqlite_fixture(CLEAN);
    let mapping = temp_dir().join("mapping.toml");
    std::fs::write(&mapping, "[orders]\ntable = \"orders\"\nstatus = \"status; DROP TABLE orders\"\n").unwrap();
    let out = settle(&["audit", "--system", "midtrans-orders", "--db", &url, "--mapping", mapping.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:10: ", mapping.display())), "{stderr}");
    // The shipped example is the default, and works.
    let ok = settle(&[
        "audit",
        "--system",
        "midtrans-orders",
        "--db",
        &url,
        "--mapping",
        "examples/audit/seed001_mapping.toml",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
}

#[test]
fn replay_keep_db_gives_a_database_whose_audit_finds_the_seed_violation() {
    let db = temp_dir().join("seed26.db");
    let db_s = db.to_str().unwrap();
    let keep = ["replay", "scenarios/seed001_race.toml", "--seed", "26", "--keep-db", db_s];
    let out = settle(&keep);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("kept: "), "{}", text(&out.stdout));
    let again = settle(&keep);
    assert_eq!(again.status.code(), Some(2), "refuses to overwrite");
    assert_eq!(settle(&[&keep[..], &["--force"]].concat()).status.code(), Some(0));
    let export = format!("{db_s}.provider.jsonl");
    let url = format!("sqlite://{db_s}");
    let out = settle(&[
        "audit",
        "--system",
        "midtrans-orders",
        "--db",
        &url,
        "--provider-export",
        &export,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hit = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["invariant"] == "provider-paid-implies-paid" && v["key"] == "ZVR-20260122-26A6A057");
    assert!(hit, "{doc:#}");
}

#[test]
fn export_midtrans_converts_saved_payloads_latest_status_wins() {
    let dir = temp_dir();
    let one = dir.join("one.json");
    let many = dir.join("many.json");
    let n = |id: &str, status: &str, fraud: &str, time: &str| {
        format!(
            r#"{{"transaction_time":"{time}","transaction_status":"{status}","status_code":"200","signature_key":"x","order_id":"{id}","gross_amount":"10000.00"{fraud}}}"#
        )
    };
    std::fs::write(&one, n("O-1", "pending", "", "2026-01-22 22:00:00")).unwrap();
    let arr = format!(
        "[{},{}]",
        n("O-1", "capture", r#","fraud_status":"accept""#, "2026-01-22 22:01:00"),
        n("O-2", "expire", "", "2026-01-22 22:00:00")
    );
    std::fs::write(&many, arr).unwrap();
    let out = settle(&["export-midtrans", one.to_str().unwrap(), many.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let e = export::parse(&text(&out.stdout), "stdout").unwrap();
    assert!(e.entries["O-1"].paid());
    assert_eq!(e.entries["O-1"].time, 1_769_094_060_000);
    assert_eq!(e.entries["O-2"].amount, 1_000_000);
    // An unusable payload is skipped and counted; with --strict it stops the conversion.
    std::fs::write(&one, "{\"order_id\": 5}").unwrap();
    let skipped = settle(&["export-midtrans", one.to_str().unwrap(), many.to_str().unwrap()]);
    assert_eq!(skipped.status.code(), Some(0), "{}", text(&skipped.stderr));
    let stderr = text(&skipped.stderr);
    assert!(stderr.contains("converted 2 payload(s) from 2 file(s) into 2 order(s); skipped 1"), "{stderr}");
    assert!(stderr.contains(&format!("skipped {}:1: not a Midtrans payload", one.display())), "{stderr}");
    let bad = settle(&["export-midtrans", "--strict", one.to_str().unwrap(), many.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty(), "nothing half-written");
    assert!(
        text(&bad.stderr).contains(&format!("{}:1: not a Midtrans payload", one.display())),
        "{}",
        text(&bad.stderr)
    );
}

/// A webhook log (JSON Lines) with a settlement and a refund of the same second: the refund
/// wins whichever comes last in the file, and a saved 404 answer is skipped and counted.
#[test]
fn export_midtrans_reads_webhook_logs_and_orders_same_time_payloads_by_status() {
    let dir = temp_dir();
    let n = |id: &str, status: &str| {
        format!(
            r#"{{"transaction_time":"2026-01-22 22:00:00","settlement_time":"2026-01-22 22:05:00","transaction_status":"{status}","status_code":"200","signature_key":"x","order_id":"{id}","gross_amount":"10000.00"}}"#
        )
    };
    for (name, first, second) in [("a.jsonl", "refund", "settlement"), ("b.jsonl", "settlement", "refund")] {
        let log = dir.join(name);
        std::fs::write(&log, format!("{}\n\n{}\n", n("R-1", first), n("R-1", second))).unwrap();
        let missing = dir.join("404.json");
        std::fs::write(&missing, r#"{"status_code":"404","status_message":"Transaction doesn't exist."}"#).unwrap();
        let out = settle(&["export-midtrans", log.to_str().unwrap(), missing.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let e = export::parse(&text(&out.stdout), "stdout").unwrap();
        assert_eq!(e.entries["R-1"].describe(), "refund", "{name}");
        assert!(text(&out.stderr).contains("a status-API error answer (404: Transaction doesn't exist.)"));
        let header = e.header.expect("a header line");
        assert_eq!((header.lines, header.sorted, header.from), (1, true, Some(1_769_094_000_000)));
    }
}

/// `settle audit --system fanvue-revenue` on databases kept from simulated seeds of seed 002:
/// the duplicates `no-unique` stored are found, a clean run is clean, and a `revenue_total`
/// planted off by one cent is found.
#[test]
fn fanvue_audit_finds_duplicates_and_wrong_totals_in_kept_databases() {
    let dir = temp_dir();
    let keep = |scenario: &str, seed: &str, name: &str| {
        let db = dir.join(name);
        let out = settle(&["replay", scenario, "--seed", seed, "--keep-db", db.to_str().unwrap(), "--force"]);
        assert!(text(&out.stdout).contains("--system fanvue-revenue"), "{}", text(&out.stdout));
        db
    };
    let audit = |db: &PathBuf| {
        let url = format!("sqlite://{}", db.display());
        settle(&["audit", "--system", "fanvue-revenue", "--db", &url, "--format", "json"])
    };
    let dup = keep("scenarios/fanvue_no_unique.toml", "0", "fv-dup.db");
    let out = audit(&dup);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["counts"]["no-duplicate-transactions"].as_u64().unwrap() >= 1, "{doc}");

    let clean = keep("scenarios/fanvue_fixed.toml", "1", "fv-clean.db");
    assert_eq!(audit(&clean).status.code(), Some(0), "{}", text(&audit(&clean).stdout));

    let conn = rusqlite::Connection::open(&clean).unwrap();
    conn.execute("UPDATE models SET revenue_total = revenue_total + 1 WHERE id = (SELECT MIN(id) FROM models)", [])
        .unwrap();
    drop(conn);
    let out = audit(&clean);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["counts"]["revenue-total-matches"], 1, "{doc}");
    assert_eq!(doc["counts"]["no-duplicate-transactions"], 0, "{doc}");

    let url = format!("sqlite://{}", clean.display());
    let refused = settle(&["audit", "--system", "fanvue-revenue", "--db", &url, "--provider-export", "x.jsonl"]);
    assert_eq!(refused.status.code(), Some(2));
}
