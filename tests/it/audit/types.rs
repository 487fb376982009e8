//! A shop whose times are SQL `TIMESTAMP`/`DATETIME` (ISO 8601 text on SQLite) and whose amounts
//! are `DECIMAL` major units: with `[types]` in the mapping the audit reads them as epoch
//! milliseconds and minor units, to the millisecond and the cent, on every backend — `--as-of`
//! taken from the newest time, stuck orders, amounts against the export, sync-log times — and
//! the prefiltered pass still finds what the unfiltered one finds.

use std::collections::BTreeSet;

use settle::audit::midtrans_orders::pass::Pass;
use settle::audit::midtrans_orders::{self as mo, Settings};
use settle::audit::{self, Options};
use settle::store::sqlite::Sqlite;
use settle::store::{Backend, BackendKind};
use settle::systems::midtrans_orders::mapping::{Amounts, Mapping, Times};

use super::{connect, namespace, temp_dir};

/// 2026-01-22 15:00:00.000 UTC.
const T: i64 = 1_769_094_000_000;

/// `T + offset_ms` as SQL writes it, on 2026-01-22.
fn stamp(offset_ms: i64) -> String {
    let ms = 15 * 3_600_000 + offset_ms;
    assert!((0..86_400_000).contains(&ms), "the fixture stays on one day");
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!("2026-01-22 {h:02}:{m:02}:{s:02}.{:03}", ms % 1000)
}

const MAPPING: &str = "[types]\ntimes = \"timestamp\"\namounts = \"major\"\ndecimals = 2\n";

const EXPORT: &str = concat!(
    r#"{"order_id":"A-OK","status":"settlement","gross_amount":"100.00","time":1769094100000}"#,
    "\n",
    r#"{"order_id":"B-AMOUNT","status":"settlement","gross_amount":"100.00","time":1769094000000}"#,
    "\n",
    r#"{"order_id":"F-MISSED","status":"settlement","gross_amount":"100.00","time":1769090400000}"#,
    "\n",
);

/// (code, status, paid_at, created_at, amount): the payment row agrees with the order.
const ORDERS: &[(&str, &str, Option<i64>, i64, &str)] = &[
    ("A-OK", "PAID", Some(100_000), 0, "100.00"),
    ("B-AMOUNT", "PAID", Some(0), 0, "99.50"),
    ("C-STUCK", "PENDING", None, -7_200_000, "100.00"),
    ("D-NEW", "PENDING", None, 600_123, "100.00"),
    ("E-PAIDAT", "PENDING", Some(5), 0, "100.00"),
    ("F-MISSED", "PENDING", None, 0, "100.00"),
    ("G-REGRESS", "EXPIRED", None, 0, "100.00"),
];

