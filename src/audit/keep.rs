//! `settle replay PATH --seed S --keep-db FILE`: runs one seed on a SQLite file and writes the
//! provider's truth beside it (`FILE.provider.jsonl`), so `settle audit` has a real database with
//! real violations to find, without a server. The trace is the same as on the embedded default.
//! What it does not do: overwrite existing files unless told to (`force`).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::scenario::Scenario;
use crate::sim::Oracle;
use crate::store::{shared, sqlite::Sqlite};
use crate::systems::{SeedReport, System};

/// Where the provider export of a kept database goes.
pub fn export_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".provider.jsonl");
    PathBuf::from(p)
}

/// Runs `system` under `s` with `oracle` (a seed's, or a replay file's choices) on the SQLite
/// file `db` and, when the system has a provider export, writes it beside it.
pub fn replay_keep_db(
    system: &dyn System,
    s: &Scenario,
    oracle: Oracle,
    record: bool,
    db: &Path,
    force: bool,
) -> Result<SeedReport, Error> {
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
    let mut spec = s.run_spec(record);
    spec.export = true;
    let report = crate::systems::run_seed(system, &spec, oracle, shared(backend))
        .map_err(Error::run(format!("scenario {:?}", s.name)))?;
    if let Some(text) = &report.export {
        std::fs::write(&jsonl, text)
            .map_err(|e| Error::Infrastructure(format!("{}: cannot write: {e}", jsonl.display())))?;
    }
    Ok(report)
}
