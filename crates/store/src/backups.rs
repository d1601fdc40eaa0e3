//! The backup catalog (`backups`) and the reads a backup makes: a month's
//! chat rows as canonical JSONL. (Database snapshots are `snapshot/`.)

use serde::Serialize;

use super::{Store, Tx};
use crate::Result;

/// One catalog row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BackupRow {
    pub id: i64,
    pub kind: String,
    pub manual: bool,
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub file_name: String,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    /// Rows per table, as JSON.
    pub row_counts: Option<String>,
    pub encrypted: bool,
    pub status: String,
    pub error: Option<String>,
    pub created_at: String,
    pub verified_at: Option<String>,
    #[serde(skip)]
    pub owner_pid: Option<i64>,
}

/// A new catalog row, before the file exists.
#[derive(Debug, Clone)]
pub struct NewBackup<'a> {
    pub kind: &'a str,
    pub manual: bool,
    pub range_start: Option<&'a str>,
    pub range_end: Option<&'a str>,
    pub year: Option<i32>,
    pub month: Option<i32>,
    pub file_name: &'a str,
    pub encrypted: bool,
    pub created_at: &'a str,
}

/// How a backup ended.
#[derive(Debug, Clone)]
pub struct Finished<'a> {
    pub status: &'a str,
    pub size_bytes: Option<i64>,
    pub sha256: Option<&'a str>,
    pub row_counts: Option<&'a str>,
    pub manifest: Option<&'a str>,
    pub error: Option<&'a str>,
    pub verified_at: Option<&'a str>,
}

impl<'a> Finished<'a> {
    /// Failed, with the reason; nothing else changes.
    pub fn failed(error: &'a str) -> Self {
        Finished {
            status: "failed",
            size_bytes: None,
            sha256: None,
            row_counts: None,
            manifest: None,
            error: Some(error),
            verified_at: None,
        }
    }

    /// Verified again at `at` (clears an earlier error); nothing else changes.
    pub fn reverified(at: &'a str) -> Self {
        Finished { status: "verified", error: None, verified_at: Some(at), ..Finished::failed("") }
    }
}

impl Store {
    pub async fn backups(&self) -> Result<Vec<BackupRow>> {
        on_engine!(self, Store(pool) => backups::list(pool).await)
    }

    pub async fn backup(&self, id: i64) -> Result<Option<BackupRow>> {
        on_engine!(self, Store(pool) => backups::by_id(pool, id).await)
    }

    /// The manifest recorded in the catalog when the backup was written (JSON text).
    pub async fn backup_manifest(&self, id: i64) -> Result<Option<String>> {
        on_engine!(self, Store(pool) => backups::manifest(pool, id).await)
    }

    /// The highest erasure-ledger id (0 when empty).
    pub async fn erasure_ledger_position(&self) -> Result<i64> {
        on_engine!(self, Store(pool) => backups::ledger_position(pool).await)
    }

    /// Ids of messages created in `[start, end)`, ascending.
    pub async fn message_ids_created_between(&self, start: &str, end: &str) -> Result<Vec<i64>> {
        on_engine!(self, Store(pool) => backups::message_ids_between(pool, start, end).await)
    }

    /// Canonical JSONL lines (no trailing newline) for one table's rows chosen by ids.
    pub async fn export_lines(&self, what: ExportTable, ids: &[i64]) -> Result<String> {
        on_engine!(self, Store(pool) => backups::export_lines(pool, what, ids).await)
    }

    /// The conversations a month's archive holds: with a message in it, or created in it.
    pub async fn archive_conversation_ids(&self, start: &str, end: &str) -> Result<Vec<i64>> {
        on_engine!(self, Store(pool) => backups::archive_conversation_ids(pool, start, end).await)
    }

    /// Every user the given conversations and messages refer to.
    pub async fn referenced_user_ids(&self, conversations: &[i64], messages: &[i64]) -> Result<Vec<i64>> {
        on_engine!(self, Store(pool) => backups::referenced_users(pool, conversations, messages).await)
    }

    /// The database file, for engines that keep one (SQLite).
    pub fn database_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Store::Sqlite(pool) => {
                let path = pool.connect_options().get_filename().to_path_buf();
                (!path.as_os_str().is_empty() && path.as_os_str() != ":memory:").then_some(path)
            }
            Store::Postgres(_) => None,
        }
    }
}

/// The tables an archive exports, in the order an import needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTable {
    Users,
    Conversations,
    Participants,
    Messages,
    Reads,
}

impl ExportTable {
    pub const ALL: [ExportTable; 5] = [
        ExportTable::Users,
        ExportTable::Conversations,
        ExportTable::Participants,
        ExportTable::Messages,
        ExportTable::Reads,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            ExportTable::Users => "users.jsonl",
            ExportTable::Conversations => "conversations.jsonl",
            ExportTable::Participants => "participants.jsonl",
            ExportTable::Messages => "messages.jsonl",
            ExportTable::Reads => "reads.jsonl",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            ExportTable::Users => "users",
            ExportTable::Conversations => "conversations",
            ExportTable::Participants => "participants",
            ExportTable::Messages => "messages",
            ExportTable::Reads => "message_reads",
        }
    }
}

impl Tx<'_> {
    pub async fn insert_backup(&mut self, new: &NewBackup<'_>) -> Result<i64> {
        on_engine!(self, Tx(tx) => backups::insert(tx, new, std::process::id()).await)
    }

    pub async fn finish_backup(&mut self, id: i64, finished: &Finished<'_>) -> Result<()> {
        on_engine!(self, Tx(tx) => backups::finish(tx, id, finished).await)
    }

    pub async fn delete_backup(&mut self, id: i64) -> Result<()> {
        on_engine!(self, Tx(tx) => backups::delete(tx, id).await)
    }
}

// ---- shared by both engines ----

both_engines! {
    /// The manifest recorded when the backup was written, as its exact text.
    pub(crate) async fn manifest(pool: &Pool, id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(concat!("SELECT ", text_of!("manifest"), " FROM backups WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .flatten())
    }

    pub(crate) async fn finish(conn: &mut Conn, id: i64, f: &Finished<'_>) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE backups SET status = $2, size_bytes = coalesce($3, size_bytes), sha256 = coalesce($4, sha256),
                    row_counts = coalesce(", json!(5), ", row_counts), manifest = coalesce(", json!(6), ", manifest),
                    error = $7, verified_at = coalesce(", ts!(8), ", verified_at), owner_pid = NULL
             WHERE id = $1"
        ))
        .bind(id)
        .bind(f.status)
        .bind(f.size_bytes)
        .bind(f.sha256)
        .bind(f.row_counts)
        .bind(f.manifest)
        .bind(f.error)
        .bind(f.verified_at)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn delete(conn: &mut Conn, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM backups WHERE id = $1").bind(id).execute(conn).await?;
        Ok(())
    }

    /// The erasure ledger's newest entry, recorded in a backup's manifest.
    pub(crate) async fn ledger_position(pool: &Pool) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM erasure_ledger").fetch_one(pool).await?)
    }
}
