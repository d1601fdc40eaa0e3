//! Chat data on PostgreSQL: bulk loads with `COPY` (the demo seeder) and one-round-trip
//! upserts keyed by the chat service's ids (import, archive restores).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::Result;
use crate::chat::{Entity, MAX_IDS, Upserted, find_id_sql};
use crate::db_time::to_db;
use crate::{ChatBatch, MaxIds};
use chatkeep_domain::chat::{Conversation, Message, MessageRead, Participant, User};

pub(crate) async fn max_ids(conn: &mut PgConnection) -> Result<MaxIds> {
    let (user, conversation, message): (i64, i64, i64) = sqlx::query_as(MAX_IDS).fetch_one(conn).await?;
    Ok(MaxIds { user, conversation, message })
}

pub(crate) async fn count_conversations_with_prefix(pool: &PgPool, prefix: &str) -> Result<i64> {
    // starts_with, not a range on the unique index: under a linguistic collation (en_US and
    // the like) a text range does not follow byte order, and the answer would be wrong.
    Ok(sqlx::query_scalar("SELECT count(*) FROM conversations WHERE starts_with(external_id, $1)")
        .bind(prefix)
        .fetch_one(pool)
        .await?)
}

/// Moves a table's identity sequence past `max_id` (never back), so rows the server numbers
/// later do not collide with rows written with ids of their own.
pub(super) async fn move_identity_past(conn: &mut PgConnection, table: &'static str, max_id: i64) -> Result<()> {
    // setval is not undone by a rollback; a failed write then only leaves a gap in the numbering.
    sqlx::query(
        "SELECT setval(seq, $2)
         FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq) AS s
         WHERE $2 > coalesce(pg_sequence_last_value(seq), 0)",
    )
    .bind(table)
    .bind(max_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Bytes buffered before they are sent to the server during a COPY.
const COPY_CHUNK: usize = 1 << 20;

/// Rows in the text format of `COPY ... FROM STDIN`: tab between columns, newline after
/// each row, `\N` for NULL, and backslash escapes inside values.
struct CopyRows {
    buffer: Vec<u8>,
    row_started: bool,
}

impl CopyRows {
    fn new() -> CopyRows {
        CopyRows { buffer: Vec::with_capacity(COPY_CHUNK + 64 * 1024), row_started: false }
    }

    fn separate(&mut self) {
        if self.row_started {
            self.buffer.push(b'\t');
        }
        self.row_started = true;
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        for byte in value.bytes() {
            match byte {
                b'\\' => self.buffer.extend_from_slice(b"\\\\"),
                b'\t' => self.buffer.extend_from_slice(b"\\t"),
                b'\n' => self.buffer.extend_from_slice(b"\\n"),
                b'\r' => self.buffer.extend_from_slice(b"\\r"),
                other => self.buffer.push(other),
            }
        }
        self
    }

    fn null(&mut self) -> &mut Self {
        self.separate();
        self.buffer.extend_from_slice(b"\\N");
        self
    }

    fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.separate();
        self.buffer.extend_from_slice(value.to_string().as_bytes());
        self
    }

    fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    fn boolean(&mut self, value: bool) -> &mut Self {
        self.separate();
        self.buffer.push(if value { b't' } else { b'f' });
        self
    }

    fn instant(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.text(&to_db(value))
    }

    fn opt_instant(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            Some(v) => self.instant(v),
            None => self.null(),
        }
    }

    fn end_row(&mut self) {
        self.buffer.push(b'\n');
        self.row_started = false;
    }
}

/// Streams `rows` into a table with one COPY statement. The caller's transaction is the unit
/// of rollback; foreign keys are checked as usual, at the end of the statement.
async fn copy_rows<T>(
    conn: &mut PgConnection,
    statement: &'static str,
    rows: &[T],
    mut write: impl FnMut(&mut CopyRows, &T),
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut out = CopyRows::new();
    for row in rows {
        write(&mut out, row);
        out.end_row();
        if out.buffer.len() >= COPY_CHUNK {
            copy.send(out.buffer.as_slice()).await?;
            out.buffer.clear();
        }
    }
    if !out.buffer.is_empty() {
        copy.send(out.buffer.as_slice()).await?;
    }
    copy.finish().await?;
    Ok(())
}

