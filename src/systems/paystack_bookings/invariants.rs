//! Seed 003's invariants: the server's payments and their history, Paystack's ground truth, the
//! sync endpoint's answers, and what every tab showed. The `always` ones run after every unit
//! that wrote and after every screen a tab recorded ([`crate::sim::world::Step::Observation`]).
//!
//! always:
//! - `escrow-credited-once`: a payment's escrow is credited at most once.
//! - `released-at-most-once-never-refunded`: released at most once, and never a payment that
//!   was refunded (or the other way round).
//! - `tab-bounded-staleness`: a visible tab that shows a payment status (no "offline" or
//!   "refreshing" notice) shows one the server had within `staleness_bound`.
//! - `tab-no-false-success`: no tab shows a payment in escrow (or past it) that the server never
//!   put there.
//! - `tab-never-goes-back`: a tab never shows a representation older than one it has already
//!   received (an in-flight answer landing late, a rollback to a stale snapshot).
//! - `tabs-agree-within-browser`: no tab shows a representation older than one another tab of
//!   its browser showed more than [`CHANNEL_SLACK_MS`] ago (the localStorage channel carries
//!   it).
//! - `sync-never-304-for-a-change`: every 304 was for an ETag issued for the very
//!   representation the server has now.
//!
//! eventually:
//! - `paystack-success-eventually-escrow`: a transaction Paystack says succeeded has its payment
//!   in ESCROW or past it.
//! - `tabs-converge`: every open tab (hidden ones too) shows the server's representation.
//!
//! What they do not check: amounts (nothing changes them) or the booking's service time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::logic::{ESCROW, PENDING, Rep};
use super::snapshot::{Fresh, Snapshot};
use super::watch::{self, Watch};
use super::{Env, Screens, SyncLog};
use crate::check::{CheckCtx, Finding, Invariant};
use crate::providers::paystack::Paystack;
use crate::sim::Sim;
use crate::sim::world::lock;
use crate::store::{Db, SqlError};

/// How long the localStorage channel may take to carry a value to a sibling tab.
pub const CHANNEL_SLACK_MS: u64 = 1_000;

/// Per customer: (first shown at ms, version), versions increasing.
type BrowserVersions = BTreeMap<i64, Vec<(u64, i64)>>;

/// One payment as the invariants read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payment {
    pub booking: i64,
    pub status: String,
    pub credits: i64,
    pub releases: i64,
    pub refunds: i64,
    /// (status, since ms), in order.
    pub history: Vec<(String, i64)>,
    pub rep: Option<Rep>,
}

pub struct Ctx {
    sim: Sim,
    db: Db,
    paystack: Paystack,
    bound: u64,
    screens: Screens,
    sync_log: std::sync::Arc<Mutex<SyncLog>>,
    snap: Mutex<Snapshot>,
    /// Screens and sync answers already judged by the `always` checks.
    seen: Mutex<(usize, usize)>,
    /// Per customer (browser): each version its tabs showed, with when it was first shown; and
    /// how many screens were read into it.
    browser_versions: Mutex<(BrowserVersions, usize)>,
    /// When each tab would first fail the two time-bound `always` invariants.
    watch: Mutex<Watch>,
}

impl Ctx {
    pub fn new(env: &Env) -> Self {
        Ctx {
            sim: env.sim.clone(),
            db: env.db.clone(),
            paystack: env.paystack.clone(),
            bound: env.cfg.staleness_bound.0,
            screens: env.screens.clone(),
            sync_log: env.sync_log.clone(),
            snap: Mutex::default(),
            seen: Mutex::default(),
            browser_versions: Mutex::default(),
            watch: Mutex::default(),
        }
    }
}

impl Ctx {
    /// Takes in the screens recorded since the last check and what `fresh` says changed, and
    /// brings each affected tab's instants up to date ([`Watch`]).
    fn follow(&self, fresh: &Fresh) {
        let snap = lock(&self.snap);
        let screens = lock(&self.screens);
        let mut bv = lock(&self.browser_versions);
        let mut w = lock(&self.watch);
        let changed: BTreeSet<String> = screens.log.iter().skip(w.screens_seen).map(|s| s.tab.clone()).collect();
        w.screens_seen = screens.log.len();
        let mut browsers = BTreeSet::new();
        for s in screens.log.iter().skip(bv.1) {
            let Some(rep) = &s.rep else { continue };
            let seen = bv.0.entry(s.customer).or_default();
            if seen.last().is_none_or(|(_, v)| *v < rep.version) {
                seen.push((s.t_ms, rep.version));
                browsers.insert(s.customer);
            }
        }
        bv.1 = screens.log.len();
        for tab in &changed {
            w.file(&screens.current[tab]);
        }
        let mut stale = changed.clone();
        match fresh {
            Fresh::All => stale.extend(screens.current.keys().cloned()),
            Fresh::Some(references) => {
                for r in references {
                    stale.extend(w.showing(r));
                }
            }
        }
        for tab in &stale {
            let s = &screens.current[tab];
            let p = s.rep.as_ref().and_then(|r| snap.payments.get(&r.reference));
            w.stale.set(tab, watch::stale_from(s, p, self.bound as i64));
        }
        let mut behind = changed;
        for c in browsers {
            behind.extend(w.of_customer(c));
        }
        for tab in &behind {
            let s = &screens.current[tab];
            w.behind.set(tab, watch::behind_from(s, bv.0.get(&s.customer), CHANNEL_SLACK_MS));
        }
    }
}

