//! The layout both diagrams share: which lane each actor stands in, which lanes a trace draws,
//! and what to draw for each event of a trace (an arrow between two lanes, a note on one lane,
//! or a band across all).
//!
//! An actor's lane comes from its role, as its system declares it ([`Lanes::of`]), so a user's own
//! job is drawn in the jobs lane, and a user's own browser tabs in the browser lane, whatever
//! they are called. The browser lane is drawn only for a trace with a browser actor in it
//! ([`drawn`]); the other five lanes always are, so a diagram without tabs is the same as before
//! the browser lane existed.
//!
//! What it does not do: it does not pair a send with its delivery or reply (each event is one row,
//! drawn at its own instant), and it does not drop events: every event gets exactly one row.

use std::collections::BTreeMap;

use crate::check::is_violation_event;
use crate::sim::{Event, Kind};
use crate::systems::{ActorInfo, Role};

/// A lane of the sequence diagram, in the fixed left-to-right order of [`Lane::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// A person's browser tabs: what the customer sees of the shop. Drawn only when a trace has
    /// a browser actor (see `drawn`).
    Browser,
    /// The payment provider and whoever stands outside the shop: customers, forgers.
    Provider,
    /// The simulated network: where messages are lost, delayed, duplicated or refused.
    Network,
    /// The shop's application: webhook endpoint, checkout, admin.
    App,
    /// Background work: cron, reconciliation, sync, monitors.
    Jobs,
    /// The database.
    Database,
}

impl Lane {
    pub const ALL: [Lane; 6] = [Lane::Browser, Lane::Provider, Lane::Network, Lane::App, Lane::Jobs, Lane::Database];

    /// The lane's name, also its Mermaid participant id.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Browser => "browser",
            Lane::Provider => "provider",
            Lane::Network => "network",
            Lane::App => "app",
            Lane::Jobs => "jobs",
            Lane::Database => "database",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The actor a lane is named after, whose name needs no mention in a label.
    fn is_home(self, actor: &str) -> bool {
        actor == self.name() || (self == Lane::Database && actor == "db")
    }
}

/// Which lane each actor stands in: by its role, as its system declares it ([`ActorInfo`]),
/// never by guessing from its name. The names settle itself records under (`db`, `chaos`,
/// `sim`, `checker`) have fixed lanes; an actor no system declared is drawn in the app lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lanes {
    by_actor: BTreeMap<String, Lane>,
}

impl Lanes {
    /// The lanes of a system's actors.
    pub fn of(actors: &[ActorInfo]) -> Self {
        Lanes { by_actor: actors.iter().map(|a| (a.name.clone(), Lane::of_role(a.role))).collect() }
    }

    /// Lanes given outright, for actors no system declares (`settle drive`'s, see
    /// [`crate::drive::events::lanes`]).
    pub fn from_lanes<'a>(pairs: impl IntoIterator<Item = (&'a str, Lane)>) -> Self {
        Lanes { by_actor: pairs.into_iter().map(|(a, l)| (a.to_string(), l)).collect() }
    }

    /// The lane `actor` stands in.
    pub fn lane(&self, actor: &str) -> Lane {
        if let Some(l) = self.by_actor.get(actor) {
            return *l;
        }
        match actor {
            "db" => Lane::Database,
            "chaos" | "network" => Lane::Network,
            _ => Lane::App,
        }
    }
}

impl Lane {
    /// The lane of a role. Clients (customers, forgers, the owner at a dashboard) stand beside
    /// the provider: outside the shop. Browser tabs have a lane of their own.
    pub fn of_role(role: Role) -> Lane {
        match role {
            Role::Browser => Lane::Browser,
            Role::Provider | Role::Client => Lane::Provider,
            Role::App => Lane::App,
            Role::Jobs => Lane::Jobs,
            Role::Database => Lane::Database,
        }
    }
}

/// How an arrow is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A request sent, or a unit of work: solid line, filled head.
    Solid,
    /// A request handed to its receiver by the network: solid line, open head.
    Open,
    /// A response received: dashed line, filled head.
    Dashed,
    /// A request that never arrived, or a unit that failed: solid line ending in a cross.
    Lost,
    /// A response that never arrived: dashed line ending in a cross.
    LostDashed,
}

/// What one event is drawn as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Arrow {
        from: Lane,
        to: Lane,
        line: Line,
    },
    Note {
        lane: Lane,
    },
    /// A band across every lane: run structure and invariant verdicts.
    Span,
}

