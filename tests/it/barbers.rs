//! Seed 004 (../shared/seeds/004): G|Barbers bookings on Stripe Checkout. Every flaw is found by
//! simulation within its scenario's budget, and only with its flaw on; the reference design
//! passes 2,000 seeds with every fault on and reaches every `sometimes` mark; a violating seed
//! replays to the same violation; scenario errors name their place.

use settle::scenario::{self, Verdict, run_one};
use settle::store::{shared, sqlite::Sqlite};

use super::{each_passes_without_its_flaw, found, load, run};

const FLAWS: [(&str, &str); 9] = [
    ("barbers_read_then_claim.toml", "one-live-booking-per-slot"),
    ("barbers_never_free.toml", "no-slot-leak"),
    ("barbers_four_mutations.toml", "booking-appointment-agree"),
    ("barbers_force_booked.toml", "one-live-booking-per-slot"),
    ("barbers_expired_frees_slot.toml", "is-booked-iff-live"),
    ("barbers_manual_blind.toml", "paid-only-if-stripe-paid"),
    ("barbers_no_async_events.toml", "stripe-paid-eventually-confirmed"),
    ("barbers_dashboard_complete_is_paid.toml", "dashboard-never-shows-unpaid-as-paid"),
    ("barbers_dashboard_cache_webhook_only.toml", "dashboard-shows-truth"),
];

/// calcom/cal.diy#1450: availability read on one page and not re-checked before the write; two
/// customers racing for one slot both hold it.
#[test]
fn read_then_claim_double_books_a_slot_when_two_customers_race() {
    let d = found("barbers_read_then_claim.toml", "one-live-booking-per-slot");
    assert!(d[0].contains("has live bookings"), "{d:?}");
}

/// calcom/cal.diy#2170: unpaid holds block availability forever.
#[test]
fn never_free_leaks_the_slot_of_an_abandoned_checkout() {
    let d = found("barbers_never_free.toml", "no-slot-leak");
    assert!(d[0].contains("expired") && d[0].contains("still holds slot"), "{d:?}");
}

/// Seed 004's webhook: four mutations, four units; between them the booking is paid but PENDING.
#[test]
fn four_mutations_leave_a_paid_booking_pending_between_units() {
    let d = found("barbers_four_mutations.toml", "booking-appointment-agree");
    assert!(d[0].contains("PENDING/succeeded"), "{d:?}");
}

/// Seed 004's forceUpdateSlotStatus: a debit that lost its hold succeeds and takes the slot back
/// from the customer who booked it meanwhile.
#[test]
fn force_booked_gives_one_chair_to_two_customers() {
    let d = found("barbers_force_booked.toml", "one-live-booking-per-slot");
    assert!(d[0].contains("has live bookings"), "{d:?}");
}

/// An expired event handled by slot (as the seed's mutations look things up) frees the slot of
/// the customer who won the race and paid.
#[test]
fn expired_by_slot_frees_a_paid_slot() {
    let d = found("barbers_expired_frees_slot.toml", "is-booked-iff-live");
    assert!(d[0].contains("is free but booking"), "{d:?}");
}

/// Seed 004's "Update Pending to Paid" button.
#[test]
fn the_blind_manual_button_marks_unpaid_appointments_paid() {
    let d = found("barbers_manual_blind.toml", "paid-only-if-stripe-paid");
    assert!(d[0].contains("never was"), "{d:?}");
}

/// A webhook endpoint not subscribed to `async_payment_succeeded`, and the seed's cron that never
/// asks Stripe: a bank debit's success is never recorded.
#[test]
fn no_async_events_leaves_a_paid_debit_pending_for_good() {
    let d = found("barbers_no_async_events.toml", "stripe-paid-eventually-confirmed");
    assert!(d[0].contains("Stripe says paid") && d[0].contains("PENDING/processing"), "{d:?}");
}

/// A dashboard that takes a completed Checkout Session for a paid one shows a bank debit still
/// processing (`payment_status` `unpaid`) as paid.
#[test]
fn a_dashboard_taking_complete_for_paid_shows_a_processing_debit_as_paid() {
    let d = found("barbers_dashboard_complete_is_paid.toml", "dashboard-never-shows-unpaid-as-paid");
    assert!(d[0].contains("the dashboard showed appointment") && d[0].contains("Stripe never was"), "{d:?}");
}

