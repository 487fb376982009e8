//! Properties over random fault plans and random scenario files.

use proptest::prelude::*;
use settle::scenario::{Expect, Scenario, parse};
use settle::sim::{Millis, NetConfig, Oracle, PartitionConfig, Range, Rate, first_divergence};
use settle::store::{DbConfig, shared, sqlite::Sqlite};
use settle::systems::System;
use settle::systems::midtrans_orders::{Config, Flaws, MidtransOrders};

use super::load;

fn rate(max_ppm: u32) -> impl Strategy<Value = Rate> {
    (0..=max_ppm).prop_map(Rate)
}

fn range(lo: u64, hi: u64) -> impl Strategy<Value = Range> {
    (lo..=hi, lo..=hi).prop_map(|(a, b)| Range::new(Millis(a.min(b)), Millis(a.max(b))))
}

/// Bounded fault plans: every fault the simulator has, at rates and lengths a real system can
/// be expected to survive within a 45-minute liveness phase.
fn fault_plan() -> impl Strategy<Value = (NetConfig, DbConfig, settle::sim::CrashConfig)> {
    let net = (
        rate(150_000),
        rate(150_000),
        rate(150_000),
        rate(150_000),
        range(1, 2_000),
        0u32..=3,
        range(1_000, 20 * 60_000),
    )
        .prop_map(|(drop_request, drop_response, duplicate, reorder, latency, count_max, duration)| NetConfig {
            latency,
            drop_request,
            drop_response,
            duplicate,
            reorder,
            partitions: PartitionConfig {
                between: vec![("provider".into(), "app".into()), ("jobs".into(), "provider".into())],
                count_max,
                duration: Some(duration),
                ..PartitionConfig::default()
            },
            ..NetConfig::default()
        });
    let db = (range(0, 200), 0u32..=2, range(1_000, 10 * 60_000), rate(100_000), rate(100_000)).prop_map(
        |(latency, outages_max, outage_duration, slow_commit, lost_answer)| DbConfig {
            latency,
            outages_max,
            outage_duration,
            slow_commit,
            lost_answer,
            ..DbConfig::default()
        },
    );
    let crashes = (0u32..=3, range(1_000, 5 * 60_000)).prop_map(|(count_max, down)| settle::sim::CrashConfig {
        actors: vec!["app".into(), "jobs".into(), "admin".into()],
        count_max,
        down: Some(down),
    });
    (net, db, crashes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Under any bounded fault plan, the reference design of seed 001 violates no invariant,
    /// and replaying the run's recorded choices gives the identical trace.
    #[test]
    fn reference_design_survives_any_bounded_fault_plan((net, db, crashes) in fault_plan(), seed in any::<u64>()) {
        let base = load("midtrans_fixed.toml");
        let mut spec = base.run_spec(true);
        spec.sim.net = net;
        spec.db = db;
        spec.sim.crashes = crashes;
        let system = MidtransOrders::new(Config::default(), Flaws::default());
        let backend = shared(Sqlite::memory().unwrap());
        let first = system.run(&spec, Oracle::random(seed), backend.clone()).unwrap();
        prop_assert!(first.violations.is_empty(), "{:?}", first.violations);
        let again = system.run(&spec, Oracle::replay(first.choices.clone()), backend).unwrap();
        prop_assert_eq!(first_divergence(&first.events, &again.events), None);
    }
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let flaws = proptest::sample::subsequence(
        vec![
            "ack-missing",
            "inline-retry",
            "no-reconciliation",
            "split-update",
            "settlement-only",
            "late-regress",
            "double-fulfil",
        ],
        0..=3,
    );
    let expect = prop_oneof![
        Just(Expect::pass()),
        proptest::sample::select(vec!["provider-paid-implies-paid", "order-payment-agree", "fulfilled-at-most-once"])
            .prop_map(Expect::violation),
    ];
    let midtrans =
        proptest::option::of((1u32..50, range(0, 3_600_000), rate(1_000_000), 1i64..1_000_000, 0u32..5).prop_map(
            |(orders, insert_delay, pay, amount, admin)| Config {
                orders,
                insert_delay,
                pay,
                amount_min: amount,
                amount_max: amount * 2,
                admin_clicks_max: admin,
                ..Config::default()
            },
        ));
    (
        "[a-z][a-z0-9-]{0,20}",
        "[ -~]{0,40}",
        flaws,
        1u64..100_000,
        expect,
        (1u64..100_000_000, 0u64..100_000_000),
        fault_plan(),
        midtrans,
    )
        .prop_map(|(name, description, flaws, seeds, expect, (safety, liveness), (network, database, crashes), midtrans)| {
            let text = format!(
                "name = {name:?}\nsystem = \"midtrans-orders\"\nflaws = {:?}\nseeds = {seeds}\n[expect]\noutcome = \"pass\"\n",
                flaws
            );
            let mut s = parse(&text, "gen").unwrap();
            s.description = description;
            s.expect = serde_spanned::Spanned::new(0..0, expect);
            s.time.safety = Millis(safety);
            s.time.liveness = Millis(liveness);
            s.network = network;
            s.database = database;
            *s.crashes.get_mut() = settle::scenario::file::Crashes { actors: crashes.actors, count_max: crashes.count_max, down: crashes.down };
            s.set_config(midtrans.as_ref());
            s
        })
}

proptest! {
    /// Printing a scenario and parsing it back gives the same scenario.
    #[test]
    fn scenario_print_then_parse_is_identity(s in arb_scenario()) {
        let text = s.to_toml();
        let back = parse(&text, "printed.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, s);
    }
}

fn arb_fanvue_scenario() -> impl Strategy<Value = Scenario> {
    use settle::systems::fanvue_revenue::Config as FanvueConfig;
    let flaws = proptest::sample::subsequence(
        vec!["cursor-before-commit", "stop-on-429", "no-unique", "no-lookback", "stale-stats", "dashboard-fallback"],
        0..=3,
    );
    let fanvue = proptest::option::of(
        (1u32..20, 0u32..200, (0u32..50, 0u32..50), 1u32..=50, range(1_000, 3_600_000), rate(1_000_000), 1u32..1_000)
            .prop_map(|(creators, history, (a, b), page_size, lookback, lag, rate_limit)| {
                let mut c = FanvueConfig {
                    creators,
                    history_rows_max: history,
                    sales_min: a.min(b),
                    sales_max: a.max(b),
                    page_size,
                    lookback: lookback.max,
                    ..FanvueConfig::default()
                };
                c.provider.lag = lag;
                c.provider.rate_limit = rate_limit;
                c
            }),
    );
    ("[a-z][a-z0-9-]{0,20}", flaws, 1u64..100_000, fanvue).prop_map(|(name, flaws, seeds, fanvue)| {
        let text = format!(
            "name = {name:?}\nsystem = \"fanvue-revenue\"\nflaws = {flaws:?}\nseeds = {seeds}\n[expect]\noutcome = \"violation\"\ninvariant = \"revenue-total-matches\"\n"
        );
        let mut s = parse(&text, "gen").unwrap();
        s.set_config(fanvue.as_ref());
        s
    })
}

proptest! {
    /// Printing a fanvue-revenue scenario, `[fanvue]` section included, and parsing it back
    /// gives the same scenario.
    #[test]
    fn fanvue_scenario_print_then_parse_is_identity(s in arb_fanvue_scenario()) {
        let text = s.to_toml();
        let back = parse(&text, "printed.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, s);
    }
}
