//! chatkeep-store: the engine seam, and the only crate that knows the engines.
//!
//! Everything above it is engine-neutral: it holds a [`Store`] (or a [`Tx`]
//! inside a transaction) and calls methods named for what they do. The engine
//! is chosen from the database URL's scheme ([`DatabaseUrl`]). Each noun has
//! its file here (`audit.rs`, `backups.rs`, `retention.rs`, ...) with the SQL
//! both engines share written once (`shared.rs`); what an engine says its own
//! way lives beside, in `sqlite/` and `postgres/`. [`snapshot`] copies and
//! restores whole databases; [`schema`] reads a chat service's own tables.
//!
//! SQLite is the embedded default; PostgreSQL is the second variant, with its
//! own `postgres` module and `migrations/postgres/`.

#[macro_use]
mod shared;

/// Calls the engine's function of the same path for a [`Store`] or a [`Tx`]:
/// `on_engine!(self, Store(pool) => jobs::runs(pool, job).await)` runs
/// `sqlite::jobs::runs` or `postgres::jobs::runs` with the pool (or transaction) bound.
/// The one place a noun's method meets the engines whose SQL differs.
macro_rules! on_engine {
    ($value:expr, $kind:ident($conn:pat) => $($call:tt)+) => {
        match $value {
            $kind::Sqlite($conn) => crate::sqlite::$($call)+,
            $kind::Postgres($conn) => crate::postgres::$($call)+,
        }
    };
}

pub mod db_time;
pub mod error;
mod postgres;
pub mod schema;
pub mod snapshot;
mod sqlite;
mod url;

use chrono::{DateTime, Utc};

use chatkeep_domain::chat::{Conversation, Message, MessageRead, Participant, User};
pub use error::{Result, StoreError};
pub use url::DatabaseUrl;

/// The database driver, for tests that work on databases behind chatkeep's back
/// (feature `test-support`, a dev-dependency only).
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub use sqlx;

/// An open database, with its schema migrated.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// How much memory the engine may use for caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// Large page cache and a memory-mapped file: fastest for statistics and bulk work.
    Fast,
    /// Small page cache, no memory map: resident memory stays in the tens of MB.
    Lean,
}

/// A write transaction. Public operations own it: they begin, pass `&mut Tx`
/// to helpers, and commit (or drop it to roll back).
#[derive(Debug)]
pub enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'c, sqlx::Postgres>),
}

/// Where a run of short write batches (retention's stages) begins its transactions.
///
/// On a SQLite file it is a connection of the run's own, outside the pool, so the
/// run can set it up for the work at hand ([`BatchWriter::message_purge`]) without
/// lending a changed connection to anyone else.
/// Elsewhere (PostgreSQL, an in-memory database) it begins on the pool.
#[derive(Debug)]
pub struct BatchWriter {
    inner: BatchInner,
}

#[derive(Debug)]
enum BatchInner {
    Sqlite(sqlx::SqliteConnection),
    Pool(Store),
}

impl BatchWriter {
    /// Begins one batch's write transaction (see [`Store::begin`]).
    pub async fn begin(&mut self) -> Result<Tx<'_>> {
        match &mut self.inner {
            BatchInner::Sqlite(conn) => Ok(Tx::Sqlite(sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?)),
            BatchInner::Pool(store) => store.begin().await,
        }
    }

    /// Sets the writer up for message purge batches (`true`) or for any other work.
    ///
    /// A purge batch deletes every row that refers to its messages itself, first and in
    /// the same transaction (read receipts; replies are unlinked). SQLite's foreign-key
    /// checks would then look for references once per deleted message and find none, and
    /// those look-ups are a fifth to a half of a batch's statement time. So, on SQLite,
    /// when no other table refers to `messages`, they are off for these batches.
    pub async fn message_purge(&mut self, on: bool) -> Result<()> {
        match &mut self.inner {
            BatchInner::Sqlite(conn) => sqlite::retention::message_purge_mode(conn, on).await,
            BatchInner::Pool(_) => Ok(()),
        }
    }
}

/// What opening does about a PostgreSQL database the server does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Create it, as SQLite creates a missing file (setup, import, the demo, the apps).
    Create,
    /// Say it does not exist.
    Refuse,
}

impl Store {
    /// Opens (creating if needed) the database a URL names and applies every
    /// pending migration.
    pub async fn open(url: &DatabaseUrl) -> Result<Store> {
        Store::open_with(url, Memory::Fast).await
    }

    /// Opens with a memory profile: [`Memory::Lean`] for long streaming reads (exports)
    /// that must stay small whatever the database size.
    pub async fn open_with(url: &DatabaseUrl, memory: Memory) -> Result<Store> {
        Store::open_as(url, memory, Missing::Create).await
    }

    /// Opens a database that must already exist: a PostgreSQL database missing on the
    /// server is an error naming it, never created (for commands that only read or act
    /// on existing data, so a mistyped name never turns into an empty database).
    pub async fn open_existing(url: &DatabaseUrl, memory: Memory) -> Result<Store> {
        Store::open_as(url, memory, Missing::Refuse).await
    }

