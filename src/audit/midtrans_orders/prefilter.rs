//! The SQL prefilter of the audit's pass without a provider export: a `WHERE` condition, written
//! from the mapping, that keeps every order row on which one of the internal checks *might* find
//! something, so the database skips the clean rows and only the few suspects are read into Rust,
//! where the mapping normalises them and the simulator's own invariant functions decide.
//!
//! It is a superset, never the decision: each clause mirrors one check of [`super::check`] (named
//! beside it) and keeps at least the rows it flags, so the prefiltered pass finds exactly what the
//! unfiltered pass finds (a property test and an exhaustive table on every backend, in
//! `tests/it/audit/prefilter.rs`). Rows the Rust side cannot decode (a NULL code or status) and
//! rows whose status word the mapping may not name are kept too: Rust fails on the first and
//! counts the second. States are tested through the tables' own vocabularies, words bound as
//! parameters and compared byte for byte ([`Sql::in_states`]).
//!
//! What it does not do: the cross-checks with a provider export (they need every order), or the
//! sync-log check (`paid-never-regresses` is already one aggregate query).

use crate::check::mapping::State;
use crate::systems::midtrans_orders::mapping::Column;

use super::sql::{Condition, Sql};

/// Joins conditions with `OR`, collecting their parameters in order.
fn any(parts: Vec<Condition>) -> Condition {
    let mut params = Vec::new();
    let sql: Vec<String> = parts
        .into_iter()
        .map(|c| {
            params.extend(c.params);
            format!("({})", c.sql)
        })
        .collect();
    Condition { sql: sql.join(" OR "), params }
}

fn raw(sql: impl Into<String>) -> Condition {
    Condition::new(sql, Vec::new())
}

/// The rows of [`Sql::snapshot`] that may be flagged by the internal checks with this `cutoff`
/// (the latest stuck cutoff of any payment method, epoch ms).
pub fn internal(q: &Sql, cutoff: i64) -> Condition {
    let m = q.mapping;
    let (o, p, f) = (&m.orders, &m.order_payments, &m.fulfilments);
    let (ost, pst) = (format!("o.{}", o.status), format!("p.{}", p.status));
    let ofr = o.fraud_status.as_ref().map(|c| format!("o.{c}"));
    let pfr = p.fraud_status.as_ref().map(|c| format!("p.{c}"));
    let ord = |states: &[State]| q.in_states(&ost, ofr.as_deref(), &o.states, states);
    let pay = |states: &[State]| q.in_states(&pst, pfr.as_deref(), &p.states, states);
    let has_payment = || raw(format!("{pst} IS NOT NULL"));
    let paid_at = q.time(Column::OrderPaidAt, &format!("o.{}", o.paid_at));
    let ppaid = q.time(Column::PaymentPaidAt, &format!("p.{}", p.paid_at));
    let created = q.time(Column::OrderCreatedAt, &format!("o.{}", o.created_at));
    let pcreated = q.time(Column::PaymentCreatedAt, &format!("p.{}", p.created_at));
    let count =
        format!("(SELECT COUNT(*) FROM {} f WHERE f.{} = o.{})", f.table, f.order_id, m.fulfilments_reference());
    let classes: Vec<Vec<State>> = {
        // The canonical words, each with the states that read as it.
        let mut by_word: Vec<(&str, Vec<State>)> = Vec::new();
        for s in State::ALL {
            match by_word.iter_mut().find(|(w, _)| *w == s.canonical()) {
                Some((_, states)) => states.push(s),
                None => by_word.push((s.canonical(), vec![s])),
            }
        }
        by_word.into_iter().map(|(_, s)| s).collect()
    };
    let agree = if o.states == p.states && o.fraud_status.is_none() && p.fraud_status.is_none() {
        // One vocabulary: different words are the only way to disagree (a superset when two
        // words share a state).
        raw(format!("{} <> {}", q.exact(&pst), q.exact(&ost)))
    } else {
        let same = any(classes.iter().map(|c| ord(c).and(pay(c))).collect());
        Condition::new(format!("NOT ({})", same.sql), same.params)
    };
    let not = |c: Condition| Condition::new(format!("NOT {}", c.sql), c.params);
    let clauses = vec![
        // Rows the Rust side cannot decode: it fails on them, so must this pass.
        raw(format!("o.{} IS NULL OR {ost} IS NULL", o.code)),
        // Words the mapping may not name (counted, and never PAID).
        q.maybe_unknown(&ost, &o.states),
        has_payment().and(q.maybe_unknown(&pst, &p.states)),
        // order-payment-agree
        has_payment().and(agree),
        // paid-at-iff-paid (order, then payment): a refund keeps its paid time.
        ord(&[State::Paid]).and(raw(format!("{paid_at} IS NULL"))),
        not(ord(&[State::Paid, State::Refunded, State::Chargeback])).and(raw(format!("{paid_at} IS NOT NULL"))),
        has_payment().and(pay(&[State::Paid])).and(raw(format!("{ppaid} IS NULL"))),
        has_payment()
            .and(not(pay(&[State::Paid, State::Refunded, State::Chargeback])))
            .and(raw(format!("{ppaid} IS NOT NULL"))),
        // pending-not-stuck: the payment's state and time when there is a payment row.
        has_payment().and(pay(&[State::Pending])).and(Condition::new(format!("{pcreated} < ?"), vec![cutoff.into()])),
        raw(format!("{pst} IS NULL"))
            .and(ord(&[State::Pending]))
            .and(Condition::new(format!("{created} < ?"), vec![cutoff.into()])),
        // fulfilled-at-most-once (more than once, or shipped and never paid) and
        // paid-fulfilled-once (paid, not shipped): evaluated once per row, the costly clause.
        {
            let paid = ord(&[State::Paid]);
            let paid_ever = any(vec![
                ord(&[State::Paid, State::Refunded, State::Chargeback]),
                pay(&[State::Paid, State::Refunded, State::Chargeback]),
            ]);
            let mut params = paid.params;
            params.extend(paid_ever.params);
            Condition::new(
                format!(
                    "{count} NOT BETWEEN (CASE WHEN {} THEN 1 ELSE 0 END) AND (CASE WHEN {} THEN 1 ELSE 0 END)",
                    paid.sql, paid_ever.sql
                ),
                params,
            )
        },
    ];
    any(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BackendKind;
    use crate::systems::midtrans_orders::mapping::{Ident, Mapping, Vocabulary};

    #[test]
    fn one_value_per_placeholder_and_no_status_in_the_sql() {
        let mut m = Mapping::default();
        m.orders.states = Vocabulary::midtrans();
        m.order_payments.states = Vocabulary::midtrans();
        m.order_payments.fraud_status = Some(Ident::lit("fraud_status"));
        for kind in [BackendKind::Sqlite, BackendKind::Postgres, BackendKind::Mysql] {
            let c = internal(&Sql { kind, mapping: &m }, 5);
            assert_eq!(c.sql.matches('?').count(), c.params.len(), "{kind:?}");
            assert!(!c.sql.contains("settlement"), "status values are bound, never interpolated");
        }
    }
}
