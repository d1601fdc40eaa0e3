#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::audit::{self, AuditEntry};
use chatkeep_core::domain::Actor;
use chatkeep_core::store::AuditFilter;
use chatkeep_core::store::sqlx;
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

#[tokio::test]
async fn a_log_with_rows_but_no_head_is_reported_broken_not_intact() {
    let db = TestDb::new().await;
    append_five(&db).await;
    sqlx::query("DELETE FROM settings WHERE key = 'audit.head'").execute(&mut db.raw().await).await.unwrap();
    let report = audit::verify(&db.store).await.unwrap();
    let broken = report.first_break.expect("a log without its head is broken");
    assert!(broken.reason.contains("no record of its last one"), "{}", broken.reason);
}

/// A self-consistent chain of `rows` rows written from scratch (what someone who rewrites
/// the whole log, hashes included, leaves behind).
async fn rewrite_log(db: &TestDb, rows: u32) {
    sqlx::raw_sql("DELETE FROM audit_log; DELETE FROM settings WHERE key = 'audit.head'")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    for n in 1..=rows {
        let mut tx = db.store.begin().await.unwrap();
        audit::append(&mut tx, at(2026, 11, 1, 9, 0, n), AuditEntry::new(Actor::Cli, "test.forged")).await.unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_log_cut_or_rewritten_after_a_backup_is_caught_by_the_head_its_manifest_recorded() {
    use chatkeep_core::events::NoEvents;
    use chatkeep_core::ops::backup::Backups;
    use chatkeep_core::ops::{Cancel, NoProgress};

    let db = TestDb::new().await;
    append_five(&db).await;
    let settings = common::backup_settings(db.dir.path());
    let clock = common::clock();
    let b = Backups {
        store: &db.store,
        settings: &settings,
        tz: chrono_tz::Tz::UTC,
        clock: &clock,
        passphrase: None,
        events: &NoEvents,
    };
    let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let anchor = b.newest_audit_anchor().await.unwrap().expect("the snapshot records the head");
    assert_eq!(anchor.anchor.row, 5, "the head before the backup's own row: {anchor:?}");
    assert!(anchor.from.contains(&format!("backup #{}", snapshot.id)), "{}", anchor.from);
    let report = audit::verify_against(&db.store, Some(anchor)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");

    // Cut to three rows, with a head that agrees: the chain alone looks intact.
    rewrite_log(&db, 3).await;
    assert!(audit::verify(&db.store).await.unwrap().is_intact(), "the chain alone cannot tell");
    let anchor = b.newest_audit_anchor().await.unwrap();
    let broken = audit::verify_against(&db.store, anchor).await.unwrap().first_break.expect("caught by the anchor");
    assert!(broken.reason.contains("rows were removed") && broken.row_id == 5, "{broken:?}");

    // Rewritten with as many rows: row 5 no longer has the hash the backup recorded.
    rewrite_log(&db, 8).await;
    let anchor = b.newest_audit_anchor().await.unwrap();
    let broken = audit::verify_against(&db.store, anchor).await.unwrap().first_break.expect("caught by the anchor");
    assert!(broken.reason.contains("row 5 differs") && broken.reason.contains("rewritten"), "{broken:?}");

    // Editing the catalog's copy of the manifest too does not help: the file's own manifest decides.
    let forged_head = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = 'audit.head'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    let (row, hash) = forged_head.split_once(':').unwrap();
    sqlx::query("UPDATE backups SET manifest = json_set(manifest, '$.audit_head', json_object('row', $1, 'hash', $2))")
        .bind(row.parse::<i64>().unwrap())
        .bind(hash)
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let anchor = b.newest_audit_anchor().await.unwrap().unwrap();
    assert!(anchor.from.contains("disagrees with the catalog"), "{}", anchor.from);
    assert!(!audit::verify_against(&db.store, Some(anchor)).await.unwrap().is_intact());
}
