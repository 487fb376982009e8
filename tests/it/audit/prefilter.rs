//! The SQL prefilter changes nothing but speed: the prefiltered pass finds exactly what the
//! unfiltered pass finds — the same orders counted, the same counts per invariant, the same
//! violations in the same order, the same error — over random row sets and mappings (proptest,
//! SQLite), and over every combination of order status, `paid_at`, payment row, payment status
//! and time, and fulfilments, on each backend (status values that differ only in case or a
//! trailing space included: MariaDB's default collation calls them equal, Rust does not).

use std::collections::BTreeMap;

use proptest::prelude::*;
use settle::audit::Found;
use settle::audit::midtrans_orders::pass::Pass;
use settle::audit::midtrans_orders::sql::Sql;
use settle::audit::midtrans_orders::{self as mo, Settings, prefilter};
use settle::store::sqlite::Sqlite;
use settle::store::{Backend, Value};
use settle::systems::midtrans_orders::mapping::{Ident, Mapping, Rule, State, TableName, Vocabulary};

use super::{connect, namespace};

const AS_OF: i64 = 10_000_000;
const STUCK_AFTER: i64 = 1_000_000;
const CUTOFF: i64 = AS_OF - STUCK_AFTER;

/// Status values: the mappings' own, and near misses of them.
const STATUSES: &[&str] = &["PAID", "paid", "PAID ", "Paid", "PENDING", "pending", "EXPIRED", "settled", "waiting"];

/// One generated order row, its payment row (if any) and its number of fulfilments.
#[derive(Clone, Debug)]
struct Order {
    code: Option<String>,
    status: Option<&'static str>,
    paid_at: Option<i64>,
    created: Option<i64>,
    payment: Option<Payment>,
    fulfilments: u8,
}

#[derive(Clone, Debug)]
struct Payment {
    status: Option<&'static str>,
    paid_at: Option<i64>,
    created: Option<i64>,
}

/// Seed 001's schema under other names: the prefilter must use the mapping's, not the defaults.
fn renamed() -> Mapping {
    let id = |s: &str| Ident::new(s).unwrap();
    let table = |s: &str| TableName::new(s).unwrap();
    let mut m = Mapping::default();
    let o = &mut m.orders;
    (o.table, o.id, o.code, o.status) = (table("shop_orders"), id("uid"), id("reference"), id("state"));
    (o.paid_at, o.created_at, o.amount) = (id("settled_ms"), id("placed_ms"), id("total_minor"));
    let p = &mut m.order_payments;
    (p.table, p.order_id, p.status) = (table("charges"), id("shop_order"), id("charge_state"));
    (p.paid_at, p.created_at, p.gross_amount) = (id("captured_ms"), id("opened_ms"), id("gross_minor"));
    (m.fulfilments.table, m.fulfilments.order_id) = (table("shipments"), id("for_order"));
    let l = &mut m.payment_sync_logs;
    (l.table, l.order_code, l.old_status, l.new_status, l.created_at) =
        (table("sync_log"), id("ref"), id("was"), id("now_state"), id("at_ms"));
    m
}

