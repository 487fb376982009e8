//! Tests of the turmoil transport: providers served as turmoil hosts and called over turmoil's
//! network. The whole loop (a shop, its bug, its fix) is `examples/turmoil_shop.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use super::*;
use crate::providers::fanvue::{Fanvue, ProviderConfig as FanvueConfig, Source};
use crate::providers::midtrans::ProviderConfig;
use crate::sim::{DEFAULT_EPOCH_MS, Millis, Range, Request, Response};

fn sim<'a>(seed: u64) -> ::turmoil::Sim<'a> {
    ::turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(3600))
        .build()
}

fn snap(order_id: &str, amount: i64, key: &str) -> Request {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let body = serde_json::json!({"transaction_details": {"order_id": order_id, "gross_amount": amount}});
    Request::new(::http::Method::POST, "/snap/v1/transactions")
        .json(body.to_string())
        .header("authorization", format!("Basic {auth}"))
}

#[test]
fn midtrans_serves_snap_and_the_status_api_over_turmoil() {
    let world = World::new(3, DEFAULT_EPOCH_MS);
    let plan = LoadPlan { pay: crate::sim::Rate(0), ..LoadPlan::default() };
    let host = MidtransHost::new(&world, "midtrans", ProviderConfig::default(), plan);
    let key = host.provider().config().server_key.clone();
    let mut sim = sim(3);
    let h = host.clone();
    sim.host("midtrans", move || h.clone().serve(443));
    let answers: Arc<Mutex<Vec<Response>>> = Arc::default();
    let a = answers.clone();
    sim.client("app", async move {
        let mut got = Vec::new();
        got.push(http::send("midtrans", 443, snap("ORD-1", 45_000, &key), 5_000).await?);
        got.push(http::send("midtrans", 443, snap("ORD-1", 45_000, &key), 5_000).await?);
        got.push(http::send("midtrans", 443, snap("ORD-2", 45_000, "wrong"), 5_000).await?);
        got.push(http::send("midtrans", 443, snap("ORD-3", -5, &key), 5_000).await?);
        // Snap: the status API answers 404 until the customer picks a method (≤ 30 s).
        tokio::time::sleep(Duration::from_secs(31)).await;
        let status = Request::new(::http::Method::GET, "/v2/ORD-1/status")
            .header("authorization", crate::providers::midtrans::Midtrans::basic_auth(&key));
        got.push(http::send("midtrans", 443, status, 5_000).await?);
        *a.lock().map_err(|_| "poisoned")? = got;
        Ok(())
    });
    sim.run().expect("the simulation completes");
    let got = answers.lock().expect("not poisoned").clone();
    let codes: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(codes, [201, 400, 401, 400, 200]);
    assert!(String::from_utf8_lossy(&got[1].body).contains("already been taken"));
    let status: serde_json::Value = serde_json::from_slice(&got[4].body).expect("JSON");
    assert_eq!(status["order_id"], "ORD-1");
    assert_eq!(status["transaction_status"], "pending");
    assert_eq!(status["gross_amount"], "45000.00");
    // The ground truth is the host's: one charge, in minor units.
    let truths = host.provider().truths();
    assert_eq!(truths.len(), 1);
    assert_eq!(truths[0].gross_amount, 4_500_000);
}

