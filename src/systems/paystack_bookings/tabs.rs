//! Browser tabs as actors. Every customer has one browser with 1 + up to `extra_tabs_max` tabs.
//! Tab 1 books, pays on Paystack's page, lands on the redirect callback (which calls
//! `/api/payment/verify`) and may cancel (an optimistic update, rolled back when the API
//! fails); every tab comes and goes hidden (the customer switches tabs or apps). Each tab has its own cache (the last
//! representation, its ETag, when it arrived), a refresh timer, and hears its siblings through
//! the browser's localStorage channel. The cache rules are the run's [`Policy`].
//!
//! The reference tab: refreshes every `refresh_every` while visible, whenever its entry would
//! pass its TTL (payment's while the payment is not final, booking's after) before the next
//! tick; hidden, only every `hidden_refresh_every`; sends `If-None-Match`; takes an answer or
//! an event only if its version is not older than what it has; on focus refreshes an expired
//! entry and says "refreshing" until the answer; says "offline" after a failed fetch; rolls back
//! only its own overlay. After every change it records its [`Screen`] and the checker runs.
//!
//! `callback-trusts-redirect` shows success on the callback page when its verify call fails,
//! from the redirect's query string alone.
//!
//! What it does not do: model several bookings per customer, or the browser's own HTTP cache
//! (the endpoint says `no-cache`).

use std::sync::{Arc, Mutex};

use super::logic::{ESCROW, REFUNDED, RELEASED, Rep};
use super::{Env, Policy, Screen};
use crate::providers::paystack::Channel;
use crate::sim::world::{Step, lock};
use crate::sim::{Kind, Millis, Phase, Request, Sim};
use crate::systems::{Part, Role};

pub const BROWSER: &str = "browser";
/// Paystack's hosted page, where the customer pays.
pub const CUSTOMER: &str = "customer";
const FETCH_TIMEOUT_MS: u64 = 10_000;

/// One tab's state.
#[derive(Clone, Debug, Default)]
pub struct Tab {
    pub id: String,
    pub customer: i64,
    pub visible: bool,
    pub rep: Option<Rep>,
    pub etag: String,
    /// When the entry last arrived or was revalidated.
    pub fetched_at: u64,
    pub overlay: Option<String>,
    pub notice: Option<&'static str>,
    pub fetching: u32,
    pub newest_seen: i64,
    /// False once the refresh timer stopped for good (`hidden_stops`).
    pub ticking: bool,
}

type TabRef = Arc<Mutex<Tab>>;

#[derive(Clone, Debug)]
struct Plan {
    customer: i64,
    at: u64,
    extra: u32,
    pays: bool,
    pay_delay: u64,
    cancels: bool,
    cancel_after: u64,
    /// Per tab: the times it toggles visibility.
    toggles: Vec<Vec<u64>>,
}

/// Every customer's browser, started once.
pub fn browser() -> Part<Env> {
    Part::once(BROWSER, Role::Browser, start)
}

fn start(sim: &Sim, env: &Env) {
    let cfg = env.cfg.clone();
    let safety = sim.config().safety.0.max(1);
    let plans: Vec<Plan> = sim.choose(|o| {
        (1..=i64::from(cfg.customers))
            .map(|customer| {
                let at = cfg.arrival.draw_uniform(o);
                let extra = o.below(u64::from(cfg.extra_tabs_max) + 1) as u32;
                let pays = o.chance(cfg.pay.ppm());
                let pay_delay = cfg.pay_delay.draw(o);
                let cancels = o.chance(cfg.cancel.ppm());
                let cancel_after = cfg.cancel_after.draw(o);
                let toggles = (0..=extra)
                    .map(|_| {
                        let n = o.below(u64::from(cfg.visibility_changes_max) + 1);
                        let mut t: Vec<u64> = (0..n).map(|_| at + o.below(safety.saturating_sub(at).max(1))).collect();
                        t.sort_unstable();
                        t
                    })
                    .collect();
                Plan { customer, at, extra, pays, pay_delay, cancels, cancel_after, toggles }
            })
            .collect()
    });
    sim.add_actor(CUSTOMER);
    for p in plans {
        let (s, e) = (sim.clone(), env.clone());
        sim.spawn(BROWSER, async move { customer(s, e, p).await });
    }
}

