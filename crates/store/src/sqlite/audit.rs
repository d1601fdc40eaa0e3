use sqlx::{SqliteConnection, SqlitePool};

use crate::Result;
use crate::audit::{RawRow, row};
use crate::db_time as time;
use crate::{AuditFilter, AuditRow};

const COLUMNS: &str = "id, at, actor, action, target, details, counts, prev_hash, hash";

pub(crate) async fn last_link(conn: &mut SqliteConnection) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetch_optional(conn).await?)
}

pub(crate) async fn insert(conn: &mut SqliteConnection, r: &AuditRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, target, details, counts, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.id)
    .bind(&r.at)
    .bind(&r.actor)
    .bind(&r.action)
    .bind(&r.target)
    .bind(&r.details)
    .bind(&r.counts)
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn page(pool: &SqlitePool, after_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
    let rows: Vec<RawRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
    )))
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}

pub(crate) async fn list(pool: &SqlitePool, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    let rows: Vec<RawRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log
         WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR action = $2 OR action LIKE $2 || '.%')
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(filter.since.map(time::to_db))
    .bind(&filter.action)
    .bind(filter.limit.unwrap_or(-1))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}
