//! Midtrans transaction statuses, fraud statuses and payment types, and the
//! rules that connect them: which status may follow which, which statuses mean
//! "paid", which body `status_code` each status carries, and how long each
//! payment method stays pending before it expires.
//!
//! This models the status machine as `/work/shared/PROVIDERS.md` describes it,
//! plus a few documented additions (see [`TransactionStatus::can_transition_to`]).
//! It does NOT model time, delivery, or which payment methods may reach which
//! status: the machine is the union over all methods, and method-specific
//! restrictions (for example that only bank transfers can reverse a settlement)
//! are exposed as separate predicates on [`PaymentType`] for the caller to
//! combine. Everything here is a pure function of its arguments.

use serde::{Deserialize, Serialize};

/// The `transaction_status` field of a Midtrans notification or status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Card authorised but not yet captured.
    Authorize,
    /// Card captured; paid only together with `fraud_status = accept`.
    Capture,
    /// Funds settled: paid.
    Settlement,
    /// Waiting for the customer (VA not yet paid, 3DS not yet done, ...).
    Pending,
    /// Rejected by the bank or by the fraud detection system.
    Deny,
    /// Cancelled by the merchant.
    Cancel,
    /// Not paid before the expiry deadline.
    Expire,
    /// Unexpected processing error.
    Failure,
    /// Fully refunded.
    Refund,
    /// Partly refunded; more partial refunds or a full refund may follow.
    PartialRefund,
    /// Fully charged back.
    Chargeback,
    /// Partly charged back; a full chargeback may follow.
    PartialChargeback,
}

impl TransactionStatus {
    /// Every status, in declaration order, for table-driven code and tests.
    pub const ALL: [Self; 12] = [
        Self::Authorize,
        Self::Capture,
        Self::Settlement,
        Self::Pending,
        Self::Deny,
        Self::Cancel,
        Self::Expire,
        Self::Failure,
        Self::Refund,
        Self::PartialRefund,
        Self::Chargeback,
        Self::PartialChargeback,
    ];

    /// The exact wire name, as it appears in `transaction_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::Settlement => "settlement",
            Self::Pending => "pending",
            Self::Deny => "deny",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
            Self::Failure => "failure",
            Self::Refund => "refund",
            Self::PartialRefund => "partial_refund",
            Self::Chargeback => "chargeback",
            Self::PartialChargeback => "partial_chargeback",
        }
    }

    /// Parses an exact, case-sensitive wire name. Unknown names give `None`
    /// rather than an error because Midtrans adds values over time and the
    /// caller decides how to treat a status it does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether no further status can follow.
    ///
    /// PROVIDERS.md names deny, cancel, expire and failure as terminal. We also
    /// treat `refund` and `chargeback` as terminal: nothing in PROVIDERS.md
    /// leaves them, and a fully reversed payment has nothing left to reverse.
    /// `settlement`, `partial_refund` and `partial_chargeback` are NOT terminal:
    /// refunds, chargebacks and the rare bank-transfer reversal leave them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Deny | Self::Cancel | Self::Expire | Self::Failure | Self::Refund | Self::Chargeback)
    }

    /// Whether Midtrans may move a transaction from `self` to `next`.
    ///
    /// The table is PROVIDERS.md's, with these additions, each of which real
    /// Midtrans flows produce:
    /// - `pending → capture` and `pending → authorize`: a card payment waiting
    ///   on 3DS is `pending` until the customer completes the challenge, and
    ///   then becomes `capture` (or `authorize` for pre-authorisation).
    /// - `pending → failure`: an unexpected processing error can end a payment
    ///   that never left `pending`.
    /// - `settlement → deny`: the rare reversal PROVIDERS.md describes for some
    ///   bank-transfer methods. It is allowed here for every method; use
    ///   [`PaymentType::can_reverse_settlement`] to restrict it.
    /// - `partial_refund → partial_refund`: a second partial refund. This is
    ///   the only self-loop; every other `x → x` is rejected, so a duplicate
    ///   notification must be recognised as a duplicate, not as a transition.
    ///
    /// Nothing else is allowed. The function is a pure table lookup and does
    /// not consider payment type, time or amounts.
    pub fn can_transition_to(self, next: Self) -> bool {
        use TransactionStatus as S;
        match self {
            S::Pending => {
                matches!(next, S::Settlement | S::Expire | S::Cancel | S::Deny | S::Capture | S::Authorize | S::Failure)
            }
            S::Authorize => matches!(next, S::Capture | S::Deny | S::Cancel | S::Expire),
            S::Capture => matches!(next, S::Settlement | S::Cancel),
            S::Settlement => {
                matches!(next, S::Refund | S::PartialRefund | S::Chargeback | S::PartialChargeback | S::Deny)
            }
            S::PartialRefund => matches!(next, S::Refund | S::PartialRefund),
            S::PartialChargeback => matches!(next, S::Chargeback),
            S::Deny | S::Cancel | S::Expire | S::Failure | S::Refund | S::Chargeback => false,
        }
    }
}

/// The `fraud_status` field, present for card payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudStatus {
    /// The fraud detection system accepted the payment.
    Accept,
    /// Held for manual review by the merchant.
    Challenge,
    /// Rejected as fraudulent.
    Deny,
}

impl FraudStatus {
    /// Every fraud status, in declaration order.
    pub const ALL: [Self; 3] = [Self::Accept, Self::Challenge, Self::Deny];

    /// The exact wire name, as it appears in `fraud_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Challenge => "challenge",
            Self::Deny => "deny",
        }
    }

    /// Parses an exact, case-sensitive wire name; unknown names give `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fraud| fraud.as_str() == s)
    }
}

