//! `settle audit --system stripe-barbers`: databases kept by `settle replay --keep-db` of
//! violating barbers seeds are audited and their violation reported, a clean one reports
//! nothing, and bad mappings and export lines exit 2 naming the file and line. On PostgreSQL and
//! MariaDB (when `SETTLE_TEST_POSTGRES_URL` / `SETTLE_TEST_MYSQL_URL` are set) the kept databases,
//! copied into a private schema/database, give the same findings.

use std::path::{Path, PathBuf};

use super::temp_dir;
use crate::{settle, text};

fn keep(dir: &Path, scenario: &str, seed: &str) -> PathBuf {
    let db = dir.join(format!("{scenario}-{seed}.db"));
    let file = format!("scenarios/barbers_{scenario}.toml");
    let out = settle(&["replay", &file, "--seed", seed, "--keep-db", db.to_str().unwrap(), "--force"]);
    assert!(text(&out.stdout).contains("settle audit --system stripe-barbers"), "{}", text(&out.stdout));
    db
}

fn audit(db: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let url = format!("sqlite://{}", db.display());
    let export = format!("{}.provider.jsonl", db.display());
    let args =
        [&["audit", "--system", "stripe-barbers", "--db", &url, "--provider-export", &export][..], extra].concat();
    let out = settle(&[&args[..], &["--format", "json"]].concat());
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
    (out.status.code(), doc)
}

fn count(doc: &serde_json::Value, invariant: &str) -> u64 {
    doc["counts"][invariant].as_u64().unwrap_or_else(|| panic!("{invariant} not in {doc}"))
}

