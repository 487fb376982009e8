//! sqlx backends (PostgreSQL, MySQL/MariaDB, SQLite) behind a blocking bridge.
//!
//! The simulation runs on a paused single-threaded tokio runtime. Awaiting real I/O there lets
//! the paused clock jump while the socket waits, and sqlx spawns onto the *current* runtime when
//! a pooled connection drops. So [`SqlxBackend`] owns one dedicated OS thread (`settle-sqlx`)
//! with its own, unpaused `current_thread` runtime and exactly one connection. The [`Backend`]
//! methods are synchronous: each sends one command over a channel and blocks until the bridge
//! answers, so the simulation thread never awaits anything and its clock never moves meanwhile.
//! Each call is one round trip. Measured through such a bridge on SQLite: 24–41 µs per
//! statement and 53–71 µs per transaction (this bridge, release build, `sqlite::memory:`:
//! 29–30 µs per statement, 77 µs for a one-statement transaction; Postgres and MariaDB on
//! localhost 50–125 µs per statement), against 1–4 µs per statement for rusqlite on the
//! simulation thread, which is why [`super::sqlite::Sqlite`] stays the embedded default.
//!
//! SQL is written once with `?` placeholders. Postgres gets them rewritten to `$1, $2, …`
//! outside literals, quoted identifiers and comments, and its parameters are bound with the
//! types Postgres infers for them, so a NULL fits a BIGINT column and a TEXT column alike. A
//! parameter whose type Postgres cannot infer (`? IS NULL`) needs a `CAST`. The number of
//! parameters is checked on every backend before anything is sent.
//! Results decode to [`Value`]: integers, booleans and integral NUMERIC/DECIMAL values (what
//! `SUM` returns on Postgres and MySQL) become [`Value::Int`], so an uncast `SUM` reads the same
//! everywhere; text becomes [`Value::Text`]; other types are a [`SqlError::Decode`] naming the
//! column, so write a `CAST` (spelled `AS BIGINT` on Postgres and SQLite, `AS SIGNED` on MySQL).
//!
//! Each run gets a clean database without reconnecting: the first [`Backend::reset`] creates a
//! private namespace `settle_<pid>_<n>` (a Postgres schema, put on the `search_path`; a MySQL
//! database, made current with `USE`) and applies the migrations there; later resets with the
//! same migration set restart identity counters and delete every row (children before
//! parents), which keeps the connection and its prepared statements warm. A different set gets
//! a new namespace. Dropping the backend drops its namespace and nothing else; a process that
//! never runs the drop (killed, or the backend leaked) leaves `settle_<pid>_<n>` behind for a
//! person to drop. SQLite needs no namespace: `sqlite::memory:` is private to the connection
//! already; on a file, settle removes only the tables and views its own migrations created.
//!
//! Transactions are plain `BEGIN`/`COMMIT`/`ROLLBACK` (`START TRANSACTION` on MySQL) at the
//! server's default isolation level. Units of work run one at a time in the simulation, so the
//! isolation level does not change any outcome there. After a failed statement inside a
//! transaction, Postgres refuses every further statement until `ROLLBACK`, where SQLite and
//! MySQL undo only that statement: a unit should end at its first error.
//!
//! What it does not do: pool, reconnect, or retry. A lost connection makes every later call fail
//! with [`SqlError::Connect`], and so does a call with no answer within five minutes. Migrations
//! must use unqualified names, or they escape the namespace. Postgres jsonb operators spelled
//! `?`, `?|` and `?&` cannot be written (they would be read as placeholders); use
//! `jsonb_exists`.

mod conn;
mod decode;
mod namespace;
mod postgres;
mod sql;
mod url;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod tests;

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use self::conn::{Conn, map_err};
use self::namespace::Applied;
pub use self::url::redact_url;

/// The URL schemes [`SqlxBackend::connect`] accepts, for messages.
pub const URL_SCHEMES: &str = "postgres://, postgresql://, mysql://, mariadb:// or sqlite:";

/// The backend a database URL selects, by its scheme (case-insensitive); `None` when no
/// backend accepts it. Lets callers reject a bad URL as a usage error before connecting.
pub fn url_kind(url: &str) -> Option<BackendKind> {
    parse_scheme(url).map(|(kind, _)| kind)
}

