use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::Result;
use crate::chat::{Entity, MAX_IDS, Upserted, find_id_sql};
use crate::db_time::to_db;
use crate::{ChatBatch, MaxIds};
use chatkeep_domain::chat::{Conversation, Message, MessageRead, Participant, User};

pub(crate) async fn max_ids(conn: &mut SqliteConnection) -> Result<MaxIds> {
    let (user, conversation, message): (i64, i64, i64) = sqlx::query_as(MAX_IDS).fetch_one(conn).await?;
    Ok(MaxIds { user, conversation, message })
}

pub(crate) async fn count_conversations_with_prefix(pool: &SqlitePool, prefix: &str) -> Result<i64> {
    // A range on the unique index rather than LIKE, which SQLite would not index here.
    let upper = format!("{prefix}\u{10FFFF}");
    Ok(sqlx::query_scalar("SELECT count(*) FROM conversations WHERE external_id >= $1 AND external_id < $2")
        .bind(prefix)
        .bind(upper)
        .fetch_one(pool)
        .await?)
}

/// Writes rows in multi-row INSERTs. `head` is `INSERT OR FAIL INTO ...`: the caller's transaction
/// is the unit of rollback, so a failing statement need not undo its own earlier rows.
async fn insert_rows<T>(
    conn: &mut SqliteConnection,
    head: &'static str,
    columns: usize,
    rows: &[T],
    mut push: impl FnMut(sqlx::query_builder::Separated<'_, Sqlite, &'static str>, &T),
) -> Result<()> {
    // Stay below SQLite's limit of 32,766 bound parameters per statement.
    let per_statement = (32_000 / columns).min(super::MAX_ROWS_PER_INSERT);
    for chunk in rows.chunks(per_statement) {
        let mut builder = QueryBuilder::<Sqlite>::new(head);
        builder.push_values(chunk, &mut push);
        builder.build().persistent(true).execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn insert_batch(conn: &mut SqliteConnection, batch: &ChatBatch) -> Result<()> {
    insert_rows(
        conn,
        "INSERT OR FAIL INTO users (id, external_id, display_name, email, phone, created_at, last_seen_at) ",
        7,
        &batch.users,
        |mut b, u| {
            b.push_bind(u.id)
                .push_bind(u.external_id.clone())
                .push_bind(u.display_name.clone())
                .push_bind(u.email.clone())
                .push_bind(u.phone.clone())
                .push_bind(to_db(u.created_at))
                .push_bind(u.last_seen_at.map(to_db));
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT OR FAIL INTO conversations (id, external_id, title, kind, owner_id, context, retention_policy, \
         legal_hold, created_at, last_activity_at, archived_at) ",
        11,
        &batch.conversations,
        |mut b, c| {
            b.push_bind(c.id)
                .push_bind(c.external_id.clone())
                .push_bind(c.title.clone())
                .push_bind(c.kind.as_str())
                .push_bind(c.owner_id)
                .push_bind(c.context.clone())
                .push_bind(c.retention_policy.clone())
                .push_bind(c.legal_hold)
                .push_bind(to_db(c.created_at))
                .push_bind(c.last_activity_at.map(to_db))
                .push_bind(c.archived_at.map(to_db));
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT OR FAIL INTO participants (conversation_id, user_id, role, joined_at) ",
        4,
        &batch.participants,
        |mut b, p| {
            b.push_bind(p.conversation_id).push_bind(p.user_id).push_bind(p.role.clone()).push_bind(to_db(p.joined_at));
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT OR FAIL INTO messages (id, external_id, conversation_id, sender_id, role, kind, body, tokens_used, \
         reply_to_id, pinned, created_at) ",
        11,
        &batch.messages,
        |mut b, m| {
            b.push_bind(m.id)
                .push_bind(m.external_id.clone())
                .push_bind(m.conversation_id)
                .push_bind(m.sender_id)
                .push_bind(m.role.as_str())
                .push_bind(m.kind.as_str())
                .push_bind(m.body.clone())
                .push_bind(m.tokens_used)
                .push_bind(m.reply_to_id)
                .push_bind(m.pinned)
                .push_bind(to_db(m.created_at));
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT OR FAIL INTO message_reads (message_id, user_id, read_at) ",
        3,
        &batch.reads,
        |mut b, r| {
            b.push_bind(r.message_id).push_bind(r.user_id).push_bind(to_db(r.read_at));
        },
    )
    .await
}

pub(crate) async fn find_id(
    conn: impl sqlx::SqliteExecutor<'_>,
    kind: Entity,
    external_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(find_id_sql(kind)).bind(external_id).fetch_optional(conn).await?)
}

fn outcome_of_update(rows_affected: u64) -> Upserted {
    if rows_affected > 0 { Upserted::Updated } else { Upserted::Unchanged }
}

pub(crate) async fn upsert_user(conn: &mut SqliteConnection, u: &User) -> Result<(i64, Upserted)> {
    if let Some(id) = find_id(&mut *conn, Entity::User, &u.external_id).await? {
        let done = sqlx::query(
            "UPDATE users SET display_name = $2, email = $3, phone = $4, created_at = $5, last_seen_at = $6
             WHERE id = $1 AND (display_name IS NOT $2 OR email IS NOT $3 OR phone IS NOT $4
                                OR created_at IS NOT $5 OR last_seen_at IS NOT $6)",
        )
        .bind(id)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(&u.phone)
        .bind(to_db(u.created_at))
        .bind(u.last_seen_at.map(to_db))
        .execute(&mut *conn)
        .await?;
        return Ok((id, outcome_of_update(done.rows_affected())));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO users (external_id, display_name, email, phone, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&u.external_id)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(&u.phone)
    .bind(to_db(u.created_at))
    .bind(u.last_seen_at.map(to_db))
    .fetch_one(conn)
    .await?;
    Ok((id, Upserted::Inserted))
}

pub(crate) async fn upsert_conversation(conn: &mut SqliteConnection, c: &Conversation) -> Result<(i64, Upserted)> {
    if let Some(id) = find_id(&mut *conn, Entity::Conversation, &c.external_id).await? {
        // max(legal_hold, $8): an import may place a hold but never lifts one.
        // An absent last_activity_at or archived_at keeps what chatkeep already knows.
        let done = sqlx::query(
            "UPDATE conversations SET title = $2, kind = $3, owner_id = $4, context = $5, retention_policy = $6,
                    created_at = $7, legal_hold = max(legal_hold, $8),
                    last_activity_at = coalesce($9, last_activity_at), archived_at = coalesce($10, archived_at)
             WHERE id = $1 AND (title IS NOT $2 OR kind IS NOT $3 OR owner_id IS NOT $4 OR context IS NOT $5
                   OR retention_policy IS NOT $6 OR created_at IS NOT $7 OR legal_hold < $8
                   OR ($9 IS NOT NULL AND last_activity_at IS NOT $9)
                   OR ($10 IS NOT NULL AND archived_at IS NOT $10))",
        )
        .bind(id)
        .bind(&c.title)
        .bind(c.kind.as_str())
        .bind(c.owner_id)
        .bind(&c.context)
        .bind(&c.retention_policy)
        .bind(to_db(c.created_at))
        .bind(c.legal_hold)
        .bind(c.last_activity_at.map(to_db))
        .bind(c.archived_at.map(to_db))
        .execute(&mut *conn)
        .await?;
        return Ok((id, outcome_of_update(done.rows_affected())));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO conversations (external_id, title, kind, owner_id, context, retention_policy, created_at,
                                    legal_hold, last_activity_at, archived_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
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
    Ok((id, Upserted::Inserted))
}

pub(crate) async fn upsert_participant(conn: &mut SqliteConnection, p: &Participant, keep: bool) -> Result<Upserted> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM participants WHERE conversation_id = $1 AND user_id = $2")
            .bind(p.conversation_id)
            .bind(p.user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() && keep {
        return Ok(Upserted::Unchanged);
    }
    if exists.is_some() {
        let done = sqlx::query(
            "UPDATE participants SET role = $3, joined_at = $4
             WHERE conversation_id = $1 AND user_id = $2 AND (role IS NOT $3 OR joined_at IS NOT $4)",
        )
        .bind(p.conversation_id)
        .bind(p.user_id)
        .bind(&p.role)
        .bind(to_db(p.joined_at))
        .execute(conn)
        .await?;
        return Ok(outcome_of_update(done.rows_affected()));
    }
    sqlx::query("INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
        .bind(p.conversation_id)
        .bind(p.user_id)
        .bind(&p.role)
        .bind(to_db(p.joined_at))
        .execute(conn)
        .await?;
    Ok(Upserted::Inserted)
}

pub(crate) async fn upsert_message(conn: &mut SqliteConnection, m: &Message) -> Result<(i64, Upserted)> {
    if let Some(id) = find_id(&mut *conn, Entity::Message, &m.external_id).await? {
        let done = sqlx::query(
            "UPDATE messages SET conversation_id = $2, sender_id = $3, role = $4, kind = $5, body = $6,
                    tokens_used = $7, reply_to_id = $8, pinned = $9, created_at = $10
             WHERE id = $1 AND (conversation_id IS NOT $2 OR sender_id IS NOT $3 OR role IS NOT $4
                   OR kind IS NOT $5 OR body IS NOT $6 OR tokens_used IS NOT $7 OR reply_to_id IS NOT $8
                   OR pinned IS NOT $9 OR created_at IS NOT $10)",
        )
        .bind(id)
        .bind(m.conversation_id)
        .bind(m.sender_id)
        .bind(m.role.as_str())
        .bind(m.kind.as_str())
        .bind(&m.body)
        .bind(m.tokens_used)
        .bind(m.reply_to_id)
        .bind(m.pinned)
        .bind(to_db(m.created_at))
        .execute(&mut *conn)
        .await?;
        return Ok((id, outcome_of_update(done.rows_affected())));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO messages (external_id, conversation_id, sender_id, role, kind, body, tokens_used,
                               reply_to_id, pinned, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
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
    Ok((id, Upserted::Inserted))
}

pub(crate) async fn upsert_read(conn: &mut SqliteConnection, r: &MessageRead, keep: bool) -> Result<Upserted> {
    let existing: Option<String> =
        sqlx::query_scalar("SELECT read_at FROM message_reads WHERE message_id = $1 AND user_id = $2")
            .bind(r.message_id)
            .bind(r.user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let read_at = to_db(r.read_at);
    match existing {
        Some(stored) if stored == read_at || keep => Ok(Upserted::Unchanged),
        Some(_) => {
            sqlx::query("UPDATE message_reads SET read_at = $3 WHERE message_id = $1 AND user_id = $2")
                .bind(r.message_id)
                .bind(r.user_id)
                .bind(read_at)
                .execute(conn)
                .await?;
            Ok(Upserted::Updated)
        }
        None => {
            sqlx::query("INSERT INTO message_reads (message_id, user_id, read_at) VALUES ($1, $2, $3)")
                .bind(r.message_id)
                .bind(r.user_id)
                .bind(read_at)
                .execute(conn)
                .await?;
            Ok(Upserted::Inserted)
        }
    }
}

pub(crate) async fn refresh_last_activity(conn: &mut SqliteConnection, conversation_ids: &[i64]) -> Result<()> {
    for id in conversation_ids {
        sqlx::query(
            "UPDATE conversations
             SET last_activity_at = (SELECT max(created_at) FROM messages WHERE conversation_id = $1)
             WHERE id = $1 AND (SELECT max(created_at) FROM messages WHERE conversation_id = $1)
                               > coalesce(last_activity_at, '')",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
