//! SQL for data-subject requests where SQLite's differs: what blocks an erasure, reading
//! everything about a person for an access export, and erasing them. Finding a person and
//! their requests is shared (`crate::gdpr`).

use sqlx::{SqliteConnection, SqlitePool};

use super::from_json;
use crate::Result;
pub(crate) use crate::gdpr::sqlite::*;
use crate::gdpr::{
    AccessRows, Blocker, CertificateCheck, CheckSubject, DELETE_CHECKS, DeleteCounts, HeldConversation,
    IDENTIFIER_CHECKS, THEIRS, USER_HOLDS, conversation_blocker, user_blocker,
};
use chatkeep_domain::gdpr::ErasureStrategy;

/// Active holds that forbid changing the person's data: one on them, or one on (or the chat
/// service's flag on) a conversation they are in, including a hold on another participant.
pub(crate) async fn blockers(conn: &mut SqliteConnection, user: i64) -> Result<Vec<Blocker>> {
    let mut found: Vec<Blocker> =
        sqlx::query_as(USER_HOLDS).bind(user).fetch_all(&mut *conn).await?.into_iter().map(user_blocker).collect();
    let conversations: Vec<HeldConversation> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{THEIRS}
             SELECT c.external_id, h.id, h.reason, h.target_kind, h.target_external_id
             FROM conversations c JOIN theirs t ON t.id = c.id
             LEFT JOIN legal_holds h ON h.id = (
                 SELECT hh.id FROM legal_holds hh
                 WHERE hh.released_at IS NULL
                   AND (hh.conversation_id = c.id
                        OR (hh.user_id <> $1
                            AND hh.user_id IN (SELECT user_id FROM participants WHERE conversation_id = c.id)))
                 ORDER BY hh.id LIMIT 1)
             WHERE c.legal_hold = 1 OR h.id IS NOT NULL
             ORDER BY c.external_id LIMIT 20"
    )))
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    found.extend(conversations.into_iter().map(conversation_blocker));
    Ok(found)
}

// ---- access export ----

pub(crate) async fn access_rows(conn: &mut SqliteConnection, user: i64, others: bool) -> Result<AccessRows> {
    let conversations: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{THEIRS}
         SELECT json_group_array(json(row)) FROM (
             SELECT json_object(
                 'id', c.external_id, 'title', c.title, 'kind', c.kind,
                 'owner', json(CASE WHEN c.owner_id = $1 THEN 'true' ELSE 'false' END),
                 'role', p.role, 'joined_at', p.joined_at, 'context', json(c.context),
                 'created_at', c.created_at, 'last_activity_at', c.last_activity_at,
                 'archived_at', c.archived_at, 'expired_at', c.expired_at,
                 'messages_total', (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)) AS row
             FROM conversations c JOIN theirs t ON t.id = c.id
             LEFT JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1
             ORDER BY c.created_at, c.id)"
    )))
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    // Others' messages only when asked: they are other people's data.
    let messages: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{THEIRS}
         SELECT json_group_array(json(row)) FROM (
             SELECT json_object(
                 'id', m.external_id, 'conversation', c.external_id,
                 'from_subject', json(CASE WHEN m.sender_id = $1 THEN 'true' ELSE 'false' END),
                 'sender', CASE WHEN m.sender_id = $1 THEN NULL ELSE s.display_name END,
                 'role', m.role, 'kind', m.kind, 'body', m.body, 'tokens_used', m.tokens_used,
                 'reply_to', r.external_id, 'pinned', json(CASE WHEN m.pinned THEN 'true' ELSE 'false' END),
                 'created_at', m.created_at, 'expired_at', m.expired_at) AS row
             FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             LEFT JOIN users s ON s.id = m.sender_id
             LEFT JOIN messages r ON r.id = m.reply_to_id
             WHERE m.sender_id = $1 OR ($2 AND m.conversation_id IN (SELECT id FROM theirs))
             ORDER BY c.created_at, c.id, m.created_at, m.id)"
    )))
    .bind(user)
    .bind(others)
    .fetch_one(&mut *conn)
    .await?;
    let reads: String = sqlx::query_scalar(
        "SELECT json_group_array(json(row)) FROM (
             SELECT json_object('message', m.external_id, 'conversation', c.external_id, 'read_at', r.read_at) AS row
             FROM message_reads r
             JOIN messages m ON m.id = r.message_id
             JOIN conversations c ON c.id = m.conversation_id
             WHERE r.user_id = $1
             ORDER BY r.read_at, m.id)",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    Ok(AccessRows {
        conversations: from_json(&conversations, "conversations")?,
        messages: from_json(&messages, "messages")?,
        reads: from_json(&reads, "read receipts")?,
    })
}

