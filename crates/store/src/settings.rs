//! The `settings` table: run-time settings and small internal markers (such as the audit chain's head).

use chrono::{DateTime, Utc};

use super::{Store, Tx, postgres, sqlite};
use crate::Result;

impl Tx<'_> {
    pub async fn set_setting(&mut self, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => sqlite::settings::set_setting(tx, key, value, now).await,
            Tx::Postgres(tx) => postgres::settings::set_setting(tx, key, value, now).await,
        }
    }

    pub async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        match self {
            Tx::Sqlite(tx) => sqlite::settings::setting(&mut **tx, key).await,
            Tx::Postgres(tx) => postgres::settings::setting(&mut **tx, key).await,
        }
    }
}

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        match self {
            Store::Sqlite(pool) => sqlite::settings::setting(pool, key).await,
            Store::Postgres(pool) => postgres::settings::setting(pool, key).await,
        }
    }
}
