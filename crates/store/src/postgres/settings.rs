use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::Result;
use crate::db_time as time;

pub(crate) async fn set_setting(conn: &mut PgConnection, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3::timestamptz)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(time::to_db(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn setting(conn: impl sqlx::PgExecutor<'_>, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(conn).await?)
}
