use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::Entity;
use crate::Result;
use crate::db_time::to_db;
use crate::holds::{HoldRow, column, hold, target_kind};
use chatkeep_domain::Actor;
use chatkeep_domain::hold::LegalHold;

/// Every hold with the chat service's id of what it covers.
/// (The id is kept on the hold itself, so history outlives a purged conversation.)
const SELECT: &str = "SELECT h.id, h.target_kind, h.target_external_id, h.reason, h.placed_by, ck_ts(h.created_at),
                             ck_ts(h.released_at), h.release_reason
                      FROM legal_holds h";

pub(crate) async fn insert(
    conn: &mut PgConnection,
    on: Entity,
    target_id: i64,
    target_external_id: &str,
    reason: &str,
    placed_by: Actor,
    now: DateTime<Utc>,
) -> Result<i64> {
    let sql = format!(
        "INSERT INTO legal_holds ({}, target_kind, target_external_id, reason, placed_by, created_at)
         VALUES ($1, $5, $6, $2, $3, $4::timestamptz) RETURNING id",
        column(on)
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(target_id)
        .bind(reason)
        .bind(placed_by.as_str())
        .bind(to_db(now))
        .bind(target_kind(on))
        .bind(target_external_id)
        .fetch_one(conn)
        .await?)
}

pub(crate) async fn active_on(conn: &mut PgConnection, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
    // Lock the target first, so that two holds placed at once on the same target are checked one
    // after the other (SQLite's single writer gives the same); the lock lasts until the transaction ends.
    let target_table = match on {
        Entity::User => "users",
        _ => "conversations",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT FROM {target_table} WHERE id = $1 FOR NO KEY UPDATE")))
        .bind(target_id)
        .execute(&mut *conn)
        .await?;
    let sql = format!("{SELECT} WHERE h.{} = $1 AND h.released_at IS NULL ORDER BY h.id LIMIT 1", column(on));
    let row: Option<HoldRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(target_id).fetch_optional(conn).await?;
    Ok(row.map(hold))
}

pub(crate) async fn by_id(conn: &mut PgConnection, id: i64) -> Result<Option<LegalHold>> {
    let row: Option<HoldRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE h.id = $1"))).bind(id).fetch_optional(conn).await?;
    Ok(row.map(hold))
}

pub(crate) async fn release(conn: &mut PgConnection, id: i64, reason: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE legal_holds SET released_at = $2::timestamptz, release_reason = $3 WHERE id = $1 AND released_at IS NULL")
        .bind(id)
        .bind(to_db(now))
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn list(conn: &mut PgConnection, include_released: bool) -> Result<Vec<LegalHold>> {
    let rows: Vec<HoldRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE $1 OR h.released_at IS NULL ORDER BY h.id DESC")))
            .bind(include_released)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(hold).collect())
}
