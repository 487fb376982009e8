//! The harness's watch on the notification endpoint: a layer wrapped around any app (the
//! reference one or a user's) that marks `webhook-before-insert` when a notification is handled
//! before the checkout's insert, and keeps genuine `pending` notifications for the forger to
//! replay ([`Env::captured`]). It observes and passes every request on unchanged; it is not the
//! app (the reference handlers are in [`super::app`]) and decides nothing a check reads, so the
//! mutation score's run (`.ci/mutants`), which mutates the reference logic, leaves it out.

use axum::Router;

use super::Env;

/// Wraps `router` (the reference app or a user's) with the watch on requests to `path`, so a
/// user's own handler is judged on the same coverage, and faces the same replays, without
/// knowing about it.
pub fn observe_arrivals(router: Router, env: &Env, path: String) -> Router {
    let (sim, inserted, captured) = (env.sim.clone(), env.inserted.clone(), env.captured.clone());
    router.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
        let (sim, inserted, captured, path) = (sim.clone(), inserted.clone(), captured.clone(), path.clone());
        async move {
            if req.uri().path() != path {
                return next.run(req).await;
            }
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            if let Some((order_id, status)) = crate::providers::midtrans::notification::order_and_status(&bytes) {
                if !crate::sim::world::lock(&inserted).contains(order_id.as_ref()) {
                    sim.mark("webhook-before-insert");
                }
                // Only Midtrans sends `pending`; the forgers send `settlement`.
                if status == "pending" {
                    crate::sim::world::lock(&captured).push(bytes.to_vec());
                }
            }
            next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
        }
    }))
}