/// Whether an order in this state must be treated as paid.
///
/// PROVIDERS.md: paid means `settlement`, or `capture` with
/// `fraud_status = accept`. A `capture` with `fraud_status` absent is NOT paid:
/// the rule names `accept` explicitly, and a card capture without a fraud
/// verdict is a malformed or incomplete notice that must not release goods.
/// Methods without a fraud status never use `capture` (they go to
/// `settlement`), so this costs nothing for them. A `challenge` capture is not
/// paid until the merchant accepts it. `refund`, `partial_refund`,
/// `chargeback` and `partial_chargeback` are not paid either: money went back
/// (or is being contested), so the order must not be fulfilled on their basis.
pub fn is_paid(status: TransactionStatus, fraud: Option<FraudStatus>) -> bool {
    match status {
        TransactionStatus::Settlement => true,
        TransactionStatus::Capture => fraud == Some(FraudStatus::Accept),
        _ => false,
    }
}

/// The `status_code` string Midtrans puts in the notification body for a status.
///
/// PROVIDERS.md only names "200" (success) and "201" (pending). Real Midtrans
/// also sends "202" for denied, cancelled, expired and failed transactions, and
/// we follow that. This code is part of the signed string, so it must be
/// exactly what the notification carries.
pub fn status_code(status: TransactionStatus) -> &'static str {
    use TransactionStatus as S;
    match status {
        S::Capture | S::Settlement | S::Refund | S::PartialRefund | S::Chargeback | S::PartialChargeback => "200",
        S::Pending | S::Authorize => "201",
        S::Deny | S::Cancel | S::Expire | S::Failure => "202",
    }
}

/// The `status_message` Midtrans puts in an HTTP notification body.
///
/// Real notifications carry "midtrans payment notification" whatever the
/// status; the message is free text that no client should branch on, so we
/// use it for every status.
pub fn status_message(status: TransactionStatus) -> &'static str {
    // Matched exhaustively so that adding a status forces a decision here.
    match status {
        TransactionStatus::Authorize
        | TransactionStatus::Capture
        | TransactionStatus::Settlement
        | TransactionStatus::Pending
        | TransactionStatus::Deny
        | TransactionStatus::Cancel
        | TransactionStatus::Expire
        | TransactionStatus::Failure
        | TransactionStatus::Refund
        | TransactionStatus::PartialRefund
        | TransactionStatus::Chargeback
        | TransactionStatus::PartialChargeback => "midtrans payment notification",
    }
}

/// The `payment_type` field: the payment method family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentType {
    /// Card, with 3DS and a fraud verdict.
    CreditCard,
    /// Bank virtual account (BCA, BNI, BRI, Permata, ...).
    BankTransfer,
    /// Mandiri Bill Payment, a virtual-account-like method.
    Echannel,
    /// GoPay e-wallet.
    Gopay,
    /// QRIS QR code.
    Qris,
    /// Convenience store (Indomaret, Alfamart).
    Cstore,
}

/// One minute in milliseconds, to keep the expiry table readable.
const MINUTE_MS: u64 = 60_000;
/// One hour in milliseconds.
const HOUR_MS: u64 = 60 * MINUTE_MS;

impl PaymentType {
    /// Every payment type, in declaration order.
    pub const ALL: [Self; 6] =
        [Self::CreditCard, Self::BankTransfer, Self::Echannel, Self::Gopay, Self::Qris, Self::Cstore];

    /// The exact wire name, as it appears in `payment_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreditCard => "credit_card",
            Self::BankTransfer => "bank_transfer",
            Self::Echannel => "echannel",
            Self::Gopay => "gopay",
            Self::Qris => "qris",
            Self::Cstore => "cstore",
        }
    }

    /// Parses an exact, case-sensitive wire name; unknown names give `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|payment_type| payment_type.as_str() == s)
    }

    /// How long a transaction of this type stays `pending` before it expires,
    /// when the merchant does not set a custom expiry.
    ///
    /// From PROVIDERS.md: card 3DS 10 min, bank transfer / VA 24 h; `echannel`
    /// is Mandiri's virtual-account-like bill payment, so it takes the VA
    /// value. *Unpublished* in PROVIDERS.md, plausible defaults: gopay and
    /// qris 15 min (a QR code shown at checkout), cstore 24 h (the customer
    /// walks to a store). A scenario overrides these; this is only the default.
    pub fn default_expiry_ms(self) -> u64 {
        match self {
            Self::CreditCard => 10 * MINUTE_MS,
            Self::BankTransfer | Self::Echannel => 24 * HOUR_MS,
            Self::Gopay | Self::Qris => 15 * MINUTE_MS,
            Self::Cstore => 24 * HOUR_MS,
        }
    }

    /// Whether this is a card payment.
    pub fn is_card(self) -> bool {
        matches!(self, Self::CreditCard)
    }

    /// Whether notifications for this type carry `fraud_status`. Only card
    /// payments go through Midtrans's fraud detection here; for the others
    /// the field is absent (PROVIDERS.md: "absent for some methods").
    pub fn has_fraud_status(self) -> bool {
        self.is_card()
    }

    /// Whether this type can show the rare `settlement → deny` reversal, a
    /// few minutes after settlement. PROVIDERS.md says "some bank-transfer
    /// methods"; we allow it for both virtual-account families.
    pub fn can_reverse_settlement(self) -> bool {
        matches!(self, Self::BankTransfer | Self::Echannel)
    }
}
