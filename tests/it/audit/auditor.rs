//! The auditor's case from issue 17, as a test: a Go shop's own schema — `shop_orders` keyed by
//! `id` with a `code`, `state` in the shop's words (waiting/paid/cancelled/expired/refunded),
//! `total_idr` in whole rupiah, TIMESTAMPTZ times; `midtrans_payments` keyed by `order_code`
//! holding Midtrans's own words with `fraud_status`; `shipments` by `order_id`; a sync log — with
//! 2,000 orders in legitimate states (bank transfers inside their 24 h, a card under fraud review,
//! refunds and chargebacks keeping their paid time, a QRIS minutes old, an order paid minutes ago
//! and not shipped yet) and 17 planted problems, described by one mapping file with
//! schema-qualified tables and a status vocabulary per table, audited read-only against an export
//! converted by `settle export-midtrans` from saved status-API answers, one saved 404 answer and
//! JSON Lines webhook logs whose same-time settlement and refund come in the wrong order.
//!
//! It checks the exact findings, and nothing on the legitimate states; the allowlist; the report's
//! zone, currency, grouping, fixes, inputs and CSV; `--explain` before and after the index the
//! count of shipments wants; an export covering only the last three days (no flood); and the
//! mapping mistakes that must stop the audit (no vocabulary, whole rupiah read as minor units, a
//! column that does not exist). On PostgreSQL and MariaDB (when their URLs are set) and SQLite.

use std::collections::BTreeSet;
use std::path::Path;

use settle::audit::time::Zone;
use settle::providers::midtrans::notification::format_time;
use settle::store::sqlite::Sqlite;
use settle::store::{Backend, BackendKind};

use super::{connect, namespace, temp_dir};
use crate::{settle, text};

/// 2026-01-22T16:00:00Z (23:00 in Jakarta): the audit's as-of.
const AS_OF: i64 = 1_769_097_600_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const ORDERS: i64 = 2000;

