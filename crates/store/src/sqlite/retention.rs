//! Retention's SQL on SQLite. Selections run on a read connection (WAL lets
//! them proceed while the chat service writes); every write takes a batch of
//! ids, re-checks the same conditions inside its short transaction (a hold
//! placed a moment ago still wins), and reports the ids it changed.

use sqlx::{SqliteConnection, SqlitePool};

use crate::Result;
use crate::retention::{
    Candidate, ConversationLabel, LabelRow, PolicyCutoff, PurgedMessages, VERIFIED_ARCHIVE, in_verified_archive, label,
    referenced_elsewhere,
};

/// True when the conversation id in `conv` is under no hold: the chat service's
/// `legal_hold` flag, an active hold on the conversation, or one on a participant.
/// The two sub-selects are uncorrelated and tiny (they read partial indexes of
/// active holds), so SQLite evaluates them once per statement.
fn not_held(conv: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM conversations hc WHERE hc.id = {conv} AND hc.legal_hold = 1)
         AND {conv} NOT IN (SELECT conversation_id FROM legal_holds
                             WHERE released_at IS NULL AND conversation_id IS NOT NULL)
         AND {conv} NOT IN (SELECT hp.conversation_id FROM legal_holds hh
                             JOIN participants hp ON hp.user_id = hh.user_id
                             WHERE hh.released_at IS NULL AND hh.user_id IS NOT NULL)"
    )
}

/// Every participant other than the sender (and bots, which never read) has a read receipt.
const FULLY_READ: &str = "NOT EXISTS (SELECT 1 FROM participants rp
                   WHERE rp.conversation_id = m.conversation_id
                     AND rp.user_id IS NOT m.sender_id AND rp.role <> 'bot'
                     AND NOT EXISTS (SELECT 1 FROM message_reads rr
                                      WHERE rr.message_id = m.id AND rr.user_id = rp.user_id))";

/// The day-count policies and their cutoffs, as a table: `[[policy-or-null, cutoff], ...]`.
const CUTOFFS: &str = "cutoffs(policy, cutoff) AS (SELECT value ->> 0, value ->> 1 FROM json_each($1))";

fn cutoffs_json(cutoffs: &[PolicyCutoff]) -> String {
    serde_json::Value::Array(
        cutoffs.iter().map(|c| serde_json::json!([c.policy.as_deref(), c.cutoff.as_str()])).collect(),
    )
    .to_string()
}

pub(crate) fn ids_json(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('[');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

/// Runs a `SELECT json_group_array(id) ...` and reads the ids back: one row
/// crosses from SQLite instead of one per id.
async fn id_list(
    query: sqlx::query::QueryScalar<'_, sqlx::Sqlite, String, sqlx::sqlite::SqliteArguments>,
    conn: &mut SqliteConnection,
) -> Result<Vec<i64>> {
    super::from_json(&query.fetch_one(conn).await?, "id list")
}

type CandidateRow = (i64, i64, String);

/// Runs a candidate query (columns id, conversation_id, created_at) with its rows
/// folded into one JSON array: hundreds of thousands of rows cross from SQLite
/// as one value instead of one message each.
async fn fetch_candidates(
    query: sqlx::query::QueryScalar<'_, sqlx::Sqlite, String, sqlx::sqlite::SqliteArguments>,
    pool: &SqlitePool,
) -> Result<Vec<Candidate>> {
    let rows: Vec<CandidateRow> = super::from_json(&query.fetch_one(pool).await?, "candidate list")?;
    Ok(candidates(rows))
}

fn folded(inner: &str) -> String {
    format!("SELECT coalesce(json_group_array(json_array(id, conversation_id, created_at)), '[]') FROM ({inner})")
}

fn candidates(rows: Vec<CandidateRow>) -> Vec<Candidate> {
    rows.into_iter().map(|(id, conversation_id, created_at)| Candidate { id, conversation_id, created_at }).collect()
}

pub(crate) async fn policy_groups(pool: &SqlitePool) -> Result<Vec<(Option<String>, i64)>> {
    Ok(sqlx::query_as("SELECT retention_policy, count(*) FROM conversations GROUP BY retention_policy ORDER BY 1")
        .fetch_all(pool)
        .await?)
}

pub(crate) async fn held_conversations(pool: &SqlitePool) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM conversations WHERE legal_hold = 1
         UNION SELECT conversation_id FROM legal_holds WHERE released_at IS NULL AND conversation_id IS NOT NULL
         UNION SELECT p.conversation_id FROM legal_holds h JOIN participants p ON p.user_id = h.user_id
               WHERE h.released_at IS NULL AND h.user_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await?)
}

