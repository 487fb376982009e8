//! A row of [`Mapping::snapshot_sql`] normalised by the mapping: each table's status word (and
//! fraud status) becomes its canonical [`State`] and seed 001's word for it, so the invariant
//! functions read one vocabulary whatever the schema says ([`Snapshot::row`]); the words as
//! stored, the states, the payment method and the order's key stay beside it for the audit.
//! A word the vocabulary does not name is kept as it is (with a `?` before it if it is spelled
//! like a canonical word, so it never passes for `PAID`), and its state is `None`. What it does not do: convert units (the snapshot's SQL does).

use super::{Mapping, State};
use crate::store::{Row, SqlError, Value};
use crate::systems::midtrans_orders::invariants::OrderRow;

/// One order as the snapshot read it, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// What the invariant functions read: canonical words, epoch ms, minor units.
    pub row: OrderRow,
    /// The order's state; `None` when its word is unknown to the mapping.
    pub order_state: Option<State>,
    /// The payment's state; `None` without a payment row or with an unknown word.
    pub payment_state: Option<State>,
    /// The words as stored, where they differ from the canonical ones in [`Snapshot::row`].
    pub order_word: Option<String>,
    pub payment_word: Option<String>,
    pub order_fraud: Option<String>,
    pub payment_fraud: Option<String>,
    /// The payment method (Midtrans's `payment_type`), if mapped.
    pub method: Option<String>,
    /// The orders' key (`orders.id`), of whatever type it has.
    pub key: Value,
}

impl Snapshot {
    /// The order's status word as stored.
    pub fn order_word(&self) -> &str {
        self.order_word.as_deref().unwrap_or(&self.row.status)
    }

    /// The payment's status word as stored, if there is a payment row.
    pub fn payment_word(&self) -> Option<&str> {
        self.payment_word.as_deref().or(self.row.payment_status.as_deref())
    }
}

/// `word` normalised: (what the invariants read, the stored word if it differs, the state).
fn normalise(word: String, state: Option<State>) -> (String, Option<String>) {
    match state.map(State::canonical) {
        Some(canonical) if canonical != word => (canonical.to_string(), Some(word)),
        Some(_) => (word, None),
        // An unknown word that happens to be a canonical one must not pass for it.
        None if State::ALL.iter().any(|s| s.canonical() == word) => (format!("?{word}"), Some(word)),
        None => (word, None),
    }
}

impl Mapping {
    /// Reads and normalises a row of [`Mapping::snapshot_sql`], moving its strings rather than
    /// copying them (the audit reads millions).
    pub fn read_row(&self, mut r: Row) -> Result<Snapshot, SqlError> {
        let code = r.take_text(0)?;
        let status = r.take_text(1)?;
        let order_fraud = r.take_opt_text(2)?;
        let order_state = self.orders.states.state(&status, order_fraud.as_deref());
        let (status, order_word) = normalise(status, order_state);
        let payment_status = r.take_opt_text(6)?;
        let payment_fraud = r.take_opt_text(7)?;
        let method = r.take_opt_text(8)?;
        let (payment_state, payment_status, payment_word) = match payment_status {
            None => (None, None, None),
            Some(word) => {
                let state = self.order_payments.states.state(&word, payment_fraud.as_deref());
                let (canonical, stored) = normalise(word, state);
                (state, Some(canonical), stored)
            }
        };
        let row = OrderRow {
            code,
            status,
            paid_at: r.opt_int(3)?,
            created_at: r.opt_int(4)?,
            amount: r.opt_int(5)?,
            payment_status,
            payment_paid_at: r.opt_int(9)?,
            payment_created_at: r.opt_int(10)?,
            payment_amount: r.opt_int(11)?,
            fulfilments: r.int(12)?,
        };
        let key = r.0.get_mut(13).map(std::mem::take).unwrap_or_default();
        Ok(Snapshot {
            row,
            order_state,
            payment_state,
            order_word,
            payment_word,
            order_fraud,
            payment_fraud,
            method,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::mapping::Vocabulary;

    fn raw(status: &str, pstatus: Option<&str>, pfraud: Option<&str>) -> Row {
        let t = |s: &str| Value::Text(s.into());
        Row(vec![
            t("O-1"),
            t(status),
            Value::Null,
            Value::Null,
            Value::Int(5),
            Value::Int(100),
            pstatus.map_or(Value::Null, t),
            pfraud.map_or(Value::Null, t),
            t("qris"),
            Value::Null,
            Value::Int(6),
            Value::Int(100),
            Value::Int(0),
            Value::Int(7),
        ])
    }

    #[test]
    fn the_default_mapping_changes_nothing() {
        let s = Mapping::default().read_row(raw("PAID", Some("PENDING"), None)).unwrap();
        assert_eq!((s.row.status.as_str(), s.row.payment_status.as_deref()), ("PAID", Some("PENDING")));
        assert_eq!((s.order_word, s.payment_word), (None, None));
        assert_eq!((s.order_state, s.payment_state), (Some(State::Paid), Some(State::Pending)));
        assert_eq!((s.method.as_deref(), s.key), (Some("qris"), Value::Int(7)));
    }

    #[test]
    fn each_table_speaks_its_own_words() {
        let mut m = Mapping::default();
        m.orders.states = toml::from_str::<std::collections::BTreeMap<String, Vocabulary>>(
            "v = { pending = [\"waiting\"], paid = [\"paid\"] }",
        )
        .unwrap()
        .remove("v")
        .unwrap();
        m.order_payments.states = Vocabulary::midtrans();
        let s = m.read_row(raw("paid", Some("capture"), Some("accept"))).unwrap();
        assert_eq!((s.row.status.as_str(), s.row.payment_status.as_deref()), ("PAID", Some("PAID")));
        assert_eq!((s.order_word(), s.payment_word()), ("paid", Some("capture")));
        let s = m.read_row(raw("waiting", Some("capture"), Some("challenge"))).unwrap();
        assert_eq!(s.payment_state, Some(State::Challenge));
        assert_eq!(s.row.payment_status.as_deref(), Some("PENDING"));
        let s = m.read_row(raw("PAID", None, None)).unwrap();
        assert_eq!((s.order_state, s.row.status.as_str()), (None, "?PAID"), "an unknown word never passes for PAID");
        assert_eq!(s.order_word(), "PAID");
        let s = m.read_row(raw("on_hold", None, None)).unwrap();
        assert_eq!((s.order_state, s.row.status.as_str(), s.order_word()), (None, "on_hold", "on_hold"));
    }
}
