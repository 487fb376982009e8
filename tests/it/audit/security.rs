//! A planted password never reaches any output of `settle audit`: `--help` with the URL in the
//! environment, the human report, JSON, CSV (on stdout and in its file), `--explain`, the
//! error of a mapping entry the database refuses, an unreachable server, a refused login, and
//! TLS (`sslmode=require` on PostgreSQL, which must then really be encrypted). The password holds
//! `#`, `?`, `/` and `@` unescaped, the characters that used to cut it short and show it.

use std::process::{Command, Output};

use settle::store::connect_url;

use super::{PLANTED, seeded_namespace, temp_dir};
use crate::text;

const PASSWORD: &str = "Pl4nted#pw?x/y@z";

/// Every form the password could leak in: as written, percent-encoded, and its first part
/// (what a parser that stops at `#` would print).
fn leaks(out: &str) -> Vec<&'static str> {
    ["Pl4nted#pw?x/y@z", "Pl4nted%23pw%3Fx%2Fy%40z", "Pl4nted"].into_iter().filter(|f| out.contains(f)).collect()
}

fn run(args: &[&str], env_url: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_settle"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("SETTLE_DATABASE_URL");
    if let Some(url) = env_url {
        c.env("SETTLE_DATABASE_URL", url);
    }
    c.output().expect("settle runs")
}

/// Both streams, checked for the password.
fn clean(what: &str, o: &Output) -> String {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(leaks(&all).is_empty(), "{what} shows the password: {all}");
    all
}

/// `url` with the planted password as its user's password.
fn with_password(url: &str) -> String {
    let start = url.find("://").unwrap() + 3;
    let at = start + url[start..].find('@').expect("the test URL names a user");
    format!("{}:{PASSWORD}{}", &url[..at], &url[at..])
}

#[test]
fn help_and_an_unreachable_server_never_show_the_password() {
    let url = format!("postgres://auditor:{PASSWORD}@127.0.0.1:1/shop");
    let help = run(&["audit", "--help"], Some(&url));
    assert_eq!(help.status.code(), Some(0));
    assert!(clean("audit --help", &help).contains("SETTLE_DATABASE_URL"));
    let out = run(&["audit", "--system", "midtrans-orders"], Some(&url));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(clean("an unreachable server", &out).contains("postgres://auditor:***@127.0.0.1:1/shop"));
    let mysql = format!("mysql://auditor:{PASSWORD}@127.0.0.1:1/shop?ssl-mode=REQUIRED");
    let out = run(&["audit", "--system", "midtrans-orders", "--db", &mysql], None);
    assert_eq!(out.status.code(), Some(4));
    clean("an unreachable MySQL server", &out);
}

#[test]
fn every_output_of_an_audit_on_postgres_hides_the_password_and_tls_works() {
    let Ok(base) = std::env::var("SETTLE_TEST_POSTGRES_URL") else {
        crate::skip("SETTLE_TEST_POSTGRES_URL is not set");
        return;
    };
    let ns = seeded_namespace(&base, PLANTED);
    // The test server trusts local connections, so any password logs in.
    let url = with_password(&ns.url) + "&sslmode=require";
    let dir = temp_dir();
    let csv = dir.join("findings.csv");
    let common = ["audit", "--system", "midtrans-orders", "--db", &url, "--as-of", "10000000"];
    for (what, extra, names_the_database) in [
        ("the human report", vec![], true),
        ("the JSON report", vec!["--format", "json"], true),
        ("the CSV report", vec!["--format", "csv", "--csv", csv.to_str().unwrap()], false),
    ] {
        let out = run(&[&common[..], &extra].concat(), None);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
        let shown = clean(what, &out);
        if names_the_database {
            assert!(shown.contains(":***@"), "{what} names the database, password hidden: {shown}");
        }
    }
    let file = std::fs::read_to_string(&csv).unwrap();
    assert!(leaks(&file).is_empty() && file.contains("B-AGREE"), "{file}");
    let explain = run(&[&common[..], &["--explain"]].concat(), None);
    assert_eq!(explain.status.code(), Some(0), "{}", text(&explain.stderr));
    clean("--explain", &explain);
    let mapping = dir.join("typo.toml");
    std::fs::write(&mapping, "[orders]\nstatus = \"no_such_column\"\n").unwrap();
    let out = run(&[&common[..], &["--mapping", mapping.to_str().unwrap()]].concat(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(clean("a refused mapping entry", &out).contains("typo.toml:2:10 (orders.status)"));
    // The session really is encrypted.
    let b = connect_url(&url).unwrap();
    let mut b = b.lock().unwrap();
    let ssl = b.query("SELECT CAST(ssl AS INTEGER) FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap();
    assert_eq!(ssl[0].int(0).unwrap(), 1, "sslmode=require gave a plain connection");
}

#[test]
fn a_refused_mysql_login_hides_the_password() {
    let Ok(base) = std::env::var("SETTLE_TEST_MYSQL_URL") else {
        crate::skip("SETTLE_TEST_MYSQL_URL is not set");
        return;
    };
    // The test server's root has no password: a planted one is refused.
    let url = with_password(&base);
    let out = run(&["audit", "--system", "midtrans-orders", "--db", &url], None);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(clean("a refused login", &out).contains(":***@"));
}