/// fastify/fastify-caching#20: a dashboard cache only the webhook invalidates never shows what
/// the cron repaired after the webhooks were lost.
#[test]
fn a_dashboard_cache_only_the_webhook_invalidates_hides_the_crons_repairs() {
    let s = run("barbers_dashboard_cache_webhook_only.toml", None);
    assert_eq!(s.per_invariant.keys().collect::<Vec<_>>(), ["dashboard-shows-truth"], "{:?}", s.per_invariant);
    let d = found("barbers_dashboard_cache_webhook_only.toml", "dashboard-shows-truth");
    assert!(d[0].contains("the dashboard's last look shows appointment"), "{d:?}");
}

/// Each flaw scenario, its flaw switched off and everything else kept, finds nothing: the flaw
/// is the cause, not the load or the faults.
#[test]
fn every_barbers_flaw_scenario_passes_without_its_flaw() {
    each_passes_without_its_flaw(&FLAWS);
}

/// The reference design, every fault on, racing customers, 24-hour sessions, 3-day debits and
/// webhook retries, 2,000 seeds: nothing breaks, and every mark is reached — a refund for a lost
/// slot, an out-of-order expiry and a lapsed hold among them.
#[test]
fn barbers_fixed_design_passes_2000_seeds_with_all_faults() {
    let s = run("barbers_fixed.toml", Some(2_000));
    assert_eq!(s.seeds_run, 2_000);
    assert_eq!(s.violating_seeds, 0, "{:?}", s.first_violation);
    assert_eq!(s.verdict, Verdict::Met);
    assert!(s.coverage.unreached().is_empty(), "{:?}", s.coverage.unreached());
    for mark in [
        "double-booking-attempt",
        "abandoned-hold-freed",
        "async-payment",
        "out-of-order-expired",
        "duplicate-event",
        "refund-lost-slot",
        "hold-lapsed",
        "fault:crash",
        "fault:partition",
    ] {
        assert!(s.coverage.seeds_reaching.get(mark).copied().unwrap_or(0) > 0, "{mark} never reached");
    }
}

/// A violating seed, run again on a reused backend, gives the same violation and trace.
#[test]
fn a_violating_barbers_seed_replays_to_the_same_violation() {
    let s = load("barbers_read_then_claim.toml");
    let seed = run("barbers_read_then_claim.toml", None).first_seed.expect("found");
    let b = shared(Sqlite::memory().unwrap());
    let a = run_one(&s, seed, true, b.clone()).unwrap();
    let c = run_one(&s, seed, true, b).unwrap();
    assert!(!a.violations.is_empty());
    assert_eq!(a.violations, c.violations);
    assert_eq!(settle::sim::first_divergence(&a.events, &c.events), None);
}

/// Bad `[barbers]` values are scenario errors that name the field.
#[test]
fn barbers_scenario_errors_name_the_field() {
    let base = "name = \"x\"\nsystem = \"stripe-barbers\"\n[expect]\noutcome = \"pass\"\n";
    for (table, needle) in [
        ("[barbers]\nhold = { min = \"10m\", max = \"1h\" }\n", "barbers.hold"),
        ("[barbers]\namount = 0\n", "barbers.amount"),
        ("[barbers]\nbarbers = 0\n", "barbers.barbers"),
        ("[barbers]\nslots = 3\n", "slots"),
        ("[barbers.stripe]\nsession_expiry = \"2d\"\n", "session_expiry"),
    ] {
        let text = format!("{base}{table}");
        let e = scenario::parse(&text, "x.toml").expect_err(table).to_string();
        assert!(e.contains(needle), "{table}: {e}");
    }
}

/// The README's `[barbers]` block lists the defaults, all of them.
#[test]
fn the_readme_lists_the_barbers_defaults() {
    #[derive(serde::Deserialize)]
    struct File {
        barbers: settle::systems::stripe_barbers::Config,
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme.find("```toml\n[barbers]\n").expect("the README has a [barbers] block") + "```toml\n".len();
    let block = &readme[from..from + readme[from..].find("```").unwrap()];
    let parsed: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.barbers, settle::systems::stripe_barbers::Config::default());
}
