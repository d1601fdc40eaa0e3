//! SQL for data-subject requests where PostgreSQL's differs: what blocks an erasure, reading
//! everything about a person for an access export, and erasing them. Finding a person and
//! their requests is shared (`crate::gdpr`). Instants come back through
//! `ck_ts()` and go in as `$n::timestamptz`; an access export's rows are built with
//! `json_build_object` in the same key order as on SQLite.

use sqlx::{PgConnection, PgPool};

use super::from_json;
use crate::Result;
pub(crate) use crate::gdpr::postgres::*;
use crate::gdpr::{
    AccessRows, Blocker, CertificateCheck, CheckSubject, DELETE_CHECKS, DeleteCounts, HeldConversation,
    IDENTIFIER_CHECKS, THEIRS, USER_HOLDS, conversation_blocker, user_blocker,
};
use chatkeep_domain::gdpr::ErasureStrategy;

/// Active holds that forbid changing the person's data: one on them, or one on (or the chat
/// service's flag on) a conversation they are in, including a hold on another participant.
pub(crate) async fn blockers(conn: &mut PgConnection, user: i64) -> Result<Vec<Blocker>> {
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
             WHERE c.legal_hold OR h.id IS NOT NULL
             ORDER BY c.external_id COLLATE \"C\" LIMIT 20"
    )))
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    found.extend(conversations.into_iter().map(conversation_blocker));
    Ok(found)
}

// ---- access export ----

pub(crate) async fn access_rows(conn: &mut PgConnection, user: i64, others: bool) -> Result<AccessRows> {
    let conversations: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{THEIRS}
         SELECT coalesce(json_agg(json_build_object(
                    'id', c.external_id, 'title', c.title, 'kind', c.kind,
                    'owner', coalesce(c.owner_id = $1, false),
                    'role', p.role, 'joined_at', ck_ts(p.joined_at), 'context', c.context,
                    'created_at', ck_ts(c.created_at), 'last_activity_at', ck_ts(c.last_activity_at),
                    'archived_at', ck_ts(c.archived_at), 'expired_at', ck_ts(c.expired_at),
                    'messages_total', (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id))
                ORDER BY c.created_at, c.id), '[]')::text
         FROM conversations c JOIN theirs t ON t.id = c.id
         LEFT JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1"
    )))
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    // Others' messages only when asked: they are other people's data. Two statements rather
    // than one with `OR $2`, so each is planned for what it reads (by sender, or by conversation).
    let which =
        if others { "m.sender_id = $1 OR m.conversation_id IN (SELECT id FROM theirs)" } else { "m.sender_id = $1" };
    let messages: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "{THEIRS}
         SELECT coalesce(json_agg(json_build_object(
                    'id', m.external_id, 'conversation', c.external_id,
                    'from_subject', coalesce(m.sender_id = $1, false),
                    'sender', CASE WHEN m.sender_id = $1 THEN NULL ELSE s.display_name END,
                    'role', m.role, 'kind', m.kind, 'body', m.body, 'tokens_used', m.tokens_used,
                    'reply_to', r.external_id, 'pinned', m.pinned,
                    'created_at', ck_ts(m.created_at), 'expired_at', ck_ts(m.expired_at))
                ORDER BY c.created_at, c.id, m.created_at, m.id), '[]')::text
         FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         LEFT JOIN users s ON s.id = m.sender_id
         LEFT JOIN messages r ON r.id = m.reply_to_id
         WHERE {which}"
    )))
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    let reads: String = sqlx::query_scalar(
        "SELECT coalesce(json_agg(json_build_object(
                    'message', m.external_id, 'conversation', c.external_id, 'read_at', ck_ts(r.read_at))
                ORDER BY r.read_at, m.id), '[]')::text
         FROM message_reads r
         JOIN messages m ON m.id = r.message_id
         JOIN conversations c ON c.id = m.conversation_id
         WHERE r.user_id = $1",
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

/// PostgreSQL has no `secure_delete`, so this does nothing. A deleted or updated row stays in
/// its table's pages as a dead tuple, invisible to every query, until VACUUM (autovacuum, or
/// the maintenance job) reclaims the space for new rows; the old bytes last until new rows
/// overwrite them. [`REMOVED_ROWS`] says so in the certificate.
pub(crate) async fn secure_delete(_conn: &mut PgConnection, _on: bool) -> Result<()> {
    Ok(())
}

