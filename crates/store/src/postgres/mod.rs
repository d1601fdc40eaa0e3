//! PostgreSQL: for teams whose chat service already runs on a server. The same
//! canonical schema with PostgreSQL's own types (`timestamptz`, `json`,
//! booleans); instants cross the seam as chatkeep's canonical UTC text
//! ('YYYY-MM-DDTHH:MM:SS.mmmZ'): parameters are cast with `::timestamptz` and
//! results come back through the schema's `ck_ts()` function, so everything
//! above the store sees exactly what it sees on SQLite.

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
pub(super) use crate::settings::postgres as settings;
pub(super) mod stats;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::DatabaseUrl;
use crate::{Result, StoreError};

/// Reads a value PostgreSQL folded into one JSON text (`json_agg(...)`): a page of rows
/// crosses from the server as one value instead of one message per row.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::invalid(format!("unexpected {what} from PostgreSQL: {e}")))
}

/// How long a server may take to answer the first connection before chatkeep says it cannot reach it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connects to the server a URL names, creating the database if the server has
/// none by that name (as SQLite creates a missing file), and applies every pending migration.
pub(super) async fn open(url: &DatabaseUrl, memory: super::Memory, missing: super::Missing) -> Result<PgPool> {
    let DatabaseUrl::Postgres(text) = url else {
        unreachable!("the store dispatches SQLite URLs elsewhere");
    };
    let options = PgConnectOptions::from_str(text)
        .map_err(|source| open_error(url, source))?
        .application_name("chatkeep")
        .log_statements(tracing::log::LevelFilter::Off)
        .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(2));
    create_database_if_missing(url, &options, missing).await?;
    let pool = PgPoolOptions::new()
        .max_connections(if memory == super::Memory::Fast { 8 } else { 4 })
        .min_connections(0)
        .idle_timeout(Duration::from_secs(30))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|source| open_error(url, source))?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

async fn create_database_if_missing(
    url: &DatabaseUrl,
    options: &PgConnectOptions,
    missing: super::Missing,
) -> Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    // Ask the server's maintenance database. A server that does not answer is said at
    // once (the pool below would retry until its acquire timeout); any other refusal
    // (no access to that database, say) is left to the real connection to report.
    let admin = tokio::time::timeout(CONNECT_TIMEOUT, options.clone().database("postgres").connect()).await;
    let mut admin = match admin {
        Ok(Ok(admin)) => admin,
        Ok(Err(source @ sqlx::Error::Io(_))) => return Err(open_error(url, source)),
        Err(_) => return Err(open_error(url, sqlx::Error::PoolTimedOut)),
        Ok(Err(_)) => return Ok(()),
    };
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists && missing == super::Missing::Refuse {
        let _ = admin.close().await;
        return Err(StoreError::invalid(format!(
            "the PostgreSQL database {name:?} does not exist on {}: check the name in DATABASE_URL \
             (chatkeep creates a database only when data is put in: `chatkeep import`, `chatkeep demo seed`, \
             the daemon or the desktop app)",
            options.get_host()
        )));
    }
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        if let Err(source) =
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).execute(&mut admin).await
        {
            // Another process may have created it in the meantime; anything else is the user's to see.
            let raced = matches!(&source, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"));
            if !raced {
                return Err(open_error(url, source));
            }
        }
        tracing::info!(database = %name, "created the PostgreSQL database");
    }
    let _ = admin.close().await;
    Ok(())
}

pub(super) async fn applied_migrations(pool: &PgPool) -> Result<Vec<i64>> {
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await?;
    Ok(versions)
}

pub(super) fn open_error(url: &DatabaseUrl, source: sqlx::Error) -> StoreError {
    let location = url.to_string();
    let message = match &source {
        sqlx::Error::Configuration(_) => {
            format!("{location} is not a valid PostgreSQL URL: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => format!(
            "cannot reach the PostgreSQL server at {location}: check that it is running and that host and port are right"
        ),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01") || db.code().as_deref() == Some("28000") => {
            format!("PostgreSQL refused the login for {location}: check the user name and password in DATABASE_URL")
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
            format!(
                "the PostgreSQL user in {location} may not create that database: create it first (createdb) or grant CREATEDB"
            )
        }
        sqlx::Error::Database(db) => format!("cannot open the PostgreSQL database {location}: {}", db.message()),
        _ => format!("cannot open the PostgreSQL database {location} (run with --verbose for details)"),
    };
    StoreError::Database { message, source }
}
