//! Every transition of both status machines, legal and illegal, against tables written out by
//! hand from PROVIDERS.md and Stripe's documentation (not derived from the code under test).

use super::*;
use IntentStatus as S;

/// The legal PaymentIntent edges, written out one by one.
const INTENT_EDGES: &[(IntentStatus, IntentStatus)] = &[
    (S::RequiresPaymentMethod, S::RequiresConfirmation),
    (S::RequiresPaymentMethod, S::RequiresAction),
    (S::RequiresPaymentMethod, S::Processing),
    (S::RequiresPaymentMethod, S::RequiresCapture),
    (S::RequiresPaymentMethod, S::Succeeded),
    (S::RequiresPaymentMethod, S::Canceled),
    (S::RequiresConfirmation, S::RequiresAction),
    (S::RequiresConfirmation, S::Processing),
    (S::RequiresConfirmation, S::RequiresCapture),
    (S::RequiresConfirmation, S::Succeeded),
    (S::RequiresConfirmation, S::RequiresPaymentMethod),
    (S::RequiresConfirmation, S::Canceled),
    (S::RequiresAction, S::Processing),
    (S::RequiresAction, S::RequiresCapture),
    (S::RequiresAction, S::Succeeded),
    (S::RequiresAction, S::RequiresPaymentMethod),
    (S::RequiresAction, S::Canceled),
    (S::Processing, S::Succeeded),
    (S::Processing, S::RequiresCapture),
    (S::Processing, S::RequiresPaymentMethod),
    (S::RequiresCapture, S::Succeeded),
    (S::RequiresCapture, S::Canceled),
];

#[test]
fn every_intent_transition_is_legal_exactly_when_listed() {
    let mut legal = 0;
    for from in IntentStatus::ALL {
        for to in IntentStatus::ALL {
            let listed = INTENT_EDGES.contains(&(from, to));
            assert_eq!(from.can_transition_to(to), listed, "{} → {}", from.as_str(), to.as_str());
            legal += usize::from(listed);
        }
    }
    assert_eq!(legal, INTENT_EDGES.len());
}

#[test]
fn terminal_intents_go_nowhere_and_nothing_loops() {
    for s in IntentStatus::ALL {
        assert!(!s.can_transition_to(s), "{} loops", s.as_str());
        if s.is_terminal() {
            assert!(IntentStatus::ALL.iter().all(|&n| !s.can_transition_to(n)), "{}", s.as_str());
        }
    }
    assert!(S::Succeeded.is_terminal());
    assert!(S::Canceled.is_terminal());
    assert!(!S::Processing.is_terminal());
}

#[test]
fn cancel_is_allowed_from_every_requires_status_and_not_from_processing() {
    for s in [S::RequiresPaymentMethod, S::RequiresConfirmation, S::RequiresAction, S::RequiresCapture] {
        assert!(s.can_transition_to(S::Canceled), "{}", s.as_str());
    }
    assert!(!S::Processing.can_transition_to(S::Canceled));
}

#[test]
fn a_failure_returns_to_requires_payment_method() {
    for s in [S::RequiresConfirmation, S::RequiresAction, S::Processing] {
        assert!(s.can_transition_to(S::RequiresPaymentMethod), "{}", s.as_str());
        assert_eq!(S::RequiresPaymentMethod.event(), Some(EventType::PaymentIntentPaymentFailed));
    }
}

#[test]
fn wire_names_round_trip_and_old_names_are_read() {
    for s in IntentStatus::ALL {
        assert_eq!(IntentStatus::parse(s.as_str()), Some(s));
        assert_eq!(IntentStatus::parse_any_version(s.as_str()), Some(s));
    }
    assert_eq!(IntentStatus::parse("requires_source"), None, "not a current name");
    assert_eq!(IntentStatus::parse_any_version("requires_source"), Some(S::RequiresPaymentMethod));
    assert_eq!(IntentStatus::parse_any_version("requires_source_action"), Some(S::RequiresAction));
    assert_eq!(IntentStatus::parse("paid"), None);
    assert_eq!(IntentStatus::parse("Succeeded"), None, "case matters");
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
    }
}

#[test]
fn paid_means_succeeded_and_nothing_refunded() {
    for s in IntentStatus::ALL {
        assert_eq!(is_paid(s, 0), s == S::Succeeded, "{}", s.as_str());
        assert!(!is_paid(s, 1), "{} with a refund", s.as_str());
    }
}

#[test]
fn charges_read_as_intent_statuses() {
    assert_eq!(intent_status_of_charge("failed", false, 500, 0), Some(S::RequiresPaymentMethod));
    assert_eq!(intent_status_of_charge("pending", false, 500, 0), Some(S::Processing));
    assert_eq!(intent_status_of_charge("succeeded", true, 500, 0), Some(S::Succeeded));
    assert_eq!(intent_status_of_charge("succeeded", true, 500, 500), Some(S::Succeeded), "refunds live on the charge");
    assert_eq!(intent_status_of_charge("succeeded", false, 500, 0), Some(S::RequiresCapture));
    assert_eq!(intent_status_of_charge("succeeded", false, 500, 500), Some(S::Canceled), "a released authorisation");
    assert_eq!(intent_status_of_charge("paid", true, 500, 0), None);
}

#[test]
fn every_session_transition_is_legal_exactly_when_listed() {
    use PaymentStatus::{NoPaymentRequired as Free, Paid, Unpaid};
    use SessionStatus::{Complete, Expired, Open};
    let edges = [
        ((Open, Unpaid), (Complete, Paid)),
        ((Open, Unpaid), (Complete, Unpaid)),
        ((Open, Unpaid), (Expired, Unpaid)),
        ((Open, Free), (Complete, Free)),
        ((Open, Free), (Expired, Free)),
        ((Complete, Unpaid), (Complete, Paid)),
    ];
    let all: Vec<_> =
        [Open, Complete, Expired].into_iter().flat_map(|s| [Paid, Unpaid, Free].map(move |p| (s, p))).collect();
    for &from in &all {
        for &to in &all {
            assert_eq!(session_can_transition(from, to), edges.contains(&(from, to)), "{from:?} → {to:?}");
        }
    }
    for s in [Open, Complete, Expired] {
        assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
    }
    for p in [Paid, Unpaid, Free] {
        assert_eq!(PaymentStatus::parse(p.as_str()), Some(p));
    }
}
