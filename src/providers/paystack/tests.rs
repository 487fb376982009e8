//! Tests of the simulated Paystack on the simulated network: an app endpoint that records every
//! webhook and answers as scripted, a client calling the API with the secret key. The network
//! has a fixed latency and no faults unless a test says so, so every effect is Paystack's own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};

use super::webhook::{signature, verify};
use super::*;
use crate::providers::kit::ApiFaults;
use crate::sim::world::lock;
use crate::sim::{Millis, NetConfig, Oracle, Range, Rate, Request, Response, RunOutput, Sim, SimConfig};

const KEY: &str = "sk_live_settle_sim";

/// `printf '%s' '{"event":"charge.success","data":{"id":302961,"status":"success","reference":"qTPrJoy9Bx","amount":10000}}' | openssl dgst -sha512 -hmac 'sk_test_settle'`
const SIG_DOCS: &str = "3f8947e3c5470fe3d0642721e03e8bde0230a8d225d23143b308f640c2676128cb3b0c52b9da331a2031a4b6016dbd4286a3d010875854131509d71c9bcf3a93";
const BODY_DOCS: &str =
    r#"{"event":"charge.success","data":{"id":302961,"status":"success","reference":"qTPrJoy9Bx","amount":10000}}"#;

/// `printf '%s' '{"event":"charge.success","data":{"reference":"ref-1"}}' | openssl dgst -sha512 -hmac 'sk_live_settle_sim'`
const SIG_SHORT: &str = "d4f1944232f93e9c005ee716c3767f3e86b34017a4e8c1d934e88508fbc54c1c524c409fbdbc428351b01b73e16564ef4c862b65b8ca55a2afc2775f33895e54";

#[derive(Clone, Debug)]
struct Seen {
    t_ms: u64,
    signature: String,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook is JSON")
    }
}

#[derive(Clone, Default)]
struct App {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    always: Option<u16>,
}

impl App {
    fn answering(statuses: &[u16]) -> App {
        let app = App::default();
        lock(&app.script).extend(statuses.iter().copied());
        app
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }
}

async fn handler(State((app, sim)): State<(App, Sim)>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let answered = app.always.unwrap_or_else(|| lock(&app.script).pop_front().unwrap_or(200));
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    lock(&app.seen).push(Seen { t_ms: sim.now_ms(), signature, body });
    http::StatusCode::from_u16(answered).unwrap_or(http::StatusCode::OK)
}

fn run<R>(seed: u64, cfg: PaystackConfig, app: App, body: impl AsyncFnOnce(Sim, Paystack) -> R) -> RunOutput<R> {
    let sim_cfg = SimConfig {
        record: true,
        safety: Millis::h(24 * 4),
        liveness: Millis::h(1),
        epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
        net: NetConfig { latency: Range::fixed(Millis(5)), ..NetConfig::default() },
        crashes: Default::default(),
        notes: Vec::new(),
        tap: None,
    };
    Sim::run(sim_cfg, Oracle::random(seed), move |sim| async move {
        let p = Paystack::start(&sim, cfg);
        let router = Router::new().route("/webhooks/paystack", post(handler)).with_state((app, sim.clone()));
        sim.serve("app", router);
        body(sim, p).await
    })
    .expect("the runtime starts")
}

fn quiet() -> PaystackConfig {
    PaystackConfig {
        duplicate_webhook: Rate::ZERO,
        webhook_delay: Range::fixed(Millis(100)),
        payment_fail: Rate::ZERO,
        vary_raw_body: false,
        ..PaystackConfig::default()
    }
}

async fn call(sim: &Sim, method: http::Method, path: &str, body: Option<Value>, key: &str) -> Response {
    let mut req = Request::new(method, path).header("authorization", format!("Bearer {key}"));
    if let Some(b) = body {
        req = req.json(Bytes::from(b.to_string()));
    }
    sim.request("client", ACTOR, req, 60_000).await.expect("no network faults here")
}

fn json_of(resp: &Response) -> Value {
    serde_json::from_slice(&resp.body).expect("an API answer is JSON")
}

async fn init(sim: &Sim, reference: &str) -> Response {
    let body = json!({"email": "ada@example.com", "amount": "500000", "reference": reference,
        "metadata": {"booking_id": 7}});
    call(sim, http::Method::POST, "/transaction/initialize", Some(body), KEY).await
}

