//! The customer's paths through both status machines, and the events each path sends.

use super::*;
use crate::providers::stripe::status::{IntentStatus as I, PaymentStatus as P, SessionStatus as S};
use crate::providers::stripe::{CardOutcome, PayError};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_card_payment_completes_the_session_and_sends_three_events() {
    let app = App::default();
    let out = run_with(1, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        let t = stripe.session(&cs).unwrap();
        assert_eq!((t.status, t.payment_status, t.payment_intent.clone()), (S::Open, P::Unpaid, None));
        assert_eq!(stripe.pay_card(&cs), Ok(CardOutcome::Succeeded));
        sim.sleep_ms(60_000).await;
        (stripe.session(&cs).unwrap(), stripe.intents())
    });
    let (session, intents) = out.result;
    assert_eq!((session.status, session.payment_status), (S::Complete, P::Paid));
    assert_eq!(
        session.history.iter().map(|h| (h.1, h.2)).collect::<Vec<_>>(),
        [(S::Open, P::Unpaid), (S::Complete, P::Paid)]
    );
    assert_eq!(intents.len(), 1);
    let pi = &intents[0];
    assert_eq!(Some(pi.id.clone()), session.payment_intent);
    assert_eq!(pi.history.iter().map(|h| h.1).collect::<Vec<_>>(), [I::RequiresPaymentMethod, I::Succeeded]);
    assert!(pi.paid_now());
    assert_eq!(
        sorted(app.types()),
        ["checkout.session.completed", "payment_intent.created", "payment_intent.succeeded"]
    );
    let completed = app.seen().into_iter().find(|s| s.type_() == "checkout.session.completed").unwrap().json();
    assert_eq!(completed["data"]["object"]["payment_status"], "paid");
    assert_eq!(completed["data"]["object"]["metadata"]["booking_id"], "b-1");
}

#[test]
fn a_declined_card_leaves_the_session_open_and_the_customer_can_pay_again() {
    let cfg = StripeConfig { card_decline: crate::sim::Rate(1_000_000), ..quiet() };
    let app = App::default();
    let out = run_with(2, cfg, app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        assert_eq!(stripe.pay_card(&cs), Ok(CardOutcome::Declined));
        let after_decline = (stripe.session(&cs).unwrap(), stripe.intents());
        // The same intent is reused for the next attempt, by another method.
        stripe.pay_async_with(&cs, true, 3_600_000).unwrap();
        sim.sleep_ms(2 * 3_600_000).await;
        (after_decline, stripe.session(&cs).unwrap(), stripe.intents())
    });
    let ((declined, intents_then), done, intents_now) = out.result;
    assert_eq!((declined.status, declined.payment_status), (S::Open, P::Unpaid));
    assert_eq!(intents_then.len(), 1);
    assert_eq!(intents_then[0].status, I::RequiresPaymentMethod);
    assert_eq!(intents_now.len(), 1, "one intent per session");
    assert_eq!(
        intents_now[0].history.iter().map(|h| h.1).collect::<Vec<_>>(),
        [I::RequiresPaymentMethod, I::Processing, I::Succeeded]
    );
    assert_eq!((done.status, done.payment_status), (S::Complete, P::Paid));
    assert!(app.types().contains(&"payment_intent.payment_failed".to_string()));
}

