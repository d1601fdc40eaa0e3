#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Which database faults are worth another try, read from real errors of real servers:
//! the scheduler retries exactly these (SQLite busy or locked, a PostgreSQL
//! serialization failure; a deadlock, 40P01, is classified by the same code check)
//! and nothing else.
mod common;

use chatkeep_core::Error;
use chatkeep_core::store::StoreError;
use chatkeep_core::store::sqlx;
use sqlx::{Connection, Executor};

/// A driver error as the core sees it: read by the store, then carried up.
fn classified(error: sqlx::Error) -> Error {
    Error::from(StoreError::from(error))
}

#[tokio::test]
async fn sqlite_busy_is_transient_and_a_constraint_failure_is_not() {
    let db = common::TestDb::new().await;
    let mut holder = db.raw().await;
    holder.execute("BEGIN IMMEDIATE").await.unwrap();
    let mut other = db.raw().await;
    other.execute("PRAGMA busy_timeout = 0").await.unwrap();
    let busy = classified(other.execute("BEGIN IMMEDIATE").await.unwrap_err());
    assert!(busy.is_transient(), "{busy:?}");
    assert!(busy.to_string().contains("busy"), "{busy}");
    holder.execute("ROLLBACK").await.unwrap();

    other.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").await.unwrap();
    other.execute("INSERT INTO t VALUES (1)").await.unwrap();
    let duplicate = classified(other.execute("INSERT INTO t VALUES (1)").await.unwrap_err());
    assert!(!duplicate.is_transient(), "a unique violation will fail again: {duplicate:?}");
}

#[tokio::test]
async fn a_postgresql_serialization_failure_is_transient_and_a_constraint_failure_is_not() {
    let Some(common::AnyDb::Postgres(db, _store)) = common::AnyDb::postgres("transient_errors").await else { return };
    let connect = || async { sqlx::PgConnection::connect(&db.url_text()).await.unwrap() };
    let mut a = connect().await;
    let mut b = connect().await;
    a.execute("CREATE TABLE t (id integer PRIMARY KEY, n integer NOT NULL); INSERT INTO t VALUES (1, 0), (2, 0)")
        .await
        .unwrap();

    // Two serializable transactions that each read what the other writes.
    for (conn, id) in [(&mut a, 3), (&mut b, 4)] {
        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE").await.unwrap();
        conn.execute("SELECT sum(n) FROM t").await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!("INSERT INTO t VALUES ({id}, 1)"))).await.unwrap();
    }
    a.execute("COMMIT").await.unwrap();
    let conflict = classified(b.execute("COMMIT").await.unwrap_err());
    assert!(conflict.is_transient(), "40001: {conflict:?}");
    assert!(conflict.to_string().contains("conflicted"), "{conflict}");

    let mut c = connect().await;
    let duplicate = classified(c.execute("INSERT INTO t VALUES (1, 0)").await.unwrap_err());
    assert!(!duplicate.is_transient(), "a unique violation will fail again: {duplicate:?}");
}
