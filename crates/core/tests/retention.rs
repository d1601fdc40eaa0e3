#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! The retention engine on real SQLite files: each policy, grace and restore,
//! holds, the backup interlock, report-only mode, table rules, and a preview
//! that matches its run.
mod common;

use chatkeep_core::config::RetentionSettings;
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::hold::HoldTarget;
use chatkeep_core::domain::policy::RetentionPolicy;
use chatkeep_core::domain::rule::{RuleStrategy, TableRule};
use chatkeep_core::events::{CollectEvents, Event, NoEvents};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::hold::{list_holds, place_hold, release_hold};
use chatkeep_core::ops::import::import_jsonl;
use chatkeep_core::ops::retention::{Outcome, ReportMode, Retention, RetentionReport, RunHooks, add_rule};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::{Error, FixedClock, Store, audit};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use common::{TestDb, at, clock};
use serde_json::json;

fn settings() -> RetentionSettings {
    RetentionSettings {
        default_days: 180,
        auto_delete_enabled: true,
        grace_period_days: 7,
        batch_size: 1_000,
        require_verified_backup: false,
        archive_after_days: 90,
        bot_idle_hours: 24,
        notice_days: 3,
        rules: Vec::new(),
    }
}

fn ago(clock: &FixedClock, days: i64) -> String {
    use chatkeep_core::Clock;
    chatkeep_core::time::to_db(clock.now() - Duration::days(days))
}

/// Imports JSONL records (one JSON value each).
async fn load(db: &TestDb, records: &[serde_json::Value]) {
    let path = db.dir.path().join("load.jsonl");
    let text: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    import_jsonl(&db.store, &path, Actor::Cli, &clock(), &NoProgress).await.unwrap();
}

fn user(id: &str) -> serde_json::Value {
    json!({"type": "user", "id": id, "created_at": "2020-01-01T00:00:00Z"})
}

fn conversation(id: &str, policy: Option<&str>, created_at: &str) -> serde_json::Value {
    let mut c = json!({"type": "conversation", "id": id, "kind": "group", "created_at": created_at});
    if let Some(policy) = policy {
        c["retention_policy"] = json!(policy);
    }
    c
}

fn member(conversation: &str, user: &str, role: &str) -> serde_json::Value {
    json!({"type": "participant", "conversation": conversation, "user": user, "role": role,
           "joined_at": "2020-01-01T00:00:00Z"})
}

fn message(id: &str, conversation: &str, sender: &str, created_at: &str) -> serde_json::Value {
    json!({"type": "message", "id": id, "conversation": conversation, "sender": sender, "role": "user",
           "body": format!("body of {id}"), "created_at": created_at})
}

fn read(message: &str, user: &str, at: &str) -> serde_json::Value {
    json!({"type": "read", "message": message, "user": user, "read_at": at})
}

async fn run(db: &TestDb, settings: &RetentionSettings, clock: &FixedClock) -> RetentionReport {
    let retention = Retention { store: &db.store, settings, tz: Tz::UTC, clock };
    let hooks = RunHooks { progress: &NoProgress, events: &NoEvents, cancel: &Cancel::new() };
    retention.run(Actor::Scheduler, hooks).await.unwrap()
}

async fn preview(db: &TestDb, settings: &RetentionSettings, clock: &FixedClock) -> RetentionReport {
    Retention { store: &db.store, settings, tz: Tz::UTC, clock }.preview().await.unwrap()
}

/// External ids of the messages in a state: "live", "expired", or "all" (still stored).
async fn messages(db: &TestDb, state: &str) -> Vec<String> {
    let condition = match state {
        "live" => "expired_at IS NULL",
        "expired" => "expired_at IS NOT NULL",
        _ => "1",
    };
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT external_id FROM messages WHERE {condition} ORDER BY 1")))
        .fetch_all(&mut db.raw().await)
        .await
        .unwrap()
}

async fn no_orphans(db: &TestDb) {
    let problems: Vec<(String, i64)> = sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check")
        .fetch_all(&mut db.raw().await)
        .await
        .unwrap();
    assert!(problems.is_empty(), "rows point at rows that are gone: {problems:?}");
}

