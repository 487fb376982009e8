//! Midtrans as a turmoil host, with customers: settle's Midtrans model serving its real APIs
//! inside a user's `turmoil::Sim`, and a seeded load plan of customers who pay, abandon, or
//! have their payment reversed.
//!
//! The host serves, on one port:
//! - `POST /snap/v1/transactions` (Snap): basic auth with the server key; body
//!   `{"transaction_details": {"order_id", "gross_amount"}}` (whole rupiah); answers `201
//!   {"token", "redirect_url"}`, or 400 when the order id is taken or the body is wrong, 401 on
//!   a wrong key. The customer then opens the Snap page: they pick a method (the plan's methods,
//!   drawn from the oracle), and pay or abandon as the plan says.
//! - `GET /v2/{order_id}/status`: the model's status API ([`Midtrans::router`]).
//!
//! Notifications go, with Midtrans's real bodies, `signature_key` and retry schedule, to the
//! party the provider config names (`notify_actor`, mapped to a turmoil host and port by
//! [`MidtransHost::notify`]), over turmoil's network.
//!
//! The load: [`MidtransHost::customers`] is a future to run as a turmoil client. It calls the
//! user's own checkout (an async closure, usually an HTTP request to the user's service) for
//! each customer at seeded times, waits for the last customer to have paid or left, closes the
//! load (the liveness phase: no more payments or reversals), then waits `settle_for` so that
//! retries, expiries and the user's own jobs can converge before the checks.
//!
//! What it does not model: the Core API's `/v2/charge`, refunds, cancel/expire API calls, or a
//! customer that comes back to a Snap page after leaving it.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::runtime::{TurmoilRuntime, World};
use crate::providers::midtrans::status::PaymentType;
use crate::providers::midtrans::{Midtrans, ProviderConfig};
use crate::sim::{Kind, Millis, Range, Rate};

/// How often a customer on the Snap page looks again when no method is chosen yet.
const PAGE_POLL_MS: u64 = 1_000;
/// How many times a customer looks before leaving (bounds the customer's task).
const PAGE_POLLS_MAX: u32 = 600;

/// The seeded load: who arrives, how much they buy, and what they do on Midtrans's page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub customers: u32,
    /// Time between one customer's arrival and the next.
    pub arrival_gap: Range,
    /// Order totals in whole rupiah, drawn uniformly between the two (inclusive).
    pub amount_idr: (i64, i64),
    /// The methods customers pick on the Snap page (each equally likely).
    pub methods: Vec<PaymentType>,
    /// The share of customers who pay; the others abandon the page (the charge expires).
    pub pay: Rate,
    /// How long after opening the page a paying customer pays.
    pub pay_after: Range,
    /// How long the run goes on after the load closes, for retries and jobs to converge.
    pub settle_for: Millis,
}

impl Default for LoadPlan {
    fn default() -> Self {
        LoadPlan {
            customers: 20,
            arrival_gap: Range::new(Millis::s(1), Millis::s(30)),
            amount_idr: (10_000, 500_000),
            methods: vec![PaymentType::BankTransfer, PaymentType::Gopay, PaymentType::Qris],
            pay: Rate(800_000),
            pay_after: Range::new(Millis::s(2), Millis::s(40)),
            settle_for: Millis::min(45),
        }
    }
}

/// One customer at the user's checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// 1-based, in arrival order.
    pub customer: u32,
    /// Whole rupiah.
    pub amount_idr: i64,
}

/// Settle's Midtrans on a turmoil host. Cheap to clone.
#[derive(Clone)]
pub struct MidtransHost {
    runtime: TurmoilRuntime,
    provider: Midtrans,
    plan: LoadPlan,
}

impl MidtransHost {
    /// The provider as the party `actor` of `world`, with `cfg` and the load `plan`. Notifications
    /// go to `cfg.notify_actor`: name its turmoil address with [`MidtransHost::notify`].
    pub fn new(world: &World, actor: &str, cfg: ProviderConfig, plan: LoadPlan) -> MidtransHost {
        let runtime = world.runtime(actor);
        let provider = Midtrans::new(runtime.rt(), cfg);
        MidtransHost { runtime, provider, plan }
    }

    /// Sends notifications to turmoil host `host`, port `port` (at the config's `notify_path`).
    pub fn notify(&self, host: &str, port: u16) -> &Self {
        self.runtime.world().add_peer(&self.provider.config().notify_actor, host, port);
        self
    }

    /// The model, for its ground truth ([`Midtrans::truths`]) and its customer-side methods.
    pub fn provider(&self) -> &Midtrans {
        &self.provider
    }

    pub fn world(&self) -> &World {
        self.runtime.world()
    }

