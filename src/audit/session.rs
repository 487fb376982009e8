//! The audit's read-only session: one connection, one transaction, one consistent snapshot.
//!
//! - SQLite: the file is opened read-only (`sqlite://PATH` or `sqlite:PATH`; an in-memory
//!   database makes no sense to audit), then `BEGIN`: the snapshot starts at the first read.
//! - PostgreSQL: `BEGIN`, then `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`.
//! - MySQL/MariaDB: `SET time_zone = '+00:00'` (for `TIMESTAMP` columns), `SET TRANSACTION
//!   ISOLATION LEVEL REPEATABLE READ, READ ONLY` (it applies to the next transaction), then
//!   `START TRANSACTION`.
//!
//! The transaction is always rolled back, also when the session is dropped. What it does not do:
//! create, reset or migrate anything (it never calls [`Backend::reset`]).

use std::path::Path;

use crate::error::Error;
use crate::store::sqlite::Sqlite;
use crate::store::sqlx_bridge::{SqlxBackend, redact_url};
use crate::store::{Backend, BackendKind};

const READ_ONLY: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// An open read-only transaction.
pub struct Session {
    backend: Box<dyn Backend>,
    open: bool,
    /// The URL with its password replaced by `***`.
    pub shown: String,
}

/// The SQLite file a `sqlite:` URL names, if it is one.
fn sqlite_path(url: &str) -> Option<Result<&str, Error>> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() || path == ":memory:" || path.starts_with(":memory:") {
        return Some(Err(Error::Usage(format!(
            "--db {url}: an in-memory SQLite database is empty; audit a file (sqlite://PATH) or a server"
        ))));
    }
    Some(Ok(path))
}

impl Session {
    /// Connects to `url` and opens the read-only transaction. Bad URLs and missing files are
    /// usage errors; a server that cannot be reached is an infrastructure error.
    pub fn open(url: &str) -> Result<Session, Error> {
        let shown = redact_url(url);
        let mut backend: Box<dyn Backend> = match sqlite_path(url) {
            Some(path) => {
                let path = Path::new(path?);
                if !path.is_file() {
                    return Err(Error::Usage(format!("--db {shown}: no such database file")));
                }
                Box::new(Sqlite::read_only(path).map_err(|e| Error::Infrastructure(format!("{shown}: {e}")))?)
            }
            None => {
                // `sqlite:` URLs were handled above; only servers are left.
                if !matches!(crate::store::sqlx_bridge::url_kind(url), Some(BackendKind::Postgres | BackendKind::Mysql))
                {
                    return Err(Error::Usage(format!(
                        "--db {shown}: unsupported database URL; expected sqlite://PATH, postgres://, \
                         postgresql://, mysql:// or mariadb://"
                    )));
                }
                if let Some(problem) = crate::store::sqlx_bridge::url_problem(url) {
                    return Err(Error::Usage(format!("--db {shown}: not a database URL settle can read: {problem}")));
                }
                // Its errors never contain the password.
                Box::new(SqlxBackend::connect(url).map_err(|e| Error::Infrastructure(e.to_string()))?)
            }
        };
        let fail = |e: crate::store::SqlError| Error::Infrastructure(format!("{shown}: {e}"));
        match backend.kind() {
            BackendKind::Sqlite => backend.begin().map_err(fail)?,
            BackendKind::Postgres => {
                backend.begin().map_err(fail)?;
                if let Err(e) = backend.execute(READ_ONLY, &[]) {
                    let _ = backend.rollback();
                    return Err(fail(e));
                }
            }
            BackendKind::Mysql => {
                // `TIMESTAMP` columns are shown in the session's time zone: UTC, so that times
                // read as epoch milliseconds do not depend on the server's setting.
                backend.execute("SET time_zone = '+00:00'", &[]).map_err(fail)?;
                backend.execute(READ_ONLY, &[]).map_err(fail)?;
                backend.begin().map_err(fail)?;
            }
        }
        Ok(Session { backend, open: true, shown })
    }

    /// The connection, inside the read-only transaction. Writes fail.
    pub fn backend(&mut self) -> &mut dyn Backend {
        self.backend.as_mut()
    }

    /// Rolls the transaction back.
    pub fn close(mut self) -> Result<(), Error> {
        self.open = false;
        self.backend.rollback().map_err(|e| Error::Infrastructure(format!("{}: {e}", self.shown)))
    }
}

/// Opens the read-only snapshot of `url`, runs `pass` in it (with the URL as it may be shown),
/// and rolls it back.
pub fn in_snapshot<T>(url: &str, pass: impl FnOnce(&mut dyn Backend, &str) -> Result<T, Error>) -> Result<T, Error> {
    let mut session = Session::open(url)?;
    let shown = session.shown.clone();
    let out = pass(session.backend(), &shown)?;
    session.close()?;
    Ok(out)
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.open {
            let _ = self.backend.rollback();
        }
    }
}
