use sqlx::{PgConnection, PgPool};

use crate::Result;
use crate::audit::{RawRow, row};
use crate::db_time as time;
use crate::{AuditFilter, AuditRow};

/// Columns as hashed: `at` in chatkeep's canonical text, `details` and `counts` as the exact
/// text they were written with (json columns keep it byte for byte).
const COLUMNS: &str = "id, ck_ts(at), actor, action, target, details::text, counts::text, prev_hash, hash";

/// The advisory lock that puts audit appends in a line: each reads the newest link and writes
/// the next id, so a second writer must wait until the first has committed.
const APPEND_LOCK: i64 = 0x6368_6b5f_6175_6474; // "chk_audt"

pub(crate) async fn last_link(conn: &mut PgConnection) -> Result<Option<(i64, String)>> {
    // Held until the transaction ends. SQLite gets the same from its single writer.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *conn).await?;
    Ok(sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetch_optional(conn).await?)
}

pub(crate) async fn insert(conn: &mut PgConnection, r: &AuditRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, target, details, counts, prev_hash, hash)
         VALUES ($1, $2::timestamptz, $3, $4, $5, $6::json, $7::json, $8, $9)",
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

pub(crate) async fn page(pool: &PgPool, after_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
    let rows: Vec<RawRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
    )))
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}

pub(crate) async fn list(pool: &PgPool, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    // A NULL limit is no limit.
    let rows: Vec<RawRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log
         WHERE ($1::timestamptz IS NULL OR at >= $1::timestamptz)
           AND ($2::text IS NULL OR action = $2 OR starts_with(action, $2 || '.'))
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(filter.since.map(time::to_db))
    .bind(&filter.action)
    .bind(filter.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(row).collect())
}
