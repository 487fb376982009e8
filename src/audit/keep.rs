//! `settle replay PATH --seed S --keep-db FILE`: runs one seed on a SQLite file and writes the
//! provider's truth beside it (`FILE.provider.jsonl`), so `settle audit` has a real database with
//! real violations to find, without a server. The trace is the same as on the embedded default.
//! What it does not do: overwrite existing files unless told to (`force`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::scenario::Scenario;
use crate::sim::Oracle;
use crate::store::{shared, sqlite::Sqlite};
use crate::systems::SeedReport;

use super::export;

/// Where the provider export of a kept database goes.
pub fn export_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".provider.jsonl");
    PathBuf::from(p)
}

/// Runs `s` with `oracle` (a seed's, or a replay file's choices) on the SQLite file `db` and,
/// for `midtrans-orders`, writes its provider export beside it.
pub fn replay_keep_db(s: &Scenario, oracle: Oracle, record: bool, db: &Path, force: bool) -> Result<SeedReport, Error> {
    let jsonl = export_path(db);
    for p in [db, jsonl.as_path()] {
        if p.exists() {
            if !force {
                return Err(Error::Usage(format!("{}: exists; pass --force to overwrite it", p.display())));
            }
            std::fs::remove_file(p).map_err(|e| Error::Usage(format!("{}: cannot remove: {e}", p.display())))?;
        }
    }
    let backend = Sqlite::file(db).map_err(|e| Error::Usage(format!("{}: {e}", db.display())))?;
    if s.system.get_ref() != crate::systems::midtrans_orders::NAME {
        // Only Midtrans has a provider export format: other systems keep the database alone.
        let system = s.build_system();
        return crate::systems::run_seed(system.as_ref(), &s.run_spec(record), oracle, shared(backend))
            .map_err(|e| Error::Infrastructure(e.to_string()));
    }
    let truths = Arc::new(Mutex::new(String::new()));
    let sink = truths.clone();
    let system = s.midtrans_orders().with_truths_hook(Arc::new(move |t| {
        *crate::sim::world::lock(&sink) = export::from_truths(&t);
    }));
    let report = crate::systems::run_seed(&system, &s.run_spec(record), oracle, shared(backend))
        .map_err(|e| Error::Infrastructure(e.to_string()))?;
    let text = crate::sim::world::lock(&truths).clone();
    std::fs::write(&jsonl, text)
        .map_err(|e| Error::Infrastructure(format!("{}: cannot write: {e}", jsonl.display())))?;
    Ok(report)
}
