//! The platform itself: a whole new system built through the public API alone (a family of its
//! own, registered with one line), scenarios naming it, its flaw found and its fix passing, its
//! app crashable; replay files that refuse to replay another system or a changed run; a check
//! that cannot read the database ending as an infrastructure error.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use settle::check::{CheckCtx, Finding, Invariant, Sometimes};
use settle::scenario::{self, Backends, RunOptions, SeedSelection, run_scenario_opts};
use settle::sim::{Millis, Phase, Request, Sim};
use settle::store::{Db, Migration};
use settle::systems::{ActorInfo, Family, FlawKind, FlawSet, Part, Registry, Role, RunSpec, Variant};

/// A box office: buyers ask the app for a ticket; there are `capacity` seats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    buyers: u32,
    capacity: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { buyers: 12, capacity: 8 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// Seats are counted in one unit and sold in another: two buyers can take the last seat.
    Oversell,
}

impl FlawKind for Flaw {
    const ALL: &'static [Flaw] = &[Flaw::Oversell];
    fn name(self) -> &'static str {
        "oversell"
    }
    fn doc(self) -> &'static str {
        "seats counted and sold in separate units"
    }
    fn bit(self) -> u16 {
        0
    }
}

#[derive(Clone)]
struct Env {
    db: Db,
    cfg: Arc<Config>,
}

struct Ctx {
    db: Db,
    capacity: i64,
}

impl CheckCtx for Ctx {}

struct BoxOffice;

const TICKETS: Migration =
    Migration::portable("20261130000002_tickets", "CREATE TABLE tickets (buyer BIGINT NOT NULL);");

#[derive(Clone)]
struct App {
    env: Env,
    flaws: FlawSet<Flaw>,
}

