//! A team's own client cache policy plugged into `paystack-bookings` with `with_ext`, as easily
//! as a handler with `with_app`: settle's server, Paystack and tabs stay, only the cache rules
//! change. The team caches the payment for 2 minutes "to save requests" and lets a hidden tab
//! wait 10 minutes; `tab-bounded-staleness` finds a visible tab showing a payment the server
//! left long ago; the seed's own rules (30 s, refresh every 30 s) pass.
//!
//! A team's own tab, written from scratch and named its own way, stands in the diagram's
//! browser lane because of the role it declares, not its name.

use settle::report::diagram::{Lane, Lanes, mermaid};
use settle::scenario::runner::run_system;
use settle::sim::{Kind, Millis, Oracle, Request, Sim};
use settle::store::{shared, sqlite::Sqlite};
use settle::systems::paystack_bookings::{Bookings, Env, Policy};
use settle::systems::{Part, Role, System, Variant};

use super::{bug_cycle, scenario_file, temp_dir};

fn team(payment_ttl: Millis) -> Variant<Bookings> {
    Variant::new("booking-site", move |h| {
        h.with_ext(move |p: &mut Policy| {
            p.payment_ttl = payment_ttl;
            p.hidden_refresh_every = Millis::min(10);
        })
    })
}

const TABS: &str = r#"
name = "team-tabs"
system = "booking-site"
seeds = 100
[expect]
outcome = "pass"
[time]
safety = "1h"
liveness = "2h"
[bookings]
customers = 6
extra_tabs_max = 2
arrival = { min = "0s", max = "20m" }
"#;

#[test]
fn a_cache_policy_of_your_own_is_found_replayed_and_fixed() {
    let dir = temp_dir("paystack-policy");
    let scenario = scenario_file(&dir, "tabs", TABS);
    bug_cycle(team(Millis::min(2)), team(Millis::s(30)), &scenario, "tab-bounded-staleness");
}

const SITE_TAB: &str = "site-tab";

/// A team's own tab: it books, then polls the sync endpoint and records what it shows.
fn site_tab() -> Part<Env> {
    Part::once(SITE_TAB, Role::Browser, |sim: &Sim, _env: &Env| {
        let s = sim.clone();
        sim.spawn(SITE_TAB, async move {
            let book = Request::new(http::Method::POST, "/api/bookings?customer=1").label("POST /api/bookings".into());
            let _ = s.request(SITE_TAB, "app", book, 10_000).await;
            for _ in 0..3 {
                s.sleep_ms(30_000).await;
                let get = Request::new(http::Method::GET, "/api/bookings/sync?customer=1").label("GET sync".into());
                let status = s.request(SITE_TAB, "app", get, 10_000).await.map_or(0, |r| r.status);
                s.record(Kind::State, SITE_TAB, None, || format!("the site's tab shows HTTP {status}"));
            }
        });
    })
}

#[test]
fn a_teams_own_tab_stands_in_the_browser_lane_by_its_role() {
    let site = Variant::<Bookings>::new("booking-site", |h| h.without("browser").with_part(site_tab()));
    let sys = site.harness(Default::default(), Default::default());
    let lanes = Lanes::of(&sys.info().actors);
    assert_eq!(lanes.lane(SITE_TAB), Lane::Browser);
    let scenario = settle::scenario::parse(&TABS.replace("booking-site", "paystack-bookings"), "tabs.toml").unwrap();
    let r = run_system(&sys, &scenario, Oracle::random(0), true, shared(Sqlite::memory().unwrap())).unwrap();
    let tab_events: Vec<_> = r.events.iter().filter(|e| e.actor == SITE_TAB).collect();
    assert!(tab_events.len() >= 5, "{tab_events:?}");
    let diagram = mermaid(&r.events, &r.violations, &lanes);
    assert!(diagram.contains("\n    participant browser as browser (site-tab)\n"), "{diagram}");
    assert!(diagram.contains("browser->>app: 00:00:00.000 site-tab → app: POST /api/bookings\n"), "{diagram}");
    assert!(diagram.contains("Note over browser: ") && diagram.contains("site-tab: the site's tab shows HTTP 200"));
    // Every event of the tab's own (its label starts with its name) is on the browser lane.
    let mut own = 0;
    for line in diagram.lines().map(str::trim).filter(|l| !l.starts_with("participant")) {
        let Some((head, text)) = line.split_once(": ") else { continue };
        if text.split_once(' ').is_some_and(|(_, label)| label.starts_with(SITE_TAB)) {
            own += 1;
            assert!(head.contains("browser") && !head.contains("provider"), "{line}");
        }
    }
    assert_eq!(own, tab_events.len(), "{diagram}");
}
