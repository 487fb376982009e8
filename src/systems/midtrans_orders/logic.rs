//! The reference reconciliation logic shared by the webhook, the reconciliation job and the
//! admin button: map a provider status to an order status, and apply it in one unit of work —
//! only legal, forward transitions; payment and order together; fulfilment exactly once; every
//! sync logged.
//!
//! Flaws switch parts of it back to the bugs they are named after (see [`super::Flaw`]).
//! What it does not do: talk to the network or decide retries; its callers do.

use crate::providers::midtrans::notification::{Notification, parse_gross_amount};
use crate::providers::midtrans::status::{FraudStatus, TransactionStatus};
use crate::store::{SqlError, Tx, Value};

use super::{Flaw, Flaws};

/// The order and payment status vocabulary of seed 001's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderStatus {
    Pending,
    Paid,
    Expired,
    Cancelled,
    Denied,
    Failed,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::Denied,
        OrderStatus::Failed,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Paid => "PAID",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Denied => "DENIED",
            OrderStatus::Failed => "FAILED",
            OrderStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Forward transitions only. A paid order can still be reversed by the provider
    /// (settlement → deny, refund, capture → cancel), never sent back to PENDING or EXPIRED.
    pub fn can_become(self, next: OrderStatus) -> bool {
        match self {
            OrderStatus::Pending => next != OrderStatus::Pending,
            OrderStatus::Paid => matches!(next, OrderStatus::Denied | OrderStatus::Refunded | OrderStatus::Cancelled),
            _ => false,
        }
    }
}

/// What the provider says about one order, from a notification or the status API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderUpdate {
    pub order_code: String,
    pub status: TransactionStatus,
    pub fraud: Option<FraudStatus>,
    pub gross_amount: i64,
}

impl ProviderUpdate {
    /// Reads the fields that matter from a notification (or status API answer).
    pub fn from_notification(n: &Notification) -> Result<Self, String> {
        let status = TransactionStatus::parse(&n.transaction_status)
            .ok_or_else(|| format!("unknown transaction_status {:?}", n.transaction_status))?;
        let fraud = match n.fraud_status.as_deref() {
            None | Some("") => None,
            Some(f) => Some(FraudStatus::parse(f).ok_or_else(|| format!("unknown fraud_status {f:?}"))?),
        };
        let gross_amount = parse_gross_amount(&n.gross_amount)
            .ok_or_else(|| format!("malformed gross_amount {:?}", n.gross_amount))?;
        Ok(ProviderUpdate { order_code: n.order_id.clone(), status, fraud, gross_amount })
    }

    fn provider_status(&self) -> String {
        match self.fraud {
            Some(f) => format!("{}/{}", self.status.as_str(), f.as_str()),
            None => self.status.as_str().to_string(),
        }
    }
}

/// The order status a provider status calls for; `None` means "no change" (a challenged
/// capture awaiting review, a partial refund).
pub fn target_status(status: TransactionStatus, fraud: Option<FraudStatus>, flaws: Flaws) -> Option<OrderStatus> {
    use TransactionStatus as T;
    match status {
        T::Settlement => Some(OrderStatus::Paid),
        // `settlement-only`: a card capture accepted by fraud review is paid, but is missed.
        T::Capture if fraud == Some(FraudStatus::Accept) && !flaws.has(Flaw::SettlementOnly) => Some(OrderStatus::Paid),
        T::Capture => None,
        T::Pending | T::Authorize => Some(OrderStatus::Pending),
        T::Expire => Some(OrderStatus::Expired),
        T::Cancel => Some(OrderStatus::Cancelled),
        T::Deny => Some(OrderStatus::Denied),
        T::Failure => Some(OrderStatus::Failed),
        T::Refund | T::Chargeback => Some(OrderStatus::Refunded),
        T::PartialRefund | T::PartialChargeback => None,
    }
}

/// Where an update came from (the `sync_type` of the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Webhook,
    Reconciliation,
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Reconciliation => "reconciliation",
            Source::Manual => "manual",
        }
    }
}

/// Which tables one unit updates: both (correct), or half of a `split-update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Both,
    PaymentOnly,
}

