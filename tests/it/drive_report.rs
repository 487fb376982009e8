//! `settle drive`'s trace as the simulator's story and sequence diagram, and `--report-dir`.
//!
//! A hand-written drive trace (the lines the drive records, as its human report prints them) is
//! read as events and drawn: each party in its lane, the webhook as an arrow from the provider to
//! the service, a held Snap answer as a fault on the network lane, the proxy's faults on the
//! database lane. Then a bad `--report-dir` stops `settle drive` with exit 2 before anything
//! starts, and the example shop with seed 001's bug (the `[run]` of
//! `examples/drive/shop_bug.toml`, on the test's own database; skipped without PostgreSQL and the
//! example's Python packages, as the other shop tests) leaves a report folder whose diagram shows
//! the settlement notification answered 200 before the shop answered the checkout.

use settle::check::{InvariantKind, Violation};
use settle::drive::events::{events, lanes};
use settle::hosted::TraceLine;
use settle::report::diagram::mermaid;
use settle::sim::Kind;

use super::drive::{dir, shop_file};
use super::{settle, text};

fn line(t_ms: u64, actor: &str, kind: Kind, text: &str) -> TraceLine {
    TraceLine { t_ms, actor: actor.into(), kind, text: text.into() }
}

/// Seed 001's race as a drive records it, with a lost COMMIT answer and a hook beside it.
fn race() -> (Vec<TraceLine>, Vec<Violation>) {
    let trace = vec![
        line(0, "settle", Kind::Lifecycle, "service healthy at http://127.0.0.1:1; provider at http://127.0.0.1:2"),
        line(1_000, "customers", Kind::Send, "POST /checkout ORD-1-1-1 amount 49388 → service"),
        line(1_300, "service", Kind::Send, "POST /snap/v1/transactions → midtrans"),
        line(1_300, "midtrans", Kind::State, "ORD-1-1-1: charge created (gopay, 49388.00)"),
        line(
            1_300,
            "settle",
            Kind::Fault,
            "ORD-1-1-1: Snap's answer held until the service answers the final notification",
        ),
        line(16_000, "midtrans", Kind::State, "ORD-1-1-1: settlement"),
        line(16_000, "customers", Kind::State, "ORD-1-1-1: customer pays"),
        line(18_000, "midtrans", Kind::Send, "POST /webhooks/midtrans ORD-1-1-1 settlement → app"),
        line(19_000, "midtrans", Kind::Reply, "POST /webhooks/midtrans ORD-1-1-1 settlement ← app: 200"),
        line(19_200, "settle", Kind::Fault, "ORD-1-1-1: Snap's answer released"),
        line(19_200, "midtrans", Kind::Reply, "POST /snap/v1/transactions: 201"),
        line(
            19_500,
            "database",
            Kind::Fault,
            "db#2: answer to COMMIT lost (the server said COMMIT); connection closed",
        ),
        line(20_000, "service", Kind::Reply, "checkout ORD-1-1-1: 500"),
        line(300_000, "hooks", Kind::Lifecycle, "reconcile: POST /jobs/reconcile: 200"),
        line(900_000, "settle", Kind::Run, "checked: 1 violation(s)"),
    ];
    let v = Violation {
        invariant: "provider-paid-implies-paid".into(),
        kind: InvariantKind::Eventually,
        t_ms: 899_000,
        details: vec!["ORD-1-1-1: provider says settlement, database says PENDING".into()],
        subjects: vec!["ORD-1-1-1".into()],
    };
    (trace, vec![v])
}

#[test]
fn a_drive_trace_draws_each_party_in_its_lane() {
    let (trace, violations) = race();
    let m = mermaid(&events(&trace, &violations), &violations, &lanes());
    for participant in [
        "participant browser as browser (customers)",
        "participant provider as provider (midtrans)",
        "participant network as network (settle)",
        "participant app as app (service)",
        "participant jobs as jobs (hooks)",
        "participant database",
    ] {
        assert!(m.contains(&format!("    {participant}\n")), "{participant}:\n{m}");
    }
    for arrow in [
        "browser->>app: 00:00:01.000 customers → service: POST /checkout ORD-1-1-1 amount 49388",
        "app->>provider: 00:00:01.300 service → midtrans: POST /snap/v1/transactions",
        "provider->>app: 00:00:18.000 midtrans → service: POST /webhooks/midtrans ORD-1-1-1 settlement",
        "app-->>provider: 00:00:19.000 midtrans ← service: POST /webhooks/midtrans ORD-1-1-1 settlement: 200",
        "provider-->>app: 00:00:19.200 service ← midtrans: POST /snap/v1/transactions: 201",
        // `#` is an entity code in Mermaid.
        "database--xapp: 00:00:19.500 ⚡ database → service: db#35;2: answer to COMMIT lost",
        "app-->>browser: 00:00:20.000 customers ← service: checkout ORD-1-1-1: 500",
        "app-->>jobs: 00:05:00.000 hooks ← service: reconcile: POST /jobs/reconcile: 200",
        "Note over browser: 00:00:16.000 customers: ORD-1-1-1: customer pays",
    ] {
        assert!(m.contains(&format!("    {arrow}")), "{arrow}:\n{m}");
    }
    // A fault is a red block; the held Snap answer is settle's, on the network lane.
    assert!(
        m.contains(
            "    rect rgb(255, 228, 228)\n        Note over network: 00:00:01.300 ⚡ settle: ORD-1-1-1: Snap's answer held"
        ),
        "{m}"
    );
    assert!(m.contains("Note over browser,database: 00:00:00.000 service healthy at"), "{m}");
    assert!(m.contains("Note over browser,database: 00:14:59.000 ✗ VIOLATED eventually `provider-paid-implies-paid`"));
}