#[test]
fn a_notification_to_an_unnamed_or_unreachable_party_is_refused_and_retried() {
    let world = World::new(5, DEFAULT_EPOCH_MS);
    let cfg = ProviderConfig {
        notify_actor: "shop".into(),
        choose_method_delay: Range::fixed(Millis(0)),
        ..Default::default()
    };
    let host = MidtransHost::new(&world, "midtrans", cfg, LoadPlan { pay: crate::sim::Rate(0), ..LoadPlan::default() });
    // The party is named, but no host listens there: every attempt is refused.
    host.notify("nobody", 80);
    let key = host.provider().config().server_key.clone();
    let mut sim = sim(5);
    let h = host.clone();
    sim.host("midtrans", move || h.clone().serve(443));
    sim.host("nobody", || async {
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("app", async move {
        http::send("midtrans", 443, snap("ORD-9", 1_000, &key), 5_000).await?;
        tokio::time::sleep(Duration::from_secs(300)).await;
        Ok(())
    });
    sim.run().expect("the simulation completes");
    let lines: Vec<String> = world.recorder().lines().iter().map(|l| l.to_string()).collect();
    assert!(lines.iter().any(|l| l.contains("ORD-9 pending → shop: connection refused")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("ORD-9: pending notification: ConnectionRefused, retry #1")), "{lines:#?}");
}

#[test]
fn fanvue_serves_its_api_as_a_turmoil_host() {
    let world = World::new(9, DEFAULT_EPOCH_MS);
    let runtime = world.runtime("fanvue");
    let fanvue = Fanvue::new(runtime.rt(), FanvueConfig::default());
    fanvue.add_creator("c-1", "Creator One", "tok-1");
    let version = fanvue.config().api_version.clone();
    let mut sim = sim(9);
    let f = fanvue.clone();
    sim.host("fanvue", move || serve_provider(runtime.clone(), 443, f.router()));
    let answer: Arc<Mutex<Option<Response>>> = Arc::default();
    let a = answer.clone();
    let sale = fanvue.clone();
    sim.client("agency", async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sale.record_sale("c-1", 1_500, Source::Tip, "fan-1").ok_or("the sale is recorded")?;
        tokio::time::sleep(Duration::from_secs(120)).await;
        let req = Request::new(::http::Method::GET, "/insights/earnings")
            .header("authorization", "Bearer tok-1")
            .header("x-fanvue-api-version", version);
        *a.lock().map_err(|_| "poisoned")? = Some(http::send("fanvue", 443, req, 5_000).await?);
        Ok(())
    });
    sim.run().expect("the simulation completes");
    let resp = answer.lock().expect("not poisoned").clone().expect("an answer");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert!(resp.header("x-ratelimit-limit").is_some());
    let page: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON");
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
}

#[test]
fn checks_read_the_users_database_through_the_mapping_against_the_truth() {
    use crate::store::sqlite::Sqlite;
    use crate::store::{Backend, Migration};
    use crate::systems::midtrans_orders::mapping::Mapping;
    const SCHEMA: &str = include_str!("../systems/midtrans_orders/migrations/20260122000000_orders.sqlite.sql");
    let world = World::new(1, DEFAULT_EPOCH_MS);
    let host = MidtransHost::new(&world, "midtrans", ProviderConfig::default(), LoadPlan::default());
    // Outside a simulation the charge's own tasks do not run: the provider never says paid.
    host.provider().create_charge("ORD-1", 100_000, crate::providers::midtrans::status::PaymentType::Gopay);
    let mut db = Sqlite::memory().expect("an in-memory database");
    db.reset("seed001", &[Migration::portable("1", SCHEMA)]).expect("the schema");
    for sql in [
        "INSERT INTO orders VALUES (1, 'ORD-1', 'PAID', 100000, 5, 1, 1)",
        "INSERT INTO order_payments VALUES (1, 1, 't1', 'gopay', 'PAID', 'settlement', 100000, 5, 1, 1)",
        "INSERT INTO orders VALUES (2, 'ORD-2', 'PENDING', 100000, NULL, 1, 1)",
        "INSERT INTO order_payments VALUES (2, 2, 't2', 'gopay', 'EXPIRED', 'expire', 100000, NULL, 1, 1)",
    ] {
        db.execute(sql, &[]).expect("a row");
    }
    let checks = OrderChecks::new(Mapping::default());
    let during = checks.always(host.provider(), &mut db, 0).expect("readable");
    let names: Vec<(&str, &[String])> = during.iter().map(|v| (v.invariant.as_str(), v.subjects.as_slice())).collect();
    assert_eq!(
        names,
        [
            ("paid-only-if-provider-paid", &["ORD-1".to_string()][..]),
            ("order-payment-agree", &["ORD-2".to_string()][..])
        ]
    );
    let end = checks.at_end(host.provider(), &mut db, host.world().now_ms()).expect("readable");
    let names: Vec<&str> = end.iter().map(|v| v.invariant.as_str()).collect();
    assert_eq!(names, ["paid-only-if-provider-paid", "order-payment-agree", "paid-fulfilled-once"]);
    // A story names the order's trace lines.
    let s = story(&end[0], &world.recorder().lines(), 5);
    assert!(s.contains("story of ORD-1:") && s.contains("ORD-1: charge created (gopay, 1000.00)"), "{s}");
}

#[test]
fn stripe_sends_signed_webhooks_to_a_users_turmoil_host() {
    use crate::providers::kit::sign::verify_timestamped;
    use crate::providers::stripe::{CardOutcome, Stripe, StripeConfig};
    use crate::sim::Rate;
    let cfg = StripeConfig {
        duplicate_webhook: Rate::ZERO,
        card_decline: Rate::ZERO,
        three_d_secure: Rate::ZERO,
        webhook_delay: Range::fixed(Millis(100)),
        ..StripeConfig::default()
    };
    let (key, secret) = (cfg.secret_key.clone(), cfg.webhook_secret.clone());
    let world = World::new(11, DEFAULT_EPOCH_MS);
    world.add_peer(&cfg.webhook_actor, "app", 8080);
    let runtime = world.runtime("stripe");
    let stripe = Stripe::new(runtime.rt(), cfg);
    let mut sim = sim(11);
    let s = stripe.clone();
    sim.host("stripe", move || serve_provider(runtime.clone(), 443, s.router()));
    // The user's app: verifies each webhook's signature and keeps the event types.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let app_seen = seen.clone();
    sim.host("app", move || {
        let (seen, secret) = (app_seen.clone(), secret.clone());
        let router = axum::Router::new().route(
            "/webhooks/stripe",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
                let (seen, secret) = (seen.clone(), secret.clone());
                async move {
                    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let signed = verify_timestamped(header, "v1", &secret, &body, 0, 0).is_ok();
                    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let kind = event["type"].as_str().unwrap_or("?").to_string();
                    seen.lock().map(|mut s| s.push((kind, signed))).ok();
                    axum::http::StatusCode::OK
                }
            }),
        );
        async move {
            http::serve(8080, router).await?;
            Ok(())
        }
    });
    let customer = stripe.clone();
    sim.client("checkout", async move {
        let form = [
            ("mode", "payment"),
            ("success_url", "https://shop.example/ok"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "2500"),
            ("line_items[0][price_data][product_data][name]", "Haircut"),
            ("line_items[0][quantity]", "1"),
        ];
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let req = Request::new(::http::Method::POST, "/v1/checkout/sessions")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/x-www-form-urlencoded");
        let req = Request { body: body.into(), ..req };
        let resp = http::send("stripe", 443, req, 10_000).await?;
        let session: serde_json::Value = serde_json::from_slice(&resp.body)?;
        let id = session["id"].as_str().ok_or("a session id")?.to_string();
        if customer.pay_card(&id) != Ok(CardOutcome::Succeeded) {
            return Err("the card payment did not succeed".into());
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    });
    sim.run().expect("the simulation completes");
    let mut seen = seen.lock().expect("not poisoned").clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("checkout.session.completed".to_string(), true),
            ("payment_intent.created".to_string(), true),
            ("payment_intent.succeeded".to_string(), true),
        ]
    );
}