// ---- erasure ----

pub(crate) async fn secure_delete(conn: &mut SqliteConnection, on: bool) -> Result<()> {
    // Deleted content is overwritten with zeros, free pages included (FAST leaves freed pages as they were).
    let sql = if on { "PRAGMA secure_delete = ON" } else { "PRAGMA secure_delete = FAST" };
    sqlx::query(sql).execute(conn).await?;
    Ok(())
}

/// What a certificate says about the bytes of the rows an erasure removed (its transaction
/// runs with `secure_delete` on).
pub(crate) const REMOVED_ROWS: &str = "PRAGMA secure_delete = ON for the erasure transaction: SQLite overwrote the \
     removed rows and every page it freed with zeros";

/// Copies the write-ahead log into the database file and empties it, so old versions of erased
/// pages do not linger in its frames; returns what the certificate says about it. A failure is
/// said, not returned: the erasure before it has committed.
pub(crate) async fn wal_checkpoint(pool: &SqlitePool) -> Result<String> {
    let done: std::result::Result<(i64, i64, i64), _> =
        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await;
    Ok(match done {
        Ok((0, frames, _)) if frames >= 0 => {
            format!(
                "PRAGMA wal_checkpoint(TRUNCATE): the write-ahead log ({frames} frames) was written into the database file and emptied"
            )
        }
        Ok((0, _, _)) => "the database does not use a write-ahead log".into(),
        Ok(_) => "PRAGMA wal_checkpoint(TRUNCATE) was blocked by a reader; the old frames are overwritten by the \
                  next checkpoint"
            .into(),
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint after an erasure failed");
            "PRAGMA wal_checkpoint(TRUNCATE) failed; the old frames are overwritten by the next checkpoint".into()
        }
    })
}