/// One order as planted: its row, its payment, shipments, sync log and what Midtrans says.
#[derive(Clone, Debug)]
struct Order {
    id: i64,
    code: String,
    state: &'static str,
    total_idr: i64,
    paid_at: Option<i64>,
    created: i64,
    /// (transaction_status, fraud_status, payment_type, paid_at)
    payment: (&'static str, Option<&'static str>, &'static str, Option<i64>),
    shipments: i64,
    /// (old, new, at)
    log: Vec<(&'static str, &'static str, i64)>,
    /// Midtrans: (status, fraud, time of that status, gross in whole rupiah); `None`: no payload.
    midtrans: Option<(&'static str, Option<&'static str>, i64, i64)>,
}

fn code(id: i64) -> String {
    format!("SHOP-{id:05}")
}

/// An order of the clean kind `i % 20` (see the module documentation).
fn clean(id: i64) -> Order {
    let i = id - 1;
    let created = AS_OF - 7 * DAY + i * 5 * MIN;
    let total = 50_000 + (i % 37) * 1_000;
    let paid_at = created + 2 * MIN;
    let base = Order {
        id,
        code: code(id),
        state: "paid",
        total_idr: total,
        paid_at: Some(paid_at),
        created,
        payment: ("settlement", None, "bank_transfer", Some(paid_at)),
        shipments: 1,
        log: vec![("waiting", "paid", paid_at)],
        midtrans: Some(("settlement", None, paid_at, total)),
    };
    match i % 20 {
        11 if i % 40 == 11 => {
            // Paid five minutes ago, not shipped yet: a shop at work.
            let (created, paid_at) = (AS_OF - 8 * MIN, AS_OF - 5 * MIN);
            Order {
                created,
                paid_at: Some(paid_at),
                payment: ("settlement", None, "qris", Some(paid_at)),
                shipments: 0,
                log: vec![("waiting", "paid", paid_at)],
                midtrans: Some(("settlement", None, paid_at, total)),
                ..base
            }
        }
        0..=11 => {
            let method = ["bank_transfer", "qris", "gopay", "credit_card"][(i % 4) as usize];
            if method == "credit_card" {
                Order {
                    payment: ("capture", Some("accept"), method, Some(paid_at)),
                    midtrans: Some(("capture", Some("accept"), paid_at, total)),
                    ..base
                }
            } else {
                Order { payment: ("settlement", None, method, Some(paid_at)), ..base }
            }
        }
        12 | 13 => Order {
            state: "expired",
            paid_at: None,
            payment: ("expire", None, "qris", None),
            shipments: 0,
            log: vec![("waiting", "expired", created + 15 * MIN)],
            midtrans: Some(("expire", None, created, total)),
            ..base
        },
        14 => Order {
            state: "cancelled",
            paid_at: None,
            payment: ("cancel", None, "credit_card", None),
            shipments: 0,
            log: vec![("waiting", "cancelled", created + 5 * MIN)],
            midtrans: Some(("cancel", None, created, total)),
            ..base
        },
        15 => Order {
            state: "refunded",
            payment: ("refund", None, "gopay", Some(paid_at)),
            log: vec![("waiting", "paid", paid_at), ("paid", "refunded", paid_at + HOUR)],
            midtrans: Some(("refund", None, paid_at, total)),
            ..base
        },
        16 => Order {
            state: "refunded",
            payment: ("chargeback", Some("accept"), "credit_card", Some(paid_at)),
            log: vec![("waiting", "paid", paid_at), ("paid", "refunded", paid_at + HOUR)],
            midtrans: Some(("chargeback", Some("accept"), paid_at, total)),
            ..base
        },
        17 => {
            // A bank transfer inside its 24 hours.
            let created = AS_OF - HOUR - (i % 7) * 3 * HOUR;
            Order {
                state: "waiting",
                paid_at: None,
                created,
                payment: ("pending", None, "bank_transfer", None),
                shipments: 0,
                log: vec![],
                midtrans: Some(("pending", None, created, total)),
                ..base
            }
        }
        18 => {
            // A card held for fraud review.
            let created = AS_OF - 6 * HOUR;
            Order {
                state: "waiting",
                paid_at: None,
                created,
                payment: ("capture", Some("challenge"), "credit_card", None),
                shipments: 0,
                log: vec![],
                midtrans: Some(("capture", Some("challenge"), created, total)),
                ..base
            }
        }
        _ => {
            let created = AS_OF - 10 * MIN;
            Order {
                state: "waiting",
                paid_at: None,
                created,
                payment: ("pending", None, "qris", None),
                shipments: 0,
                log: vec![],
                midtrans: Some(("pending", None, created, total)),
                ..base
            }
        }
    }
}

/// The 17 planted problems, each replacing a clean order (ids 1001–1017); the last one is a
/// payment Midtrans has for an order the shop does not.
fn planted() -> Vec<Order> {
    let paid = |id: i64, created: i64| {
        let p = created + 3 * MIN;
        Order {
            id,
            code: code(id),
            state: "paid",
            total_idr: 150_000,
            paid_at: Some(p),
            created,
            payment: ("settlement", None, "qris", Some(p)),
            shipments: 1,
            log: vec![("waiting", "paid", p)],
            midtrans: Some(("settlement", None, p, 150_000)),
        }
    };
    let waiting = |id: i64, created: i64, method: &'static str| Order {
        state: "waiting",
        paid_at: None,
        payment: ("pending", None, method, None),
        shipments: 0,
        log: vec![],
        midtrans: Some(("pending", None, created, 150_000)),
        ..paid(id, created)
    };
    let c = |hours: i64| AS_OF - hours * HOUR;
    vec![
        // 1. Seed 001's incident: Midtrans settled, the webhook was lost; a QRIS 5 h old.
        Order { midtrans: Some(("settlement", None, c(5) + MIN, 150_000)), ..waiting(1001, c(5), "qris") },
        // 2. Expired, and shipped anyway.
        Order {
            state: "expired",
            paid_at: None,
            payment: ("expire", None, "qris", None),
            log: vec![("waiting", "expired", c(30) + 15 * MIN)],
            midtrans: Some(("expire", None, c(30), 150_000)),
            ..paid(1002, c(30))
        },
        // 3. Midtrans expired a bank transfer; the shop still waits.
        Order { midtrans: Some(("expire", None, c(30), 150_000)), ..waiting(1003, c(30), "bank_transfer") },
        // 4. Paid in the shop; Midtrans expired it.
        Order { midtrans: Some(("expire", None, c(48), 150_000)), ..paid(1004, c(48)) },
        // 5. Midtrans charged 145,000; the shop says 150,000 (four days old).
        Order { midtrans: Some(("settlement", None, c(96) + 3 * MIN, 145_000)), ..paid(1005, c(96)) },
        // 6. Paid without a paid time on the order.
        Order { paid_at: None, ..paid(1006, c(40)) },
        // 7. The order says paid, its payment still pending (a split update).
        Order { payment: ("pending", None, "qris", None), ..paid(1007, c(60)) },
        // 8. Shipped twice.
        Order { shipments: 2, ..paid(1008, c(20)) },
        // 9. Paid two days ago, never shipped (allowlisted: shipped by hand).
        Order { shipments: 0, ..paid(1009, c(50)) },
        // 10. Paid, then a stale notification set it back to expired.
        Order {
            state: "expired",
            paid_at: None,
            payment: ("expire", None, "qris", None),
            log: vec![("waiting", "paid", c(10) + 3 * MIN), ("paid", "expired", c(10) + 20 * MIN)],
            shipments: 0,
            ..paid(1010, c(10))
        },
        // 12. Paid in the shop; Midtrans has no such transaction.
        Order { midtrans: None, ..paid(1012, c(24)) },
        // 13. Refunded at Midtrans; the shop still says paid.
        Order { midtrans: Some(("refund", None, c(30) + 3 * MIN, 150_000)), ..paid(1013, c(30)) },
        // 14. A card captured and accepted; the order still waits.
        Order {
            payment: ("capture", Some("accept"), "credit_card", Some(c(7) + MIN)),
            midtrans: Some(("capture", Some("accept"), c(7) + MIN, 150_000)),
            ..waiting(1014, c(7), "credit_card")
        },
        // 15. A pending bank transfer (2 h old) with a paid time.
        Order { payment: ("pending", None, "bank_transfer", Some(c(1))), ..waiting(1015, c(2), "bank_transfer") },
        // 16. Cancelled, and shipped anyway.
        Order {
            state: "cancelled",
            paid_at: None,
            payment: ("cancel", None, "credit_card", None),
            log: vec![("waiting", "cancelled", c(26))],
            midtrans: Some(("cancel", None, c(26), 150_000)),
            ..paid(1016, c(26))
        },
        // 17. A GoPay payment stuck for 3 h, unknown to the export.
        Order { midtrans: None, ..waiting(1017, c(3), "gopay") },
    ]
}

