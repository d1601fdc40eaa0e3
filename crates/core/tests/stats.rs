#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::FixedClock;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::import::import_jsonl;
use chatkeep_core::ops::stats::storage_stats;
use chatkeep_core::store::sqlx;
use chrono_tz::Tz;
use common::{TestDb, at};

#[tokio::test]
async fn months_follow_the_configured_time_zone_and_expired_rows_are_hidden() {
    let db = TestDb::new().await;
    let mut lines = vec![
        r#"{"type":"user","id":"u","created_at":"2025-01-01T00:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"old","kind":"direct","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"new","kind":"direct","created_at":"2026-11-01T00:00:00Z"}"#.to_string(),
    ];
    // Kuala Lumpur is UTC+8: 2026-01-31T16:00Z is local midnight on 1 February.
    for (id, conv, created, tokens) in [
        ("a", "old", "2026-01-31T15:59:59.999Z", 1),
        ("b", "old", "2026-01-31T16:00:00Z", 10),
        ("c", "old", "2026-02-10T00:00:00Z", 100),
        ("d", "new", "2026-11-20T00:00:00Z", 1000),
        ("e", "new", "2026-11-21T00:00:00Z", 5000),
    ] {
        lines.push(format!(
            r#"{{"type":"message","id":"{id}","conversation":"{conv}","sender":"u","role":"user","tokens_used":{tokens},"created_at":"{created}"}}"#
        ));
    }
    let path = db.dir.path().join("s.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let clock = FixedClock::new(at(2026, 11, 23, 12, 0, 0));
    import_jsonl(&db.store, &path, Actor::Cli, &clock, &NoProgress).await.unwrap();
    sqlx::query("UPDATE messages SET expired_at = '2026-11-22T00:00:00.000Z' WHERE external_id = 'e'")
        .execute(&mut db.raw().await)
        .await
        .unwrap();

    let tz: Tz = "Asia/Kuala_Lumpur".parse().unwrap();
    let stats = storage_stats(&db.store, tz, &clock).await.unwrap();
    let month = |m: &str| stats.per_month.iter().find(|s| s.month == m).map(|s| (s.messages, s.tokens_used));
    assert_eq!(month("2026-01"), Some((1, 1)), "15:59:59.999Z is still January in Kuala Lumpur");
    assert_eq!(month("2026-02"), Some((2, 110)), "16:00Z is 1 February in Kuala Lumpur");
    assert_eq!(month("2026-11"), Some((1, 1000)), "the expired message is hidden");
    let listed: Vec<&str> = stats.per_month.iter().map(|m| m.month.as_str()).collect();
    assert_eq!(listed, ["2026-01", "2026-02", "2026-11"], "months that hold messages, not the empty ones between");
    assert_eq!(stats.messages.total, 4);
    assert_eq!(stats.messages.tokens_used, 1111);
    assert_eq!(stats.messages.last_30_days, 1);
    assert_eq!(stats.conversations.total, 2);
    assert_eq!(stats.conversations.active, 1, "only 'new' had a message in 30 days");
    assert_eq!(stats.conversations.old, 1, "'old' has had none in 90 days");
    assert!(stats.database.bytes > 0 && stats.database.page_size > 0);
}

#[tokio::test]
async fn an_empty_database_has_zero_figures() {
    let db = TestDb::new().await;
    let stats = storage_stats(&db.store, Tz::UTC, &FixedClock::new(at(2026, 11, 23, 0, 0, 0))).await.unwrap();
    assert_eq!(stats.messages.total, 0);
    assert!(stats.per_month.is_empty());
    assert_eq!(stats.conversations.total, 0);
}