/// The scene most tests use: the clock's now is 2026-11-23 12:00 UTC.
async fn scene(db: &TestDb) -> FixedClock {
    let clock = clock();
    let d = |days| ago(&clock, days);
    load(
        db,
        &[
            user("ana"),
            user("ben"),
            user("bot"),
            conversation("c-default", None, &d(400)),
            member("c-default", "ana", "owner"),
            member("c-default", "ben", "member"),
            message("m-default-old", "c-default", "ana", &d(200)),
            message("m-default-new", "c-default", "ben", &d(100)),
            read("m-default-old", "ben", &d(199)),
            conversation("c-week", Some("7d"), &d(30)),
            member("c-week", "ana", "owner"),
            message("m-week-old", "c-week", "ana", &d(10)),
            message("m-week-new", "c-week", "ana", &d(3)),
            conversation("c-forever", Some("forever"), &d(900)),
            member("c-forever", "ana", "owner"),
            message("m-forever", "c-forever", "ana", &d(800)),
            conversation("c-instant", Some("instant"), &d(2)),
            member("c-instant", "ana", "owner"),
            member("c-instant", "ben", "member"),
            member("c-instant", "bot", "bot"),
            message("m-instant-read", "c-instant", "ana", &d(1)),
            message("m-instant-unread", "c-instant", "ana", &d(1)),
            read("m-instant-read", "ben", &d(1)),
            conversation("c-gone", Some("3d"), &d(20)),
            member("c-gone", "ana", "owner"),
            member("c-gone", "ben", "member"),
            message("m-gone-1", "c-gone", "ana", &d(19)),
            message("m-gone-2", "c-gone", "ben", &d(18)),
            read("m-gone-1", "ben", &d(18)),
        ],
    )
    .await;
    clock
}

#[tokio::test]
async fn each_policy_expires_exactly_what_it_says() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let report = run(&db, &settings(), &clock).await;

    assert_eq!(
        messages(&db, "expired").await,
        ["m-default-old", "m-gone-1", "m-gone-2", "m-instant-read", "m-week-old"],
        "older than 180d (default), 7d and 3d, and read by everyone but the sender and the bot (instant)"
    );
    assert_eq!(report.expired.messages, 5);
    assert_eq!(report.expired.conversations, 1, "only c-gone has nothing newer than its policy");
    assert_eq!(report.purged.messages, 0, "nothing is purged before the grace period ends");
    assert_eq!(report.mode, ReportMode::Run);
    assert_eq!(report.outcome, Outcome::Completed);
    let expired_conversations: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM conversations WHERE expired_at IS NOT NULL")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
    assert_eq!(expired_conversations, ["c-gone"]);

    // expires_at follows each policy; instant and forever have none.
    let expires: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT external_id, expires_at FROM messages ORDER BY external_id")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
    let expires: std::collections::HashMap<_, _> = expires.into_iter().collect();
    assert_eq!(expires["m-week-new"].as_deref(), Some(ago(&clock, 3 - 7).as_str()));
    assert_eq!(expires["m-default-new"].as_deref(), Some(ago(&clock, 100 - 180).as_str()));
    assert_eq!(expires["m-forever"], None);
    assert_eq!(expires["m-instant-unread"], None);

    // A second run at the same moment finds nothing more to do.
    let again = run(&db, &settings(), &clock).await;
    assert_eq!((again.expired.messages, again.expired.conversations), (0, 0));
}

