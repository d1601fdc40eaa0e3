//! The reads an export makes, on PostgreSQL. The shapes match SQLite's exactly, so an export
//! of the same data is the same file on either engine:
//!
//! - a page of messages comes back as typed rows;
//! - conversation figures come back as rows;
//! - JSONL lines are written here, key by key in SQLite's `json_object` order, because
//!   PostgreSQL's `json_build_object` puts spaces around `:` and `jsonb` keeps no key order:
//!   a conversation's `context` is written as stored (a `json` column keeps its text), as on SQLite.
//!
//! Only the filters a scope uses are written into the SQL (values are always bound), so each
//! shape gets a plan of its own instead of one generic plan full of `OR`s. The range is bound
//! as `timestamptz`: a text parameter cast in the SQL is parsed again for every row a
//! sequential scan filters, several times slower over a million rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::PgPool;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;

use crate::export::{ExportConversation, ExportScope, MessageRow, PageSent};
use crate::{Result, StoreError};

/// The parameters every export query takes, bound in this order whether the SQL uses them or not:
/// $1 from, $2 to, $3 conversation ids, $4 participant, $5 kinds, $6 the page's conversation ids.
struct Bound<'a> {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &'a ExportScope,
    page: &'a [i64],
}

impl<'a> Bound<'a> {
    fn new(scope: &'a ExportScope, page: &'a [i64]) -> Result<Self> {
        let instant = |text: &str| {
            crate::db_time::from_db(text)
                .ok_or_else(|| StoreError::invalid(format!("export range: {text:?} is not an instant")))
        };
        Ok(Bound { from: instant(&scope.from)?, to: instant(&scope.to)?, scope, page })
    }

    fn rows<T>(&self, sql: &'a str) -> QueryAs<'a, sqlx::Postgres, T, PgArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(self.from)
            .bind(self.to)
            .bind(self.scope.conversations.as_slice())
            .bind(self.scope.participant)
            .bind(self.scope.kinds.as_slice())
            .bind(self.page)
    }
}

/// Conditions on `m` (messages) and `c` (their conversations) for a scope, with only the filters it uses.
fn scope_sql(scope: &ExportScope) -> String {
    let mut sql = String::from("m.created_at >= $1 AND m.created_at < $2");
    if !scope.include_expired {
        sql.push_str(" AND m.expired_at IS NULL AND c.expired_at IS NULL");
    }
    if !scope.conversations.is_empty() {
        sql.push_str(" AND c.id = ANY($3)");
    }
    if scope.participant.is_some() {
        sql.push_str(" AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = $4)");
    }
    if !scope.kinds.is_empty() {
        sql.push_str(" AND c.kind = ANY($5)");
    }
    sql
}

pub(crate) async fn conversations(pool: &PgPool, scope: &ExportScope) -> Result<Vec<(i64, i64)>> {
    let sql = format!(
        "SELECT m.conversation_id, count(*)
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE {} GROUP BY m.conversation_id ORDER BY m.conversation_id",
        scope_sql(scope)
    );
    Ok(Bound::new(scope, &[])?.rows(&sql).fetch_all(pool).await?)
}

/// Messages in scope: `m`, joined to its conversation `c` and then to `joins`.
fn in_scope(scope: &ExportScope, joins: &str) -> String {
    format!("messages m JOIN conversations c ON c.id = m.conversation_id {joins} WHERE {}", scope_sql(scope))
}

/// The page's messages in scope: `m`, joined to its conversation `c` and then to `joins`.
fn page_messages(scope: &ExportScope, joins: &str) -> String {
    format!(
        "messages m JOIN conversations c ON c.id = m.conversation_id {joins}
         WHERE m.conversation_id = ANY($6) AND {}",
        scope_sql(scope)
    )
}

/// An export's message columns, `MessageRow`'s fields in order.
const MESSAGE_COLUMNS: &str = "c.id, c.external_id, c.title, c.kind, m.external_id, ck_ts(m.created_at), s.external_id,
     s.display_name, m.role, m.kind, m.body, m.tokens_used, r.external_id, m.pinned, ck_ts(m.expired_at)";
const MESSAGE_JOINS: &str = "LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id";

pub(crate) async fn messages(pool: &PgPool, scope: &ExportScope, page: &[i64]) -> Result<Vec<MessageRow>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {} ORDER BY m.conversation_id, m.created_at, m.id",
        page_messages(scope, MESSAGE_JOINS)
    );
    Ok(Bound::new(scope, page)?.rows(&sql).fetch_all(pool).await?)
}

/// Every message in scope, in the order pages would give them, from one query read as it
/// arrives: the server plans and sorts once instead of once per page. `page` gets `rows`
/// messages at a time and returns false to stop.
pub(crate) async fn stream_messages(
    pool: &PgPool,
    scope: &ExportScope,
    rows: usize,
    mut page: impl FnMut(Vec<MessageRow>) -> PageSent,
) -> Result<()> {
    use futures_util::TryStreamExt;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {} ORDER BY m.conversation_id, m.created_at, m.id",
        in_scope(scope, MESSAGE_JOINS)
    );
    let bound = Bound::new(scope, &[])?;
    let mut stream = bound.rows::<MessageRow>(&sql).fetch(pool);
    let mut batch = Vec::with_capacity(rows);
    while let Some(row) = stream.try_next().await? {
        batch.push(row);
        if batch.len() >= rows && !page(std::mem::replace(&mut batch, Vec::with_capacity(rows))).await {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        page(batch).await;
    }
    Ok(())
}

