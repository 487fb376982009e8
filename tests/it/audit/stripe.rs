//! `settle export-stripe` on saved Stripe payloads (tests/fixtures/stripe: a PaymentIntent list
//! page, a webhook log of events received out of order, a legacy charge), its errors, and an
//! audit that reads the Stripe export it writes.

use std::path::{Path, PathBuf};

use settle::audit::export::{self, Export, Truth, Truths};
use settle::audit::midtrans_orders::{self as mo, Settings};
use settle::providers::stripe::status::IntentStatus;
use settle::store::Backend;
use settle::store::sqlite::Sqlite;
use settle::systems::midtrans_orders::MIGRATIONS;

use super::{settle, temp_dir, text};

const T: i64 = 1_769_094_000_000;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stripe").join(name).display().to_string()
}

/// Runs `settle export-stripe ARGS…`: (exit code, stdout, stderr).
fn export_stripe(args: &[&str]) -> (Option<i32>, String, String) {
    let out = settle(&[&["export-stripe"], args].concat());
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn converted() -> Export {
    let files = ["payment_intents.json", "webhook_events.jsonl", "legacy_charge.json"].map(fixture);
    let (code, stdout, stderr) = export_stripe(&files.each_ref().map(String::as_str));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("note: skipped 1 charge.dispute.created event(s)"), "{stderr}");
    export::parse(&stdout, "stdout").unwrap()
}

fn stripe(status: IntentStatus, refunded: i64) -> Truth {
    Truth::Stripe { status, refunded }
}

#[test]
fn export_stripe_turns_saved_intents_events_and_charges_into_one_line_per_order() {
    let e = converted();
    let codes: Vec<&str> = e.entries.keys().map(String::as_str).collect();
    assert_eq!(codes, ["ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1005", "ORD-1006", "ORD-1007", "ORD-1008"]);
    let get = |code: &str| (e.entries[code].truth.clone(), e.entries[code].amount, e.entries[code].time);
    // The list page said succeeded; a later charge.refunded event refunded 1000 of 2599.
    assert_eq!(get("ORD-1001"), (stripe(IntentStatus::Succeeded, 1000), 2599, T + 3_600_000));
    assert!(!e.entries["ORD-1001"].paid());
    // A canceled intent is timed by canceled_at, not by its creation.
    assert_eq!(get("ORD-1003"), (stripe(IntentStatus::Canceled, 0), 1250, T + 2_000_000));
    assert_eq!(get("ORD-1004").0, stripe(IntentStatus::RequiresCapture, 0));
    assert!(!e.entries["ORD-1004"].paid(), "authorised is not paid");
    assert_eq!(get("ORD-1005").0, stripe(IntentStatus::Processing, 0));
    // The first intent failed, the customer tried again with a second one: it speaks.
    assert_eq!(get("ORD-1006"), (stripe(IntentStatus::Succeeded, 0), 3100, T + 530_000));
    // Delivered out of order: succeeded (created later) arrived before processing.
    assert_eq!(get("ORD-1007"), (stripe(IntentStatus::Succeeded, 0), 7200, T + 900_000));
    assert!(e.entries["ORD-1007"].paid());
    // A charge without a PaymentIntent stands alone.
    assert_eq!(get("ORD-1008"), (stripe(IntentStatus::Succeeded, 0), 5000, T + 700_000));
}