#[tokio::test]
async fn grace_restore_then_purge_children_first() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let settings = settings();
    run(&db, &settings, &clock).await;

    // Within grace: nothing purged, and a restore brings a conversation back.
    clock.advance(Duration::days(3));
    let mid = run(&db, &settings, &clock).await;
    assert_eq!(mid.purged.messages, 0);
    let retention = Retention { store: &db.store, settings: &settings, tz: Tz::UTC, clock: &clock };
    let restored = retention.restore(Some("c-week"), None, Actor::Cli).await.unwrap();
    assert_eq!((restored.messages, restored.conversations), (1, 0));
    assert!(restored.still_past_policy, "the restore says the next run will expire it again");
    assert!(messages(&db, "live").await.contains(&"m-week-old".to_string()));

    // --since outside the grace window is refused, naming the window.
    let err = retention.restore(None, Some(at(2026, 11, 1, 0, 0, 0)), Actor::Cli).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert!(err.to_string().contains("outside the grace window"), "{err}");
    // --since inside it restores what expired since then.
    let since = retention.restore(None, Some(at(2026, 11, 23, 0, 0, 0)), Actor::Cli).await.unwrap();
    assert_eq!(since.messages, 4, "everything the first run expired, but m-week-old (already back)");
    assert_eq!(since.conversations, 1);

    // Re-expire, then after grace everything expired is purged, reads and participants with it.
    run(&db, &settings, &clock).await;
    clock.advance(Duration::days(8));
    let before_reads = db.count("message_reads").await;
    let purge = run(&db, &settings, &clock).await;
    assert_eq!(purge.purged.messages, 5);
    assert_eq!(purge.purged.conversations, 1);
    assert_eq!(purge.purged.participants, 2, "c-gone's two participant rows");
    assert_eq!(purge.purged.reads, 3, "m-default-old, m-instant-read and m-gone-1 each had one read");
    assert_eq!(db.count("message_reads").await, before_reads - 3);
    assert_eq!(
        messages(&db, "all").await,
        ["m-default-new", "m-forever", "m-instant-unread", "m-week-new"],
        "only rows outside every policy remain"
    );
    no_orphans(&db).await;
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn holds_of_every_kind_stop_expiry_and_purge() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let d = |days| ago(&clock, days);
    load(
        &db,
        &[
            user("cy"),
            json!({"type": "conversation", "id": "c-flagged", "kind": "group", "retention_policy": "3d",
                   "legal_hold": true, "created_at": d(50)}),
            message("m-flagged", "c-flagged", "cy", &d(40)),
            conversation("c-cy", Some("3d"), &d(50)),
            member("c-cy", "cy", "owner"),
            message("m-cy", "c-cy", "cy", &d(40)),
        ],
    )
    .await;
    place_hold(&db.store, HoldTarget::Conversation("c-week".into()), "case 114", Actor::Cli, &clock).await.unwrap();
    let on_cy = place_hold(&db.store, HoldTarget::User("cy".into()), "case 115", Actor::Cli, &clock).await.unwrap();

    let report = run(&db, &settings(), &clock).await;
    let expired = messages(&db, "expired").await;
    for held in ["m-week-old", "m-flagged", "m-cy"] {
        assert!(!expired.contains(&held.to_string()), "{held} is under a hold and must not expire");
    }
    assert_eq!(report.blocked.held_messages, 3);
    assert_eq!(report.blocked.held_conversations, 3);

    // A hold placed after expiry still stops the purge.
    place_hold(&db.store, HoldTarget::Conversation("c-gone".into()), "late hold", Actor::Cli, &clock).await.unwrap();
    clock.advance(Duration::days(8));
    run(&db, &settings(), &clock).await;
    assert!(messages(&db, "all").await.contains(&"m-gone-1".to_string()), "held after expiry: kept");

    // Released: the next runs expire and then purge, and the hold's history survives the purge.
    release_hold(&db.store, on_cy.id, Some("case closed"), Actor::Cli, &clock).await.unwrap();
    run(&db, &settings(), &clock).await;
    clock.advance(Duration::days(8));
    run(&db, &settings(), &clock).await;
    assert!(!messages(&db, "all").await.contains(&"m-cy".to_string()));
    let history = list_holds(&db.store, true).await.unwrap();
    assert!(history.iter().any(|h| h.target == HoldTarget::User("cy".into()) && !h.is_active()));
    no_orphans(&db).await;
}