/// (invariant, order) of every finding the planted problems must give, and nothing else.
fn expected() -> BTreeSet<(String, String)> {
    [
        ("pending-not-stuck", 1001),
        ("provider-paid-implies-paid", 1001),
        ("fulfilled-at-most-once", 1002),
        ("provider-ended-implies-not-pending", 1003),
        ("pending-not-stuck", 1003),
        ("paid-only-if-provider-paid", 1004),
        ("amount-matches-provider", 1005),
        ("paid-at-iff-paid", 1006),
        ("order-payment-agree", 1007),
        ("pending-not-stuck", 1007),
        ("fulfilled-at-most-once", 1008),
        ("paid-fulfilled-once", 1008),
        ("paid-fulfilled-once", 1009),
        ("paid-never-regresses", 1010),
        ("provider-paid-implies-paid", 1010),
        ("provider-paid-implies-paid", 9999),
        ("paid-only-if-provider-paid", 1012),
        ("paid-only-if-provider-paid", 1013),
        ("order-payment-agree", 1014),
        ("provider-paid-implies-paid", 1014),
        ("paid-at-iff-paid", 1015),
        ("fulfilled-at-most-once", 1016),
        ("pending-not-stuck", 1017),
    ]
    .into_iter()
    .map(|(i, id)| (i.to_string(), code(id)))
    .collect()
}

fn orders() -> Vec<Order> {
    let mut all: Vec<Order> = (1..=ORDERS).map(clean).collect();
    for p in planted() {
        let i = (p.id - 1) as usize;
        all[i] = p;
    }
    all
}