/// What applying an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// No payment row for this order yet (the checkout has not inserted it).
    Missing,
    AmountMismatch,
    /// The status calls for no change.
    NoTarget,
    Unchanged(OrderStatus),
    /// Not a legal forward transition: a stale or out-of-order update, ignored.
    Stale {
        from: OrderStatus,
        to: OrderStatus,
    },
    Changed {
        order_id: i64,
        from: OrderStatus,
        to: OrderStatus,
    },
}

/// Applies `upd` in the open unit `tx`. With [`Part::PaymentOnly`] the order row is left for a
/// second unit ([`apply_order`]).
pub fn apply(
    tx: &mut Tx,
    upd: &ProviderUpdate,
    source: Source,
    now: u64,
    flaws: Flaws,
    part: Part,
) -> Result<Applied, SqlError> {
    let row = tx.query_opt(
        "SELECT o.id, p.id, p.payment_status, p.gross_amount FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE o.order_code = ?",
        &[Value::from(&upd.order_code)],
    )?;
    let Some(row) = row else { return Ok(Applied::Missing) };
    let (order_id, payment_id, gross) = (row.int(0)?, row.int(1)?, row.int(3)?);
    let current_text = row.text(2)?;
    let current = OrderStatus::parse(&current_text)
        .ok_or_else(|| SqlError::Decode(format!("unknown payment_status {current_text:?}")))?;
    if gross != upd.gross_amount {
        log(tx, upd, source, Some(current), None, "amount-mismatch", now)?;
        return Ok(Applied::AmountMismatch);
    }
    let Some(target) = target_status(upd.status, upd.fraud, flaws) else {
        log(tx, upd, source, Some(current), None, "no-change", now)?;
        return Ok(Applied::NoTarget);
    };
    if target == current {
        // `double-fulfil`: the side effect runs once per delivery, not once per payment.
        if flaws.has(Flaw::DoubleFulfil) {
            // #[gamma::skip(reason = "double-fulfil's own condition, read only with that flaw on", tag = "flaw")]
            let shipped_again = source == Source::Webhook && target == OrderStatus::Paid;
            if shipped_again {
                fulfil(tx, order_id, source, now)?;
            }
        }
        log(tx, upd, source, Some(current), Some(target), "duplicate", now)?;
        return Ok(Applied::Unchanged(current));
    }
    // `late-regress`: any mapped status is applied, even one that goes back.
    if !current.can_become(target) && !flaws.has(Flaw::LateRegress) {
        log(tx, upd, source, Some(current), Some(target), "stale-ignored", now)?;
        return Ok(Applied::Stale { from: current, to: target });
    }
    // #[gamma::skip(logical.and_remove_left, relational, reason = "the left side and the flaw alone differ from the source only with reversal-keeps-paid-at on", tag = "flaw")]
    let keeps_paid_at = target == OrderStatus::Denied && flaws.has(Flaw::ReversalKeepsPaidAt);
    if keeps_paid_at {
        // `reversal-keeps-paid-at`: the status moves on to DENIED, paid_at stays.
        tx.execute(
            "UPDATE order_payments SET payment_status = ?, provider_status = ?, updated_at = ? WHERE id = ?",
            &[target.as_str().into(), upd.provider_status().into(), now.into(), payment_id.into()],
        )?;
    } else {
        let paid_at = if target == OrderStatus::Paid { Value::from(now) } else { Value::Null };
        tx.execute(
            "UPDATE order_payments SET payment_status = ?, provider_status = ?, paid_at = ?, updated_at = ? WHERE id = ?",
            &[target.as_str().into(), upd.provider_status().into(), paid_at, now.into(), payment_id.into()],
        )?;
    }
    if part == Part::Both {
        apply_order(tx, order_id, target, source, now, flaws)?;
    }
    log(tx, upd, source, Some(current), Some(target), "applied", now)?;
    Ok(Applied::Changed { order_id, from: current, to: target })
}