/// Deletes a person: their read receipts and the reads of their messages, replies to their
/// messages unlinked, their messages, participation, ownership, and the conversations left
/// with nobody in them; then the person. Active holds on them are released first
/// (only a ledger replay meets one: an erasure refuses a held person).
pub(crate) async fn delete_person(
    conn: &mut SqliteConnection,
    user: i64,
    released_at: &str,
    release_reason: &str,
) -> Result<DeleteCounts> {
    let theirs: String =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{THEIRS} SELECT json_group_array(id) FROM theirs")))
            .bind(user)
            .fetch_one(&mut *conn)
            .await?;
    let mut counts = DeleteCounts::default();
    let run = async |conn: &mut SqliteConnection, sql: &'static str| -> Result<u64> {
        Ok(sqlx::query(sql).bind(user).execute(conn).await?.rows_affected())
    };
    counts.holds_released = sqlx::query(
        "UPDATE legal_holds SET released_at = $2, release_reason = $3 WHERE user_id = $1 AND released_at IS NULL",
    )
    .bind(user)
    .bind(released_at)
    .bind(release_reason)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    counts.message_reads = run(conn, "DELETE FROM message_reads WHERE user_id = $1").await?;
    counts.reads_of_their_messages =
        run(conn, "DELETE FROM message_reads WHERE message_id IN (SELECT id FROM messages WHERE sender_id = $1)")
            .await?;
    counts.replies_unlinked = run(
        conn,
        "UPDATE messages SET reply_to_id = NULL WHERE reply_to_id IN (SELECT id FROM messages WHERE sender_id = $1)",
    )
    .await?;
    counts.messages = run(conn, "DELETE FROM messages WHERE sender_id = $1").await?;
    counts.participants = run(conn, "DELETE FROM participants WHERE user_id = $1").await?;
    counts.ownership_unset = run(conn, "UPDATE conversations SET owner_id = NULL WHERE owner_id = $1").await?;
    run(conn, "UPDATE dsr_requests SET subject_user_id = NULL WHERE subject_user_id = $1").await?;
    counts.users = run(conn, "DELETE FROM users WHERE id = $1").await?;
    // Conversations left empty go too: no participant and no message from anyone left (a bot's
    // replies to the person alone do not keep a conversation), with those replies.
    let emptied: String = sqlx::query_scalar(
        "SELECT json_group_array(id) FROM conversations
         WHERE id IN (SELECT value FROM json_each($1))
           AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = conversations.id)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id
                                                      AND m.sender_id IS NOT NULL)",
    )
    .bind(&theirs)
    .fetch_one(&mut *conn)
    .await?;
    let of_emptied = "SELECT id FROM messages WHERE conversation_id IN (SELECT value FROM json_each($1))";
    for sql in [
        format!("DELETE FROM message_reads WHERE message_id IN ({of_emptied})"),
        format!("UPDATE messages SET reply_to_id = NULL WHERE reply_to_id IN ({of_emptied})"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&emptied).execute(&mut *conn).await?;
    }
    counts.messages_of_emptied_conversations =
        sqlx::query("DELETE FROM messages WHERE conversation_id IN (SELECT value FROM json_each($1))")
            .bind(&emptied)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    counts.conversations_deleted =
        sqlx::query("DELETE FROM conversations WHERE id IN (SELECT value FROM json_each($1))")
            .bind(&emptied)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(counts)
}

/// The other row already carrying `external_id`, if any (an anonymized person's pseudonym
/// row, when a restore brought back their original row beside it).
pub(crate) async fn other_user_with_external_id(
    conn: &mut SqliteConnection,
    user: i64,
    external_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE external_id = $1 AND id <> $2")
        .bind(external_id)
        .bind(user)
        .fetch_optional(conn)
        .await?)
}