pub(crate) async fn insert_batch(conn: &mut PgConnection, batch: &ChatBatch) -> Result<()> {
    // The ids are the caller's: the sequences move past them first, so that rows numbered by
    // the server (an import running meanwhile, or later) never take one of them.
    if let Some(max) = batch.users.iter().map(|u| u.id).max() {
        move_identity_past(conn, "users", max).await?;
    }
    if let Some(max) = batch.conversations.iter().map(|c| c.id).max() {
        move_identity_past(conn, "conversations", max).await?;
    }
    if let Some(max) = batch.messages.iter().map(|m| m.id).max() {
        move_identity_past(conn, "messages", max).await?;
    }

    copy_rows(
        conn,
        "COPY users (id, external_id, display_name, email, phone, created_at, last_seen_at) FROM STDIN",
        &batch.users,
        |out, u| {
            out.int(u.id)
                .text(&u.external_id)
                .opt_text(u.display_name.as_deref())
                .opt_text(u.email.as_deref())
                .opt_text(u.phone.as_deref())
                .instant(u.created_at)
                .opt_instant(u.last_seen_at);
        },
    )
    .await?;
    copy_rows(
        conn,
        "COPY conversations (id, external_id, title, kind, owner_id, context, retention_policy, legal_hold, \
         created_at, last_activity_at, archived_at) FROM STDIN",
        &batch.conversations,
        |out, c| {
            out.int(c.id)
                .text(&c.external_id)
                .opt_text(c.title.as_deref())
                .text(c.kind.as_str())
                .opt_int(c.owner_id)
                .opt_text(c.context.as_deref())
                .opt_text(c.retention_policy.as_deref())
                .boolean(c.legal_hold)
                .instant(c.created_at)
                .opt_instant(c.last_activity_at)
                .opt_instant(c.archived_at);
        },
    )
    .await?;
    copy_rows(
        conn,
        "COPY participants (conversation_id, user_id, role, joined_at) FROM STDIN",
        &batch.participants,
        |out, p| {
            out.int(p.conversation_id).int(p.user_id).text(&p.role).instant(p.joined_at);
        },
    )
    .await?;
    copy_rows(
        conn,
        "COPY messages (id, external_id, conversation_id, sender_id, role, kind, body, tokens_used, reply_to_id, \
         pinned, created_at) FROM STDIN",
        &batch.messages,
        |out, m| {
            out.int(m.id)
                .text(&m.external_id)
                .int(m.conversation_id)
                .opt_int(m.sender_id)
                .text(m.role.as_str())
                .text(m.kind.as_str())
                .opt_text(m.body.as_deref())
                .int(m.tokens_used)
                .opt_int(m.reply_to_id)
                .boolean(m.pinned)
                .instant(m.created_at);
        },
    )
    .await?;
    copy_rows(conn, "COPY message_reads (message_id, user_id, read_at) FROM STDIN", &batch.reads, |out, r| {
        out.int(r.message_id).int(r.user_id).instant(r.read_at);
    })
    .await
}

pub(crate) async fn find_id(conn: impl sqlx::PgExecutor<'_>, kind: Entity, external_id: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(find_id_sql(kind)).bind(external_id).fetch_optional(conn).await?)
}

// Each upsert is one statement, one round trip: `existing` finds the row, `updated` changes it
// only where a value differs, `inserted` adds it when absent, and the last SELECT says which
// happened. No sequence value is spent on rows that already exist.

/// What an upsert did, from its `inserted` and `updated` steps.
macro_rules! upsert_outcome {
    () => {
        "CASE WHEN EXISTS (SELECT FROM inserted) THEN 'inserted'
              WHEN EXISTS (SELECT FROM updated) THEN 'updated'
              ELSE 'unchanged' END"
    };
}

/// The closing SELECT of an upsert on a table with an id: the row's id and what happened.
macro_rules! upsert_id_and_outcome {
    () => {
        concat!("SELECT coalesce((SELECT id FROM inserted), (SELECT id FROM existing)), ", upsert_outcome!())
    };
}

fn outcome(text: &str) -> Upserted {
    match text {
        "inserted" => Upserted::Inserted,
        "updated" => Upserted::Updated,
        _ => Upserted::Unchanged,
    }
}