/// Creates the shop's tables with time and money columns of `kind`'s SQL types, and fills them.
fn shop(db: &mut dyn Backend) {
    let kind = db.kind();
    // The payments' times are zone-aware where the backend has such a type.
    let (ts, tsz, zone) = match kind {
        BackendKind::Sqlite => ("TEXT", "TEXT", ""),
        BackendKind::Postgres => ("TIMESTAMP(3)", "TIMESTAMPTZ(3)", "+00"),
        BackendKind::Mysql => ("DATETIME(3)", "TIMESTAMP(3) NULL DEFAULT NULL", ""),
    };
    if kind == BackendKind::Mysql {
        db.execute("SET time_zone = '+00:00'", &[]).unwrap();
    }
    let at = |t: Option<i64>, z: &str| t.map_or("NULL".to_string(), |t| format!("'{}{z}'", stamp(t)));
    let mut sql = vec![
        format!(
            "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, order_code VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, \
             total_amount DECIMAL(12,2) NOT NULL, paid_at {ts} NULL, created_at {ts} NOT NULL)"
        ),
        format!(
            "CREATE TABLE order_payments (id BIGINT NOT NULL PRIMARY KEY, order_id BIGINT NOT NULL, payment_status VARCHAR(16) NOT NULL, \
             gross_amount DECIMAL(12,2) NOT NULL, paid_at {ts} NULL, created_at {tsz})"
        ),
        format!(
            "CREATE TABLE payment_sync_logs (id BIGINT NOT NULL PRIMARY KEY, order_code VARCHAR(64) NOT NULL, \
             old_status VARCHAR(16) NULL, new_status VARCHAR(16) NULL, created_at {ts} NOT NULL)"
        ),
        "CREATE TABLE fulfilments (id BIGINT NOT NULL PRIMARY KEY, order_id BIGINT NOT NULL)".to_string(),
        format!("INSERT INTO payment_sync_logs VALUES (1, 'G-REGRESS', 'PAID', 'EXPIRED', {})", at(Some(42_000), "")),
    ];
    for (i, (code, status, paid_at, created, amount)) in ORDERS.iter().enumerate() {
        let id = i + 1;
        let (paid, made) = (at(*paid_at, ""), at(Some(*created), ""));
        sql.push(format!("INSERT INTO orders VALUES ({id}, '{code}', '{status}', {amount}, {paid}, {made})"));
        let made_z = at(Some(*created), zone);
        sql.push(format!("INSERT INTO order_payments VALUES ({id}, {id}, '{status}', {amount}, {paid}, {made_z})"));
        if *status == "PAID" {
            sql.push(format!("INSERT INTO fulfilments VALUES ({id}, {id})"));
        }
    }
    for s in sql {
        db.execute(&s, &[]).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

fn types_on(url: &str, db: &mut dyn Backend) {
    shop(db);
    let dir = temp_dir();
    let (mapping, export) = (dir.join("mapping.toml"), dir.join("provider.jsonl"));
    std::fs::write(&mapping, MAPPING).unwrap();
    std::fs::write(&export, EXPORT).unwrap();
    let opts = Options { mapping: Some(mapping.clone()), provider_export: Some(export), ..Options::default() };
    let r = audit::audit("midtrans-orders", url, &opts).unwrap_or_else(|e| panic!("{e}"));
    // The newest time in the database, to the millisecond.
    assert_eq!(r.as_of, T + 600_123, "{}", r.human());
    let found: BTreeSet<(&str, &str)> = r.violations.iter().map(|f| (f.invariant.as_str(), f.key.as_str())).collect();
    let want = BTreeSet::from([
        ("amount-matches-provider", "B-AMOUNT"),
        ("pending-not-stuck", "C-STUCK"),
        ("paid-at-iff-paid", "E-PAIDAT"),
        ("provider-paid-implies-paid", "F-MISSED"),
        ("paid-never-regresses", "G-REGRESS"),
    ]);
    assert_eq!(found, want, "{}", r.human());
    let amount = r.violations.iter().find(|f| f.key == "B-AMOUNT").unwrap();
    let iso = |ms: i64| settle::audit::time::Zone::default().iso(ms);
    assert_eq!(
        amount.reason, "the provider charged IDR 100.00, the order says IDR 99.50, the payment says IDR 99.50",
        "{amount:?}"
    );
    let regress = r.violations.iter().find(|f| f.key == "G-REGRESS").unwrap();
    assert!(regress.reason.contains(&format!("in the sync log at {}", iso(T + 42_000))), "{regress:?}");
    let stuck = r.violations.iter().find(|f| f.key == "C-STUCK").unwrap();
    assert!(stuck.reason.contains(&format!("since {}", iso(T - 7_200_000))), "{stuck:?}");

    let (m, _) = Mapping::load(&mapping).unwrap();
    assert_eq!((m.types.times, m.types.amounts, m.currency.exponent), (Times::Timestamp, Amounts::Major, 2));
    let settings = Settings { mapping: m, as_of: Some(T + 600_123), ..Settings::default() };
    let passes = [Pass::Prefiltered, Pass::Unfiltered].map(|pass| {
        let mut r = mo::report("test", None);
        mo::run(db, &settings, None, "test", &mut r, pass).unwrap();
        (r.checked, r.counts, r.violations)
    });
    assert_eq!(passes[0], passes[1]);
    assert_eq!(passes[0].2.len(), 4, "stuck, paid_at on the order and on its payment, the regression");
    if db.kind() == BackendKind::Mysql {
        // TIMESTAMP columns are read in the session's zone, whatever the server's default.
        let mut s = audit::Session::open(url).unwrap();
        let zone = s.backend().query("SELECT @@session.time_zone", &[]).unwrap()[0].text(0).unwrap();
        assert_eq!(zone, "+00:00");
    }
}

#[test]
fn timestamps_and_decimal_amounts_on_sqlite() {
    let path = temp_dir().join("typed.db");
    let mut db = Sqlite::file(&path).unwrap();
    types_on(&format!("sqlite://{}", path.display()), &mut db);
}

fn on_server(var: &str) {
    let Some(base) = crate::server_url(var) else { return };
    let ns = namespace(&base);
    types_on(&ns.url, connect(&ns.url).as_mut());
}

#[test]
fn timestamps_and_decimal_amounts_on_postgres() {
    on_server("SETTLE_TEST_POSTGRES_URL");
}

#[test]
fn timestamps_and_decimal_amounts_on_mysql() {
    on_server("SETTLE_TEST_MYSQL_URL");
}
