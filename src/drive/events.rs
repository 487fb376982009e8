//! A `settle drive` trace as the simulator's events ([`Event`]), so the story
//! ([`crate::report::story`]) and the sequence diagrams ([`crate::report::diagram`]) of a drive
//! run read like a simulated run's.
//!
//! The drive records what crossed the boundary as [`TraceLine`]s (who, what kind, a text whose
//! human form the README quotes); this module reads who talked to whom out of them:
//!
//! - **Sends** end in `→ PEER` (`customers … → service`, `midtrans POST /webhooks/… → app`,
//!   `service GET /insights/earnings … → fanvue`): the peer is taken off the text.
//! - **Replies** come in two forms. The provider's own calls to the service say who answered
//!   (`midtrans POST /webhooks/midtrans X pending ← app: 200`); the event's actor is the caller,
//!   its text `LABEL: OUTCOME`. The service's calls to the provider and the customers' checkouts
//!   are recorded by the party that answered (`midtrans POST /snap/v1/transactions: 201`,
//!   `service checkout X: 200`): the caller is the party of the open send to that responder whose
//!   text begins the reply's (else the one sharing most words with it, the oldest of equals),
//!   and the event is the caller's, as in the simulator (a reply belongs to whoever receives it).
//! - **Exchanges**: a send and its reply share one [`Event::exchange`], and so do settle's
//!   faults on that message (`LABEL: held 5000 ms`, `… dropped on the way` — which ends the
//!   exchange: no reply comes). A held Snap answer (`X: Snap's answer held …`, `… released`)
//!   joins the Snap exchange open at the time when there is exactly one; a held Core API answer
//!   (`the charge API's answer`) joins the open `POST /v2/charge` the same way.
//! - **The service's jobs** (`hooks`): a request hook's line is the service's answer
//!   (`reconcile: POST /jobs/reconcile: 200`), a reply from the service to `hooks`; a command
//!   hook's line is a state note of `hooks`.
//! - **settle's own lines**: the service healthy and the proxy's address are run structure
//!   ([`Kind::Run`]); a crash and its restart are the service's (drawn on its lane, as the
//!   simulator draws a crash); every other fault stays settle's.
//! - **The database proxy**: a fault on one connection (`db#N: …`) is between the database and
//!   the service; an outage is the database's alone.
//! - **Verdicts**: one [`Kind::Check`] event per violation, `VIOLATED KIND `NAME`: DETAILS` as the
//!   simulator's checker writes it, placed at the violation's time.
//!
//! The provider kit calls the webhook's receiver `app`; here it is `service`, the name every
//! other line gives the same process, so the diagram's app lane has one party.
//!
//! What it does not do: see inside the service (no handling or units of work, only what crossed
//! its boundary and the database proxy's faults), or change the recorded trace: the drive's own
//! human report is still printed from the [`TraceLine`]s.

use crate::check::Violation;
use crate::hosted::TraceLine;
use crate::report::diagram::{Lane, Lanes};
use crate::sim::{Event, Kind};

/// The service as every line but the provider kit's names it.
const SERVICE: &str = "service";

/// The lanes of a drive's actors: the customers' pages in the browser lane, the providers and
/// Fanvue's fans beside the provider, settle's seeded faults on the network lane, the service in
/// the app lane, its hooks in the jobs lane, the database proxy in the database lane.
pub fn lanes() -> Lanes {
    Lanes::from_lanes([
        ("customers", Lane::Browser),
        ("midtrans", Lane::Provider),
        ("fanvue", Lane::Provider),
        ("fans", Lane::Provider),
        ("settle", Lane::Network),
        (SERVICE, Lane::App),
        ("hooks", Lane::Jobs),
        ("database", Lane::Database),
    ])
}

/// A send waiting for its reply.
struct Open {
    exchange: u64,
    actor: String,
    peer: String,
    text: String,
}

/// The drive's name for `actor`: the kit's `app` is the service.
fn alias(actor: &str) -> String {
    if actor == "app" { SERVICE.to_string() } else { actor.to_string() }
}