/// Live messages older than their conversation's day-count cutoff (holds not considered).
pub(crate) async fn aged_messages(pool: &SqlitePool, cutoffs: &[PolicyCutoff]) -> Result<Vec<Candidate>> {
    let sql = format!(
        "WITH {CUTOFFS}
         SELECT m.id, m.conversation_id, m.created_at
         FROM cutoffs k
         JOIN conversations c ON c.retention_policy IS k.policy
         CROSS JOIN messages m ON m.conversation_id = c.id AND m.created_at < k.cutoff
         WHERE m.expired_at IS NULL"
    );
    fetch_candidates(sqlx::query_scalar(sqlx::AssertSqlSafe(folded(&sql))).bind(cutoffs_json(cutoffs)), pool).await
}

/// Live messages of `instant` conversations that everyone has read.
pub(crate) async fn read_messages(pool: &SqlitePool) -> Result<Vec<Candidate>> {
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.created_at
         FROM conversations c CROSS JOIN messages m ON m.conversation_id = c.id
         WHERE c.retention_policy = 'instant' AND m.expired_at IS NULL AND {FULLY_READ}"
    );
    fetch_candidates(sqlx::query_scalar(sqlx::AssertSqlSafe(folded(&sql))), pool).await
}

/// Messages expired before this run and at or before the grace cutoff (holds not considered).
pub(crate) async fn purgeable_messages(pool: &SqlitePool, now: &str, grace_cutoff: &str) -> Result<Vec<Candidate>> {
    let sql = folded(
        "SELECT m.id, m.conversation_id, m.created_at FROM messages m INDEXED BY messages_expired
         WHERE m.expired_at IS NOT NULL AND m.expired_at < $1 AND m.expired_at <= $2",
    );
    fetch_candidates(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(now).bind(grace_cutoff), pool).await
}

/// Live conversations with nothing newer than their cutoff; `instant` ones use
/// the default cutoff for idleness and must have no unread live message.
pub(crate) async fn aged_conversations(
    pool: &SqlitePool,
    cutoffs: &[PolicyCutoff],
    instant_cutoff: &str,
) -> Result<Vec<Candidate>> {
    let sql = format!(
        "WITH {CUTOFFS}
         SELECT c.id, c.id, c.created_at
         FROM cutoffs k JOIN conversations c ON c.retention_policy IS k.policy
         WHERE c.expired_at IS NULL AND c.created_at < k.cutoff
           AND coalesce(c.last_activity_at, c.created_at) < k.cutoff
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= k.cutoff)
         UNION ALL
         SELECT c.id, c.id, c.created_at FROM conversations c
         WHERE c.retention_policy = 'instant' AND c.expired_at IS NULL AND c.created_at < $2
           AND coalesce(c.last_activity_at, c.created_at) < $2
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= $2)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.expired_at IS NULL
                             AND NOT {FULLY_READ})"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(cutoffs_json(cutoffs))
        .bind(instant_cutoff)
        .fetch_all(pool)
        .await?;
    Ok(candidates(rows))
}

/// Conversations expired before this run and past grace, with how many messages they still hold.
pub(crate) async fn purgeable_conversations(
    pool: &SqlitePool,
    now: &str,
    grace_cutoff: &str,
) -> Result<Vec<(Candidate, i64)>> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT c.id, c.created_at, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
         FROM conversations c
         WHERE c.expired_at IS NOT NULL AND c.expired_at < $1 AND c.expired_at <= $2",
    )
    .bind(now)
    .bind(grace_cutoff)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, created_at, n)| (Candidate { id, conversation_id: id, created_at }, n)).collect())
}