async fn verify_status(sim: &Sim, reference: &str) -> String {
    let resp = call(sim, http::Method::GET, &format!("/transaction/verify/{reference}"), None, KEY).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    json_of(&resp)["data"]["status"].as_str().expect("a status").to_string()
}

#[test]
fn signature_matches_openssl() {
    assert_eq!(signature("sk_test_settle", BODY_DOCS.as_bytes()), SIG_DOCS);
    let short = r#"{"event":"charge.success","data":{"reference":"ref-1"}}"#;
    assert_eq!(signature(KEY, short.as_bytes()), SIG_SHORT);
    assert!(verify(SIG_DOCS, BODY_DOCS.as_bytes(), "sk_test_settle"));
    assert!(!verify(SIG_DOCS, BODY_DOCS.replace("10000", "10001").as_bytes(), "sk_test_settle"));
    assert!(!verify(&SIG_DOCS.to_uppercase(), BODY_DOCS.as_bytes(), "sk_test_settle"));
}

#[test]
fn a_card_payment_verifies_success_and_sends_one_signed_charge_success() {
    let app = App::default();
    let out = run(1, quiet(), app.clone(), async |sim, p| {
        let resp = init(&sim, "bk-1").await;
        assert_eq!(resp.status, 200);
        let data = &json_of(&resp)["data"];
        assert_eq!(data["reference"], "bk-1");
        assert!(data["authorization_url"].as_str().unwrap().starts_with("https://checkout.paystack.com/"));
        assert_eq!(verify_status(&sim, "bk-1").await, "abandoned");
        assert_eq!(p.pay("bk-1", Channel::Card), Ok(PayOutcome::Succeeded));
        let v = json_of(&call(&sim, http::Method::GET, "/transaction/verify/bk-1", None, KEY).await);
        assert_eq!(v["data"]["status"], "success");
        assert_eq!(v["data"]["amount"], 500_000);
        assert_eq!(v["data"]["channel"], "card");
        assert!(v["data"]["paid_at"].is_string());
        assert_eq!(v["data"]["metadata"]["booking_id"], 7);
        sim.sleep_ms(60_000).await;
        p.transaction("bk-1").expect("known")
    });
    let truth = out.result;
    assert!(truth.paid_now() && truth.ever_succeeded());
    let statuses: Vec<_> = truth.history.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses, ["abandoned", "ongoing", "success"]);
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    assert!(verify(&seen[0].signature, &seen[0].body, KEY));
    let j = seen[0].json();
    assert_eq!(j["event"], "charge.success");
    assert_eq!(j["data"]["reference"], "bk-1");
    assert!(j.get("id").is_none(), "Paystack events carry no id");
}

#[test]
fn failures_and_abandonment_send_nothing() {
    let app = App::default();
    let out = run(2, quiet(), app.clone(), async |sim, p| {
        init(&sim, "bk-f").await;
        init(&sim, "bk-a").await;
        assert_eq!(p.pay_with("bk-f", Channel::Card, false, 0), Ok(PayOutcome::Failed));
        assert!(p.abandon("bk-a"));
        sim.sleep_ms(3_600_000).await;
        (verify_status(&sim, "bk-f").await, verify_status(&sim, "bk-a").await)
    });
    assert_eq!(out.result, ("failed".to_string(), "abandoned".to_string()));
    assert!(app.seen().is_empty(), "Paystack sends no webhook for a failure or an abandoned page");
}

#[test]
fn a_transfer_waits_pending_then_succeeds_later() {
    let app = App::default();
    let out = run(3, quiet(), app.clone(), async |sim, p| {
        init(&sim, "bk-t").await;
        let r = p.pay_with("bk-t", Channel::BankTransfer, true, 600_000).expect("payable");
        assert!(matches!(r, PayOutcome::Waiting { status: TransactionStatus::Pending, .. }));
        let during = verify_status(&sim, "bk-t").await;
        sim.sleep_ms(700_000).await;
        (during, verify_status(&sim, "bk-t").await)
    });
    assert_eq!(out.result, ("pending".to_string(), "success".to_string()));
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].t_ms >= 600_000, "the webhook follows the money, not the payment's start");
}