/// What a certificate says about the bytes of the rows an erasure removed.
pub(crate) const REMOVED_ROWS: &str = "PostgreSQL has no secure_delete: the removed rows stay in the table files as \
     dead row versions that no query returns, until VACUUM (autovacuum or chatkeep's maintenance) frees their space \
     and new rows overwrite it";

/// Nothing to do: PostgreSQL runs its own checkpoints, and write-ahead log segments that still
/// hold removed rows are recycled after later checkpoints (kept longer only by WAL archiving,
/// a replication slot or a replica). Returns what the certificate says about it.
pub(crate) async fn wal_checkpoint(_pool: &PgPool) -> Result<String> {
    Ok("PostgreSQL manages its write-ahead log itself: segments holding the removed rows are recycled after later \
        checkpoints, unless WAL archiving, a replication slot or a replica keeps them"
        .into())
}

/// Deletes a person: their read receipts and the reads of their messages, replies to their
/// messages unlinked, their messages, participation, ownership, and the conversations left
/// with nobody in them; then the person. Active holds on them are released first
/// (only a ledger replay meets one: an erasure refuses a held person).
pub(crate) async fn delete_person(
    conn: &mut PgConnection,
    user: i64,
    released_at: &str,
    release_reason: &str,
) -> Result<DeleteCounts> {
    let theirs: Vec<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{THEIRS} SELECT coalesce(array_agg(id), '{{}}') FROM theirs")))
            .bind(user)
            .fetch_one(&mut *conn)
            .await?;
    let mut counts = DeleteCounts::default();
    let run = async |conn: &mut PgConnection, sql: &'static str| -> Result<u64> {
        Ok(sqlx::query(sql).bind(user).execute(conn).await?.rows_affected())
    };
    counts.holds_released = sqlx::query(
        "UPDATE legal_holds SET released_at = $2::timestamptz, release_reason = $3
         WHERE user_id = $1 AND released_at IS NULL",
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
    let emptied: Vec<i64> = sqlx::query_scalar(
        "SELECT coalesce(array_agg(id), '{}') FROM conversations c
         WHERE c.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.sender_id IS NOT NULL)",
    )
    .bind(&theirs)
    .fetch_one(&mut *conn)
    .await?;
    if emptied.is_empty() {
        return Ok(counts);
    }
    let of_emptied = "SELECT id FROM messages WHERE conversation_id = ANY($1)";
    for sql in [
        format!("DELETE FROM message_reads WHERE message_id IN ({of_emptied})"),
        format!("UPDATE messages SET reply_to_id = NULL WHERE reply_to_id IN ({of_emptied})"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&emptied).execute(&mut *conn).await?;
    }
    counts.messages_of_emptied_conversations = sqlx::query("DELETE FROM messages WHERE conversation_id = ANY($1)")
        .bind(&emptied)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    counts.conversations_deleted = sqlx::query("DELETE FROM conversations WHERE id = ANY($1)")
        .bind(&emptied)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(counts)
}