/// Live, unarchived conversations idle since `before` (of kind bot only, when asked).
pub(crate) async fn idle_conversations(pool: &SqlitePool, before: &str, bots_only: bool) -> Result<Vec<Candidate>> {
    let rows = sqlx::query_as(
        "SELECT id, id, created_at FROM conversations
         WHERE archived_at IS NULL AND expired_at IS NULL AND ($2 = 0 OR kind = 'bot')
           AND coalesce(last_activity_at, created_at) < $1",
    )
    .bind(before)
    .bind(bots_only)
    .fetch_all(pool)
    .await?;
    Ok(candidates(rows))
}

/// Live messages whose expiry falls in a window: `[[policy, from, to], ...]` by creation time.
pub(crate) async fn messages_created_between(
    pool: &SqlitePool,
    windows: &[(Option<String>, String, String)],
) -> Result<Vec<(i64, String, Option<String>)>> {
    let json = serde_json::Value::Array(
        windows.iter().map(|(policy, from, to)| serde_json::json!([policy.as_deref(), from, to])).collect(),
    )
    .to_string();
    Ok(sqlx::query_as(
        "WITH windows(policy, lo, hi) AS (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each($1))
         SELECT m.conversation_id, m.created_at, c.retention_policy
         FROM windows w JOIN conversations c ON c.retention_policy IS w.policy
         CROSS JOIN messages m ON m.conversation_id = c.id AND m.created_at >= w.lo AND m.created_at < w.hi
         WHERE m.expired_at IS NULL",
    )
    .bind(json)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn conversation_labels(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<ConversationLabel>> {
    let rows: Vec<LabelRow> = sqlx::query_as(
        "SELECT id, external_id, title, retention_policy FROM conversations
         WHERE id IN (SELECT value FROM json_each($1))",
    )
    .bind(ids_json(ids))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(label).collect())
}

/// `[start, end)` of every verified monthly archive, as stored.
pub(crate) async fn verified_archive_ranges(pool: &SqlitePool) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT range_start, range_end FROM backups b WHERE {VERIFIED_ARCHIVE}"
    )))
    .fetch_all(pool)
    .await?)
}

/// True when a verified archive's range holds the instant `column` (checked inside each purge batch:
/// an archive that failed verification since the plan stops the purge of its rows).
fn covered(column: &str, required: bool) -> String {
    if required { in_verified_archive(column) } else { "1".to_string() }
}

// ---- writes: one batch each, inside the caller's short transaction ----

/// Expires a batch, re-checking inside the transaction that each message is still
/// live, unheld, and past its conversation's policy now (a policy changed during the
/// run wins): older than its day-count cutoff, or read by everyone under `instant`.
pub(crate) async fn expire_messages(
    conn: &mut SqliteConnection,
    ids: &[i64],
    now: &str,
    cutoffs: &[PolicyCutoff],
) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT json_group_array(m.id) FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.id IN (SELECT value FROM json_each($1)) AND m.expired_at IS NULL AND {}
           AND (EXISTS (SELECT 1 FROM json_each($2) k
                        WHERE (k.value ->> 0) IS c.retention_policy AND m.created_at < (k.value ->> 1))
                OR (c.retention_policy = 'instant' AND {FULLY_READ}))",
        not_held("m.conversation_id")
    );
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids_json(ids)).bind(cutoffs_json(cutoffs));
    let ids = id_list(query, &mut *conn).await?;
    sqlx::query("UPDATE messages SET expired_at = $2 WHERE id IN (SELECT value FROM json_each($1))")
        .bind(ids_json(&ids))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(ids)
}

pub(crate) async fn expire_conversations(conn: &mut SqliteConnection, ids: &[i64], now: &str) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT json_group_array(c.id) FROM conversations c
         WHERE c.id IN (SELECT value FROM json_each($1)) AND c.expired_at IS NULL AND {}
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.expired_at IS NULL)",
        not_held("c.id")
    );
    let ids = id_list(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids_json(ids)), &mut *conn).await?;
    sqlx::query("UPDATE conversations SET expired_at = $2 WHERE id IN (SELECT value FROM json_each($1))")
        .bind(ids_json(&ids))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(ids)
}

