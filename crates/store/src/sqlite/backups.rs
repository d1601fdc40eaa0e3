use sqlx::{SqliteConnection, SqlitePool};

use super::retention::ids_json;
use crate::Result;
pub(crate) use crate::backups::sqlite::*;
use crate::backups::{BackupRow, ExportTable, NewBackup};

const SELECT: &str = "SELECT id, kind, manual, range_start, range_end, year, month, file_name, size_bytes, sha256,
                             row_counts, encrypted, status, error, created_at, verified_at, owner_pid
                      FROM backups";

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<BackupRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY created_at DESC, id DESC")))
        .fetch_all(pool)
        .await?)
}

pub(crate) async fn by_id(pool: &SqlitePool, id: i64) -> Result<Option<BackupRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1"))).bind(id).fetch_optional(pool).await?)
}

pub(crate) async fn insert(conn: &mut SqliteConnection, new: &NewBackup<'_>, pid: u32) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO backups (kind, manual, range_start, range_end, year, month, file_name, encrypted, status,
                              created_at, owner_pid)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'in_progress', $9, $10) RETURNING id",
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
    .bind(i64::from(pid))
    .fetch_one(conn)
    .await?)
}

async fn id_list(pool: &SqlitePool, sql: &str, binds: &[&str]) -> Result<Vec<i64>> {
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()));
    for b in binds {
        query = query.bind(b.to_string());
    }
    super::from_json(&query.fetch_one(pool).await?, "id list")
}

pub(crate) async fn message_ids_between(pool: &SqlitePool, start: &str, end: &str) -> Result<Vec<i64>> {
    let mut ids = id_list(
        pool,
        "SELECT coalesce(json_group_array(id), '[]') FROM messages INDEXED BY messages_created
         WHERE created_at >= $1 AND created_at < $2",
        &[start, end],
    )
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn archive_conversation_ids(pool: &SqlitePool, start: &str, end: &str) -> Result<Vec<i64>> {
    let mut ids = id_list(
        pool,
        "SELECT coalesce(json_group_array(id), '[]') FROM (
             SELECT DISTINCT conversation_id AS id FROM messages INDEXED BY messages_created
             WHERE created_at >= $1 AND created_at < $2
             UNION SELECT id FROM conversations WHERE created_at >= $1 AND created_at < $2)",
        &[start, end],
    )
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn referenced_users(pool: &SqlitePool, conversations: &[i64], messages: &[i64]) -> Result<Vec<i64>> {
    let json: String = sqlx::query_scalar(
        "SELECT coalesce(json_group_array(id), '[]') FROM (
             SELECT user_id AS id FROM participants WHERE conversation_id IN (SELECT value FROM json_each($1))
             UNION SELECT owner_id FROM conversations
                   WHERE id IN (SELECT value FROM json_each($1)) AND owner_id IS NOT NULL
             UNION SELECT sender_id FROM messages
                   WHERE id IN (SELECT value FROM json_each($2)) AND sender_id IS NOT NULL
             UNION SELECT user_id FROM message_reads WHERE message_id IN (SELECT value FROM json_each($2)))",
    )
    .bind(ids_json(conversations))
    .bind(ids_json(messages))
    .fetch_one(pool)
    .await?;
    let mut ids: Vec<i64> = super::from_json(&json, "id list")?;
    ids.sort_unstable();
    Ok(ids)
}

/// Canonical records, built by SQLite itself, one line each.
pub(crate) async fn export_lines(pool: &SqlitePool, what: ExportTable, ids: &[i64]) -> Result<String> {
    let bool_json = |column: &str| format!("CASE WHEN {column} THEN json('true') ELSE json('false') END");
    let sql = match what {
        ExportTable::Users => "SELECT json_object('type', 'user', 'id', external_id, 'display_name', display_name,
                                   'email', email, 'phone', phone, 'created_at', created_at,
                                   'last_seen_at', last_seen_at) AS line
                               FROM users WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id"
            .to_string(),
        ExportTable::Conversations => format!(
            "SELECT json_object('type', 'conversation', 'id', c.external_id, 'title', c.title, 'kind', c.kind,
                    'owner', o.external_id, 'context', json(c.context), 'retention_policy', c.retention_policy,
                    'legal_hold', {}, 'created_at', c.created_at, 'last_activity_at', c.last_activity_at,
                    'archived_at', c.archived_at) AS line
             FROM conversations c LEFT JOIN users o ON o.id = c.owner_id
             WHERE c.id IN (SELECT value FROM json_each($1)) ORDER BY c.id",
            bool_json("c.legal_hold")
        ),
        ExportTable::Participants => "SELECT json_object('type', 'participant', 'conversation', c.external_id,
                                          'user', u.external_id, 'role', p.role, 'joined_at', p.joined_at) AS line
                                      FROM participants p JOIN conversations c ON c.id = p.conversation_id
                                      JOIN users u ON u.id = p.user_id
                                      WHERE p.conversation_id IN (SELECT value FROM json_each($1))
                                      ORDER BY p.conversation_id, p.user_id"
            .to_string(),
        ExportTable::Messages => format!(
            "SELECT json_object('type', 'message', 'id', m.external_id, 'conversation', c.external_id,
                    'sender', s.external_id, 'role', m.role, 'kind', m.kind, 'body', m.body,
                    'tokens_used', m.tokens_used, 'reply_to', r.external_id, 'pinned', {},
                    'created_at', m.created_at) AS line
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
             WHERE m.id IN (SELECT value FROM json_each($1)) ORDER BY m.id",
            bool_json("m.pinned")
        ),
        ExportTable::Reads => "SELECT json_object('type', 'read', 'message', m.external_id, 'user', u.external_id,
                                   'read_at', r.read_at) AS line
                               FROM message_reads r JOIN messages m ON m.id = r.message_id
                               JOIN users u ON u.id = r.user_id
                               WHERE r.message_id IN (SELECT value FROM json_each($1))
                               ORDER BY r.message_id, r.user_id"
            .to_string(),
    };
    let wrapped = format!("SELECT coalesce(group_concat(line, char(10)), '') FROM ({sql})");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(wrapped)).bind(ids_json(ids)).fetch_one(pool).await?)
}