/// Moves everything of user `from` onto user `into`, then removes `from`.
pub(crate) async fn merge_person(conn: &mut SqliteConnection, from: i64, into: i64) -> Result<u64> {
    let statements = [
        "INSERT OR IGNORE INTO participants (conversation_id, user_id, role, joined_at)
         SELECT conversation_id, $2, role, joined_at FROM participants WHERE user_id = $1",
        "DELETE FROM participants WHERE user_id = $1",
        "INSERT OR IGNORE INTO message_reads (message_id, user_id, read_at)
         SELECT message_id, $2, read_at FROM message_reads WHERE user_id = $1",
        "DELETE FROM message_reads WHERE user_id = $1",
        "UPDATE messages SET sender_id = $2 WHERE sender_id = $1",
        "UPDATE conversations SET owner_id = $2 WHERE owner_id = $1",
        "UPDATE legal_holds SET user_id = $2 WHERE user_id = $1",
        "UPDATE dsr_requests SET subject_user_id = $2 WHERE subject_user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ];
    let mut changed = 0;
    for sql in statements {
        changed += sqlx::query(sql).bind(from).bind(into).execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// Replaces the person's identity with a pseudonym; their activity stays, pseudonymous.
pub(crate) async fn anonymize_person(
    conn: &mut SqliteConnection,
    user: i64,
    pseudonym: &str,
    now: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE users SET external_id = $2, display_name = $2, email = NULL, phone = NULL, last_seen_at = NULL,
                anonymized_at = coalesce(anonymized_at, $3)
         WHERE id = $1 AND (external_id IS NOT $2 OR display_name IS NOT $2 OR email IS NOT NULL
                            OR phone IS NOT NULL OR last_seen_at IS NOT NULL OR anonymized_at IS NULL)",
    )
    .bind(user)
    .bind(pseudonym)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

pub(crate) async fn redact_bodies(conn: &mut SqliteConnection, user: i64, text: &str) -> Result<u64> {
    Ok(sqlx::query("UPDATE messages SET body = $2 WHERE sender_id = $1 AND body IS NOT NULL AND body IS NOT $2")
        .bind(user)
        .bind(text)
        .execute(conn)
        .await?
        .rows_affected())
}

pub(crate) async fn bodies_of(conn: &mut SqliteConnection, user: i64) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, body FROM messages WHERE sender_id = $1 AND body IS NOT NULL ORDER BY id")
        .bind(user)
        .fetch_all(conn)
        .await?)
}

pub(crate) async fn set_body(conn: &mut SqliteConnection, message: i64, body: &str) -> Result<()> {
    sqlx::query("UPDATE messages SET body = $2 WHERE id = $1").bind(message).bind(body).execute(conn).await?;
    Ok(())
}

/// Replaces what chatkeep's own tables say about the person (a hold's target, a request's
/// subject) with `marker`; `identifiers` are the values a request may have named them by.
pub(crate) async fn redact_references(
    conn: &mut SqliteConnection,
    user: i64,
    identifiers: &[&str],
    marker: &str,
) -> Result<u64> {
    let identifiers = serde_json::to_string(identifiers).unwrap_or_else(|_| "[]".into());
    let holds = sqlx::query(
        "UPDATE legal_holds SET target_external_id = $3
         WHERE target_kind = 'user' AND (user_id = $1 OR target_external_id IN (SELECT value FROM json_each($2)))",
    )
    .bind(user)
    .bind(&identifiers)
    .bind(marker)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let requests = sqlx::query(
        "UPDATE dsr_requests SET subject = $3
         WHERE subject_user_id = $1 OR subject IN (SELECT value FROM json_each($2))",
    )
    .bind(user)
    .bind(&identifiers)
    .bind(marker)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(holds + requests)
}

/// The checks a completion certificate lists: each a query and its result, all of which must be 0.
/// The person's identifiers are bound as parameters and never written into the certificate.
pub(crate) async fn certificate_checks(
    conn: &mut SqliteConnection,
    s: &CheckSubject<'_>,
) -> Result<Vec<CertificateCheck>> {
    let mut checks: Vec<(&str, &str)> = Vec::new();
    match s.strategy {
        ErasureStrategy::Delete => checks.extend(DELETE_CHECKS),
        ErasureStrategy::Anonymize => {
            checks.push((
                "their user row still carrying an identity",
                "SELECT count(*) FROM users WHERE id = $1 AND (external_id IS NOT $5 OR display_name IS NOT $5
                 OR email IS NOT NULL OR phone IS NOT NULL OR last_seen_at IS NOT NULL OR anonymized_at IS NULL)",
            ));
            if let Some(_redacted) = s.redacted_body {
                checks.push((
                    "their message bodies not redacted",
                    "SELECT count(*) FROM messages WHERE sender_id = $1 AND body IS NOT NULL AND body IS NOT $6",
                ));
            }
        }
    }
    checks.extend(IDENTIFIER_CHECKS);
    let mut out = Vec::with_capacity(checks.len());
    for (what, sql) in checks {
        let result: i64 = sqlx::query_scalar(sql)
            .bind(s.user_id)
            .bind(s.external_id)
            .bind(s.email)
            .bind(s.phone)
            .bind(s.pseudonym)
            .bind(s.redacted_body)
            .fetch_one(&mut *conn)
            .await?;
        out.push(CertificateCheck::new(what, sql, result));
    }
    Ok(out)
}