/// One event, placed.
#[derive(Clone, Debug)]
pub struct Row<'a> {
    pub event: &'a Event,
    pub shape: Shape,
    /// The event's text, with the actors named where they are not their lane's namesake, `⚡`
    /// before an injected fault and `✗` before a violation.
    pub label: String,
    pub fault: bool,
    pub violation: bool,
}

/// One row per event, in trace order.
pub fn rows<'a>(events: &'a [Event], lanes: &Lanes) -> Vec<Row<'a>> {
    events.iter().map(|e| row(e, lanes)).collect()
}

fn row<'a>(e: &'a Event, lanes: &Lanes) -> Row<'a> {
    let me = lanes.lane(&e.actor);
    let peer = e.peer.as_deref().map(|p| lanes.lane(p));
    let text = e.text.as_str();
    let violation = is_violation_event(e);
    let arrow = |from: Lane, to: Lane, line: Line| Shape::Arrow { from, to, line };
    let shape = match (e.kind, peer) {
        (Kind::Run | Kind::Check, _) => Shape::Span,
        (Kind::Send, Some(to)) => arrow(me, to, Line::Solid),
        (Kind::Deliver, Some(_)) if me != Lane::Network => arrow(Lane::Network, me, Line::Open),
        (Kind::Reply, Some(from)) if text.contains("timed out") || text.contains("refused") => {
            arrow(from, me, Line::LostDashed)
        }
        (Kind::Reply, Some(from)) => arrow(from, me, Line::Dashed),
        (Kind::Unit, Some(to)) if text.contains("rolled back") => arrow(me, to, Line::Lost),
        (Kind::Unit, Some(to)) => arrow(me, to, Line::Solid),
        (Kind::Fault, Some(to)) => fault_shape(me, to, text),
        _ => Shape::Note { lane: me },
    };
    Row { event: e, shape, label: label(e, me, peer), fault: e.kind == Kind::Fault, violation }
}

/// Faults between two actors: a database fault on the database lane, a message fault on the
/// network lane (a loss as a crossed arrow into it, anything else as a note over it).
fn fault_shape(me: Lane, peer: Lane, text: &str) -> Shape {
    let lost = text.contains("lost");
    if peer == Lane::Database || me == Lane::Database {
        let other = if me == Lane::Database { peer } else { me };
        return if other == Lane::Database {
            Shape::Note { lane: Lane::Database }
        } else if lost {
            Shape::Arrow { from: Lane::Database, to: other, line: Line::LostDashed }
        } else if text.contains("unavailable") || text.contains("outage") || text.contains("refused") {
            Shape::Arrow { from: other, to: Lane::Database, line: Line::Lost }
        } else {
            Shape::Note { lane: Lane::Database }
        };
    }
    if me == Lane::Network || !(lost || text.contains("refused")) {
        return Shape::Note { lane: Lane::Network };
    }
    // A lost response dies on its way back from the handler, which is the fault's actor.
    let line = if text.contains("response") { Line::LostDashed } else { Line::Lost };
    Shape::Arrow { from: me, to: Lane::Network, line }
}

fn label(e: &Event, me: Lane, peer: Option<Lane>) -> String {
    let mut out = String::new();
    if e.kind == Kind::Fault {
        out.push_str("⚡ ");
    }
    if is_violation_event(e) {
        out.push_str("✗ ");
    }
    if !matches!(e.kind, Kind::Run | Kind::Check) {
        match (&e.peer, peer) {
            (Some(p), Some(pl)) if !me.is_home(&e.actor) || !pl.is_home(p) => {
                let arrow = if matches!(e.kind, Kind::Deliver | Kind::Reply) { '←' } else { '→' };
                out.push_str(&format!("{} {arrow} {p}: ", e.actor));
            }
            (None, _) if !me.is_home(&e.actor) => out.push_str(&format!("{}: ", e.actor)),
            _ => {}
        }
    }
    out.push_str(&e.text);
    out
}

/// The actors seen in each lane (indexed by [`Lane::index`]), in order of first appearance (run
/// and checker events have no lane of their own and are left out).
pub fn actors_by_lane(events: &[Event], lanes: &Lanes) -> [Vec<String>; 6] {
    let mut by_lane: [Vec<String>; 6] = Default::default();
    for e in events.iter().filter(|e| !matches!(e.kind, Kind::Run | Kind::Check)) {
        for name in std::iter::once(&e.actor).chain(e.peer.as_ref()) {
            let lane = &mut by_lane[lanes.lane(name).index()];
            if !lane.contains(name) {
                lane.push(name.clone());
            }
        }
    }
    by_lane
}

