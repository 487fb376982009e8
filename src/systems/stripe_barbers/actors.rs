//! The actors around the app: the checkout (customers pick a slot — sometimes two race for the
//! same one — the slot is claimed, a Checkout Session created, and the customer pays by card, by
//! a bank debit, or walks away), the 10-minute cron, the barber's dashboard polling every 15 s
//! while open (recording what it shows), and the barber pressing "Update Pending to Paid".
//!
//! Each is a [`Part`], so a user can replace any of them.
//!
//! What they do not do: crash mid-checkout (the checkout and customers are not crash targets; a
//! checkout that dies between its claim and its session is a different bug from seed 004's).

use super::app::{self, DashboardRow};
use super::logic::{self, Claim, NewBooking};
use super::{Config, Env, Flaw, Flaws, View};
use crate::providers::stripe::objects::short;
use crate::providers::stripe::{self, NewSession};
use crate::sim::world::lock;
use crate::sim::{Kind, Millis, Phase, Request, Sim};
use crate::store::DbError;
use crate::systems::{Part, Role};

pub const CHECKOUT: &str = "checkout";
pub const CUSTOMER: &str = "customer";
pub const CRON: &str = "cron";
pub const DASHBOARD: &str = "dashboard";
pub const BARBER: &str = "barber";

#[derive(Clone, Debug)]
struct Planned {
    keep: bool,
    n: u64,
    at: u64,
    slot: i64,
    pays: bool,
    by_debit: bool,
    pay_delay: u64,
    hold_ms: u64,
    session_latency: u64,
}

/// The checkout and its customers: `cfg.customers` arrivals in the arrival window, each racing
/// the one before for the same slot with probability `race`.
pub fn checkout(_cfg: &Config, flaws: Flaws) -> Part<Env> {
    Part::once(CHECKOUT, Role::App, move |sim: &Sim, env: &Env| start_checkout(sim, env, flaws))
}

fn start_checkout(sim: &Sim, env: &Env, flaws: Flaws) {
    let cfg = env.cfg.clone();
    let slots = cfg.slot_ids();
    let mut plan: Vec<Planned> = sim.choose(|o| {
        let mut out: Vec<Planned> = Vec::new();
        for n in 1..=u64::from(cfg.customers) {
            // Every field is drawn even for a dropped customer, so dropping one (shrinking) keeps
            // the choices of the others in place.
            let keep = o.keep();
            let mut at = cfg.arrival.draw_uniform(o);
            let mut slot = slots[o.below(slots.len() as u64) as usize];
            let races = o.chance(cfg.race.ppm());
            let gap = cfg.race_gap.draw(o);
            if races && let Some(prev) = out.last() {
                (at, slot) = (prev.at + gap, prev.slot);
            }
            let pays = o.chance(cfg.pay.ppm());
            let by_debit = o.chance(cfg.async_share.ppm());
            let pay_delay = cfg.pay_delay.draw(o);
            let hold_ms = cfg.hold.draw_uniform(o) / 1_000 * 1_000;
            let session_latency = cfg.session_latency.draw(o);
            out.push(Planned { keep, n, at, slot, pays, by_debit, pay_delay, hold_ms, session_latency });
        }
        out
    });
    plan.retain(|p| p.keep);
    plan.sort_by_key(|p| (p.at, p.n));
    let (sim2, env) = (sim.clone(), env.clone());
    sim.add_actor(CUSTOMER);
    sim.spawn(CHECKOUT, async move {
        for p in plan {
            sim2.sleep_until_ms(p.at).await;
            if sim2.phase() != Phase::Safety {
                break;
            }
            let (s, e) = (sim2.clone(), env.clone());
            sim2.spawn(CHECKOUT, async move { checkout_one(s, e, p, flaws).await });
        }
    });
}

/// Runs a unit until it lands (the customer's browser retries too), up to a bound.
async fn until_landed<T>(
    sim: &Sim,
    env: &Env,
    name: &str,
    key: &str,
    f: impl Fn(&mut crate::store::Tx) -> Result<T, crate::store::SqlError>,
) -> Option<T> {
    for attempt in 0..600u64 {
        match env.db.unit(CHECKOUT, name, key, &f).await {
            Ok(v) => return Some(v),
            Err(DbError::Sql(_)) => return None,
            Err(_) => sim.sleep_ms(1_000 * (attempt.min(30) + 1)).await,
        }
    }
    None
}