/// Creates the mapping's tables, every mapped column nullable, and fills them.
fn load(db: &mut dyn Backend, m: &Mapping, orders: &[Order]) {
    let (o, p, f, l) = (&m.orders, &m.order_payments, &m.fulfilments, &m.payment_sync_logs);
    for sql in [
        format!(
            "CREATE TABLE {} ({} BIGINT NOT NULL PRIMARY KEY, {} VARCHAR(64) NULL, {} VARCHAR(16) NULL, \
             {} BIGINT NULL, {} BIGINT NULL, {} BIGINT NULL)",
            o.table, o.id, o.code, o.status, o.paid_at, o.created_at, o.amount
        ),
        format!(
            "CREATE TABLE {} (id BIGINT NOT NULL PRIMARY KEY, {} BIGINT NULL, {} VARCHAR(16) NULL, {} BIGINT NULL, \
             {} BIGINT NULL, {} BIGINT NULL)",
            p.table, p.order_id, p.status, p.paid_at, p.created_at, p.gross_amount
        ),
        format!("CREATE TABLE {} (id BIGINT NOT NULL PRIMARY KEY, {} BIGINT NOT NULL)", f.table, f.order_id),
        format!(
            "CREATE TABLE {} (id BIGINT NOT NULL PRIMARY KEY, {} VARCHAR(64) NOT NULL, {} VARCHAR(16) NULL, \
             {} VARCHAR(16) NULL, {} BIGINT NOT NULL)",
            l.table, l.order_code, l.old_status, l.new_status, l.created_at
        ),
    ] {
        db.execute(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let (mut orows, mut prows, mut frows) = (Vec::new(), Vec::new(), Vec::new());
    for (i, g) in orders.iter().enumerate() {
        let id = i as i64 + 1;
        orows.push(vec![
            id.into(),
            g.code.clone().into(),
            g.status.into(),
            g.paid_at.into(),
            g.created.into(),
            100i64.into(),
        ]);
        if let Some(pay) = &g.payment {
            prows.push(vec![
                id.into(),
                id.into(),
                pay.status.into(),
                pay.paid_at.into(),
                pay.created.into(),
                100i64.into(),
            ]);
        }
        for _ in 0..g.fulfilments {
            frows.push(vec![(frows.len() as i64 + 1).into(), id.into()]);
        }
    }
    let cols = |c: &[&Ident]| c.iter().map(|i| i.as_str().to_string()).collect::<Vec<_>>();
    insert(db, &o.table.to_string(), &cols(&[&o.id, &o.code, &o.status, &o.paid_at, &o.created_at, &o.amount]), orows);
    let pcols =
        [&[String::from("id")][..], &cols(&[&p.order_id, &p.status, &p.paid_at, &p.created_at, &p.gross_amount])];
    insert(db, &p.table.to_string(), &pcols.concat(), prows);
    insert(db, &f.table.to_string(), &["id".to_string(), f.order_id.to_string()], frows);
}

/// Multi-row INSERTs of at most 100 rows: a few hundred round trips become a few.
fn insert(db: &mut dyn Backend, table: &str, columns: &[String], rows: Vec<Vec<Value>>) {
    for chunk in rows.chunks(100) {
        let marks = format!("({})", vec!["?"; columns.len()].join(", "));
        let sql =
            format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), vec![marks; chunk.len()].join(", "));
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        db.execute(&sql, &params).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

type Outcome = Result<(u64, BTreeMap<String, u64>, Vec<Found>), String>;

fn pass(db: &mut dyn Backend, m: &Mapping, pass: Pass) -> Outcome {
    // Near-miss words are most rows here on purpose: warn about them, do not stop.
    let settings = Settings {
        mapping: m.clone(),
        as_of: Some(AS_OF),
        stuck_after_ms: STUCK_AFTER,
        strict_words: false,
        ..Settings::default()
    };
    let mut r = mo::report("test", None);
    mo::run(db, &settings, None, "test", &mut r, pass).map_err(|e| e.to_string())?;
    Ok((r.checked, r.counts, r.violations))
}

/// How many rows the prefilter keeps.
fn kept(db: &mut dyn Backend, m: &Mapping) -> i64 {
    let c = prefilter::internal(&Sql { kind: db.kind(), mapping: m }, CUTOFF);
    let (o, p) = (&m.orders, &m.order_payments);
    let sql = format!(
        "SELECT COUNT(*) FROM {} o LEFT JOIN {} p ON p.{} = o.{} WHERE {}",
        o.table, p.table, p.order_id, o.id, c.sql
    );
    db.query(&sql, &c.params).unwrap()[0].int(0).unwrap()
}

fn time() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), (-1i64..=1).prop_map(|d| Some(CUTOFF + d))]
}

fn status() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![30 => prop::sample::select(STATUSES).prop_map(Some), 1 => Just(None)]
}

fn order() -> impl Strategy<Value = Order> {
    let payment = (status(), prop::option::of(Just(5i64)), time()).prop_map(|(status, paid_at, created)| Payment {
        status,
        paid_at,
        created,
    });
    (prop::bool::weighted(0.98), status(), prop::option::of(Just(7i64)), time(), prop::option::of(payment), 0u8..=3)
        .prop_map(|(has_code, status, paid_at, created, payment, fulfilments)| Order {
            code: has_code.then(String::new),
            status,
            paid_at,
            created,
            payment,
            fulfilments,
        })
}

