//! Paystack's transaction status machine as pure functions: the statuses `verify` reports, which
//! changes are legal, what "paid" means, the payment channels, and the webhook events.
//!
//! A transaction that was initialized and never paid verifies as `abandoned` (Paystack's own
//! word for "the customer has not completed it"), and it can still be paid: `abandoned` is not
//! terminal. A customer on the page is `ongoing`; bank transfers, USSD and mobile money wait in
//! `pending` / `queued` / `processing`; a payment ends `success` or `failed`; a refunded or
//! charged-back `success` becomes `reversed`. Only `success` is paid.
//!
//! What it does not do: time, money or events. Everything here is a table lookup.

/// A transaction's `status`, as `GET /transaction/verify/{reference}` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionStatus {
    /// Initialized, not (yet) completed by the customer.
    Abandoned,
    /// The customer is on the page (an OTP, a PIN, a bank's approval).
    Ongoing,
    /// Bank transfer, USSD, mobile money: waiting for the money.
    Pending,
    Queued,
    Processing,
    Failed,
    /// Paid.
    Success,
    /// Paid, then refunded or charged back.
    Reversed,
}

impl TransactionStatus {
    pub const ALL: [Self; 8] = [
        Self::Abandoned,
        Self::Ongoing,
        Self::Pending,
        Self::Queued,
        Self::Processing,
        Self::Failed,
        Self::Success,
        Self::Reversed,
    ];

    /// The exact wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Abandoned => "abandoned",
            Self::Ongoing => "ongoing",
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Failed => "failed",
            Self::Success => "success",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Every status, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// No status follows.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Reversed)
    }

    /// Waiting for money that has not arrived (transfer, USSD, mobile money).
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Pending | Self::Queued | Self::Processing)
    }

    /// Whether Paystack may move a transaction from `self` to `next`. Self-loops are not changes.
    pub fn can_transition_to(self, next: Self) -> bool {
        use TransactionStatus as S;
        match self {
            S::Abandoned => !matches!(next, S::Abandoned | S::Reversed),
            S::Ongoing => {
                matches!(next, S::Pending | S::Queued | S::Processing | S::Success | S::Failed | S::Abandoned)
            }
            S::Pending | S::Queued => matches!(next, S::Processing | S::Success | S::Failed) && next != self,
            S::Processing => matches!(next, S::Success | S::Failed),
            S::Success => next == S::Reversed,
            S::Failed | S::Reversed => false,
        }
    }
}

/// Whether a transaction counts as paid now: `success` only (`reversed` gave the money back).
pub fn is_paid(status: TransactionStatus) -> bool {
    status == TransactionStatus::Success
}

/// How the customer pays (`channel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Card,
    BankTransfer,
    Ussd,
    MobileMoney,
}

impl Channel {
    pub const ALL: [Self; 4] = [Self::Card, Self::BankTransfer, Self::Ussd, Self::MobileMoney];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::BankTransfer => "bank_transfer",
            Self::Ussd => "ussd",
            Self::MobileMoney => "mobile_money",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The status a payment by this channel waits in before its result, if it waits.
    pub fn waits_in(self) -> Option<TransactionStatus> {
        match self {
            Self::Card => None,
            Self::BankTransfer => Some(TransactionStatus::Pending),
            Self::Ussd => Some(TransactionStatus::Queued),
            Self::MobileMoney => Some(TransactionStatus::Processing),
        }
    }
}

/// The webhook events this model sends. Paystack sends `charge.success` only for successful
/// payments: failures, abandonment and waiting are found by polling `verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    ChargeSuccess,
    RefundProcessed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargeSuccess => "charge.success",
            Self::RefundProcessed => "refund.processed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TransactionStatus as S;
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(S::parse("settled"), None);
    }

    #[test]
    fn the_machine() {
        // Abandoned is not terminal: the customer may come back.
        assert!(S::Abandoned.can_transition_to(S::Success));
        assert!(S::Abandoned.can_transition_to(S::Ongoing));
        assert!(!S::Abandoned.can_transition_to(S::Reversed));
        assert!(S::Pending.can_transition_to(S::Processing));
        assert!(!S::Pending.can_transition_to(S::Pending));
        assert!(!S::Processing.can_transition_to(S::Pending));
        assert!(S::Success.can_transition_to(S::Reversed));
        assert!(!S::Success.can_transition_to(S::Failed));
        for next in S::ALL {
            assert!(!S::Failed.can_transition_to(next));
            assert!(!S::Reversed.can_transition_to(next));
        }
        assert!(is_paid(S::Success));
        assert!(!is_paid(S::Reversed));
        assert!(S::Failed.is_terminal() && !S::Abandoned.is_terminal());
    }
}
