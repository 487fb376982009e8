//! The HTTP API: shapes, validation, authentication, idempotency keys, rate limits, event
//! pagination and retention, and the API's own faults.

use super::*;
use crate::providers::kit::ApiFaults;
use crate::sim::Rate;

const ALWAYS: Rate = Rate(1_000_000);

#[test]
fn a_session_is_created_and_retrieved_with_stripes_shape() {
    let out = run_with(21, quiet(), App::default(), |sim, _stripe| async move {
        let cs = new_session(
            &sim,
            &[("client_reference_id", "slot-9"), ("payment_intent_data[metadata][booking_id]", "b-1")],
        )
        .await;
        let got = call(&sim, http::Method::GET, &format!("/v1/checkout/sessions/{cs}"), &[], None).await;
        (cs, got, sim.wall_ms() / 1000)
    });
    let (cs, got, now_s) = out.result;
    assert!(cs.starts_with("cs_live_") && cs.len() == 66, "{cs}");
    assert_eq!(got.status, 200);
    assert!(got.header("request-id").is_some_and(|r| r.starts_with("req_")));
    let v = json(&got);
    assert_eq!(v["object"], "checkout.session");
    assert_eq!(v["id"], cs.as_str());
    assert_eq!(v["status"], "open");
    assert_eq!(v["payment_status"], "unpaid");
    assert_eq!(v["mode"], "payment");
    assert_eq!(v["amount_total"], 2500);
    assert_eq!(v["currency"], "usd");
    assert_eq!(v["payment_intent"], Value::Null, "no intent until the customer pays");
    assert_eq!(v["client_reference_id"], "slot-9");
    assert_eq!(v["metadata"]["booking_id"], "b-1");
    assert_eq!(v["livemode"], true);
    let created = v["created"].as_u64().unwrap();
    assert!(now_s - created <= 1);
    assert_eq!(v["expires_at"].as_u64().unwrap() - created, 86_400, "24 h by default");
    assert!(v["url"].as_str().unwrap().contains(&cs));
    let parsed: crate::providers::stripe::objects::Session = serde_json::from_value(v).unwrap();
    assert_eq!(parsed.status, "open");
}

#[test]
fn bad_requests_name_the_parameter_and_bad_keys_are_refused() {
    let out = run_with(22, quiet(), App::default(), |sim, _| async move {
        let no_mode = call(
            &sim,
            http::Method::POST,
            "/v1/checkout/sessions",
            &[("line_items[0][price_data][unit_amount]", "5")],
            None,
        )
        .await;
        let soon = (sim.wall_ms() / 1000 + 600).to_string();
        let too_soon = call(
            &sim,
            http::Method::POST,
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "5"),
                ("expires_at", &soon),
            ],
            None,
        )
        .await;
        let missing = call(&sim, http::Method::GET, "/v1/checkout/sessions/cs_live_nope", &[], None).await;
        let bad_key = sim
            .request(
                "client",
                crate::providers::stripe::ACTOR,
                Request::new(http::Method::GET, "/v1/events").header("authorization", "Bearer sk_wrong"),
                10_000,
            )
            .await
            .unwrap();
        use base64::Engine;
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:")));
        let basic_ok = sim
            .request(
                "client",
                crate::providers::stripe::ACTOR,
                Request::new(http::Method::GET, "/v1/events").header("authorization", basic),
                10_000,
            )
            .await
            .unwrap();
        (no_mode, too_soon, missing, bad_key, basic_ok)
    });
    let (no_mode, too_soon, missing, bad_key, basic_ok) = out.result;
    assert_eq!((no_mode.status, json(&no_mode)["error"]["param"].clone()), (400, Value::from("mode")));
    assert_eq!((too_soon.status, json(&too_soon)["error"]["param"].clone()), (400, Value::from("expires_at")));
    assert_eq!((missing.status, json(&missing)["error"]["code"].clone()), (404, Value::from("resource_missing")));
    assert_eq!(bad_key.status, 401);
    assert_eq!(basic_ok.status, 200);
}

