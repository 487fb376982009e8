//! Midtrans over real HTTP on 127.0.0.1 for `settle drive`: the model's status API and Snap's
//! create transaction ([`crate::hosted::snap`]), served by axum on an ephemeral port, with the
//! customers' pages and the seeded race.
//!
//! When the service creates a Snap transaction, settle draws (from the seed) whether this
//! customer pays, and whether the answer is held: a held answer is released only once the
//! service has answered the provider's final notification for that order (or a simulated
//! `HOLD_MAX_MS` passed), so a service that writes its order row after Snap answers meets seed
//! 001's race — the webhook before the row — on the first try, not by luck.
//!
//! `[run] hold_only = [k, …]` filters the holds: the seed draws exactly as without it, then only
//! the customers named (1-based, the checkout settle is sending when the charge is created) keep
//! their hold, so `settle drive --shrink` can hold fewer messages and keep the rest of the story.
//! A charge the service creates outside a checkout belongs to no customer and is not held then.
//!
//! The Core API's `POST /v2/charge` ([`crate::hosted::core_api`]) is served beside Snap: the
//! charge is pending at once with the method the service names, and its answer can be held the
//! same way.
//!
//! What it does not serve yet: refunds, cancel/expire calls, or API faults beyond those the
//! model's status API has (`ProviderConfig::api`).

use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::runtime::DriveWorld;
use crate::providers::midtrans::status::PaymentType;
use crate::providers::midtrans::{Midtrans, ProviderConfig};
use crate::sim::{Kind, Millis, Phase, Range, Rate};

/// The longest a Snap answer is held, in simulated time.
const HOLD_MAX_MS: u64 = 180_000;
/// How often (simulated) a paying customer looks again at the page.
const PAGE_POLL_MS: u64 = 1_000;
const PAGE_POLLS_MAX: u32 = 600;

/// Settle's Midtrans for one drive run. Cheap to clone.
#[derive(Clone)]
pub struct DriveMidtrans {
    pub world: DriveWorld,
    pub provider: Midtrans,
    pay: Rate,
    race: Rate,
    /// Share of paying customers whose checkout COMMIT the database proxy holds.
    hold_commit: Rate,
    /// The service's answers to checkouts: `true` 2xx, `false` anything else (see [`Self::checkout_answered`]).
    checkouts: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, bool>>>,
    pay_after: Range,
    methods: Vec<PaymentType>,
    /// `[run] hold_only`: the customers whose holds are kept (`None`: all).
    hold_only: Option<Vec<u32>>,
    /// The customer whose checkout settle is sending now, and the customers held so far.
    customers: std::sync::Arc<std::sync::Mutex<Customers>>,
}

/// Which customer a charge belongs to, and whose messages were held.
#[derive(Default)]
struct Customers {
    current: Option<u32>,
    held: std::collections::BTreeSet<u32>,
}

impl DriveMidtrans {
    pub fn new(world: &DriveWorld, cfg: ProviderConfig, pay: Rate, race: Rate) -> DriveMidtrans {
        let provider = Midtrans::new(world.rt("midtrans"), cfg);
        DriveMidtrans {
            world: world.clone(),
            provider,
            pay,
            race,
            hold_commit: Rate::ZERO,
            checkouts: std::sync::Arc::default(),
            pay_after: Range::new(Millis::s(2), Millis::s(40)),
            methods: vec![PaymentType::BankTransfer, PaymentType::Gopay, PaymentType::Qris],
            hold_only: None,
            customers: std::sync::Arc::default(),
        }
    }

    /// Keeps only these customers' holds (`[run] hold_only`).
    pub fn hold_only(&mut self, customers: Option<Vec<u32>>) {
        self.hold_only = customers;
    }

    /// Settle is sending customer `k`'s checkout (`None`: it is done): a charge created meanwhile
    /// is that customer's.
    pub fn checkout_of(&self, k: Option<u32>) {
        crate::sim::world::lock(&self.customers).current = k;
    }

    /// The customers whose Snap/charge answer or checkout COMMIT was held, ascending.
    pub fn held_customers(&self) -> Vec<u32> {
        crate::sim::world::lock(&self.customers).held.iter().copied().collect()
    }

    /// Holds the checkout COMMIT of this share of paying customers (see [`super::proxy`]).
    pub fn hold_commits(&mut self, share: Rate) {
        self.hold_commit = share;
    }

    /// The service answered the checkout of `order_id` (`ok`: with a 2xx). A customer whose
    /// answer is not held pays only after a 2xx, and leaves after anything else: a checkout that
    /// failed showed no payment page.
    pub fn checkout_answered(&self, order_id: &str, ok: bool) {
        crate::sim::world::lock(&self.checkouts).insert(order_id.to_string(), ok);
    }

