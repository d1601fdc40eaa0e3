use sqlx::SqliteConnection;

use crate::Result;
use crate::erasure::LedgerEntry;
pub(crate) use crate::erasure::sqlite::*;
use chatkeep_domain::gdpr::BodyMode;

pub(crate) async fn copy(conn: &mut SqliteConnection, e: &LedgerEntry) -> Result<()> {
    // The request itself may not exist in this database; the ledger row stands on its own.
    sqlx::query(
        "INSERT OR IGNORE INTO erasure_ledger (id, request_id, subject_key, strategy, pseudonym, bodies, scrub, erased_at)
         VALUES ($1, (SELECT id FROM dsr_requests WHERE id = $2), $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.id)
    .bind(e.request_id)
    .bind(&e.subject_key)
    .bind(e.strategy.as_str())
    .bind(&e.pseudonym)
    .bind(e.bodies.map(BodyMode::as_str))
    .bind(e.scrub)
    .bind(&e.erased_at)
    .execute(conn)
    .await?;
    Ok(())
}
