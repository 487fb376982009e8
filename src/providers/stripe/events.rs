//! Events of the simulated Stripe: each change is recorded as an event (its exact JSON bytes,
//! kept for the events API) and delivered as a webhook by the kit's sender — after its own
//! seeded delay (no ordering), sometimes twice with the same id, signed per attempt with
//! `Stripe-Signature` from Stripe's clock, retried per the config's schedule — and its delivery
//! state is kept (`delivery_success` in the events API).
//!
//! What it does not do: several endpoints per account, or `previous_attributes`.

use std::sync::Arc;

use super::model::{DeliveryState, EventRecord, SIGNATURE_HEADER, Stripe};
use super::objects::{self, short};
use super::status::EventType;
use crate::providers::kit::sign::timestamped_header;
use crate::providers::kit::webhook::{Delivery, OnFinish, Signer};
use crate::sim::world::lock;

impl Stripe {
    // ---- events ----

    pub(super) fn emit_session(&self, kind: EventType, id: &str) {
        if let Some(object) = self.session_json(id, None) {
            self.emit(kind, id, object);
        }
    }

    pub(super) fn emit_intent(&self, kind: EventType, id: &str) {
        if let Some(object) = self.intent_json(id, None) {
            self.emit(kind, id, object);
        }
    }

    /// Records an event and sends its webhook.
    pub(super) fn emit(&self, kind: EventType, object_id: &str, object: serde_json::Value) {
        let now_ms = self.rt.now_ms();
        let created_s = self.now_s();
        let (id, body) = {
            let mut st = lock(&self.state);
            let n = st.next("event");
            let id = objects::object_id("evt_", "event", n, 24);
            let json =
                objects::event_json(&id, kind.as_str(), created_s, self.cfg.livemode, &self.cfg.api_version, object);
            let body: bytes::Bytes = serde_json::to_vec(&json).unwrap_or_default().into();
            let index = st.events.len();
            st.events.push(EventRecord {
                id: id.clone(),
                type_: kind,
                object_id: object_id.to_string(),
                created_ms: now_ms,
                created_s,
                body: body.clone(),
                delivery: DeliveryState::Pending,
            });
            st.event_index.insert(id.clone(), index);
            (id, body)
        };
        let recording = self.rt.recording();
        let secret = self.cfg.webhook_secret.clone();
        let sign: Signer = Arc::new(move |wall_ms, body| {
            vec![
                (SIGNATURE_HEADER.to_string(), timestamped_header("v1", &secret, wall_ms / 1000, body)),
                ("user-agent".to_string(), "Stripe/1.0 (+https://stripe.com/docs/webhooks)".to_string()),
            ]
        });
        let (state, event_id) = (self.state.clone(), id.clone());
        let on_finish: OnFinish = Arc::new(move |delivered| {
            let mut st = lock(&state);
            if let Some(&i) = st.event_index.get(&event_id) {
                st.events[i].delivery.finish(delivered);
            }
        });
        let delivery = Delivery {
            to: self.cfg.webhook_actor.clone(),
            path: self.cfg.webhook_path.clone(),
            body,
            label: if recording {
                format!("POST {} {} {} {}", self.cfg.webhook_path, short(&id), kind.as_str(), short(object_id))
            } else {
                String::new()
            },
            subject: if recording { format!("{} {}", short(&id), kind.as_str()) } else { String::new() },
            noun: "webhook",
            sign: Some(sign),
            on_finish: Some(on_finish),
        };
        self.rt.state(|| format!("{} {} about {}", short(&id), kind.as_str(), short(object_id)));
        self.sender.dispatch(delivery, &self.cfg.webhook_delay, self.cfg.duplicate_webhook, || {
            format!("{} {}: Stripe will deliver it twice", short(&id), kind.as_str())
        });
    }
}
