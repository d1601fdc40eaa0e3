#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::store::sqlx;
use common::{TestDb, at, clock};
use sqlx::SqliteConnection;

fn options(seed: u64) -> SeedOptions {
    SeedOptions { conversations: 300, messages: 4_000, months: 6, seed, until: at(2026, 11, 20, 18, 0, 0) }
}

/// Every row of the chat tables, as one text per table, for comparing databases.
async fn dump(conn: &mut SqliteConnection) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT group_concat(external_id || '|' || coalesce(display_name,'') || '|' || coalesce(email,'') || '|' || created_at, ';') FROM (SELECT * FROM users ORDER BY id)",
        "SELECT group_concat(external_id || '|' || kind || '|' || coalesce(retention_policy,'') || '|' || created_at || '|' || coalesce(last_activity_at,''), ';') FROM (SELECT * FROM conversations ORDER BY id)",
        "SELECT group_concat(conversation_id || '|' || user_id || '|' || role, ';') FROM (SELECT * FROM participants ORDER BY 1, 2)",
        "SELECT group_concat(external_id || '|' || role || '|' || coalesce(body,'') || '|' || tokens_used || '|' || coalesce(reply_to_id,'') || '|' || created_at, ';') FROM (SELECT * FROM messages ORDER BY id)",
        "SELECT group_concat(message_id || '|' || user_id || '|' || read_at, ';') FROM (SELECT * FROM message_reads ORDER BY 1, 2)",
    ] {
        let text: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await.unwrap();
        out.push(text.unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data_and_another_seed_does_not() {
    let (a, b, c) = (TestDb::new().await, TestDb::new().await, TestDb::new().await);
    seed_demo(&a.store, &options(7), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    seed_demo(&b.store, &options(7), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    seed_demo(&c.store, &options(8), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    let (da, db, dc) = (dump(&mut a.raw().await).await, dump(&mut b.raw().await).await, dump(&mut c.raw().await).await);
    assert!(da == db, "seed 7 twice should give identical rows");
    assert!(da[3] != dc[3], "seed 8 should give different messages than seed 7");
}

#[tokio::test]
async fn the_requested_counts_are_written_within_the_window() {
    let db = TestDb::new().await;
    let report = seed_demo(&db.store, &options(1), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    assert_eq!(db.count("conversations").await, 300);
    assert_eq!(db.count("messages").await, 4_000);
    assert_eq!(report.messages, 4_000);
    assert_eq!(report.reads as i64, db.count("message_reads").await);
    assert!(report.reads > 1_000, "read receipts should be plentiful: {}", report.reads);

    let mut raw = db.raw().await;
    let (first, last): (String, String) =
        sqlx::query_as("SELECT min(created_at), max(created_at) FROM messages").fetch_one(&mut raw).await.unwrap();
    assert!(first.as_str() >= "2026-05-20" && last.as_str() <= "2026-11-20T18:00:00.000Z", "{first} .. {last}");
    let months: i64 = sqlx::query_scalar("SELECT count(DISTINCT substr(created_at, 1, 7)) FROM messages")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert!(months >= 6, "messages should spread over the months: {months}");
    let late_reads: i64 =
        sqlx::query_scalar("SELECT count(*) FROM message_reads WHERE read_at > '2026-11-20T18:00:00.000Z'")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert_eq!(late_reads, 0, "no read receipt from the future");
    let fk: Vec<(String, i64, String, i64)> =
        sqlx::query_as("PRAGMA foreign_key_check").fetch_all(&mut raw).await.unwrap();
    assert!(fk.is_empty(), "every reference resolves: {fk:?}");
}

#[tokio::test]
async fn the_data_is_varied_like_a_real_service() {
    let db = TestDb::new().await;
    seed_demo(&db.store, &options(3), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    let mut raw = db.raw().await;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM conversations ORDER BY 1").fetch_all(&mut raw).await.unwrap();
    assert_eq!(kinds, ["bot", "channel", "direct", "group"]);
    let policies: Vec<Option<String>> =
        sqlx::query_scalar("SELECT DISTINCT retention_policy FROM conversations ORDER BY 1")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    for policy in [None, Some("instant"), Some("7d"), Some("30d"), Some("forever")] {
        assert!(policies.contains(&policy.map(String::from)), "policy {policy:?} should appear in {policies:?}");
    }
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT role FROM messages ORDER BY 1").fetch_all(&mut raw).await.unwrap();
    assert_eq!(roles, ["agent", "assistant", "system", "user"]);
    let replies: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE reply_to_id IS NOT NULL")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert!(replies > 100, "replies should be common: {replies}");
    let tokens: i64 = sqlx::query_scalar("SELECT sum(tokens_used) FROM messages").fetch_one(&mut raw).await.unwrap();
    assert!(tokens > 0);

    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM messages WHERE body IS NOT NULL").fetch_all(&mut raw).await.unwrap();
    let all = bodies.join("\u{0}");
    let has = |pred: fn(char) -> bool| all.chars().any(pred);
    assert!(has(|c| "éèçñóüż".contains(c)), "Latin with accents");
    assert!(has(|c| ('\u{0400}'..='\u{04FF}').contains(&c)), "Cyrillic");
    assert!(has(|c| ('\u{0370}'..='\u{03FF}').contains(&c)), "Greek");
    assert!(has(|c| ('\u{0600}'..='\u{06FF}').contains(&c)), "Arabic");
    assert!(has(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)), "CJK");
    assert!(has(|c| ('\u{1F300}'..='\u{1FAFF}').contains(&c)), "emoji");
    assert!(bodies.iter().any(|b| b.contains(',') && b.contains('"')), "commas and quotes together");
    assert!(bodies.iter().any(|b| b.contains('\n')), "newlines inside a body");
}

#[tokio::test]
async fn seeding_the_same_seed_again_is_a_no_op_and_other_seeds_add_to_it() {
    let db = TestDb::new().await;
    seed_demo(&db.store, &options(1), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    let again = seed_demo(&db.store, &options(1), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    assert!(again.already_present);
    assert_eq!(db.count("messages").await, 4_000);
    seed_demo(&db.store, &options(2), Actor::Cli, &clock(), &NoProgress).await.unwrap();
    assert_eq!(db.count("messages").await, 8_000, "a second seed adds its own data alongside");
    assert_eq!(db.count("audit_log").await, 2, "one audit row per seed that wrote something");
}

#[tokio::test]
async fn out_of_range_sizes_are_refused_before_anything_is_written() {
    let db = TestDb::new().await;
    for (mut bad, needle) in [(options(1), "--conversations"), (options(1), "--months")] {
        if needle == "--conversations" {
            bad.conversations = 0
        } else {
            bad.months = 0
        }
        let message = seed_demo(&db.store, &bad, Actor::Cli, &clock(), &NoProgress).await.unwrap_err().to_string();
        assert!(message.contains(needle), "{message}");
    }
    assert_eq!(db.count("conversations").await, 0);
}
