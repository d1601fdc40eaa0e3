//! Helpers shared by the integration tests: real SQLite files in temporary folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chatkeep_core::config::{BackupSettings, DatabaseUrl};
use chatkeep_core::store::sqlx;
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

/// Backup settings for a test: a `backups` folder in `dir`, no encryption, the default generations.
pub fn backup_settings(dir: &Path) -> BackupSettings {
    BackupSettings {
        enabled: true,
        directory: dir.join("backups"),
        notification_email: None,
        encrypt: false,
        passphrase_file: None,
        keep_daily: 30,
        keep_weekly: 0,
        keep_monthly: 24,
        exclude_tables: Vec::new(),
    }
}

/// Erases the person `subject` names (as `gdpr erase --yes` does), with the default
/// backup settings; returns the report or the core's refusal.
pub async fn erase_person(
    store: &Store,
    clock: &FixedClock,
    subject: &str,
    strategy: chatkeep_core::domain::gdpr::ErasureStrategy,
    settings: &chatkeep_core::config::GdprSettings,
) -> chatkeep_core::Result<chatkeep_core::ops::gdpr::erase::ErasureReport> {
    use chatkeep_core::ops::gdpr::{Target, erase, find_subject};
    let found = find_subject(store, subject).await?;
    let backups = backup_settings(Path::new("backups"));
    let (tz, actor) = (chrono_tz::Tz::UTC, chatkeep_core::domain::Actor::Cli);
    erase::erase(store, Target::Subject(subject), strategy, found.person.id, settings, &backups, tz, actor, clock).await
}

/// Runs a third-party tool (`tar`, `zstd`, `sqlite3`, ...) in `dir`; its trimmed output.
pub fn run_tool(program: &str, args: &[&str], dir: &Path) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (the test command installs it): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output").trim().to_string()
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("a valid instant")
}

pub fn clock() -> FixedClock {
    FixedClock::new(at(2026, 11, 23, 12, 0, 0))
}

/// A PostgreSQL database of its own for one test, dropped when the test ends.
///
/// The server comes from `CHATKEEP_TEST_PG_URL` (any database on it; `scripts/test.sh`
/// sets it, starting a throwaway cluster when no server answers), else the local
/// server at 127.0.0.1:5432. With neither, [`PgDb::new`] returns `None` and says so
/// loudly, except under `CI=true`, where PostgreSQL tests must run and it panics.
pub struct PgDb {
    pub url: DatabaseUrl,
    pub name: String,
    admin_url: String,
}

impl PgDb {
    pub async fn new(test: &str) -> Option<PgDb> {
        use sqlx::Connection;
        let admin_url = std::env::var("CHATKEEP_TEST_PG_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL tests must run in CI, but no server answers at {admin_url}: {e}"
                );
                eprintln!("SKIPPED (no PostgreSQL server at {admin_url}: {e}); set CHATKEEP_TEST_PG_URL to run it");
                return None;
            }
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slug: String = test.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(30).collect();
        let name = format!("ck_test_{}_{n}_{slug}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("drop a leftover test database");
        let mut url = url::Url::parse(&admin_url).expect("CHATKEEP_TEST_PG_URL is a URL");
        url.set_path(&name);
        Some(PgDb { url: DatabaseUrl::Postgres(url.to_string()), name, admin_url })
    }

    /// Creates the database empty, with nothing of chatkeep's in it (a chat service's own).
    pub async fn create_empty(&self) {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.expect("the admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{}\"", self.name)))
            .execute(&mut admin)
            .await
            .expect("create the test database");
    }

    /// The URL as text, for DATABASE_URL.
    pub fn url_text(&self) -> String {
        match &self.url {
            DatabaseUrl::Postgres(u) => u.clone(),
            _ => unreachable!(),
        }
    }

    /// A plain connection to this test's database, as another program would have.
    pub async fn raw(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.url_text()).await.expect("a raw PostgreSQL connection")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut self.raw().await)
            .await
            .expect("count")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Best effort: a database left behind is dropped by the next run of the same name.
        let _ = std::process::Command::new("psql")
            .arg(&self.admin_url)
            .args(["-q", "-c", &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A test database on either engine, for tests that run the same story on both.
pub enum AnyDb {
    Sqlite(TestDb),
    Postgres(PgDb, Store),
}

impl AnyDb {
    pub async fn sqlite() -> AnyDb {
        AnyDb::Sqlite(TestDb::new().await)
    }

    pub async fn postgres(test: &str) -> Option<AnyDb> {
        let db = PgDb::new(test).await?;
        let store = Store::open(&db.url).await.expect("the PostgreSQL database opens");
        Some(AnyDb::Postgres(db, store))
    }

    pub fn store(&self) -> &Store {
        match self {
            AnyDb::Sqlite(db) => &db.store,
            AnyDb::Postgres(_, store) => store,
        }
    }

    pub fn url(&self) -> DatabaseUrl {
        match self {
            AnyDb::Sqlite(db) => DatabaseUrl::Sqlite(db.path.clone()),
            AnyDb::Postgres(db, _) => db.url.clone(),
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        match self {
            AnyDb::Sqlite(db) => db.count(table).await,
            AnyDb::Postgres(db, _) => db.count(table).await,
        }
    }

    /// Runs SQL as another program (or a tamperer) would, on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            AnyDb::Sqlite(db) => sqlx::raw_sql(sql).execute(&mut db.raw().await).await.map(drop),
            AnyDb::Postgres(db, _) => sqlx::raw_sql(sql).execute(&mut db.raw().await).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", self.store().engine()))
    }

    /// One text value, read on a connection of its own.
    pub async fn scalar(&self, sql: &str) -> String {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            AnyDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
            AnyDb::Postgres(db, _) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
        }
        .expect("one value")
    }
}

/// A fresh database on each engine: SQLite always, PostgreSQL when a server answers
/// (see [`PgDb`]). Scenarios loop over these and must come out the same.
pub async fn engines(test: &str) -> Vec<AnyDb> {
    let mut dbs = vec![AnyDb::sqlite().await];
    dbs.extend(AnyDb::postgres(test).await);
    dbs
}

/// The engine's name, for assertion messages.
pub fn engine(db: &AnyDb) -> &'static str {
    db.store().engine()
}

/// Runs SQL (one or more statements) on a plain connection of the test's database.
pub async fn exec(db: &AnyDb, sql: &str) {
    db.execute(sql).await
}
