//! The HTTP floor (issue 16 §1): a recorded seed replayed through the apps' own routers must do
//! exactly the run's SQL, call for call, and answer every request as the run did.

use std::path::Path;

use settle::scenario;
use settle::systems::floor::{self, FloorError};

/// Self-checks `seeds` of scenario `name`: (requests replayed, handlers the run cut short).
fn check(name: &str, seeds: std::ops::Range<u64>) -> (usize, usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let s = scenario::load(&path).expect("scenario loads");
    let system = s.build_system().expect("the scenario builds");
    let spec = s.run_spec(false);
    let (mut requests, mut cut) = (0, 0);
    for seed in seeds {
        match floor::self_check(system.as_ref(), &spec, seed) {
            Ok((recorded, stats)) => {
                requests += stats.requests;
                cut += recorded.tape.deliveries.iter().filter(|d| d.to == "app" && d.status.is_none()).count();
            }
            Err(e) => panic!("{name} seed {seed}: {e}"),
        }
    }
    (requests, cut)
}

#[test]
fn midtrans_seeds_replay_through_the_apps_routers_with_the_runs_sql() {
    let (requests, _) = check("midtrans_hour", 0..40);
    assert!(requests > 400, "the apps' handlers did the work: {requests} requests");
}

#[test]
fn a_floor_that_leaves_the_runs_path_says_where() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/midtrans_hour.toml");
    let s = scenario::load(&path).expect("scenario loads");
    let system = s.build_system().expect("the scenario builds");
    let spec = s.run_spec(false);
    let mut recorded = floor::record(system.as_ref(), &spec, 3).expect("records");
    // Another seed's answers: the handlers now confirm what this seed's provider never said.
    recorded.tape.answers = floor::record(system.as_ref(), &spec, 4).expect("records").tape.answers;
    let (rec, _log) = settle::store::recording::Recording::new(settle::store::sqlite::Sqlite::memory().unwrap());
    let err = floor::run(system.as_ref(), &spec, &recorded, settle::store::shared(rec));
    assert!(matches!(err, Err(FloorError::Diverged(_))), "{err:?}");
}

/// Every shipped scenario, whatever its system: the first seeds replay exactly.
#[test]
fn every_scenarios_first_seeds_replay_through_the_apps_routers_with_the_runs_sql() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() > 40, "{} scenarios", paths.len());
    let (mut handled, mut cut) = (0, 0);
    for path in paths {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
        let (requests, c) = check(&name, 0..2);
        handled += usize::from(requests > 0);
        cut += c;
    }
    assert!(handled > 40, "only {handled} scenarios sent requests to their apps");
    assert!(cut > 0, "some handler was cut short by a crash, and its floor stopped where it did");
}