type ConversationRow = (
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Vec<String>,
    i64,
    i64,
    String,
    String,
);

pub(crate) async fn conversation_rows(
    pool: &PgPool,
    scope: &ExportScope,
    page: &[i64],
) -> Result<Vec<ExportConversation>> {
    let sql = format!(
        "SELECT c.id, c.external_id, c.title, c.kind, o.external_id, ck_ts(c.created_at), ck_ts(c.last_activity_at),
                coalesce((SELECT array_agg(u.external_id ORDER BY p.user_id)
                          FROM participants p JOIN users u ON u.id = p.user_id
                          WHERE p.conversation_id = c.id), '{{}}'),
                t.n, t.tokens, ck_ts(t.first), ck_ts(t.last)
         FROM (SELECT m.conversation_id AS id, count(*) AS n, sum(m.tokens_used)::bigint AS tokens,
                      min(m.created_at) AS first, max(m.created_at) AS last
               FROM {} GROUP BY m.conversation_id) t
         JOIN conversations c ON c.id = t.id LEFT JOIN users o ON o.id = c.owner_id
         ORDER BY c.id",
        page_messages(scope, "")
    );
    let rows: Vec<ConversationRow> = Bound::new(scope, page)?.rows(&sql).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                conversation_id,
                conversation,
                title,
                kind,
                owner,
                created_at,
                last_activity_at,
                participants,
                messages,
                tokens_used,
                first,
                last,
            )| ExportConversation {
                conversation_id,
                conversation,
                title,
                kind,
                owner,
                created_at,
                last_activity_at,
                participants,
                messages,
                tokens_used,
                first_message_at: Some(first),
                last_message_at: Some(last),
            },
        )
        .collect())
}

// ---- JSONL: the import shapes, one line per row ----

/// Writes one JSONL line the way SQLite's `json_object` does: no spaces, keys in field order.
fn push_line(out: &mut String, line: &impl Serialize) -> Result<()> {
    if !out.is_empty() {
        out.push('\n');
    }
    let text =
        serde_json::to_string(line).map_err(|e| StoreError::invalid(format!("cannot write an export line: {e}")))?;
    out.push_str(&text);
    Ok(())
}

/// A conversation's `context` as stored: a `json` column keeps the text as it was written,
/// key order included, as SQLite's `json(context)` gives it back.
fn context_json(text: Option<&str>) -> Result<Option<Box<RawValue>>> {
    let Some(text) = text else { return Ok(None) };
    Ok(Some(
        RawValue::from_string(text.trim().to_string())
            .map_err(|e| StoreError::invalid(format!("conversation context: {e}")))?,
    ))
}

#[derive(Serialize)]
struct ConversationLine<'a> {
    r#type: &'static str,
    id: &'a str,
    title: Option<&'a str>,
    kind: &'a str,
    owner: Option<&'a str>,
    context: Option<Box<RawValue>>,
    retention_policy: Option<&'a str>,
    legal_hold: bool,
    created_at: &'a str,
    last_activity_at: Option<&'a str>,
    archived_at: Option<&'a str>,
}

#[derive(Serialize)]
struct ParticipantLine<'a> {
    r#type: &'static str,
    conversation: &'a str,
    user: &'a str,
    role: &'a str,
    joined_at: &'a str,
}

#[derive(Serialize)]
struct MessageLine<'a> {
    r#type: &'static str,
    id: &'a str,
    conversation: &'a str,
    sender: Option<&'a str>,
    role: &'a str,
    kind: &'a str,
    body: Option<&'a str>,
    tokens_used: i64,
    reply_to: Option<&'a str>,
    pinned: bool,
    created_at: &'a str,
}

#[derive(Serialize)]
struct ReadLine<'a> {
    r#type: &'static str,
    message: &'a str,
    user: &'a str,
    read_at: &'a str,
}

#[derive(Serialize)]
struct UserLine<'a> {
    r#type: &'static str,
    id: &'a str,
    display_name: Option<&'a str>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    created_at: &'a str,
    last_seen_at: Option<&'a str>,
}

type ConversationRecord = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    String,
    Option<String>,
    Option<String>,
);
type MessageRecord = (
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    bool,
    String,
);

