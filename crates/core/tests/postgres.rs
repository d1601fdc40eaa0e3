//! The PostgreSQL engine on a real server: the schema, and the first things a user does.
mod common;

use common::PgDb;

#[tokio::test]
async fn a_new_postgres_database_is_created_and_migrated_once() {
    let Some(db) = PgDb::new("migrated_once").await else { return };
    let store = chatkeep_core::Store::open(&db.url).await.expect("the database is created and opens");
    assert_eq!(store.engine(), "postgres");
    let first = store.applied_migrations().await.unwrap();
    assert!(!first.is_empty());
    store.close().await;
    let again = chatkeep_core::Store::open(&db.url).await.expect("reopening works");
    assert_eq!(again.applied_migrations().await.unwrap(), first, "no migration runs twice");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert!(tables >= 15, "the canonical schema and chatkeep's tables exist ({tables} tables)");
    again.close().await;
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_named_with_the_fix() {
    // Port 1 on the loopback: nothing listens, so the connection is refused at once.
    let url = chatkeep_core::config::DatabaseUrl::Postgres("postgres://postgres@127.0.0.1:1/chatkeep".into());
    let started = std::time::Instant::now();
    let error = chatkeep_core::Store::open(&url).await.expect_err("nothing listens there").to_string();
    assert!(error.contains("cannot reach the PostgreSQL server at"), "{error}");
    assert!(error.contains("check that it is running"), "{error}");
    // Said at once, not after the pool's acquire timeout (30 s).
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
}
