//! The core's error type: one enum with a stable [`Error::code`] for every shell
//! and a message a user can act on. Database internals stay in the source chain
//! (shown with `--verbose` and in logs), never in the one-line message.

use std::path::PathBuf;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A value the user gave is not acceptable; the message names it and the fix.
    #[error("{0}")]
    InvalidInput(String),

    #[error("{0} not found")]
    NotFound(String),

    #[error(transparent)]
    Import(#[from] ImportError),

    #[error("{message}")]
    Database {
        message: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("database schema migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    UnsupportedEngine(String),

    /// A check found a problem (a backup that does not match its manifest, a broken file).
    #[error("{0}")]
    Check(String),
}

impl Error {
    /// A stable, machine-readable code for shells and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::InvalidInput(_) => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::Check(_) => "check_failed",
            Error::Import(_) => "import",
            Error::Database { .. } => "database",
            Error::Migration(_) => "migration",
            Error::Io { .. } => "io",
            Error::UnsupportedEngine(_) => "unsupported_engine",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Whether another try may succeed: the database busy or locked (SQLite), a
    /// serialization failure or a deadlock (PostgreSQL), a pool or I/O hiccup.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database { source, .. } => transient_database(source),
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ResourceBusy
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}

/// The one place that reads a driver error for "try again": SQLite's result codes
/// (SQLITE_BUSY 5, SQLITE_LOCKED 6, and their extended codes) and PostgreSQL's
/// SQLSTATEs 40001 (serialization failure) and 40P01 (deadlock detected).
fn transient_database(source: &sqlx::Error) -> bool {
    match source {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() => {
            matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        // SQLite: the primary result code is the low byte of the extended one (517 is BUSY_SNAPSHOT).
        sqlx::Error::Database(db) => {
            db.code().and_then(|code| code.parse::<i64>().ok()).is_some_and(|n| matches!(n & 0xff, 5 | 6))
        }
        _ => false,
    }
}

impl From<crate::output::OutputError> for Error {
    fn from(error: crate::output::OutputError) -> Self {
        match error {
            crate::output::OutputError::Refused(message) => Error::InvalidInput(message),
            crate::output::OutputError::Io { context, source } => Error::Io { context, source },
        }
    }
}

/// The one place database errors become user-facing ones.
impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        let message = match &source {
            sqlx::Error::RowNotFound => return Error::NotFound("record".into()),
            sqlx::Error::Database(db) => {
                let text = db.message();
                if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
                    "the database stopped this transaction because another one conflicted with it; try again"
                        .to_string()
                } else if transient_database(&source) {
                    "the database is busy: another process holds its write lock; try again shortly".to_string()
                } else if text.contains("not a database") {
                    "the database file is not a SQLite database (check DATABASE_URL)".to_string()
                } else if text.contains("readonly") {
                    "the database is read-only: check the file's permissions".to_string()
                } else if text.contains("disk is full") {
                    "the disk holding the database is full; nothing was changed".to_string()
                } else {
                    "a database operation failed (run with --verbose for details)".to_string()
                }
            }
            sqlx::Error::PoolTimedOut => {
                "timed out waiting for a database connection; is another chatkeep busy?".to_string()
            }
            _ => "a database operation failed (run with --verbose for details)".to_string(),
        };
        tracing::debug!(error = %source, "database error");
        Error::Database { message, source }
    }
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineProblem {
    pub line: u64,
    pub message: String,
}

/// Why a file was not imported. Nothing from it was written.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ImportError {
    pub file: PathBuf,
    pub problems: Vec<LineProblem>,
    /// More problems were found than are listed.
    pub truncated: bool,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nothing was imported from {}", self.file.display())?;
        let mut problems = self.problems.iter();
        if let Some(first) = problems.next() {
            write!(f, ": line {}: {}", first.line, first.message)?;
        }
        let rest: Vec<String> = problems.map(|p| p.line.to_string()).collect();
        if !rest.is_empty() {
            let more = if self.truncated { ", and more" } else { "" };
            write!(f, " (also bad: line {}{more})", rest.join(", "))?;
        }
        Ok(())
    }
}