async fn checkout_one(sim: Sim, env: Env, p: Planned, flaws: Flaws) {
    let key = format!("booking {}", p.n);
    // The slot page: is it still free?
    let free = until_landed(&sim, &env, "checkout.slot-available", &key, |tx| logic::slot_free(tx, p.slot)).await;
    if free != Some(true) {
        sim.record(Kind::State, CHECKOUT, None, || format!("{key}: slot {} shows as booked; customer leaves", p.slot));
        return;
    }
    // Creating the session is Stripe's API round trip: the slot page's read is this old when
    // the claim runs.
    sim.sleep_ms(p.session_latency).await;
    let hold_s = p.hold_ms / 1_000;
    let expires_at_s = sim.wall_ms() / 1_000 + hold_s;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("booking_id".to_string(), p.n.to_string());
    metadata.insert("slot_id".to_string(), p.slot.to_string());
    let methods = if p.by_debit { vec!["us_bank_account".to_string()] } else { vec!["card".to_string()] };
    let new = NewSession {
        amount_total: env.cfg.amount,
        currency: "usd".into(),
        client_reference_id: Some(p.n.to_string()),
        metadata,
        payment_method_types: methods,
        expires_at_s: Some(expires_at_s),
        ..NewSession::default()
    };
    let stripe = env.stripe.clone();
    let created = sim.exchange(|| {
        sim.record(Kind::Send, CHECKOUT, Some(stripe::ACTOR), || {
            format!("POST /v1/checkout/sessions ({key}, slot {})", p.slot)
        });
        stripe.create_session(new)
    });
    let Ok(session) = created else { return };
    let b = NewBooking {
        id: p.n as i64,
        slot: p.slot,
        customer: format!("customer-{}", p.n),
        session: session.clone(),
        amount: env.cfg.amount,
        hold_expires_at: (sim.now_ms() + p.hold_ms) as i64,
        now: sim.now_ms() as i64,
    };
    let claim = if flaws.has(Flaw::ReadThenClaim) {
        until_landed(&sim, &env, "checkout.mark-booked", &key, |tx| logic::blind_claim(tx, &b)).await
    } else {
        until_landed(&sim, &env, "checkout.claim", &key, |tx| logic::claim(tx, &b)).await
    };
    if claim != Some(Claim::Claimed) {
        // Lost the race: the session is expired at once so nobody can pay for a slot not held.
        sim.mark("double-booking-attempt");
        sim.exchange(|| {
            sim.record(Kind::Send, CHECKOUT, Some(stripe::ACTOR), || {
                format!("POST /v1/checkout/sessions/{}/expire ({key}: slot {} taken)", short(&session), p.slot)
            });
            let _ = stripe.expire(&session);
        });
        return;
    }
    let (s, st) = (sim.clone(), stripe.clone());
    sim.spawn(CUSTOMER, async move {
        s.sleep_ms(p.pay_delay).await;
        s.exchange(|| {
            if !p.pays {
                st.abandon(&session);
            } else if p.by_debit {
                let _ = st.pay_async(&session);
            } else {
                let _ = st.pay_card(&session);
            }
        });
    });
}

/// The cron's main task: every `cron_every`, ask Stripe about every booking due a check (holds
/// whose time is up, lapsed holds, refunds due) and apply what it says; lapse holds whose debit
/// is still processing; then the seed's own local fix. A restart carries on at the next tick.
pub async fn cron(env: Env, flaws: Flaws) {
    let every = env.cfg.cron_every.0.max(1_000);
    let mut next = (env.sim.now_ms() / every + 1) * every;
    loop {
        env.sim.sleep_until_ms(next).await;
        next += every;
        let now = env.sim.now_ms() as i64;
        // `no-async-events`: the seed's cron, which never asks Stripe.
        let ask_stripe = !flaws.has(Flaw::NoAsyncEvents);
        let due = if ask_stripe {
            env.db.unit(CRON, "cron.due", "", |tx| logic::due_for_check(tx, now)).await
        } else {
            Ok(Vec::new())
        };
        let Ok(due) = due else { continue };
        for (booking, session) in due {
            if app::sync_session(&env, CRON, &session, flaws).await.is_err() {
                continue;
            }
            let sim = env.sim.clone();
            let lapsed =
                env.db.unit(CRON, "cron.lapse", &session, |tx| logic::lapse(tx, booking, sim.now_ms() as i64)).await;
            if lapsed == Ok(true) {
                env.sim.mark("hold-lapsed");
                env.sim.record(Kind::State, CRON, None, || {
                    format!("booking {booking}: debit still processing when the hold ended; slot released")
                });
            }
        }
        let sim = env.sim.clone();
        let _ = env.db.unit(CRON, "cron.sync-appointments", "", |tx| logic::seed_sync(tx, sim.now_ms() as i64)).await;
    }
}

