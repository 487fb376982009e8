//! The server's background jobs: the stuck-payment detector (every `detector_every`: a payment
//! PENDING longer than `stuck_after` is verified with Paystack and moved to ESCROW on success; a
//! refund claimed but unfinished is asked again) and the escrow release (every `release_every`:
//! bookings whose service time has come are released, one unit each).
//!
//! `stuck-warn-only` (seed 003's "stuck payment detection and warnings") only notes a stuck
//! payment in the trace and never asks Paystack about it.
//!
//! What they do not do: cancel abandoned bookings (an unpaid booking stays PENDING, as the
//! seed's does) or talk to the browser.

use super::app::{self, to_escrow};
use super::logic::{self, PENDING};
use super::{Env, Flaw, Flaws};
use crate::sim::Kind;
use crate::systems::Part;

pub const DETECTOR: &str = "detector";
pub const RELEASE: &str = "release";

pub fn detector(flaws: Flaws) -> Part<Env> {
    Part::job(DETECTOR, move |env: Env| run_detector(env, flaws))
}

pub fn release() -> Part<Env> {
    Part::job(RELEASE, run_release)
}

async fn run_detector(env: Env, flaws: Flaws) {
    let every = env.cfg.detector_every.0;
    let mut next = (env.sim.now_ms() / every + 1) * every;
    loop {
        env.sim.sleep_until_ms(next).await;
        next += every;
        let (now, after) = (env.sim.now_ms() as i64, env.cfg.stuck_after.0 as i64);
        let Ok(stuck) = env.db.unit(DETECTOR, "detector.stuck", "", |tx| logic::stuck(tx, now, after)).await else {
            continue;
        };
        let secret = env.cfg.paystack.secret_key.clone();
        for (booking, reference, status) in stuck {
            if status == PENDING && flaws.has(Flaw::StuckWarnOnly) {
                env.sim.record(Kind::State, DETECTOR, None, || format!("{reference}: stuck PENDING; warning shown"));
            } else if status == PENDING {
                if let Ok(s) = app::paystack_status(&env.sim, DETECTOR, &secret, &reference).await
                    && s == "success"
                {
                    let _ = to_escrow(&env, DETECTOR, "detector", &reference, false).await;
                }
            } else if let Err(e) = app::finish_refund(&env, DETECTOR, booking).await {
                env.sim.record(Kind::State, DETECTOR, None, || format!("booking {booking}: refund still failing: {e}"));
            }
        }
    }
}

async fn run_release(env: Env) {
    let every = env.cfg.release_every.0;
    let mut next = (env.sim.now_ms() / every + 1) * every;
    loop {
        env.sim.sleep_until_ms(next).await;
        next += every;
        let now = env.sim.now_ms() as i64;
        let Ok(due) = env.db.unit(RELEASE, "release.due", "", |tx| logic::due_release(tx, now)).await else { continue };
        for booking in due {
            let sim = env.sim.clone();
            let key = format!("bk-{booking}");
            if let Ok(true) = env
                .db
                .unit(RELEASE, "release.escrow", &key, |tx| logic::release(tx, booking, sim.now_ms() as i64))
                .await
            {
                env.sim
                    .record(Kind::State, RELEASE, None, || format!("booking {booking}: service done; escrow released"));
            }
        }
    }
}