#[tokio::test]
async fn purge_waits_for_a_verified_archive_of_the_month() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let strict = RetentionSettings { require_verified_backup: true, ..settings() };
    run(&db, &strict, &clock).await;
    clock.advance(Duration::days(8));

    let events = CollectEvents::default();
    let retention = Retention { store: &db.store, settings: &strict, tz: Tz::UTC, clock: &clock };
    let hooks = RunHooks { progress: &NoProgress, events: &events, cancel: &Cancel::new() };
    let blocked = retention.run(Actor::Scheduler, hooks).await.unwrap();
    assert_eq!(blocked.purged.messages, 0, "no verified archive: nothing purged");
    let months: Vec<&str> = blocked.blocked.months.iter().map(|m| m.month.as_str()).collect();
    assert_eq!(months, ["2026-05", "2026-11"], "m-default-old is from May, the rest from November");
    assert!(blocked.blocked.months[0].reason.contains("no verified monthly archive"));
    let events = events.take();
    assert!(events.iter().any(|e| matches!(e, Event::PurgeBlocked { month, .. } if month == "2026-05")), "{events:?}");

    // A verified archive of November lets November go; May stays blocked.
    sqlx::query(
        "INSERT INTO backups (kind, year, month, range_start, range_end, file_name, status, created_at)
         VALUES ('archive', 2026, 11, '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z',
                 'chatkeep-archive-2026-11.tar.zst', 'verified', '2026-12-01T02:00:00.000Z'),
                ('archive', 2026, 5, '2026-05-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z',
                 'chatkeep-archive-2026-05.tar.zst', 'failed', '2026-06-01T02:00:00.000Z')",
    )
    .execute(&mut db.raw().await)
    .await
    .unwrap();
    let partly = run(&db, &strict, &clock).await;
    assert_eq!(partly.purged.messages, 4);
    assert_eq!(partly.blocked.months.len(), 1);
    assert_eq!(partly.blocked.months[0].month, "2026-05", "a failed archive does not count");
    assert!(messages(&db, "all").await.contains(&"m-default-old".to_string()));
}

#[tokio::test]
async fn auto_delete_disabled_reports_and_changes_nothing() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let off = RetentionSettings { auto_delete_enabled: false, ..settings() };
    let report = run(&db, &off, &clock).await;
    assert_eq!(report.mode, ReportMode::ReportOnly);
    assert_eq!(report.expired.messages, 5, "it says what it would do");
    assert!(messages(&db, "expired").await.is_empty(), "and does none of it");
    let expires_set: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE expires_at IS NOT NULL")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert_eq!(expires_set, 0, "not even the expires_at upkeep");
    let action: String = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert_eq!(action, "retention.report_only");
}

#[tokio::test]
async fn preview_equals_the_run_on_demo_data() {
    let db = TestDb::new().await;
    let clock = clock();
    let options =
        SeedOptions { conversations: 400, messages: 6_000, months: 12, seed: 7, until: at(2026, 11, 23, 0, 0, 0) };
    seed_demo(&db.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    let small_batches = RetentionSettings { batch_size: 37, ..settings() };

    for step in 0..3 {
        let preview = preview(&db, &small_batches, &clock).await;
        let mut report = run(&db, &small_batches, &clock).await;
        assert_eq!(report.mode, ReportMode::Run);
        report.mode = ReportMode::Preview;
        report.expires_at_updated = 0;
        assert!(report.stage_ms.contains_key("purge_messages"), "a run reports how long each stage took");
        report.stage_ms.clear();
        assert_eq!(preview, report, "step {step}: the run did exactly what its preview said");
        clock.advance(Duration::days(5));
        if step == 0 {
            assert!(preview.expired.messages > 1_000, "a year of demo data has plenty past 180 days");
        }
    }
    no_orphans(&db).await;
}

#[tokio::test]
async fn upcoming_deletions_are_listed_by_date_and_announced() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let report = preview(&db, &settings(), &clock).await;
    // m-week-new (3 days old, 7d policy) expires in 4 days.
    let day = report.upcoming.days.iter().find(|d| d.date.to_string() == "2026-11-27").unwrap();
    assert_eq!(day.messages, 1);
    assert_eq!(day.purged_from.to_string(), "2026-12-04");
    assert_eq!(report.upcoming.next_7_days, 1);

    let events = CollectEvents::default();
    let notice = RetentionSettings { notice_days: 4, ..settings() };
    let retention = Retention { store: &db.store, settings: &notice, tz: Tz::UTC, clock: &clock };
    retention
        .run(Actor::Scheduler, RunHooks { progress: &NoProgress, events: &events, cancel: &Cancel::new() })
        .await
        .unwrap();
    let events = events.take();
    assert!(events.iter().any(|e| matches!(e, Event::DeletionNotice { messages: 1, .. })), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::RetentionFinished { cancelled: false, .. })));
}

