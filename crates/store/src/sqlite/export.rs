use sqlx::SqlitePool;

use super::retention::ids_json;
use crate::Result;
use crate::export::{ExportConversation, ExportScope};

/// Conditions on `m` (messages) and `c` (conversations) for a scope; binds $1 from, $2 to,
/// $3 conversations JSON, $4 participant, $5 kinds JSON, $6 include expired.
const SCOPE: &str = "m.created_at >= $1 AND m.created_at < $2
    AND ($6 OR m.expired_at IS NULL)
    AND ($3 = '[]' OR c.id IN (SELECT value FROM json_each($3)))
    AND ($4 IS NULL OR EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = $4))
    AND ($5 = '[]' OR c.kind IN (SELECT value FROM json_each($5)))
    AND ($6 OR c.expired_at IS NULL)";

fn kinds_json(scope: &ExportScope) -> String {
    serde_json::to_string(&scope.kinds).unwrap_or_else(|_| "[]".into())
}

macro_rules! bind_scope {
    ($query:expr, $scope:expr) => {
        $query
            .bind(&$scope.from)
            .bind(&$scope.to)
            .bind(ids_json(&$scope.conversations))
            .bind($scope.participant)
            .bind(kinds_json($scope))
            .bind($scope.include_expired)
    };
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    super::from_json(json, "export page")
}

pub(crate) async fn conversations(pool: &SqlitePool, scope: &ExportScope) -> Result<Vec<(i64, i64)>> {
    let sql = format!(
        "SELECT coalesce(json_group_array(json_array(id, n)), '[]') FROM (
             SELECT m.conversation_id AS id, count(*) AS n
             FROM messages m INDEXED BY messages_conversation_created JOIN conversations c ON c.id = m.conversation_id
             WHERE {SCOPE} GROUP BY m.conversation_id ORDER BY m.conversation_id)"
    );
    let json: String = bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope).fetch_one(pool).await?;
    parse(&json)
}

/// Restricts a page to `$7`, a JSON list of conversation ids.
const PAGE: &str = "m.conversation_id IN (SELECT value FROM json_each($7))";

pub(crate) async fn messages(pool: &SqlitePool, scope: &ExportScope, page: &[i64]) -> Result<String> {
    let sql = format!(
        "SELECT coalesce(json_group_array(json_array(
                    c.id, c.external_id, c.title, c.kind, m.external_id, m.created_at, s.external_id,
                    s.display_name, m.role, m.kind, m.body, m.tokens_used, r.external_id,
                    CASE WHEN m.pinned THEN json('true') ELSE json('false') END, m.expired_at)), '[]')
         FROM (SELECT m.* FROM messages m INDEXED BY messages_conversation_created
               JOIN conversations c ON c.id = m.conversation_id
               WHERE {PAGE} AND {SCOPE} ORDER BY m.conversation_id, m.created_at, m.id) m
         JOIN conversations c ON c.id = m.conversation_id
         LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id"
    );
    Ok(bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope).bind(ids_json(page)).fetch_one(pool).await?)
}

pub(crate) async fn conversation_rows(
    pool: &SqlitePool,
    scope: &ExportScope,
    page: &[i64],
) -> Result<Vec<ExportConversation>> {
    let sql = format!(
        "SELECT coalesce(json_group_array(json_object(
                    'conversation_id', c.id, 'conversation', c.external_id, 'title', c.title, 'kind', c.kind,
                    'owner', o.external_id, 'created_at', c.created_at, 'last_activity_at', c.last_activity_at,
                    'participants', (SELECT coalesce(json_group_array(u.external_id), '[]')
                                     FROM participants p JOIN users u ON u.id = p.user_id
                                     WHERE p.conversation_id = c.id),
                    'messages', t.n, 'tokens_used', t.tokens, 'first_message_at', t.first,
                    'last_message_at', t.last)), '[]')
         FROM (SELECT m.conversation_id AS id, count(*) AS n, sum(m.tokens_used) AS tokens,
                      min(m.created_at) AS first, max(m.created_at) AS last
               FROM messages m INDEXED BY messages_conversation_created
               JOIN conversations c ON c.id = m.conversation_id
               WHERE {PAGE} AND {SCOPE} GROUP BY m.conversation_id) t
         JOIN conversations c ON c.id = t.id LEFT JOIN users o ON o.id = c.owner_id"
    );
    let json: String =
        bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope).bind(ids_json(page)).fetch_one(pool).await?;
    let mut rows: Vec<ExportConversation> = parse(&json)?;
    rows.sort_by_key(|r| r.conversation_id);
    Ok(rows)
}