/// Sets the order's status (and fulfils it on becoming PAID).
pub fn apply_order(
    tx: &mut Tx,
    order_id: i64,
    target: OrderStatus,
    source: Source,
    now: u64,
    flaws: Flaws,
) -> Result<(), SqlError> {
    let prev = tx.query_opt("SELECT status FROM orders WHERE id = ?", &[order_id.into()])?;
    // #[gamma::skip(logical.and_remove_left, relational, reason = "the left side and the flaw alone differ from the source only with reversal-keeps-paid-at on", tag = "flaw")]
    let keeps_paid_at = target == OrderStatus::Denied && flaws.has(Flaw::ReversalKeepsPaidAt);
    if keeps_paid_at {
        tx.execute(
            "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?",
            &[target.as_str().into(), now.into(), order_id.into()],
        )?;
    } else {
        let paid_at = if target == OrderStatus::Paid { Value::from(now) } else { Value::Null };
        tx.execute(
            "UPDATE orders SET status = ?, paid_at = ?, updated_at = ? WHERE id = ?",
            &[target.as_str().into(), paid_at, now.into(), order_id.into()],
        )?;
    }
    let was_paid = prev.map(|r| r.text(0)).transpose()?.as_deref() == Some("PAID");
    // `repair-skips-fulfil`: the side effect lives in the webhook handler only.
    // #[gamma::skip(logical.or_remove_left, relational, reason = "these two differ from the source only with repair-skips-fulfil on", tag = "flaw")]
    let fulfils = source == Source::Webhook || !flaws.has(Flaw::RepairSkipsFulfil);
    // #[gamma::skip(logical.and_remove_right, reason = "the order is already PAID here only if it moved without its payment, which neither the reference's one unit nor split-update's second one (it follows a payment the order had not followed yet) does; dropping `fulfils` differs only with repair-skips-fulfil on", tag = "equivalent")]
    if target == OrderStatus::Paid && !was_paid && fulfils {
        fulfil(tx, order_id, source, now)?;
    }
    Ok(())
}

fn fulfil(tx: &mut Tx, order_id: i64, source: Source, now: u64) -> Result<(), SqlError> {
    tx.execute(
        "INSERT INTO fulfilments (order_id, source, created_at) VALUES (?, ?, ?)",
        &[order_id.into(), source.as_str().into(), now.into()],
    )?;
    Ok(())
}

fn log(
    tx: &mut Tx,
    upd: &ProviderUpdate,
    source: Source,
    old: Option<OrderStatus>,
    new: Option<OrderStatus>,
    outcome: &str,
    now: u64,
) -> Result<(), SqlError> {
    // The id is the database's own (rowid, identity, AUTO_INCREMENT): see the migrations.
    tx.execute(
        "INSERT INTO payment_sync_logs (order_code, sync_type, provider_status, old_status, new_status, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            Value::from(&upd.order_code),
            source.as_str().into(),
            upd.provider_status().into(),
            old.map(OrderStatus::as_str).into(),
            new.map(OrderStatus::as_str).into(),
            outcome.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// The seed's 30-minute stuck-payment query (the monitor), in portable SQL: PENDING payments
/// created before `cutoff`.
pub const STUCK_PAYMENTS_SQL: &str = "SELECT o.order_code, p.created_at FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE p.payment_status = 'PENDING' AND p.created_at < ? ORDER BY p.created_at, o.order_code";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_transitions_only() {
        use OrderStatus::*;
        for s in OrderStatus::ALL {
            assert!(!s.can_become(s), "{s:?} → itself");
            assert!(!Paid.can_become(Pending));
            assert!(!Paid.can_become(Expired));
            if s != Pending && s != Paid {
                for t in OrderStatus::ALL {
                    assert!(!s.can_become(t), "terminal {s:?} → {t:?}");
                }
            }
        }
        assert!(Pending.can_become(Paid));
        assert!(Paid.can_become(Denied));
    }

    #[test]
    fn capture_accept_is_paid_unless_settlement_only() {
        let none = Flaws::default();
        let flawed = Flaws::from_iter([Flaw::SettlementOnly]);
        let t = TransactionStatus::Capture;
        assert_eq!(target_status(t, Some(FraudStatus::Accept), none), Some(OrderStatus::Paid));
        assert_eq!(target_status(t, Some(FraudStatus::Accept), flawed), None);
        assert_eq!(target_status(t, Some(FraudStatus::Challenge), none), None);
        assert_eq!(target_status(TransactionStatus::Settlement, None, flawed), Some(OrderStatus::Paid));
    }

    #[test]
    fn status_names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("paid"), None);
    }
}
