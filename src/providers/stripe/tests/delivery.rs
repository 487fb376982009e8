//! Webhook delivery: per-attempt signatures a receiver verifies with its own clock, success only
//! on 2xx, the retry schedule and its 3-day limit, duplicates with the same id, no ordering.

use super::*;
use crate::providers::kit::retry::Outcome;
use crate::providers::kit::sign::SignatureError;
use crate::providers::stripe::config::{LIVE_RETRY_FOR, LIVE_RETRY_INTERVALS};
use crate::providers::stripe::{DeliveryState, webhook};

#[test]
fn every_attempt_is_signed_with_the_endpoint_secret_at_its_own_time() {
    let app = App::answering(&[500]);
    run_with(11, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        sim.sleep_ms(600_000).await;
    });
    let seen = app.seen();
    assert!(seen.len() >= 4, "three events and one retry");
    for s in &seen {
        let t = webhook::verify(&s.signature, &s.body, SECRET, s.wall_ms / 1000).expect("settle's deliveries verify");
        // Signed by Stripe's clock when the attempt left, 5 ms of network before it arrived.
        assert!(s.wall_ms / 1000 - t <= 1, "t={t} arrived {}", s.wall_ms);
        assert!(s.signature.starts_with("t=") && s.signature.contains(",v1="));
    }
    // The retried attempt carries a newer timestamp than the first: each attempt is signed anew.
    let first_id = seen[0].id();
    let again: Vec<_> = seen.iter().filter(|s| s.id() == first_id).collect();
    assert_eq!(again.len(), 2);
    assert_ne!(again[0].signature, again[1].signature);
    assert_eq!(again[0].body, again[1].body, "the same bytes every attempt");
}

#[test]
fn a_receiver_whose_clock_is_off_by_more_than_300_s_rejects() {
    let app = App::default();
    run_with(12, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        sim.sleep_ms(60_000).await;
    });
    let s = &app.seen()[0];
    let now = s.wall_ms / 1000;
    assert!(webhook::verify(&s.signature, &s.body, SECRET, now + 299).is_ok());
    assert!(matches!(
        webhook::verify(&s.signature, &s.body, SECRET, now + 301),
        Err(SignatureError::OutsideTolerance { .. })
    ));
    assert_eq!(webhook::verify(&s.signature, &s.body, "whsec_wrong", now), Err(SignatureError::Mismatch));
}

#[test]
fn only_2xx_ends_the_retries_and_each_retry_waits_its_interval() {
    // 302 and 307 are failures at Stripe (no redirect is followed), so are 500 and 503.
    let app = App::answering(&[302, 307, 500, 503]);
    let out = run_with(13, quiet(), app.clone(), |sim, stripe| async move {
        stripe
            .create_session(super::super::NewSession {
                amount_total: 100,
                currency: "usd".into(),
                ..Default::default()
            })
            .unwrap();
        let cs = stripe.sessions()[0].id.clone();
        stripe.expire(&cs).unwrap();
        sim.sleep_ms(3 * 3_600_000).await;
        stripe.events()
    });
    let seen = app.seen();
    assert_eq!(seen.iter().map(|s| s.answered).collect::<Vec<_>>(), [302, 307, 500, 503, 200]);
    assert!(seen.iter().all(|s| s.id() == seen[0].id()));
    let gaps: Vec<u64> = seen.windows(2).map(|w| w[1].t_ms - w[0].t_ms).collect();
    for (gap, base) in gaps.iter().zip(LIVE_RETRY_INTERVALS) {
        // The interval, plus at most 60 s of jitter, plus the round trip of the failed attempt.
        assert!(*gap >= base.0 && *gap <= base.0 + 60_000 + 20, "gap {gap} for interval {base}");
    }
    assert_eq!(out.result[0].delivery, DeliveryState::Delivered);
    let lines = stripe_lines(&out.events);
    assert!(lines.iter().any(|l| l.contains("webhook: Status(302), retry #1 in")), "{lines:?}");
}

#[test]
fn a_failing_endpoint_is_retried_for_3_days_then_given_up() {
    let app = App::answering(&[500; 40]);
    let out = run_with(14, quiet(), app.clone(), |sim, stripe| async move {
        stripe
            .create_session(super::super::NewSession {
                amount_total: 100,
                currency: "usd".into(),
                ..Default::default()
            })
            .unwrap();
        let cs = stripe.sessions()[0].id.clone();
        stripe.expire(&cs).unwrap();
        sim.sleep_ms(4 * 86_400_000).await;
        (stripe.events(), sim.mark_count("stripe:webhook-abandoned"))
    });
    let (events, abandoned) = out.result;
    let seen = app.seen();
    let expected_attempts = quiet().schedule().retry_delays_ms(Outcome::Status(500)).len() + 1;
    assert_eq!(seen.len(), expected_attempts);
    assert_eq!(expected_attempts, 12, "1 m … 12 h, cut at 3 days");
    let span = seen.last().unwrap().t_ms - seen[0].t_ms;
    assert!(span <= LIVE_RETRY_FOR.0, "{span}");
    assert!(span >= 60 * 3_600_000, "retries go on for days: {span}");
    assert_eq!(abandoned, 1);
    assert_eq!(events[0].delivery, DeliveryState::Failed);
}

#[test]
fn test_mode_makes_three_attempts_over_a_few_hours() {
    let cfg = StripeConfig { livemode: false, ..quiet() };
    let s = cfg.schedule();
    assert_eq!(s.retry_delays_ms(Outcome::Timeout), [3_600_000, 7_200_000]);
    let live = quiet().schedule();
    let delays = live.retry_delays_ms(Outcome::ConnectionRefused);
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "backoff never shrinks: {delays:?}");
    assert!(delays.iter().sum::<u64>() <= LIVE_RETRY_FOR.0);
    assert_eq!(live.retries_allowed(Outcome::Status(200)), 0);
    let custom = StripeConfig { retry_intervals: Some(vec![Millis::s(1), Millis::s(2)]), ..quiet() };
    assert_eq!(custom.schedule().retry_delays_ms(Outcome::Status(400)), [1_000, 2_000]);
}

#[test]
fn provider_side_duplicates_repeat_the_same_event_id() {
    let cfg = StripeConfig { duplicate_webhook: crate::sim::Rate(1_000_000), ..quiet() };
    let app = App::default();
    let out = run_with(15, cfg, app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        sim.sleep_ms(60_000).await;
        sim.mark_count("fault:provider-duplicate")
    });
    let ids: Vec<String> = app.seen().iter().map(Seen::id).collect();
    assert_eq!(ids.len(), 6);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    assert_eq!(out.result, 3);
}

#[test]
fn deliveries_arrive_in_no_particular_order() {
    let cfg = StripeConfig { duplicate_webhook: crate::sim::Rate::ZERO, ..StripeConfig::default() };
    let app = App::default();
    let out = run_with(16, cfg, app.clone(), |sim, stripe| async move {
        for _ in 0..10 {
            let cs = new_session(&sim, &[]).await;
            stripe.pay_card(&cs).unwrap();
        }
        sim.sleep_ms(60_000).await;
        stripe.events().iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    });
    let created: Vec<String> = out.result;
    let arrived: Vec<String> = app.seen().iter().map(Seen::id).collect();
    assert_eq!(arrived.len(), created.len());
    assert_ne!(arrived, created, "independent delays reorder events");
    // And ids say nothing about order: created order is not id order either.
    let mut by_id = created.clone();
    by_id.sort();
    assert_ne!(by_id, created);
}