#[test]
fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let out = run_with(23, quiet(), App::default(), |sim, stripe| async move {
        let form = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "700"),
        ];
        let first = call(&sim, http::Method::POST, "/v1/checkout/sessions", &form, Some("k-1")).await;
        // The same parameters in another order are the same request.
        let mut reordered = form;
        reordered.reverse();
        let again = call(&sim, http::Method::POST, "/v1/checkout/sessions", &reordered, Some("k-1")).await;
        let mut other = form;
        other[2].1 = "701";
        let mismatch = call(&sim, http::Method::POST, "/v1/checkout/sessions", &other, Some("k-1")).await;
        let long_key = "k".repeat(256);
        let too_long = call(&sim, http::Method::POST, "/v1/checkout/sessions", &form, Some(&long_key)).await;
        (first, again, mismatch, too_long, stripe.sessions().len())
    });
    let (first, again, mismatch, too_long, sessions) = out.result;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, again.body, "byte for byte");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(mismatch.status, 400);
    assert_eq!(json(&mismatch)["error"]["type"], "idempotency_error");
    assert_eq!(too_long.status, 400);
    assert_eq!(sessions, 1, "the replay created nothing");
}

#[test]
fn a_saved_500_is_replayed_for_its_key_while_a_new_key_gets_through() {
    let cfg = StripeConfig { api: ApiFaults { server_error: Rate(500_000), ..ApiFaults::default() }, ..quiet() };
    let out = run_with(24, cfg, App::default(), |sim, stripe| async move {
        let form = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "7"),
        ];
        // Find a key whose first answer was a 5xx.
        let mut failed_key = None;
        for i in 0..40 {
            let key = format!("k-{i}");
            let r = call(&sim, http::Method::POST, "/v1/checkout/sessions", &form, Some(&key)).await;
            if r.status >= 500 {
                failed_key = Some((key, r));
                break;
            }
        }
        let (key, first) = failed_key.expect("a 5xx within 40 tries at rate 0.5");
        let sessions_before = stripe.sessions().len();
        let mut retries = Vec::new();
        for _ in 0..6 {
            retries.push(call(&sim, http::Method::POST, "/v1/checkout/sessions", &form, Some(&key)).await);
        }
        (first, retries, sessions_before, stripe.sessions().len(), sim.mark_count("fault:provider-5xx"))
    });
    let (first, retries, before, after, marks) = out.result;
    assert_eq!(json(&first)["error"]["type"], "api_error");
    for r in &retries {
        assert_eq!(r.status, first.status);
        assert_eq!(r.body, first.body);
        assert_eq!(r.header("idempotent-replayed"), Some("true"));
    }
    assert_eq!(before, after, "a replayed 500 runs nothing");
    assert!(marks >= 1);
}

#[test]
fn rate_limits_answer_429_per_endpoint_and_per_key_then_recover() {
    let cfg = StripeConfig { rate_limit: Some(5), rate_limit_per_endpoint: 3, ..quiet() };
    let out = run_with(25, cfg, App::default(), |sim, _| async move {
        let mut statuses = Vec::new();
        // Requests sent at the same instant: 3 per endpoint, 5 in all, per second.
        let reqs = [
            "/v1/events",
            "/v1/events",
            "/v1/events",
            "/v1/events",
            "/v1/events/evt_x",
            "/v1/events/evt_y",
            "/v1/events/evt_z",
        ];
        let sends: Vec<_> = reqs.iter().map(|p| call(&sim, http::Method::GET, p, &[], None)).collect();
        for s in sends {
            statuses.push(s.await.status);
        }
        sim.sleep_ms(1_000).await;
        let later = call(&sim, http::Method::GET, "/v1/events", &[], None).await;
        (statuses, later, sim.mark_count("stripe:rate-limited"))
    });
    let (statuses, later, marks) = out.result;
    // Sent one after another within a few ms: the 4th on /v1/events hits the endpoint limit,
    // the 7th the key's 5 per second (the 4th refused one still spent a key token).
    assert_eq!(statuses, [200, 200, 200, 429, 404, 429, 429]);
    assert_eq!(later.status, 200);
    assert_eq!(marks, 3);
}