fn version(t: &Tab) -> i64 {
    t.rep.as_ref().map_or(0, |r| r.version)
}

/// Records what `tab` shows now and lets the checker look.
fn observe(env: &Env, tab: &TabRef, why: &'static str) {
    let t = lock(tab).clone();
    let screen = Screen {
        t_ms: env.sim.now_ms(),
        tab: t.id.clone(),
        customer: t.customer,
        visible: t.visible,
        rep: t.rep.clone(),
        overlay: t.overlay.clone(),
        notice: t.notice,
        why,
        newest_seen: t.newest_seen,
    };
    env.sim.record(Kind::State, BROWSER, None, || {
        let shown = match (&screen.rep, screen.notice) {
            (_, Some(n)) => n.to_string(),
            (None, None) => "loading".into(),
            (Some(r), None) => format!(
                "booking {} payment {} (v{})",
                screen.overlay.as_deref().unwrap_or(&r.status),
                r.payment,
                r.version
            ),
        };
        let vis = if screen.visible { "" } else { " [hidden]" };
        format!("tab {}{vis} shows {shown} after {why}", screen.tab)
    });
    {
        let mut s = lock(&env.screens);
        s.current.insert(screen.tab.clone(), screen.clone());
        s.log.push(screen);
    }
    env.sim.step(Step::Observation { key: &format!("bk-{}", t.customer) });
}

/// Takes `rep` into `tab` if the policy allows; true when the tab's entry changed.
fn accept(policy: &Policy, now: u64, tab: &TabRef, rep: Rep, etag: Option<String>) -> bool {
    let mut t = lock(tab);
    t.newest_seen = t.newest_seen.max(rep.version);
    if !policy.take_older && rep.version < version(&t) {
        return false;
    }
    let same = t.rep.as_ref().is_some_and(|r| r.version == rep.version && r.payment == rep.payment);
    if let Some(e) = etag {
        t.etag = e;
    } else if !same {
        t.etag.clear();
    }
    t.rep = Some(rep);
    t.fetched_at = now;
    t.notice = None;
    !same
}

async fn get(sim: &Sim, path: String, etag: &str) -> Result<crate::sim::Response, ()> {
    let label = if sim.recording() { format!("GET {path}") } else { String::new() };
    let mut req = Request::new(http::Method::GET, path).label(label);
    if !etag.is_empty() {
        req = req.header("if-none-match", etag);
    }
    sim.request(BROWSER, super::app::ACTOR, req, FETCH_TIMEOUT_MS).await.map_err(|_| ())
}

/// Sends `rep` to every other tab of the browser over the localStorage channel.
fn broadcast(env: &Env, tabs: &[TabRef], from: usize, rep: &Rep) {
    for (i, tab) in tabs.iter().enumerate() {
        if i == from {
            continue;
        }
        let (env2, tab, rep) = (env.clone(), tab.clone(), rep.clone());
        env.sim.spawn(BROWSER, async move {
            env2.sim.sleep_ms(5).await;
            if env2.policy.drop_events_while_fetching && lock(&tab).fetching > 0 {
                let id = lock(&tab).id.clone();
                env2.sim.record(Kind::State, BROWSER, None, || {
                    format!("tab {id}: storage event (v{}) dropped mid-fetch", rep.version)
                });
                return;
            }
            if accept(&env2.policy, env2.sim.now_ms(), &tab, rep, None) {
                env2.sim.mark("cross-tab-event");
                observe(&env2, &tab, "cross-tab event");
            }
        });
    }
}

