//! Retention's SQL on PostgreSQL. Selections run on the pool; every write takes a
//! batch of ids and changes only the rows that still meet its conditions inside
//! its short transaction (a hold placed a moment ago still wins), and reports their
//! ids. Expiry and archiving are one `UPDATE ... RETURNING` each; a purge first locks
//! the rows it will delete (`FOR UPDATE`), so a restore running meanwhile waits or wins.
//!
//! A batch's ids arrive as `bigint[]` and the statement is driven from
//! `unnest(...)` by primary key, so the plan stays a thousand index probes even
//! when the statistics still describe the table as it was before a large expiry.
//!
//! Instants are compared as `timestamptz` (parameters arrive as chatkeep's
//! canonical UTC text and are cast). They leave as that same text: through `ck_ts()`
//! for single values, and for the candidate lists (hundreds of thousands of rows on
//! a large database) as binary `timestamptz` formatted by [`time::to_db`], the
//! function that wrote them, which takes nearly half the time off those selections.
//! Other id lists travel as `bigint[]` too and are matched with `= ANY(...)`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::Result;
use crate::db_time as time;
use crate::retention::{
    Candidate, ConversationLabel, LabelRow, PolicyCutoff, PurgedMessages, VERIFIED_ARCHIVE, in_verified_archive, label,
    referenced_elsewhere,
};

/// True when the conversation id in `conv` is under no hold: the chat service's
/// `legal_hold` flag, an active hold on the conversation, or one on a participant.
/// Each test is an index probe (the primary key, the partial indexes of active holds).
fn not_held(conv: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM conversations hc WHERE hc.id = {conv} AND hc.legal_hold)
         AND NOT EXISTS (SELECT 1 FROM legal_holds hh
                          WHERE hh.conversation_id = {conv} AND hh.released_at IS NULL)
         AND NOT EXISTS (SELECT 1 FROM participants hp JOIN legal_holds hu ON hu.user_id = hp.user_id
                          WHERE hp.conversation_id = {conv} AND hu.released_at IS NULL)"
    )
}

/// Every participant other than the sender (and bots, which never read) has a read receipt.
const FULLY_READ: &str = "NOT EXISTS (SELECT 1 FROM participants rp
                   WHERE rp.conversation_id = m.conversation_id
                     AND rp.user_id IS DISTINCT FROM m.sender_id AND rp.role <> 'bot'
                     AND NOT EXISTS (SELECT 1 FROM message_reads rr
                                      WHERE rr.message_id = m.id AND rr.user_id = rp.user_id))";

/// The day-count policies and their cutoffs as a table, from two parallel arrays
/// bound at `$p` (policies, NULL = the default) and `$p+1` (cutoffs).
fn cutoffs_table(p: usize) -> String {
    format!("unnest(${p}::text[], ${}::timestamptz[]) AS k(policy, cutoff)", p + 1)
}

fn cutoff_arrays(cutoffs: &[PolicyCutoff]) -> (Vec<Option<String>>, Vec<String>) {
    cutoffs.iter().map(|c| (c.policy.clone(), c.cutoff.clone())).unzip()
}

/// Restores and bounds address one conversation or every one: two statements, so each
/// gets the plan that fits (the conversation's index, or the index of expired rows).
fn in_conversation(conversation: Option<i64>, column: &str) -> String {
    match conversation {
        Some(_) => format!("{column} = $1"),
        None => "$1::bigint IS NULL".to_string(),
    }
}

type CandidateRow = (i64, i64, DateTime<Utc>);

fn candidates(rows: Vec<CandidateRow>) -> Vec<Candidate> {
    rows.into_iter()
        .map(|(id, conversation_id, created_at)| Candidate { id, conversation_id, created_at: time::to_db(created_at) })
        .collect()
}

pub(crate) async fn policy_groups(pool: &PgPool) -> Result<Vec<(Option<String>, i64)>> {
    Ok(sqlx::query_as(
        "SELECT retention_policy, count(*) FROM conversations GROUP BY retention_policy
         ORDER BY retention_policy COLLATE \"C\" NULLS FIRST",
    )
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn held_conversations(pool: &PgPool) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM conversations WHERE legal_hold
         UNION SELECT conversation_id FROM legal_holds WHERE released_at IS NULL AND conversation_id IS NOT NULL
         UNION SELECT p.conversation_id FROM legal_holds h JOIN participants p ON p.user_id = h.user_id
               WHERE h.released_at IS NULL AND h.user_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await?)
}

