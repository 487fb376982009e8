//! `Stripe-Signature` against vectors computed outside Rust with `openssl dgst` (the command is
//! next to each value), and determinism: the same seed gives the same run, byte for byte.

use super::*;
use crate::providers::stripe::webhook::{signature_header, verify};
use crate::sim::{Rate, first_divergence};

/// `printf '%s' '1769094000.{"id":"evt_test_webhook","object":"event"}' | openssl dgst -sha256 -hmac 'whsec_test_secret'`
const SIG_MINIMAL: &str = "d7621030b001e0802d510dd24b9fdbabaebdada1346fc3f7acdf817632e01365";
const BODY_MINIMAL: &str = r#"{"id":"evt_test_webhook","object":"event"}"#;

/// `printf '%s' '1769097600.{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","payment_status":"paid"}}}' | openssl dgst -sha256 -hmac 'whsec_settle_sim'`
const SIG_COMPLETED: &str = "39ba8539e2115ebea347d6261de13ca3bd05bb50d14b150825df73e396d28a48";
const BODY_COMPLETED: &str = r#"{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","payment_status":"paid"}}}"#;

#[test]
fn stripe_signature_matches_openssl() {
    assert_eq!(
        signature_header("whsec_test_secret", 1_769_094_000, BODY_MINIMAL.as_bytes()),
        format!("t=1769094000,v1={SIG_MINIMAL}")
    );
    assert_eq!(
        signature_header("whsec_settle_sim", 1_769_097_600, BODY_COMPLETED.as_bytes()),
        format!("t=1769097600,v1={SIG_COMPLETED}")
    );
    let header = format!("t=1769097600,v1={SIG_COMPLETED}");
    assert_eq!(verify(&header, BODY_COMPLETED.as_bytes(), "whsec_settle_sim", 1_769_097_650), Ok(1_769_097_600));
    // One byte of the body changed: refused.
    let edited = BODY_COMPLETED.replace("paid", "unpaid");
    assert!(verify(&header, edited.as_bytes(), "whsec_settle_sim", 1_769_097_650).is_err());
}

/// A small random run: eight customers who pay by card, by bank debit, or walk away, at
/// seeded times; Stripe with 3-D Secure, declines, failing debits, duplicates and a flaky app.
fn small_run(seed: u64) -> RunOutput<Vec<String>> {
    small_run_on(Oracle::random(seed))
}

fn small_run_on(oracle: Oracle) -> RunOutput<Vec<String>> {
    let cfg = StripeConfig {
        three_d_secure: Rate(300_000),
        card_decline: Rate(200_000),
        async_delay: Range::new(Millis::min(10), Millis::h(6)),
        duplicate_webhook: Rate(100_000),
        api: crate::providers::kit::ApiFaults {
            server_error: Rate(50_000),
            stale_read: Rate(200_000),
            ..Default::default()
        },
        ..StripeConfig::default()
    };
    let app = App::answering(&[500, 200, 503, 302, 200, 200, 500]);
    run_on(oracle, cfg, app, |sim, stripe| async move {
        for n in 0..8 {
            let (wait, how) = sim.choose(|o| (o.below(120_000), o.below(3)));
            sim.sleep_ms(wait).await;
            let resp = call(
                &sim,
                http::Method::POST,
                "/v1/checkout/sessions",
                &[
                    ("mode", "payment"),
                    ("line_items[0][price_data][currency]", "usd"),
                    ("line_items[0][price_data][unit_amount]", "1200"),
                    ("client_reference_id", &format!("c-{n}")),
                ],
                Some(&format!("create-{n}")),
            )
            .await;
            let Some(cs) = json(&resp)["id"].as_str().map(str::to_string) else { continue };
            let _ = match how {
                0 => stripe.pay_card(&cs).map(|_| ()),
                1 => stripe.pay_async(&cs),
                _ => {
                    stripe.abandon(&cs);
                    Ok(())
                }
            };
            let _ = call(&sim, http::Method::GET, &format!("/v1/checkout/sessions/{cs}"), &[], None).await;
        }
        sim.sleep_ms(8 * 3_600_000).await;
        stripe.sessions().iter().map(|s| format!("{} {:?} {:?}", s.id, s.status, s.payment_status)).collect()
    })
}

#[test]
fn the_same_seed_gives_the_same_run() {
    for seed in [0, 1, 2, 17] {
        let a = small_run(seed);
        let b = small_run(seed);
        assert!(a.events.len() > 50, "a run with something in it: {}", a.events.len());
        if let Some(d) = first_divergence(&a.events, &b.events) {
            panic!("seed {seed} diverged at event {}: {:?} vs {:?}", d.index, d.first, d.second);
        }
        assert_eq!(a.choices, b.choices);
        assert_eq!(a.result, b.result);
        assert_eq!(a.marks, b.marks);
    }
    let (x, y) = (small_run(3), small_run(4));
    assert_ne!(x.choices, y.choices, "different seeds make different runs");
}

#[test]
fn recorded_choices_replay_the_same_run() {
    let first = small_run(5);
    let again = small_run_on(Oracle::replay(first.choices.clone()));
    assert_eq!(first_divergence(&first.events, &again.events), None);
    assert_eq!(first.choices, again.choices);
    assert_eq!(first.result, again.result);
}

/// The README's `[stripe]` block is the defaults: every key it sets parses to the default
/// value, and every key the defaults have is in it.
#[test]
fn the_readme_lists_the_stripe_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme.find("```toml\n[stripe]\n").expect("the README has a [stripe] block") + "```toml\n".len();
    let block = &readme[from..from + readme[from..].find("```").unwrap()];
    #[derive(serde::Deserialize)]
    struct File {
        stripe: StripeConfig,
    }
    let parsed: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.stripe, StripeConfig::default());
    let defaults = toml::Value::try_from(StripeConfig::default()).unwrap();
    for (key, value) in defaults.as_table().unwrap() {
        match value.as_table() {
            Some(inner) if key == "api" => {
                for k in inner.keys() {
                    assert!(block.contains(&format!("\n{k} = ")), "the README's [stripe.api] lacks {k}");
                }
            }
            _ => assert!(block.contains(&format!("\n{key} = ")), "the README's [stripe] lacks {key}"),
        }
    }
}