#[test]
fn export_stripe_reads_the_order_id_from_the_metadata_key_it_is_given() {
    let (code, stdout, stderr) = export_stripe(&[&fixture("payment_intents.json"), "--metadata-key", "cart_id"]);
    assert_eq!(code, Some(0), "{stderr}");
    let e = export::parse(&stdout, "stdout").unwrap();
    assert_eq!(e.entries.keys().next().map(String::as_str), Some("c_1001"));
    // Charges carry only order_id, so a key only the intents have leaves them unattributed.
    let (code, _, stderr) = export_stripe(&[&fixture("legacy_charge.json"), "--metadata-key", "cart_id", "--strict"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("legacy_charge.json:1: $.metadata.cart_id: missing"), "{stderr}");
}

#[test]
fn export_stripe_errors_name_the_file_the_line_and_the_json_path() {
    let (code, stdout, stderr) = export_stripe(&[&fixture("bad/unknown_status.jsonl")]);
    assert_eq!(code, Some(0), "without --strict an unusable payload is skipped: {stderr}");
    assert!(stderr.contains("note: skipped 1 unusable payload(s)"), "{stderr}");
    assert_eq!(export::parse(&stdout, "stdout").unwrap().entries.len(), 1, "{stdout}");
    let (code, _, stderr) = export_stripe(&[&fixture("bad/unknown_status.jsonl"), "--strict"]);
    assert_eq!(code, Some(2), "{stderr}");
    let want = "unknown_status.jsonl:3: $.data.object.status: unknown PaymentIntent status \"paid\"";
    assert!(stderr.contains(want), "{stderr}");
    let (code, _, stderr) = export_stripe(&[&fixture("bad/no_order_id.json"), "--strict"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no_order_id.json:1: $.data[1].metadata.order_id: missing"), "{stderr}");
    let dir = temp_dir();
    for (name, body, want) in [
        ("cut.json", "[{\"object\":\"charge\"", "cut.json:1:19: not JSON"),
        (
            "customer.json",
            "\n\n{\"object\":\"customer\",\"id\":\"cus_1\"}",
            "customer.json:3: $.object: a \"customer\" object",
        ),
        (
            "float.json",
            "{\"object\":\"payment_intent\",\"id\":\"pi_1\",\"status\":\"succeeded\",\"amount\":25.99,\"created\":1}",
            "$.amount: expected a non-negative integer",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        let (code, _, stderr) = export_stripe(&[path.to_str().unwrap(), "--strict"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
    }
}

/// An export with no line would make the audit judge every paid order unconfirmed: when no
/// payload could be used (a missing file, a folder, an empty file) nothing is written and both
/// converters exit 2 naming why. Output that could not be written (a full disk) is exit 4.
#[test]
fn the_converters_refuse_to_write_an_empty_export_and_a_failed_write_is_not_success() {
    let dir = temp_dir();
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.join("missing.json");
    for command in ["export-stripe", "export-midtrans"] {
        for (path, why) in [
            (missing.to_str().unwrap(), "missing.json: cannot read"),
            (dir.to_str().unwrap(), "cannot read"),
            (empty.to_str().unwrap(), "they hold no payload"),
        ] {
            let out = settle(&[command, path]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {path}: {stderr}");
            assert!(stderr.contains("no payload converted") && stderr.contains(why), "{command} {path}: {stderr}");
            assert!(out.stdout.is_empty(), "{command} {path}: nothing written");
        }
    }
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_settle"))
            .args(["export-stripe", &fixture("bad/unknown_status.jsonl")])
            .stdout(full)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("cannot write to standard output"), "{stderr}");
    }
}

#[test]
fn export_stripe_notes_an_order_paid_twice() {
    let page = std::fs::read_to_string(fixture("payment_intents.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&page).unwrap();
    let second = &mut doc["data"][3];
    assert_eq!(second["metadata"]["order_id"], "ORD-1002");
    second["metadata"]["order_id"] = "ORD-1001".into();
    second["status"] = "succeeded".into();
    let path: PathBuf = temp_dir().join("twice.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let (code, stdout, stderr) = export_stripe(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("note: order ORD-1001: 2 payments succeeded ("), "{stderr}");
    assert_eq!(export::parse(&stdout, "stdout").unwrap().entries.len(), 4);
}

/// Seed 001's tables with (code, status, paid_at, amount, fulfilments) orders, payments agreeing.
fn shop(orders: &[(&str, &str, Option<i64>, i64, i64)]) -> String {
    let path = temp_dir().join("stripe_shop.db");
    let mut db = Sqlite::file(&path).unwrap();
    db.reset("audit-test", MIGRATIONS).unwrap();
    for (i, &(code, status, paid_at, amount, fulfilments)) in orders.iter().enumerate() {
        let id = i as i64 + 1;
        let created = T;
        db.execute(
            "INSERT INTO orders (id, order_code, status, total_amount, paid_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[id.into(), code.into(), status.into(), amount.into(), paid_at.into(), created.into(), created.into()],
        )
        .unwrap();
        db.execute(
            "INSERT INTO order_payments (id, order_id, transaction_id, payment_method, payment_status, provider_status, gross_amount, paid_at, created_at, updated_at) VALUES (?, ?, 'pi', 'card', ?, 'x', ?, ?, ?, ?)",
            &[id.into(), id.into(), status.into(), amount.into(), paid_at.into(), created.into(), created.into()],
        )
        .unwrap();
        for _ in 0..fulfilments {
            db.execute(
                "INSERT INTO fulfilments (order_id, source, created_at) VALUES (?, 'webhook', ?)",
                &[id.into(), created.into()],
            )
            .unwrap();
        }
    }
    format!("sqlite://{}", path.display())
}

#[test]
fn an_audit_reads_the_stripe_export_and_finds_what_the_shop_got_wrong() {
    let paid = Some(T + 1);
    let url = shop(&[
        ("ORD-1001", "PAID", paid, 2599, 1),     // refunded in part at Stripe: not paid there
        ("ORD-1002", "PENDING", None, 4800, 0),  // fine
        ("ORD-1003", "EXPIRED", None, 1250, 0),  // fine
        ("ORD-1004", "PAID", paid, 9900, 1),     // only authorised at Stripe
        ("ORD-1005", "PENDING", None, 15000, 0), // fine: processing
        ("ORD-1006", "PENDING", None, 3100, 0),  // the second attempt succeeded: missed
        ("ORD-1007", "PAID", paid, 7000, 1),     // Stripe charged 7200
        ("ORD-1008", "PAID", paid, 5000, 1),     // fine
    ]);
    let export = converted();
    let settings = Settings { as_of: Some(T + 4 * 3_600_000), stuck_after_ms: 24 * 3_600_000, ..Settings::default() };
    let r = mo::audit_with(&url, &settings, Some(&export as &dyn Truths)).unwrap();
    let found: Vec<(&str, &str)> = r.violations.iter().map(|f| (f.invariant.as_str(), f.key.as_str())).collect();
    let mut want = vec![
        ("paid-only-if-provider-paid", "ORD-1001"),
        ("paid-only-if-provider-paid", "ORD-1004"),
        ("provider-paid-implies-paid", "ORD-1006"),
        ("amount-matches-provider", "ORD-1007"),
    ];
    let mut got = found.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{}", r.human());
    let refund = r.violations.iter().find(|f| f.key == "ORD-1001").unwrap();
    assert!(refund.reason.contains("the provider says stripe succeeded (1000 of 2599 refunded)"), "{}", refund.reason);
}
