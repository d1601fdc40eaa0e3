use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::error::Result;
use crate::store::{ConversationCounts, FileSize, MessageTally, TimeRange};
use crate::time::{from_db, to_db};

pub(crate) async fn conversation_counts(
    pool: &SqlitePool,
    active_since: DateTime<Utc>,
    old_before: DateTime<Utc>,
) -> Result<ConversationCounts> {
    // Two range counts on the last_activity index, and one plain count.
    let (total, active, old): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations WHERE expired_at IS NULL),
                (SELECT count(*) FROM conversations WHERE last_activity_at >= $1 AND expired_at IS NULL),
                (SELECT count(*) FROM conversations
                  WHERE coalesce(last_activity_at, created_at) < $2 AND expired_at IS NULL)",
    )
    .bind(to_db(active_since))
    .bind(to_db(old_before))
    .fetch_one(pool)
    .await?;
    Ok(ConversationCounts { total, active, old })
}

pub(crate) async fn message_tallies(pool: &SqlitePool, ranges: &[TimeRange]) -> Result<Vec<MessageTally>> {
    let mut conn = pool.acquire().await?;
    let mut tallies = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        // Served entirely by messages_created (created_at, tokens_used, expired_at).
        let (messages, tokens): (i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(tokens_used), 0) FROM messages INDEXED BY messages_created
             WHERE created_at >= $1 AND created_at < $2 AND expired_at IS NULL",
        )
        .bind(to_db(*start))
        .bind(to_db(*end))
        .fetch_one(&mut *conn)
        .await?;
        tallies.push(MessageTally { messages, tokens });
    }
    Ok(tallies)
}

pub(crate) async fn message_time_bounds(pool: &SqlitePool) -> Result<Option<TimeRange>> {
    let (min, max): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT min(created_at), max(created_at) FROM messages").fetch_one(pool).await?;
    Ok(match (min.as_deref().and_then(from_db), max.as_deref().and_then(from_db)) {
        (Some(min), Some(max)) => Some((min, max)),
        _ => None,
    })
}

pub(crate) async fn file_size(pool: &SqlitePool) -> Result<FileSize> {
    let mut conn = pool.acquire().await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await?;
    let free_pages: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&mut *conn).await?;
    let file: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(&mut *conn)
        .await?;
    let wal_bytes = file
        .filter(|f| !f.is_empty())
        .and_then(|f| std::fs::metadata(format!("{f}-wal")).ok())
        .map(|m| m.len() as i64)
        .unwrap_or(0);
    Ok(FileSize { bytes: page_size * pages, page_size, pages, free_pages, wal_bytes })
}
