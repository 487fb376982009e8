//! The library's error type and the CLI's named exit codes.
//!
//! Exit codes are mapped exhaustively from [`Error`], so an invariant violation can never look
//! like a usage error (nextest's `exit_codes.rs` is the model).

/// What settle's commands exit with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Every expectation met.
    Success = 0,
    /// An invariant was violated unexpectedly, or an expected violation was not found, or a
    /// passing run set never exercised a fault it enabled.
    Violation = 1,
    /// Bad usage or a bad scenario file.
    Usage = 2,
    /// The same seed gave two different runs.
    Nondeterminism = 3,
    /// Infrastructure: a database could not be reached, a file could not be written.
    Infrastructure = 4,
    /// `settle drive`: the service under test did not start, exited, or never became healthy.
    Service = 5,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Errors that stop a command before it can give a verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line mistake.
    #[error("{0}")]
    Usage(String),
    /// A scenario file that cannot be used; `location` is `file:line:col` where known.
    #[error("{location}: {message}")]
    Scenario { location: String, message: String },
    /// A database or runtime that could not be used.
    #[error("{0}")]
    Infrastructure(String),
    /// `settle drive`: the service under test did not start, exited early, or never answered
    /// its health URL.
    #[error("{0}")]
    Service(String),
    /// A database that could not be opened or reached, with the driver's error as the source.
    #[error("{context}")]
    Database {
        context: String,
        #[source]
        source: crate::store::SqlError,
    },
    /// A seed that could not run or could not be judged (its database, its runtime, a check
    /// that could not read what it checks), with the cause kept as the error's source.
    #[error("{context}")]
    Run {
        context: String,
        #[source]
        source: crate::systems::SystemError,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Scenario { .. } => ExitCode::Usage,
            Error::Infrastructure(_) | Error::Database { .. } | Error::Run { .. } => ExitCode::Infrastructure,
            Error::Service(_) => ExitCode::Service,
        }
    }

    /// A seed's failure to run, in `context` (e.g. `seed 7 of scenarios/x.toml`).
    pub fn run(context: impl Into<String>) -> impl FnOnce(crate::systems::SystemError) -> Error {
        let context = context.into();
        move |source| Error::Run { context, source }
    }
}
