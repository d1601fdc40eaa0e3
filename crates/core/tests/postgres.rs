//! The PostgreSQL engine on a real server: the schema, and the first things a user does.
mod common;

use chatkeep_core::store::sqlx;
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