#[tokio::test]
async fn a_cancelled_run_stops_between_batches_and_the_next_finishes() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let tiny = RetentionSettings { batch_size: 10, ..settings() };
    let cancel = Cancel::new();
    cancel.cancel();
    let retention = Retention { store: &db.store, settings: &tiny, tz: Tz::UTC, clock: &clock };
    let report = retention
        .run(Actor::Cli, RunHooks { progress: &NoProgress, events: &NoEvents, cancel: &cancel })
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert_eq!(report.expired.messages, 0);
    let finished = run(&db, &tiny, &clock).await;
    assert_eq!(finished.expired.messages, 5);
}

#[tokio::test]
async fn bad_policies_are_refused_or_reported_never_guessed() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    sqlx::query("UPDATE conversations SET retention_policy = '7 days' WHERE external_id = 'c-gone'")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let report = run(&db, &settings(), &clock).await;
    assert!(!messages(&db, "expired").await.contains(&"m-gone-1".to_string()), "an unreadable policy keeps rows");
    assert!(report.problems[0].contains("\"7 days\""), "{:?}", report.problems);

    let retention = Retention { store: &db.store, settings: &settings(), tz: Tz::UTC, clock: &clock };
    let err = retention.set_policy("c-missing", Some(RetentionPolicy::Days(3)), Actor::Cli).await.unwrap_err();
    assert!(err.to_string().contains("c-missing"), "{err}");
    // Setting a policy recomputes expires_at for the conversation's messages.
    let updated = retention.set_policy("c-gone", Some(RetentionPolicy::Days(30)), Actor::Cli).await.unwrap();
    assert_eq!(updated, 2);
    let expires: Option<String> = sqlx::query_scalar("SELECT expires_at FROM messages WHERE external_id = 'm-gone-1'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert_eq!(expires.as_deref(), Some(ago(&clock, 19 - 30).as_str()));
}

#[tokio::test]
async fn inactive_conversations_are_archived_and_idle_bot_sessions_closed() {
    let db = TestDb::new().await;
    let clock = clock();
    let d = |hours: i64| chatkeep_core::time::to_db(at(2026, 11, 23, 12, 0, 0) - Duration::hours(hours));
    load(
        &db,
        &[
            user("ana"),
            json!({"type": "conversation", "id": "bot-idle", "kind": "bot", "retention_policy": "forever",
                   "created_at": d(30), "last_activity_at": d(25)}),
            json!({"type": "conversation", "id": "bot-busy", "kind": "bot", "retention_policy": "forever",
                   "created_at": d(30), "last_activity_at": d(2)}),
            json!({"type": "conversation", "id": "old-group", "kind": "group", "retention_policy": "forever",
                   "created_at": d(24 * 200), "last_activity_at": d(24 * 91)}),
            json!({"type": "conversation", "id": "recent-group", "kind": "group", "retention_policy": "forever",
                   "created_at": d(24 * 200), "last_activity_at": d(24 * 89)}),
        ],
    )
    .await;
    let report = run(&db, &settings(), &clock).await;
    assert_eq!(report.archived.bot_sessions_closed, 1);
    assert_eq!(report.archived.inactive_conversations, 1);
    let archived: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM conversations WHERE archived_at IS NOT NULL ORDER BY 1")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
    assert_eq!(archived, ["bot-idle", "old-group"]);
}

