use sqlx::{SqliteConnection, SqlitePool};

use crate::error::Result;
use crate::store::erasure::LedgerEntry;

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<LedgerEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, request_id, user_external_id, strategy, pseudonym, erased_at FROM erasure_ledger ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn copy(conn: &mut SqliteConnection, e: &LedgerEntry) -> Result<()> {
    // The request itself may not exist in this database; the ledger row stands on its own.
    sqlx::query(
        "INSERT OR IGNORE INTO erasure_ledger (id, request_id, user_external_id, strategy, pseudonym, erased_at)
         VALUES ($1, (SELECT id FROM dsr_requests WHERE id = $2), $3, $4, $5, $6)",
    )
    .bind(e.id)
    .bind(e.request_id)
    .bind(&e.user_external_id)
    .bind(&e.strategy)
    .bind(&e.pseudonym)
    .bind(&e.erased_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn apply(conn: &mut SqliteConnection, e: &LedgerEntry) -> Result<u64> {
    let Some(user): Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE external_id = $1")
        .bind(&e.user_external_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(0);
    };
    let mut changed = 0;
    if e.strategy == "anonymize" {
        changed += sqlx::query(
            "UPDATE users SET display_name = $2, email = NULL, phone = NULL, anonymized_at = $3
             WHERE id = $1 AND (anonymized_at IS NULL OR display_name IS NOT $2 OR email IS NOT NULL
                                OR phone IS NOT NULL)",
        )
        .bind(user)
        .bind(e.pseudonym.as_deref().unwrap_or("erased"))
        .bind(&e.erased_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        return Ok(changed);
    }
    // delete: holds on them end (the erasure happened after a release), then their read
    // receipts, the reads of their messages, replies unlinked, their messages, their
    // participant rows, ownership, then the person.
    changed += sqlx::query(
        "UPDATE legal_holds SET released_at = $2, release_reason = 'erased (erasure ledger replay)'
         WHERE user_id = $1 AND released_at IS NULL",
    )
    .bind(user)
    .bind(&e.erased_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let statements = [
        "DELETE FROM message_reads WHERE user_id = $1",
        "DELETE FROM message_reads WHERE message_id IN (SELECT id FROM messages WHERE sender_id = $1)",
        "UPDATE messages SET reply_to_id = NULL
         WHERE reply_to_id IN (SELECT id FROM messages WHERE sender_id = $1)",
        "DELETE FROM messages WHERE sender_id = $1",
        "DELETE FROM participants WHERE user_id = $1",
        "UPDATE conversations SET owner_id = NULL WHERE owner_id = $1",
        "UPDATE dsr_requests SET subject_user_id = NULL WHERE subject_user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ];
    for sql in statements {
        changed += sqlx::query(sql).bind(user).execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}
