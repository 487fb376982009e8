//! The money invariants, written once for every system and every provider: pure functions over
//! a provider-neutral view of one payment, plus the one piece of memory `never regresses` needs.
//!
//! A system maps its own rows and its provider's ground truth onto this view, calls these
//! functions to decide, and writes the finding in its own words (so its invariant names and
//! messages, and therefore its traces, are its own). The simulation's invariants, `settle
//! audit` and the turmoil checks of every system call the same functions, so "paid" means one
//! thing everywhere.
//!
//! The view: a payment has a key (an order code, a Checkout Session id, a ledger row id), and
//! two parties say something about it, each as a [`Verdict`]: the provider (its ground truth,
//! plus whether it *ever* said paid, since a refund does not unsay it) and the local record
//! (the system's canonical status, when it was created, and how many effects it caused:
//! shipments, stored rows).
//!
//! What it checks, one function per property:
//! - paid ⇒ eventually recorded ([`unrecorded`]): the provider says paid (or paid and then
//!   refunded in full) and the record is missing or does not say the same; and the provider
//!   ended it unpaid ⇒ the record does not say paid ([`paid_after_provider_failed`]).
//! - recorded ⇒ provider paid ([`paid_without_provider`]): the record says paid, the provider
//!   never did.
//! - at most once ([`repeated`], [`effect_without_payment`], [`paid_effect_not_once`]): no
//!   effect twice, none for a payment the provider never took, exactly one for a paid record.
//! - never regresses ([`PaidSeen`]): a record once paid never goes back to pending or failed;
//!   a reversal the provider made (refund, chargeback, cancel, deny) is not a regression.
//! - not stuck ([`stuck`]): a pending record created before a cutoff.
//!
//! What it does not check: amounts (a system compares its own columns with its provider's), a
//! system's own invariants over more than one payment (slots, totals, dashboards), or *when*
//! an `eventually` must hold: the caller decides which truths have settled and calls at the end
//! of the liveness phase (or, in an audit, after a grace). It reads nothing: a system gathers
//! the rows, so the same functions run over a simulated database and a live one.

use std::collections::BTreeSet;

/// What one party says about a payment: the provider's ground truth, or the local record's
/// canonical status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Not decided yet (created, processing, in review).
    Pending,
    /// Paid, and still paid.
    Paid,
    /// Ended without payment (expired, failed, cancelled or denied before any payment).
    Failed,
    /// Paid, then given back in full (refund, chargeback, reversal). A provider whose records
    /// are not expected to say "refunded" should report it as [`Verdict::Failed`]: the record
    /// then only has to stop saying paid.
    Refunded,
}

/// Why the provider's verdict is not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// No local record has the payment's key.
    NoRecord,
    /// The record says something else.
    Differs,
}

/// paid ⇒ eventually recorded: the provider says `truth` ([`Verdict::Paid`] or
/// [`Verdict::Refunded`]) and the record (`None`: no record) does not say the same. Other
/// verdicts ask nothing of the record here (see [`paid_after_provider_failed`]).
pub fn unrecorded(truth: Verdict, record: Option<Verdict>) -> Option<Gap> {
    match (truth, record) {
        (Verdict::Pending | Verdict::Failed, _) => None,
        (_, None) => Some(Gap::NoRecord),
        (t, Some(r)) if r != t => Some(Gap::Differs),
        _ => None,
    }
}

/// The provider ended the payment unpaid (failed, or refunded where refunds need not be
/// recorded) and the record still says paid.
pub fn paid_after_provider_failed(truth: Verdict, record: Verdict) -> bool {
    matches!(truth, Verdict::Failed | Verdict::Refunded) && record == Verdict::Paid
}

/// recorded ⇒ provider paid: the record says paid, and the provider never said so.
pub fn paid_without_provider(recorded_paid: bool, provider_ever_paid: bool) -> bool {
    recorded_paid && !provider_ever_paid
}

/// at most once: the payment's effect (a shipment, a stored row) happened more than once.
pub fn repeated(effects: i64) -> bool {
    effects > 1
}

/// at most once, the other half: an effect for a payment the provider never took.
/// `provider_ever_paid` is `None` when the caller did not ask (the provider's lock is not free,
/// and with no effect there is nothing to ask about).
pub fn effect_without_payment(effects: i64, provider_ever_paid: Option<bool>) -> bool {
    effects > 0 && provider_ever_paid == Some(false)
}