    async fn open_as(url: &DatabaseUrl, memory: Memory, missing: Missing) -> Result<Store> {
        match url {
            DatabaseUrl::Sqlite(_) | DatabaseUrl::SqliteMemory => Ok(Store::Sqlite(sqlite::open(url, memory).await?)),
            DatabaseUrl::Postgres(_) => Ok(Store::Postgres(postgres::open(url, memory, missing).await?)),
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a read-then-write never fails half way; on
    /// PostgreSQL writers lock only the rows they touch.
    pub async fn begin(&self) -> Result<Tx<'static>> {
        match self {
            Store::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Store::Postgres(pool) => Ok(Tx::Postgres(pool.begin().await?)),
        }
    }

    /// A writer for a run of short batches; see [`BatchWriter`].
    pub async fn batch_writer(&self) -> Result<BatchWriter> {
        let inner = match self {
            Store::Sqlite(pool) if has_spare_connection(pool) => {
                BatchInner::Sqlite(sqlite::own_connection(pool).await?)
            }
            _ => BatchInner::Pool(self.clone()),
        };
        Ok(BatchWriter { inner })
    }

    /// A connection that tells when anyone else has committed (SQLite `data_version`),
    /// so batched work can step aside until a waiting writer has had its turn.
    /// `None` when the store has a single connection (an in-memory database) to spare, and on
    /// PostgreSQL, where writers lock rows, not the database, and never wait on a batch.
    pub async fn watcher(&self) -> Result<Option<Watcher>> {
        match self {
            Store::Postgres(_) => Ok(None),
            Store::Sqlite(pool) if !has_spare_connection(pool) => Ok(None),
            Store::Sqlite(pool) => Ok(Some(Watcher::Sqlite(pool.acquire().await?))),
        }
    }

    /// After a run that deleted or overwrote rows: SQLite copies its write-ahead log into the
    /// database file and empties it, so earlier versions of those rows do not stay behind in
    /// old log frames. It gives up after about `wait` (the chat service's readers, or its own
    /// checkpoint, holding on); other writers wait while it runs. `Some(false)`: it gave up,
    /// and later checkpoints overwrite the frames instead. `None` where there is no such log
    /// (PostgreSQL manages its own; an in-memory database has none).
    pub async fn truncate_wal(&self, wait: std::time::Duration) -> Result<Option<bool>> {
        match self {
            Store::Sqlite(pool) if has_spare_connection(pool) => Ok(Some(sqlite::truncate_wal(pool, wait).await?)),
            Store::Sqlite(_) | Store::Postgres(_) => Ok(None),
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// Names of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        on_engine!(self, Store(pool) => applied_migrations(pool).await)
    }
}

/// Whether a SQLite store may open connections beside its pool's one: an in-memory
/// database has a single connection, and another would see a different database.
fn has_spare_connection(pool: &sqlx::SqlitePool) -> bool {
    pool.options().get_max_connections() > 1
}

/// See [`Store::watcher`].
#[derive(Debug)]
pub enum Watcher {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
}

impl Watcher {
    /// A number that changes whenever another connection commits.
    pub async fn version(&mut self) -> Result<i64> {
        match self {
            Watcher::Sqlite(conn) => Ok(sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut **conn).await?),
        }
    }
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.commit().await?),
            Tx::Postgres(tx) => Ok(tx.commit().await?),
        }
    }
}

/// The highest ids in use, so bulk writers can assign ids themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxIds {
    pub user: i64,
    pub conversation: i64,
    pub message: i64,
}

/// A batch of new rows, written with multi-row inserts.
#[derive(Debug, Default)]
pub struct ChatBatch {
    pub users: Vec<User>,
    pub conversations: Vec<Conversation>,
    pub participants: Vec<Participant>,
    pub messages: Vec<Message>,
    pub reads: Vec<MessageRead>,
}

impl ChatBatch {
    pub fn row_count(&self) -> usize {
        self.users.len() + self.conversations.len() + self.participants.len() + self.messages.len() + self.reads.len()
    }

    pub fn clear(&mut self) {
        self.users.clear();
        self.conversations.clear();
        self.participants.clear();
        self.messages.clear();
        self.reads.clear();
    }
}

/// Message count and tokens over a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MessageTally {
    pub messages: i64,
    pub tokens: i64,
}

/// A half-open UTC range [start, end).
pub type TimeRange = (DateTime<Utc>, DateTime<Utc>);

mod audit;
pub mod backups;
mod chat;
pub mod erasure;
pub mod export;
pub mod gdpr;
mod holds;
pub mod jobs;
pub mod maintenance;
pub mod retention;
pub mod rules;
mod settings;
mod stats;

pub use audit::{AuditFilter, AuditRow};
pub use chat::{Entity, Upserted};
pub use stats::{ConversationCounts, FileSize};
