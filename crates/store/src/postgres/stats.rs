use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;
use crate::db_time::{from_db, to_db};
use crate::stats::{ConversationFigures, MessageFigures, live_conversations, live_messages};
use crate::{ConversationCounts, FileSize, MessageTally, TimeRange};

pub(crate) async fn conversation_counts(
    pool: &PgPool,
    active_since: DateTime<Utc>,
    old_before: DateTime<Utc>,
) -> Result<ConversationCounts> {
    // Every figure counts all conversations from an index, then subtracts the
    // expired ones found through their small partial index.
    let row: ConversationFigures = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations),
                (SELECT count(*) FROM conversations WHERE last_activity_at >= $1::timestamptz),
                (SELECT count(*) FROM conversations WHERE last_activity_at < $2::timestamptz)
                  + (SELECT count(*) FROM conversations
                     WHERE last_activity_at IS NULL AND created_at < $2::timestamptz),
                (SELECT count(*) FROM conversations WHERE expired_at IS NOT NULL),
                (SELECT count(*) FROM conversations
                  WHERE expired_at IS NOT NULL AND last_activity_at >= $1::timestamptz),
                (SELECT count(*) FROM conversations
                  WHERE expired_at IS NOT NULL AND coalesce(last_activity_at, created_at) < $2::timestamptz)",
    )
    .bind(to_db(active_since))
    .bind(to_db(old_before))
    .fetch_one(pool)
    .await?;
    Ok(live_conversations(row))
}

pub(crate) async fn message_tallies(pool: &PgPool, ranges: &[TimeRange]) -> Result<Vec<MessageTally>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let starts: Vec<String> = ranges.iter().map(|(start, _)| to_db(*start)).collect();
    let ends: Vec<String> = ranges.iter().map(|(_, end)| to_db(*end)).collect();
    // Every range in one statement. All messages come from the covering index on created_at
    // (tokens included), minus the expired ones from their partial index.
    let rows: Vec<MessageFigures> = sqlx::query_as(
        "SELECT everything.n, everything.tokens, expired.n, expired.tokens
         FROM unnest($1::text[]::timestamptz[], $2::text[]::timestamptz[]) WITH ORDINALITY AS r(s, e, i)
         CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(tokens_used), 0)::bigint AS tokens
                             FROM messages WHERE created_at >= r.s AND created_at < r.e) AS everything
         CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(tokens_used), 0)::bigint AS tokens
                             FROM messages
                             WHERE created_at >= r.s AND created_at < r.e AND expired_at IS NOT NULL) AS expired
         ORDER BY r.i",
    )
    .bind(starts)
    .bind(ends)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(live_messages).collect())
}

pub(crate) async fn message_time_bounds(pool: &PgPool) -> Result<Option<TimeRange>> {
    // PostgreSQL answers min and max each from one end of messages_created.
    let (min, max): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT ck_ts(min(created_at)), ck_ts(max(created_at)) FROM messages").fetch_one(pool).await?;
    Ok(match (min.as_deref().and_then(from_db), max.as_deref().and_then(from_db)) {
        (Some(min), Some(max)) => Some((min, max)),
        _ => None,
    })
}

/// The size of the current database on the server. PostgreSQL has no free-page list or
/// write-ahead log of one database's own (the WAL is the whole cluster's), so those read 0.
pub(crate) async fn file_size(pool: &PgPool) -> Result<FileSize> {
    let (bytes, page_size): (i64, i64) =
        sqlx::query_as("SELECT pg_database_size(current_database()), current_setting('block_size')::bigint")
            .fetch_one(pool)
            .await?;
    let pages = if page_size > 0 { bytes / page_size } else { 0 };
    Ok(FileSize { bytes, page_size, pages, free_pages: 0, wal_bytes: 0, one_file: false })
}