async fn sessions_table(db: &TestDb, clock: &FixedClock) {
    let mut conn = db.raw().await;
    sqlx::query(
        "CREATE TABLE app_sessions (id INTEGER PRIMARY KEY, token TEXT, email TEXT, ip TEXT,
                                    created_at TEXT NOT NULL, seen_unix INTEGER, expired_at TEXT)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let now: DateTime<Utc> = chatkeep_core::Clock::now(clock);
    for (n, days) in [(1, 400), (2, 200), (3, 10)] {
        let created = chatkeep_core::time::to_db(now - Duration::days(days));
        sqlx::query("INSERT INTO app_sessions VALUES ($1, $2, $3, $4, $5, $6, NULL)")
            .bind(n)
            .bind(format!("token-{n}"))
            .bind(if n == 3 { "ana@example.com" } else { "ben@example.com" })
            .bind("10.0.0.1")
            .bind(created)
            .bind((now - Duration::days(days)).timestamp())
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// (id, email, ip, expired_at)
type SessionRow = (i64, Option<String>, Option<String>, Option<String>);

fn rule(table: &str, column: &str, days: u32, strategy: RuleStrategy, columns: &[&str]) -> TableRule {
    TableRule {
        id: None,
        table: table.into(),
        timestamp_column: column.into(),
        days,
        strategy,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        gdpr_sensitive: true,
        enabled: true,
    }
}

#[tokio::test]
async fn table_rules_soft_hard_and_anonymize() {
    let strategies = [
        (RuleStrategy::Soft, vec![], "soft"),
        (RuleStrategy::Hard, vec![], "hard"),
        (RuleStrategy::Anonymize, vec!["email", "ip"], "anonymize"),
    ];
    for (strategy, columns, name) in strategies {
        let db = TestDb::new().await;
        let clock = clock();
        sessions_table(&db, &clock).await;
        let stored =
            add_rule(&db.store, rule("app_sessions", "created_at", 180, strategy, &columns), Actor::Cli, &clock)
                .await
                .unwrap();
        assert!(stored.id.is_some());
        let preview = preview(&db, &settings(), &clock).await;
        let report = run(&db, &settings(), &clock).await;
        assert_eq!(preview.rules[0].rows, 2, "{name}: two sessions are older than 180 days");
        assert_eq!(report.rules, preview.rules, "{name}: the run did what the preview said");
        let rows: Vec<SessionRow> = sqlx::query_as("SELECT id, email, ip, expired_at FROM app_sessions ORDER BY id")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
        match strategy {
            RuleStrategy::Soft => {
                assert!(rows[0].3.is_some() && rows[1].3.is_some() && rows[2].3.is_none(), "{rows:?}");
            }
            RuleStrategy::Hard => assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [3]),
            RuleStrategy::Anonymize => {
                let (a, b) = (rows[0].1.clone().unwrap(), rows[1].1.clone().unwrap());
                assert!(a.starts_with("anon-") && a != "ben@example.com", "{rows:?}");
                assert_eq!(a, b, "the same email gets the same pseudonym");
                assert_ne!(rows[0].2, Some("10.0.0.1".into()));
                assert_eq!(rows[2].1.as_deref(), Some("ana@example.com"), "young rows are untouched");
                let again = run(&db, &settings(), &clock).await;
                assert_eq!(again.rules[0].rows, 0, "pseudonyms are not anonymized twice");
            }
        }
    }
}

#[tokio::test]
async fn rules_with_unix_seconds_and_from_the_config_file() {
    let db = TestDb::new().await;
    let clock = clock();
    sessions_table(&db, &clock).await;
    let from_config = RetentionSettings {
        rules: vec![rule("app_sessions", "seen_unix", 300, RuleStrategy::Hard, &[])],
        ..settings()
    };
    let report = run(&db, &from_config, &clock).await;
    assert_eq!(report.rules[0].id, None);
    assert_eq!(report.rules[0].rows, 1, "only the 400-day-old session, by its Unix-seconds column");
    assert_eq!(db.count("app_sessions").await, 2);
}

#[tokio::test]
async fn rules_naming_unknown_or_protected_things_are_refused_by_name() {
    let db = TestDb::new().await;
    let clock = clock();
    sessions_table(&db, &clock).await;
    let cases = [
        (rule("app_sesions", "created_at", 30, RuleStrategy::Hard, &[]), "no table named \"app_sesions\""),
        (rule("app_sessions", "created", 30, RuleStrategy::Hard, &[]), "no column \"created\""),
        (rule("app_sessions", "created_at", 30, RuleStrategy::Anonymize, &["mail"]), "no column \"mail\""),
        (rule("app_sessions", "created_at", 30, RuleStrategy::Anonymize, &["seen_unix"]), "only takes text"),
        (rule("audit_log", "at", 30, RuleStrategy::Hard, &[]), "chatkeep's own table"),
        (rule("messages", "created_at", 30, RuleStrategy::Hard, &[]), "retention policy set"),
        (rule("users", "created_at", 30, RuleStrategy::Hard, &[]), "cannot be hard-deleted"),
        (rule("app_sessions", "created_at", 0, RuleStrategy::Hard, &[]), "days must be from 1"),
        (rule("app_sessions", "created_at", 30, RuleStrategy::Anonymize, &[]), "needs the columns"),
    ];
    for (bad, expected) in cases {
        let err = add_rule(&db.store, bad.clone(), Actor::Cli, &clock).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(expected), "{bad:?}: expected {expected:?} in: {err}");
    }
    assert_eq!(db.count("retention_rules").await, 0, "nothing refused was stored");
    let _: &Store = &db.store;
}