/// The lanes a diagram draws, left to right: the browser lane when some actor of the trace
/// stands in it, then the other five, always.
pub fn drawn(actors: &[Vec<String>; 6]) -> Vec<Lane> {
    Lane::ALL.into_iter().filter(|l| *l != Lane::Browser || !actors[l.index()].is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, actor: &str, peer: Option<&str>, text: &str) -> Event {
        Event { t_ms: 0, kind, actor: actor.into(), peer: peer.map(Into::into), text: text.into(), exchange: None }
    }

    /// What `row` makes of one event, owned.
    struct Placed {
        shape: Shape,
        label: String,
        fault: bool,
        violation: bool,
    }

    /// The lanes of seed 001's actors.
    fn seed001() -> Lanes {
        let a = |name: &str, role| ActorInfo { name: name.into(), role, crashable: false };
        Lanes::of(&[
            a("provider", Role::Provider),
            a("customer", Role::Client),
            a("forger", Role::Client),
            a("checkout", Role::App),
            a("app", Role::App),
            a("admin", Role::App),
            a("jobs", Role::Jobs),
        ])
    }

    fn place(kind: Kind, actor: &str, peer: Option<&str>, text: &str) -> Placed {
        let e = ev(kind, actor, peer, text);
        let r = row(&e, &seed001());
        Placed { shape: r.shape, label: r.label, fault: r.fault, violation: r.violation }
    }

    #[test]
    fn actors_go_to_the_lanes_of_their_roles() {
        let lanes = seed001();
        for (actor, lane) in [
            ("provider", Lane::Provider),
            ("customer", Lane::Provider),
            ("forger", Lane::Provider),
            ("checkout", Lane::App),
            ("app", Lane::App),
            ("admin", Lane::App),
            ("jobs", Lane::Jobs),
            ("db", Lane::Database),
            ("chaos", Lane::Network),
        ] {
            assert_eq!(lanes.lane(actor), lane, "{actor}");
        }
        // A user's own job is a job whatever its name says.
        let mine = Lanes::of(&[ActorInfo { name: "payments-bot".into(), role: Role::Jobs, crashable: true }]);
        assert_eq!(mine.lane("payments-bot"), Lane::Jobs);
    }

    #[test]
    fn undeclared_actors_go_to_the_app_lane() {
        let lanes = Lanes::default();
        for actor in ["revenue-sync-worker", "Fanvue_API", "something", "", "→ ☃ ;#"] {
            assert_eq!(lanes.lane(actor), Lane::App, "{actor}");
        }
    }

    #[test]
    fn messages_are_arrows_between_lanes() {
        let send = place(Kind::Send, "provider", Some("app"), "POST /x");
        assert_eq!(send.shape, Shape::Arrow { from: Lane::Provider, to: Lane::App, line: Line::Solid });
        assert_eq!(send.label, "POST /x");
        let deliver = place(Kind::Deliver, "app", Some("provider"), "handling POST /x");
        assert_eq!(deliver.shape, Shape::Arrow { from: Lane::Network, to: Lane::App, line: Line::Open });
        let reply = place(Kind::Reply, "provider", Some("app"), "POST /x ← 200");
        assert_eq!(reply.shape, Shape::Arrow { from: Lane::App, to: Lane::Provider, line: Line::Dashed });
        let timeout = place(Kind::Reply, "provider", Some("app"), "POST /x: timed out after 15s");
        assert_eq!(timeout.shape, Shape::Arrow { from: Lane::App, to: Lane::Provider, line: Line::LostDashed });
    }

    #[test]
    fn actors_not_named_like_their_lane_are_named_in_the_label() {
        let r = place(Kind::Unit, "checkout", Some("db"), "checkout.insert X: committed");
        assert_eq!(r.label, "checkout → db: checkout.insert X: committed");
        assert_eq!(r.shape, Shape::Arrow { from: Lane::App, to: Lane::Database, line: Line::Solid });
        assert_eq!(place(Kind::Unit, "app", Some("db"), "u").label, "u");
        assert_eq!(place(Kind::State, "customer", None, "s").label, "customer: s");
    }

    #[test]
    fn faults_are_marked_and_placed() {
        let lost = place(Kind::Fault, "provider", Some("app"), "request lost: POST /x");
        assert!(lost.fault);
        assert!(lost.label.starts_with("⚡ "));
        assert_eq!(lost.shape, Shape::Arrow { from: Lane::Provider, to: Lane::Network, line: Line::Lost });
        let partition = place(Kind::Fault, "jobs", Some("provider"), "partition: GET /v2 refused");
        assert_eq!(partition.shape, Shape::Arrow { from: Lane::Jobs, to: Lane::Network, line: Line::Lost });
        let response = place(Kind::Fault, "app", Some("provider"), "response 200 lost after the handler ran: x");
        assert_eq!(response.shape, Shape::Arrow { from: Lane::App, to: Lane::Network, line: Line::LostDashed });
        let delayed = place(Kind::Fault, "provider", Some("app"), "delayed 3s behind later messages: x");
        assert_eq!(delayed.shape, Shape::Note { lane: Lane::Network });
        let crash = place(Kind::Fault, "app", None, "CRASH: tasks aborted");
        assert_eq!(crash.shape, Shape::Note { lane: Lane::App });
        let outage = place(Kind::Fault, "app", Some("db"), "u: database unavailable (outage)");
        assert_eq!(outage.shape, Shape::Arrow { from: Lane::App, to: Lane::Database, line: Line::Lost });
        let answer = place(Kind::Fault, "jobs", Some("db"), "u: committed, but the answer was lost");
        assert_eq!(answer.shape, Shape::Arrow { from: Lane::Database, to: Lane::Jobs, line: Line::LostDashed });
        let slow = place(Kind::Fault, "app", Some("db"), "u: slow commit, answer 5s late");
        assert_eq!(slow.shape, Shape::Note { lane: Lane::Database });
    }

    #[test]
    fn verdicts_and_run_structure_span_every_lane() {
        let v = place(Kind::Check, "checker", None, "VIOLATED always `x`: y");
        assert_eq!(v.shape, Shape::Span);
        assert!(v.violation);
        assert_eq!(v.label, "✗ VIOLATED always `x`: y");
        let ok = place(Kind::Check, "checker", None, "all eventually invariants hold");
        assert!(!ok.violation);
        assert_eq!(place(Kind::Run, "sim", None, "end of run").shape, Shape::Span);
    }

    #[test]
    fn lanes_list_their_actors_in_order_of_appearance() {
        let events = [
            ev(Kind::Run, "sim", None, "start"),
            ev(Kind::Send, "checkout", Some("provider"), "a"),
            ev(Kind::Send, "customer", Some("provider"), "b"),
            ev(Kind::Unit, "app", Some("db"), "c"),
        ];
        let lanes = actors_by_lane(&events, &seed001());
        assert_eq!(lanes[Lane::Provider.index()], ["provider", "customer"]);
        assert_eq!(lanes[Lane::App.index()], ["checkout", "app"]);
        assert_eq!(lanes[Lane::Database.index()], ["db"]);
        assert!(lanes[Lane::Network.index()].is_empty());
    }

    #[test]
    fn browser_tabs_get_their_own_lane_drawn_only_when_they_act() {
        let a = |name: &str, role| ActorInfo { name: name.into(), role, crashable: false };
        // Named like a client, declared a browser: the role decides.
        let lanes =
            Lanes::of(&[a("paystack", Role::Provider), a("customer", Role::Client), a("my-tabs", Role::Browser)]);
        assert_eq!(lanes.lane("my-tabs"), Lane::Browser);
        assert_eq!(lanes.lane("customer"), Lane::Provider);
        let get = ev(Kind::Send, "my-tabs", Some("app"), "GET /api/bookings/sync");
        let r = row(&get, &lanes);
        assert_eq!(r.shape, Shape::Arrow { from: Lane::Browser, to: Lane::App, line: Line::Solid });
        assert_eq!(r.label, "my-tabs → app: GET /api/bookings/sync");
        let five = &Lane::ALL[1..];
        let without = [ev(Kind::Send, "customer", Some("paystack"), "pay")];
        assert_eq!(drawn(&actors_by_lane(&without, &lanes)), five);
        let with = [without[0].clone(), get];
        assert_eq!(drawn(&actors_by_lane(&with, &lanes)), Lane::ALL);
        assert_eq!(drawn(&actors_by_lane(&[], &lanes)), five);
    }
}