/// Seed 001's vocabulary with `paid` and `pending` as the words of those states.
fn vocabulary(paid: &str, pending: &str) -> Vocabulary {
    let rules = Vocabulary::seed001().rules.into_iter().map(|(s, r)| match s {
        State::Paid => (s, Rule::Word(paid.into())),
        State::Pending => (s, Rule::Word(pending.into())),
        _ => (s, r),
    });
    Vocabulary::new(rules.collect())
}

fn mapping() -> impl Strategy<Value = Mapping> {
    (any::<bool>(), prop::sample::select(&["PAID", "paid", "settled"]), prop::sample::select(&["PENDING", "waiting"]))
        .prop_map(|(rename, paid, pending)| {
            let mut m = if rename { renamed() } else { Mapping::default() };
            m.orders.states = vocabulary(paid, pending);
            m.order_payments.states = vocabulary(paid, pending);
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// For any orders (NULLs and near-miss statuses included) and any mapping, the prefiltered
    /// pass and the unfiltered pass give the same outcome.
    #[test]
    fn the_prefiltered_pass_finds_exactly_what_the_unfiltered_pass_finds(
        m in mapping(),
        mut orders in prop::collection::vec(order(), 0..40),
    ) {
        for (i, o) in orders.iter_mut().enumerate() {
            o.code = o.code.take().map(|_| format!("O-{i}"));
        }
        let mut db = Sqlite::memory().unwrap();
        load(&mut db, &m, &orders);
        let unfiltered = pass(&mut db, &m, Pass::Unfiltered);
        prop_assert_eq!(pass(&mut db, &m, Pass::Prefiltered), unfiltered);
    }
}

/// Every combination of order status, order `paid_at`, payment row (none, or its status
/// including NULL, `paid_at` and time), order time and fulfilments: 1,500 orders.
fn every_combination() -> Vec<Order> {
    let statuses = ["PAID", "paid", "PAID ", "PENDING", "EXPIRED"];
    let times = [Some(CUTOFF - 1), Some(CUTOFF)];
    let mut payments = vec![None];
    for status in statuses.iter().map(|s| Some(*s)).chain([None]) {
        for paid_at in [None, Some(5)] {
            for created in times {
                payments.push(Some(Payment { status, paid_at, created }));
            }
        }
    }
    let mut out = Vec::new();
    for status in statuses {
        for paid_at in [None, Some(7)] {
            for payment in &payments {
                for created in times {
                    for fulfilments in 0..3 {
                        let code = Some(format!("X-{}", out.len()));
                        let (status, payment) = (Some(status), payment.clone());
                        out.push(Order { code, status, paid_at, created, payment, fulfilments });
                    }
                }
            }
        }
    }
    out
}

/// Both passes agree on `db`, find something, and the prefilter does leave rows out.
fn every_combination_on(db: &mut dyn Backend) {
    let orders = every_combination();
    let m = Mapping::default();
    load(db, &m, &orders);
    let unfiltered = pass(db, &m, Pass::Unfiltered);
    let (checked, counts, found) = unfiltered.clone().unwrap();
    assert_eq!(checked, orders.len() as u64);
    for (invariant, n) in counts.iter().filter(|(i, _)| *i != "paid-never-regresses") {
        assert!(*n > 0, "{invariant}: nothing found, the table does not exercise it");
    }
    let near_miss = |f: &Found| f.reason.starts_with("the order is paid but has a paid time");
    assert!(found.iter().any(near_miss), "a lowercase paid with a paid_at is not PAID: {found:?}");
    let kept = kept(db, &m);
    assert!(0 < kept && kept < orders.len() as i64, "the prefilter keeps {kept} of {} rows", orders.len());
    assert_eq!(pass(db, &m, Pass::Prefiltered), unfiltered);
}

#[test]
fn every_combination_prefiltered_finds_what_unfiltered_finds_on_sqlite() {
    every_combination_on(&mut Sqlite::memory().unwrap());
}

fn every_combination_on_server(var: &str) {
    let Some(base) = crate::server_url(var) else { return };
    let ns = namespace(&base);
    every_combination_on(connect(&ns.url).as_mut());
}

#[test]
fn every_combination_prefiltered_finds_what_unfiltered_finds_on_postgres() {
    every_combination_on_server("SETTLE_TEST_POSTGRES_URL");
}

#[test]
fn every_combination_prefiltered_finds_what_unfiltered_finds_on_mysql() {
    every_combination_on_server("SETTLE_TEST_MYSQL_URL");
}