impl CheckCtx for Ctx {
    fn prepare(&self, _scope: Option<&str>) -> Result<(), SqlError> {
        let fresh = lock(&self.snap).refresh(&self.db)?;
        self.follow(&fresh);
        Ok(())
    }
}

/// Runs `f` over the payments read afresh for this check (the others have not changed since
/// checks that found nothing).
fn each_payment(c: &Ctx, f: impl Fn(&Payment) -> Option<String>) -> Result<Vec<Finding>, SqlError> {
    let snap = lock(&c.snap);
    let judge = |(r, p): (&String, &Payment)| f(p).map(|d| Finding::about(r.clone(), d));
    Ok(match &snap.fresh {
        Fresh::All => snap.payments.iter().filter_map(judge).collect(),
        Fresh::Some(references) => {
            references.iter().filter_map(|r| snap.payments.get_key_value(r)).filter_map(judge).collect()
        }
    })
}

/// Whether the server's payment had `status` at some time at or after `since`.
pub(crate) fn had_since(p: &Payment, status: &str, since: i64) -> bool {
    p.history.iter().enumerate().any(|(i, (s, _))| {
        let until = p.history.get(i + 1).map_or(i64::MAX, |(_, t)| *t);
        s == status && until > since
    })
}

fn screens_findings(c: &Ctx) -> Vec<Finding> {
    let now = c.sim.now_ms() as i64;
    let snap = lock(&c.snap);
    let screens = lock(&c.screens);
    let mut out = Vec::new();
    for s in screens.current.values() {
        let Some(rep) = &s.rep else { continue };
        let Some(p) = snap.payments.get(&rep.reference) else { continue };
        if s.visible && s.notice.is_none() && !had_since(p, &rep.payment, now - c.bound as i64) {
            out.push(Finding::about(
                rep.reference.clone(),
                format!(
                    "tab {} shows payment {} at {} ms; the server left it more than {} ms ago (now {})",
                    s.tab, rep.payment, s.t_ms, c.bound, p.status
                ),
            ));
        }
    }
    out
}