/// A time as the backend's SQL literal.
fn at(kind: BackendKind, ms: i64) -> String {
    let iso = Zone::default().iso(ms);
    match kind {
        BackendKind::Postgres => format!("'{}+00'", iso.trim_end_matches('Z').replace('T', " ")),
        BackendKind::Mysql => format!("'{}'", iso.trim_end_matches('Z').replace('T', " ")),
        BackendKind::Sqlite => format!("'{iso}'"),
    }
}

/// The shop's tables in `ns` (a PostgreSQL schema, a MariaDB database, SQLite's `main`), filled.
fn shop(db: &mut dyn Backend, ns: &str, orders: &[Order], shipments_index: bool) {
    let kind = db.kind();
    let (ts, num) = match kind {
        BackendKind::Postgres => ("TIMESTAMPTZ", "NUMERIC(14,2)"),
        BackendKind::Mysql => ("TIMESTAMP(3) NULL DEFAULT NULL", "DECIMAL(14,2)"),
        BackendKind::Sqlite => ("TEXT", "NUMERIC"),
    };
    if kind == BackendKind::Mysql {
        db.execute("SET time_zone = '+00:00'", &[]).unwrap();
    }
    let mut sql = vec![
        format!(
            "CREATE TABLE {ns}.shop_orders (id BIGINT NOT NULL PRIMARY KEY, code VARCHAR(40) NOT NULL UNIQUE, \
             state VARCHAR(16) NOT NULL, total_idr BIGINT NOT NULL, paid_at {ts}, created_at {ts})"
        ),
        format!(
            "CREATE TABLE {ns}.midtrans_payments (id BIGINT NOT NULL PRIMARY KEY, order_code VARCHAR(40) NOT NULL UNIQUE, \
             transaction_status VARCHAR(24) NOT NULL, fraud_status VARCHAR(16) NULL, payment_type VARCHAR(24) NOT NULL, \
             gross_amount {num} NOT NULL, paid_at {ts}, created_at {ts})"
        ),
        format!(
            "CREATE TABLE {ns}.shipments (id BIGINT NOT NULL PRIMARY KEY, order_id BIGINT NOT NULL, shipped_at {ts})"
        ),
        format!(
            "CREATE TABLE {ns}.payment_sync_log (id BIGINT NOT NULL PRIMARY KEY, order_code VARCHAR(40) NOT NULL, \
             old_state VARCHAR(16) NULL, new_state VARCHAR(16) NULL, logged_at {ts})"
        ),
        format!("CREATE INDEX sync_log_by_code ON {ns}.payment_sync_log (order_code)"),
    ];
    if kind == BackendKind::Sqlite {
        // SQLite names the schema on the index, not on its table.
        sql.pop();
        sql.push("CREATE INDEX main.sync_log_by_code ON payment_sync_log (order_code)".into());
    }
    if shipments_index {
        sql.push(shipments_index_sql(kind, ns));
    }
    let t = |ms: Option<i64>| ms.map_or("NULL".to_string(), |ms| at(kind, ms));
    let q = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("'{s}'"));
    let (mut o, mut p, mut s, mut l) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for x in orders {
        let (st, fr, method, ppaid) = x.payment;
        o.push(format!(
            "({}, '{}', '{}', {}, {}, {})",
            x.id,
            x.code,
            x.state,
            x.total_idr,
            t(x.paid_at),
            t(Some(x.created))
        ));
        p.push(format!(
            "({}, '{}', '{st}', {}, '{method}', {}.00, {}, {})",
            x.id,
            x.code,
            q(fr),
            x.total_idr,
            t(ppaid),
            t(Some(x.created))
        ));
        for n in 0..x.shipments {
            s.push(format!("({}, {}, {})", x.id * 10 + n, x.id, t(Some(x.created + HOUR))));
        }
        for (n, (old, new, when)) in x.log.iter().enumerate() {
            l.push(format!("({}, '{}', '{old}', '{new}', {})", x.id * 10 + n as i64, x.code, t(Some(*when))));
        }
    }
    for (table, rows) in [("shop_orders", o), ("midtrans_payments", p), ("shipments", s), ("payment_sync_log", l)] {
        for chunk in rows.chunks(200) {
            sql.push(format!("INSERT INTO {ns}.{table} VALUES {}", chunk.join(", ")));
        }
    }
    for stmt in sql {
        db.execute(&stmt, &[]).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
}