/// Deletes a batch of expired messages: their read receipts first, then
/// unlinks replies to them, then the messages themselves.
pub(crate) async fn purge_messages(
    conn: &mut SqliteConnection,
    ids: &[i64],
    now: &str,
    grace_cutoff: &str,
    require_backup: bool,
) -> Result<PurgedMessages> {
    let sql = format!(
        "SELECT json_group_array(m.id) FROM messages m
         WHERE m.id IN (SELECT value FROM json_each($1))
           AND m.expired_at IS NOT NULL AND m.expired_at < $2 AND m.expired_at <= $3 AND {} AND {}",
        not_held("m.conversation_id"),
        covered("m.created_at", require_backup)
    );
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids_json(ids)).bind(now).bind(grace_cutoff);
    let ids = id_list(query, &mut *conn).await?;
    if ids.is_empty() {
        return Ok(PurgedMessages::default());
    }
    let json = ids_json(&ids);
    let reads = sqlx::query("DELETE FROM message_reads WHERE message_id IN (SELECT value FROM json_each($1))")
        .bind(&json)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let unlinked = sqlx::query(
        "UPDATE messages SET reply_to_id = NULL
         WHERE reply_to_id IN (SELECT value FROM json_each($1))
           AND id NOT IN (SELECT value FROM json_each($1))",
    )
    .bind(&json)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deleted = sqlx::query("DELETE FROM messages WHERE id IN (SELECT value FROM json_each($1))")
        .bind(&json)
        .execute(&mut *conn)
        .await;
    match deleted {
        Ok(_) => Ok(PurgedMessages { ids, reads, replies_unlinked: unlinked }),
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            Err(referenced_elsewhere(&other_message_references(&mut *conn).await?.join(", ")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Foreign-key enforcement off (`on`) when every reference to `messages` is one
/// [`purge_messages`] clears itself; back on otherwise.
pub(crate) async fn message_purge_mode(conn: &mut SqliteConnection, on: bool) -> Result<()> {
    let others = if on { other_message_references(&mut *conn).await? } else { Vec::new() };
    if !others.is_empty() {
        tracing::info!(references = %others.join(", "), "other tables refer to messages: purge batches keep foreign-key checks");
    }
    let relax = on && others.is_empty();
    let pragma = if relax { "PRAGMA foreign_keys = OFF" } else { "PRAGMA foreign_keys = ON" };
    sqlx::query(pragma).execute(&mut *conn).await?;
    Ok(())
}

/// Columns (`table.column`) with a foreign key to `messages` besides the two a purge
/// batch clears itself (`message_reads.message_id`, `messages.reply_to_id`).
async fn other_message_references(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT s.name || '.' || f.\"from\" FROM sqlite_schema s, pragma_foreign_key_list(s.name) f
         WHERE s.type = 'table' AND lower(f.\"table\") = 'messages'
           AND NOT (s.name = 'message_reads' AND f.\"from\" = 'message_id')
           AND NOT (s.name = 'messages' AND f.\"from\" = 'reply_to_id')
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await?)
}

/// Deletes a batch of expired, empty conversations and their participant rows.
/// Released holds keep their history (their reference becomes NULL).
pub(crate) async fn purge_conversations(
    conn: &mut SqliteConnection,
    ids: &[i64],
    now: &str,
    grace_cutoff: &str,
    require_backup: bool,
) -> Result<(Vec<i64>, u64)> {
    let sql = format!(
        "SELECT json_group_array(c.id) FROM conversations c
         WHERE c.id IN (SELECT value FROM json_each($1))
           AND c.expired_at IS NOT NULL AND c.expired_at < $2 AND c.expired_at <= $3 AND {} AND {}
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
        not_held("c.id"),
        covered("c.created_at", require_backup)
    );
    let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids_json(ids)).bind(now).bind(grace_cutoff);
    let ids = id_list(query, &mut *conn).await?;
    if ids.is_empty() {
        return Ok((ids, 0));
    }
    let json = ids_json(&ids);
    let participants =
        sqlx::query("DELETE FROM participants WHERE conversation_id IN (SELECT value FROM json_each($1))")
            .bind(&json)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM conversations WHERE id IN (SELECT value FROM json_each($1))")
        .bind(&json)
        .execute(&mut *conn)
        .await?;
    Ok((ids, participants))
}

pub(crate) async fn mark_inactive(conn: &mut SqliteConnection, ids: &[i64], now: &str) -> Result<Vec<i64>> {
    let query = sqlx::query_scalar(
        "SELECT json_group_array(id) FROM conversations
         WHERE id IN (SELECT value FROM json_each($1)) AND archived_at IS NULL AND expired_at IS NULL",
    )
    .bind(ids_json(ids));
    let ids = id_list(query, &mut *conn).await?;
    sqlx::query("UPDATE conversations SET archived_at = $2 WHERE id IN (SELECT value FROM json_each($1))")
        .bind(ids_json(&ids))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(ids)
}

/// Brings back up to `limit` expired messages matching the scope; returns how many.
pub(crate) async fn restore_messages(
    conn: &mut SqliteConnection,
    conversation: Option<i64>,
    expired_since: &str,
    limit: u32,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE messages SET expired_at = NULL
         WHERE id IN (SELECT id FROM messages INDEXED BY messages_expired
                      WHERE expired_at IS NOT NULL AND expired_at >= $2
                        AND ($1 IS NULL OR conversation_id = $1)
                      LIMIT $3)",
    )
    .bind(conversation)
    .bind(expired_since)
    .bind(limit)
    .execute(conn)
    .await?
    .rows_affected())
}

pub(crate) async fn restore_conversations(
    conn: &mut SqliteConnection,
    conversation: Option<i64>,
    expired_since: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE conversations SET expired_at = NULL
         WHERE expired_at IS NOT NULL AND expired_at >= $2 AND ($1 IS NULL OR id = $1)",
    )
    .bind(conversation)
    .bind(expired_since)
    .execute(conn)
    .await?
    .rows_affected())
}