pub fn reference() -> Vec<Invariant<Ctx>> {
    vec![
        Invariant::always("escrow-credited-once", "a payment's escrow is credited at most once", |c: &Ctx| {
            each_payment(c, |p| {
                (p.credits > 1).then(|| format!("escrow credited {} times (booking {})", p.credits, p.booking))
            })
        }),
        Invariant::always(
            "released-at-most-once-never-refunded",
            "an escrow is released at most once, and never one that was refunded",
            |c: &Ctx| {
                each_payment(c, |p| {
                    (p.releases > 1 || (p.releases > 0 && p.refunds > 0))
                        .then(|| format!("released {} time(s), refunded {} time(s)", p.releases, p.refunds))
                })
            },
        ),
        Invariant::always(
            "tab-bounded-staleness",
            "a visible tab shows a payment status the server had within the staleness bound",
            |c: &Ctx| {
                let due = lock(&c.watch).stale.due(c.sim.now_ms() as i64);
                Ok(if due { screens_findings(c) } else { Vec::new() })
            },
        ),
        Invariant::always(
            "tab-no-false-success",
            "no tab shows a payment in escrow or past it that the server never put in escrow",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let screens = lock(&c.screens);
                let from = lock(&c.seen).0;
                let mut out = Vec::new();
                for s in screens.log.iter().skip(from) {
                    let Some(rep) = &s.rep else { continue };
                    let escrowed =
                        snap.payments.get(&rep.reference).is_some_and(|p| p.history.iter().any(|(h, _)| h == ESCROW));
                    if rep.payment != PENDING && !escrowed {
                        out.push(Finding::about(
                            rep.reference.clone(),
                            format!(
                                "tab {} showed payment {} at {} ms; the server never had it in escrow",
                                s.tab, rep.payment, s.t_ms
                            ),
                        ));
                    }
                }
                Ok(out)
            },
        ),
        Invariant::always(
            "tab-never-goes-back",
            "a tab never shows a representation older than one it already received",
            |c: &Ctx| {
                let screens = lock(&c.screens);
                let from = lock(&c.seen).0;
                let mut out = Vec::new();
                for s in screens.log.iter().skip(from) {
                    let Some(rep) = &s.rep else { continue };
                    if rep.version < s.newest_seen {
                        out.push(Finding::about(
                            rep.reference.clone(),
                            format!(
                                "tab {} showed v{} (payment {}) after {} at {} ms; it had received v{}",
                                s.tab, rep.version, rep.payment, s.why, s.t_ms, s.newest_seen
                            ),
                        ));
                    }
                }
                drop(screens);
                lock(&c.seen).0 = lock(&c.screens).log.len();
                Ok(out)
            },
        ),
        Invariant::always(
            "tabs-agree-within-browser",
            "no tab shows a representation older than one its sibling tabs showed over a second ago",
            |c: &Ctx| {
                let now = c.sim.now_ms();
                if !lock(&c.watch).behind.due(now as i64) {
                    return Ok(Vec::new());
                }
                let screens = lock(&c.screens);
                let bv = lock(&c.browser_versions);
                let mut out = Vec::new();
                for s in screens.current.values() {
                    let Some(rep) = &s.rep else { continue };
                    let Some(seen) = bv.0.get(&s.customer) else { continue };
                    let known = seen.iter().filter(|(t, _)| t + CHANNEL_SLACK_MS <= now).map(|(_, v)| *v).max();
                    if let Some(v) = known.filter(|v| *v > rep.version) {
                        out.push(Finding::about(
                            rep.reference.clone(),
                            format!(
                                "tab {}{} shows v{} (payment {}); a sibling tab showed v{v} over {} ms ago",
                                s.tab,
                                if s.visible { "" } else { " (hidden)" },
                                rep.version,
                                rep.payment,
                                CHANNEL_SLACK_MS
                            ),
                        ));
                    }
                }
                Ok(out)
            },
        ),
        Invariant::always(
            "sync-never-304-for-a-change",
            "the sync endpoint answers 304 only when the representation is the one the ETag was issued for",
            |c: &Ctx| {
                let log = lock(&c.sync_log);
                let from = lock(&c.seen).1;
                let mut out = Vec::new();
                for a in log.answers.iter().skip(from).filter(|a| a.status == 304) {
                    let Some(first) = log.issued.get(&a.etag) else { continue };
                    if *first != a.now {
                        out.push(Finding::about(
                            a.now.reference.clone(),
                            format!(
                                "304 at {} ms for ETag {} issued for payment {} v{}; the server has payment {} v{}",
                                a.t_ms, a.etag, first.payment, first.version, a.now.payment, a.now.version
                            ),
                        ));
                    }
                }
                lock(&c.seen).1 = log.answers.len();
                Ok(out)
            },
        ),
        Invariant::eventually(
            "paystack-success-eventually-escrow",
            "a transaction Paystack says succeeded has its payment in escrow or past it",
            |c: &Ctx| {
                let snap = lock(&c.snap);
                let mut out = Vec::new();
                for t in c.paystack.transactions().iter().filter(|t| t.ever_succeeded()) {
                    match snap.payments.get(&t.reference) {
                        Some(p) if p.status != PENDING => {}
                        Some(p) => out.push(Finding::about(
                            t.reference.clone(),
                            format!("Paystack says success; payment still {}", p.status),
                        )),
                        None => {
                            out.push(Finding::about(t.reference.clone(), "Paystack says success; no payment has it"))
                        }
                    }
                }
                Ok(out)
            },
        ),
        Invariant::eventually("tabs-converge", "every open tab shows the server's representation", |c: &Ctx| {
            let snap = lock(&c.snap);
            let screens = lock(&c.screens);
            let mut out = Vec::new();
            for s in screens.current.values() {
                let Some(rep) = &s.rep else { continue };
                let Some(truth) = snap.payments.get(&rep.reference).and_then(|p| p.rep.as_ref()) else { continue };
                let shown = (s.overlay.as_deref().unwrap_or(&rep.status), rep.payment.as_str(), rep.version);
                if shown != (truth.status.as_str(), truth.payment.as_str(), truth.version) {
                    out.push(Finding::about(
                        rep.reference.clone(),
                        format!(
                            "tab {}{} shows booking {} payment {} v{}; the server has {} {} v{}",
                            s.tab,
                            if s.visible { "" } else { " (hidden)" },
                            shown.0,
                            shown.1,
                            shown.2,
                            truth.status,
                            truth.payment,
                            truth.version
                        ),
                    ));
                }
            }
            Ok(out)
        }),
    ]
}
