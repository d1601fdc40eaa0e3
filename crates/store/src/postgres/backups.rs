//! The backup catalog on PostgreSQL, and the reads a monthly archive makes.
//!
//! Archive records are built here from typed rows, in the same field order and
//! compact form SQLite's `json_object` gives, so a month archived from either
//! engine holds the same lines.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::Result;
pub(crate) use crate::backups::postgres::*;
use crate::backups::{BackupRow, ExportTable, NewBackup};

const SELECT: &str = "SELECT id, kind, manual, ck_ts(range_start) AS range_start, ck_ts(range_end) AS range_end,
                             year, month, file_name, size_bytes, sha256, row_counts::text AS row_counts, encrypted,
                             status, error, ck_ts(created_at) AS created_at, ck_ts(verified_at) AS verified_at,
                             owner_pid
                      FROM backups";

/// A catalog row as PostgreSQL types it (`year`, `month` and `owner_pid` are `integer`).
#[derive(sqlx::FromRow)]
struct PgBackupRow {
    id: i64,
    kind: String,
    manual: bool,
    range_start: Option<String>,
    range_end: Option<String>,
    year: Option<i32>,
    month: Option<i32>,
    file_name: String,
    size_bytes: Option<i64>,
    sha256: Option<String>,
    row_counts: Option<String>,
    encrypted: bool,
    status: String,
    error: Option<String>,
    created_at: String,
    verified_at: Option<String>,
    owner_pid: Option<i32>,
}

impl From<PgBackupRow> for BackupRow {
    fn from(r: PgBackupRow) -> BackupRow {
        BackupRow {
            id: r.id,
            kind: r.kind,
            manual: r.manual,
            range_start: r.range_start,
            range_end: r.range_end,
            year: r.year,
            month: r.month.and_then(|m| u32::try_from(m).ok()),
            file_name: r.file_name,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            row_counts: r.row_counts,
            encrypted: r.encrypted,
            status: r.status,
            error: r.error,
            created_at: r.created_at,
            verified_at: r.verified_at,
            owner_pid: r.owner_pid.map(i64::from),
        }
    }
}

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<BackupRow>> {
    let rows: Vec<PgBackupRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY backups.created_at DESC, id DESC")))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(BackupRow::from).collect())
}

pub(crate) async fn by_id(pool: &PgPool, id: i64) -> Result<Option<BackupRow>> {
    let row: Option<PgBackupRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1"))).bind(id).fetch_optional(pool).await?;
    Ok(row.map(BackupRow::from))
}

pub(crate) async fn insert(conn: &mut PgConnection, new: &NewBackup<'_>, pid: u32) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO backups (kind, manual, range_start, range_end, year, month, file_name, encrypted, status,
                              created_at, owner_pid)
         VALUES ($1, $2, $3::timestamptz, $4::timestamptz, $5, $6, $7, $8, 'in_progress', $9::timestamptz, $10)
         RETURNING id",
    )
    .bind(new.kind)
    .bind(new.manual)
    .bind(new.range_start)
    .bind(new.range_end)
    .bind(new.year)
    .bind(new.month)
    .bind(new.file_name)
    .bind(new.encrypted)
    .bind(new.created_at)
    // Process ids fit an `integer` on every system chatkeep runs on; an odd one is simply not recorded.
    .bind(i32::try_from(pid).ok())
    .fetch_one(conn)
    .await?)
}

/// Ids come back as one `bigint[]` value: a month can hold a million messages, and one
/// array decodes far faster than a million one-column rows.
pub(crate) async fn message_ids_between(pool: &PgPool, start: &str, end: &str) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT coalesce(array_agg(id), '{}') FROM messages
         WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz",
    )
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn archive_conversation_ids(pool: &PgPool, start: &str, end: &str) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT coalesce(array_agg(id), '{}') FROM (
             SELECT conversation_id AS id FROM messages
             WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz
             UNION SELECT id FROM conversations WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz
         ) AS archived",
    )
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn referenced_users(pool: &PgPool, conversations: &[i64], messages: &[i64]) -> Result<Vec<i64>> {
    // The id lists are joined as sets (unnest), not probed one `= ANY` element at a time.
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT coalesce(array_agg(id), '{}') FROM (
             SELECT p.user_id AS id FROM participants p JOIN unnest($1::bigint[]) AS c(id) ON p.conversation_id = c.id
             UNION SELECT o.owner_id FROM conversations o JOIN unnest($1::bigint[]) AS c(id) ON o.id = c.id
                   WHERE o.owner_id IS NOT NULL
             UNION SELECT m.sender_id FROM messages m JOIN unnest($2::bigint[]) AS w(id) ON m.id = w.id
                   WHERE m.sender_id IS NOT NULL
             UNION SELECT r.user_id FROM message_reads r JOIN unnest($2::bigint[]) AS w(id) ON r.message_id = w.id
         ) AS referenced",
    )
    .bind(conversations)
    .bind(messages)
    .fetch_one(pool)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// One archive line: the record's type first, then its fields in SQLite's order.
