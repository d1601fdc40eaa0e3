//! The store's error type. [`StoreError::code`] is stable; the one-line message is for
//! people, with the database's own words kept in the source chain (`--verbose`, logs).

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value given is not acceptable; the message names it and the fix.
    #[error("{0}")]
    InvalidInput(String),

    #[error("{0} not found")]
    NotFound(String),

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

    /// A check found a problem (a snapshot that does not match what was recorded, a broken file).
    #[error("{0}")]
    Check(String),
}

impl StoreError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::InvalidInput(_) => "invalid_input",
            StoreError::NotFound(_) => "not_found",
            StoreError::Check(_) => "check_failed",
            StoreError::Database { .. } => "database",
            StoreError::Migration(_) => "migration",
            StoreError::Io { .. } => "io",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        StoreError::InvalidInput(message.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io { context: context.into(), source }
    }

    /// Whether another try may succeed: the database busy or locked (SQLite), a
    /// serialization failure or a deadlock (PostgreSQL), a pool or I/O hiccup.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => transient_database(source),
            StoreError::Io { source, .. } => transient_io(source),
            _ => false,
        }
    }
}

/// I/O failures worth another try.
pub fn transient_io(source: &std::io::Error) -> bool {
    matches!(
        source.kind(),
        std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::ResourceBusy
            | std::io::ErrorKind::UnexpectedEof
    )
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

/// The one place database errors become user-facing ones.
impl From<sqlx::Error> for StoreError {
    fn from(source: sqlx::Error) -> Self {
        let message = match &source {
            sqlx::Error::RowNotFound => return StoreError::NotFound("record".into()),
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
        StoreError::Database { message, source }
    }
}
