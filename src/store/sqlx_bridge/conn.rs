//! The bridge side: one connection per driver, running each [`Cmd`] on the bridge runtime,
//! binding parameters after checking their count, and mapping sqlx errors to [`SqlError`].
//! It does not decode rows ([`super::decode`]) or encode Postgres values ([`super::postgres`]).

use sqlx::error::{BoxDynError, DatabaseError, ErrorKind};
use sqlx::mysql::{MySql, MySqlConnection};
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::sqlite::{Sqlite, SqliteConnection};
use sqlx::{Arguments, AssertSqlSafe, Connection, Either, Encode, Executor, SqlSafeStr, Statement, Type};

use super::decode::{lite_row, my_row, pg_row};
use super::postgres::pg_param;
use super::sql::{count_placeholders, pg_placeholders};
use super::url::Secrets;
use super::{Cmd, Out};
use crate::store::{BackendKind, SqlError, Value};

pub(super) enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
    Lite(SqliteConnection),
}

/// An error on the bridge side, before mapping to [`SqlError`].
pub(super) enum BridgeError {
    Sqlx(sqlx::Error),
    Sql(SqlError),
}

impl From<sqlx::Error> for BridgeError {
    fn from(e: sqlx::Error) -> Self {
        BridgeError::Sqlx(e)
    }
}

impl From<SqlError> for BridgeError {
    fn from(e: SqlError) -> Self {
        BridgeError::Sql(e)
    }
}

/// Runs a bound statement and returns its rows (decoded by `decode`) or the count changed.
/// A macro because each driver's result type has its own inherent `rows_affected`.
macro_rules! finish {
    ($query:expr, $conn:expr, $rows:expr, $decode:expr) => {
        if $rows {
            let fetched = $query.fetch_all(&mut *$conn).await?;
            Ok(Out::Rows(fetched.iter().map($decode).collect::<Result<_, _>>()?))
        } else {
            Ok(Out::Count($query.execute(&mut *$conn).await?.rows_affected()))
        }
    };
}

impl Conn {
    pub(super) async fn connect(kind: BackendKind, url: &str) -> Result<Conn, sqlx::Error> {
        Ok(match kind {
            BackendKind::Postgres => Conn::Pg(PgConnection::connect(url).await?),
            BackendKind::Mysql => Conn::My(MySqlConnection::connect(url).await?),
            BackendKind::Sqlite => Conn::Lite(SqliteConnection::connect(url).await?),
        })
    }

    pub(super) async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
            Conn::Lite(c) => c.close().await,
        }
    }

    pub(super) async fn run(&mut self, cmd: Cmd) -> Result<Out, BridgeError> {
        match cmd {
            Cmd::Script(sql) => {
                let raw = sqlx::raw_sql(AssertSqlSafe(sql));
                match self {
                    Conn::Pg(c) => {
                        raw.execute(&mut *c).await?;
                    }
                    Conn::My(c) => {
                        raw.execute(&mut *c).await?;
                    }
                    Conn::Lite(c) => {
                        raw.execute(&mut *c).await?;
                    }
                }
                Ok(Out::Done)
            }
            Cmd::ClearCache => {
                match self {
                    Conn::Pg(c) => c.clear_cached_statements().await?,
                    Conn::My(c) => c.clear_cached_statements().await?,
                    Conn::Lite(c) => c.clear_cached_statements().await?,
                }
                Ok(Out::Done)
            }
            // Parameter counts are checked before binding: MySQL waits forever for parameters it
            // was not sent, and SQLite binds missing ones as NULL. Preparing is a cache lookup
            // after the first time.
            Cmd::Run { sql, params, rows } => match self {
                Conn::Pg(c) => {
                    let sql = pg_placeholders(&sql).into_owned();
                    // No declared types: Postgres infers them, and the values are encoded to fit.
                    let stmt = c.prepare_with(AssertSqlSafe(sql).into_sql_str(), &[]).await?;
                    let types = match stmt.parameters() {
                        Some(Either::Left(types)) => types,
                        _ => &[],
                    };
                    check_count(types.len(), params.len())?;
                    let mut args = PgArguments::default();
                    for (i, (value, ty)) in params.into_iter().zip(types).enumerate() {
                        args.add(pg_param(i, value, ty)?).map_err(|e| bind_err(i, e))?;
                    }
                    finish!(stmt.query_with(args), c, rows, pg_row)
                }
                Conn::My(c) => {
                    let stmt = c.prepare(AssertSqlSafe(sql).into_sql_str()).await?;
                    check_count(declared_count(stmt.parameters()), params.len())?;
                    finish!(stmt.query_with(plain_args::<MySql>(params)?), c, rows, my_row)
                }
                Conn::Lite(c) => {
                    // Counted here rather than by preparing first: that would cost one more
                    // round trip to sqlx's SQLite worker thread per statement.
                    check_count(count_placeholders(&sql), params.len())?;
                    finish!(sqlx::query_with(AssertSqlSafe(sql), plain_args::<Sqlite>(params)?), c, rows, lite_row)
                }
            },
            #[cfg(test)]
            Cmd::Exit => Ok(Out::Done),
        }
    }
}

/// Arguments for MySQL and SQLite, which take any value in any parameter: NULL is flagged (or
/// stored) without regard to its declared type, and both convert between integers and text.
fn plain_args<DB: sqlx::Database>(params: Vec<Value>) -> Result<DB::Arguments, SqlError>
where
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<i64>: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut args = DB::Arguments::default();
    for (i, v) in params.into_iter().enumerate() {
        match v {
            Value::Null => args.add(None::<i64>),
            Value::Int(n) => args.add(n),
            Value::Text(s) => args.add(s),
        }
        .map_err(|e| bind_err(i, e))?;
    }
    Ok(args)
}

fn declared_count<T>(declared: Option<Either<&[T], usize>>) -> Option<usize> {
    match declared? {
        Either::Left(types) => Some(types.len()),
        Either::Right(n) => Some(n),
    }
}

fn check_count(declared: impl Into<Option<usize>>, given: usize) -> Result<(), SqlError> {
    match declared.into() {
        Some(n) if n != given => {
            Err(SqlError::Other(format!("the statement has {n} parameter(s) but {given} were given")))
        }
        _ => Ok(()),
    }
}

fn bind_err(i: usize, e: BoxDynError) -> SqlError {
    SqlError::Other(format!("cannot bind parameter {}: {e}", i + 1))
}

pub(super) fn map_err(e: BridgeError, secrets: &Secrets) -> SqlError {
    let e = match e {
        BridgeError::Sql(e) => return e,
        BridgeError::Sqlx(e) => e,
    };
    let text = secrets.scrub(&e.to_string());
    match &e {
        sqlx::Error::Database(db) if is_constraint(db.as_ref()) => SqlError::Constraint(text),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => SqlError::Decode(text),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => SqlError::Connect(text),
        _ => SqlError::Other(text),
    }
}

/// Any integrity-constraint violation, as the rusqlite backend reports every SQLite one.
fn is_constraint(db: &dyn DatabaseError) -> bool {
    if db.is_unique_violation() || db.is_foreign_key_violation() || !matches!(db.kind(), ErrorKind::Other) {
        return true;
    }
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    // SQLSTATE class 23 on Postgres and MySQL; SQLite's primary code 19 (SQLITE_CONSTRAINT).
    code.starts_with("23") || code.parse::<u32>().is_ok_and(|c| c & 0xff == 19)
}