/// The other row already carrying `external_id`, if any (an anonymized person's pseudonym
/// row, when a restore brought back their original row beside it).
pub(crate) async fn other_user_with_external_id(
    conn: &mut PgConnection,
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
pub(crate) async fn merge_person(conn: &mut PgConnection, from: i64, into: i64) -> Result<u64> {
    // (statement, whether it takes `into` as $2): a statement is prepared once per connection
    // with the parameters it names, so each gets exactly those.
    let statements = [
        (
            "INSERT INTO participants (conversation_id, user_id, role, joined_at)
             SELECT conversation_id, $2, role, joined_at FROM participants WHERE user_id = $1
             ON CONFLICT DO NOTHING",
            true,
        ),
        ("DELETE FROM participants WHERE user_id = $1", false),
        (
            "INSERT INTO message_reads (message_id, user_id, read_at)
             SELECT message_id, $2, read_at FROM message_reads WHERE user_id = $1
             ON CONFLICT DO NOTHING",
            true,
        ),
        ("DELETE FROM message_reads WHERE user_id = $1", false),
        ("UPDATE messages SET sender_id = $2 WHERE sender_id = $1", true),
        ("UPDATE conversations SET owner_id = $2 WHERE owner_id = $1", true),
        ("UPDATE legal_holds SET user_id = $2 WHERE user_id = $1", true),
        ("UPDATE dsr_requests SET subject_user_id = $2 WHERE subject_user_id = $1", true),
        ("DELETE FROM users WHERE id = $1", false),
    ];
    let mut changed = 0;
    for (sql, takes_into) in statements {
        let query = sqlx::query(sql).bind(from);
        let query = if takes_into { query.bind(into) } else { query };
        changed += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// Replaces the person's identity with a pseudonym; their activity stays, pseudonymous.
pub(crate) async fn anonymize_person(conn: &mut PgConnection, user: i64, pseudonym: &str, now: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE users SET external_id = $2, display_name = $2, email = NULL, phone = NULL, last_seen_at = NULL,
                anonymized_at = coalesce(anonymized_at, $3::timestamptz)
         WHERE id = $1 AND (external_id <> $2 OR display_name IS DISTINCT FROM $2 OR email IS NOT NULL
                            OR phone IS NOT NULL OR last_seen_at IS NOT NULL OR anonymized_at IS NULL)",
    )
    .bind(user)
    .bind(pseudonym)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

pub(crate) async fn redact_bodies(conn: &mut PgConnection, user: i64, text: &str) -> Result<u64> {
    Ok(sqlx::query("UPDATE messages SET body = $2 WHERE sender_id = $1 AND body IS NOT NULL AND body <> $2")
        .bind(user)
        .bind(text)
        .execute(conn)
        .await?
        .rows_affected())
}

pub(crate) async fn bodies_of(conn: &mut PgConnection, user: i64) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, body FROM messages WHERE sender_id = $1 AND body IS NOT NULL ORDER BY id")
        .bind(user)
        .fetch_all(conn)
        .await?)
}

pub(crate) async fn set_body(conn: &mut PgConnection, message: i64, body: &str) -> Result<()> {
    sqlx::query("UPDATE messages SET body = $2 WHERE id = $1").bind(message).bind(body).execute(conn).await?;
    Ok(())
}

/// Replaces what chatkeep's own tables say about the person (a hold's target, a request's
/// subject) with `marker`; `identifiers` are the values a request may have named them by.
pub(crate) async fn redact_references(
    conn: &mut PgConnection,
    user: i64,
    identifiers: &[&str],
    marker: &str,
) -> Result<u64> {
    let holds = sqlx::query(
        "UPDATE legal_holds SET target_external_id = $3
         WHERE target_kind = 'user' AND (user_id = $1 OR target_external_id = ANY($2))",
    )
    .bind(user)
    .bind(identifiers)
    .bind(marker)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let requests = sqlx::query("UPDATE dsr_requests SET subject = $3 WHERE subject_user_id = $1 OR subject = ANY($2)")
        .bind(user)
        .bind(identifiers)
        .bind(marker)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(holds + requests)
}

/// The checks a completion certificate lists: each a query and its result, all of which must be 0.
/// The person's identifiers are bound as parameters and never written into the certificate.
/// Every query takes the same six parameters, used or not (the certificate's note names them);
/// they run unprepared, since the same text may be prepared elsewhere on this connection with
/// only the parameters it names.
pub(crate) async fn certificate_checks(conn: &mut PgConnection, s: &CheckSubject<'_>) -> Result<Vec<CertificateCheck>> {
    let mut checks: Vec<(&str, &str)> = Vec::new();
    match s.strategy {
        ErasureStrategy::Delete => checks.extend(DELETE_CHECKS),
        ErasureStrategy::Anonymize => {
            checks.push((
                "their user row still carrying an identity",
                "SELECT count(*) FROM users WHERE id = $1 AND (external_id IS DISTINCT FROM $5
                 OR display_name IS DISTINCT FROM $5 OR email IS NOT NULL OR phone IS NOT NULL
                 OR last_seen_at IS NOT NULL OR anonymized_at IS NULL)",
            ));
            if let Some(_redacted) = s.redacted_body {
                checks.push((
                    "their message bodies not redacted",
                    "SELECT count(*) FROM messages WHERE sender_id = $1 AND body IS NOT NULL
                     AND body IS DISTINCT FROM $6",
                ));
            }
        }
    }
    checks.extend(IDENTIFIER_CHECKS);
    let mut out = Vec::with_capacity(checks.len());
    for (what, sql) in checks {
        let result: i64 = sqlx::query_scalar(sql)
            .persistent(false)
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
