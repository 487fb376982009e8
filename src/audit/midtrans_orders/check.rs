//! The checks on one order, as an auditor needs them: the simulator's own invariant functions
//! ([`crate::systems::midtrans_orders::invariants`]) decide on the normalised row, and this module
//! says what they found in the shop's words — times in the report's zone, amounts in the
//! currency's units — with the fix an auditor would make.
//!
//! Legitimate states are not violations: a payment held for fraud review (`challenge`) is not
//! stuck; a pending payment is stuck only after its method's expiry (Midtrans's own, from the
//! mapping) plus the grace, else after `--stuck-after`; a refunded or charged-back order keeps its
//! paid time and may have been shipped. They are counted in the report instead. Added to the
//! simulation's invariants: shipped but never paid (`fulfilled-at-most-once`), and the provider
//! ended a payment unpaid while the database still waits (`provider-ended-implies-not-pending`).
//!
//! [`Tally`] keeps what the mapping got wrong as a whole — status words it does not name, amounts
//! off by a power of ten — and [`Judge::finish`] turns a flood of them into an error naming the
//! mapping entry, before any finding is shown. What it does not do: read the database.

use std::collections::BTreeMap;

use crate::check::mapping::{State, power_of_ten};
use crate::error::Error;
use crate::systems::midtrans_orders::invariants as inv;
use crate::systems::midtrans_orders::mapping::file::Source;
use crate::systems::midtrans_orders::mapping::row::Snapshot;
use crate::systems::midtrans_orders::mapping::{Mapping, Statuses};

use super::super::Report;
use super::super::export::Entry;
use super::super::time::{Zone, duration};

/// Distinct unknown words remembered per table.
const WORDS_MAX: usize = 20;

/// What the mapping got wrong as a whole, counted over the pass.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Orders (and payments) read, and those whose word the mapping does not name, by word.
    pub orders_read: u64,
    pub payments_read: u64,
    pub orders_unknown: BTreeMap<String, u64>,
    pub payments_unknown: BTreeMap<String, u64>,
    /// Orders whose amount was compared with the export, and those off by 10^k, by k.
    pub amounts_compared: u64,
    pub amounts_off: BTreeMap<i32, u64>,
}

fn count_word(words: &mut BTreeMap<String, u64>, word: &str) {
    if let Some(n) = words.get_mut(word) {
        *n += 1;
    } else if words.len() < WORDS_MAX {
        words.insert(word.to_string(), 1);
    } else {
        *words.entry("(other words)".into()).or_default() += 1;
    }
}

/// The audit's clock and thresholds, and what it counted.
pub struct Judge<'a> {
    pub mapping: &'a Mapping,
    pub as_of: i64,
    pub grace_ms: i64,
    pub stuck_after_ms: i64,
    /// Orders created in `[since, until)` are audited (`--since`, `--until`); others only match
    /// export lines.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The period the export covers (epoch ms): an order created outside it and missing from
    /// the export is not a finding — the export never looked at it.
    pub covers: Option<(i64, i64)>,
    /// Orders the export's period did not cover and that had no line (not compared with it).
    pub uncovered: u64,
    /// Unknown status words make the audit fail when they are most rows (the default), or
    /// only warn (for tests that compare passes over random words).
    pub strict_words: bool,
    pub zone: Zone,
    pub statuses: Statuses,
    pub tally: Tally,
}

