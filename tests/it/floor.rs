//! The HTTP floor (issue 16 §1): a recorded seed replayed through the apps' own routers must do
//! exactly the run's SQL, call for call, and answer every request as the run did.

use std::path::Path;

use settle::scenario;
use settle::systems::floor::{self, FloorError};

/// What the floors of several seeds did, summed, and how many handlers the runs cut short.
#[derive(Default)]
struct Checked {
    requests: usize,
    job_units: usize,
    job_starts: usize,
    seeds: usize,
    cut: usize,
}

/// Self-checks `seeds` of scenario `name`.
fn check(name: &str, seeds: std::ops::Range<u64>) -> Checked {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let s = scenario::load(&path).expect("scenario loads");
    let system = s.build_system().expect("the scenario builds");
    let spec = s.run_spec(false);
    let mut c = Checked::default();
    for seed in seeds {
        match floor::self_check(system.as_ref(), &spec, seed) {
            Ok((recorded, stats)) => {
                // Every start of a job in the run starts in the floor, those after the last unit too.
                assert_eq!(stats.job_starts, recorded.tape.jobs.len(), "{name} seed {seed}: job starts");
                c.requests += stats.requests;
                c.job_units += stats.job_units;
                c.job_starts += stats.job_starts;
                c.seeds += 1;
                c.cut += recorded.tape.deliveries.iter().filter(|d| d.to == "app" && d.status.is_none()).count();
            }
            Err(e) => panic!("{name} seed {seed}: {e}"),
        }
    }
    c
}

#[test]
fn midtrans_seeds_replay_through_the_apps_routers_with_the_runs_sql() {
    let c = check("midtrans_hour", 0..40);
    assert!(c.requests > 400, "the apps' handlers did the work: {} requests", c.requests);
}

/// The jobs' own code runs in the floor (its parsing of the provider's answers, its decisions),
/// not only their SQL: every start of a job in the run, the first and each restart after a
/// crash, is started again, and runs its units.
#[test]
fn midtrans_jobs_run_their_own_units_from_every_start() {
    let c = check("midtrans_hour", 0..40);
    assert!(c.job_units > 40 * 10, "the reconciliation job ran its own units: {}", c.job_units);
    assert!(c.job_starts > c.seeds, "some job restarted after a crash and ran again: {} starts", c.job_starts);
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
    let (mut handled, mut jobs, mut cut) = (0, 0, 0);
    for path in paths {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
        let c = check(&name, 0..2);
        handled += usize::from(c.requests > 0);
        jobs += usize::from(c.job_units > 0);
        cut += c.cut;
    }
    assert!(handled > 40, "only {handled} scenarios sent requests to their apps");
    assert!(jobs > 30, "only {jobs} scenarios' jobs ran their own units in the floor");
    assert!(cut > 0, "some handler was cut short by a crash, and its floor stopped where it did");
}
