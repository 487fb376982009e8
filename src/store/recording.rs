//! The database work of a run, recorded and replayed without the simulator: the *floor* of
//! issue 16, what a seed costs when only its SQL runs.
//!
//! [`Recording`] wraps any [`Backend`] and writes down, in order, every call the run's units of
//! work make — the per-seed reset, `BEGIN`, each statement with its parameters, `COMMIT` or
//! `ROLLBACK` — into a [`Log`]. [`replay`] runs a log's calls on another backend in the same
//! order, with nothing around them: no scheduler, network, oracle, trace or checker.
//!
//! What is recorded: every call inside a unit of work ([`super::transaction`]: the units of the
//! run, and the seed rows the harness inserts), each unit's start ([`Op::Unit`]), and the reset.
//! What is not: the checker's reads ([`super::Db::read`]), which are not units — their queries
//! are settle's cost, not the system's. Replayed alone, a log is the *SQL floor*, a lower bound
//! that leaves out the apps' own Rust code; the HTTP floor (`crate::systems::floor`) runs the
//! apps' units through their handlers and the rest of a log's units through [`replay`].

use std::sync::{Arc, Mutex};

use super::{Backend, BackendKind, Migration, SqlError, Value};
use crate::sim::world::lock;

/// One call made on a backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Reset {
        set: String,
        migrations: Vec<Migration>,
    },
    /// A unit of work starts (a marker: nothing runs). Its calls follow until the next one.
    Unit,
    Begin,
    Execute {
        sql: String,
        params: Vec<Value>,
    },
    Query {
        sql: String,
        params: Vec<Value>,
    },
    Commit,
    Rollback,
}

/// The calls recorded so far, shared between the [`Recording`] backend (moved into the run)
/// and whoever reads them after the run.
pub type Log = Arc<Mutex<Vec<Op>>>;

/// A backend that records the calls its units make (see the module documentation).
pub struct Recording<B> {
    inner: B,
    log: Log,
    in_unit: bool,
}

impl<B: Backend> Recording<B> {
    /// Wraps `inner`; the returned [`Log`] fills as the run goes.
    pub fn new(inner: B) -> (Self, Log) {
        let log = Log::default();
        (Recording { inner, log: log.clone(), in_unit: false }, log)
    }

    fn push(&self, op: Op) {
        lock(&self.log).push(op);
    }
}

impl<B: Backend> Backend for Recording<B> {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn begin(&mut self) -> Result<(), SqlError> {
        self.push(Op::Begin);
        self.inner.begin()
    }

    fn commit(&mut self) -> Result<(), SqlError> {
        self.push(Op::Commit);
        self.inner.commit()
    }