/// The barber's dashboard: opened up to `dashboard_opens_max` times in the safety phase, for
/// `dashboard_open_for`, polling every `dashboard_every`; and a last look at every barber's
/// appointments a minute before the run ends. Every answer is recorded as a [`View`].
pub fn dashboard(_cfg: &Config) -> Part<Env> {
    Part::once(DASHBOARD, Role::Client, |sim: &Sim, env: &Env| start_dashboard(sim, env))
}

fn start_dashboard(sim: &Sim, env: &Env) {
    let cfg = env.cfg.clone();
    let safety = sim.config().safety.0.max(1);
    let end = sim.config().safety.0 + sim.config().liveness.0;
    let mut opens = sim.choose(|o| {
        let n = o.below(u64::from(cfg.dashboard_opens_max) + 1);
        (0..n)
            .map(|_| (o.below(safety), cfg.dashboard_open_for.draw(o), 1 + o.below(u64::from(cfg.barbers)) as i64))
            .collect::<Vec<_>>()
    });
    opens.sort();
    let env = env.clone();
    let sim2 = sim.clone();
    sim.spawn(DASHBOARD, async move {
        for (at, open_for, barber) in opens {
            sim2.sleep_until_ms(at.max(sim2.now_ms())).await;
            let until = sim2.now_ms() + open_for;
            while sim2.now_ms() <= until {
                look(&sim2, &env, barber, false).await;
                sim2.sleep_ms(env.cfg.dashboard_every.0).await;
            }
        }
        sim2.sleep_until_ms(end.saturating_sub(Millis::min(1).0).max(sim2.now_ms())).await;
        for barber in 1..=i64::from(env.cfg.barbers) {
            look(&sim2, &env, barber, true).await;
        }
    });
}

async fn look(sim: &Sim, env: &Env, barber: i64, last: bool) {
    let path = format!("/barbers/{barber}/appointments");
    let label = if sim.recording() { format!("GET {path}") } else { String::new() };
    let req = Request::new(http::Method::GET, path).label(label);
    let Ok(resp) = sim.request(DASHBOARD, app::ACTOR, req, Millis::s(10).0).await else { return };
    let Ok(rows) = serde_json::from_slice::<Vec<DashboardRow>>(&resp.body) else { return };
    let paid = rows.iter().filter(|r| r.2 == "paid").count();
    sim.record(Kind::State, DASHBOARD, None, || {
        format!("barber {barber}'s dashboard shows {} appointment(s), {paid} paid", rows.len())
    });
    lock(&env.views).push(View { t_ms: sim.now_ms(), barber, rows, last });
}

/// The barber, who presses "Update Pending to Paid" up to `manual_clicks_max` times.
pub fn barber(_cfg: &Config) -> Part<Env> {
    Part::once(BARBER, Role::Client, |sim: &Sim, env: &Env| start_barber(sim, env))
}

fn start_barber(sim: &Sim, env: &Env) {
    let cfg = env.cfg.clone();
    let safety = sim.config().safety.0.max(1);
    let mut clicks = sim.choose(|o| {
        let n = o.below(u64::from(cfg.manual_clicks_max) + 1);
        (0..n).map(|_| (o.below(safety), 1 + o.below(u64::from(cfg.barbers)) as i64)).collect::<Vec<_>>()
    });
    clicks.sort();
    let sim2 = sim.clone();
    sim.spawn(BARBER, async move {
        for (at, barber) in clicks {
            sim2.sleep_until_ms(at).await;
            let path = format!("/barbers/{barber}/appointments/mark-paid");
            let label = if sim2.recording() { format!("POST {path}") } else { String::new() };
            let req = Request::new(http::Method::POST, path).label(label);
            let _ = sim2.request(BARBER, app::ACTOR, req, Millis::min(2).0).await;
        }
    });
}