pub(crate) async fn upsert_user(conn: &mut PgConnection, u: &User) -> Result<(i64, Upserted)> {
    let sql = concat!(
        "WITH existing AS (SELECT id FROM users WHERE external_id = $1),
         updated AS (
             UPDATE users u SET display_name = $2, email = $3, phone = $4, created_at = $5::timestamptz,
                                last_seen_at = $6::timestamptz
             FROM existing e
             WHERE u.id = e.id
               AND (u.display_name IS DISTINCT FROM $2 OR u.email IS DISTINCT FROM $3
                    OR u.phone IS DISTINCT FROM $4 OR u.created_at IS DISTINCT FROM $5::timestamptz
                    OR u.last_seen_at IS DISTINCT FROM $6::timestamptz)
             RETURNING u.id),
         inserted AS (
             INSERT INTO users (external_id, display_name, email, phone, created_at, last_seen_at)
             SELECT $1, $2, $3, $4, $5::timestamptz, $6::timestamptz
             WHERE NOT EXISTS (SELECT FROM existing)
             RETURNING id) ",
        upsert_id_and_outcome!()
    );
    let (id, done): (i64, String) = sqlx::query_as(sql)
        .bind(&u.external_id)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.phone)
        .bind(to_db(u.created_at))
        .bind(u.last_seen_at.map(to_db))
        .fetch_one(conn)
        .await?;
    Ok((id, outcome(&done)))
}

pub(crate) async fn upsert_conversation(conn: &mut PgConnection, c: &Conversation) -> Result<(i64, Upserted)> {
    // `legal_hold OR $8`: an import may place a hold but never lifts one.
    // An absent last_activity_at or archived_at keeps what chatkeep already knows.
    let sql = concat!(
        "WITH existing AS (SELECT id FROM conversations WHERE external_id = $1),
         updated AS (
             UPDATE conversations c
             SET title = $2, kind = $3, owner_id = $4, context = $5::json, retention_policy = $6,
                 created_at = $7::timestamptz, legal_hold = c.legal_hold OR $8,
                 last_activity_at = coalesce($9::timestamptz, c.last_activity_at),
                 archived_at = coalesce($10::timestamptz, c.archived_at)
             FROM existing e
             WHERE c.id = e.id
               AND (c.title IS DISTINCT FROM $2 OR c.kind IS DISTINCT FROM $3 OR c.owner_id IS DISTINCT FROM $4
                    OR c.context::jsonb IS DISTINCT FROM $5::jsonb OR c.retention_policy IS DISTINCT FROM $6
                    OR c.created_at IS DISTINCT FROM $7::timestamptz OR (NOT c.legal_hold AND $8)
                    OR ($9::timestamptz IS NOT NULL AND c.last_activity_at IS DISTINCT FROM $9::timestamptz)
                    OR ($10::timestamptz IS NOT NULL AND c.archived_at IS DISTINCT FROM $10::timestamptz))
             RETURNING c.id),
         inserted AS (
             INSERT INTO conversations (external_id, title, kind, owner_id, context, retention_policy, created_at,
                                        legal_hold, last_activity_at, archived_at)
             SELECT $1, $2, $3, $4, $5::json, $6, $7::timestamptz, $8, $9::timestamptz, $10::timestamptz
             WHERE NOT EXISTS (SELECT FROM existing)
             RETURNING id) ",
        upsert_id_and_outcome!()
    );
    let (id, done): (i64, String) = sqlx::query_as(sql)
        .bind(&c.external_id)
        .bind(&c.title)
        .bind(c.kind.as_str())
        .bind(c.owner_id)
        .bind(&c.context)
        .bind(&c.retention_policy)
        .bind(to_db(c.created_at))
        .bind(c.legal_hold)
        .bind(c.last_activity_at.map(to_db))
        .bind(c.archived_at.map(to_db))
        .fetch_one(conn)
        .await?;
    Ok((id, outcome(&done)))
}