/// What is wrong with the form of a database URL (its port, host or options, such as
/// `sslmode=bogus`), found without connecting; `None` when sqlx can read it or the scheme is not
/// one settle knows. A bad URL is the user's to fix, not a server that cannot be reached. The text
/// never holds the password.
pub fn url_problem(url: &str) -> Option<String> {
    use std::str::FromStr;
    let (kind, sqlx_url) = parse_scheme(url)?;
    let err = match kind {
        BackendKind::Postgres => sqlx::postgres::PgConnectOptions::from_str(&sqlx_url).err(),
        BackendKind::Mysql => sqlx::mysql::MySqlConnectOptions::from_str(&sqlx_url).err(),
        BackendKind::Sqlite => sqlx::sqlite::SqliteConnectOptions::from_str(&sqlx_url).err(),
    }?;
    Some(Secrets::from_url(url).scrub(&err.to_string()))
}
use self::url::{Secrets, parse_scheme};
use super::{Backend, BackendKind, Migration, Row, SqlError, Value};

/// How long connecting may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call may take. A server that stops answering would otherwise block the
/// simulation thread forever; after this the connection's protocol state is unknown, so the
/// bridge closes it and every later call fails with [`SqlError::Connect`].
const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long closing the connection may take when the backend is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The error every call returns once the bridge thread is gone.
const STOPPED: &str = "database bridge thread stopped";

/// A database reached through sqlx on a dedicated thread; see the module documentation.
pub struct SqlxBackend {
    kind: BackendKind,
    commands: Option<SyncSender<Cmd>>,
    replies: Receiver<Result<Out, SqlError>>,
    thread: Option<JoinHandle<()>>,
    /// The private schema (Postgres) or database (MySQL) this backend created, if any.
    namespace: Option<String>,
    /// The migration set applied and how to empty it again.
    applied: Option<Applied>,
    /// Whether `begin` succeeded and neither `commit` nor `rollback` followed yet.
    in_tx: bool,
}

impl SqlxBackend {
    /// Connects to `url`: `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or a sqlx
    /// SQLite URL such as `sqlite::memory:`. Errors never contain the URL's password.
    pub fn connect(url: &str) -> Result<SqlxBackend, SqlError> {
        let redacted = redact_url(url);
        let (kind, sqlx_url) = parse_scheme(url).ok_or_else(|| {
            SqlError::Connect(format!("{redacted}: unsupported database URL; expected one starting with {URL_SCHEMES}"))
        })?;
        let secrets = Secrets::from_url(url);
        // Bounded: calls are synchronous, so at most one command and one reply are in flight.
        let (commands, command_rx) = mpsc::sync_channel::<Cmd>(1);
        let (reply_tx, replies) = mpsc::sync_channel::<Result<Out, SqlError>>(1);
        let thread = thread::Builder::new()
            .name("settle-sqlx".into())
            .spawn({
                let redacted = redacted.clone();
                move || bridge_main(kind, &sqlx_url, &redacted, &secrets, &command_rx, &reply_tx)
            })
            .map_err(|e| SqlError::Connect(format!("{redacted}: cannot start the bridge thread: {e}")))?;
        let backend = SqlxBackend {
            kind,
            commands: Some(commands),
            replies,
            thread: Some(thread),
            namespace: None,
            applied: None,
            in_tx: false,
        };
        // The bridge answers once, with the outcome of connecting.
        match backend.replies.recv() {
            Ok(Ok(_)) => Ok(backend),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SqlError::Connect(STOPPED.into())),
        }
    }

    /// The private schema (Postgres) or database (MySQL) created by the first reset, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// One round trip to the bridge thread.
    fn call(&mut self, cmd: Cmd) -> Result<Out, SqlError> {
        let stopped = || SqlError::Connect(STOPPED.into());
        let commands = self.commands.as_ref().ok_or_else(stopped)?;
        commands.send(cmd).map_err(|_| stopped())?;
        self.replies.recv().map_err(|_| stopped())?
    }

    fn script(&mut self, sql: String) -> Result<(), SqlError> {
        self.call(Cmd::Script(sql)).map(drop)
    }

    fn texts(&mut self, sql: &str) -> Result<Vec<String>, SqlError> {
        self.query(sql, &[])?.iter().map(|r| r.text(0)).collect()
    }

    fn pairs(&mut self, sql: &str) -> Result<Vec<(String, String)>, SqlError> {
        self.query(sql, &[])?.iter().map(|r| Ok((r.text(0)?, r.text(1)?))).collect()
    }
}