/// Live messages older than their conversation's day-count cutoff (holds not considered).
pub(crate) async fn aged_messages(pool: &PgPool, cutoffs: &[PolicyCutoff]) -> Result<Vec<Candidate>> {
    if cutoffs.is_empty() {
        return Ok(Vec::new());
    }
    let (policies, instants) = cutoff_arrays(cutoffs);
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.created_at
         FROM {} JOIN conversations c ON c.retention_policy IS NOT DISTINCT FROM k.policy
         JOIN messages m ON m.conversation_id = c.id AND m.created_at < k.cutoff
         WHERE m.expired_at IS NULL",
        cutoffs_table(1)
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(policies).bind(instants).fetch_all(pool).await?;
    Ok(candidates(rows))
}

/// Live messages of `instant` conversations that everyone has read.
pub(crate) async fn read_messages(pool: &PgPool) -> Result<Vec<Candidate>> {
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.created_at
         FROM conversations c JOIN messages m ON m.conversation_id = c.id
         WHERE c.retention_policy = 'instant' AND m.expired_at IS NULL AND {FULLY_READ}"
    );
    Ok(candidates(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?))
}

/// Messages expired before this run and at or before the grace cutoff (holds not considered).
pub(crate) async fn purgeable_messages(pool: &PgPool, now: &str, grace_cutoff: &str) -> Result<Vec<Candidate>> {
    let rows = sqlx::query_as(
        "SELECT m.id, m.conversation_id, m.created_at FROM messages m
         WHERE m.expired_at IS NOT NULL AND m.expired_at < $1::timestamptz AND m.expired_at <= $2::timestamptz",
    )
    .bind(now)
    .bind(grace_cutoff)
    .fetch_all(pool)
    .await?;
    Ok(candidates(rows))
}

/// Live conversations with nothing newer than their cutoff; `instant` ones use
/// the default cutoff for idleness and must have no unread live message.
pub(crate) async fn aged_conversations(
    pool: &PgPool,
    cutoffs: &[PolicyCutoff],
    instant_cutoff: &str,
) -> Result<Vec<Candidate>> {
    let (policies, instants) = cutoff_arrays(cutoffs);
    let sql = format!(
        "SELECT c.id, c.id, c.created_at
         FROM {} JOIN conversations c ON c.retention_policy IS NOT DISTINCT FROM k.policy
         WHERE c.expired_at IS NULL AND c.created_at < k.cutoff
           AND coalesce(c.last_activity_at, c.created_at) < k.cutoff
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= k.cutoff)
         UNION ALL
         SELECT c.id, c.id, c.created_at FROM conversations c
         WHERE c.retention_policy = 'instant' AND c.expired_at IS NULL AND c.created_at < $3::timestamptz
           AND coalesce(c.last_activity_at, c.created_at) < $3::timestamptz
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= $3::timestamptz)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.expired_at IS NULL
                             AND NOT {FULLY_READ})",
        cutoffs_table(1)
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(policies)
        .bind(instants)
        .bind(instant_cutoff)
        .fetch_all(pool)
        .await?;
    Ok(candidates(rows))
}

/// Conversations expired before this run and past grace, with how many messages they still hold.
pub(crate) async fn purgeable_conversations(
    pool: &PgPool,
    now: &str,
    grace_cutoff: &str,
) -> Result<Vec<(Candidate, i64)>> {
    let rows: Vec<(i64, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT c.id, c.created_at, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
         FROM conversations c
         WHERE c.expired_at IS NOT NULL AND c.expired_at < $1::timestamptz AND c.expired_at <= $2::timestamptz",
    )
    .bind(now)
    .bind(grace_cutoff)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, n)| (Candidate { id, conversation_id: id, created_at: time::to_db(created_at) }, n))
        .collect())
}

