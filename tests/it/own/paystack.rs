//! A team's own client cache policy plugged into `paystack-bookings` with `with_ext`, as easily
//! as a handler with `with_app`: settle's server, Paystack and tabs stay, only the cache rules
//! change. The team caches the payment for 2 minutes "to save requests" and lets a hidden tab
//! wait 10 minutes; `tab-bounded-staleness` finds a visible tab showing a payment the server
//! left long ago; the seed's own rules (30 s, refresh every 30 s) pass.

use settle::sim::Millis;
use settle::systems::Variant;
use settle::systems::paystack_bookings::{Bookings, Policy};

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
