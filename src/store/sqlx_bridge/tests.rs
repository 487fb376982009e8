//! Unit tests that need no database server: URL redaction and secrets, placeholder rewriting,
//! NUMERIC encoding, delete order, and connections that must fail fast. Not the tests that run
//! statements: those are in [`super::backend_tests`], which shares the helpers here.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::SqlxBackend;
use super::decode::decimal_value;
use super::namespace::delete_order;
use super::postgres::{pg_numeric_bytes, pg_numeric_text};
use super::sql::{count_placeholders, pg_placeholders};
use super::url::{Secrets, redact_url};
use crate::store::{SqlError, Value};

pub(super) fn connect_err(url: &str) -> SqlError {
    match SqlxBackend::connect(url) {
        Ok(_) => panic!("connecting to {} should fail", redact_url(url)),
        Err(e) => e,
    }
}

pub(super) fn int(v: i64) -> Value {
    Value::Int(v)
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn unknown_scheme_is_a_connect_error_naming_the_accepted_ones() {
    match connect_err("oracle://scott:tiger-secret@db.example/orcl") {
        SqlError::Connect(msg) => {
            assert!(!msg.contains("tiger-secret"), "{msg}");
            for scheme in ["postgres://", "postgresql://", "mysql://", "mariadb://", "sqlite:"] {
                assert!(msg.contains(scheme), "{msg}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(connect_err(""), SqlError::Connect(_)));
    assert!(matches!(connect_err("postgres:nohost"), SqlError::Connect(_)));
}

#[test]
fn unreachable_server_fails_fast_without_the_password() {
    for url in [
        "postgres://settle:hunter2-pg@127.0.0.1:1/db",
        "postgresql://settle@127.0.0.1:1/db?password=hunter2-query",
        "mysql://settle:hunter2-my@127.0.0.1:1/db",
        "mariadb://settle:hunter2%40at@127.0.0.1:1/db",
    ] {
        let started = Instant::now();
        match connect_err(url) {
            SqlError::Connect(msg) => {
                assert!(!msg.contains("hunter2"), "{msg}");
                assert!(msg.contains("127.0.0.1:1"), "{msg}");
            }
            other => panic!("{url}: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{url} took {:?}", started.elapsed());
    }
}

#[test]
fn redact_url_hides_passwords() {
    let cases = [
        ("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgres://h:5432/db", "postgres://h:5432/db"),
        ("postgres://u:@h/db", "postgres://u:@h/db"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("mysql://u:p@ss/w@h/db", "mysql://u:***@h/db"),
        ("mysql://u:p%40ss@h/db?ssl-mode=disabled", "mysql://u:***@h/db?ssl-mode=disabled"),
        (
            "postgres://h/db?user=u&password=secret&sslmode=disable",
            "postgres://h/db?user=u&password=***&sslmode=disable",
        ),
        ("postgres://u:a@h/db?sslpassword=b", "postgres://u:***@h/db?sslpassword=***"),
        ("postgres://h/db?password=", "postgres://h/db?password="),
        // Unescaped characters a URL reserves, inside the password.
        ("postgres://u:p#s?w@h:5432/db?sslmode=require", "postgres://u:***@h:5432/db?sslmode=require"),
        ("mysql://u:a@b#c/d?e@db.internal:3306/shop", "mysql://u:***@db.internal:3306/shop"),
        ("postgres://u:x%23y@[::1]:5432/db", "postgres://u:***@[::1]:5432/db"),
        ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
    ];
    for (url, want) in cases {
        assert_eq!(redact_url(url), want, "{url}");
    }
}

#[test]
fn reserved_characters_in_passwords_are_encoded_for_sqlx() {
    use super::url::encode_password;
    assert_eq!(encode_password("postgres://u:p#s?w/x@h:5432/db?a=b"), "postgres://u:p%23s%3Fw%2Fx@h:5432/db?a=b");
    assert_eq!(encode_password("postgres://u:p%40ss@h/db"), "postgres://u:p%40ss@h/db");
    assert_eq!(encode_password("postgres://u:pé@h/db"), "postgres://u:p%C3%A9@h/db");
    assert_eq!(encode_password("postgres://u@h/db"), "postgres://u@h/db");
    let s = Secrets::from_url("postgres://u:p#s@h/db");
    assert_eq!(s.scrub("a p#s b p%23s c"), "a *** b *** c");
}

#[test]
fn secrets_scrub_raw_and_decoded_passwords() {
    let s = Secrets::from_url("postgres://u:p%40ss@h/db?password=q%2Fw");
    assert_eq!(s.scrub("auth p%40ss / p@ss / q%2Fw / q/w"), "auth *** / *** / *** / ***");
    assert_eq!(Secrets::from_url("sqlite::memory:").scrub("x:y@z"), "x:y@z");
}

#[test]
fn pg_placeholders_rewrites_outside_literals() {
    let cases = [
        ("SELECT 1", "SELECT 1"),
        ("SELECT ?, ?", "SELECT $1, $2"),
        ("SELECT '?', ?", "SELECT '?', $1"),
        ("SELECT 'it''s ?', ? FROM t", "SELECT 'it''s ?', $1 FROM t"),
        ("SELECT E'\\'?', ?", "SELECT E'\\'?', $1"),
        ("SELECT e'\\\\', ?", "SELECT e'\\\\', $1"),
        ("SELECT '\\', ?", "SELECT '\\', $1"),
        ("SELECT \"we?rd\" FROM t WHERE a = ?", "SELECT \"we?rd\" FROM t WHERE a = $1"),
        ("SELECT `we?rd` FROM t WHERE a = ?", "SELECT `we?rd` FROM t WHERE a = $1"),
        ("SELECT 1 -- ?\n, ?", "SELECT 1 -- ?\n, $1"),
        ("SELECT /* ? /* ? */ ? */ ?", "SELECT /* ? /* ? */ ? */ $1"),
        ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1"),
        ("SELECT $t$ ?'$ $t$, ?", "SELECT $t$ ?'$ $t$, $1"),
        ("SELECT $1 || '?'", "SELECT $1 || '?'"),
        ("SELECT a$b, ?", "SELECT a$b, $1"),
        ("SELECT 'é?', ?, 'ü'", "SELECT 'é?', $1, 'ü'"),
        ("SELECT '?", "SELECT '?"),
        ("?", "$1"),
        ("?????????????", "$1$2$3$4$5$6$7$8$9$10$11$12$13"),
    ];
    for (sql, want) in cases {
        assert_eq!(pg_placeholders(sql), want, "{sql}");
    }
    assert!(matches!(pg_placeholders("SELECT 1"), Cow::Borrowed(_)));
    assert_eq!(count_placeholders("SELECT ?, '?', \"?\", ? -- ?"), 2);
    assert_eq!(count_placeholders("SELECT 1"), 0);
    assert!(matches!(pg_placeholders("SELECT '?'"), Cow::Borrowed(_)));
}

#[test]
fn numeric_round_trips() {
    for n in [0, 1, -1, 9_999, 10_000, 10_001, 100_000_000, 123_456_789, -987_654_321_000, i64::MAX, i64::MIN] {
        let text = pg_numeric_text(&pg_numeric_bytes(n)).unwrap();
        assert_eq!(text, n.to_string());
        assert_eq!(decimal_value(&text), int(n));
    }
    // 10000 is one base-10000 digit of weight 1.
    assert_eq!(pg_numeric_bytes(10_000), [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
    // 12.50 and -0.05 with dscale 2.
    assert_eq!(pg_numeric_text(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x13, 0x88]).unwrap(), "12.50");
    assert_eq!(pg_numeric_text(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4]).unwrap(), "-0.05");
    assert!(pg_numeric_text(&[0, 3, 0, 0]).is_err());
    assert_eq!(decimal_value("12.00"), int(12));
    assert_eq!(decimal_value("-7"), int(-7));
    assert_eq!(decimal_value("12.50"), text("12.50"));
    assert_eq!(decimal_value("99999999999999999999"), text("99999999999999999999"));
    assert_eq!(decimal_value("NaN"), text("NaN"));
}

#[test]
fn delete_order_puts_children_first() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let edge = |c: &str, p: &str| (c.to_string(), p.to_string());
    // Creation order merchants, charges; charges references merchants.
    assert_eq!(
        delete_order(&names(&["merchants", "charges"]), &[edge("charges", "merchants")]),
        ["charges", "merchants"]
    );
    // Name order the wrong way round, as MySQL lists them.
    assert_eq!(
        delete_order(&names(&["charges", "merchants"]), &[edge("charges", "merchants")]),
        ["charges", "merchants"]
    );
    // Self references do not block; unrelated tables go newest first.
    assert_eq!(delete_order(&names(&["a", "b", "c"]), &[edge("a", "a")]), ["c", "b", "a"]);
    // A cycle still lists every table once.
    assert_eq!(delete_order(&names(&["a", "b"]), &[edge("a", "b"), edge("b", "a")]), ["b", "a"]);
}
