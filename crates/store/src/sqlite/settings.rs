use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::Result;
use crate::db_time as time;

pub(crate) async fn set_setting(conn: &mut SqliteConnection, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(time::to_db(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn setting(conn: impl sqlx::SqliteExecutor<'_>, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(conn).await?)
}
