//! The SQL prefilter of the audit's pass without a provider export: a `WHERE` condition, written
//! from the mapping, that keeps every order row on which one of the internal invariants *might*
//! be violated, so the database skips the clean rows and only the few suspects are read into
//! Rust, where the simulator's own invariant functions decide as before.
//!
//! It is a superset, never the decision: each clause below mirrors one function of
//! [`crate::systems::midtrans_orders::invariants`] (the one named beside it) and keeps at least
//! the rows that function flags, so the prefiltered pass finds exactly what the unfiltered pass
//! finds (proven by a property test and an exhaustive table on every backend, in
//! `tests/it/audit.rs`). Rows the Rust side would fail to decode (a NULL order code or status)
//! are kept too, so both passes fail alike on them.
//!
//! Status values are compared byte for byte ([`Sql::exact`]), as Rust compares them, whatever the
//! column's collation: an `=` looser than Rust's would be harmless, but a looser `<>` would drop
//! a row Rust flags.
//!
//! What it does not do: the cross-checks with a provider export (they need every PAID order and
//! every order the export names, which SQL cannot tell without the export), or the sync-log check
//! (`paid-never-regresses` is already one aggregate query).

use crate::store::Value;

use super::sql::Sql;

/// A condition with `?` placeholders and the values they take, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Value>,
}

/// The rows of [`Sql::snapshot`] (aliases `o`, `p`, `f`) that may violate
/// `order-payment-agree`, `paid-at-iff-paid`, `fulfilled-at-most-once` (without an export),
/// `paid-fulfilled-once` or `pending-not-stuck` with this `cutoff` (epoch ms). Times are
/// compared as the snapshot reads them, converted ([`Sql::time`]).
pub fn internal(q: &Sql, cutoff: i64) -> Condition {
    let m = q.mapping;
    let (o, p, f) = (&m.orders, &m.order_payments, &m.fulfilments);
    let ost = q.exact(&format!("o.{}", o.status));
    let pst = q.exact(&format!("p.{}", p.status));
    let paid = || Value::from(&m.statuses.paid);
    let pending = || Value::from(&m.statuses.pending);
    let sql = format!(
        // Rows the Rust side cannot decode: it fails on them, so must this pass.
        "o.{code} IS NULL OR o.{status} IS NULL \
         OR (p.{pstatus} IS NOT NULL AND {pst} <> {ost}) \
         OR ({ost} = ? AND {paid_at} IS NULL) OR ({ost} <> ? AND {paid_at} IS NOT NULL) \
         OR (p.{pstatus} IS NOT NULL AND (({pst} = ? AND {ppaid} IS NULL) OR ({pst} <> ? AND {ppaid} IS NOT NULL))) \
         OR (p.{pstatus} IS NOT NULL AND {pst} = ? AND {pcreated} < ?) \
         OR (p.{pstatus} IS NULL AND {ost} = ? AND {created} < ?) \
         OR (SELECT COUNT(*) FROM {ft} f WHERE f.{fo} = o.{id}) NOT BETWEEN (CASE WHEN {ost} = ? THEN 1 ELSE 0 END) AND 1",
        code = o.code,
        status = o.status,
        paid_at = q.time(&format!("o.{}", o.paid_at)),
        created = q.time(&format!("o.{}", o.created_at)),
        id = o.id,
        pstatus = p.status,
        ppaid = q.time(&format!("p.{}", p.paid_at)),
        pcreated = q.time(&format!("p.{}", p.created_at)),
        ft = f.table,
        fo = f.order_id,
    );
    // Clause by clause: order_payment_agree; paid_at_iff_paid (order, then payment);
    // stuck_pending (the payment's status and time when it has one, else the order's); and
    // fulfilled_at_most_once with paid_fulfilled_once in one count: more than 1 is always
    // wrong, fewer than 1 only when PAID — evaluated once per row, it is the costly clause.
    let params = vec![paid(), paid(), paid(), paid(), pending(), cutoff.into(), pending(), cutoff.into(), paid()];
    Condition { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::midtrans_orders::mapping::Types;
    use crate::store::BackendKind;
    use crate::systems::midtrans_orders::mapping::Mapping;

    #[test]
    fn one_value_per_placeholder_and_no_status_in_the_sql() {
        let mut m = Mapping::default();
        m.statuses.paid = "SETTLED_X".into();
        for kind in [BackendKind::Sqlite, BackendKind::Postgres, BackendKind::Mysql] {
            let c = internal(&Sql { kind, mapping: &m, types: Types::default() }, 5);
            assert_eq!(c.sql.matches('?').count(), c.params.len(), "{kind:?}");
            assert!(!c.sql.contains("SETTLED_X"), "status values are bound, never interpolated");
        }
    }
}