    pub fn plan(&self) -> &LoadPlan {
        &self.plan
    }

    /// Every route the host serves (see the module doc).
    pub fn router(&self) -> Router {
        let snap = Router::new().route("/snap/v1/transactions", post(snap_create)).with_state(self.clone());
        self.provider.router().merge(snap)
    }

    /// The host's software: give it to `sim.host(name, move || host.clone().serve(port))`. It
    /// attaches the provider's tasks to this host and serves [`MidtransHost::router`] on `port`.
    /// The ground truth outlives the host: when turmoil crashes or bounces it, the book stays,
    /// but the tasks in flight (pending notifications and their retries, expiries, customers on
    /// their pages) die with the host's runtime.
    pub async fn serve(self, port: u16) -> ::turmoil::Result {
        self.runtime.attach_current();
        self.world().record(self.runtime_actor(), Kind::Lifecycle, format!("serving on port {port}"));
        super::http::serve(port, self.router()).await?;
        Ok(())
    }

    fn runtime_actor(&self) -> &str {
        crate::providers::kit::Runtime::actor(&self.runtime)
    }

    /// The load driver, to run as a turmoil client: calls `checkout` for each customer of the
    /// plan at seeded times, then closes the load and waits `settle_for`. A checkout that fails
    /// is recorded and the customer leaves; it does not stop the run.
    pub fn customers<F, Fut>(&self, checkout: F) -> impl Future<Output = ::turmoil::Result> + 'static
    where
        F: Fn(Checkout) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        let me = self.clone();
        async move {
            let world = me.world().clone();
            let plan = me.plan.clone();
            for customer in 1..=plan.customers {
                let (gap, amount_idr) = world.choose(|o| {
                    let gap = plan.arrival_gap.draw(o);
                    let (lo, hi) = (plan.amount_idr.0.min(plan.amount_idr.1), plan.amount_idr.0.max(plan.amount_idr.1));
                    let span = u64::try_from(hi - lo).unwrap_or(0);
                    (gap, lo + i64::try_from(o.below(span + 1)).unwrap_or(0))
                });
                tokio::time::sleep(Duration::from_millis(gap)).await;
                let (w, c) = (world.clone(), Checkout { customer, amount_idr });
                let fut = checkout(c.clone());
                tokio::task::spawn_local(async move {
                    if let Err(e) = fut.await {
                        w.record("customers", Kind::State, format!("customer {}: checkout failed: {e}", c.customer));
                    }
                });
            }
            // The last customer's page: a method within the provider's delay, then payment.
            let cfg = me.provider.config();
            let page_ms = cfg.choose_method_delay.max.0 + plan.pay_after.max.0 + PAGE_POLL_MS;
            tokio::time::sleep(Duration::from_millis(page_ms)).await;
            world.begin_liveness();
            tokio::time::sleep(Duration::from_millis(plan.settle_for.0)).await;
            world.record("customers", Kind::Run, "load done; checking".into());
            Ok(())
        }
    }

    /// The customer on the Snap page of `order_id`: decides (from the oracle) whether to pay,
    /// and when; a paying customer pays once the method is chosen (the model draws when), looking
    /// again every second, and leaves when the charge has ended or the load has closed.
    fn open_page(&self, order_id: &str) {
        let plan = &self.plan;
        let (pays, after) = self.world().choose(|o| (o.chance(plan.pay.ppm()), plan.pay_after.draw(o)));
        let me = self.clone();
        let order = order_id.to_string();
        if !pays {
            me.world().record("customers", Kind::State, format!("{order}: customer abandons the payment page"));
            return;
        }
        self.runtime.rt().spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            for _ in 0..PAGE_POLLS_MAX {
                if me.provider.pay(&order) {
                    me.world().record("customers", Kind::State, format!("{order}: customer pays"));
                    return;
                }
                if me.provider.truth(&order).is_some_and(|t| t.failed_now() || t.paid_now())
                    || me.world().phase() != crate::sim::Phase::Safety
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(PAGE_POLL_MS)).await;
            }
            me.world().record("customers", Kind::State, format!("{order}: customer leaves without paying"));
        });
    }
}

/// `POST /snap/v1/transactions`: creates the charge ([`crate::hosted::snap`]) and opens the
/// customer's page.
async fn snap_create(
    AxState(h): AxState<MidtransHost>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let methods = &h.plan.methods;
    let pick = |n: usize| usize::try_from(h.world().choose(|o| o.below(n as u64))).unwrap_or(0);
    match crate::hosted::snap::create(&h.provider, &headers, &body, methods, pick) {
        Ok(created) => {
            h.open_page(&created.order_id);
            created.answer()
        }
        Err(refused) => refused,
    }
}