    pub fn router(&self) -> Router {
        let snap = Router::new()
            .route("/snap/v1/transactions", post(snap_create))
            .route("/v2/charge", post(core_charge))
            .with_state(self.clone());
        let w = self.world.clone();
        self.provider.router().merge(snap).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let w = w.clone();
                async move {
                    let line = format!("{} {}", req.method(), req.uri().path());
                    w.record("service", Kind::Send, format!("{line} → midtrans"));
                    let answer = w.in_flight(next.run(req)).await;
                    w.record("midtrans", Kind::Reply, format!("{line}: {}", answer.status().as_u16()));
                    answer
                }
            },
        ))
    }

    /// The customer on the page of `order_id`: pays after a seeded time once a method is chosen
    /// (and, unless Snap's answer is `held` on purpose or the proxy holds the checkout's COMMIT,
    /// once the service's checkout answered 2xx).
    fn open_page(&self, order_id: &str, after: u64, snap_held: bool) {
        let me = self.clone();
        let order = order_id.to_string();
        tokio::spawn(async move {
            me.world.sleep_sim(after).await;
            for _ in 0..PAGE_POLLS_MAX {
                let answered = crate::sim::world::lock(&me.checkouts).get(&order).copied();
                let held = snap_held || me.world.commit_was_held(&order);
                if !held && answered == Some(false) {
                    break;
                }
                if (held || answered == Some(true)) && me.provider.pay(&order) {
                    me.world.record("customers", Kind::State, format!("{order}: customer pays"));
                    return;
                }
                if me.provider.truth(&order).is_some_and(|t| t.failed_now() || t.paid_now())
                    || me.world.phase() != Phase::Safety
                {
                    break;
                }
                me.world.sleep_sim(PAGE_POLL_MS).await;
            }
            me.world.record("customers", Kind::State, format!("{order}: customer leaves without paying"));
        });
    }
}

/// `POST /snap/v1/transactions`: creates the charge, opens the customer's page, and holds the
/// answer when the seed says so (see the module doc).
async fn snap_create(
    AxState(h): AxState<DriveMidtrans>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let pick = |n: usize| usize::try_from(h.world.choose(|o| o.below(n as u64))).unwrap_or(0);
    let created = match crate::hosted::snap::create(&h.provider, &headers, &body, &h.methods, pick) {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    h.customer(&created.order_id, "Snap's").await;
    created.answer()
}

/// `POST /v2/charge` (the Core API): the charge is pending at once with the method the service
/// named; then the same customer and the same seeded hold of the answer as Snap's.
async fn core_charge(
    AxState(h): AxState<DriveMidtrans>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let created = match crate::hosted::core_api::charge(&h.provider, &headers, &body) {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    // The answer describes the charge as created (pending), however long it is held.
    let answer = crate::hosted::core_api::answer(&h.provider, &created);
    h.customer(&created.order_id, "the charge API's").await;
    answer
}

impl DriveMidtrans {
    /// After a charge was created for `order`: draws whether the customer pays, opens the page,
    /// and, when the seed says so, holds the creating request's answer (`api`, as the trace
    /// names it) until the service answered the final notification.
    async fn customer(&self, order: &str, api: &str) {
        let h = self;
        let (pays, after, drawn_held) =
            h.world.choose(|o| (o.chance(h.pay.ppm()), h.pay_after.draw(o), o.chance(h.race.ppm())));
        let who = crate::sim::world::lock(&h.customers).current;
        // Drawn as before, then filtered: `hold_only` changes no other draw.
        let kept = h.hold_only.as_ref().is_none_or(|l| who.is_some_and(|k| l.contains(&k)));
        let held = drawn_held && kept;
        if !pays {
            h.world.record("customers", Kind::State, format!("{order}: customer abandons the payment page"));
            return;
        }
        // Drawn only when the proxy holds commits, so a scenario without it draws as before.
        let commit_held = !h.hold_commit.is_zero() && h.world.choose(|o| o.chance(h.hold_commit.ppm())) && kept;
        if let Some(k) = who.filter(|_| held || commit_held) {
            crate::sim::world::lock(&h.customers).held.insert(k);
        }
        if commit_held {
            h.world.hold_commit(order);
            h.world.record(
                "settle",
                Kind::Fault,
                format!("{order}: the checkout's COMMIT will be held at the database proxy"),
            );
        }
        h.open_page(order, after, held);
        if held {
            h.world.record(
                "settle",
                Kind::Fault,
                format!("{order}: {api} answer held until the service answers the final notification"),
            );
            let deadline = tokio::time::Instant::now() + Duration::from_millis(HOLD_MAX_MS / h.world.scale());
            while !h.world.final_answered(order) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            h.world.record("settle", Kind::Fault, format!("{order}: {api} answer released"));
        }
    }
}
