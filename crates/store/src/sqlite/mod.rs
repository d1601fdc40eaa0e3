//! SQLite: the embedded default. One file in WAL mode, so the chat service
//! keeps writing while chatkeep reads; a busy timeout instead of instant
//! "database is locked" errors; migrations applied when the pool opens.

pub(super) mod audit;
pub(super) mod backups;
pub(super) mod chat;
pub(super) mod erasure;
pub(super) mod export;
pub(super) mod gdpr;
pub(super) mod holds;
pub(super) mod jobs;
pub(super) mod maintenance;
pub(super) mod retention;
pub(super) mod rules;
pub(super) mod schema;
pub(super) use crate::settings::sqlite as settings;
pub(super) mod stats;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

use crate::DatabaseUrl;
use crate::{Result, StoreError};

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters
/// for the widest table, and large enough that one statement carries a lot.
const MAX_ROWS_PER_INSERT: usize = 2_000;

/// Reads a value SQLite folded into one JSON text (`json_group_array(...)`): a page of rows
/// crosses from the engine as one value instead of one message per row.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::invalid(format!("unexpected {what} from SQLite: {e}")))
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub(super) async fn open(url: &DatabaseUrl, memory: super::Memory) -> Result<SqlitePool> {
    let created = matches!(url, DatabaseUrl::Sqlite(path) if !path.exists());
    let (options, max_connections) = match url {
        DatabaseUrl::SqliteMemory => (SqliteConnectOptions::from_str("sqlite::memory:")?, 1),
        DatabaseUrl::Sqlite(path) => {
            prepare_parent_folder(path)?;
            (SqliteConnectOptions::new().filename(path).create_if_missing(true), 4)
        }
        DatabaseUrl::Postgres(_) => unreachable!("the store dispatches PostgreSQL URLs elsewhere"),
    };
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable across application crashes in WAL mode; only a power
        // loss can drop the last commits, never corrupt the file.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(15))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        // Deleted rows (purges, erasures) are zeroed on the pages SQLite writes anyway,
        // so "purged" does not linger in the file; FAST adds no extra I/O.
        .pragma("secure_delete", "FAST")
        .pragma("cache_size", if memory == super::Memory::Fast { "-65536" } else { "-4096" })
        // Reads through a memory map skip copying pages into the cache: statistics over a
        // million rows take half the time. Writes still go through SQLite's pager.
        .pragma("mmap_size", if memory == super::Memory::Fast { "268435456" } else { "0" })
        .log_statements(tracing::log::LevelFilter::Off)
        .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(2));

    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // Each connection holds up to 64 MB of page cache and its own map of the file; a
        // tray app that sits idle for hours should give that back, so idle connections close.
        .idle_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|source| open_error(url, source))?;
    if created {
        restrict_permissions(url);
    }
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A connection to the pool's database with the pool's settings that is not in the
/// pool: whatever its holder sets on it goes away with it.
pub(super) async fn own_connection(pool: &SqlitePool) -> Result<sqlx::SqliteConnection> {
    Ok(pool.connect_options().connect().await?)
}

/// Copies the write-ahead log into the database and empties it, on a connection of its own,
/// within about `wait` (writers wait while a try runs). A try gives way at once to a
/// checkpoint already running (the chat service's own, say) and is repeated after it. Erasure's
/// certificate checkpoint (`gdpr::wal_checkpoint`) waits the pool's full busy timeout instead.
/// Returns false when another connection kept the log from emptying in that time.
pub(super) async fn truncate_wal(pool: &SqlitePool, wait: std::time::Duration) -> Result<bool> {
    const RETRY: std::time::Duration = std::time::Duration::from_millis(10);
    let deadline = std::time::Instant::now() + wait;
    let mut conn = own_connection(pool).await?;
    let timeout = format!("PRAGMA busy_timeout = {}", wait.as_millis());
    sqlx::query(sqlx::AssertSqlSafe(timeout)).execute(&mut conn).await?;
    let emptied = loop {
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut conn).await?;
        if busy == 0 || std::time::Instant::now() + RETRY > deadline {
            break busy == 0;
        }
        tokio::time::sleep(RETRY).await;
    };
    sqlx::Connection::close(conn).await?;
    Ok(emptied)
}

pub(super) async fn applied_migrations(pool: &SqlitePool) -> Result<Vec<i64>> {
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await?;
    Ok(versions)
}

/// Creates the database's folder if needed, private to its owner (chat data is personal data).
fn prepare_parent_folder(path: &Path) -> Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(parent)
        .map_err(|e| StoreError::io(format!("cannot create the database folder {}", parent.display()), e))
}

/// A database chatkeep creates is readable by its owner only; SQLite gives its
/// WAL and shared-memory files the same permissions.
fn restrict_permissions(url: &DatabaseUrl) {
    #[cfg(unix)]
    if let DatabaseUrl::Sqlite(path) = url {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "could not make the new database private");
        }
    }
}

pub(super) fn open_error(url: &DatabaseUrl, source: sqlx::Error) -> StoreError {
    let location = url.to_string();
    let message = match &source {
        sqlx::Error::Database(db) if db.message().contains("unable to open") => {
            format!("cannot open the database {location}: check that the folder exists and is writable")
        }
        sqlx::Error::Database(db) if db.message().contains("not a database") => {
            format!("{location} is not a SQLite database: point DATABASE_URL at a chatkeep database file")
        }
        _ => format!("cannot open the database {location} (run with --verbose for details)"),
    };
    StoreError::Database { message, source }
}
