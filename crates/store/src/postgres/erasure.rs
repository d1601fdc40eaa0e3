use sqlx::PgConnection;

use crate::Result;
use crate::erasure::{LedgerEntry, LedgerRow, entry};
use chatkeep_domain::gdpr::BodyMode;

pub(crate) async fn list(conn: &mut PgConnection) -> Result<Vec<LedgerEntry>> {
    let rows: Vec<LedgerRow> = sqlx::query_as(
        "SELECT id, request_id, subject_key, strategy, pseudonym, bodies, scrub, ck_ts(erased_at)
         FROM erasure_ledger ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(entry).collect()
}

pub(crate) async fn copy(conn: &mut PgConnection, e: &LedgerEntry) -> Result<()> {
    // The request itself may not exist in this database; the ledger row stands on its own.
    sqlx::query(
        "INSERT INTO erasure_ledger (id, request_id, subject_key, strategy, pseudonym, bodies, scrub, erased_at)
         VALUES ($1, (SELECT id FROM dsr_requests WHERE id = $2), $3, $4, $5, $6, $7, $8::timestamptz)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.id)
    .bind(e.request_id)
    .bind(&e.subject_key)
    .bind(e.strategy.as_str())
    .bind(&e.pseudonym)
    .bind(e.bodies.map(BodyMode::as_str))
    .bind(e.scrub)
    .bind(&e.erased_at)
    .execute(&mut *conn)
    .await?;
    // The entry keeps its id; entries added later are numbered after it.
    super::chat::move_identity_past(conn, "erasure_ledger", e.id).await
}

pub(crate) async fn insert(conn: &mut PgConnection, e: &LedgerEntry) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO erasure_ledger (request_id, subject_key, strategy, pseudonym, bodies, scrub, erased_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz) RETURNING id",
    )
    .bind(e.request_id)
    .bind(&e.subject_key)
    .bind(e.strategy.as_str())
    .bind(&e.pseudonym)
    .bind(e.bodies.map(BodyMode::as_str))
    .bind(e.scrub)
    .bind(&e.erased_at)
    .fetch_one(conn)
    .await?)
}

pub(crate) async fn set_subject_key(conn: &mut PgConnection, id: i64, subject_key: &str) -> Result<()> {
    sqlx::query("UPDATE erasure_ledger SET subject_key = $2 WHERE id = $1")
        .bind(id)
        .bind(subject_key)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn user_external_ids(conn: &mut PgConnection) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, external_id FROM users ORDER BY id").fetch_all(conn).await?)
}