/// Live, unarchived conversations idle since `before` (of kind bot only, when asked).
pub(crate) async fn idle_conversations(pool: &PgPool, before: &str, bots_only: bool) -> Result<Vec<Candidate>> {
    let rows = sqlx::query_as(
        "SELECT id, id, created_at FROM conversations
         WHERE archived_at IS NULL AND expired_at IS NULL AND (NOT $2 OR kind = 'bot')
           AND coalesce(last_activity_at, created_at) < $1::timestamptz",
    )
    .bind(before)
    .bind(bots_only)
    .fetch_all(pool)
    .await?;
    Ok(candidates(rows))
}

/// Live messages whose expiry falls in a window: `(policy, from, to)` by creation time.
pub(crate) async fn messages_created_between(
    pool: &PgPool,
    windows: &[(Option<String>, String, String)],
) -> Result<Vec<(i64, String, Option<String>)>> {
    let policies: Vec<Option<String>> = windows.iter().map(|(p, _, _)| p.clone()).collect();
    let from: Vec<&str> = windows.iter().map(|(_, lo, _)| lo.as_str()).collect();
    let to: Vec<&str> = windows.iter().map(|(_, _, hi)| hi.as_str()).collect();
    let rows: Vec<(i64, DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "SELECT m.conversation_id, m.created_at, c.retention_policy
         FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS w(policy, lo, hi)
         JOIN conversations c ON c.retention_policy IS NOT DISTINCT FROM w.policy
         JOIN messages m ON m.conversation_id = c.id AND m.created_at >= w.lo AND m.created_at < w.hi
         WHERE m.expired_at IS NULL",
    )
    .bind(policies)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(conversation, created_at, policy)| (conversation, time::to_db(created_at), policy))
        .collect())
}

pub(crate) async fn conversation_labels(pool: &PgPool, ids: &[i64]) -> Result<Vec<ConversationLabel>> {
    let rows: Vec<LabelRow> =
        sqlx::query_as("SELECT id, external_id, title, retention_policy FROM conversations WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(label).collect())
}

/// `[start, end)` of every verified monthly archive, as stored.
pub(crate) async fn verified_archive_ranges(pool: &PgPool) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT ck_ts(range_start), ck_ts(range_end) FROM backups b WHERE {VERIFIED_ARCHIVE}"
    )))
    .fetch_all(pool)
    .await?)
}

/// True when a verified archive's range holds the instant `column` (checked inside each purge batch:
/// an archive that failed verification since the plan stops the purge of its rows).
fn covered(column: &str, required: bool) -> String {
    if required { in_verified_archive(column) } else { "TRUE".to_string() }
}

// ---- writes: one batch each, inside the caller's short transaction ----

/// Expired before this run (`$2`) and at or before the grace cutoff (`$3`). Written so that
/// it cannot be answered from the partial index of expired rows: a purge batch must probe
/// its thousand ids by primary key, and right after a large expiry, before statistics catch
/// up, the planner would otherwise hash that whole index (seconds per batch on a million rows).
fn past_grace(column: &str) -> String {
    format!("coalesce({column}, 'infinity') < $2::timestamptz AND coalesce({column}, 'infinity') <= $3::timestamptz")
}

/// Expires a batch, re-checking that each message is still live, unheld, and past its
/// conversation's policy now (a policy changed during the run wins): older than its
/// day-count cutoff, or read by everyone under `instant`.
pub(crate) async fn expire_messages(
    conn: &mut PgConnection,
    ids: &[i64],
    now: &str,
    cutoffs: &[PolicyCutoff],
) -> Result<Vec<i64>> {
    let (policies, instants) = cutoff_arrays(cutoffs);
    let sql = format!(
        "UPDATE messages m SET expired_at = $2::timestamptz
         FROM unnest($1::bigint[]) AS b(id), conversations c
         WHERE m.id = b.id AND c.id = m.conversation_id AND m.expired_at IS NULL AND {}
           AND (EXISTS (SELECT 1 FROM {} WHERE k.policy IS NOT DISTINCT FROM c.retention_policy
                                              AND m.created_at < k.cutoff)
                OR (c.retention_policy = 'instant' AND {FULLY_READ}))
         RETURNING m.id",
        not_held("m.conversation_id"),
        cutoffs_table(3)
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(now)
        .bind(policies)
        .bind(instants)
        .fetch_all(conn)
        .await?)
}