#[test]
fn an_async_payment_completes_unpaid_then_settles_days_later() {
    let app = App::default();
    let two_days = 2 * 86_400_000;
    let watch = app.clone();
    let out = run_with(3, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[("payment_method_types[0]", "us_bank_account")]).await;
        stripe.pay_async_with(&cs, true, two_days).unwrap();
        sim.sleep_ms(60_000).await;
        let early = (stripe.session(&cs).unwrap(), stripe.intents()[0].status);
        let early_types = sorted(watch.types());
        sim.sleep_ms(two_days).await;
        (early, early_types, stripe.session(&cs).unwrap(), stripe.intents()[0].status)
    });
    let ((early, early_pi), early_types, late, late_pi) = out.result;
    assert_eq!((early.status, early.payment_status, early_pi), (S::Complete, P::Unpaid, I::Processing));
    assert_eq!(early_types, ["checkout.session.completed", "payment_intent.created", "payment_intent.processing"]);
    assert_eq!((late.status, late.payment_status, late_pi), (S::Complete, P::Paid, I::Succeeded));
    let types = app.types();
    assert!(types.contains(&"checkout.session.async_payment_succeeded".to_string()));
    assert!(types.contains(&"payment_intent.succeeded".to_string()));
    let completed = app.seen().into_iter().find(|s| s.type_() == "checkout.session.completed").unwrap().json();
    assert_eq!(completed["data"]["object"]["payment_status"], "unpaid", "completed is not paid for async methods");
}

#[test]
fn a_failed_async_payment_leaves_the_session_complete_and_unpaid() {
    let app = App::default();
    let out = run_with(4, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_async_with(&cs, false, 86_400_000).unwrap();
        sim.sleep_ms(86_400_000 + 60_000).await;
        (stripe.session(&cs).unwrap(), stripe.intents()[0].clone())
    });
    let (session, pi) = out.result;
    assert_eq!((session.status, session.payment_status), (S::Complete, P::Unpaid));
    assert!(!session.ever_paid());
    assert_eq!(pi.status, I::RequiresPaymentMethod);
    assert!(!pi.ever_succeeded());
    let types = app.types();
    assert!(types.contains(&"checkout.session.async_payment_failed".to_string()));
    assert!(types.contains(&"payment_intent.payment_failed".to_string()));
    assert!(!types.contains(&"checkout.session.async_payment_succeeded".to_string()));
}

#[test]
fn three_d_secure_goes_through_requires_action() {
    let cfg = StripeConfig { three_d_secure: crate::sim::Rate(1_000_000), ..quiet() };
    let app = App::default();
    let out = run_with(5, cfg, app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        let outcome = stripe.pay_card(&cs).unwrap();
        let during = stripe.intents()[0].status;
        sim.sleep_ms(180_000).await;
        (outcome, during, stripe.intents()[0].clone(), stripe.session(&cs).unwrap())
    });
    let (outcome, during, pi, session) = out.result;
    let CardOutcome::RequiresAction { completes_after_ms } = outcome else { panic!("{outcome:?}") };
    assert!((5_000..=120_000).contains(&completes_after_ms));
    assert_eq!(during, I::RequiresAction);
    assert_eq!(
        pi.history.iter().map(|h| h.1).collect::<Vec<_>>(),
        [I::RequiresPaymentMethod, I::RequiresAction, I::Succeeded]
    );
    assert!(session.paid_now());
    assert!(app.types().contains(&"payment_intent.requires_action".to_string()));
}

#[test]
fn an_unpaid_session_expires_at_expires_at_and_cannot_be_paid_after() {
    let app = App::default();
    let out = run_with(6, quiet(), app.clone(), |sim, stripe| async move {
        let at = (sim.wall_ms() / 1000 + 1800).to_string();
        let cs = new_session(&sim, &[("expires_at", at.as_str())]).await;
        assert!(stripe.abandon(&cs));
        sim.sleep_ms(1_799_000).await;
        let before = stripe.session(&cs).unwrap().status;
        sim.sleep_ms(2_000).await;
        (before, stripe.session(&cs).unwrap(), stripe.pay_card(&cs), stripe.abandon(&cs))
    });
    let (before, after, pay, abandon_again) = out.result;
    assert_eq!(before, S::Open);
    assert!(after.expired());
    assert_eq!(pay, Err(PayError::NotOpen("expired")));
    assert!(!abandon_again);
    assert_eq!(app.types(), ["checkout.session.expired"]);
}

