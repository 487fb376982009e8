//! Tests that run statements through the bridge: SQLite in memory always, Postgres and
//! MySQL/MariaDB when `SETTLE_TEST_POSTGRES_URL` / `SETTLE_TEST_MYSQL_URL` are set (otherwise
//! they print that they were skipped and pass). Each drops the namespaces it creates.
//! Not the pure helpers (placeholders, NUMERIC, URLs): those are in [`super::tests`].

use super::tests::{connect_err, int, text};
use super::{Cmd, STOPPED, SqlxBackend, redact_url};
use crate::store::{Backend, BackendKind, Migration, Row, SqlError, Value, transaction};

fn env_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

fn connect(url: &str) -> SqlxBackend {
    match SqlxBackend::connect(url) {
        Ok(b) => b,
        Err(e) => panic!("connecting to {}: {e}", redact_url(url)),
    }
}

/// Parent `merchants`, child `charges`: the names sort the wrong way round for deleting,
/// so emptying them proves the foreign-key order is used.
const SET_A: [Migration; 2] = [
    Migration {
        version: "20250101000000",
        sqlite: "CREATE TABLE merchants (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                 name VARCHAR(64) NOT NULL UNIQUE, note TEXT);
                 CREATE TABLE charges (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                 merchant_id BIGINT NOT NULL REFERENCES merchants (id), \
                 ext_ref VARCHAR(64) NOT NULL UNIQUE, amount BIGINT NOT NULL, \
                 refunded BIGINT, memo TEXT);",
        postgres: "CREATE TABLE merchants (id BIGSERIAL PRIMARY KEY, \
                   name VARCHAR(64) NOT NULL UNIQUE, note TEXT);
                   CREATE TABLE charges (id BIGSERIAL PRIMARY KEY, \
                   merchant_id BIGINT NOT NULL REFERENCES merchants (id), \
                   ext_ref VARCHAR(64) NOT NULL UNIQUE, amount BIGINT NOT NULL, \
                   refunded BIGINT, memo TEXT);",
        mysql: "CREATE TABLE merchants (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                name VARCHAR(64) NOT NULL UNIQUE, note TEXT) ENGINE = InnoDB;
                CREATE TABLE charges (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                merchant_id BIGINT NOT NULL, ext_ref VARCHAR(64) NOT NULL UNIQUE, \
                amount BIGINT NOT NULL, refunded BIGINT, memo TEXT, \
                FOREIGN KEY (merchant_id) REFERENCES merchants (id)) ENGINE = InnoDB;",
    },
    Migration::portable("20250102000000", "CREATE INDEX charges_by_merchant ON charges (merchant_id)"),
];

const SET_B: [Migration; 1] = [Migration::portable(
    "20250201000000",
    "CREATE TABLE ledger (entry VARCHAR(32) NOT NULL PRIMARY KEY, amount BIGINT NOT NULL)",
)];

const INSERT_CHARGE: &str = "INSERT INTO charges (merchant_id, ext_ref, amount, refunded, memo) VALUES (?, ?, ?, ?, ?)";

/// Above 2^53: any detour through a float would change it.
const BIG: i64 = 9_007_199_254_740_993;

fn count(b: &mut SqlxBackend, table: &str) -> i64 {
    let rows = b.query(&format!("SELECT COUNT(*) FROM {table}"), &[]).unwrap();
    rows[0].int(0).unwrap()
}