fn shipments_index_sql(kind: BackendKind, ns: &str) -> String {
    match kind {
        BackendKind::Sqlite => "CREATE INDEX main.shipments_by_order ON shipments (order_id)".into(),
        _ => format!("CREATE INDEX shipments_by_order ON {ns}.shipments (order_id)"),
    }
}

/// The auditor's mapping for tables in `ns`.
fn mapping(ns: &str) -> String {
    format!(
        r#"# The shop's schema, as the auditor describes it.
[currency]
code = "IDR"
exponent = 2

[types]
times = "timestamp"
amounts = "major"

[orders]
table = "{ns}.shop_orders"
id = "id"
code = "code"
status = "state"
paid_at = "paid_at"
created_at = "created_at"
amount = "total_idr"

[orders.states]
pending = ["waiting"]
paid = ["paid"]
cancelled = ["cancelled"]
expired = ["expired"]
refunded = ["refunded"]

[order_payments]
table = "{ns}.midtrans_payments"
order_id = "order_code"
references = "code"
status = "transaction_status"
fraud_status = "fraud_status"
payment_method = "payment_type"
paid_at = "paid_at"
created_at = "created_at"
gross_amount = "gross_amount"
states = "midtrans"

[fulfilments]
table = "{ns}.shipments"
order_id = "order_id"

[payment_sync_logs]
table = "{ns}.payment_sync_log"
order_code = "order_code"
old_status = "old_state"
new_status = "new_state"
created_at = "logged_at"
"#
    )
}

/// A saved Midtrans status-API answer (or notification body) for `o`.
fn payload(o: &Order, status: &str, fraud: Option<&str>, time: i64, gross: i64) -> String {
    let code = match status {
        "pending" | "authorize" => "201",
        "expire" | "cancel" | "deny" | "failure" => "202",
        _ => "200",
    };
    let mut v = serde_json::json!({
        "transaction_time": format_time(o.created as u64),
        "transaction_status": status,
        "transaction_id": format!("tx-{}", o.id),
        "status_code": code,
        "signature_key": "saved",
        "payment_type": o.payment.2,
        "order_id": o.code,
        "gross_amount": format!("{gross}.00"),
        "currency": "IDR",
    });
    if let Some(f) = fraud {
        v["fraud_status"] = f.into();
    }
    if matches!(status, "settlement" | "capture" | "refund" | "chargeback") {
        v["settlement_time"] = format_time(time as u64).into();
    }
    v.to_string()
}

/// Saves what the auditor saved for `orders` in `dir`: a status-API answer per order, a JSON
/// Lines webhook log per refunded order (its refund and, at the same second but later in the
/// file, its settlement), the payment the shop does not have, and one 404 answer.
fn save_payloads(dir: &Path, orders: &[Order], with_unknown_order: bool) -> Vec<String> {
    let mut files = Vec::new();
    for o in orders {
        let Some((status, fraud, time, gross)) = o.midtrans else { continue };
        let path = if matches!(status, "refund" | "chargeback") {
            let path = dir.join(format!("{}.jsonl", o.code));
            let earlier = payload(o, "settlement", None, time, gross);
            let log = format!("{}\n{}\n", payload(o, status, fraud, time, gross), earlier);
            std::fs::write(&path, log).unwrap();
            path
        } else {
            let path = dir.join(format!("{}.json", o.code));
            std::fs::write(&path, payload(o, status, fraud, time, gross)).unwrap();
            path
        };
        files.push(path.display().to_string());
    }
    if with_unknown_order {
        let ghost = Order { code: code(9999), created: AS_OF - DAY, ..clean(9999) };
        let path = dir.join("SHOP-09999.json");
        std::fs::write(&path, payload(&ghost, "settlement", None, AS_OF - DAY + MIN, 75_000)).unwrap();
        files.push(path.display().to_string());
    }
    let missing = dir.join("SHOP-04040.json");
    std::fs::write(&missing, r#"{"status_code":"404","status_message":"Transaction doesn't exist.","id":"x"}"#)
        .unwrap();
    files.push(missing.display().to_string());
    files
}

/// `settle export-midtrans FILES…` into `out`; returns its stderr.
fn export_midtrans(files: &[String], out: &Path) -> String {
    let args: Vec<&str> = std::iter::once("export-midtrans").chain(files.iter().map(String::as_str)).collect();
    let o = settle(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    std::fs::write(out, &o.stdout).unwrap();
    text(&o.stderr)
}

fn found(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["invariant"].as_str().unwrap().to_string(), v["key"].as_str().unwrap().to_string()))
        .collect()
}