    fn rollback(&mut self) -> Result<(), SqlError> {
        self.push(Op::Rollback);
        self.inner.rollback()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        if self.in_unit {
            self.push(Op::Execute { sql: sql.to_owned(), params: params.to_vec() });
        }
        self.inner.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<super::Row>, SqlError> {
        if self.in_unit {
            self.push(Op::Query { sql: sql.to_owned(), params: params.to_vec() });
        }
        self.inner.query(sql, params)
    }

    fn reset(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError> {
        self.push(Op::Reset { set: set.to_owned(), migrations: migrations.to_vec() });
        self.inner.reset(set, migrations)
    }

    fn unit_started(&mut self) {
        self.push(Op::Unit);
        self.in_unit = true;
        self.inner.unit_started();
    }

    fn unit_ended(&mut self) {
        self.in_unit = false;
        self.inner.unit_ended();
    }

    fn take_changed_rows(&mut self) -> Option<Vec<(String, i64)>> {
        self.inner.take_changed_rows()
    }

    fn tracks_changes(&self) -> bool {
        self.inner.tracks_changes()
    }
}

/// Runs `ops` on `backend` in order. A statement that failed in the run (a unit rolled back on
/// a constraint) fails the same way here and is passed over, as the run's unit was; any other
/// call that fails is an error, because the replay has left the run's path.
pub fn replay(backend: &mut dyn Backend, ops: &[Op]) -> Result<(), SqlError> {
    let mut replayer = Replayer::default();
    for op in ops {
        replayer.step(backend, op)?;
    }
    replayer.finish(backend);
    Ok(())
}

/// [`replay`] one call at a time, for a caller that looks at each call (the floor bench times
/// them): [`Replayer::step`] each op in order, then [`Replayer::finish`].
#[derive(Debug, Default)]
pub struct Replayer {
    in_unit: bool,
}

impl Replayer {
    /// Runs one recorded call, as [`replay`] does.
    pub fn step(&mut self, backend: &mut dyn Backend, op: &Op) -> Result<(), SqlError> {
        match op {
            Op::Reset { set, migrations } => backend.reset(set, migrations)?,
            Op::Unit => {
                if self.in_unit {
                    backend.unit_ended();
                }
                backend.unit_started();
                self.in_unit = true;
            }
            Op::Begin => backend.begin()?,
            Op::Commit => backend.commit()?,
            Op::Rollback => backend.rollback()?,
            Op::Execute { sql, params } => {
                let _ = backend.execute(sql, params);
            }
            Op::Query { sql, params } => {
                let _ = backend.query(sql, params);
            }
        }
        Ok(())
    }

    /// Ends the last unit, if one was started.
    pub fn finish(self, backend: &mut dyn Backend) {
        if self.in_unit {
            backend.unit_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite;
    use crate::store::transaction;

    const SCHEMA: &[Migration] =
        &[Migration::portable("1_t", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")];

    fn count(b: &mut dyn Backend) -> i64 {
        b.query("SELECT COUNT(*) FROM t", &[]).unwrap()[0].int(0).unwrap()
    }

    #[test]
    fn units_are_recorded_and_replay_to_the_same_state_but_reads_outside_them_are_not() {
        let (mut rec, log) = Recording::new(Sqlite::memory().unwrap());
        rec.reset("t", SCHEMA).unwrap();
        transaction(&mut rec, |tx| tx.execute("INSERT INTO t (v) VALUES (?)", &["a".into()])).unwrap();
        // A unit that fails on the unique constraint and is rolled back.
        let dup = transaction(&mut rec, |tx| tx.execute("INSERT INTO t (v) VALUES (?)", &["a".into()]));
        assert!(dup.is_err());
        transaction(&mut rec, |tx| tx.execute("INSERT INTO t (v) VALUES (?)", &["b".into()])).unwrap();
        // A unit that only reads: recorded, with no BEGIN or COMMIT (see `Tx`).
        transaction(&mut rec, |tx| tx.query_int("SELECT COUNT(*) FROM t WHERE v = ?", &["a".into()])).unwrap();
        assert_eq!(count(&mut rec), 2, "a checker-style read, outside any unit");
        let ops = lock(&log).clone();
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Query { .. })).count(), 1);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Rollback)).count(), 1);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Begin)).count(), 3);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Unit)).count(), 4, "one marker per unit");
        // The reset; three writing units of marker, BEGIN, statement, COMMIT or ROLLBACK; and the
        // reading unit's marker and query.
        assert_eq!(ops.len(), 1 + 3 * 4 + 2);

        let mut floor = Sqlite::memory().unwrap();
        replay(&mut floor, &ops).unwrap();
        assert_eq!(count(&mut floor), 2);
        let vs: Vec<String> =
            floor.query("SELECT v FROM t ORDER BY v", &[]).unwrap().iter().map(|r| r.text(0).unwrap()).collect();
        assert_eq!(vs, ["a", "b"]);
    }

    #[test]
    fn a_replay_that_leaves_the_runs_path_is_an_error() {
        let ops = [Op::Commit];
        assert!(replay(&mut Sqlite::memory().unwrap(), &ops).is_err(), "COMMIT with no transaction");
    }
}