impl Backend for SqlxBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn begin(&mut self) -> Result<(), SqlError> {
        // MySQL's START TRANSACTION would silently commit an open one, and Postgres only warns;
        // refuse alike everywhere.
        if self.in_tx {
            return Err(SqlError::Other("a transaction is already open".into()));
        }
        let sql = match self.kind {
            BackendKind::Mysql => "START TRANSACTION",
            _ => "BEGIN",
        };
        self.script(sql.into())?;
        self.in_tx = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SqlError> {
        self.in_tx = false;
        self.script("COMMIT".into())
    }

    fn rollback(&mut self) -> Result<(), SqlError> {
        self.in_tx = false;
        self.script("ROLLBACK".into())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        match self.call(Cmd::Run { sql: sql.to_string(), params: params.to_vec(), rows: false })? {
            Out::Count(n) => Ok(n),
            _ => Err(SqlError::Other("the bridge answered out of turn".into())),
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        match self.call(Cmd::Run { sql: sql.to_string(), params: params.to_vec(), rows: true })? {
            Out::Rows(rows) => Ok(rows),
            _ => Err(SqlError::Other("the bridge answered out of turn".into())),
        }
    }

    fn reset(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError> {
        if self.in_tx {
            return Err(SqlError::Other("cannot reset inside a transaction".into()));
        }
        if let Some(applied) = &self.applied
            && applied.set == set
        {
            let sql = applied.clear_sql.clone();
            let result = self.script(sql);
            if result.is_err() && self.kind == BackendKind::Mysql {
                // Never leave foreign-key checks off after a script that stopped half-way.
                let _ = self.script("SET FOREIGN_KEY_CHECKS = 1".into());
            }
            return result;
        }
        self.apply(set, migrations)
    }
}

impl Drop for SqlxBackend {
    fn drop(&mut self) {
        if self.in_tx {
            // An open transaction would block (Postgres) or be committed by (MySQL) the DROP.
            let _ = self.rollback();
        }
        // Errors cannot be returned from here; the namespace name says whose it was.
        let _ = self.drop_namespace();
        // Closing the command channel ends the bridge loop; it then closes the connection.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The bridge thread.

/// A request to the bridge thread. Each one gets exactly one reply.
enum Cmd {
    /// Statements sent as text, without parameters (several allowed, separated by `;`).
    Script(String),
    /// A prepared statement: `rows` asks for the result rows, otherwise the count changed.
    Run {
        sql: String,
        params: Vec<Value>,
        rows: bool,
    },
    ClearCache,
    /// Makes the bridge thread stop, as if it had died.
    #[cfg(test)]
    Exit,
}

enum Out {
    Done,
    Count(u64),
    Rows(Vec<Row>),
}

fn bridge_main(
    kind: BackendKind,
    url: &str,
    redacted: &str,
    secrets: &Secrets,
    commands: &Receiver<Cmd>,
    replies: &SyncSender<Result<Out, SqlError>>,
) {
    // Not paused and not the simulation's: real I/O may wait here without moving simulated time.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let msg = format!("{redacted}: cannot start the bridge runtime: {e}");
            let _ = replies.send(Err(SqlError::Connect(msg)));
            return;
        }
    };
    let connected = runtime.block_on(async {
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::connect(kind, url)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(format!("{redacted}: {}", secrets.scrub(&e.to_string()))),
            Err(_) => Err(format!("{redacted}: no answer within {CONNECT_TIMEOUT:?}")),
        }
    });
    let mut conn = match connected {
        Ok(conn) => conn,
        Err(msg) => {
            let _ = replies.send(Err(SqlError::Connect(msg)));
            return;
        }
    };
    if replies.send(Ok(Out::Done)).is_err() {
        return;
    }
    // Between commands nothing is awaited: one connection has no background work.
    while let Ok(cmd) = commands.recv() {
        #[cfg(test)]
        if matches!(cmd, Cmd::Exit) {
            return;
        }
        let out = runtime.block_on(async { tokio::time::timeout(CALL_TIMEOUT, conn.run(cmd)).await });
        let Ok(out) = out else {
            let msg = format!("no answer within {CALL_TIMEOUT:?}; the connection was abandoned");
            let _ = replies.send(Err(SqlError::Connect(msg)));
            return;
        };
        if replies.send(out.map_err(|e| map_err(e, secrets))).is_err() {
            break;
        }
    }
    // The timer must be created inside the runtime.
    let _ = runtime.block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await });
}
