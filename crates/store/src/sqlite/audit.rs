use sqlx::{SqliteConnection, SqlitePool};

use crate::Result;
pub(crate) use crate::audit::sqlite::*;
use crate::audit::{RawRow, row};
use crate::db_time as time;
use crate::{AuditFilter, AuditRow};

pub(crate) async fn last_link(conn: &mut SqliteConnection) -> Result<Option<(i64, String)>> {
    newest_link(conn).await
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
