use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::Result;
use crate::db_time::{from_db, to_db};
use crate::stats::{ConversationFigures, MessageFigures, live_conversations, live_messages};
use crate::{ConversationCounts, FileSize, MessageTally, TimeRange};

pub(crate) async fn conversation_counts(
    pool: &SqlitePool,
    active_since: DateTime<Utc>,
    old_before: DateTime<Utc>,
) -> Result<ConversationCounts> {
    // Every figure counts all conversations from an index, then subtracts the
    // expired ones found through their small partial index.
    let row: ConversationFigures = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations),
                (SELECT count(*) FROM conversations WHERE last_activity_at >= $1),
                (SELECT count(*) FROM conversations WHERE last_activity_at < $2)
                  + (SELECT count(*) FROM conversations WHERE last_activity_at IS NULL AND created_at < $2),
                (SELECT count(*) FROM conversations WHERE expired_at IS NOT NULL),
                (SELECT count(*) FROM conversations WHERE expired_at IS NOT NULL AND last_activity_at >= $1),
                (SELECT count(*) FROM conversations
                  WHERE expired_at IS NOT NULL AND coalesce(last_activity_at, created_at) < $2)",
    )
    .bind(to_db(active_since))
    .bind(to_db(old_before))
    .fetch_one(pool)
    .await?;
    Ok(live_conversations(row))
}

pub(crate) async fn message_tallies(pool: &SqlitePool, ranges: &[TimeRange]) -> Result<Vec<MessageTally>> {
    // Two connections share the ranges: WAL lets readers run side by side.
    let (first, second) = ranges.split_at(ranges.len() / 2);
    let (a, b) = tokio::try_join!(tallies_on_one_connection(pool, first), tallies_on_one_connection(pool, second))?;
    Ok(a.into_iter().chain(b).collect())
}

async fn tallies_on_one_connection(pool: &SqlitePool, ranges: &[TimeRange]) -> Result<Vec<MessageTally>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    let mut tallies = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        // All messages from the covering index, minus the expired ones from their partial index.
        let row: MessageFigures = sqlx::query_as(
            "SELECT everything.n, everything.tokens, expired.n, expired.tokens
             FROM (SELECT count(*) AS n, coalesce(sum(tokens_used), 0) AS tokens
                   FROM messages INDEXED BY messages_created
                   WHERE created_at >= $1 AND created_at < $2) AS everything,
                  (SELECT count(*) AS n, coalesce(sum(tokens_used), 0) AS tokens
                   FROM messages INDEXED BY messages_expired
                   WHERE created_at >= $1 AND created_at < $2 AND expired_at IS NOT NULL) AS expired",
        )
        .bind(to_db(*start))
        .bind(to_db(*end))
        .fetch_one(&mut *conn)
        .await?;
        tallies.push(live_messages(row));
    }
    Ok(tallies)
}

pub(crate) async fn message_time_bounds(pool: &SqlitePool) -> Result<Option<TimeRange>> {
    // Two subqueries: SQLite answers each from one end of the index; min and max
    // together in one SELECT would scan the whole table.
    let (min, max): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT (SELECT min(created_at) FROM messages), (SELECT max(created_at) FROM messages)")
            .fetch_one(pool)
            .await?;
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
    Ok(FileSize { bytes: page_size * pages, page_size, pages, free_pages, wal_bytes, one_file: true })
}
