//! Stripe's status machines as pure functions: the PaymentIntent's `status`, the Checkout
//! Session's `status` and `payment_status`, which changes are legal, what "paid" means, and how
//! a Charge's fields read as a PaymentIntent status. The simulated provider moves only along
//! these edges, and the audit's export converter reads saved payloads with the same functions.
//!
//! PaymentIntent (PROVIDERS.md): `requires_payment_method` → (`requires_confirmation`) →
//! `requires_action` → `processing` (async methods; can take days) → `succeeded`; manual
//! capture goes through `requires_capture`; a failed attempt goes back to
//! `requires_payment_method`; cancel is allowed from every `requires_*` status. `succeeded` and
//! `canceled` are terminal (a refund does not change the intent's status: the charge carries
//! it). Checkout Session: `open` → `complete` (paid, or unpaid while an async payment is
//! processing) or `expired`; a complete, unpaid session becomes paid when the async payment
//! succeeds and stays unpaid when it fails.
//!
//! What it does not do: time, money or events. Everything here is a table lookup.

/// A PaymentIntent's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    /// Asynchronous methods: can take days.
    Processing,
    /// Authorised, not captured: not paid yet.
    RequiresCapture,
    Canceled,
    /// Paid (unless refunded since, which the charge tells).
    Succeeded,
}

impl IntentStatus {
    pub const ALL: [Self; 7] = [
        Self::RequiresPaymentMethod,
        Self::RequiresConfirmation,
        Self::RequiresAction,
        Self::Processing,
        Self::RequiresCapture,
        Self::Canceled,
        Self::Succeeded,
    ];

    /// The exact wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
        }
    }

    /// Parses an exact wire name of the current API.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Parses a wire name of any API version: PaymentIntents saved under versions before
    /// 2019-02-11 say `requires_source` and `requires_source_action` for
    /// `requires_payment_method` and `requires_action`.
    pub fn parse_any_version(s: &str) -> Option<Self> {
        match s {
            "requires_source" => Some(Self::RequiresPaymentMethod),
            "requires_source_action" => Some(Self::RequiresAction),
            other => Self::parse(other),
        }
    }

    /// Every status, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// No status follows.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Canceled)
    }

    /// Whether Stripe may move an intent from `self` to `next`. Self-loops are not changes: a
    /// repeated status is a duplicate, not a transition. `processing` cannot be canceled by the
    /// merchant (PROVIDERS.md: cancel from `requires_*`).
    pub fn can_transition_to(self, next: Self) -> bool {
        use IntentStatus as S;
        match self {
            S::RequiresPaymentMethod => {
                matches!(next, S::RequiresConfirmation | S::RequiresAction | S::Processing | S::RequiresCapture)
                    || matches!(next, S::Succeeded | S::Canceled)
            }
            S::RequiresConfirmation => matches!(
                next,
                S::RequiresAction
                    | S::Processing
                    | S::RequiresCapture
                    | S::Succeeded
                    | S::RequiresPaymentMethod
                    | S::Canceled
            ),
            S::RequiresAction => matches!(
                next,
                S::Processing | S::RequiresCapture | S::Succeeded | S::RequiresPaymentMethod | S::Canceled
            ),
            S::Processing => matches!(next, S::Succeeded | S::RequiresCapture | S::RequiresPaymentMethod),
            // Capture, or release (by the merchant, or by Stripe after 7 days uncaptured).
            S::RequiresCapture => matches!(next, S::Succeeded | S::Canceled),
            S::Succeeded | S::Canceled => false,
        }
    }

    /// The `payment_intent.*` event a change to this status sends, if any.
    pub fn event(self) -> Option<EventType> {
        match self {
            Self::RequiresAction => Some(EventType::PaymentIntentRequiresAction),
            Self::Processing => Some(EventType::PaymentIntentProcessing),
            Self::Succeeded => Some(EventType::PaymentIntentSucceeded),
            Self::Canceled => Some(EventType::PaymentIntentCanceled),
            Self::RequiresCapture => Some(EventType::PaymentIntentAmountCapturableUpdated),
            // Back to requires_payment_method is a failed attempt.
            Self::RequiresPaymentMethod => Some(EventType::PaymentIntentPaymentFailed),
            Self::RequiresConfirmation => None,
        }
    }
}

/// Whether a payment counts as paid: `succeeded` with nothing refunded. `requires_capture` is
/// only authorised; a refund, even a partial one, is not paid (as Midtrans's `refund` and
/// `partial_refund` are not).
pub fn is_paid(status: IntentStatus, amount_refunded: i64) -> bool {
    status == IntentStatus::Succeeded && amount_refunded == 0
}

