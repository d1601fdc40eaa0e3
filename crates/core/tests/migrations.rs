#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::Store;
use chatkeep_core::config::DatabaseUrl;
use chatkeep_core::store::sqlx;
use common::TestDb;

const TABLES: &[&str] = &[
    "users",
    "conversations",
    "participants",
    "messages",
    "message_reads",
    "settings",
    "backups",
    "job_runs",
    "audit_log",
    "dsr_requests",
    "erasure_ledger",
    "legal_holds",
    "retention_rules",
];

#[tokio::test]
async fn a_fresh_file_gets_every_table_in_wal_mode() {
    let db = TestDb::new().await;
    let mut raw = db.raw().await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&mut raw).await.unwrap();
    for table in TABLES {
        assert!(tables.iter().any(|t| t == table), "table {table} should exist after migrations; found {tables:?}");
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut raw).await.unwrap();
    assert_eq!(mode, "wal", "the database should be in WAL mode so the chat app can keep writing");
}

#[tokio::test]
async fn hot_paths_are_indexed() {
    let db = TestDb::new().await;
    let mut raw = db.raw().await;
    for (sql, index) in [
        (
            "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE conversation_id = 1 ORDER BY created_at",
            "messages_conversation_created",
        ),
        ("EXPLAIN QUERY PLAN SELECT count(*) FROM messages WHERE created_at >= '2026'", "messages_created"),
        ("EXPLAIN QUERY PLAN SELECT id FROM messages WHERE expires_at < '2026'", "messages_expires"),
        (
            "EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE last_activity_at < '2026'",
            "conversations_last_activity",
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut raw).await.unwrap();
        let text: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(text.iter().any(|t| t.contains(index)), "{sql} should use {index}, plan was {text:?}");
    }
}

#[tokio::test]
async fn reopening_is_idempotent_and_keeps_data() {
    let db = TestDb::new().await;
    let first = db.store.applied_migrations().await.unwrap();
    assert!(first.len() >= 2, "both schema migrations should be applied");
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('probe', 'kept', 'now')")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    db.store.close().await;

    let reopened = Store::open(&DatabaseUrl::Sqlite(db.path.clone())).await.expect("reopening works");
    assert_eq!(reopened.applied_migrations().await.unwrap(), first, "no migration should run twice");
    assert_eq!(reopened.setting("probe").await.unwrap().as_deref(), Some("kept"), "data survives reopening");
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new().await;
    let mode = std::fs::metadata(&db.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "chat data is personal data: the file should be owner-only, was {mode:o}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database, and they are long enough to matter".repeat(100))
        .unwrap();
    let err = Store::open(&DatabaseUrl::Sqlite(path.clone())).await.expect_err("a text file is not a database");
    let message = err.to_string();
    assert!(message.contains("not a SQLite database"), "message should say what is wrong: {message}");
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("these are my notes"), "the file must be untouched");
}

#[tokio::test]
async fn a_postgres_server_that_does_not_answer_gets_a_message_naming_it_and_the_fix() {
    // Port 1 on this machine: nothing listens there.
    let err =
        Store::open(&DatabaseUrl::Postgres("postgres://chatkeep:secret@127.0.0.1:1/chat".into())).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:1") && message.contains("running"), "names the server and the fix: {message}");
    assert!(!message.contains("secret"), "never prints the password: {message}");
}