#[test]
fn kept_barbers_databases_are_audited_and_their_violation_reported() {
    let dir = temp_dir();
    // The double booking the read-then-claim flaw makes stops the run: the kept database holds it.
    let (code, doc) = audit(&keep(&dir, "read_then_claim", "0"), &[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(count(&doc, "one-live-booking-per-slot"), 1, "{doc}");
    assert_eq!(doc["violations"][0]["key"], "slot 203", "{doc}");
    // The blind manual button: an appointment paid that Stripe never took.
    let (code, doc) = audit(&keep(&dir, "manual_blind", "0"), &[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(count(&doc, "paid-only-if-stripe-paid"), 1, "{doc}");
    // Holds never freed: found once the audit's clock is past them (the run ended at 03:00).
    let leaky = keep(&dir, "never_free", "0");
    let (code, doc) = audit(&leaky, &[]);
    assert_eq!((code, count(&doc, "no-slot-leak")), (Some(0), 0), "the database's newest time is before the grace");
    let (code, doc) = audit(&leaky, &["--as-of", "1970-01-01T03:00:00Z"]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(count(&doc, "no-slot-leak"), 2, "{doc}");
}

#[test]
fn a_clean_barbers_database_reports_nothing_until_a_paid_booking_is_cancelled() {
    let dir = temp_dir();
    let db = keep(&dir, "fixed", "1");
    let (code, doc) = audit(&db, &[]);
    assert_eq!(code, Some(0), "{doc}");
    assert!(doc["export_lines"].as_u64().unwrap() > 0, "{doc}");
    // A legal combination, but Stripe took the money (longer than the grace ago): the shared
    // money check finds it, and the slot left booked under no live booking.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let oldest = "(SELECT id FROM bookings WHERE status = 'CONFIRMED' ORDER BY updated_at LIMIT 1)";
    let n =
        conn.execute(&format!("UPDATE appointments SET status = 'cancelled' WHERE booking_id = {oldest}"), []).unwrap();
    assert_eq!(n, 1);
    let n = conn
        .execute(
            &format!("UPDATE bookings SET status = 'CANCELLED', payment_status = 'unpaid' WHERE id = {oldest}"),
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let (code, doc) = audit(&db, &[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(count(&doc, "stripe-paid-eventually-confirmed"), 1, "{doc}");
    assert_eq!(count(&doc, "is-booked-iff-live"), 1, "{doc}");
    assert_eq!(count(&doc, "booking-appointment-agree"), 0, "{doc}");
}

#[test]
fn bad_barbers_mappings_and_export_lines_exit_2_naming_file_and_line() {
    let dir = temp_dir();
    let db = keep(&dir, "fixed", "1");
    let url = format!("sqlite://{}", db.display());
    let run = |extra: &[&str]| {
        let out = settle(&[&["audit", "--system", "stripe-barbers", "--db", &url][..], extra].concat());
        (out.status.code(), text(&out.stderr))
    };
    let mapping = dir.join("m.toml");
    std::fs::write(&mapping, "[bookings]\nstatus = \"state\"\nsession = \"x\"\n").unwrap();
    let (code, err) = run(&["--mapping", mapping.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("m.toml:3"), "{err}");
    assert!(err.contains("session"), "{err}");
    std::fs::write(&mapping, "[bookings]\nstatus = \"state\"\n").unwrap();
    let (code, err) = run(&["--mapping", mapping.to_str().unwrap()]);
    assert_eq!(code, Some(4), "a column the database lacks is named by the database: {err}");
    assert!(err.contains("state"), "{err}");

    let export = dir.join("x.jsonl");
    let stripe = r#"{"provider":"stripe","order_id":"1","status":"succeeded","amount":3500,"time":1}"#;
    let midtrans = r#"{"order_id":"2","status":"settlement","gross_amount":"35.00","time":1}"#;
    std::fs::write(&export, format!("{stripe}\n{midtrans}\n")).unwrap();
    let (code, err) = run(&["--provider-export", export.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("x.jsonl:2") && err.contains("Midtrans line"), "{err}");
    std::fs::write(&export, format!("{stripe}\n{{\"provider\":\"stripe\",\"order_id\":\"3\"\n")).unwrap();
    let (code, err) = run(&["--provider-export", export.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("x.jsonl:2"), "{err}");
}

/// The kept SQLite database `from`, copied table by table into the server namespace at `url`
/// (seed 004's migration applied there first).
fn copy_to_server(from: &Path, url: &str) {
    use settle::store::Value;
    let mut db = super::connect(url);
    // Comments go first: the migration's own comments hold semicolons.
    let script = settle::systems::stripe_barbers::MIGRATIONS[0].sql_for(db.kind());
    let script: String = script.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for sql in script.split(';').filter(|s| !s.trim().is_empty()) {
        db.execute(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let conn = rusqlite::Connection::open(from).unwrap();
    for table in ["barbers", "slots", "bookings", "appointments"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let insert = format!("INSERT INTO {table} VALUES ({})", vec!["?"; n].join(", "));
        let rows: Vec<Vec<Value>> = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Integer(v) => Value::Int(v),
                            rusqlite::types::Value::Text(t) => Value::Text(t),
                            _ => Value::Null,
                        })
                    })
                    .collect()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for row in rows {
            db.execute(&insert, &row).unwrap_or_else(|e| panic!("{insert}: {e}"));
        }
    }
}

fn on_server(var: &str) {
    let Some(base) = crate::server_url(var) else { return };
    let dir = temp_dir();
    for (scenario, invariant, found) in [("read_then_claim", "one-live-booking-per-slot", 1), ("fixed", "", 0)] {
        let kept = keep(&dir, scenario, if found == 0 { "1" } else { "0" });
        let ns = super::namespace(&base);
        copy_to_server(&kept, &ns.url);
        let export = format!("{}.provider.jsonl", kept.display());
        let out = settle(&[
            "audit",
            "--system",
            "stripe-barbers",
            "--db",
            &ns.url,
            "--provider-export",
            &export,
            "--format",
            "json",
        ]);
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
        assert_eq!(out.status.code(), Some(if found == 0 { 0 } else { 1 }), "{scenario}: {doc}");
        if found > 0 {
            assert_eq!(count(&doc, invariant), found, "{scenario}: {doc}");
        }
    }
}

#[test]
fn the_barbers_audit_finds_the_same_on_postgres() {
    on_server("SETTLE_TEST_POSTGRES_URL");
}

#[test]
fn the_barbers_audit_finds_the_same_on_mysql() {
    on_server("SETTLE_TEST_MYSQL_URL");
}