pub(crate) async fn records(pool: &SqlitePool, scope: &ExportScope, page: &[i64]) -> Result<String> {
    let bool_json = |column: &str| format!("CASE WHEN {column} THEN json('true') ELSE json('false') END");
    let in_scope = format!(
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE {PAGE} AND {SCOPE}"
    );
    let sql = format!(
        "WITH chosen(id) AS ({in_scope})
         SELECT coalesce(group_concat(line, char(10)), '') FROM (
           SELECT 0 AS part, c.id AS k1, 0 AS k2, '' AS k3, json_object('type', 'conversation', 'id', c.external_id,
                  'title', c.title, 'kind', c.kind, 'owner', o.external_id, 'context', json(c.context),
                  'retention_policy', c.retention_policy, 'legal_hold', {hold}, 'created_at', c.created_at,
                  'last_activity_at', c.last_activity_at, 'archived_at', c.archived_at) AS line
           FROM conversations c LEFT JOIN users o ON o.id = c.owner_id
           WHERE c.id IN (SELECT value FROM json_each($7))
           UNION ALL
           SELECT 1, p.conversation_id, p.user_id, '', json_object('type', 'participant', 'conversation', c.external_id,
                  'user', u.external_id, 'role', p.role, 'joined_at', p.joined_at)
           FROM participants p JOIN conversations c ON c.id = p.conversation_id JOIN users u ON u.id = p.user_id
           WHERE p.conversation_id IN (SELECT value FROM json_each($7))
           UNION ALL
           SELECT 2, m.conversation_id, m.id, m.created_at, json_object('type', 'message', 'id', m.external_id,
                  'conversation', c.external_id, 'sender', s.external_id, 'role', m.role, 'kind', m.kind,
                  'body', m.body, 'tokens_used', m.tokens_used,
                  'reply_to', CASE WHEN m.reply_to_id IN (SELECT id FROM chosen) THEN r.external_id END,
                  'pinned', {pinned}, 'created_at', m.created_at)
           FROM messages m JOIN conversations c ON c.id = m.conversation_id
           LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
           WHERE m.id IN (SELECT id FROM chosen)
           UNION ALL
           SELECT 3, m.conversation_id, rd.message_id, rd.user_id, json_object('type', 'read', 'message', m.external_id,
                  'user', u.external_id, 'read_at', rd.read_at)
           FROM message_reads rd JOIN messages m ON m.id = rd.message_id JOIN users u ON u.id = rd.user_id
           WHERE rd.message_id IN (SELECT id FROM chosen)
           ORDER BY part, k1, k3, k2)",
        hold = bool_json("c.legal_hold"),
        pinned = bool_json("m.pinned"),
    );
    Ok(bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope).bind(ids_json(page)).fetch_one(pool).await?)
}

pub(crate) async fn user_records(pool: &SqlitePool, scope: &ExportScope, page: &[i64]) -> Result<String> {
    let in_scope = format!(
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE {PAGE} AND {SCOPE}"
    );
    let sql = format!(
        "WITH chosen(id) AS ({in_scope}),
              people(id) AS (
                SELECT user_id FROM participants WHERE conversation_id IN (SELECT value FROM json_each($7))
                UNION SELECT owner_id FROM conversations WHERE id IN (SELECT value FROM json_each($7)) AND owner_id IS NOT NULL
                UNION SELECT sender_id FROM messages WHERE id IN (SELECT id FROM chosen) AND sender_id IS NOT NULL
                UNION SELECT user_id FROM message_reads WHERE message_id IN (SELECT id FROM chosen))
         SELECT coalesce(group_concat(json_object('type', 'user', 'id', external_id, 'display_name', display_name,
                    'email', email, 'phone', phone, 'created_at', created_at, 'last_seen_at', last_seen_at), char(10)), '')
         FROM users WHERE id IN (SELECT id FROM people)"
    );
    Ok(bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope).bind(ids_json(page)).fetch_one(pool).await?)
}