async fn buy(State(app): State<App>, body: String) -> StatusCode {
    let buyer: i64 = body.parse().unwrap_or(0);
    let (db, cap) = (&app.env.db, app.env.cfg.capacity);
    let count = |tx: &mut settle::store::Tx| tx.query_int("SELECT COUNT(*) FROM tickets", &[]);
    let sell = |tx: &mut settle::store::Tx| tx.execute("INSERT INTO tickets (buyer) VALUES (?)", &[buyer.into()]);
    let sold = if app.flaws.has(Flaw::Oversell) {
        match db.unit("box-office", "count", "", count).await {
            Ok(n) if n < cap => db.unit("box-office", "sell", "", sell).await.map(|_| true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        }
    } else {
        db.unit("box-office", "sell-if-free", "", |tx| Ok(if count(tx)? < cap { sell(tx)? == 1 } else { false })).await
    };
    match sold {
        Ok(true) => StatusCode::CREATED,
        Ok(false) => StatusCode::CONFLICT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn buyers(sim: &Sim, env: &Env) {
    let plan: Vec<u64> = sim.choose(|o| (0..env.cfg.buyers).map(|_| o.below(2_000)).collect());
    for (i, at) in plan.into_iter().enumerate() {
        let s = sim.clone();
        sim.spawn("buyers", async move {
            s.sleep_until_ms(at).await;
            if s.phase() == Phase::Safety {
                let req = Request::new(http::Method::POST, "/buy").json(i.to_string()).label(format!("buyer {i}"));
                if let Ok(r) = s.request("buyers", "box-office", req, Millis::s(10).0).await
                    && r.status == 409
                {
                    s.mark("sold-out");
                }
            }
        });
    }
}

impl Family for BoxOffice {
    type Config = Config;
    type Flaw = Flaw;
    type Env = Env;
    type Ctx = Ctx;
    type Mapping = ();
    type Ext = ();
    const NAME: &'static str = "box-office";
    const TABLE: &'static str = "tickets";
    const DOC: &'static str = "a box office that must not sell more seats than it has";

    fn validate(cfg: &Config) -> Result<(), String> {
        if cfg.capacity < 0 { Err("tickets.capacity: must not be negative".into()) } else { Ok(()) }
    }
    fn migrations(_: &Config, _: FlawSet<Flaw>) -> Vec<Migration> {
        vec![TICKETS]
    }
    fn ext(_: &Arc<Config>, _: FlawSet<Flaw>) {}
    fn env(_: &Sim, db: &Db, cfg: &Arc<Config>, _: &()) -> Env {
        Env { db: db.clone(), cfg: cfg.clone() }
    }
    fn ctx(env: &Env, _: &()) -> Ctx {
        Ctx { db: env.db.clone(), capacity: env.cfg.capacity }
    }
    fn world_actors(_: &Config) -> Vec<ActorInfo> {
        Vec::new()
    }
    fn parts(_: &Arc<Config>, flaws: FlawSet<Flaw>) -> Vec<Part<Env>> {
        vec![
            Part::app("box-office", move |env: Env| {
                Router::new().route("/buy", post(buy)).with_state(App { env, flaws })
            }),
            Part::once("buyers", Role::Client, buyers).sometimes("sold-out", "a buyer was turned away"),
        ]
    }
    fn invariants(_: &Config, _: FlawSet<Flaw>) -> Vec<Invariant<Ctx>> {
        vec![Invariant::always("never-oversold", "no more tickets than seats", |c: &Ctx| {
            let n = c.db.read(|tx| tx.query_int("SELECT COUNT(*) FROM tickets", &[]))?;
            Ok((n > c.capacity)
                .then(|| Finding::general(format!("{n} tickets for {} seats", c.capacity)))
                .into_iter()
                .collect())
        })]
    }
    fn world_marks(_: &Config, _: &RunSpec) -> Vec<Sometimes> {
        Vec::new()
    }
}

fn registry() -> Registry {
    Registry::builtin().with(Variant::<BoxOffice>::reference())
}

const SCENARIO: &str = r#"
name = "oversell"
system = "box-office"
flaws = ["oversell"]
seeds = 100
[expect]
outcome = "violation"
invariant = "never-oversold"
[network]
latency = { min = "1ms", max = "2s" }
[crashes]
actors = ["box-office"]
count_max = 1
down = { min = "1s", max = "5s" }
[tickets]
buyers = 12
capacity = 8
"#;

fn run(text: &str) -> settle::scenario::Summary {
    let s = scenario::parse_with(text, "oversell.toml", &registry()).unwrap_or_else(|e| panic!("{e}"));
    let system = s.build_with(&registry()).unwrap();
    let seeds = SeedSelection::Range { start: 0, count: *s.seeds.get_ref() };
    run_scenario_opts(&s, system.as_ref(), "oversell.toml", seeds, &Backends::Embedded, &RunOptions::default()).unwrap()
}

#[test]
fn a_new_system_through_the_public_api_alone_is_found_and_fixed() {
    let flawed = run(SCENARIO);
    assert!(flawed.verdict.ok(), "{:?}", flawed.verdict);
    assert!(flawed.per_invariant.get("never-oversold").copied().unwrap_or(0) > 0);
    let fixed = run(&SCENARIO
        .replace("flaws = [\"oversell\"]\n", "")
        .replace("outcome = \"violation\"\ninvariant = \"never-oversold\"", "outcome = \"pass\""));
    assert!(fixed.verdict.ok(), "{:?}", fixed.verdict);
    assert!(fixed.coverage.seeds_reaching["sold-out"] > 0);
    assert!(fixed.coverage.seeds_reaching["fault:crash"] > 0, "its own app crashed");
}

#[test]
fn a_new_system_is_listed_validated_and_located() {
    let catalog = registry().catalog();
    let info = catalog.iter().find(|i| i.name == "box-office").expect("listed");
    assert_eq!(info.table, "tickets");
    assert_eq!(info.invariants[0].name, "never-oversold");
    assert!(info.actors.iter().any(|a| a.name == "box-office" && a.crashable && a.role == Role::App));
    let err = |text: &str| scenario::parse_with(text, "s.toml", &registry()).unwrap_err().to_string();
    let e = err(&SCENARIO.replace("capacity = 8", "capacity = 8\nseats = 3"));
    assert!(e.starts_with("s.toml:") && e.contains("unknown field `seats`"), "{e}");
    let e = err(&SCENARIO.replace("capacity = 8", "capacity = -1"));
    assert!(e.contains("tickets.capacity: must not be negative"), "{e}");
    let e = err(&SCENARIO.replace("[tickets]", "[midtrans]\norders = 1\n[tickets]"));
    assert!(e.contains("[midtrans] configures midtrans-orders, but the system is box-office"), "{e}");
    let e = err(&SCENARIO.replace("actors = [\"box-office\"]", "actors = [\"buyers\"]"));
    assert!(e.contains("\"buyers\" cannot crash"), "{e}");
    // settle's own registry does not know it: an error with its location, never another system.
    let e = scenario::parse(SCENARIO, "s.toml").unwrap_err().to_string();
    assert!(e.starts_with("s.toml:3:10") && e.contains("unknown system \"box-office\""), "{e}");
}

#[test]
fn a_scenario_built_in_code_with_an_unknown_system_is_an_error_not_another_system() {
    let mut s =
        scenario::parse("name = \"x\"\nsystem = \"midtrans-orders\"\n[expect]\noutcome = \"pass\"\n", "x").unwrap();
    s.system = serde_spanned::Spanned::new(0..0, "no-such-system".to_string());
    let e = s.build_system().err().expect("refused").to_string();
    assert!(e.contains("unknown system \"no-such-system\""), "{e}");
}

#[test]
fn a_check_that_cannot_read_the_database_is_an_infrastructure_error_not_a_violation() {
    let broken = Variant::<BoxOffice>::new("box-office", |h| {
        h.with_invariant(|| {
            Invariant::always("reads-a-missing-table", "", |c: &Ctx| {
                c.db.read(|tx| tx.query_int("SELECT COUNT(*) FROM no_such_table", &[]))?;
                Ok(Vec::new())
            })
        })
    });
    let registry = Registry::builtin().with(broken);
    let s = scenario::parse_with(SCENARIO, "oversell.toml", &registry).unwrap();
    let system = s.build_with(&registry).unwrap();
    let seeds = SeedSelection::Range { start: 0, count: 3 };
    let e = run_scenario_opts(&s, system.as_ref(), "oversell.toml", seeds, &Backends::Embedded, &RunOptions::default())
        .expect_err("the run cannot be judged");
    assert_eq!(e.exit_code(), settle::ExitCode::Infrastructure);
    let chain = settle::cli::error_chain(&e);
    assert!(chain.contains("reads-a-missing-table") && chain.contains("no_such_table"), "{chain}");
}

#[test]
fn a_replay_file_refuses_another_system_and_a_changed_run() {
    use super::super::{settle, text};

    let dir = super::temp_dir("replay-identity");
    let out = settle(&["run", "scenarios/seed001_race.toml", "--seeds", "60", "--report-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let file = dir.join("seed001-race").join("replay.json");
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(
        original.contains("\"system\": \"midtrans-orders\"") && original.contains("\"fingerprint\": \""),
        "{original}"
    );

    let ok = settle(&["replay", file.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("reproduced: `provider-paid-implies-paid` is violated, as recorded"));

    // Recorded with a team's own system: settle's binary must not replay its reference instead.
    std::fs::write(&file, original.replace("\"system\": \"midtrans-orders\"", "\"system\": \"shop-orders\"")).unwrap();
    let other = settle(&["replay", file.to_str().unwrap()]);
    assert_eq!(other.status.code(), Some(2));
    assert!(text(&other.stderr).contains("recorded with system \"shop-orders\""), "{}", text(&other.stderr));

    // A run that no longer starts the way the recorded one did.
    let at = original.find("\"fingerprint\": \"").unwrap() + "\"fingerprint\": \"".len();
    let changed = format!("{}0000000000000000{}", &original[..at], &original[at + 16..]);
    std::fs::write(&file, changed).unwrap();
    let diverged = settle(&["replay", file.to_str().unwrap()]);
    assert_eq!(diverged.status.code(), Some(2));
    assert!(text(&diverged.stderr).contains("diverges from the recorded one"), "{}", text(&diverged.stderr));

    // An invariant the system does not have: edited, and could only ever "hold".
    let edited = original.replace("\"invariant\": \"provider-paid-implies-paid\"", "\"invariant\": \"nope\"");
    assert_ne!(edited, original, "the file names its invariant");
    std::fs::write(&file, edited).unwrap();
    let unknown = settle(&["replay", file.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown.stdout));
    assert!(
        text(&unknown.stderr).contains("the recorded invariant \"nope\" is not one of midtrans-orders's"),
        "{}",
        text(&unknown.stderr)
    );
}
