//! The `settle drive` database proxy in front of a real MySQL/MariaDB server
//! (`SETTLE_TEST_MYSQL_URL`; skipped with a message when unset, a failure under `CI=true`), with
//! sqlx's MySQL client (prepared statements, `CLIENT_DEPRECATE_EOF`) connecting through it: a
//! transaction is seen open then closed, a lost COMMIT answer while the server commits, a COMMIT
//! held until the order's final notification is answered, and an outage refusing connections.
//! Each test uses its own table in the database `settle_drive_proxy_it`, which it creates.

use settle::drive::proxy::{DatabaseSpec, DbProxy, Outage, upstream_of};
use settle::drive::runtime::DriveWorld;
use settle::sim::{Millis, Rate};
use sqlx::{AssertSqlSafe, Connection, Executor, MySqlConnection, Row};

const DATABASE: &str = "settle_drive_proxy_it";

/// The test database's URL (created if missing), or `None` after saying the test is skipped.
async fn database() -> Option<String> {
    let base = super::server_url("SETTLE_TEST_MYSQL_URL")?;
    let (url, query) = base.split_once('?').map_or((base.as_str(), ""), |(u, q)| (u, q));
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let root = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    let mut admin = MySqlConnection::connect(&base).await.expect("connect to SETTLE_TEST_MYSQL_URL");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE IF NOT EXISTS {DATABASE}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let q = if query.is_empty() { String::new() } else { format!("?{query}") };
    Some(format!("{root}/{DATABASE}{q}"))
}

/// A fresh table `name (code VARCHAR(64))` over a direct connection, which the test keeps.
async fn table(url: &str, name: &str) -> MySqlConnection {
    let mut direct = MySqlConnection::connect(url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}"))).execute(&mut direct).await.unwrap();
    let create = format!("CREATE TABLE {name} (code VARCHAR(64)) ENGINE=InnoDB");
    sqlx::raw_sql(AssertSqlSafe(create)).execute(&mut direct).await.unwrap();
    direct
}

async fn rows(direct: &mut MySqlConnection, name: &str, code: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {name} WHERE code = ?");
    sqlx::query(AssertSqlSafe(sql)).bind(code).fetch_one(direct).await.unwrap().get("n")
}

fn world() -> DriveWorld {
    DriveWorld::new(14, 1, "http://127.0.0.1:9", "/notify", &Default::default())
}

/// A proxy in front of the test database, and the URL through it.
async fn proxy(world: &DriveWorld, url: &str, spec: &DatabaseSpec) -> (DbProxy, String) {
    let p = DbProxy::start(world, upstream_of(url).unwrap(), spec).await.unwrap();
    let through = settle::drive::proxy::through(url, &p.addr.to_string());
    (p, through)
}

fn trace(world: &DriveWorld) -> String {
    world.recorder().lines().iter().map(|l| format!("{}\n", l.text)).collect()
}

#[tokio::test]
async fn a_mysql_transaction_through_the_proxy_is_busy_from_begin_to_commit() {
    let Some(url) = database().await else { return };
    let mut direct = table(&url, "proxy_busy").await;
    let w = world();
    let (p, through) = proxy(&w, &url, &DatabaseSpec::default()).await;
    let mut c = MySqlConnection::connect(&through).await.unwrap();
    assert_eq!(p.busy_connections(), 0, "connected and idle");
    c.execute("BEGIN").await.unwrap();
    assert_eq!(p.busy_connections(), 1, "a transaction is open");
    sqlx::query("INSERT INTO proxy_busy VALUES (?)").bind("ORD-B-1").execute(&mut c).await.unwrap();
    assert_eq!(p.busy_connections(), 1, "still open after the INSERT");
    assert_eq!(rows(&mut direct, "proxy_busy", "ORD-B-1").await, 0, "not committed yet");
    c.execute("COMMIT").await.unwrap();
    assert_eq!(p.busy_connections(), 0, "closed by the COMMIT");
    assert_eq!(rows(&mut direct, "proxy_busy", "ORD-B-1").await, 1);
    // A rollback closes it too; a query outside a transaction leaves the connection idle.
    c.execute("BEGIN").await.unwrap();
    assert_eq!(p.busy_connections(), 1);
    c.execute("ROLLBACK").await.unwrap();
    sqlx::query("SELECT code FROM proxy_busy").fetch_all(&mut c).await.unwrap();
    assert_eq!(p.busy_connections(), 0);
    assert_eq!(trace(&w), "", "no fault, no trace line");
}

