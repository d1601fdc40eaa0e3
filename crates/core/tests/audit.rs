#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::audit::{self, AuditEntry};
use chatkeep_core::domain::Actor;
use chatkeep_core::store::AuditFilter;
use chrono::Duration;
use common::{TestDb, at};

async fn append_five(db: &TestDb) {
    for n in 1..=5 {
        let mut tx = db.store.begin().await.unwrap();
        let entry = AuditEntry::new(if n % 2 == 0 { Actor::Scheduler } else { Actor::Cli }, format!("test.step{n}"))
            .target(format!("thing {n}"))
            .details(serde_json::json!({ "note": format!("step, \"{n}\"") }))
            .counts(serde_json::json!({ "rows": n * 10 }));
        audit::append(&mut tx, at(2026, 11, n, 9, 0, 0), entry).await.unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let db = TestDb::new().await;
    append_five(&db).await;
    let report = audit::verify(&db.store).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.rows_checked, 5);
}

#[tokio::test]
async fn an_empty_log_verifies() {
    let db = TestDb::new().await;
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn altering_a_row_with_plain_sql_is_caught_at_that_row() {
    let db = TestDb::new().await;
    append_five(&db).await;
    sqlx::query("UPDATE audit_log SET counts = '{\"rows\":0}' WHERE id = 3")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let report = audit::verify(&db.store).await.unwrap();
    let broken = report.first_break.expect("the altered row is found");
    assert_eq!(broken.row_id, 3, "{}", broken.reason);
    assert!(broken.reason.contains("altered"), "{}", broken.reason);
    assert_eq!(report.rows_checked, 2, "rows 1 and 2 still check out");
}

#[tokio::test]
async fn rehashing_an_altered_row_still_breaks_the_next_link() {
    let db = TestDb::new().await;
    append_five(&db).await;
    sqlx::query("UPDATE audit_log SET actor = 'desktop', hash = 'f00d' WHERE id = 2")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let broken = audit::verify(&db.store).await.unwrap().first_break.unwrap();
    assert_eq!(broken.row_id, 2);
}

#[tokio::test]
async fn removing_a_row_from_the_middle_or_the_end_is_caught() {
    let db = TestDb::new().await;
    append_five(&db).await;
    sqlx::query("DELETE FROM audit_log WHERE id = 4").execute(&mut db.raw().await).await.unwrap();
    let broken = audit::verify(&db.store).await.unwrap().first_break.unwrap();
    assert_eq!(broken.row_id, 5);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);

    let db = TestDb::new().await;
    append_five(&db).await;
    sqlx::query("DELETE FROM audit_log WHERE id = 5").execute(&mut db.raw().await).await.unwrap();
    let broken = audit::verify(&db.store).await.unwrap().first_break.unwrap();
    assert!(broken.reason.contains("removed from the end"), "{}", broken.reason);
}

#[tokio::test]
async fn an_append_rolled_back_with_its_operation_leaves_no_row() {
    let db = TestDb::new().await;
    let mut tx = db.store.begin().await.unwrap();
    audit::append(&mut tx, at(2026, 11, 1, 0, 0, 0), AuditEntry::new(Actor::Cli, "test.abandoned")).await.unwrap();
    drop(tx);
    assert_eq!(db.count("audit_log").await, 0);
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn list_filters_by_time_and_action_newest_first() {
    let db = TestDb::new().await;
    append_five(&db).await;
    let since = at(2026, 11, 3, 0, 0, 0);
    let rows = audit::list(&db.store, &AuditFilter { since: Some(since), ..Default::default() }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![5, 4, 3]);
    let rows =
        audit::list(&db.store, &AuditFilter { action: Some("test.step2".into()), ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "scheduler");
    let rows = audit::list(&db.store, &AuditFilter { action: Some("test".into()), limit: Some(2), since: None })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "an area name matches its actions");
    let late = since + Duration::days(30);
    assert!(audit::list(&db.store, &AuditFilter { since: Some(late), ..Default::default() }).await.unwrap().is_empty());
}