pub(crate) async fn expire_conversations(conn: &mut PgConnection, ids: &[i64], now: &str) -> Result<Vec<i64>> {
    let sql = format!(
        "UPDATE conversations c SET expired_at = $2::timestamptz
         FROM unnest($1::bigint[]) AS b(id)
         WHERE c.id = b.id AND c.expired_at IS NULL AND {}
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.expired_at IS NULL)
         RETURNING c.id",
        not_held("c.id")
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids).bind(now).fetch_all(conn).await?)
}

/// Deletes a batch of expired messages: their read receipts first, then
/// unlinks replies to them, then the messages themselves.
pub(crate) async fn purge_messages(
    conn: &mut PgConnection,
    ids: &[i64],
    now: &str,
    grace_cutoff: &str,
    require_backup: bool,
) -> Result<PurgedMessages> {
    let sql = format!(
        "SELECT m.id FROM unnest($1::bigint[]) AS b(id) JOIN messages m ON m.id = b.id
         WHERE {} AND {} AND {}
         ORDER BY m.id FOR UPDATE OF m",
        past_grace("m.expired_at"),
        not_held("m.conversation_id"),
        covered("m.created_at", require_backup)
    );
    let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(now)
        .bind(grace_cutoff)
        .fetch_all(&mut *conn)
        .await?;
    if ids.is_empty() {
        return Ok(PurgedMessages::default());
    }
    let reads =
        sqlx::query("DELETE FROM message_reads r USING unnest($1::bigint[]) AS b(id) WHERE r.message_id = b.id")
            .bind(&ids)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    let unlinked =
        sqlx::query("UPDATE messages SET reply_to_id = NULL WHERE reply_to_id = ANY($1) AND NOT (id = ANY($1))")
            .bind(&ids)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    let deleted = sqlx::query("DELETE FROM messages m USING unnest($1::bigint[]) AS b(id) WHERE m.id = b.id")
        .bind(&ids)
        .execute(&mut *conn)
        .await;
    match deleted {
        Ok(_) => Ok(PurgedMessages { ids, reads, replies_unlinked: unlinked }),
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            let what = match (e.table(), e.constraint()) {
                (Some(table), Some(constraint)) => format!("{table} (foreign key {constraint})"),
                (Some(table), None) => table.to_string(),
                _ => "another table".to_string(),
            };
            Err(referenced_elsewhere(&what))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a batch of expired, empty conversations and their participant rows.
/// Released holds keep their history (their reference becomes NULL).
pub(crate) async fn purge_conversations(
    conn: &mut PgConnection,
    ids: &[i64],
    now: &str,
    grace_cutoff: &str,
    require_backup: bool,
) -> Result<(Vec<i64>, u64)> {
    let sql = format!(
        "SELECT c.id FROM unnest($1::bigint[]) AS b(id) JOIN conversations c ON c.id = b.id
         WHERE {} AND {} AND {}
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)
         ORDER BY c.id FOR UPDATE OF c",
        past_grace("c.expired_at"),
        not_held("c.id"),
        covered("c.created_at", require_backup)
    );
    let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(now)
        .bind(grace_cutoff)
        .fetch_all(&mut *conn)
        .await?;
    if ids.is_empty() {
        return Ok((ids, 0));
    }
    let participants =
        sqlx::query("DELETE FROM participants p USING unnest($1::bigint[]) AS b(id) WHERE p.conversation_id = b.id")
            .bind(&ids)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM conversations c USING unnest($1::bigint[]) AS b(id) WHERE c.id = b.id")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    Ok((ids, participants))
}

pub(crate) async fn mark_inactive(conn: &mut PgConnection, ids: &[i64], now: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE conversations c SET archived_at = $2::timestamptz
         FROM unnest($1::bigint[]) AS b(id)
         WHERE c.id = b.id AND c.archived_at IS NULL AND c.expired_at IS NULL
         RETURNING c.id",
    )
    .bind(ids)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// An empty `expired_since` (a whole conversation's restore) means "however long ago".
fn since(expired_since: &str) -> Option<&str> {
    (!expired_since.is_empty()).then_some(expired_since)
}

/// Brings back up to `limit` expired messages matching the scope; returns how many.
pub(crate) async fn restore_messages(
    conn: &mut PgConnection,
    conversation: Option<i64>,
    expired_since: &str,
    limit: u32,
) -> Result<u64> {
    let sql = format!(
        "UPDATE messages SET expired_at = NULL
         WHERE id IN (SELECT id FROM messages
                      WHERE expired_at IS NOT NULL AND expired_at >= coalesce($2::timestamptz, '-infinity')
                        AND {}
                      LIMIT $3)",
        in_conversation(conversation, "conversation_id")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(conversation)
        .bind(since(expired_since))
        .bind(i64::from(limit))
        .execute(conn)
        .await?
        .rows_affected())
}

pub(crate) async fn restore_conversations(
    conn: &mut PgConnection,
    conversation: Option<i64>,
    expired_since: &str,
) -> Result<u64> {
    let sql = format!(
        "UPDATE conversations SET expired_at = NULL
         WHERE expired_at IS NOT NULL AND expired_at >= coalesce($2::timestamptz, '-infinity') AND {}",
        in_conversation(conversation, "id")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(conversation)
        .bind(since(expired_since))
        .execute(conn)
        .await?
        .rows_affected())
}

/// How many expired rows a restore scope covers, and the earliest expiry among them.
pub(crate) async fn expired_in_scope(
    pool: &PgPool,
    conversation: Option<i64>,
    expired_since: &str,
) -> Result<(i64, Option<String>)> {
    let sql = format!(
        "SELECT count(*), ck_ts(min(expired_at)) FROM messages
         WHERE expired_at IS NOT NULL AND expired_at >= coalesce($2::timestamptz, '-infinity') AND {}",
        in_conversation(conversation, "conversation_id")
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(conversation).bind(since(expired_since)).fetch_one(pool).await?)
}

/// Sets `expires_at` for messages with ids in `(after, upto]` from their
/// conversation's policy: `policies` maps policy text ("" for the default) to
/// a modifier such as "+180 days" (an interval); others (instant, forever, unknown) get NULL.
/// Returns how many messages the range holds, as SQLite does, but writes only those whose
/// date changes: an unchanged row would still cost a new row version on PostgreSQL.
/// Days are added in UTC: chatkeep's sessions run in UTC, but a day added to a
/// `timestamptz` follows the session's zone, so the SQL says UTC itself.
pub(crate) async fn set_expires_at(
    conn: &mut PgConnection,
    policies: &str,
    after: i64,
    upto: i64,
    conversation: Option<i64>,
) -> Result<u64> {
    let policies: serde_json::Value = serde_json::from_str(policies)
        .map_err(|e| crate::StoreError::invalid(format!("retention policies are not a JSON object ({e})")))?;
    let sql = format!(
        "WITH target AS (
             SELECT m.id, m.expires_at AS was,
                    ((m.created_at AT TIME ZONE 'UTC')
                      + (SELECT ($4 ->> coalesce(c.retention_policy, ''))::interval
                         FROM conversations c WHERE c.id = m.conversation_id)) AT TIME ZONE 'UTC' AS expires_at
             FROM messages m
             WHERE m.id > $2 AND m.id <= $3 AND {}
         ), changed AS (
             UPDATE messages m SET expires_at = t.expires_at FROM target t
             WHERE m.id = t.id AND t.expires_at IS DISTINCT FROM t.was
         )
         SELECT count(*) FROM target",
        in_conversation(conversation, "m.conversation_id")
    );
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(conversation)
        .bind(after)
        .bind(upto)
        .bind(sqlx::types::Json(policies))
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn message_id_bounds(pool: &PgPool, conversation: Option<i64>) -> Result<(i64, i64)> {
    let sql = format!(
        "SELECT coalesce(min(id), 0) - 1, coalesce(max(id), 0) FROM messages WHERE {}",
        in_conversation(conversation, "conversation_id")
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(conversation).fetch_one(pool).await?)
}

pub(crate) async fn set_policy(conn: &mut PgConnection, conversation: i64, policy: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE conversations SET retention_policy = $2 WHERE id = $1")
        .bind(conversation)
        .bind(policy)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn count_reads_of(pool: &PgPool, messages: &[i64]) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::bigint[]) AS b(id) JOIN message_reads r ON r.message_id = b.id",
    )
    .bind(messages)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn count_participants_of(pool: &PgPool, conversations: &[i64]) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::bigint[]) AS b(id) JOIN participants p ON p.conversation_id = b.id",
    )
    .bind(conversations)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