#[test]
fn expiring_a_session_with_a_declined_attempt_cancels_its_intent() {
    let cfg = StripeConfig { card_decline: crate::sim::Rate(1_000_000), ..quiet() };
    let app = App::default();
    let out = run_with(7, cfg, app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        let path = format!("/v1/checkout/sessions/{cs}/expire");
        let first = call(&sim, http::Method::POST, &path, &[], None).await;
        let again = call(&sim, http::Method::POST, &path, &[], None).await;
        sim.sleep_ms(60_000).await;
        (first, again, stripe.intents()[0].clone())
    });
    let (first, again, pi) = out.result;
    assert_eq!(first.status, 200);
    assert_eq!(json(&first)["status"], "expired");
    assert_eq!(json(&first)["url"], Value::Null);
    assert_eq!(again.status, 400);
    assert_eq!(json(&again)["error"]["code"], "checkout_session_not_expirable");
    assert_eq!(pi.status, I::Canceled);
    let types = app.types();
    assert!(types.contains(&"checkout.session.expired".to_string()));
    assert!(types.contains(&"payment_intent.canceled".to_string()));
}

#[test]
fn a_refund_marks_the_charge_and_the_intent_stays_succeeded() {
    let app = App::default();
    let out = run_with(8, quiet(), app.clone(), |sim, stripe| async move {
        let cs = new_session(&sim, &[]).await;
        stripe.pay_card(&cs).unwrap();
        let pi = stripe.session(&cs).unwrap().payment_intent.unwrap();
        let too_much =
            call(&sim, http::Method::POST, "/v1/refunds", &[("payment_intent", &pi), ("amount", "2501")], None).await;
        let part =
            call(&sim, http::Method::POST, "/v1/refunds", &[("payment_intent", &pi), ("amount", "1000")], None).await;
        let rest = call(&sim, http::Method::POST, "/v1/refunds", &[("payment_intent", &pi)], None).await;
        let none_left = call(&sim, http::Method::POST, "/v1/refunds", &[("payment_intent", &pi)], None).await;
        sim.sleep_ms(60_000).await;
        (too_much, part, rest, none_left, stripe.intent(&pi).unwrap(), stripe.refunds())
    });
    let (too_much, part, rest, none_left, pi, refunds) = out.result;
    assert_eq!(too_much.status, 400);
    assert_eq!(json(&part)["amount"], 1000);
    assert_eq!(json(&rest)["amount"], 1500);
    assert_eq!(json(&rest)["object"], "refund");
    assert_eq!(none_left.status, 400);
    assert_eq!(pi.status, I::Succeeded);
    assert_eq!(pi.amount_refunded, 2500);
    assert!(!pi.paid_now(), "refunded is not paid");
    assert!(pi.ever_succeeded());
    assert_eq!(refunds.len(), 2);
    let refunded: Vec<_> =
        app.seen().into_iter().filter(|s| s.type_() == "charge.refunded").map(|s| s.json()).collect();
    assert_eq!(refunded.len(), 2);
    assert!(
        refunded
            .iter()
            .any(|e| e["data"]["object"]["amount_refunded"] == 2500 && e["data"]["object"]["refunded"] == true)
    );
    assert_eq!(app.types().iter().filter(|t| *t == "refund.created").count(), 2);
}

#[test]
fn customers_pay_only_in_the_safety_phase() {
    let out =
        Sim::run(SimConfig { safety: Millis::min(1), ..sim_config(false) }, Oracle::random(9), |sim| async move {
            let stripe = Stripe::start(&sim, quiet());
            let cs = stripe.create_session(super::super::NewSession {
                amount_total: 100,
                currency: "usd".into(),
                ..Default::default()
            });
            let cs = cs.unwrap();
            let s2 = sim.clone();
            sim.spawn("phases", async move { s2.run_phases().await });
            sim.sleep_ms(120_000).await;
            stripe.pay_card(&cs)
        })
        .unwrap();
    assert_eq!(out.result, Err(PayError::NotNow));
}