/// Everything a run needs from a backend, the same on all three.
fn exercise(url: &str, kind: BackendKind) {
    let mut b = connect(url);
    assert_eq!(b.kind(), kind);
    b.reset("set-a", &SET_A).unwrap();
    if kind == BackendKind::Sqlite {
        assert_eq!(b.namespace(), None);
    } else {
        assert!(b.namespace().is_some_and(|ns| ns.starts_with("settle_")));
    }

    // Inserts with `?` parameters, NULL into a BIGINT and into a TEXT column.
    assert_eq!(b.execute("INSERT INTO merchants (name, note) VALUES (?, ?)", &[text("acme"), Value::Null]).unwrap(), 1);
    assert_eq!(
        b.execute("INSERT INTO merchants (name, note) VALUES (?, ?)", &[text("globex"), text("vip")]).unwrap(),
        1
    );
    let first = [int(1), text("ch_1"), int(1500), Value::Null, Value::Null];
    assert_eq!(b.execute(INSERT_CHARGE, &first).unwrap(), 1);
    let second = [int(1), text("ch_2"), int(BIG), int(100), text("it's ? here")];
    assert_eq!(b.execute(INSERT_CHARGE, &second).unwrap(), 1);
    // An integer into a text column reads back as text everywhere.
    let third = [int(2), text("ch_3"), int(-250), int(0), int(42)];
    assert_eq!(b.execute(INSERT_CHARGE, &third).unwrap(), 1);

    let rows =
        b.query("SELECT id, merchant_id, ext_ref, amount, refunded, memo FROM charges ORDER BY id", &[]).unwrap();
    assert_eq!(
        rows,
        vec![
            Row(vec![int(1), int(1), text("ch_1"), int(1500), Value::Null, Value::Null]),
            Row(vec![int(2), int(1), text("ch_2"), int(BIG), int(100), text("it's ? here")]),
            Row(vec![int(3), int(2), text("ch_3"), int(-250), int(0), text("42")]),
        ]
    );
    let rows = b
        .query("SELECT name, note FROM merchants WHERE note IS NULL OR note = ? ORDER BY name", &[text("vip")])
        .unwrap();
    assert_eq!(rows, vec![Row(vec![text("acme"), Value::Null]), Row(vec![text("globex"), text("vip")])]);
    // A `?` inside a literal is text, not a parameter.
    let rows = b.query("SELECT ext_ref, '?' FROM charges WHERE amount > ? ORDER BY id", &[int(1000)]).unwrap();
    assert_eq!(rows, vec![Row(vec![text("ch_1"), text("?")]), Row(vec![text("ch_2"), text("?")])]);
    // UPDATE counts matched rows on every backend (sqlx asks MySQL for found rows).
    assert_eq!(b.execute("UPDATE charges SET amount = amount WHERE merchant_id = ?", &[int(1)]).unwrap(), 2);

    // SUM without a CAST is portable: NUMERIC (Postgres) and DECIMAL (MySQL) decode to Int.
    let sum = 1500 + BIG - 250;
    let rows = b.query("SELECT SUM(amount), COUNT(*), COALESCE(SUM(refunded), 0) FROM charges", &[]).unwrap();
    assert_eq!(rows, vec![Row(vec![int(sum), int(3), int(100)])]);
    let rows =
        b.query("SELECT SUM(amount), COALESCE(SUM(amount), 0) FROM charges WHERE amount > ?", &[int(BIG)]).unwrap();
    assert_eq!(rows, vec![Row(vec![Value::Null, int(0)])]);
    // The CAST spelling is not portable: BIGINT fails on MySQL, SIGNED on Postgres.
    let cast_bigint = b.query("SELECT CAST(SUM(amount) AS BIGINT) FROM charges", &[]);
    let cast_signed = b.query("SELECT CAST(SUM(amount) AS SIGNED) FROM charges", &[]);
    let want = vec![Row(vec![int(sum)])];
    match kind {
        BackendKind::Sqlite => {
            assert_eq!(cast_bigint.unwrap(), want);
            assert_eq!(cast_signed.unwrap(), want);
        }
        BackendKind::Postgres => {
            assert_eq!(cast_bigint.unwrap(), want);
            assert!(cast_signed.is_err());
        }
        BackendKind::Mysql => {
            assert!(cast_bigint.is_err(), "{cast_bigint:?}");
            assert_eq!(cast_signed.unwrap(), want);
        }
    }

    // Constraint violations: unique and foreign key.
    let dup = b.execute(INSERT_CHARGE, &[int(1), text("ch_1"), int(1), Value::Null, Value::Null]);
    assert!(matches!(dup, Err(SqlError::Constraint(_))), "{dup:?}");
    let orphan = b.execute(INSERT_CHARGE, &[int(999), text("ch_9"), int(1), Value::Null, Value::Null]);
    assert!(matches!(orphan, Err(SqlError::Constraint(_))), "{orphan:?}");
    let null = b.execute(INSERT_CHARGE, &[int(1), text("ch_8"), Value::Null, Value::Null, Value::Null]);
    assert!(matches!(null, Err(SqlError::Constraint(_))), "{null:?}");

    // Rollback discards; commit keeps.
    let aborted = transaction(&mut b, |tx| {
        tx.execute(INSERT_CHARGE, &[int(1), text("ch_4"), int(7), Value::Null, Value::Null])?;
        assert_eq!(tx.query_int("SELECT COUNT(*) FROM charges", &[])?, 4);
        Err::<(), _>(SqlError::Other("abort".into()))
    });
    assert_eq!(aborted, Err(SqlError::Other("abort".into())));
    assert_eq!(count(&mut b, "charges"), 3);
    let ((), changed) = transaction(&mut b, |tx| {
        tx.execute(INSERT_CHARGE, &[int(2), text("ch_5"), int(8), Value::Null, Value::Null])?;
        Ok(())
    })
    .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(count(&mut b, "charges"), 4);

    // After an error inside a transaction, Postgres refuses everything until ROLLBACK; SQLite
    // and MySQL undo only the failed statement.
    b.begin().unwrap();
    assert!(matches!(b.begin(), Err(SqlError::Other(_))));
    assert!(b.execute(INSERT_CHARGE, &first).is_err());
    let after = b.query("SELECT COUNT(*) FROM charges", &[]);
    if kind == BackendKind::Postgres {
        assert!(after.is_err(), "{after:?}");
    } else {
        assert_eq!(after.unwrap(), vec![Row(vec![int(4)])]);
    }
    b.rollback().unwrap();

    // Bad input is an error, never a panic.
    assert!(b.query("SELECT ? + ?", &[int(1)]).is_err());
    assert!(b.query("SELECT amount FROM charges WHERE id = ?", &[int(1), int(2)]).is_err());
    assert!(matches!(b.query("SELEC nonsense", &[]), Err(SqlError::Other(_))));
    assert!(
        b.query("SELECT amount FROM charges WHERE id = ?", &[text("not a number")]).is_err()
            || kind != BackendKind::Postgres
    );
    if kind != BackendKind::Sqlite {
        let now = if kind == BackendKind::Mysql { "SELECT NOW() AS stamp" } else { "SELECT now() AS stamp" };
        match b.query(now, &[]) {
            Err(SqlError::Decode(msg)) => assert!(msg.contains("stamp"), "{msg}"),
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    // The same set again: empty tables, identity counters restarted, statements still work.
    b.reset("set-a", &SET_A).unwrap();
    let ns = b.namespace().map(str::to_string);
    assert_eq!(count(&mut b, "charges"), 0);
    assert_eq!(count(&mut b, "merchants"), 0);
    b.execute("INSERT INTO merchants (name, note) VALUES (?, ?)", &[text("initech"), Value::Null]).unwrap();
    b.execute(INSERT_CHARGE, &first).unwrap();
    let rows =
        b.query("SELECT m.id, c.id, m.name FROM merchants m JOIN charges c ON c.merchant_id = m.id", &[]).unwrap();
    assert_eq!(rows, vec![Row(vec![int(1), int(1), text("initech")])]);
    // Foreign keys are still enforced after emptying (MySQL turns its checks off to TRUNCATE).
    let orphan = b.execute(INSERT_CHARGE, &[int(999), text("ch_9"), int(1), Value::Null, Value::Null]);
    assert!(matches!(orphan, Err(SqlError::Constraint(_))), "{orphan:?}");

    // A different set: a fresh namespace; the old one is gone. A set whose migration fails
    // first must not get in the way.
    let broken = [Migration::portable("20250301000000", "CREATE TABLE half (a BIGINT); CREATE TABLE")];
    let failed = b.reset("broken", &broken);
    assert!(matches!(&failed, Err(SqlError::Other(m)) if m.starts_with("migration 20250301000000:")), "{failed:?}");
    b.reset("set-b", &SET_B).unwrap();
    assert!(b.query("SELECT COUNT(*) FROM half", &[]).is_err());
    assert!(b.query("SELECT COUNT(*) FROM charges", &[]).is_err());
    assert_eq!(count(&mut b, "ledger"), 0);
    if let Some(old) = &ns {
        assert_ne!(b.namespace(), Some(old.as_str()));
        assert!(!namespace_exists(url, old));
    }
    b.execute("INSERT INTO ledger (entry, amount) VALUES (?, ?)", &[text("e1"), int(5)]).unwrap();
    b.reset("set-b", &SET_B).unwrap();
    assert_eq!(count(&mut b, "ledger"), 0);

    // Dropping the backend drops its namespace, seen from a second connection.
    let ns = b.namespace().map(str::to_string);
    if let Some(ns) = &ns {
        assert!(namespace_exists(url, ns));
    }
    drop(b);
    if let Some(ns) = &ns {
        assert!(!namespace_exists(url, ns), "{ns} survived the drop");
    }
}

fn namespace_exists(url: &str, ns: &str) -> bool {
    let mut other = connect(url);
    let rows =
        other.query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", &[text(ns)]).unwrap();
    rows[0].int(0).unwrap() == 1
}

#[test]
fn sqlite_memory_runs_everything() {
    exercise("sqlite::memory:", BackendKind::Sqlite);
}

#[test]
fn postgres_runs_everything() {
    let Some(url) = env_url("SETTLE_TEST_POSTGRES_URL") else { return };
    exercise(&url, BackendKind::Postgres);
}

#[test]
fn mysql_runs_everything() {
    let Some(url) = env_url("SETTLE_TEST_MYSQL_URL") else { return };
    exercise(&url, BackendKind::Mysql);
}

/// Postgres binds each parameter with the type it infers from the statement.
#[test]
fn postgres_binds_inferred_types() {
    let Some(url) = env_url("SETTLE_TEST_POSTGRES_URL") else { return };
    let mut b = connect(&url);
    let migration = Migration::portable(
        "1",
        "CREATE TABLE t (small INTEGER, tiny SMALLINT, flag BOOLEAN, dec NUMERIC(20, 0), word TEXT)",
    );
    b.reset("typed", &[migration]).unwrap();
    let insert = "INSERT INTO t (small, tiny, flag, dec, word) VALUES (?, ?, ?, ?, ?)";
    b.execute(insert, &[int(7), int(-3), int(1), int(-123_456_789_012), text("x")]).unwrap();
    b.execute(insert, &[Value::Null, Value::Null, Value::Null, Value::Null, Value::Null]).unwrap();
    b.execute(insert, &[text("8"), int(0), int(0), int(i64::MAX), int(5)]).unwrap();
    let rows = b.query("SELECT small, tiny, flag, dec, word FROM t ORDER BY small NULLS LAST", &[]).unwrap();
    assert_eq!(
        rows,
        vec![
            Row(vec![int(7), int(-3), int(1), int(-123_456_789_012), text("x")]),
            Row(vec![int(8), int(0), int(0), int(i64::MAX), text("5")]),
            Row(vec![Value::Null; 5]),
        ]
    );
    assert!(b.execute(insert, &[int(1 << 40), int(0), int(0), int(0), Value::Null]).is_err());
    assert!(b.execute(insert, &[int(0), int(0), int(2), int(0), Value::Null]).is_err());
    // An untyped `? IS NULL` cannot be inferred by Postgres; a CAST says what it is.
    assert!(b.query("SELECT 1 WHERE ? IS NULL", &[Value::Null]).is_err());
    let rows = b.query("SELECT 1 WHERE CAST(? AS BIGINT) IS NULL", &[Value::Null]).unwrap();
    assert_eq!(rows, vec![Row(vec![int(1)])]);
    // Integral NUMERIC is Int while it fits, text beyond; a fraction stays text.
    let rows = b.query("SELECT SUM(dec), SUM(dec) + 200000000000, AVG(tiny) FROM t", &[]).unwrap();
    let sum = i64::MAX - 123_456_789_012;
    let beyond = (i128::from(sum) + 200_000_000_000).to_string();
    assert_eq!(rows, vec![Row(vec![int(sum), Value::Text(beyond), text("-1.5000000000000000")])]);
}

#[test]
fn mysql_wrong_password_is_a_connect_error_without_the_password() {
    let Some(url) = env_url("SETTLE_TEST_MYSQL_URL") else { return };
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    let user = user.split(':').next().unwrap();
    let bad = format!("{scheme}://{user}:hunter2-wrong@{host}");
    match connect_err(&bad) {
        SqlError::Connect(msg) => {
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("***"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stopped_bridge_is_a_connect_error() {
    let mut b = connect("sqlite::memory:");
    assert!(b.call(Cmd::Exit).is_err() || b.query("SELECT 1", &[]).is_err());
    assert_eq!(b.query("SELECT 1", &[]), Err(SqlError::Connect(STOPPED.into())));
    assert_eq!(b.begin(), Err(SqlError::Connect(STOPPED.into())));
    assert_eq!(b.reset("x", &SET_B), Err(SqlError::Connect(STOPPED.into())));
}

#[test]
fn sqlite_reset_to_another_set_drops_the_old_tables() {
    let mut b = connect("sqlite::memory:");
    b.reset("set-a", &SET_A).unwrap();
    b.reset("set-b", &SET_B).unwrap();
    let tables = b.texts("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    assert_eq!(tables, ["ledger", "sqlite_sequence"]);
    // A failing migration leaves no half-applied set behind for the next reset.
    let broken = [Migration::portable("1", "CREATE TABLE ok (a BIGINT); CREATE TABLE")];
    assert!(matches!(b.reset("broken", &broken), Err(SqlError::Other(m)) if m.starts_with("migration 1:")));
    let tables = b.texts("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    assert_eq!(tables, ["sqlite_sequence"]);
    b.reset("set-b", &SET_B).unwrap();
    assert_eq!(count(&mut b, "ledger"), 0);
}
