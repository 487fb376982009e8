//! When each tab's screen would first break a time-bound invariant, kept up to date as screens
//! and payments change, so that a check after a write or a screen costs the same however many
//! tabs are open.
//!
//! Two `always` invariants of [`super::invariants`] can start to fail with no event at all, only
//! because time passed: `tab-bounded-staleness` (the server left the status a visible tab shows
//! more than the bound ago) and `tabs-agree-within-browser` (a sibling tab showed a newer version
//! more than the channel's slack ago). For each tab this module keeps the instant from which its
//! current screen fails each of them, recomputed only when that screen, its payment's history or
//! its browser's versions change. A check whose `now` is before every tab's instant has nothing
//! to find; only then is the scan over every tab skipped, so the findings (and their order) are
//! the full scan's.
//!
//! What it does not do: judge anything itself. It only says when the full scan can find nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::Screen;
use super::invariants::Payment;

/// The instant (ms) from which each tab fails one invariant; tabs with none are not held.
#[derive(Default)]
pub struct Deadlines {
    of: BTreeMap<String, i64>,
    order: BTreeSet<(i64, String)>,
}

impl Deadlines {
    /// Sets (or clears, with `None`) `tab`'s instant.
    pub fn set(&mut self, tab: &str, at: Option<i64>) {
        if self.of.get(tab).copied() == at {
            return;
        }
        if let Some(old) = self.of.remove(tab) {
            self.order.remove(&(old, tab.to_string()));
        }
        if let Some(at) = at {
            self.of.insert(tab.to_string(), at);
            self.order.insert((at, tab.to_string()));
        }
    }

    /// Whether some tab fails at `now`.
    pub fn due(&self, now: i64) -> bool {
        self.order.first().is_some_and(|(at, _)| *at <= now)
    }
}

/// From when a screen fails `tab-bounded-staleness`: never while it is hidden, shows a notice,
/// is loading or shows a payment the server does not have; otherwise `bound` after the server
/// last left the status it shows (at once if the server never had it; never while it still has
/// it). The same condition as the scan's `!had_since(p, status, now - bound)`.
pub fn stale_from(s: &Screen, payment: Option<&Payment>, bound: i64) -> Option<i64> {
    let rep = s.rep.as_ref()?;
    let p = payment?;
    if !s.visible || s.notice.is_some() {
        return None;
    }
    let mut left = None::<i64>;
    for (i, (status, _)) in p.history.iter().enumerate() {
        if *status != rep.payment {
            continue;
        }
        match p.history.get(i + 1) {
            None => return None,
            Some((_, until)) => left = Some(left.map_or(*until, |l| l.max(*until))),
        }
    }
    Some(left.map_or(i64::MIN, |l| l.saturating_add(bound)))
}

/// From when a screen fails `tabs-agree-within-browser`: `slack` after its browser first showed
/// a newer version than the screen's (`versions`: that browser's (first shown at, version)).
pub fn behind_from(s: &Screen, versions: Option<&Vec<(u64, i64)>>, slack: u64) -> Option<i64> {
    let rep = s.rep.as_ref()?;
    versions?.iter().filter(|(_, v)| *v > rep.version).map(|(t, _)| (t + slack) as i64).min()
}

/// The tabs to look at again when something they depend on changes.
#[derive(Default)]
pub struct Watch {
    /// Screens of the log already taken in.
    pub screens_seen: usize,
    /// Tab → the payment reference its current screen shows.
    reference_of: BTreeMap<String, String>,
    /// Payment reference → the tabs showing it.
    by_reference: BTreeMap<String, BTreeSet<String>>,
    /// Customer (browser) → its tabs.
    by_customer: BTreeMap<i64, BTreeSet<String>>,
    pub stale: Deadlines,
    pub behind: Deadlines,
}

impl Watch {
    /// Files `s` (a tab's new current screen) under its payment and its browser.
    pub fn file(&mut self, s: &Screen) {
        self.by_customer.entry(s.customer).or_default().insert(s.tab.clone());
        let now = s.rep.as_ref().map(|r| r.reference.as_str());
        let before = self.reference_of.get(&s.tab).map(String::as_str);
        if before == now {
            return;
        }
        if let Some(old) = self.reference_of.remove(&s.tab)
            && let Some(set) = self.by_reference.get_mut(&old)
        {
            set.remove(&s.tab);
        }
        if let Some(r) = now {
            self.reference_of.insert(s.tab.clone(), r.to_string());
            self.by_reference.entry(r.to_string()).or_default().insert(s.tab.clone());
        }
    }

    /// The tabs whose current screen shows payment `reference`.
    pub fn showing(&self, reference: &str) -> Vec<String> {
        self.by_reference.get(reference).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// The tabs of `customer`'s browser.
    pub fn of_customer(&self, customer: i64) -> Vec<String> {
        self.by_customer.get(&customer).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::paystack_bookings::invariants::had_since;
    use crate::systems::paystack_bookings::logic::Rep;

    fn screen(payment: &str, version: i64, visible: bool) -> Screen {
        let rep = Rep {
            booking: 1,
            reference: "r".into(),
            status: "BOOKED".into(),
            payment: payment.into(),
            version,
            served_at: 0,
        };
        Screen {
            t_ms: 0,
            tab: "t".into(),
            customer: 1,
            visible,
            rep: Some(rep),
            overlay: None,
            notice: None,
            why: "fetch",
            newest_seen: 0,
        }
    }

    #[test]
    fn a_screen_fails_from_its_instant_exactly_when_the_scan_would_find_it() {
        const STATUSES: [&str; 3] = ["PENDING", "ESCROW", "RELEASED"];
        let bound = 45_000;
        let mut state = 5u64;
        let mut draw = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for _ in 0..2_000 {
            let mut history = Vec::new();
            let mut at = 0;
            for _ in 0..draw(5) {
                at += draw(100_000) as i64;
                history.push((STATUSES[draw(3) as usize].to_string(), at));
            }
            let p = Payment { history, ..Payment::default() };
            let s = screen(STATUSES[draw(3) as usize], 1, true);
            let from = stale_from(&s, Some(&p), bound);
            for now in (0..600_000).step_by(7_919) {
                let scan = !had_since(&p, &s.rep.as_ref().unwrap().payment, now - bound);
                assert_eq!(from.is_some_and(|f| f <= now), scan, "history {:?}, now {now}", p.history);
            }
        }
        assert_eq!(stale_from(&screen("ESCROW", 1, false), Some(&Payment::default()), bound), None, "hidden");
    }

    #[test]
    fn a_screen_is_behind_from_slack_after_its_browser_first_showed_a_newer_version() {
        let versions = vec![(100, 1), (300, 2), (900, 3)];
        assert_eq!(behind_from(&screen("PENDING", 1, true), Some(&versions), 1_000), Some(1_300));
        assert_eq!(behind_from(&screen("PENDING", 2, false), Some(&versions), 1_000), Some(1_900));
        assert_eq!(behind_from(&screen("PENDING", 3, true), Some(&versions), 1_000), None);
        assert_eq!(behind_from(&screen("PENDING", 0, true), None, 1_000), None);
    }

    #[test]
    fn the_earliest_instant_decides_and_cleared_tabs_leave() {
        let mut d = Deadlines::default();
        d.set("a", Some(50));
        d.set("b", Some(20));
        assert!(!d.due(19) && d.due(20));
        d.set("b", None);
        assert!(!d.due(49) && d.due(50));
        d.set("a", Some(70));
        assert!(!d.due(69), "a moved instant replaces the old one");
    }
}