/// The events of a drive run's `trace`, then its `violations`' verdicts (see the module doc).
pub fn events(trace: &[TraceLine], violations: &[Violation]) -> Vec<Event> {
    let mut open: Vec<Open> = Vec::new();
    let mut next = 1;
    let mut out: Vec<Event> = Vec::with_capacity(trace.len() + violations.len());
    for l in trace {
        let plain = |kind: Kind, actor: &str, peer: Option<String>, text: &str, exchange: Option<u64>| Event {
            t_ms: l.t_ms,
            kind,
            actor: actor.to_string(),
            peer,
            text: text.to_string(),
            exchange,
        };
        let e = match l.kind {
            Kind::Send => match l.text.rsplit_once(" → ") {
                Some((text, to)) => {
                    let peer = alias(to.trim());
                    open.push(Open { exchange: next, actor: l.actor.clone(), peer: peer.clone(), text: text.into() });
                    next += 1;
                    plain(Kind::Send, &l.actor, Some(peer), text, Some(next - 1))
                }
                None => plain(Kind::Send, &l.actor, None, &l.text, None),
            },
            Kind::Reply => reply(l, &mut open),
            Kind::Fault if l.actor == "settle" => settle_fault(l, &mut open),
            Kind::Lifecycle if l.actor == "settle" => {
                if l.text.starts_with("crash ") {
                    plain(Kind::Lifecycle, SERVICE, None, &l.text, None)
                } else {
                    plain(Kind::Run, &l.actor, None, &l.text, None)
                }
            }
            Kind::Lifecycle if l.actor == "hooks" => hook(l),
            Kind::Fault if l.actor == "database" && l.text.starts_with("db#") => {
                plain(Kind::Fault, &l.actor, Some(SERVICE.into()), &l.text, None)
            }
            kind => plain(kind, &l.actor, None, &l.text, None),
        };
        out.push(e);
    }
    for v in violations {
        let at = out.partition_point(|e| e.t_ms <= v.t_ms);
        let text = format!("VIOLATED {} `{}`: {}", v.kind, v.invariant, v.details.join("; "));
        let check =
            Event { t_ms: v.t_ms, kind: Kind::Check, actor: "checker".into(), peer: None, text, exchange: None };
        out.insert(at, check);
    }
    out
}

/// A reply line as the event of the party that received it (see the module doc).
fn reply(l: &TraceLine, open: &mut Vec<Open>) -> Event {
    let event = |actor: &str, peer: Option<String>, text: String, exchange: Option<u64>| Event {
        t_ms: l.t_ms,
        kind: Kind::Reply,
        actor: actor.to_string(),
        peer,
        text,
        exchange,
    };
    // `LABEL ← PEER: OUTCOME`, recorded by the caller.
    if let Some((label, rest)) = l.text.rsplit_once(" ← ")
        && let Some((from, outcome)) = rest.split_once(": ")
    {
        let peer = alias(from.trim());
        let found = open.iter().position(|o| o.actor == l.actor && o.peer == peer && o.text == label);
        let exchange = found.map(|i| open.remove(i).exchange);
        return event(&l.actor, Some(peer), format!("{label}: {outcome}"), exchange);
    }
    // Recorded by the responder: the caller is the one with a send open to it.
    let responder = alias(&l.actor);
    let to_it = |o: &&Open| o.peer == responder;
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace().map(|w| w.trim_matches([':', ',', ';']).to_string()).filter(|w| !w.is_empty()).collect()
    };
    let mine = words(&l.text);
    let shared = |o: &Open| words(&o.text).iter().filter(|w| mine.contains(w)).count();
    let found = open
        .iter()
        .filter(to_it)
        .filter(|o| l.text.starts_with(&o.text))
        .max_by_key(|o| o.text.len())
        // `max_by_key` keeps the last of equals: reversed, the oldest wins a tie.
        .or_else(|| open.iter().filter(to_it).rev().max_by_key(|o| shared(o)))
        .map(|o| o.exchange);
    match found.and_then(|x| open.iter().position(|o| o.exchange == x)) {
        Some(i) => {
            let o = open.remove(i);
            event(&o.actor, Some(responder), l.text.clone(), Some(o.exchange))
        }
        None => event(&l.actor, None, l.text.clone(), None),
    }
}

/// One of settle's faults: on a message in flight (it joins that message's exchange), a crash
/// (the service's), or anything else (settle's own).
fn settle_fault(l: &TraceLine, open: &mut Vec<Open>) -> Event {
    let mut e = Event {
        t_ms: l.t_ms,
        kind: Kind::Fault,
        actor: l.actor.clone(),
        peer: None,
        text: l.text.clone(),
        exchange: None,
    };
    if l.text.starts_with("crash ") {
        e.actor = SERVICE.into();
        return e;
    }
    let on_message = open
        .iter()
        .enumerate()
        .filter(|(_, o)| l.text.strip_prefix(o.text.as_str()).is_some_and(|rest| rest.starts_with(": ")))
        .max_by_key(|(_, o)| o.text.len())
        .map(|(i, _)| i);
    if let Some(i) = on_message {
        e.exchange = Some(open[i].exchange);
        if l.text.ends_with("dropped on the way") {
            open.remove(i);
        }
        return e;
    }
    let held_api = if l.text.contains("Snap's answer") {
        Some("POST /snap/")
    } else if l.text.contains("the charge API's answer") {
        Some("POST /v2/charge")
    } else {
        None
    };
    if let Some(api) = held_api {
        let mut snaps = open.iter().filter(|o| o.text.starts_with(api));
        if let (Some(only), None) = (snaps.next(), snaps.next()) {
            e.exchange = Some(only.exchange);
        }
    }
    e
}