/// A Charge read as its PaymentIntent's status: `failed` → `requires_payment_method` (a failed
/// attempt sends the intent back there), `pending` → `processing`, `succeeded` and captured →
/// `succeeded`, not captured → `requires_capture`, or `canceled` once the authorisation is
/// released (Stripe then reports it refunded in full). `None` for an unknown charge status.
pub fn intent_status_of_charge(
    status: &str,
    captured: bool,
    amount: i64,
    amount_refunded: i64,
) -> Option<IntentStatus> {
    Some(match status {
        "failed" => IntentStatus::RequiresPaymentMethod,
        "pending" => IntentStatus::Processing,
        "succeeded" if captured => IntentStatus::Succeeded,
        "succeeded" if amount_refunded >= amount && amount > 0 => IntentStatus::Canceled,
        "succeeded" => IntentStatus::RequiresCapture,
        _ => return None,
    })
}

/// A Checkout Session's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Complete, Self::Expired].into_iter().find(|x| x.as_str() == s)
    }
}

/// A Checkout Session's `payment_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    /// A session whose total is 0 (or a setup): nothing to pay.
    NoPaymentRequired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Unpaid => "unpaid",
            Self::NoPaymentRequired => "no_payment_required",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Paid, Self::Unpaid, Self::NoPaymentRequired].into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether a Checkout Session may move from `(status, payment_status)` to `next`.
///
/// - `open/unpaid` → `complete/paid` (card), `complete/unpaid` (an async method now
///   processing), `expired/unpaid` (expiry or the expire API).
/// - `open/no_payment_required` → `complete/no_payment_required` or `expired/no_payment_required`.
/// - `complete/unpaid` → `complete/paid` (the async payment succeeded). A failed async payment
///   leaves it `complete/unpaid`: no change.
/// - `complete/paid`, `expired/*` and `complete/no_payment_required` are final.
pub fn session_can_transition(from: (SessionStatus, PaymentStatus), next: (SessionStatus, PaymentStatus)) -> bool {
    use PaymentStatus::{NoPaymentRequired as Free, Paid, Unpaid};
    use SessionStatus::{Complete, Expired, Open};
    matches!(
        (from, next),
        ((Open, Unpaid), (Complete, Paid | Unpaid) | (Expired, Unpaid))
            | ((Open, Free), (Complete | Expired, Free))
            | ((Complete, Unpaid), (Complete, Paid))
    )
}

/// The event types the simulated Stripe sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    CheckoutSessionCompleted,
    CheckoutSessionAsyncPaymentSucceeded,
    CheckoutSessionAsyncPaymentFailed,
    CheckoutSessionExpired,
    PaymentIntentCreated,
    PaymentIntentRequiresAction,
    PaymentIntentProcessing,
    PaymentIntentAmountCapturableUpdated,
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    PaymentIntentCanceled,
    ChargeRefunded,
    RefundCreated,
}

impl EventType {
    pub const ALL: [Self; 13] = [
        Self::CheckoutSessionCompleted,
        Self::CheckoutSessionAsyncPaymentSucceeded,
        Self::CheckoutSessionAsyncPaymentFailed,
        Self::CheckoutSessionExpired,
        Self::PaymentIntentCreated,
        Self::PaymentIntentRequiresAction,
        Self::PaymentIntentProcessing,
        Self::PaymentIntentAmountCapturableUpdated,
        Self::PaymentIntentSucceeded,
        Self::PaymentIntentPaymentFailed,
        Self::PaymentIntentCanceled,
        Self::ChargeRefunded,
        Self::RefundCreated,
    ];

    /// The exact `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckoutSessionCompleted => "checkout.session.completed",
            Self::CheckoutSessionAsyncPaymentSucceeded => "checkout.session.async_payment_succeeded",
            Self::CheckoutSessionAsyncPaymentFailed => "checkout.session.async_payment_failed",
            Self::CheckoutSessionExpired => "checkout.session.expired",
            Self::PaymentIntentCreated => "payment_intent.created",
            Self::PaymentIntentRequiresAction => "payment_intent.requires_action",
            Self::PaymentIntentProcessing => "payment_intent.processing",
            Self::PaymentIntentAmountCapturableUpdated => "payment_intent.amount_capturable_updated",
            Self::PaymentIntentSucceeded => "payment_intent.succeeded",
            Self::PaymentIntentPaymentFailed => "payment_intent.payment_failed",
            Self::PaymentIntentCanceled => "payment_intent.canceled",
            Self::ChargeRefunded => "charge.refunded",
            Self::RefundCreated => "refund.created",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests;