/// How many expired rows a restore scope covers, and the earliest expiry among them.
pub(crate) async fn expired_in_scope(
    pool: &SqlitePool,
    conversation: Option<i64>,
    expired_since: &str,
) -> Result<(i64, Option<String>)> {
    Ok(sqlx::query_as(
        "SELECT count(*), min(expired_at) FROM messages INDEXED BY messages_expired
         WHERE expired_at IS NOT NULL AND expired_at >= $2 AND ($1 IS NULL OR conversation_id = $1)",
    )
    .bind(conversation)
    .bind(expired_since)
    .fetch_one(pool)
    .await?)
}

/// Sets `expires_at` for messages with ids in `(after, upto]` from their
/// conversation's policy: `policies` maps policy text ("" for the default) to
/// a date modifier such as "+180 days"; others (instant, forever, unknown) get NULL.
pub(crate) async fn set_expires_at(
    conn: &mut SqliteConnection,
    policies: &str,
    after: i64,
    upto: i64,
    conversation: Option<i64>,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE messages SET expires_at = (
             SELECT strftime('%Y-%m-%dT%H:%M:%fZ', messages.created_at, p.value)
             FROM conversations c JOIN json_each($1) p ON p.key = coalesce(c.retention_policy, '')
             WHERE c.id = messages.conversation_id)
         WHERE id > $2 AND id <= $3 AND ($4 IS NULL OR conversation_id = $4)",
    )
    .bind(policies)
    .bind(after)
    .bind(upto)
    .bind(conversation)
    .execute(conn)
    .await?
    .rows_affected())
}

pub(crate) async fn message_id_bounds(pool: &SqlitePool, conversation: Option<i64>) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT coalesce(min(id), 0) - 1, coalesce(max(id), 0) FROM messages WHERE $1 IS NULL OR conversation_id = $1",
    )
    .bind(conversation)
    .fetch_one(pool)
    .await?)
}

pub(crate) async fn set_policy(conn: &mut SqliteConnection, conversation: i64, policy: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE conversations SET retention_policy = $2 WHERE id = $1")
        .bind(conversation)
        .bind(policy)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn count_reads_of(pool: &SqlitePool, messages: &[i64]) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM message_reads WHERE message_id IN (SELECT value FROM json_each($1))")
            .bind(ids_json(messages))
            .fetch_one(pool)
            .await?;
    Ok(n as u64)
}

pub(crate) async fn count_participants_of(pool: &SqlitePool, conversations: &[i64]) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM participants WHERE conversation_id IN (SELECT value FROM json_each($1))",
    )
    .bind(ids_json(conversations))
    .fetch_one(pool)
    .await?;
    Ok(n as u64)
}