#[test]
fn paystack_sends_signed_charge_success_to_a_users_turmoil_host_and_verifies_over_it() {
    use crate::providers::paystack::{Channel, PayOutcome, Paystack, PaystackConfig, webhook};
    use crate::sim::Rate;
    let cfg = PaystackConfig {
        duplicate_webhook: Rate::ZERO,
        payment_fail: Rate::ZERO,
        webhook_delay: Range::fixed(Millis(100)),
        ..PaystackConfig::default()
    };
    let key = cfg.secret_key.clone();
    let world = World::new(13, DEFAULT_EPOCH_MS);
    world.add_peer(&cfg.webhook_actor, "app", 8080);
    let runtime = world.runtime("paystack");
    let paystack = Paystack::new(runtime.rt(), cfg);
    let mut sim = sim(13);
    let p = paystack.clone();
    sim.host("paystack", move || serve_provider(runtime.clone(), 443, p.router()));
    // The user's app: checks `x-paystack-signature` over the raw bytes and keeps what it saw.
    let seen: Arc<Mutex<Vec<(String, String, bool)>>> = Arc::default();
    let app_seen = seen.clone();
    let app_key = key.clone();
    sim.host("app", move || {
        let (seen, key) = (app_seen.clone(), app_key.clone());
        let router = axum::Router::new().route(
            "/webhooks/paystack",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
                let (seen, key) = (seen.clone(), key.clone());
                async move {
                    let header = headers.get("x-paystack-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let signed = webhook::verify(header, &body, &key);
                    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let kind = event["event"].as_str().unwrap_or("?").to_string();
                    let reference = event["data"]["reference"].as_str().unwrap_or("?").to_string();
                    seen.lock().map(|mut s| s.push((kind, reference, signed))).ok();
                    axum::http::StatusCode::OK
                }
            }),
        );
        async move {
            http::serve(8080, router).await?;
            Ok(())
        }
    });
    let verified: Arc<Mutex<Option<String>>> = Arc::default();
    let (customer, v) = (paystack.clone(), verified.clone());
    sim.client("checkout", async move {
        let body = serde_json::json!({"email": "ada@example.com", "amount": 500000, "reference": "bk-1"});
        let req = Request::new(::http::Method::POST, "/transaction/initialize")
            .json(body.to_string())
            .header("authorization", format!("Bearer {key}"));
        let resp = http::send("paystack", 443, req, 10_000).await?;
        if resp.status != 200 {
            return Err(format!("initialize answered {}", resp.status).into());
        }
        if customer.pay("bk-1", Channel::Card) != Ok(PayOutcome::Succeeded) {
            return Err("the card payment did not succeed".into());
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let req = Request::new(::http::Method::GET, "/transaction/verify/bk-1")
            .header("authorization", format!("Bearer {key}"));
        let resp = http::send("paystack", 443, req, 10_000).await?;
        let answer: serde_json::Value = serde_json::from_slice(&resp.body)?;
        *v.lock().expect("not poisoned") = answer["data"]["status"].as_str().map(str::to_string);
        Ok(())
    });
    sim.run().expect("the simulation completes");
    assert_eq!(*verified.lock().expect("not poisoned"), Some("success".to_string()));
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(seen, [("charge.success".to_string(), "bk-1".to_string(), true)]);
}
