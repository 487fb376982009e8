//! Status vocabularies: what a table's own status words mean, as canonical [`State`]s. Each table
//! of a mapping has its own ([`Vocabulary`]), so a shop's words on its orders (`waiting`, `paid`)
//! and the provider's words on its payments (`pending`, `settlement`) can both be said, and a
//! state may depend on a second column: Midtrans's paid is `settlement`, or `capture` with
//! `fraud_status = accept` ([`Rule`]).
//!
//! In TOML a vocabulary is a table from state names to lists of rules, or the name of a preset
//! (`"midtrans"`, `"seed001"`):
//!
//! ```toml
//! [orders.states]
//! pending = ["waiting"]
//! paid = ["paid"]
//! [order_payments.states]
//! paid = ["settlement", { status = "capture", fraud_status = "accept" }]
//! challenge = [{ status = "capture", fraud_status = "challenge" }]
//! ```
//!
//! What it does not do: decide what a state implies (the invariants do), or read the words
//! (the mapping's SQL does). A word no rule names has no state; the caller decides (the audit
//! counts such rows and refuses a mapping that names almost none).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A canonical state of an order or payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for the customer or the provider.
    Pending,
    /// Held for fraud review (Midtrans `capture` + `challenge`): not paid, not stuck.
    Challenge,
    Paid,
    Expired,
    Cancelled,
    Denied,
    Failed,
    /// Paid, then refunded (in full or in part).
    Refunded,
    /// Paid, then charged back (in full or in part).
    Chargeback,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Pending,
        State::Challenge,
        State::Paid,
        State::Expired,
        State::Cancelled,
        State::Denied,
        State::Failed,
        State::Refunded,
        State::Chargeback,
    ];

    /// The name a mapping file uses.
    pub fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Challenge => "challenge",
            State::Paid => "paid",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
            State::Denied => "denied",
            State::Failed => "failed",
            State::Refunded => "refunded",
            State::Chargeback => "chargeback",
        }
    }

    /// The word the invariants read (seed 001's own words): a challenge is still `PENDING` for
    /// them (not paid, nothing to fulfil), a chargeback `REFUNDED` (money taken back).
    pub fn canonical(self) -> &'static str {
        match self {
            State::Pending | State::Challenge => "PENDING",
            State::Paid => "PAID",
            State::Expired => "EXPIRED",
            State::Cancelled => "CANCELLED",
            State::Denied => "DENIED",
            State::Failed => "FAILED",
            State::Refunded | State::Chargeback => "REFUNDED",
        }
    }

    /// Money reached the merchant at some point: paid now, or refunded or charged back since.
    pub fn was_paid(self) -> bool {
        matches!(self, State::Paid | State::Refunded | State::Chargeback)
    }

    /// The provider will not move it again on its own (Midtrans: expire, cancel, deny, failure).
    pub fn ended_unpaid(self) -> bool {
        matches!(self, State::Expired | State::Cancelled | State::Denied | State::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way a row is in a state: its status word, and, where it matters, its fraud status.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rule {
    Word(String),
    #[serde(rename_all = "snake_case")]
    WithFraud {
        status: String,
        fraud_status: String,
    },
}

impl Rule {
    pub fn status(&self) -> &str {
        match self {
            Rule::Word(s) | Rule::WithFraud { status: s, .. } => s,
        }
    }

    pub fn fraud(&self) -> Option<&str> {
        match self {
            Rule::Word(_) => None,
            Rule::WithFraud { fraud_status, .. } => Some(fraud_status),
        }
    }

    fn word(s: &str) -> Rule {
        Rule::Word(s.to_string())
    }

    fn with_fraud(status: &str, fraud: &str) -> Rule {
        Rule::WithFraud { status: status.to_string(), fraud_status: fraud.to_string() }
    }
}

/// A table's status words and the states they mean; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Vocabulary {
    /// Sorted (by state, then rule), so two vocabularies that say the same are equal whatever
    /// order they were written in; rules with a fraud status are tried before plain words.
    pub rules: Vec<(State, Rule)>,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Vocabulary::seed001()
    }
}

impl Vocabulary {
    /// Seed 001's words, one per state, upper case: `PENDING`, `PAID`, ….
    pub fn seed001() -> Vocabulary {
        let rules = [
            (State::Pending, "PENDING"),
            (State::Paid, "PAID"),
            (State::Expired, "EXPIRED"),
            (State::Cancelled, "CANCELLED"),
            (State::Denied, "DENIED"),
            (State::Failed, "FAILED"),
            (State::Refunded, "REFUNDED"),
        ];
        Vocabulary::new(rules.into_iter().map(|(s, w)| (s, Rule::word(w))).collect())
    }

    /// A vocabulary of `rules`, sorted.
    pub fn new(mut rules: Vec<(State, Rule)>) -> Vocabulary {
        rules.sort();
        Vocabulary { rules }
    }