impl Judge<'_> {
    fn t(&self, ms: i64) -> String {
        self.zone.iso(ms)
    }

    fn money(&self, minor: i64) -> String {
        self.mapping.currency.format(minor)
    }

    /// Whether an order created at `created` (epoch ms) is inside the audited window.
    pub fn in_window(&self, created: Option<i64>) -> bool {
        match created {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            None => self.since.is_none() && self.until.is_none(),
        }
    }

    /// How long a payment of `method` may stay pending before it is stuck.
    pub fn stuck_threshold(&self, method: Option<&str>) -> i64 {
        match method.and_then(|m| self.mapping.expiry.of(m)) {
            Some(expiry) => expiry.saturating_add(self.grace_ms),
            None => self.stuck_after_ms,
        }
    }

    /// The latest stuck cutoff of any method (for the prefilter's superset).
    pub fn latest_cutoff(&self) -> i64 {
        let methods = self.mapping.order_payments.payment_method.is_some();
        let shortest =
            self.mapping.expiry.0.values().map(|e| e.saturating_add(self.grace_ms)).min().filter(|_| methods);
        self.as_of.saturating_sub(shortest.map_or(self.stuck_after_ms, |s| s.min(self.stuck_after_ms)))
    }

    /// Whether the provider's word at `time` counts yet (the grace since it has passed).
    pub(super) fn settled(&self, time: i64) -> bool {
        time.saturating_add(self.grace_ms) <= self.as_of
    }

    /// Checks one order; `export` is `Some(its export line, if any)` when there is an export.
    pub fn order(&mut self, snap: &Snapshot, export: Option<Option<&Entry>>, r: &mut Report) {
        let o = &snap.row;
        self.tally.orders_read += 1;
        if snap.order_state.is_none() {
            count_word(&mut self.tally.orders_unknown, snap.order_word());
        }
        if let Some(word) = snap.payment_word() {
            self.tally.payments_read += 1;
            if snap.payment_state.is_none() {
                count_word(&mut self.tally.payments_unknown, word);
            }
        }
        let s = &self.statuses;
        let (code, word) = (o.code.as_str(), snap.order_word());
        let pword = || snap.payment_word().unwrap_or("-");
        if inv::order_payment_agree(o).is_some() {
            r.add_with_fix(
                "order-payment-agree",
                code,
                Some(format!("the order says {word} but its payment says {}", pword())),
                "bring the order and its payment to the provider's status (ask the provider first)".into(),
            );
        }
        // A refund or chargeback keeps the paid time it had: legitimate.
        let mut view = None;
        if snap.order_state.is_some_and(|st| st.was_paid() && st != State::Paid)
            || snap.payment_state.is_some_and(|st| st.was_paid() && st != State::Paid)
        {
            let mut v = o.clone();
            if snap.order_state.is_some_and(|st| st.was_paid()) {
                v.paid_at = None;
            }
            if snap.payment_state.is_some_and(|st| st.was_paid()) {
                v.payment_paid_at = None;
            }
            view = Some(v);
        }
        let mut out = Vec::new();
        inv::paid_at_iff_paid(view.as_ref().unwrap_or(o), s, &mut out);
        for m in out.drain(..) {
            let (reason, fix) = if m.starts_with("payment") {
                match o.payment_paid_at {
                    None => (
                        format!("the payment is {} but has no paid time", pword()),
                        "set the payment's paid time from the provider's settlement time",
                    ),
                    Some(t) => (
                        format!("the payment is {} but has a paid time, {}", pword(), self.t(t)),
                        "clear the payment's paid time, or correct its status if it was paid",
                    ),
                }
            } else {
                match o.paid_at {
                    None => (
                        format!("the order is {word} but has no paid time"),
                        "set the order's paid time from the provider's settlement time",
                    ),
                    Some(t) => (
                        format!("the order is {word} but has a paid time, {}", self.t(t)),
                        "clear the order's paid time, or correct its status if it was paid",
                    ),
                }
            };
            r.add_with_fix("paid-at-iff-paid", code, Some(reason), fix.into());
        }
        // Shipped twice, or shipped though never paid (by the database, or by the provider).
        let paid_ever = snap.order_state.map(|st| {
            st.was_paid()
                || snap.payment_state.is_some_and(State::was_paid)
                || export.flatten().is_some_and(|e| e.state().was_paid())
        });
        inv::fulfilled_at_most_once(o, paid_ever, &mut out);
        for m in out.drain(..) {
            let (reason, fix) = if m.ends_with("never paid") {
                let provider =
                    export.flatten().map_or(String::new(), |e| format!("; the provider says {}", e.describe()));
                (
                    format!("shipped {} time(s) but never paid: the order is {word}{provider}", o.fulfilments),
                    "stop or recover the shipment, or collect the payment",
                )
            } else {
                (format!("shipped {} times", o.fulfilments), "cancel or recover the extra shipment(s)")
            };
            r.add_with_fix("fulfilled-at-most-once", code, Some(reason), fix.into());
        }
        if inv::paid_fulfilled_once(o, s).is_some() {
            // Paid within the grace and not shipped yet is a shop at work, not a violation.
            let recent = o.fulfilments == 0 && o.paid_at.is_some_and(|t| !self.settled(t));
            if !recent && o.fulfilments == 0 {
                let since = o.paid_at.map_or(String::new(), |t| format!(" since {}", self.t(t)));
                r.add_with_fix(
                    "paid-fulfilled-once",
                    code,
                    Some(format!("paid{since} but never shipped")),
                    "ship the order, or refund it".into(),
                );
            } else if o.fulfilments > 1 {
                r.add_with_fix(
                    "paid-fulfilled-once",
                    code,
                    Some(format!("paid and shipped {} times", o.fulfilments)),
                    "cancel or recover the extra shipment(s)".into(),
                );
            }
        }
        self.stuck(snap, r);
        // A chargeback may be "refunded" in the shop's words; the payment tells which.
        match (snap.order_state, snap.payment_state) {
            (Some(State::Chargeback), _) | (_, Some(State::Chargeback)) => r.state("charged back"),
            (Some(State::Refunded), _) | (_, Some(State::Refunded)) => r.state("refunded"),
            _ => {}
        }
        if let Some(entry) = export {
            self.against_export(snap, entry, r);
        }
    }

    fn stuck(&self, snap: &Snapshot, r: &mut Report) {
        let o = &snap.row;
        let under_review = snap.payment_state == Some(State::Challenge)
            || (snap.payment_state.is_none() && snap.order_state == Some(State::Challenge));
        if under_review {
            r.state("challenge (fraud review)");
            return;
        }
        let method = snap.method.as_deref();
        let threshold = self.stuck_threshold(method);
        let cutoff = self.as_of.saturating_sub(threshold);
        if inv::stuck_pending(o, cutoff, &self.statuses).is_some() {
            let (word, since) = match snap.payment_word() {
                Some(w) => (w, o.payment_created_at),
                None => (snap.order_word(), o.created_at),
            };
            let since = since.unwrap_or(cutoff);
            let rule = match method.and_then(|m| self.mapping.expiry.of(m).map(|e| (m, e))) {
                Some((m, e)) => {
                    format!("a {m} payment expires after {} (+{} grace)", duration(e), duration(self.grace_ms))
                }
                None => format!("--stuck-after {}", duration(self.stuck_after_ms)),
            };
            r.add_with_fix(
                "pending-not-stuck",
                &o.code,
                Some(format!(
                    "{word} since {}, {} before the audit's as-of ({rule})",
                    self.t(since),
                    duration(self.as_of - since)
                )),
                format!(
                    "ask Midtrans for its status (GET /v2/{}/status) and apply it; expire the order if Midtrans did",
                    o.code
                ),
            );
        } else if inv::stuck_pending(o, self.as_of.saturating_sub(self.stuck_after_ms), &self.statuses).is_some() {
            r.state("pending, within its method's expiry");
        }
    }

    fn against_export(&mut self, snap: &Snapshot, entry: Option<&Entry>, r: &mut Report) {
        let (o, s) = (&snap.row, &self.statuses);
        let (code, word) = (o.code.as_str(), snap.order_word());
        // The function decides; the message is written here (so the provider's words are only
        // formatted for a finding).
        if let Some(e) = entry.filter(|e| e.paid() && self.settled(e.time))
            && inv::provider_paid_implies_paid(code, "", Some(o), s).is_some()
        {
            r.add_with_fix(
                "provider-paid-implies-paid",
                code,
                Some(format!("the provider says {} since {}, the database says {word}", e.describe(), self.t(e.time))),
                "mark the order paid with the provider's time as its paid time, then ship it".into(),
            );
        }
        let covered = self.covers.is_none_or(|(a, b)| o.created_at.is_some_and(|t| a <= t && t <= b));
        if entry.is_none() && !covered {
            self.uncovered += 1;
        }
        if (covered || entry.is_some())
            && entry.is_none_or(|e| !e.paid() && self.settled(e.time))
            && inv::paid_without_provider(o, false, s).is_some()
        {
            let (reason, fix) = match entry {
                Some(e) => {
                    let fix = match e.state() {
                        State::Refunded | State::Chargeback => {
                            format!("apply the provider's {}: mark the order refunded", e.describe())
                        }
                        st if st.ended_unpaid() => {
                            format!("mark the order {st} as the provider says, and stop any shipment")
                        }
                        _ => "check with the provider: it has not received the money".into(),
                    };
                    (
                        format!(
                            "the database says {word}, the provider says {} since {}",
                            e.describe(),
                            self.t(e.time)
                        ),
                        fix,
                    )
                }
                None => (
                    format!("the database says {word}, and the provider export has no line for it"),
                    "find the payment at the provider; without one the order was marked paid without money".into(),
                ),
            };
            r.add_with_fix("paid-only-if-provider-paid", code, Some(reason), fix);
        }
        if let Some(e) = entry.filter(|e| e.state().ended_unpaid() && self.settled(e.time))
            && matches!(snap.order_state, Some(State::Pending | State::Challenge))
        {
            let st = e.state();
            r.add_with_fix(
                "provider-ended-implies-not-pending",
                code,
                Some(format!(
                    "the provider says {} since {}, the database still says {word}",
                    e.describe(),
                    self.t(e.time)
                )),
                format!("mark the order {st} as the provider says"),
            );
        }
        if let Some(e) = entry {
            self.tally.amounts_compared += 1;
            if inv::amount_matches_provider(o, e.amount).is_some() {
                let ours = o.amount.filter(|a| *a != e.amount).or(o.payment_amount.filter(|a| *a != e.amount));
                if let Some(k) = ours.and_then(|a| power_of_ten(a, e.amount)) {
                    *self.tally.amounts_off.entry(k).or_default() += 1;
                }
                let mut parts = Vec::new();
                if let Some(a) = o.amount.filter(|a| *a != e.amount) {
                    parts.push(format!("the order says {}", self.money(a)));
                }
                if let Some(a) = o.payment_amount.filter(|a| *a != e.amount) {
                    parts.push(format!("the payment says {}", self.money(a)));
                }
                r.add_with_fix(
                    "amount-matches-provider",
                    code,
                    Some(format!("the provider charged {}, {}", self.money(e.amount), parts.join(", "))),
                    "correct the amount, or refund or collect the difference".into(),
                );
            }
        }
    }

    /// An export line no order row matched: paid at the provider, nothing in the database.
    pub fn unseen(&self, code: &str, e: &Entry, r: &mut Report) {
        let in_window = self.since.is_none_or(|s| e.time >= s) && self.until.is_none_or(|u| e.time < u);
        if e.paid() && self.settled(e.time) && in_window {
            let why = inv::provider_paid_implies_paid(code, &e.describe(), None, &self.statuses);
            r.add_with_fix(
                "provider-paid-implies-paid",
                code,
                why.map(|_| {
                    format!("the provider says {} since {}, but no order has this code", e.describe(), self.t(e.time))
                }),
                "find the order this money belongs to: its row is missing or has another code".into(),
            );
        }
    }

    /// Turns what the tally saw into an error naming the mapping entry (a flood: most rows
    /// unnamed, most amounts off by one power of ten) or warnings on the report.
    pub fn finish(&self, source: &Source, r: &mut Report) -> Result<(), Error> {
        let t = &self.tally;
        let m = self.mapping;
        for (table, keys, unknown, read, total) in [
            (&m.orders.table, ["orders", "states"], &t.orders_unknown, t.orders_read, r.checked),
            (&m.order_payments.table, ["order_payments", "states"], &t.payments_unknown, t.payments_read, r.checked),
        ] {
            let n: u64 = unknown.values().sum();
            if n == 0 {
                continue;
            }
            let words: Vec<String> = unknown.iter().map(|(w, n)| format!("{w:?} ({n})")).collect();
            let what = format!(
                "{n} row(s) of {table} hold status words {} does not name: {}",
                keys.join("."),
                words.join(", ")
            );
            // Rows read are every row in a pass that reads them all, and at least the unknown
            // ones in a prefiltered pass: compare with the orders checked.
            let _ = read;
            if self.strict_words && n * 2 >= total.max(1) {
                return Err(Error::Scenario {
                    location: source.at(&keys),
                    message: format!(
                        "{what}; most rows match no word of the mapping, so every finding would be \
                         false: say what they mean in [{}]",
                        keys.join(".")
                    ),
                });
            }
            r.warnings.push(format!("{what}; they count as neither paid nor pending ({})", source.at(&keys)));
        }
        if let Some((k, n)) = t.amounts_off.iter().max_by_key(|(_, n)| **n)
            && t.amounts_compared >= 3
            && n * 2 > t.amounts_compared
        {
            let factor = 10i64.pow(k.unsigned_abs());
            let (way, hint) = if *k < 0 {
                (
                    format!("{factor}× too small"),
                    "whole units are major units: amounts = \"major\" with the currency's exponent",
                )
            } else {
                (format!("{factor}× too large"), "check amounts = \"major\"/\"minor\" and [currency] exponent")
            };
            return Err(Error::Scenario {
                location: source.at(&["orders", "amounts"]),
                message: format!(
                    "the database's amounts are {way} on {n} of {} orders compared with the provider export: \
                     the mapping reads them in the wrong unit ({hint}; currency {} with exponent {})",
                    t.amounts_compared, m.currency.code, m.currency.exponent
                ),
            });
        }
        Ok(())
    }
}