/// The page's rows in import order: its conversations, their participants, the messages in
/// scope (by conversation and time) and the reads of those messages. A reply keeps its link only
/// when the message it answers is in the export too.
pub(crate) async fn records(pool: &PgPool, scope: &ExportScope, page: &[i64]) -> Result<String> {
    let bound = Bound::new(scope, page)?;
    let mut out = String::new();

    let conversations: Vec<ConversationRecord> = bound
        .rows(
            "SELECT c.external_id, c.title, c.kind, o.external_id, c.context::text, c.retention_policy, c.legal_hold,
                    ck_ts(c.created_at), ck_ts(c.last_activity_at), ck_ts(c.archived_at)
             FROM conversations c LEFT JOIN users o ON o.id = c.owner_id
             WHERE c.id = ANY($6) ORDER BY c.id",
        )
        .fetch_all(pool)
        .await?;
    for (id, title, kind, owner, context, retention_policy, legal_hold, created_at, last_activity_at, archived_at) in
        &conversations
    {
        push_line(
            &mut out,
            &ConversationLine {
                r#type: "conversation",
                id,
                title: title.as_deref(),
                kind,
                owner: owner.as_deref(),
                context: context_json(context.as_deref())?,
                retention_policy: retention_policy.as_deref(),
                legal_hold: *legal_hold,
                created_at,
                last_activity_at: last_activity_at.as_deref(),
                archived_at: archived_at.as_deref(),
            },
        )?;
    }

    let participants: Vec<(String, String, String, String)> = bound
        .rows(
            "SELECT c.external_id, u.external_id, p.role, ck_ts(p.joined_at)
             FROM participants p JOIN conversations c ON c.id = p.conversation_id JOIN users u ON u.id = p.user_id
             WHERE p.conversation_id = ANY($6) ORDER BY p.conversation_id, p.user_id",
        )
        .fetch_all(pool)
        .await?;
    for (conversation, user, role, joined_at) in &participants {
        push_line(&mut out, &ParticipantLine { r#type: "participant", conversation, user, role, joined_at })?;
    }

    let sql = format!(
        "SELECT m.id, m.reply_to_id, m.external_id, c.external_id, s.external_id, m.role, m.kind, m.body,
                m.tokens_used, r.external_id, m.pinned, ck_ts(m.created_at)
         FROM {} ORDER BY m.conversation_id, m.created_at, m.id",
        page_messages(scope, MESSAGE_JOINS)
    );
    let messages: Vec<MessageRecord> = bound.rows(&sql).fetch_all(pool).await?;
    let chosen: std::collections::HashSet<i64> = messages.iter().map(|m| m.0).collect();
    for (_, reply_to_id, id, conversation, sender, role, kind, body, tokens_used, reply_to, pinned, created_at) in
        &messages
    {
        let reply_to = reply_to.as_deref().filter(|_| reply_to_id.is_some_and(|r| chosen.contains(&r)));
        push_line(
            &mut out,
            &MessageLine {
                r#type: "message",
                id,
                conversation,
                sender: sender.as_deref(),
                role,
                kind,
                body: body.as_deref(),
                tokens_used: *tokens_used,
                reply_to,
                pinned: *pinned,
                created_at,
            },
        )?;
    }
    drop(messages);

    let sql = format!(
        "SELECT m.external_id, u.external_id, ck_ts(rd.read_at)
         FROM {} ORDER BY m.conversation_id, rd.user_id, rd.message_id",
        page_messages(scope, "JOIN message_reads rd ON rd.message_id = m.id JOIN users u ON u.id = rd.user_id")
    );
    let reads: Vec<(String, String, String)> = bound.rows(&sql).fetch_all(pool).await?;
    for (message, user, read_at) in &reads {
        push_line(&mut out, &ReadLine { r#type: "read", message, user, read_at })?;
    }
    Ok(out)
}

type UserRecord = (String, Option<String>, Option<String>, Option<String>, String, Option<String>);

/// Every user the exported rows refer to: participants and owners of the conversations,
/// senders and readers of the messages in scope.
pub(crate) async fn user_records(pool: &PgPool, scope: &ExportScope, page: &[i64]) -> Result<String> {
    let sql = format!(
        "WITH chosen AS MATERIALIZED (SELECT m.id, m.sender_id FROM {}),
              people(id) AS (
                SELECT user_id FROM participants WHERE conversation_id = ANY($6)
                UNION SELECT owner_id FROM conversations WHERE id = ANY($6) AND owner_id IS NOT NULL
                UNION SELECT sender_id FROM chosen WHERE sender_id IS NOT NULL
                UNION SELECT rd.user_id FROM message_reads rd JOIN chosen ON chosen.id = rd.message_id)
         SELECT external_id, display_name, email, phone, ck_ts(created_at), ck_ts(last_seen_at)
         FROM users WHERE id IN (SELECT id FROM people) ORDER BY id",
        page_messages(scope, "")
    );
    let users: Vec<UserRecord> = Bound::new(scope, page)?.rows(&sql).fetch_all(pool).await?;
    let mut out = String::new();
    for (id, display_name, email, phone, created_at, last_seen_at) in &users {
        push_line(
            &mut out,
            &UserLine {
                r#type: "user",
                id,
                display_name: display_name.as_deref(),
                email: email.as_deref(),
                phone: phone.as_deref(),
                created_at,
                last_seen_at: last_seen_at.as_deref(),
            },
        )?;
    }
    Ok(out)
}