fn audit(url: &str, extra: &[&str]) -> std::process::Output {
    let as_of = Zone::default().iso(AS_OF);
    let base = ["audit", "--system", "midtrans-orders", "--db", url, "--as-of", &as_of];
    settle(&[&base[..], extra].concat())
}

/// The whole case on the database at `url`, whose tables go in `ns`.
fn auditor_case(url: &str, ns: &str, db: &mut dyn Backend) {
    let kind = db.kind();
    let all = orders();
    shop(db, ns, &all, false);
    let dir = temp_dir();
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(p("mapping.toml"), mapping(ns)).unwrap();
    let allow = "[[allow]]\norder = \"SHOP-01009\"\ninvariant = \"paid-fulfilled-once\"\n\
                 reason = \"shipped by hand; courier receipt 77\"\n";
    std::fs::write(p("allow.toml"), allow).unwrap();
    let saved = dir.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let stderr = export_midtrans(&save_payloads(&saved, &all, true), &dir.join("provider.jsonl"));
    assert!(stderr.contains("skipped 1"), "{stderr}");
    assert!(
        stderr.contains("SHOP-04040.json:1: a status-API error answer (404: Transaction doesn't exist.)"),
        "{stderr}"
    );

    // Before the index on shipments: --explain says it is missing, and what to run.
    let explain = audit(url, &["--mapping", &p("mapping.toml"), "--explain"]);
    let out = text(&explain.stdout);
    assert_eq!(explain.status.code(), Some(0), "{}", text(&explain.stderr));
    assert!(out.contains("shipments (order_id): missing"), "{out}");
    assert!(out.contains("1 missing"), "{out}");
    db.execute(&shipments_index_sql(kind, ns), &[]).unwrap();
    let out = text(&audit(url, &["--mapping", &p("mapping.toml"), "--explain"]).stdout);
    assert!(out.contains("0 missing") && out.contains("✓"), "{out}");

    let args = [
        "--mapping",
        &p("mapping.toml"),
        "--provider-export",
        &p("provider.jsonl"),
        "--allowlist",
        &p("allow.toml"),
        "--tz",
        "Asia/Jakarta",
    ];
    let json = audit(url, &[&args[..], &["--format", "json", "--csv", &p("findings.csv")]].concat());
    assert_eq!(json.status.code(), Some(1), "{}", text(&json.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let mut want = expected();
    assert!(want.remove(&("paid-fulfilled-once".to_string(), code(1009))));
    assert_eq!(found(&doc), want, "{doc:#}");
    assert_eq!(doc["checked"], ORDERS, "{doc:#}");
    assert_eq!(doc["allowed"][0]["key"], code(1009));
    assert_eq!(doc["allowed"][0]["allowed_because"], "shipped by hand; courier receipt 77");
    // The legitimate states were seen, and none was a finding.
    for state in ["challenge (fraud review)", "refunded", "charged back", "pending, within its method's expiry"] {
        assert!(doc["states"][state].as_u64().unwrap_or(0) > 0, "{state}: {doc:#}");
    }
    // What the audit read is in the report.
    let digest = settle::check::mapping::digest(&mapping(ns));
    assert!(doc["inputs"]["mapping"].as_str().unwrap().contains(&digest), "{doc:#}");
    assert_eq!(doc["inputs"]["as of"], "2026-01-22T23:00:00+07:00");
    // Every order Midtrans knows, and the payment the shop does not have.
    let lines = all.iter().filter(|o| o.midtrans.is_some()).count() + 1;
    let covers = format!("{lines} line(s) from 2026-01-15T23:00:00+07:00 to ");
    assert!(doc["inputs"]["provider export covers"].as_str().unwrap().starts_with(&covers), "{doc:#}");
    assert!(doc["inputs"]["expiry per payment method"].as_str().unwrap().contains("bank_transfer 1d"), "{doc:#}");
    let csv = std::fs::read_to_string(p("findings.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + want.len() + 1, "{csv}");
    assert!(csv.starts_with("order,invariant,finding,fix,allowed_because\r\nSHOP-01001,"), "{csv}");

    // The human report: Jakarta times, rupiah, one group per order, the fix.
    let human = text(&audit(url, &args).stdout);
    assert!(human.contains("as of 2026-01-22T23:00:00+07:00"), "{human}");
    assert!(human.contains("the provider charged IDR 145,000.00, the order says IDR 150,000.00"), "{human}");
    let group = &human[human.find("✗ SHOP-01003\n").expect("grouped per order")..];
    assert!(group.contains("provider-ended-implies-not-pending: the provider says expire since "), "{human}");
    assert!(group.contains("fix: mark the order expired as the provider says"), "{human}");
    assert!(human.contains("still says waiting"), "{human}");
    assert!(!human.contains("Some(") && !human.contains("None"), "{human}");

    // An export of the last three days only: nothing is missing from it outside that period.
    let recent: Vec<Order> = all.iter().filter(|o| o.created >= AS_OF - 3 * DAY).cloned().collect();
    let part = dir.join("part");
    std::fs::create_dir_all(&part).unwrap();
    export_midtrans(&save_payloads(&part, &recent, true), &dir.join("recent.jsonl"));
    let out = audit(url, &[&args[..2], &["--provider-export", &p("recent.jsonl"), "--format", "json"]].concat());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want = expected();
    // Order 1005 (four days old) is outside the export; its amount cannot be compared.
    assert!(want.remove(&("amount-matches-provider".to_string(), code(1005))));
    assert_eq!(found(&doc), want, "{doc:#}");
    assert!(doc["inputs"]["orders before or after the export's period"].as_str().unwrap().contains("not compared"));

    // Mapping mistakes stop the audit before any finding, naming the entry.
    let bad = |name: &str, text_: String| {
        std::fs::write(p(name), text_).unwrap();
        let out = audit(url, &["--mapping", &p(name), "--provider-export", &p("provider.jsonl")]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.stdout.is_empty(), "{name}: nothing half-written");
        text(&out.stderr)
    };
    let no_words = mapping(ns).replace("[orders.states]\npending = [\"waiting\"]\npaid = [\"paid\"]\ncancelled = [\"cancelled\"]\nexpired = [\"expired\"]\nrefunded = [\"refunded\"]\n", "");
    let e = bad("no_words.toml", no_words);
    assert!(e.contains(&format!("{}:10:2 (orders.states)", p("no_words.toml"))), "{e}");
    assert!(e.contains("hold status words orders.states does not name: \"cancelled\""), "{e}");
    let minor = mapping(ns).replace("amount = \"total_idr\"", "amount = \"total_idr\"\namounts = \"minor\"");
    let e = bad("minor.toml", minor);
    assert!(e.contains("the database's amounts are 100× too small on"), "{e}");
    let typo = mapping(ns).replace("status = \"state\"", "status = \"status\"");
    let e = bad("typo.toml", typo);
    assert!(
        e.contains(&format!("{}:14:10 (orders.status): the database refused this mapping entry", p("typo.toml"))),
        "{e}"
    );
}

#[test]
fn the_auditors_case_on_sqlite() {
    let path = temp_dir().join("shop.db");
    let mut db = Sqlite::file(&path).unwrap();
    auditor_case(&format!("sqlite://{}", path.display()), "main", &mut db);
}

fn on_server(var: &str) {
    let Some(base) = crate::server_url(var) else { return };
    let ns = namespace(&base);
    auditor_case(&ns.url, &ns.name.clone(), connect(&ns.url).as_mut());
}

#[test]
fn the_auditors_case_on_postgres() {
    on_server("SETTLE_TEST_POSTGRES_URL");
}

#[test]
fn the_auditors_case_on_mariadb() {
    on_server("SETTLE_TEST_MYSQL_URL");
}
