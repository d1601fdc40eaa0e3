//! Helpers shared by the integration tests: real SQLite files in temporary folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chatkeep_core::config::DatabaseUrl;
use chatkeep_core::{FixedClock, Store};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub store: Store,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("chatkeep.db");
        let store = Store::open(&DatabaseUrl::Sqlite(path.clone())).await.expect("the database opens");
        TestDb { dir, path, store }
    }

    /// A separate plain connection, as another program (or a tamperer) would have.
    pub async fn raw(&self) -> SqliteConnection {
        raw_connection(&self.path).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        count(&mut self.raw().await, table).await
    }
}

pub async fn raw_connection(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new().filename(path).connect().await.expect("a raw connection")
}

pub async fn count(conn: &mut SqliteConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .expect("count")
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("a valid instant")
}

pub fn clock() -> FixedClock {
    FixedClock::new(at(2026, 11, 23, 12, 0, 0))
}
