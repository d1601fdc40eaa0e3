use sqlx::{PgConnection, PgPool};

use crate::Result;
pub(crate) use crate::audit::postgres::*;
use crate::audit::{RawRow, row};
use crate::db_time as time;
use crate::{AuditFilter, AuditRow};

/// The advisory lock that puts audit appends in a line: each reads the newest link and writes
/// the next id, so a second writer must wait until the first has committed.
const APPEND_LOCK: i64 = 0x6368_6b5f_6175_6474; // "chk_audt"

pub(crate) async fn last_link(conn: &mut PgConnection) -> Result<Option<(i64, String)>> {
    // Held until the transaction ends. SQLite gets the same from its single writer.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *conn).await?;
    newest_link(conn).await
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