#[derive(Serialize)]
struct Line<T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    record: T,
}

#[derive(Serialize, sqlx::FromRow)]
struct UserRecord {
    id: String,
    display_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    created_at: String,
    last_seen_at: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
struct ConversationRecord {
    id: String,
    title: Option<String>,
    kind: String,
    owner: Option<String>,
    #[serde(serialize_with = "json_text")]
    context: Option<String>,
    retention_policy: Option<String>,
    legal_hold: bool,
    created_at: String,
    last_activity_at: Option<String>,
    archived_at: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
struct ParticipantRecord {
    conversation: String,
    user: String,
    role: String,
    joined_at: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct MessageRecord {
    id: String,
    conversation: String,
    sender: Option<String>,
    role: String,
    kind: String,
    body: Option<String>,
    tokens_used: i64,
    reply_to: Option<String>,
    pinned: bool,
    created_at: String,
}

#[derive(Serialize, sqlx::FromRow)]
struct ReadRecord {
    message: String,
    user: String,
    read_at: String,
}

/// A `jsonb` column's text, embedded as JSON (not as a string), compact.
fn json_text<S: serde::Serializer>(text: &Option<String>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    match text {
        None => serializer.serialize_none(),
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(serde::ser::Error::custom)?;
            value.serialize(serializer)
        }
    }
}

async fn lines<T>(pool: &PgPool, kind: &'static str, sql: &'static str, ids: &[i64]) -> Result<String>
where
    T: Serialize + Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let records: Vec<T> = sqlx::query_as(sql).bind(ids).fetch_all(pool).await?;
    let mut out = String::with_capacity(records.len() * 256);
    for record in records {
        if !out.is_empty() {
            out.push('\n');
        }
        let line = serde_json::to_string(&Line { kind, record })
            .map_err(|e| crate::StoreError::Check(format!("cannot write an archive {kind} record: {e}")))?;
        out.push_str(&line);
    }
    Ok(out)
}

/// Canonical records, one line each, in id order (no trailing newline). The chosen ids are
/// joined as a set: `= ANY($1)` with thousands of ids in a prepared statement's generic plan
/// scans the whole table and tests each row against the list.
pub(crate) async fn export_lines(pool: &PgPool, what: ExportTable, ids: &[i64]) -> Result<String> {
    match what {
        ExportTable::Users => {
            lines::<UserRecord>(
                pool,
                "user",
                "SELECT external_id AS id, display_name, email, phone, ck_ts(created_at) AS created_at,
                        ck_ts(last_seen_at) AS last_seen_at
                 FROM unnest($1::bigint[]) AS chosen(id) JOIN users USING (id) ORDER BY users.id",
                ids,
            )
            .await
        }
        ExportTable::Conversations => {
            lines::<ConversationRecord>(
                pool,
                "conversation",
                "SELECT c.external_id AS id, c.title, c.kind, o.external_id AS owner, c.context::text AS context,
                        c.retention_policy, c.legal_hold, ck_ts(c.created_at) AS created_at,
                        ck_ts(c.last_activity_at) AS last_activity_at, ck_ts(c.archived_at) AS archived_at
                 FROM unnest($1::bigint[]) AS chosen(id) JOIN conversations c ON c.id = chosen.id
                 LEFT JOIN users o ON o.id = c.owner_id
                 ORDER BY c.id",
                ids,
            )
            .await
        }
        ExportTable::Participants => {
            lines::<ParticipantRecord>(
                pool,
                "participant",
                "SELECT c.external_id AS conversation, u.external_id AS user, p.role, ck_ts(p.joined_at) AS joined_at
                 FROM unnest($1::bigint[]) AS chosen(id) JOIN participants p ON p.conversation_id = chosen.id
                 JOIN conversations c ON c.id = p.conversation_id JOIN users u ON u.id = p.user_id
                 ORDER BY p.conversation_id, p.user_id",
                ids,
            )
            .await
        }
        ExportTable::Messages => {
            lines::<MessageRecord>(
                pool,
                "message",
                "SELECT m.external_id AS id, c.external_id AS conversation, s.external_id AS sender, m.role, m.kind,
                        m.body, m.tokens_used, r.external_id AS reply_to, m.pinned, ck_ts(m.created_at) AS created_at
                 FROM unnest($1::bigint[]) AS chosen(id) JOIN messages m ON m.id = chosen.id
                 JOIN conversations c ON c.id = m.conversation_id
                 LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
                 ORDER BY m.id",
                ids,
            )
            .await
        }
        ExportTable::Reads => {
            lines::<ReadRecord>(
                pool,
                "read",
                "SELECT m.external_id AS message, u.external_id AS user, ck_ts(r.read_at) AS read_at
                 FROM unnest($1::bigint[]) AS chosen(id) JOIN message_reads r ON r.message_id = chosen.id
                 JOIN messages m ON m.id = r.message_id JOIN users u ON u.id = r.user_id
                 ORDER BY r.message_id, r.user_id",
                ids,
            )
            .await
        }
    }
}
