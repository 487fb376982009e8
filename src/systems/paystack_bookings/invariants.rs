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

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::logic::{ESCROW, PENDING, Rep};
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
#[derive(Clone, Debug, Default)]
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

#[derive(Default)]
struct Snapshot {
    payments: BTreeMap<String, Payment>,
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
        }
    }
}

impl CheckCtx for Ctx {
    fn prepare(&self, _scope: Option<&str>) -> Result<(), SqlError> {
        let snap = self.db.read(|tx| {
            let mut s = Snapshot::default();
            for r in tx.query(
                "SELECT p.reference, p.booking_id, p.status, p.escrow_credits, p.releases, p.refunds, b.status, b.version, b.customer FROM payments p JOIN bookings b ON b.id = p.booking_id ORDER BY p.reference",
                &[],
            )? {
                let reference = r.text(0)?;
                let rep = Rep {
                    booking: r.int(1)?,
                    reference: reference.clone(),
                    status: r.text(6)?,
                    payment: r.text(2)?,
                    version: r.int(7)?,
                    served_at: 0,
                };
                s.payments.insert(
                    reference,
                    Payment {
                        booking: r.int(1)?,
                        status: r.text(2)?,
                        credits: r.int(3)?,
                        releases: r.int(4)?,
                        refunds: r.int(5)?,
                        history: Vec::new(),
                        rep: Some(rep),
                    },
                );
            }
            for r in tx.query("SELECT reference, status, at_ms FROM payment_history ORDER BY reference, seq", &[])? {
                if let Some(p) = s.payments.get_mut(&r.text(0)?) {
                    p.history.push((r.text(1)?, r.int(2)?));
                }
            }
            Ok(s)
        })?;
        *lock(&self.snap) = snap;
        Ok(())
    }
}

fn each_payment(c: &Ctx, f: impl Fn(&Payment) -> Option<String>) -> Result<Vec<Finding>, SqlError> {
    let snap = lock(&c.snap);
    Ok(snap.payments.iter().filter_map(|(r, p)| f(p).map(|d| Finding::about(r.clone(), d))).collect())
}

/// Whether the server's payment had `status` at some time at or after `since`.
fn had_since(p: &Payment, status: &str, since: i64) -> bool {
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
            |c: &Ctx| Ok(screens_findings(c)),
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
                let screens = lock(&c.screens);
                let mut bv = lock(&c.browser_versions);
                let from = bv.1;
                for s in screens.log.iter().skip(from) {
                    let Some(rep) = &s.rep else { continue };
                    let seen = bv.0.entry(s.customer).or_default();
                    if seen.last().is_none_or(|(_, v)| *v < rep.version) {
                        seen.push((s.t_ms, rep.version));
                    }
                }
                bv.1 = screens.log.len();
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