/// A hook's line: a request's answer from the service, or a command's outcome.
fn hook(l: &TraceLine) -> Event {
    // `NAME: METHOD /path: OUTCOME` for a request hook.
    let request = l.text.split_once(": ").is_some_and(|(_, rest)| {
        rest.split_once(' ').is_some_and(|(m, p)| m.chars().all(|c| c.is_ascii_uppercase()) && p.starts_with('/'))
    });
    let (kind, peer) = if request { (Kind::Reply, Some(SERVICE.to_string())) } else { (Kind::State, None) };
    Event { t_ms: l.t_ms, kind, actor: l.actor.clone(), peer, text: l.text.clone(), exchange: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::InvariantKind;

    fn line(t_ms: u64, actor: &str, kind: Kind, text: &str) -> TraceLine {
        TraceLine { t_ms, actor: actor.into(), kind, text: text.into() }
    }

    fn shape(e: &Event) -> (Kind, &str, Option<&str>, &str, Option<u64>) {
        (e.kind, e.actor.as_str(), e.peer.as_deref(), e.text.as_str(), e.exchange)
    }

    #[test]
    fn sends_and_replies_pair_into_exchanges_with_their_peers() {
        let trace = [
            line(1, "customers", Kind::Send, "POST /checkout ORD-1 amount 5 → service"),
            line(2, "service", Kind::Send, "POST /snap/v1/transactions → midtrans"),
            line(3, "settle", Kind::Fault, "ORD-1: Snap's answer held until the service answers"),
            line(4, "midtrans", Kind::Send, "POST /webhooks/midtrans ORD-1 pending → app"),
            line(5, "midtrans", Kind::Send, "POST /webhooks/midtrans ORD-1 settlement → app"),
            line(6, "settle", Kind::Fault, "POST /webhooks/midtrans ORD-1 settlement: held 900 ms"),
            line(7, "midtrans", Kind::Reply, "POST /webhooks/midtrans ORD-1 settlement ← app: 200"),
            line(8, "midtrans", Kind::Reply, "POST /webhooks/midtrans ORD-1 pending ← app: timed out"),
            line(9, "midtrans", Kind::Reply, "POST /snap/v1/transactions: 201"),
            line(10, "service", Kind::Reply, "checkout ORD-1: 200"),
        ];
        let e = events(&trace, &[]);
        let s: Vec<_> = e.iter().map(shape).collect();
        assert_eq!(
            s,
            [
                (Kind::Send, "customers", Some("service"), "POST /checkout ORD-1 amount 5", Some(1)),
                (Kind::Send, "service", Some("midtrans"), "POST /snap/v1/transactions", Some(2)),
                (Kind::Fault, "settle", None, "ORD-1: Snap's answer held until the service answers", Some(2)),
                (Kind::Send, "midtrans", Some("service"), "POST /webhooks/midtrans ORD-1 pending", Some(3)),
                (Kind::Send, "midtrans", Some("service"), "POST /webhooks/midtrans ORD-1 settlement", Some(4)),
                (Kind::Fault, "settle", None, "POST /webhooks/midtrans ORD-1 settlement: held 900 ms", Some(4)),
                (Kind::Reply, "midtrans", Some("service"), "POST /webhooks/midtrans ORD-1 settlement: 200", Some(4)),
                (Kind::Reply, "midtrans", Some("service"), "POST /webhooks/midtrans ORD-1 pending: timed out", Some(3)),
                (Kind::Reply, "service", Some("midtrans"), "POST /snap/v1/transactions: 201", Some(2)),
                (Kind::Reply, "customers", Some("service"), "checkout ORD-1: 200", Some(1)),
            ]
        );
    }

    #[test]
    fn a_checkout_answer_pairs_with_the_checkout_not_a_notification_about_the_same_order() {
        let trace = [
            // A notification whose answer never came (the run ended), older than the checkout.
            line(1, "midtrans", Kind::Send, "POST /w ORD-0 pending → app"),
            line(2, "customers", Kind::Send, "POST /checkout ORD-1 amount 5 → service"),
            line(3, "midtrans", Kind::Send, "POST /w ORD-1 pending → app"),
            line(4, "service", Kind::Reply, "checkout ORD-1: 500"),
        ];
        let e = events(&trace, &[]);
        assert_eq!(shape(&e[3]), (Kind::Reply, "customers", Some("service"), "checkout ORD-1: 500", Some(2)));
    }

    #[test]
    fn a_dropped_notification_ends_its_exchange_and_the_retry_opens_another() {
        let trace = [
            line(1, "midtrans", Kind::Send, "POST /w A pending → app"),
            line(2, "settle", Kind::Fault, "POST /w A pending: dropped on the way"),
            line(3, "midtrans", Kind::Send, "POST /w A pending → app"),
            line(4, "midtrans", Kind::Reply, "POST /w A pending ← app: 200"),
        ];
        let x: Vec<_> = events(&trace, &[]).iter().map(|e| e.exchange).collect();
        assert_eq!(x, [Some(1), Some(1), Some(2), Some(2)]);
    }

    #[test]
    fn fanvue_calls_pair_by_their_request_line() {
        let trace = [
            line(1, "service", Kind::Send, "GET /insights/earnings a ?size=20 → fanvue"),
            line(1, "service", Kind::Send, "GET /insights/earnings b ?size=20 → fanvue"),
            line(2, "fanvue", Kind::Reply, "GET /insights/earnings b ?size=20: 429, Retry-After 30"),
            line(3, "fanvue", Kind::Reply, "GET /insights/earnings a ?size=20: 200, 3 row(s)"),
        ];
        let e = events(&trace, &[]);
        assert_eq!(shape(&e[2]), (Kind::Reply, "service", Some("fanvue"), &*trace[2].text, Some(2)));
        assert_eq!(shape(&e[3]), (Kind::Reply, "service", Some("fanvue"), &*trace[3].text, Some(1)));
    }

    #[test]
    fn settle_hooks_and_the_database_get_their_parties() {
        let trace = [
            line(0, "settle", Kind::Lifecycle, "service healthy at http://x; provider at http://y"),
            line(1, "hooks", Kind::Lifecycle, "reconcile: POST /jobs/reconcile: 200"),
            line(2, "hooks", Kind::Lifecycle, "sweep: `./sweep.sh`: exit status: 0"),
            line(3, "database", Kind::Fault, "db#2: connection reset before COMMIT"),
            line(4, "database", Kind::Fault, "outage: refusing connections until 2m"),
            line(5, "settle", Kind::Fault, "crash 1 of 2: SIGKILL to the service's process group"),
            line(6, "settle", Kind::Lifecycle, "crash 1: service restarted and healthy"),
            line(7, "midtrans", Kind::State, "A: settlement"),
        ];
        let s: Vec<_> = events(&trace, &[]).iter().map(|e| (e.kind, e.actor.clone(), e.peer.clone())).collect();
        let p = |kind, actor: &str, peer: Option<&str>| (kind, actor.to_string(), peer.map(String::from));
        assert_eq!(
            s,
            [
                p(Kind::Run, "settle", None),
                p(Kind::Reply, "hooks", Some("service")),
                p(Kind::State, "hooks", None),
                p(Kind::Fault, "database", Some("service")),
                p(Kind::Fault, "database", None),
                p(Kind::Fault, "service", None),
                p(Kind::Lifecycle, "service", None),
                p(Kind::State, "midtrans", None),
            ]
        );
    }

    #[test]
    fn each_violation_is_a_verdict_at_its_time() {
        let trace = [line(1, "midtrans", Kind::State, "A: pending"), line(9, "settle", Kind::Run, "checked")];
        let v = Violation {
            invariant: "provider-paid-implies-paid".into(),
            kind: InvariantKind::Eventually,
            t_ms: 5,
            details: vec!["A: provider says settlement, database says PENDING".into(), "B: same".into()],
            subjects: vec!["A".into(), "B".into()],
        };
        let e = events(&trace, &[v]);
        assert_eq!(e.len(), 3);
        assert_eq!(
            shape(&e[1]),
            (
                Kind::Check,
                "checker",
                None,
                "VIOLATED eventually `provider-paid-implies-paid`: A: provider says settlement, database says PENDING; B: same",
                None
            )
        );
        assert!(crate::check::is_violation_event(&e[1]));
    }

    #[test]
    fn a_reply_with_no_open_send_stays_its_recorders() {
        let e = events(&[line(1, "midtrans", Kind::Reply, "GET /v2/A/status: 200")], &[]);
        assert_eq!(shape(&e[0]), (Kind::Reply, "midtrans", None, "GET /v2/A/status: 200", None));
    }
}