#[tokio::test]
async fn a_lost_commit_answer_leaves_the_client_in_doubt_while_mariadb_committed() {
    let Some(url) = database().await else { return };
    let mut direct = table(&url, "proxy_lost").await;
    let w = world();
    let spec = DatabaseSpec { lost_commit: Rate(1_000_000), ..DatabaseSpec::default() };
    let (p, through) = proxy(&w, &url, &spec).await;
    p.arm();
    let mut c = MySqlConnection::connect(&through).await.unwrap();
    c.execute("BEGIN").await.unwrap();
    sqlx::query("INSERT INTO proxy_lost VALUES (?)").bind("ORD-L-1").execute(&mut c).await.unwrap();
    let lost = c.execute("COMMIT").await;
    assert!(lost.is_err(), "the client heard its COMMIT answered: {lost:?}");
    assert_eq!(rows(&mut direct, "proxy_lost", "ORD-L-1").await, 1, "the server committed");
    let t = trace(&w);
    assert!(t.contains("db#1: answer to COMMIT lost (the server said OK, status 0x0002); connection closed"), "{t}");
}

#[tokio::test]
async fn a_held_commit_of_an_insert_naming_the_order_waits_for_its_final_answer() {
    let Some(url) = database().await else { return };
    let mut direct = table(&url, "proxy_hold").await;
    let w = world();
    w.hold_commit("ORD-H-1");
    let (_p, through) = proxy(&w, &url, &DatabaseSpec::default()).await;
    // Another order's checkout is not held.
    let mut other = MySqlConnection::connect(&through).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    sqlx::query("INSERT INTO proxy_hold VALUES (?)").bind("ORD-H-2").execute(&mut other).await.unwrap();
    other.execute("COMMIT").await.unwrap();
    assert!(!w.commit_was_held("ORD-H-2"));
    let mut c = MySqlConnection::connect(&through).await.unwrap();
    c.execute("BEGIN").await.unwrap();
    sqlx::query("INSERT INTO proxy_hold VALUES (?)").bind("ORD-H-1").execute(&mut c).await.unwrap();
    let commit = tokio::spawn(async move { c.execute("COMMIT").await.map(|_| ()) });
    // Waits for the proxy to take the hold (bounded only so a broken proxy fails the test).
    for _ in 0..2_000 {
        if w.commit_was_held("ORD-H-1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(w.commit_was_held("ORD-H-1"), "the proxy never held the COMMIT of ORD-H-1");
    assert_eq!(rows(&mut direct, "proxy_hold", "ORD-H-1").await, 0, "held: not visible");
    assert!(!commit.is_finished(), "the COMMIT was answered while held");
    w.final_answer_seen("ORD-H-1");
    commit.await.unwrap().unwrap();
    assert_eq!(rows(&mut direct, "proxy_hold", "ORD-H-1").await, 1, "released: committed");
    let t = trace(&w);
    assert!(t.contains("COMMIT of the INSERT of ORD-H-1 held until the service answers its final notification"), "{t}");
    assert!(t.contains("COMMIT of ORD-H-1 released"), "{t}");
}

#[tokio::test]
async fn an_outage_resets_then_refuses_mysql_connections() {
    let Some(url) = database().await else { return };
    let w = world();
    let spec =
        DatabaseSpec { outages: vec![Outage { from: Millis(0), to: Millis(1 << 40) }], ..DatabaseSpec::default() };
    let (p, through) = proxy(&w, &url, &spec).await;
    p.arm();
    assert!(MySqlConnection::connect(&through).await.is_err(), "connected during the outage");
    // Once the proxy has seen the outage it stops listening (bounded wait, as above).
    let mut refused = None;
    for _ in 0..2_000 {
        match tokio::net::TcpStream::connect(p.addr).await {
            Err(e) => {
                refused = Some(e.kind());
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
    assert_eq!(refused, Some(std::io::ErrorKind::ConnectionRefused));
    assert!(trace(&w).contains("outage: refusing connections until"), "{}", trace(&w));
}