#[test]
fn retries_follow_the_published_live_schedule_until_72_hours() {
    let app = App { always: Some(500), ..App::default() };
    let out = run(4, PaystackConfig { retry_jitter_max: Millis(0), ..quiet() }, app.clone(), async |sim, p| {
        init(&sim, "bk-r").await;
        p.pay("bk-r", Channel::Card).expect("payable");
        sim.sleep_ms(Millis::h(80).0).await;
        p.webhooks()
    });
    let times: Vec<u64> = app.seen().iter().map(|s| s.t_ms).collect();
    let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]) / 1000).collect();
    assert_eq!(&gaps[..4], &[180, 180, 180, 3600], "{gaps:?}");
    assert!(gaps[3..].iter().all(|g| *g == 3600));
    assert!(times.last().unwrap() - times[0] <= Millis::h(72).0);
    assert_eq!(times.len(), 1 + 3 + 71);
    assert_eq!(out.result[0].delivery, DeliveryState::Failed);
    assert!(out.marks.contains_key("paystack:webhook-abandoned"));
}

#[test]
fn a_non_200_answer_is_retried_and_the_retry_is_the_same_bytes() {
    let app = App::answering(&[503, 200]);
    run(5, quiet(), app.clone(), async |sim, p| {
        init(&sim, "bk-2").await;
        p.pay("bk-2", Channel::Card).expect("payable");
        sim.sleep_ms(600_000).await;
    });
    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[0].signature, seen[1].signature);
    assert_eq!((seen[1].t_ms - seen[0].t_ms) / 60_000, 3);
}

#[test]
fn a_refund_reverses_and_sends_refund_processed() {
    let app = App::default();
    let out = run(6, quiet(), app.clone(), async |sim, p| {
        init(&sim, "bk-x").await;
        init(&sim, "bk-y").await;
        p.pay("bk-x", Channel::Card).expect("payable");
        let early = call(&sim, http::Method::POST, "/refund", Some(json!({"transaction": "bk-y"})), KEY).await;
        let resp = call(&sim, http::Method::POST, "/refund", Some(json!({"transaction": "bk-x"})), KEY).await;
        let again = call(&sim, http::Method::POST, "/refund", Some(json!({"transaction": "bk-x"})), KEY).await;
        sim.sleep_ms(60_000).await;
        (early.status, resp.status, again.status, verify_status(&sim, "bk-x").await)
    });
    assert_eq!(out.result, (400, 200, 400, "reversed".to_string()));
    let events: Vec<_> = app.seen().iter().map(|s| s.json()["event"].as_str().unwrap().to_string()).collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(sorted, ["charge.success", "refund.processed"]);
}

#[test]
fn the_api_refuses_bad_keys_unknown_references_and_duplicates() {
    let out = run(7, quiet(), App::default(), async |sim, _p| {
        let bad_key = call(&sim, http::Method::GET, "/transaction/verify/x", None, "sk_live_wrong").await;
        let unknown = call(&sim, http::Method::GET, "/transaction/verify/nope", None, KEY).await;
        let first = init(&sim, "dup").await;
        let second = init(&sim, "dup").await;
        let no_amount = call(
            &sim,
            http::Method::POST,
            "/transaction/initialize",
            Some(json!({"email": "a@b.c", "amount": "lots"})),
            KEY,
        )
        .await;
        let generated = call(
            &sim,
            http::Method::POST,
            "/transaction/initialize",
            Some(json!({"email": "a@b.c", "amount": 100})),
            KEY,
        )
        .await;
        (
            bad_key.status,
            unknown.status,
            json_of(&unknown)["message"].clone(),
            first.status,
            second.status,
            json_of(&second)["message"].clone(),
            no_amount.status,
            json_of(&generated)["data"]["reference"].clone(),
        )
    });
    let (bad_key, unknown, unknown_msg, first, second, dup_msg, no_amount, generated) = out.result;
    assert_eq!((bad_key, unknown, first, second, no_amount), (401, 400, 200, 400, 400));
    assert_eq!(unknown_msg, "Transaction reference not found");
    assert_eq!(dup_msg, "Duplicate Transaction Reference");
    assert!(generated.as_str().is_some_and(|r| r.starts_with('T') && r.len() == 13), "{generated}");
}

#[test]
fn the_list_is_newest_first_and_paged() {
    let out = run(8, quiet(), App::default(), async |sim, p| {
        for n in 0..5 {
            init(&sim, &format!("L{n}")).await;
        }
        p.pay("L1", Channel::Card).expect("payable");
        let page2 = json_of(&call(&sim, http::Method::GET, "/transaction?perPage=2&page=2", None, KEY).await);
        let ok = json_of(&call(&sim, http::Method::GET, "/transaction?status=success", None, KEY).await);
        let bad = call(&sim, http::Method::GET, "/transaction?perPage=0", None, KEY).await;
        (page2, ok, bad.status)
    });
    let (page2, ok, bad) = out.result;
    let refs: Vec<_> = page2["data"].as_array().unwrap().iter().map(|d| d["reference"].clone()).collect();
    assert_eq!(refs, [json!("L2"), json!("L1")]);
    assert_eq!(page2["meta"]["pageCount"], 3);
    assert_eq!(ok["data"].as_array().unwrap().len(), 1);
    assert_eq!(bad, 400);
}