#[tokio::test]
async fn an_expiry_batch_rechecks_the_policy_it_was_planned_under() {
    use chatkeep_core::store::retention::PolicyCutoff;
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages WHERE external_id = 'm-gone-1'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    let planned = [PolicyCutoff { policy: Some("3d".into()), cutoff: ago(&clock, 3) }];
    // The admin sets the conversation to forever between the plan and the batch.
    sqlx::query("UPDATE conversations SET retention_policy = 'forever' WHERE external_id = 'c-gone'")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let mut tx = db.store.begin().await.unwrap();
    let expired = tx.expire_messages(&[id], &ago(&clock, 0), &planned).await.unwrap();
    tx.commit().await.unwrap();
    assert!(expired.is_empty(), "the new policy wins over the plan");
    assert!(messages(&db, "expired").await.is_empty());
}

#[tokio::test]
async fn a_purge_batch_rechecks_that_a_verified_archive_still_covers_its_rows() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    run(&db, &settings(), &clock).await;
    clock.advance(Duration::days(8));
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages WHERE external_id = 'm-gone-1'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    // The November archive failed a re-verification after the plan was made.
    sqlx::query(
        "INSERT INTO backups (kind, year, month, range_start, range_end, file_name, status, created_at)
         VALUES ('archive', 2026, 11, '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', 'a.tar.zst', 'failed',
                 '2026-12-01T02:00:00.000Z')",
    )
    .execute(&mut db.raw().await)
    .await
    .unwrap();
    let now = ago(&clock, 0);
    let mut tx = db.store.begin().await.unwrap();
    let purged = tx.purge_messages(&[id], &now, &now, true).await.unwrap();
    tx.commit().await.unwrap();
    assert!(purged.ids.is_empty(), "no verified archive covers it any more");
    assert!(messages(&db, "all").await.contains(&"m-gone-1".to_string()));
}

#[tokio::test]
async fn a_purge_leaves_no_earlier_copy_of_purged_rows_in_the_write_ahead_log() {
    let db = TestDb::new().await;
    let clock = scene(&db).await;
    let settings = settings();
    run(&db, &settings, &clock).await;
    let wal_path = format!("{}-wal", db.path.display());
    let purged = ["m-default-old", "m-week-old", "m-instant-read", "m-gone-1", "m-gone-2"];
    let holds = |wal: &[u8], id: &str| {
        let body = format!("body of {id}");
        wal.windows(body.len()).any(|w| w == body.as_bytes())
    };
    let before = std::fs::read(&wal_path).unwrap();
    assert!(purged.iter().all(|id| holds(&before, id)), "the log holds the expired rows before the purge");

    clock.advance(Duration::days(8));
    let purge = run(&db, &settings, &clock).await;
    assert_eq!(purge.purged.messages, 5);
    assert!(purge.stage_ms.contains_key("wal_truncate"), "{:?}", purge.stage_ms);
    let after = std::fs::read(&wal_path).unwrap_or_default();
    for id in purged {
        assert!(!holds(&after, id), "{id}'s text is still in the write-ahead log after its purge");
    }
    assert_eq!(messages(&db, "all").await.len(), 4, "the rows outside every policy stay");
}
