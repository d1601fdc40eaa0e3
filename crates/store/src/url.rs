//! The database URL: which engine, and where.

use std::fmt;
use std::path::PathBuf;

/// Which engine a database URL names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// An in-memory SQLite database (tests only; gone when chatkeep exits).
    SqliteMemory,
    /// A PostgreSQL server URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// The forms accepted, for messages about a bad URL.
    pub const ACCEPTED: &'static str =
        "sqlite://PATH (a database file), sqlite::memory:, or postgres://USER@HOST[:PORT]/DATABASE";

    /// Parses `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, or `postgres(ql)://...`.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if text == "sqlite::memory:" || text == "sqlite://:memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            // Query parameters (?mode=...) are chatkeep's to choose; refuse them rather than ignore them.
            if path.is_empty() || path.contains('?') {
                return Err(Self::ACCEPTED.into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = url::Url::parse(text).map_err(|_| Self::ACCEPTED.to_string())?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(Self::ACCEPTED.into());
            }
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        Err(Self::ACCEPTED.into())
    }

    /// The database file, for a SQLite database that has one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::SqliteMemory | DatabaseUrl::Postgres(_) => None,
        }
    }

    pub fn engine_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) | DatabaseUrl::SqliteMemory => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::SqliteMemory => f.write_str("sqlite::memory:"),
            DatabaseUrl::Postgres(url) => {
                // Never print a password.
                match url::Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some("****"));
                        write!(f, "{parsed}")
                    }
                    _ => f.write_str(url),
                }
            }
        }
    }
}
