//! The core's error type: one enum with a stable [`Error::code`] for every shell
//! and a message a user can act on. Database internals stay in the source chain
//! of a [`StoreError`] (shown with `--verbose` and in logs), never in the one-line message.

use std::path::PathBuf;

use chatkeep_store::StoreError;

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

    /// The database failed (or its schema could not be migrated); see [`StoreError`].
    #[error(transparent)]
    Store(StoreError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

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
            Error::Store(store) => store.code(),
            Error::Io { .. } => "io",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Whether another try may succeed; the store knows its engines' words for "busy".
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(store) => store.is_transient(),
            Error::Io { source, .. } => chatkeep_store::error::transient_io(source),
            _ => false,
        }
    }
}

/// Plain failures keep their kind (so "not found" is one thing everywhere); the database's own stay whole.
impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidInput(message) => Error::InvalidInput(message),
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::Check(message) => Error::Check(message),
            StoreError::Io { context, source } => Error::Io { context, source },
            database => Error::Store(database),
        }
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
