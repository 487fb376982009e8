//! `settle drive`: bad inputs give named errors and exit codes, and no process of the service is
//! left behind, whether the run fails or settle is interrupted. Services here are `sh`, `sleep`
//! and Python's `http.server` (skipped, with a message, without python3 except under `CI=true`);
//! the example shop's bug and fix run in `.ci/run` (they need PostgreSQL and pip packages).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{settle, skip, text};

/// A directory of its own for one test's files.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("settle-drive-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A drive file for `service` (the `[service]` keys) with `body` as the checkout template,
/// checking the SQLite database `db` through the seed-001 mapping.
fn drive_file(d: &std::path::Path, service: &str, body: &str, db: &str) -> PathBuf {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/audit/seed001_mapping.toml");
    let p = d.join("drive.toml");
    let text = format!(
        "[service]\n{service}\nhealth = \"/\"\nwebhook = \"/webhooks/midtrans\"\n\n\
         [checkout]\npath = \"/checkout\"\nbody = '{body}'\n\n\
         [check]\nmapping = \"{mapping}\"\ndatabase_url = \"sqlite://{db}\"\n\n[run]\ncustomers = 1\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Whether any process's command line contains `marker`.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(marker))
    })
}

#[test]
fn a_service_that_cannot_start_exits_5_naming_the_command() {
    let d = dir("nostart");
    let p = drive_file(&d, "command = [\"/nonexistent/settle-shop\"]", "{}", "x.db");
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("service `/nonexistent/settle-shop` did not start"), "{err}");
}

#[test]
fn a_service_that_exits_early_exits_5_with_the_end_of_its_log() {
    let d = dir("exits");
    let p = drive_file(&d, "command = [\"sh\", \"-c\", \"echo no database here >&2; exit 3\"]", "{}", "x.db");
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("the service exited"), "{err}");
    assert!(err.contains("no database here"), "{err}");
}

#[test]
fn a_service_never_healthy_exits_5_and_its_process_group_is_killed() {
    let d = dir("unhealthy");
    // The child of the shell is the marker: killing only the shell would leave it behind.
    let marker = format!("sleep 1{}.25", std::process::id() % 1000);
    let service = format!("command = [\"sh\", \"-c\", \"{marker}; true\"]\nstart_timeout = \"1s\"");
    let p = drive_file(&d, &service, "{}", "x.db");
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("never became healthy"), "{err}");
    assert!(!running(&marker), "`{marker}` outlived settle drive");
}

#[test]
fn sigterm_kills_the_service_group_and_exits_130() {
    let d = dir("sigterm");
    let marker = format!("sleep 2{}.5", std::process::id() % 1000);
    let service = format!("command = [\"sh\", \"-c\", \"{marker}; true\"]\nstart_timeout = \"60s\"");
    let p = drive_file(&d, &service, "{}", "x.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["drive", p.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if running(&marker) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(running(&marker), "the service never started");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!running(&marker), "`{marker}` outlived an interrupted settle drive");
}

#[test]
fn a_checkout_template_that_is_not_json_exits_2_with_its_location() {
    let d = dir("template");
    let p = drive_file(&d, "url = \"http://127.0.0.1:9\"", "{\"amount\": {amount", "x.db");
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("drive.toml:6:1") && err.contains("is not JSON once filled in"), "{err}");
    let p = drive_file(&d, "url = \"http://127.0.0.1:9\"", "{\"a\": {amont}}", "x.db");
    let err = text(&settle(&["drive", p.to_str().unwrap()]).stderr);
    assert!(err.contains("unknown placeholder {amont}"), "{err}");
}

#[test]
fn a_mapping_naming_a_missing_column_exits_2_naming_the_mapping() {
    if Command::new("python3").arg("--version").output().is_err() {
        return skip("python3 is not on the PATH (it serves the test's health URL)");
    }
    let d = dir("mapping");
    let db = d.join("shop.db");
    let _ = std::fs::remove_file(&db);
    let conn = rusqlite::Connection::open(&db).unwrap();
    // `orders` without its `status` column.
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, order_code TEXT, paid_at INTEGER, created_at INTEGER,
           total_amount INTEGER);
         CREATE TABLE order_payments (order_id INTEGER, payment_status TEXT, paid_at INTEGER, created_at INTEGER,
           gross_amount INTEGER);
         CREATE TABLE payment_sync_logs (order_code TEXT, old_status TEXT, new_status TEXT, created_at INTEGER);
         CREATE TABLE fulfilments (order_id INTEGER);",
    )
    .unwrap();
    drop(conn);
    let service = "command = [\"sh\", \"-c\", \"exec python3 -m http.server $PORT --bind 127.0.0.1\"]";
    let p = drive_file(&d, service, "{}", db.to_str().unwrap());
    let out = settle(&["drive", p.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("seed001_mapping.toml") && err.contains("does not fit the service's database"), "{err}");
    assert!(err.contains("status"), "{err}");
}