#[test]
fn raw_bodies_vary_and_only_the_raw_bytes_verify() {
    let app = App::default();
    let cfg = PaystackConfig { vary_raw_body: true, ..quiet() };
    run(9, cfg, app.clone(), async |sim, p| {
        for n in 0..12 {
            let r = format!("V{n}");
            init(&sim, &r).await;
            p.pay(&r, Channel::Card).expect("payable");
        }
        sim.sleep_ms(60_000).await;
    });
    let seen = app.seen();
    assert_eq!(seen.len(), 12);
    let mut reserialised_fails = 0;
    for s in &seen {
        assert!(verify(&s.signature, &s.body, KEY), "the raw bytes always verify");
        let again = serde_json::to_vec(&s.json()).unwrap();
        if !verify(&s.signature, &again, KEY) {
            reserialised_fails += 1;
        }
    }
    assert!(reserialised_fails > 0 && reserialised_fails < 12, "{reserialised_fails} of 12");
}

#[test]
fn a_stale_verify_answers_an_older_status() {
    let cfg = PaystackConfig {
        api: ApiFaults { stale_read: Rate(1_000_000), stale_by: Range::fixed(Millis::min(10)), ..ApiFaults::default() },
        ..quiet()
    };
    let out = run(10, cfg, App::default(), async |sim, p| {
        init(&sim, "S1").await;
        sim.sleep_ms(Millis::min(20).0).await;
        p.pay("S1", Channel::Card).expect("payable");
        sim.sleep_ms(1_000).await;
        verify_status(&sim, "S1").await
    });
    assert_eq!(out.result, "abandoned", "ten minutes ago it was not paid yet");
    assert!(out.marks.contains_key("fault:provider-stale-read"));
}

#[test]
fn a_chargeback_reverses_a_success_for_good() {
    let out = run(11, quiet(), App::default(), async |sim, p| {
        init(&sim, "C1").await;
        p.pay("C1", Channel::MobileMoney).expect("payable");
        sim.sleep_ms(Millis::h(3).0).await;
        let back = p.charge_back("C1");
        let again = p.pay("C1", Channel::Card);
        (back, again, p.transaction("C1").unwrap())
    });
    let (back, again, truth) = out.result;
    // Mobile money succeeded (payment_fail is 0) before the chargeback.
    assert!(back && truth.ever_succeeded() && !truth.paid_now());
    assert_eq!(again, Err(PayError::NotPayable("reversed")));
}

#[test]
fn same_seed_same_run() {
    let go = |seed| {
        let cfg = PaystackConfig { duplicate_webhook: Rate(200_000), ..PaystackConfig::default() };
        run(seed, cfg, App::answering(&[500, 200, 503]), async |sim, p| {
            for n in 0..6 {
                let r = format!("D{n}");
                init(&sim, &r).await;
                let ch = sim.choose(|o| Channel::ALL[o.below(4) as usize]);
                let _ = p.pay(&r, ch);
            }
            sim.sleep_ms(Millis::h(4).0).await;
        })
        .events
        .iter()
        .map(|e| format!("{} {} {}", e.t_ms, e.actor, e.text))
        .collect::<Vec<_>>()
    };
    assert_eq!(go(42), go(42));
    assert_ne!(go(42), go(43));
}

/// The README's `[paystack]` block is the defaults: every key it sets parses to the default.
#[test]
fn the_readme_lists_the_paystack_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme.find("```toml\n[paystack]\n").expect("the README has a [paystack] block") + "```toml\n".len();
    let block = &readme[from..from + readme[from..].find("```").unwrap()];
    #[derive(serde::Deserialize)]
    struct File {
        paystack: PaystackConfig,
    }
    let parsed: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.paystack, PaystackConfig::default());
    for key in ["livemode", "secret_key", "webhook_delay", "payment_fail", "async_delay", "vary_raw_body"] {
        assert!(block.contains(&format!("\n{key} = ")), "the README's [paystack] lacks {key}");
    }
}
