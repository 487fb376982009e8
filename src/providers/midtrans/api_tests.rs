//! Midtrans's status API with the kit's API faults: off by default (a status call draws
//! nothing from the oracle, so runs without them keep their choices), stale reads that answer
//! the status of a while ago, 5xx and held requests — each only in the safety phase.

use super::provider::{ACTOR, Midtrans, ProviderConfig};
use super::status::PaymentType;
use crate::providers::kit::ApiFaults;
use crate::sim::{Millis, NetConfig, NetError, Oracle, Range, Rate, Request, Response, Sim, SimConfig};

fn config() -> SimConfig {
    SimConfig {
        record: true,
        safety: Millis::h(2),
        liveness: Millis::h(1),
        epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
        net: NetConfig { latency: Range::fixed(Millis(5)), ..NetConfig::default() },
        crashes: Default::default(),
        notes: Vec::new(),
        tap: None,
    }
}

fn provider(api: ApiFaults) -> ProviderConfig {
    ProviderConfig {
        choose_method_delay: Range::fixed(Millis(0)),
        notify_actor: "nobody".into(),
        reversal: Rate::ZERO,
        duplicate_notification: Rate::ZERO,
        api,
        ..ProviderConfig::default()
    }
}

async fn status(sim: &Sim, order: &str, key: &str) -> Result<Response, NetError> {
    let req = Request::new(http::Method::GET, format!("/v2/{order}/status"))
        .header("authorization", Midtrans::basic_auth(key));
    sim.request("jobs", ACTOR, req, 15_000).await
}

fn status_of(resp: &Response) -> String {
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    v["transaction_status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn without_faults_a_status_call_draws_nothing() {
    let out = Sim::run(config(), Oracle::random(1), |sim| async move {
        let m = Midtrans::start(&sim, provider(ApiFaults::default()));
        let key = m.config().server_key.clone();
        m.create_charge("ORD-1", 10_000, PaymentType::BankTransfer);
        sim.sleep_ms(1_000).await;
        let before = sim.choose(|o| o.len());
        let resp = status(&sim, "ORD-1", &key).await.unwrap();
        // The request itself draws its two latencies (fixed ranges draw nothing) and no fault.
        let after = sim.choose(|o| o.len());
        (status_of(&resp), after - before)
    })
    .unwrap();
    assert_eq!(out.result, ("pending".to_string(), 0));
}

#[test]
fn a_stale_read_answers_the_status_of_a_while_ago() {
    let api =
        ApiFaults { stale_read: Rate(1_000_000), stale_by: Range::fixed(Millis::min(10)), ..ApiFaults::default() };
    let out = Sim::run(config(), Oracle::random(2), |sim| async move {
        let m = Midtrans::start(&sim, provider(api));
        let key = m.config().server_key.clone();
        m.create_charge("ORD-2", 10_000, PaymentType::BankTransfer);
        sim.sleep_ms(20 * 60_000).await;
        assert!(m.pay("ORD-2"));
        let soon = status_of(&status(&sim, "ORD-2", &key).await.unwrap());
        sim.sleep_ms(10 * 60_000).await;
        let later = status_of(&status(&sim, "ORD-2", &key).await.unwrap());
        (soon, later, m.truth("ORD-2").unwrap().paid_now(), sim.mark_count("fault:provider-stale-read"))
    })
    .unwrap();
    assert_eq!(out.result, ("pending".into(), "settlement".into(), true, 2));
}

#[test]
fn server_errors_and_held_requests_fire_in_the_safety_phase_only() {
    let api = ApiFaults { server_error: Rate(500_000), timeout: Rate(1_000_000), ..ApiFaults::default() };
    let out = Sim::run(config(), Oracle::random(3), |sim| async move {
        let m = Midtrans::start(&sim, provider(api));
        let key = m.config().server_key.clone();
        m.create_charge("ORD-3", 10_000, PaymentType::Gopay);
        let mut during = Vec::new();
        for _ in 0..12 {
            during.push(status(&sim, "ORD-3", &key).await.map(|r| r.status));
        }
        let s2 = sim.clone();
        sim.spawn("phases", async move { s2.run_phases().await });
        sim.sleep_ms(3 * 3_600_000).await;
        let after = status(&sim, "ORD-3", &key).await.map(|r| r.status);
        (during, after)
    })
    .unwrap();
    let (during, after) = out.result;
    assert!(during.iter().any(|r| matches!(r, Ok(500 | 502 | 503))), "{during:?}");
    assert!(during.contains(&Err(NetError::Timeout)), "{during:?}");
    assert!(during.iter().all(|r| !matches!(r, Ok(200))), "every request faulted: {during:?}");
    assert_eq!(after, Ok(200), "faults are healed in the liveness phase (the order expired: 200 with expire)");
    let lines: Vec<_> =
        out.events.iter().filter(|e| e.kind == crate::sim::Kind::Fault).map(|e| e.text.clone()).collect();
    assert!(lines.iter().any(|l| l.starts_with("ORD-3: answers 5")), "{lines:?}");
}

#[test]
fn basic_auth_is_the_server_key_and_a_colon_in_base64() {
    // `python3 -c "import base64; print(base64.b64encode(b'SB-Mid-server-abc:'))"`
    assert_eq!(Midtrans::basic_auth("SB-Mid-server-abc"), "Basic U0ItTWlkLXNlcnZlci1hYmM6");
    assert_eq!(Midtrans::basic_auth(""), "Basic Og==");
}