    /// Midtrans's own `transaction_status` words with its `fraud_status`.
    pub fn midtrans() -> Vocabulary {
        let w = |s: State, word: &str| (s, Rule::word(word));
        let f = |s: State, word: &str, fraud: &str| (s, Rule::with_fraud(word, fraud));
        Vocabulary::new(vec![
            f(State::Paid, "capture", "accept"),
            f(State::Challenge, "capture", "challenge"),
            f(State::Denied, "capture", "deny"),
            w(State::Pending, "pending"),
            w(State::Pending, "authorize"),
            w(State::Paid, "settlement"),
            w(State::Denied, "deny"),
            w(State::Cancelled, "cancel"),
            w(State::Expired, "expire"),
            w(State::Failed, "failure"),
            w(State::Refunded, "refund"),
            w(State::Refunded, "partial_refund"),
            w(State::Chargeback, "chargeback"),
            w(State::Chargeback, "partial_chargeback"),
        ])
    }

    /// The state of a row with `status` and `fraud` (its fraud status, if the table has one).
    pub fn state(&self, status: &str, fraud: Option<&str>) -> Option<State> {
        let with_fraud =
            self.rules.iter().find(|(_, r)| r.fraud().is_some() && r.status() == status && r.fraud() == fraud);
        let plain = || self.rules.iter().find(|(_, r)| r.fraud().is_none() && r.status() == status);
        with_fraud.or_else(plain).map(|(s, _)| *s)
    }

    /// Whether any rule reads a fraud status.
    pub fn uses_fraud(&self) -> bool {
        self.rules.iter().any(|(_, r)| r.fraud().is_some())
    }

    /// The states this vocabulary names at all.
    pub fn states(&self) -> Vec<State> {
        let mut out: Vec<State> = self.rules.iter().map(|(s, _)| *s).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The plain words (without a fraud condition) meaning one of `states`.
    pub fn words_for(&self, states: &[State]) -> Vec<&str> {
        self.rules.iter().filter(|(s, r)| states.contains(s) && r.fraud().is_none()).map(|(_, r)| r.status()).collect()
    }

    fn check(&self) -> Result<(), String> {
        for (i, (s, r)) in self.rules.iter().enumerate() {
            if r.status().is_empty() || r.fraud() == Some("") {
                return Err(format!("{}: an empty status word", s.name()));
            }
            let same = self.rules[..i].iter().find(|(_, o)| o.status() == r.status() && o.fraud() == r.fraud());
            if let Some((other, _)) = same.filter(|(other, _)| other != s) {
                return Err(format!("{:?} means both {} and {}", r.status(), other.name(), s.name()));
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Vocabulary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vocabulary;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of state = [words], or a preset name (\"midtrans\", \"seed001\")")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Vocabulary, E> {
                match s {
                    "midtrans" => Ok(Vocabulary::midtrans()),
                    "seed001" => Ok(Vocabulary::seed001()),
                    other => Err(E::custom(format!(
                        "unknown vocabulary preset {other:?}; expected \"midtrans\" or \"seed001\""
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vocabulary, A::Error> {
                let mut rules = Vec::new();
                while let Some(state) = map.next_key::<State>()? {
                    for rule in map.next_value::<Vec<Rule>>()? {
                        rules.push((state, rule));
                    }
                }
                let v = Vocabulary::new(rules);
                v.check().map_err(de::Error::custom)?;
                Ok(v)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraud_status_decides_a_capture() {
        let m = Vocabulary::midtrans();
        assert_eq!(m.state("settlement", None), Some(State::Paid));
        assert_eq!(m.state("capture", Some("accept")), Some(State::Paid));
        assert_eq!(m.state("capture", Some("challenge")), Some(State::Challenge));
        assert_eq!(m.state("capture", None), None);
        assert_eq!(m.state("expire", Some("accept")), Some(State::Expired));
        assert_eq!(m.state("PAID", None), None);
        assert_eq!(Vocabulary::seed001().state("PAID", None), Some(State::Paid));
    }

    #[test]
    fn vocabularies_parse_from_tables_and_presets() {
        #[derive(Debug, Deserialize)]
        struct T {
            a: Vocabulary,
            b: Vocabulary,
        }
        let t: T = toml::from_str(
            "b = \"midtrans\"\n[a]\npending = [\"waiting\"]\npaid = [\"paid\", { status = \"ok\", fraud_status = \"accept\" }]\n",
        )
        .unwrap();
        assert_eq!(t.a.state("waiting", None), Some(State::Pending));
        assert_eq!(t.a.state("ok", Some("accept")), Some(State::Paid));
        assert_eq!(t.b, Vocabulary::midtrans());
        assert!(toml::from_str::<T>("b = \"stripe\"\n[a]\n").is_err());
        let e = toml::from_str::<T>("b = \"seed001\"\n[a]\npaid = [\"x\"]\npending = [\"x\"]\n").unwrap_err();
        assert!(e.to_string().contains("\"x\" means both pending and paid"), "{e}");
        assert!(toml::from_str::<T>("b = \"seed001\"\n[a]\nsettled = [\"x\"]\n").is_err());
    }

    #[test]
    fn canonical_words_are_seed_001_words() {
        for s in State::ALL {
            assert_eq!(Vocabulary::seed001().state(s.canonical(), None).map(State::canonical), Some(s.canonical()));
        }
    }
}