#[test]
fn the_story_of_a_drive_trace_folds_each_exchange_into_one_step() {
    let (trace, violations) = race();
    let e = events(&trace, &violations);
    let story = settle::report::story::story(&e, &violations);
    let text = story.render(&e);
    assert!(text.contains("— about ORD-1-1-1"), "{text}");
    // The Snap call with its held answer, its release and its reply: one step.
    assert!(
        text.contains(
            "service → midtrans  POST /snap/v1/transactions\n   00:00:01.300    ⚡ settle: ORD-1-1-1: Snap's answer held"
        ),
        "{text}"
    );
    assert!(text.contains("00:00:19.200    service ← midtrans: 201"), "{text}");
    // The hook's answer names no subject and is no fault: not a step that matters.
    assert!(!text.contains("reconcile"), "{text}");
    assert!(text.contains("checker  ✗ VIOLATED eventually"), "{text}");
}

#[test]
fn a_report_dir_that_cannot_be_written_exits_2_before_the_service_starts() {
    let d = dir("report_dir_bad");
    let file = d.join("a-file");
    std::fs::write(&file, "").unwrap();
    // Nothing listens on port 9: had the run started, it would end in exit 5.
    let scenario = d.join("drive.toml");
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/audit/seed001_mapping.toml");
    std::fs::write(
        &scenario,
        format!(
            "[service]\nurl = \"http://127.0.0.1:9\"\nhealth = \"/\"\nwebhook = \"/w\"\n\n[checkout]\npath = \"/c\"\n\
             body = '{{}}'\n\n[check]\nmapping = \"{mapping}\"\ndatabase_url = \"sqlite://x.db\"\n"
        ),
    )
    .unwrap();
    for bad in [file.clone(), file.join("below")] {
        let out = settle(&["drive", scenario.to_str().unwrap(), "--report-dir", bad.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("--report-dir {}", bad.display())), "{err}");
        assert!(!err.contains("healthy"), "{err}");
    }
}

#[test]
fn the_buggy_shop_leaves_a_report_whose_diagram_answers_the_settlement_before_the_checkout() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/drive/shop_bug.toml");
    let run = std::fs::read_to_string(example).unwrap();
    let run = &run[run.find("[run]").expect("shop_bug.toml has a [run] table")..];
    let Some(p) = shop_file("report_dir", "settle_drive_it_report", true, "it-report-dir", run) else { return };
    let reports = dir("report_dir").join("reports");
    let _ = std::fs::remove_dir_all(&reports);
    let out = settle(&["drive", p.to_str().unwrap(), "--report-dir", reports.to_str().unwrap()]);
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    let folder = reports.join("shop.seed-1.run-1");
    assert!(stdout.contains(&format!("reports of the failing run: {}/", folder.display())), "{stdout}");
    for f in settle::drive::report_dir::FILES {
        let meta = std::fs::metadata(folder.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    let mmd = std::fs::read_to_string(folder.join("sequence.mmd")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["outcomes"][0]["violations"][0]["invariant"], "provider-paid-implies-paid");
    // Some order the violation names: its settlement notification answered 200 by the shop, then
    // (Snap's answer held until then) the shop's answer to the customer's checkout.
    let subjects = json["outcomes"][0]["violations"][0]["subjects"].as_array().unwrap().clone();
    let at = |arrow: &str, text: &str| mmd.lines().position(|l| l.trim_start().starts_with(arrow) && l.contains(text));
    let raced = subjects.iter().filter_map(|s| s.as_str()).any(|order| {
        let settled =
            at("app-->>provider: ", &format!("midtrans ← service: POST /webhooks/midtrans {order} settlement: 200"));
        let checkout = at("app-->>browser: ", &format!("customers ← service: checkout {order}: 200"));
        matches!((settled, checkout), (Some(s), Some(c)) if s < c)
    });
    assert!(raced, "no order whose settlement was answered before its checkout:\n{mmd}");
    assert!(mmd.contains("Snap's answer held until the service answers the final notification"), "{mmd}");
    let html = std::fs::read_to_string(folder.join("sequence.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("provider-paid-implies-paid"), "{html}");
    let timeline = std::fs::read_to_string(folder.join("timeline.txt")).unwrap();
    assert!(timeline.contains("rerun: ") && timeline.contains(" --seed 1\n"), "{timeline}");
    assert!(timeline.contains("step(s) that matter"), "{timeline}");
}