#[test]
fn event_pages_are_newest_first_and_a_walk_loses_nothing_while_events_arrive() {
    let out = run_with(26, quiet(), App::default(), |sim, stripe| async move {
        for _ in 0..9 {
            let cs = new_session(&sim, &[]).await;
            stripe.pay_card(&cs).unwrap();
        }
        let existing: Vec<String> = stripe.events().iter().map(|e| e.id.clone()).collect();
        let mut seen: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let mut q = vec![("limit", "4".to_string())];
            if let Some(a) = &after {
                q.push(("starting_after", a.clone()));
            }
            let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(q).finish();
            let page = json(&call(&sim, http::Method::GET, &format!("/v1/events?{query}"), &[], None).await);
            let ids: Vec<String> =
                page["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
            seen.extend(ids.iter().cloned());
            // New events appear between pages.
            let cs = new_session(&sim, &[]).await;
            stripe.pay_card(&cs).unwrap();
            if page["has_more"] != true || pages > 50 {
                break;
            }
            after = ids.last().cloned();
        }
        (existing, seen)
    });
    let (existing, seen) = out.result;
    let mut newest_first = existing.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every event once, newest first, none of the later ones");
}

#[test]
fn event_filters_and_bad_list_parameters() {
    let app = App::answering(&[500; 40]);
    let cfg = StripeConfig { retry_intervals: Some(vec![Millis::s(1)]), ..quiet() };
    let out = run_with(27, cfg, app, |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        sim.sleep_ms(30_000).await;
        let q = |s: &'static str| {
            let sim = sim.clone();
            async move { call(&sim, http::Method::GET, &format!("/v1/events?{s}"), &[], None).await }
        };
        (
            q("type=checkout.session.*").await,
            q("types[]=payment_intent.created&types[]=payment_intent.succeeded").await,
            q("delivery_success=false").await,
            q("limit=0").await,
            q("limit=101").await,
            q("starting_after=a&ending_before=b").await,
            q("starting_after=evt_nope").await,
        )
    });
    let (by_type, by_types, failed, zero, big, both, unknown) = out.result;
    let types = |r: &Response| -> Vec<String> {
        json(r)["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(types(&by_type), ["checkout.session.completed"]);
    assert_eq!(types(&by_types), ["payment_intent.succeeded", "payment_intent.created"]);
    assert_eq!(types(&failed).len(), 3, "every delivery failed: {:?}", types(&failed));
    for (r, param) in [(&zero, "limit"), (&big, "limit"), (&both, "ending_before"), (&unknown, "starting_after")] {
        assert_eq!(r.status, 400);
        assert_eq!(json(r)["error"]["param"], param);
    }
}

#[test]
fn events_are_listable_for_30_days_only() {
    let out = run_with(28, quiet(), App::default(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        let id = stripe.events()[0].id.clone();
        sim.sleep_ms(29 * 86_400_000).await;
        let day29 = (
            call(&sim, http::Method::GET, "/v1/events", &[], None).await,
            call(&sim, http::Method::GET, &format!("/v1/events/{id}"), &[], None).await,
        );
        sim.sleep_ms(2 * 86_400_000).await;
        let day31 = (
            call(&sim, http::Method::GET, "/v1/events", &[], None).await,
            call(&sim, http::Method::GET, &format!("/v1/events/{id}"), &[], None).await,
        );
        (day29, day31)
    });
    let ((list29, one29), (list31, one31)) = out.result;
    assert_eq!(json(&list29)["data"].as_array().unwrap().len(), 3);
    assert_eq!(one29.status, 200);
    assert_eq!(json(&list31)["data"].as_array().unwrap().len(), 0);
    assert_eq!(one31.status, 404);
}

#[test]
fn a_black_holed_create_still_runs_and_its_key_returns_the_saved_session() {
    let cfg = StripeConfig {
        api: ApiFaults { timeout: ALWAYS, timeout_hold: Millis::min(5), ..ApiFaults::default() },
        ..quiet()
    };
    let out = run_with(29, cfg, App::default(), |sim, stripe| async move {
        let form = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "7"),
        ];
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut req = Request::new(http::Method::POST, "/v1/checkout/sessions")
            .header("authorization", format!("Bearer {KEY}"))
            .header("idempotency-key", "k-bh");
        req.body = Bytes::from(body);
        let first = sim.request("client", crate::providers::stripe::ACTOR, req.clone(), 10_000).await;
        let created = stripe.sessions();
        let retry = sim.request("client", crate::providers::stripe::ACTOR, req, 10_000).await;
        (first, created, retry, sim.mark_count("fault:provider-timeout"))
    });
    let (first, created, retry, marks) = out.result;
    assert_eq!(first, Err(crate::sim::NetError::Timeout), "the caller gave up");
    assert_eq!(created.len(), 1, "but the session was created");
    let retry = retry.expect("the replay answers at once, before any fault is drawn");
    assert_eq!(retry.status, 200);
    assert_eq!(json(&retry)["id"], created[0].id.as_str());
    assert_eq!(marks, 1);
}