pub(crate) async fn upsert_participant(conn: &mut PgConnection, p: &Participant, keep: bool) -> Result<Upserted> {
    let sql = concat!(
        "WITH existing AS (SELECT FROM participants WHERE conversation_id = $1 AND user_id = $2),
         updated AS (
             UPDATE participants SET role = $3, joined_at = $4::timestamptz
             WHERE NOT $5 AND conversation_id = $1 AND user_id = $2
               AND (role IS DISTINCT FROM $3 OR joined_at IS DISTINCT FROM $4::timestamptz)
             RETURNING 1),
         inserted AS (
             INSERT INTO participants (conversation_id, user_id, role, joined_at)
             SELECT $1, $2, $3, $4::timestamptz
             WHERE NOT EXISTS (SELECT FROM existing)
             RETURNING 1)
         SELECT ",
        upsert_outcome!()
    );
    let done: String = sqlx::query_scalar(sql)
        .bind(p.conversation_id)
        .bind(p.user_id)
        .bind(&p.role)
        .bind(to_db(p.joined_at))
        .bind(keep)
        .fetch_one(conn)
        .await?;
    Ok(outcome(&done))
}

pub(crate) async fn upsert_message(conn: &mut PgConnection, m: &Message) -> Result<(i64, Upserted)> {
    let sql = concat!(
        "WITH existing AS (SELECT id FROM messages WHERE external_id = $1),
         updated AS (
             UPDATE messages m
             SET conversation_id = $2, sender_id = $3, role = $4, kind = $5, body = $6, tokens_used = $7,
                 reply_to_id = $8, pinned = $9, created_at = $10::timestamptz
             FROM existing e
             WHERE m.id = e.id
               AND (m.conversation_id IS DISTINCT FROM $2 OR m.sender_id IS DISTINCT FROM $3
                    OR m.role IS DISTINCT FROM $4 OR m.kind IS DISTINCT FROM $5 OR m.body IS DISTINCT FROM $6
                    OR m.tokens_used IS DISTINCT FROM $7 OR m.reply_to_id IS DISTINCT FROM $8
                    OR m.pinned IS DISTINCT FROM $9 OR m.created_at IS DISTINCT FROM $10::timestamptz)
             RETURNING m.id),
         inserted AS (
             INSERT INTO messages (external_id, conversation_id, sender_id, role, kind, body, tokens_used,
                                   reply_to_id, pinned, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz
             WHERE NOT EXISTS (SELECT FROM existing)
             RETURNING id) ",
        upsert_id_and_outcome!()
    );
    let (id, done): (i64, String) = sqlx::query_as(sql)
        .bind(&m.external_id)
        .bind(m.conversation_id)
        .bind(m.sender_id)
        .bind(m.role.as_str())
        .bind(m.kind.as_str())
        .bind(&m.body)
        .bind(m.tokens_used)
        .bind(m.reply_to_id)
        .bind(m.pinned)
        .bind(to_db(m.created_at))
        .fetch_one(conn)
        .await?;
    Ok((id, outcome(&done)))
}

pub(crate) async fn upsert_read(conn: &mut PgConnection, r: &MessageRead, keep: bool) -> Result<Upserted> {
    let sql = concat!(
        "WITH existing AS (SELECT FROM message_reads WHERE message_id = $1 AND user_id = $2),
         updated AS (
             UPDATE message_reads SET read_at = $3::timestamptz
             WHERE NOT $4 AND message_id = $1 AND user_id = $2 AND read_at <> $3::timestamptz
             RETURNING 1),
         inserted AS (
             INSERT INTO message_reads (message_id, user_id, read_at)
             SELECT $1, $2, $3::timestamptz
             WHERE NOT EXISTS (SELECT FROM existing)
             RETURNING 1)
         SELECT ",
        upsert_outcome!()
    );
    let done: String = sqlx::query_scalar(sql)
        .bind(r.message_id)
        .bind(r.user_id)
        .bind(to_db(r.read_at))
        .bind(keep)
        .fetch_one(conn)
        .await?;
    Ok(outcome(&done))
}

pub(crate) async fn refresh_last_activity(conn: &mut PgConnection, conversation_ids: &[i64]) -> Result<()> {
    if conversation_ids.is_empty() {
        return Ok(());
    }
    // One statement for every conversation; each newest message is one probe of
    // messages_conversation_created.
    sqlx::query(
        "UPDATE conversations c SET last_activity_at = newest.at
         FROM unnest($1::bigint[]) AS t(id)
         CROSS JOIN LATERAL (SELECT max(created_at) AS at FROM messages WHERE conversation_id = t.id) AS newest
         WHERE c.id = t.id AND newest.at > coalesce(c.last_activity_at, '-infinity')",
    )
    .bind(conversation_ids)
    .execute(conn)
    .await?;
    Ok(())
}