/// Fetches the sync endpoint into tab `i`.
async fn fetch(env: &Env, tabs: &[TabRef], i: usize) {
    let tab = &tabs[i];
    let (customer, etag) = {
        let mut t = lock(tab);
        t.fetching += 1;
        (t.customer, t.etag.clone())
    };
    let answer = get(&env.sim, format!("/api/bookings/sync?customer={customer}"), &etag).await;
    lock(tab).fetching -= 1;
    let now = env.sim.now_ms();
    match answer {
        Ok(r) if r.status == 304 => {
            let mut t = lock(tab);
            t.fetched_at = now;
            t.notice = None;
            drop(t);
            observe(env, tab, "304");
        }
        Ok(r) if r.status == 200 => {
            let Ok(rep) = serde_json::from_slice::<Rep>(&r.body) else { return };
            let etag = r.header("etag").map(str::to_string);
            if accept(&env.policy, now, tab, rep.clone(), etag) {
                broadcast(env, tabs, i, &rep);
            }
            observe(env, tab, "fetch");
        }
        _ => {
            lock(tab).notice = Some("offline");
            observe(env, tab, "failed fetch");
        }
    }
}

fn ttl(policy: &Policy, t: &Tab) -> u64 {
    match t.rep.as_ref().map(|r| r.payment.as_str()) {
        Some(RELEASED | REFUNDED) => policy.booking_ttl.0,
        _ => policy.payment_ttl.0,
    }
}

/// Tab `i`'s refresh timer.
async fn ticker(env: Env, tabs: Arc<Vec<TabRef>>, i: usize) {
    let every = env.policy.refresh_every.0.max(1_000);
    loop {
        env.sim.sleep_ms(every).await;
        let (visible, need, hidden_due) = {
            let t = lock(&tabs[i]);
            let age = env.sim.now_ms().saturating_sub(t.fetched_at);
            let need = t.rep.is_none() || t.notice.is_some() || age + every > ttl(&env.policy, &t);
            (t.visible, need, age >= env.policy.hidden_refresh_every.0)
        };
        if !visible {
            if env.policy.hidden_stops {
                lock(&tabs[i]).ticking = false;
                return;
            }
            if hidden_due {
                fetch(&env, &tabs, i).await;
            }
            continue;
        }
        if need {
            fetch(&env, &tabs, i).await;
        }
    }
}

async fn set_visible(env: &Env, tabs: &Arc<Vec<TabRef>>, i: usize, visible: bool) {
    let tab = &tabs[i];
    lock(tab).visible = visible;
    if !visible {
        observe(env, tab, "hide");
        return;
    }
    env.sim.mark("hidden-tab-refocused");
    if env.policy.hidden_stops {
        observe(env, tab, "focus");
        return;
    }
    let expired = {
        let mut t = lock(tab);
        let expired = env.sim.now_ms().saturating_sub(t.fetched_at) >= ttl(&env.policy, &t);
        if expired {
            t.notice = Some("refreshing");
        }
        expired
    };
    observe(env, tab, "focus");
    if expired {
        fetch(env, tabs, i).await;
    }
}

