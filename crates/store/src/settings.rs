//! The `settings` table: run-time settings and small internal markers (such as the audit chain's head).

use chrono::{DateTime, Utc};

use super::{Store, Tx};
use crate::Result;
use crate::db_time::to_db;

both_engines! {
    pub(crate) async fn set_setting(conn: &mut Conn, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, ", ts!(3), ")
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        ))
        .bind(key)
        .bind(value)
        .bind(to_db(now))
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn setting<'c>(conn: impl sqlx::Executor<'c, Database = Db>, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(conn).await?)
    }
}

impl Tx<'_> {
    pub async fn set_setting(&mut self, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
        on_engine!(self, Tx(tx) => settings::set_setting(tx, key, value, now).await)
    }

    pub async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        on_engine!(self, Tx(tx) => settings::setting(&mut **tx, key).await)
    }
}

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        on_engine!(self, Store(pool) => settings::setting(pool, key).await)
    }
}