#[test]
fn a_stale_read_answers_the_state_of_a_while_ago() {
    let stale = ApiFaults { stale_read: ALWAYS, stale_by: Range::fixed(Millis::min(10)), ..ApiFaults::default() };
    let out = run_with(30, StripeConfig { api: stale, ..quiet() }, App::default(), |sim, stripe| async move {
        let cs = stripe
            .create_session(super::super::NewSession {
                amount_total: 100,
                currency: "usd".into(),
                ..Default::default()
            })
            .unwrap();
        sim.sleep_ms(3_600_000).await;
        stripe.pay_card(&cs).unwrap();
        sim.sleep_ms(60_000).await;
        let path = format!("/v1/checkout/sessions/{cs}");
        let soon = call(&sim, http::Method::GET, &path, &[], None).await;
        sim.sleep_ms(10 * 60_000).await;
        let later = call(&sim, http::Method::GET, &path, &[], None).await;
        (soon, later, stripe.session(&cs).unwrap(), sim.mark_count("fault:provider-stale-read"))
    });
    let (soon, later, truth, marks) = out.result;
    assert!(truth.paid_now());
    assert_eq!(json(&soon)["status"], "open", "ten minutes behind, the payment is not visible");
    assert_eq!(json(&later)["status"], "complete");
    assert_eq!(json(&later)["payment_status"], "paid");
    assert_eq!(marks, 2);
}

#[test]
fn injected_faults_fire_only_in_the_safety_phase() {
    let api = ApiFaults { server_error: ALWAYS, ..ApiFaults::default() };
    let out = Sim::run(SimConfig { safety: Millis::s(1), ..sim_config(false) }, Oracle::random(31), |sim| async move {
        Stripe::start(&sim, StripeConfig { api, ..quiet() });
        let during = call(&sim, http::Method::GET, "/v1/events", &[], None).await;
        let s2 = sim.clone();
        sim.spawn("phases", async move { s2.run_phases().await });
        sim.sleep_ms(2_000).await;
        let after = call(&sim, http::Method::GET, "/v1/events", &[], None).await;
        (during.status, after.status)
    })
    .unwrap();
    let (during, after) = out.result;
    assert!([500, 502, 503].contains(&during), "{during}");
    assert_eq!(after, 200);
}