/// exactly once, at the end: the record says paid and its effect did not happen exactly once.
pub fn paid_effect_not_once(record: Verdict, effects: i64) -> bool {
    record == Verdict::Paid && effects != 1
}

/// never regresses: a record that said paid now says `now`, which only the local code can have
/// caused (pending or failed); a reversal is the provider's to make, so refunded is allowed.
pub fn regresses(was_paid: bool, now: Verdict) -> bool {
    was_paid && matches!(now, Verdict::Pending | Verdict::Failed)
}

/// not stuck: the record is pending and was created (`since`) before `cutoff`; an unknown
/// creation time is never stuck (the caller cannot say since when).
pub fn stuck(record: Verdict, since: Option<i64>, cutoff: i64) -> bool {
    record == Verdict::Pending && since.is_some_and(|t| t < cutoff)
}

/// The keys seen paid so far, for [`regresses`] across looks at the same records (keep one per
/// run: it remembers).
#[derive(Debug, Default)]
pub struct PaidSeen(BTreeSet<String>);

impl PaidSeen {
    /// Looks at one record now: remembers it if it says paid, and tells whether it regressed.
    pub fn regressed(&mut self, key: &str, now: Verdict) -> bool {
        if now == Verdict::Paid {
            self.0.insert(key.to_string());
            return false;
        }
        regresses(self.0.contains(key), now)
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    #[test]
    fn paid_must_be_recorded_as_paid_and_a_refund_as_refunded() {
        assert_eq!(unrecorded(Paid, None), Some(Gap::NoRecord));
        assert_eq!(unrecorded(Paid, Some(Pending)), Some(Gap::Differs));
        assert_eq!(unrecorded(Paid, Some(Refunded)), Some(Gap::Differs));
        assert_eq!(unrecorded(Paid, Some(Paid)), None);
        assert_eq!(unrecorded(Refunded, Some(Paid)), Some(Gap::Differs));
        assert_eq!(unrecorded(Refunded, Some(Refunded)), None);
        assert_eq!(unrecorded(Pending, None), None);
        assert_eq!(unrecorded(Failed, Some(Paid)), None);
    }

    #[test]
    fn failed_or_refunded_must_not_stay_paid() {
        assert!(paid_after_provider_failed(Failed, Paid));
        assert!(paid_after_provider_failed(Refunded, Paid));
        assert!(!paid_after_provider_failed(Failed, Failed));
        assert!(!paid_after_provider_failed(Paid, Paid));
        assert!(!paid_after_provider_failed(Pending, Paid));
    }

    #[test]
    fn recorded_paid_needs_the_provider_to_have_said_paid() {
        assert!(paid_without_provider(true, false));
        assert!(!paid_without_provider(true, true));
        assert!(!paid_without_provider(false, false));
    }

    #[test]
    fn effects_happen_at_most_once_and_only_when_paid() {
        assert!(!repeated(0));
        assert!(!repeated(1));
        assert!(repeated(2));
        assert!(effect_without_payment(1, Some(false)));
        assert!(!effect_without_payment(1, Some(true)));
        assert!(!effect_without_payment(1, None));
        assert!(!effect_without_payment(0, Some(false)));
        assert!(paid_effect_not_once(Paid, 0));
        assert!(paid_effect_not_once(Paid, 2));
        assert!(!paid_effect_not_once(Paid, 1));
        assert!(!paid_effect_not_once(Pending, 0));
    }

    #[test]
    fn paid_never_goes_back_but_may_be_reversed() {
        let mut seen = PaidSeen::default();
        assert!(!seen.regressed("a", Pending), "never paid: not a regression");
        assert!(!seen.regressed("a", Paid));
        assert!(!seen.regressed("a", Refunded), "a reversal is the provider's");
        assert!(seen.regressed("a", Pending));
        assert!(seen.regressed("a", Failed));
        assert!(!seen.regressed("b", Failed), "remembered per key");
    }

    #[test]
    fn pending_before_the_cutoff_is_stuck() {
        assert!(stuck(Pending, Some(9), 10));
        assert!(!stuck(Pending, Some(10), 10));
        assert!(!stuck(Pending, None, 10));
        assert!(!stuck(Paid, Some(0), 10));
    }
}