async fn customer(sim: Sim, env: Env, p: Plan) {
    sim.sleep_until_ms(p.at).await;
    if sim.phase() != Phase::Safety {
        return;
    }
    let tabs: Arc<Vec<TabRef>> = Arc::new(
        (0..=p.extra)
            .map(|k| {
                Arc::new(Mutex::new(Tab {
                    id: format!("{}.{}", p.customer, k + 1),
                    customer: p.customer,
                    visible: true,
                    ticking: true,
                    ..Tab::default()
                }))
            })
            .collect(),
    );
    // Tab 1 books (its browser retries until the server answers).
    let mut booked = None;
    for attempt in 0..60u64 {
        let path = format!("/api/bookings?customer={}", p.customer);
        let label = if sim.recording() { format!("POST {path}") } else { String::new() };
        let req = Request::new(http::Method::POST, path).label(label);
        if let Ok(r) = sim.request(BROWSER, super::app::ACTOR, req, FETCH_TIMEOUT_MS).await
            && r.status == 200
            && let Ok(rep) = serde_json::from_slice::<Rep>(&r.body)
        {
            booked = Some(rep);
            break;
        }
        sim.sleep_ms(2_000 * (attempt.min(10) + 1)).await;
    }
    let Some(rep) = booked else { return };
    accept(&env.policy, sim.now_ms(), &tabs[0], rep.clone(), None);
    observe(&env, &tabs[0], "booked");
    for i in 0..tabs.len() {
        let (e, t) = (env.clone(), tabs.clone());
        sim.spawn(BROWSER, async move { ticker(e, t, i).await });
    }
    for i in 0..tabs.len() {
        let (e, t) = (env.clone(), tabs.clone());
        let toggles = p.toggles[i].clone();
        sim.spawn(BROWSER, async move {
            if i > 0 {
                fetch(&e, &t, i).await;
            }
            for at in toggles {
                e.sim.sleep_until_ms(at.max(e.sim.now_ms())).await;
                if e.sim.phase() != Phase::Safety {
                    return;
                }
                let visible = !lock(&t[i]).visible;
                set_visible(&e, &t, i, visible).await;
            }
        });
    }
    // Paystack's page, then the redirect back to tab 1.
    sim.sleep_ms(p.pay_delay).await;
    let reference = rep.reference.clone();
    let paid = sim.exchange(|| {
        if p.pays {
            matches!(env.paystack.pay(&reference, Channel::Card), Ok(crate::providers::paystack::PayOutcome::Succeeded))
        } else {
            env.paystack.abandon(&reference);
            false
        }
    });
    if !p.pays {
        return;
    }
    for attempt in 0..5u64 {
        if let Ok(r) = get(&sim, format!("/api/payment/verify?reference={reference}"), "").await
            && r.status == 200
            && let Ok(rep) = serde_json::from_slice::<Rep>(&r.body)
        {
            if accept(&env.policy, sim.now_ms(), &tabs[0], rep.clone(), None) {
                broadcast(&env, &tabs, 0, &rep);
            }
            observe(&env, &tabs[0], "payment callback");
            break;
        }
        if attempt == 0 && env.policy.trust_redirect {
            success_from_redirect(&env, &tabs[0]);
        }
        sim.sleep_ms(3_000 * (attempt + 1)).await;
    }
    if !(paid && p.cancels) {
        return;
    }
    sim.sleep_ms(p.cancel_after).await;
    if sim.phase() != Phase::Safety {
        return;
    }
    cancel(&env, &tabs, p.customer).await;
}

/// `callback-trusts-redirect`: the verify call failed, and the callback page, landed on with
/// `?reference=…&trxref=…`, shows the payment as successful anyway (the redirect happened, so
/// it must have worked). The tab's next refresh replaces it with the server's answer.
fn success_from_redirect(env: &Env, tab: &TabRef) {
    {
        let mut t = lock(tab);
        let Some(rep) = t.rep.as_mut() else { return };
        rep.payment = ESCROW.to_string();
        t.etag.clear();
        t.notice = None;
    }
    observe(env, tab, "redirect query string");
}

/// The customer clicks "cancel" in tab 1: the overlay shows CANCELLED at once; the API's answer
/// confirms it, or the overlay is rolled back.
async fn cancel(env: &Env, tabs: &Arc<Vec<TabRef>>, booking: i64) {
    let tab = &tabs[0];
    let snapshot = {
        let mut t = lock(tab);
        let Some(rep) = t.rep.clone() else { return };
        if rep.status != "BOOKED" || rep.payment != "ESCROW" {
            return;
        }
        t.overlay = Some("CANCELLED".into());
        rep
    };
    observe(env, tab, "optimistic cancel");
    let path = format!("/api/bookings/{booking}/cancel");
    let label = if env.sim.recording() { format!("POST {path}") } else { String::new() };
    let req = Request::new(http::Method::POST, path).label(label);
    let answer = env.sim.request(BROWSER, super::app::ACTOR, req, Millis::s(60).0).await;
    if let Ok(r) = &answer
        && r.status == 200
        && let Ok(rep) = serde_json::from_slice::<Rep>(&r.body)
    {
        lock(tab).overlay = None;
        if accept(&env.policy, env.sim.now_ms(), tab, rep.clone(), None) {
            broadcast(env, tabs, 0, &rep);
        }
        observe(env, tab, "cancelled");
        return;
    }
    env.sim.mark("optimistic-rollback");
    {
        let mut t = lock(tab);
        t.overlay = None;
        if env.policy.restore_snapshot {
            t.rep = Some(snapshot);
            t.etag.clear();
        }
    }
    observe(env, tab, "rollback");
}
