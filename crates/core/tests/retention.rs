#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Retention and table rules: every scenario runs on a SQLite file and, when a
//! server answers, on a PostgreSQL database of its own, and must come out the
//! same: each policy, grace and restore, holds, the backup interlock,
//! report-only mode, table rules, and a preview that matches its run. Data is
//! written with plain SQL that both engines accept, so each scenario starts from
//! identical rows. What only one engine has (SQLite's write-ahead log) is tested
//! on that engine, at the end.
mod common;

use chatkeep_core::config::RetentionSettings;
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::policy::RetentionPolicy;
use chatkeep_core::domain::rule::{RuleStrategy, TableRule};
use chatkeep_core::events::{CollectEvents, Event, NoEvents};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::retention::{Outcome, ReportMode, Retention, RetentionReport, RunHooks, add_rule, list_rules};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::retention::PolicyCutoff;
use chatkeep_core::store::sqlx;
use chatkeep_core::{Clock, Error, FixedClock, audit};
use chrono::Duration;
use chrono_tz::Tz;
use common::{AnyDb, at, clock, engine, engines, exec};

// ---- the engines ----

/// Fetches rows of a tuple type both engines decode.
macro_rules! fetch {
    ($db:expr, $ty:ty, $sql:expr) => {{
        let sql = sqlx::AssertSqlSafe(String::from($sql));
        match $db {
            AnyDb::Sqlite(t) => sqlx::query_as::<_, $ty>(sql).fetch_all(&mut t.raw().await).await.unwrap(),
            AnyDb::Postgres(p, _) => sqlx::query_as::<_, $ty>(sql).fetch_all(&mut p.raw().await).await.unwrap(),
        }
    }};
}

async fn number(db: &AnyDb, sql: &str) -> i64 {
    fetch!(db, (i64,), sql)[0].0
}

/// A stored instant as chatkeep's canonical text, on either engine.
fn ts(db: &AnyDb, column: &str) -> String {
    match db {
        AnyDb::Sqlite(_) => column.to_string(),
        AnyDb::Postgres(..) => format!("ck_ts({column})"),
    }
}

// ---- data, in SQL both engines accept ----

fn q(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn opt(text: Option<&str>) -> String {
    text.map_or("NULL".to_string(), q)
}

fn id_of(table: &str, external_id: &str) -> String {
    format!("(SELECT id FROM {table} WHERE external_id = {})", q(external_id))
}

/// Rows to load, as statements; `load` runs them and brings each conversation's
/// last activity up to its newest message, as an import does.
#[derive(Default)]
struct Seed(Vec<String>);

impl Seed {
    fn user(&mut self, id: &str) -> &mut Self {
        self.0.push(format!(
            "INSERT INTO users (external_id, created_at) VALUES ({}, '2020-01-01T00:00:00.000Z')",
            q(id)
        ));
        self
    }

    fn conversation(&mut self, id: &str, policy: Option<&str>, created_at: &str) -> &mut Self {
        self.conversation_full(id, "group", policy, created_at, None, false)
    }

    fn conversation_full(
        &mut self,
        id: &str,
        kind: &str,
        policy: Option<&str>,
        created_at: &str,
        last_activity_at: Option<&str>,
        legal_hold: bool,
    ) -> &mut Self {
        self.0.push(format!(
            "INSERT INTO conversations (external_id, kind, retention_policy, legal_hold, created_at, last_activity_at)
             VALUES ({}, {}, {}, {legal_hold}, {}, {})",
            q(id),
            q(kind),
            opt(policy),
            q(created_at),
            opt(last_activity_at)
        ));
        self
    }

    fn member(&mut self, conversation: &str, user: &str, role: &str) -> &mut Self {
        self.0.push(format!(
            "INSERT INTO participants (conversation_id, user_id, role, joined_at)
             VALUES ({}, {}, {}, '2020-01-01T00:00:00.000Z')",
            id_of("conversations", conversation),
            id_of("users", user),
            q(role)
        ));
        self
    }

    fn message(&mut self, id: &str, conversation: &str, sender: &str, created_at: &str) -> &mut Self {
        self.0.push(format!(
            "INSERT INTO messages (external_id, conversation_id, sender_id, role, body, created_at)
             VALUES ({}, {}, {}, 'user', {}, {})",
            q(id),
            id_of("conversations", conversation),
            id_of("users", sender),
            q(&format!("body of {id}")),
            q(created_at)
        ));
        self
    }

    fn read(&mut self, message: &str, user: &str, at: &str) -> &mut Self {
        self.0.push(format!(
            "INSERT INTO message_reads (message_id, user_id, read_at) VALUES ({}, {}, {})",
            id_of("messages", message),
            id_of("users", user),
            q(at)
        ));
        self
    }

    async fn load(&self, db: &AnyDb) {
        let mut statements = self.0.clone();
        statements.push(
            "UPDATE conversations
                SET last_activity_at = (SELECT max(m.created_at) FROM messages m WHERE m.conversation_id = conversations.id)
              WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id
                              AND (conversations.last_activity_at IS NULL OR m.created_at > conversations.last_activity_at))"
                .to_string(),
        );
        exec(db, &statements.join(";\n")).await;
    }
}

async fn hold(db: &AnyDb, kind: &str, target: &str, reason: &str, placed_at: &str) {
    let (column, table) = if kind == "user" { ("user_id", "users") } else { ("conversation_id", "conversations") };
    exec(
        db,
        &format!(
            "INSERT INTO legal_holds (target_kind, target_external_id, {column}, reason, placed_by, created_at)
             VALUES ({}, {}, {}, {}, 'cli', {})",
            q(kind),
            q(target),
            id_of(table, target),
            q(reason),
            q(placed_at)
        ),
    )
    .await;
}

async fn release(db: &AnyDb, target: &str, released_at: &str) {
    exec(
        db,
        &format!(
            "UPDATE legal_holds SET released_at = {}, release_reason = 'case closed'
             WHERE target_external_id = {} AND released_at IS NULL",
            q(released_at),
            q(target)
        ),
    )
    .await;
}

// ---- retention ----

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
    chatkeep_core::time::to_db(clock.now() - Duration::days(days))
}

fn hooks<'a>(events: &'a dyn chatkeep_core::events::EventSink, cancel: &'a Cancel) -> RunHooks<'a> {
    RunHooks { progress: &NoProgress, events, cancel }
}

async fn run(db: &AnyDb, settings: &RetentionSettings, clock: &FixedClock) -> RetentionReport {
    let retention = Retention { store: db.store(), settings, tz: Tz::UTC, clock };
    retention.run(Actor::Scheduler, hooks(&NoEvents, &Cancel::new())).await.unwrap()
}

async fn preview(db: &AnyDb, settings: &RetentionSettings, clock: &FixedClock) -> RetentionReport {
    Retention { store: db.store(), settings, tz: Tz::UTC, clock }.preview().await.unwrap()
}

/// External ids of the messages in a state: "live", "expired", or "all" (still stored), sorted.
async fn messages(db: &AnyDb, state: &str) -> Vec<String> {
    let condition = match state {
        "live" => "expired_at IS NULL",
        "expired" => "expired_at IS NOT NULL",
        _ => "TRUE",
    };
    let mut ids: Vec<String> = fetch!(db, (String,), format!("SELECT external_id FROM messages WHERE {condition}"))
        .into_iter()
        .map(|r| r.0)
        .collect();
    ids.sort();
    ids
}

/// Rows that point at rows that are gone (the engines' constraints should make this impossible).
async fn no_orphans(db: &AnyDb) {
    let orphans = number(
        db,
        "SELECT (SELECT count(*) FROM message_reads r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = r.message_id))
              + (SELECT count(*) FROM participants p
                  WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = p.conversation_id))
              + (SELECT count(*) FROM messages m
                  WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id))
              + (SELECT count(*) FROM messages m WHERE m.reply_to_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.id = m.reply_to_id))",
    )
    .await;
    assert_eq!(orphans, 0, "{}: rows point at rows that are gone", engine(db));
}

/// The scene of the SQLite retention tests; the clock's now is 2026-11-23 12:00 UTC.
async fn scene(db: &AnyDb) -> FixedClock {
    let clock = clock();
    let d = |days| ago(&clock, days);
    Seed::default()
        .user("ana")
        .user("ben")
        .user("bot")
        .conversation("c-default", None, &d(400))
        .member("c-default", "ana", "owner")
        .member("c-default", "ben", "member")
        .message("m-default-old", "c-default", "ana", &d(200))
        .message("m-default-new", "c-default", "ben", &d(100))
        .read("m-default-old", "ben", &d(199))
        .conversation("c-week", Some("7d"), &d(30))
        .member("c-week", "ana", "owner")
        .message("m-week-old", "c-week", "ana", &d(10))
        .message("m-week-new", "c-week", "ana", &d(3))
        .conversation("c-forever", Some("forever"), &d(900))
        .member("c-forever", "ana", "owner")
        .message("m-forever", "c-forever", "ana", &d(800))
        .conversation("c-instant", Some("instant"), &d(2))
        .member("c-instant", "ana", "owner")
        .member("c-instant", "ben", "member")
        .member("c-instant", "bot", "bot")
        .message("m-instant-read", "c-instant", "ana", &d(1))
        .message("m-instant-unread", "c-instant", "ana", &d(1))
        .read("m-instant-read", "ben", &d(1))
        .conversation("c-gone", Some("3d"), &d(20))
        .member("c-gone", "ana", "owner")
        .member("c-gone", "ben", "member")
        .message("m-gone-1", "c-gone", "ana", &d(19))
        .message("m-gone-2", "c-gone", "ben", &d(18))
        .read("m-gone-1", "ben", &d(18))
        .load(db)
        .await;
    clock
}

#[tokio::test]
async fn each_policy_expires_exactly_what_it_says_on_both_engines() {
    for db in engines("each_policy").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let report = run(&db, &settings(), &clock).await;
        assert_eq!(
            messages(&db, "expired").await,
            ["m-default-old", "m-gone-1", "m-gone-2", "m-instant-read", "m-week-old"],
            "{e}: older than 180d (default), 7d and 3d, and read by everyone but the sender and the bot (instant)"
        );
        assert_eq!((report.expired.messages, report.expired.conversations), (5, 1), "{e}: only c-gone expires whole");
        assert_eq!(report.purged.messages, 0, "{e}: nothing is purged before the grace period ends");
        assert_eq!((report.mode, report.outcome), (ReportMode::Run, Outcome::Completed));
        let expired: Vec<(String,)> =
            fetch!(&db, (String,), "SELECT external_id FROM conversations WHERE expired_at IS NOT NULL");
        assert_eq!(expired, [("c-gone".to_string(),)], "{e}");

        // expires_at follows each policy, in UTC to the millisecond; instant and forever have none.
        let expires: std::collections::HashMap<String, Option<String>> = fetch!(
            &db,
            (String, Option<String>),
            format!("SELECT external_id, {} FROM messages", ts(&db, "expires_at"))
        )
        .into_iter()
        .collect();
        assert_eq!(expires["m-week-new"].as_deref(), Some(ago(&clock, 3 - 7).as_str()), "{e}");
        assert_eq!(expires["m-default-new"].as_deref(), Some(ago(&clock, 100 - 180).as_str()), "{e}");
        assert_eq!(expires["m-forever"], None, "{e}: forever never expires");
        assert_eq!(expires["m-instant-unread"], None, "{e}: instant has no date");

        let again = run(&db, &settings(), &clock).await;
        assert_eq!((again.expired.messages, again.expired.conversations), (0, 0), "{e}: a second run finds nothing");
    }
}

#[tokio::test]
async fn instant_expires_a_message_once_every_reader_has_read_it() {
    for db in engines("instant_reads").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        run(&db, &settings(), &clock).await;
        let live = messages(&db, "live").await;
        assert!(live.contains(&"m-instant-unread".to_string()), "{e}: ben has not read it yet");
        assert!(!live.contains(&"m-instant-read".to_string()), "{e}: read by ben; the sender and the bot do not count");

        // A new member who has read nothing holds an otherwise-read message back too.
        Seed::default().user("cy").member("c-instant", "cy", "member").load(&db).await;
        Seed::default().read("m-instant-unread", "ben", &ago(&clock, 0)).load(&db).await;
        let report = run(&db, &settings(), &clock).await;
        assert_eq!(report.expired.messages, 0, "{e}: cy has not read m-instant-unread");
        Seed::default().read("m-instant-unread", "cy", &ago(&clock, 0)).load(&db).await;
        let report = run(&db, &settings(), &clock).await;
        assert_eq!(report.expired.messages, 1, "{e}: now everyone has");
        assert!(messages(&db, "live").await.iter().all(|m| !m.starts_with("m-instant")), "{e}");
        assert_eq!(report.expired.conversations, 0, "{e}: the conversation itself is younger than the default");
    }
}

#[tokio::test]
async fn the_default_and_forever_follow_the_configured_days() {
    for db in engines("default_forever").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        // An empty policy is the default too.
        Seed::default()
            .conversation("c-empty", Some(""), &ago(&clock, 400))
            .member("c-empty", "ana", "owner")
            .message("m-empty", "c-empty", "ana", &ago(&clock, 95))
            .load(&db)
            .await;
        let short = RetentionSettings { default_days: 90, ..settings() };
        run(&db, &short, &clock).await;
        let expired = messages(&db, "expired").await;
        for id in ["m-default-old", "m-default-new", "m-empty"] {
            assert!(expired.contains(&id.to_string()), "{e}: {id} is older than the 90-day default");
        }
        assert!(!expired.contains(&"m-forever".to_string()), "{e}: forever keeps an 800-day-old message");
        let one_day = RetentionSettings { default_days: 1, ..settings() };
        run(&db, &one_day, &clock).await;
        assert!(messages(&db, "live").await.contains(&"m-forever".to_string()), "{e}: whatever the default");
    }
}

#[tokio::test]
async fn grace_restore_then_purge_children_first_on_both_engines() {
    for db in engines("grace_restore").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let settings = settings();
        run(&db, &settings, &clock).await;

        clock.advance(Duration::days(3));
        let mid = run(&db, &settings, &clock).await;
        assert_eq!(mid.purged.messages, 0, "{e}: still in grace");
        let retention = Retention { store: db.store(), settings: &settings, tz: Tz::UTC, clock: &clock };
        let restored = retention.restore(Some("c-week"), None, Actor::Cli).await.unwrap();
        assert_eq!((restored.messages, restored.conversations), (1, 0), "{e}");
        assert!(restored.still_past_policy, "{e}");
        assert!(restored.earliest_expiry.is_some(), "{e}: the restore says when the rows had expired");
        assert!(messages(&db, "live").await.contains(&"m-week-old".to_string()), "{e}");

        let err = retention.restore(None, Some(at(2026, 11, 1, 0, 0, 0)), Actor::Cli).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{e}: {err:?}");
        assert!(err.to_string().contains("outside the grace window"), "{e}: {err}");
        let since = retention.restore(None, Some(at(2026, 11, 23, 0, 0, 0)), Actor::Cli).await.unwrap();
        assert_eq!((since.messages, since.conversations), (4, 1), "{e}: all the first run expired but m-week-old");

        run(&db, &settings, &clock).await;
        clock.advance(Duration::days(8));
        let before_reads = db.count("message_reads").await;
        let purge = run(&db, &settings, &clock).await;
        assert_eq!((purge.purged.messages, purge.purged.conversations), (5, 1), "{e}");
        assert_eq!(purge.purged.participants, 2, "{e}: c-gone's two participant rows");
        assert_eq!(purge.purged.reads, 3, "{e}: m-default-old, m-instant-read and m-gone-1 each had one read");
        assert_eq!(db.count("message_reads").await, before_reads - 3, "{e}");
        assert_eq!(
            messages(&db, "all").await,
            ["m-default-new", "m-forever", "m-instant-unread", "m-week-new"],
            "{e}: only rows outside every policy remain"
        );
        no_orphans(&db).await;
        if matches!(db, AnyDb::Sqlite(_)) {
            assert!(audit::verify(db.store()).await.unwrap().is_intact());
        }
    }
}

#[tokio::test]
async fn a_purge_unlinks_replies_to_the_messages_it_deletes() {
    for db in engines("replies").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        // m-default-new (live) replies to m-default-old, which expires and is purged.
        exec(
            &db,
            "UPDATE messages SET reply_to_id = (SELECT id FROM messages WHERE external_id = 'm-default-old')
             WHERE external_id = 'm-default-new'",
        )
        .await;
        run(&db, &settings(), &clock).await;
        clock.advance(Duration::days(8));
        run(&db, &settings(), &clock).await;
        let reply: Vec<(Option<i64>,)> =
            fetch!(&db, (Option<i64>,), "SELECT reply_to_id FROM messages WHERE external_id = 'm-default-new'");
        assert_eq!(reply, [(None,)], "{e}: the reply stays and points nowhere");
        no_orphans(&db).await;
    }
}

#[tokio::test]
async fn rows_of_another_table_that_refer_to_a_message_stop_its_purge_by_name() {
    for db in engines("referenced").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        run(&db, &settings(), &clock).await;
        // A table of the chat service's own that chatkeep does not know, pointing at an expired message.
        exec(
            &db,
            "CREATE TABLE attachments (id BIGINT PRIMARY KEY, message_id BIGINT NOT NULL REFERENCES messages (id), name TEXT);
             INSERT INTO attachments (id, message_id, name)
             SELECT 1, id, 'scan.pdf' FROM messages WHERE external_id = 'm-default-old'",
        )
        .await;
        let expired = messages(&db, "expired").await;
        assert!(expired.contains(&"m-default-old".to_string()), "{e}");

        clock.advance(Duration::days(8));
        let retention = Retention { store: db.store(), settings: &settings(), tz: Tz::UTC, clock: &clock };
        let err = retention.run(Actor::Scheduler, hooks(&NoEvents, &Cancel::new())).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{e}: {err:?}");
        let text = err.to_string();
        assert!(text.contains("attachments") && text.contains("ON DELETE CASCADE"), "{e}: {text}");
        let stored = messages(&db, "all").await;
        assert!(expired.iter().all(|m| stored.contains(m)), "{e}: the failed batch purged nothing");
        assert_eq!(number(&db, "SELECT count(*) FROM attachments").await, 1, "{e}");
        no_orphans(&db).await;

        // Once the admin deals with the attachment, the next run purges what was due.
        exec(&db, "DELETE FROM attachments").await;
        let purge = run(&db, &settings(), &clock).await;
        assert_eq!(purge.purged.messages as usize, expired.len(), "{e}: what expired 8 days ago");
        assert!(!messages(&db, "all").await.contains(&"m-default-old".to_string()), "{e}");
        no_orphans(&db).await;
    }
}

#[tokio::test]
async fn holds_of_every_kind_stop_expiry_and_purge_on_both_engines() {
    for db in engines("holds").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let d = |days| ago(&clock, days);
        Seed::default()
            .user("cy")
            .conversation_full("c-flagged", "group", Some("3d"), &d(50), None, true)
            .message("m-flagged", "c-flagged", "cy", &d(40))
            .conversation("c-cy", Some("3d"), &d(50))
            .member("c-cy", "cy", "owner")
            .message("m-cy", "c-cy", "cy", &d(40))
            .load(&db)
            .await;
        hold(&db, "conversation", "c-week", "case 114", &d(0)).await;
        hold(&db, "user", "cy", "case 115", &d(0)).await;

        let report = run(&db, &settings(), &clock).await;
        let expired = messages(&db, "expired").await;
        for held in ["m-week-old", "m-flagged", "m-cy"] {
            assert!(!expired.contains(&held.to_string()), "{e}: {held} is under a hold and must not expire");
        }
        assert_eq!(report.blocked.held_messages, 3, "{e}");
        assert_eq!(report.blocked.held_conversations, 3, "{e}");

        // A hold placed after expiry still stops the purge.
        hold(&db, "conversation", "c-gone", "late hold", &d(0)).await;
        clock.advance(Duration::days(8));
        let held = run(&db, &settings(), &clock).await;
        assert!(messages(&db, "all").await.contains(&"m-gone-1".to_string()), "{e}: held after expiry: kept");
        assert_eq!(held.purged.conversations, 0, "{e}: c-gone is held");

        // Released: the next runs expire and then purge, and the hold's history survives the purge.
        release(&db, "cy", &ago(&clock, 0)).await;
        run(&db, &settings(), &clock).await;
        clock.advance(Duration::days(8));
        run(&db, &settings(), &clock).await;
        assert!(!messages(&db, "all").await.contains(&"m-cy".to_string()), "{e}: released, expired, purged");
        let history =
            number(&db, "SELECT count(*) FROM legal_holds WHERE target_external_id = 'cy' AND released_at IS NOT NULL")
                .await;
        assert_eq!(history, 1, "{e}: the released hold is still on record");
        no_orphans(&db).await;
    }
}

const ARCHIVES: &str = "INSERT INTO backups (kind, year, month, range_start, range_end, file_name, status, created_at)
     VALUES ('archive', 2026, 11, '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z',
             'chatkeep-archive-2026-11.tar.zst', 'verified', '2026-12-01T02:00:00.000Z'),
            ('archive', 2026, 5, '2026-05-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z',
             'chatkeep-archive-2026-05.tar.zst', 'failed', '2026-06-01T02:00:00.000Z')";

#[tokio::test]
async fn purge_waits_for_a_verified_archive_of_the_month_on_both_engines() {
    for db in engines("verified_archive").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let strict = RetentionSettings { require_verified_backup: true, ..settings() };
        run(&db, &strict, &clock).await;
        clock.advance(Duration::days(8));

        let events = CollectEvents::default();
        let retention = Retention { store: db.store(), settings: &strict, tz: Tz::UTC, clock: &clock };
        let blocked = retention.run(Actor::Scheduler, hooks(&events, &Cancel::new())).await.unwrap();
        assert_eq!(blocked.purged.messages, 0, "{e}: no verified archive: nothing purged");
        let months: Vec<&str> = blocked.blocked.months.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months, ["2026-05", "2026-11"], "{e}: m-default-old is from May, the rest from November");
        assert!(blocked.blocked.months[0].reason.contains("no verified monthly archive"), "{e}");
        assert!(
            events.take().iter().any(|ev| matches!(ev, Event::PurgeBlocked { month, .. } if month == "2026-05")),
            "{e}"
        );

        exec(&db, ARCHIVES).await;
        let partly = run(&db, &strict, &clock).await;
        assert_eq!(partly.purged.messages, 4, "{e}: November is covered");
        assert_eq!(partly.purged.conversations, 1, "{e}: c-gone, created in November");
        let months: Vec<&str> = partly.blocked.months.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months, ["2026-05"], "{e}: a failed archive does not count");
        assert!(messages(&db, "all").await.contains(&"m-default-old".to_string()), "{e}");
    }
}

#[tokio::test]
async fn batches_recheck_the_policy_and_the_archive_they_were_planned_under() {
    for db in engines("batch_rechecks").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let id = number(&db, "SELECT id FROM messages WHERE external_id = 'm-gone-1'").await;
        let planned = [PolicyCutoff { policy: Some("3d".into()), cutoff: ago(&clock, 3) }];
        exec(&db, "UPDATE conversations SET retention_policy = 'forever' WHERE external_id = 'c-gone'").await;
        let mut tx = db.store().begin().await.unwrap();
        let expired = tx.expire_messages(&[id], &ago(&clock, 0), &planned).await.unwrap();
        tx.commit().await.unwrap();
        assert!(expired.is_empty(), "{e}: the new policy wins over the plan");
        assert!(messages(&db, "expired").await.is_empty(), "{e}");

        exec(&db, "UPDATE conversations SET retention_policy = '3d' WHERE external_id = 'c-gone'").await;
        let mut tx = db.store().begin().await.unwrap();
        let expired = tx.expire_messages(&[id], &ago(&clock, 0), &planned).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(expired, [id], "{e}: back under 3d, it expires");

        clock.advance(Duration::days(8));
        exec(
            &db,
            "INSERT INTO backups (kind, year, month, range_start, range_end, file_name, status, created_at)
             VALUES ('archive', 2026, 11, '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', 'a.tar.zst',
                     'failed', '2026-12-01T02:00:00.000Z')",
        )
        .await;
        let now = ago(&clock, 0);
        let mut tx = db.store().begin().await.unwrap();
        let purged = tx.purge_messages(&[id], &now, &now, true).await.unwrap();
        tx.commit().await.unwrap();
        assert!(purged.ids.is_empty(), "{e}: no verified archive covers it any more");
        assert!(messages(&db, "all").await.contains(&"m-gone-1".to_string()), "{e}");
        exec(&db, "UPDATE backups SET status = 'verified'").await;
        let mut tx = db.store().begin().await.unwrap();
        let purged = tx.purge_messages(&[id], &now, &now, true).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!((purged.ids, purged.reads), (vec![id], 1), "{e}: verified again, it goes with its read");
    }
}

#[tokio::test]
async fn report_only_and_cancelled_runs_change_nothing_on_both_engines() {
    for db in engines("report_only").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let off = RetentionSettings { auto_delete_enabled: false, ..settings() };
        let report = run(&db, &off, &clock).await;
        assert_eq!((report.mode, report.expired.messages), (ReportMode::ReportOnly, 5), "{e}");
        assert!(messages(&db, "expired").await.is_empty(), "{e}: and does none of it");
        assert_eq!(number(&db, "SELECT count(*) FROM messages WHERE expires_at IS NOT NULL").await, 0, "{e}");
        let action: Vec<(String,)> = fetch!(&db, (String,), "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1");
        assert_eq!(action[0].0, "retention.report_only", "{e}");

        let cancel = Cancel::new();
        cancel.cancel();
        let tiny = RetentionSettings { batch_size: 10, ..settings() };
        let retention = Retention { store: db.store(), settings: &tiny, tz: Tz::UTC, clock: &clock };
        let cancelled = retention.run(Actor::Cli, hooks(&NoEvents, &cancel)).await.unwrap();
        assert_eq!((cancelled.outcome, cancelled.expired.messages), (Outcome::Cancelled, 0), "{e}");
        assert_eq!(run(&db, &tiny, &clock).await.expired.messages, 5, "{e}: the next run finishes");
    }
}

#[tokio::test]
async fn bad_policies_are_reported_and_setting_one_recomputes_expiry() {
    for db in engines("bad_policies").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        exec(&db, "UPDATE conversations SET retention_policy = '7 days' WHERE external_id = 'c-gone'").await;
        let report = run(&db, &settings(), &clock).await;
        assert!(
            !messages(&db, "expired").await.contains(&"m-gone-1".to_string()),
            "{e}: an unreadable policy keeps rows"
        );
        assert!(report.problems[0].contains("\"7 days\""), "{e}: {:?}", report.problems);

        let retention = Retention { store: db.store(), settings: &settings(), tz: Tz::UTC, clock: &clock };
        let err = retention.set_policy("c-missing", Some(RetentionPolicy::Days(3)), Actor::Cli).await.unwrap_err();
        assert!(err.to_string().contains("c-missing"), "{e}: {err}");
        let updated = retention.set_policy("c-gone", Some(RetentionPolicy::Days(30)), Actor::Cli).await.unwrap();
        assert_eq!(updated, 2, "{e}");
        let expires: Vec<(Option<String>,)> = fetch!(
            &db,
            (Option<String>,),
            format!("SELECT {} FROM messages WHERE external_id = 'm-gone-1'", ts(&db, "expires_at"))
        );
        assert_eq!(expires[0].0.as_deref(), Some(ago(&clock, 19 - 30).as_str()), "{e}");
        let groups = chatkeep_core::ops::retention::policy_groups(db.store()).await.unwrap();
        assert!(groups.iter().any(|g| g.policy.as_deref() == Some("30d") && g.conversations == 1), "{e}: {groups:?}");
        let order: Vec<Option<&str>> = groups.iter().map(|g| g.policy.as_deref()).collect();
        assert_eq!(
            order,
            [None, Some("30d"), Some("7d"), Some("forever"), Some("instant")],
            "{e}: listed as SQLite lists them, the default first, then by bytes"
        );
    }
}

#[tokio::test]
async fn inactive_conversations_are_archived_and_idle_bot_sessions_closed_on_both_engines() {
    for db in engines("archive_close").await {
        let e = engine(&db);
        let clock = clock();
        let h = |hours: i64| chatkeep_core::time::to_db(at(2026, 11, 23, 12, 0, 0) - Duration::hours(hours));
        Seed::default()
            .user("ana")
            .conversation_full("bot-idle", "bot", Some("forever"), &h(30), Some(&h(25)), false)
            .conversation_full("bot-busy", "bot", Some("forever"), &h(30), Some(&h(2)), false)
            .conversation_full("old-group", "group", Some("forever"), &h(24 * 200), Some(&h(24 * 91)), false)
            .conversation_full("recent-group", "group", Some("forever"), &h(24 * 200), Some(&h(24 * 89)), false)
            .load(&db)
            .await;
        let before = preview(&db, &settings(), &clock).await;
        let report = run(&db, &settings(), &clock).await;
        assert_eq!(report.archived.bot_sessions_closed, 1, "{e}");
        assert_eq!(report.archived.inactive_conversations, 1, "{e}");
        assert_eq!(before.archived, report.archived, "{e}: as previewed");
        let mut archived: Vec<String> =
            fetch!(&db, (String,), "SELECT external_id FROM conversations WHERE archived_at IS NOT NULL")
                .into_iter()
                .map(|r| r.0)
                .collect();
        archived.sort();
        assert_eq!(archived, ["bot-idle", "old-group"], "{e}");
    }
}

#[tokio::test]
async fn upcoming_deletions_are_listed_by_date_on_both_engines() {
    for db in engines("upcoming").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        let report = preview(&db, &settings(), &clock).await;
        let day = report.upcoming.days.iter().find(|d| d.date.to_string() == "2026-11-27").unwrap();
        assert_eq!((day.messages, day.purged_from.to_string().as_str()), (1, "2026-12-04"), "{e}");
        assert_eq!(report.upcoming.next_7_days, 1, "{e}");

        // Announced when they are within notice_days.
        let events = CollectEvents::default();
        let notice = RetentionSettings { notice_days: 4, ..settings() };
        let retention = Retention { store: db.store(), settings: &notice, tz: Tz::UTC, clock: &clock };
        retention.run(Actor::Scheduler, hooks(&events, &Cancel::new())).await.unwrap();
        let events = events.take();
        assert!(events.iter().any(|ev| matches!(ev, Event::DeletionNotice { messages: 1, .. })), "{e}: {events:?}");
        assert!(events.iter().any(|ev| matches!(ev, Event::RetentionFinished { cancelled: false, .. })), "{e}");
    }
}

/// A year of mixed data with fixed ids, made from a seed: every policy, readers and
/// bots, replies, a flagged conversation and holds.
async fn mixed_data(db: &AnyDb) {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let until = at(2026, 11, 22, 0, 0, 0);
    let instant = |minutes: u64| chatkeep_core::time::to_db(until - Duration::minutes(minutes as i64));
    let policies = [None, Some("30d"), Some("7d"), Some("instant"), Some("forever"), Some("90d"), None, Some("3d")];
    let mut sql = Vec::new();
    let users: Vec<String> = (1..=9).map(|u| format!("({u}, 'u{u}', '2020-01-01T00:00:00.000Z')")).collect();
    sql.push(format!("INSERT INTO users (id, external_id, created_at) VALUES {}", users.join(", ")));
    let mut conversations = Vec::new();
    let mut participants = Vec::new();
    let mut members: Vec<Vec<u64>> = Vec::new();
    let mut created: Vec<u64> = Vec::new();
    for c in 1..=90u64 {
        let age = next(365 * 24 * 60);
        let policy = policies[(c as usize) % policies.len()];
        let kind = if c % 11 == 0 { "bot" } else { "group" };
        conversations.push(format!(
            "({c}, 'c{c}', {}, {}, {}, {})",
            q(kind),
            opt(policy),
            if c == 13 { "true" } else { "false" },
            q(&instant(age))
        ));
        let mut who: Vec<u64> = (1..=8).filter(|_| next(3) == 0).collect();
        if who.is_empty() {
            who.push(1 + next(8));
        }
        for u in &who {
            participants.push(format!("({c}, {u}, 'member', '2020-01-01T00:00:00.000Z')"));
        }
        if kind == "bot" {
            participants.push(format!("({c}, 9, 'bot', '2020-01-01T00:00:00.000Z')"));
        }
        members.push(who);
        created.push(age);
    }
    sql.push(format!(
        "INSERT INTO conversations (id, external_id, kind, retention_policy, legal_hold, created_at) VALUES {}",
        conversations.join(", ")
    ));
    sql.push(format!(
        "INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES {}",
        participants.join(", ")
    ));
    let mut per_conversation: Vec<Vec<u64>> = vec![Vec::new(); 90];
    let mut rows = Vec::new();
    let mut reads = Vec::new();
    for m in 1..=3_000u64 {
        let c = 1 + next(90);
        let index = (c - 1) as usize;
        let age = next(created[index] + 1);
        let who = &members[index];
        let sender = who[next(who.len() as u64) as usize];
        let reply = match per_conversation[index].last() {
            Some(previous) if next(5) == 0 => previous.to_string(),
            _ => "NULL".to_string(),
        };
        rows.push(format!("({m}, 'm{m}', {c}, {sender}, 'user', 'body {m}', {reply}, {})", q(&instant(age))));
        per_conversation[index].push(m);
        for reader in who.iter().filter(|u| **u != sender) {
            if next(10) < 7 {
                reads.push(format!("({m}, {reader}, {})", q(&instant(age.saturating_sub(30)))));
            }
        }
    }
    for chunk in rows.chunks(500) {
        sql.push(format!(
            "INSERT INTO messages (id, external_id, conversation_id, sender_id, role, body, reply_to_id, created_at) VALUES {}",
            chunk.join(", ")
        ));
    }
    for chunk in reads.chunks(500) {
        sql.push(format!("INSERT INTO message_reads (message_id, user_id, read_at) VALUES {}", chunk.join(", ")));
    }
    if matches!(db, AnyDb::Postgres(..)) {
        for table in ["users", "conversations", "messages"] {
            sql.push(format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"));
        }
    }
    exec(db, &sql.join(";\n")).await;
    Seed::default().load(db).await;
    hold(db, "user", "u3", "case 7", "2026-11-01T00:00:00.000Z").await;
    hold(db, "conversation", "c21", "case 8", "2026-11-01T00:00:00.000Z").await;
}

#[tokio::test]
async fn preview_equals_the_run_and_both_engines_agree_step_by_step() {
    let mut by_engine: Vec<(&str, Vec<RetentionReport>)> = Vec::new();
    for db in engines("preview_equals_run").await {
        let e = engine(&db);
        mixed_data(&db).await;
        let clock = clock();
        let small_batches = RetentionSettings { batch_size: 37, ..settings() };
        let mut reports = Vec::new();
        for step in 0..4 {
            let preview = preview(&db, &small_batches, &clock).await;
            let mut report = run(&db, &small_batches, &clock).await;
            assert_eq!(report.mode, ReportMode::Run);
            report.mode = ReportMode::Preview;
            report.expires_at_updated = 0;
            report.stage_ms.clear();
            assert_eq!(preview, report, "{e} step {step}: the run did exactly what its preview said");
            reports.push(report);
            clock.advance(Duration::days(5));
        }
        let purged: u64 = reports.iter().map(|r| r.purged.messages).sum();
        let conversations: u64 = reports.iter().map(|r| r.purged.conversations).sum();
        assert!(reports[0].expired.messages > 1_000, "{e}: plenty is past its policy");
        assert!(
            purged > 1_000 && conversations > 0,
            "{e}: and later purged ({purged} messages, {conversations} conversations)"
        );
        assert!(reports[0].blocked.held_messages > 0, "{e}: holds keep some");
        no_orphans(&db).await;
        by_engine.push((e, reports));
    }
    if let [(_, sqlite), (_, postgres)] = by_engine.as_slice() {
        for (step, (a, b)) in sqlite.iter().zip(postgres).enumerate() {
            assert_eq!(a, b, "step {step}: PostgreSQL did exactly what SQLite did");
        }
    }
}

// ---- table rules ----

async fn sessions_table(db: &AnyDb, clock: &FixedClock) {
    let mut sql = vec![
        "CREATE TABLE app_sessions (id INTEGER PRIMARY KEY, token TEXT, email TEXT, ip TEXT,
                                    created_at TEXT NOT NULL, seen_unix INTEGER, expired_at TEXT)"
            .to_string(),
    ];
    for (n, days) in [(1, 400), (2, 200), (3, 10)] {
        let then = clock.now() - Duration::days(days);
        sql.push(format!(
            "INSERT INTO app_sessions VALUES ({n}, 'token-{n}', {}, '10.0.0.1', {}, {}, NULL)",
            q(if n == 3 { "ana@example.com" } else { "ben@example.com" }),
            q(&chatkeep_core::time::to_db(then)),
            then.timestamp()
        ));
    }
    exec(db, &sql.join(";\n")).await;
}

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

/// (id, email, ip, expired_at is set)
type SessionRow = (i64, Option<String>, Option<String>, bool);

async fn sessions(db: &AnyDb) -> Vec<SessionRow> {
    fetch!(db, SessionRow, "SELECT CAST(id AS BIGINT), email, ip, expired_at IS NOT NULL FROM app_sessions ORDER BY id")
}

#[tokio::test]
async fn table_rules_soft_hard_and_anonymize_on_both_engines() {
    let strategies =
        [(RuleStrategy::Soft, vec![]), (RuleStrategy::Hard, vec![]), (RuleStrategy::Anonymize, vec!["email", "ip"])];
    for (strategy, columns) in strategies {
        for db in engines(&format!("rules_{strategy}")).await {
            let e = format!("{} {strategy}", engine(&db));
            let clock = clock();
            sessions_table(&db, &clock).await;
            let stored =
                add_rule(db.store(), rule("app_sessions", "created_at", 180, strategy, &columns), Actor::Cli, &clock)
                    .await
                    .unwrap();
            assert!(stored.id.is_some(), "{e}");
            let preview = preview(&db, &settings(), &clock).await;
            let report = run(&db, &settings(), &clock).await;
            assert_eq!(preview.rules[0].rows, 2, "{e}: two sessions are older than 180 days");
            assert_eq!(report.rules, preview.rules, "{e}: the run did what the preview said");
            let rows = sessions(&db).await;
            match strategy {
                RuleStrategy::Soft => {
                    assert_eq!(rows.iter().map(|r| r.3).collect::<Vec<_>>(), [true, true, false], "{e}: {rows:?}")
                }
                RuleStrategy::Hard => assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [3], "{e}"),
                RuleStrategy::Anonymize => {
                    let (a, b) = (rows[0].1.clone().unwrap(), rows[1].1.clone().unwrap());
                    assert!(a.starts_with("anon-") && a != "ben@example.com", "{e}: {rows:?}");
                    assert_eq!(a, b, "{e}: the same email gets the same pseudonym");
                    assert_ne!(rows[0].2.as_deref(), Some("10.0.0.1"), "{e}");
                    assert_eq!(rows[2].1.as_deref(), Some("ana@example.com"), "{e}: young rows are untouched");
                    let again = run(&db, &settings(), &clock).await;
                    assert_eq!(again.rules[0].rows, 0, "{e}: pseudonyms are not anonymized twice");
                }
            }
        }
    }
}

#[tokio::test]
async fn rules_with_unix_seconds_and_from_the_config_file_on_both_engines() {
    for db in engines("rules_unix").await {
        let e = engine(&db);
        let clock = clock();
        sessions_table(&db, &clock).await;
        let from_config = RetentionSettings {
            rules: vec![rule("app_sessions", "seen_unix", 300, RuleStrategy::Hard, &[])],
            batch_size: 1,
            ..settings()
        };
        let report = run(&db, &from_config, &clock).await;
        assert_eq!(report.rules[0].id, None, "{e}");
        assert_eq!(report.rules[0].rows, 1, "{e}: only the 400-day-old session, by its Unix-seconds column");
        assert_eq!(db.count("app_sessions").await, 2, "{e}");
    }
}

#[tokio::test]
async fn text_timestamps_are_read_as_sqlite_reads_them() {
    // The cutoff for 180 days before 2026-11-23 12:00 UTC is 2026-05-27 12:00 UTC.
    let values = [
        ("2026-05-01", true),
        ("2026-05-27 11:59", true),
        ("2026-05-27T12:30:00+01:00", true),
        ("2026-05-27T12:30:00-01:00", false),
        ("2026-05-27T12:00:00.000Z", false),
        ("2026-05-27T11:00:00z", true),
        ("2026-05-27  11:00", true),
        ("2026-05-27 24:00", false),
        ("2026-04-31T00:00:00", true),
        ("2026-02-30", true),
        ("2026-05-27T11:00:00.123456789", true),
        ("2026-05-27t11:00:00Z", false),
        (" 2026-05-01", false),
        ("2026-05-27T11:00:00+0100", false),
        ("2026-13-01", false),
        ("not a date", false),
    ];
    let expected = values.iter().filter(|(_, old)| *old).count() as u64;
    for db in engines("text_timestamps").await {
        let e = engine(&db);
        let clock = clock();
        let mut sql = vec!["CREATE TABLE app_events (id INTEGER PRIMARY KEY, happened TEXT, note TEXT)".to_string()];
        for (n, (text, _)) in values.iter().enumerate() {
            sql.push(format!("INSERT INTO app_events VALUES ({}, {}, 'x')", n + 1, q(text)));
        }
        sql.push("INSERT INTO app_events VALUES (100, NULL, 'x')".to_string());
        exec(&db, &sql.join(";\n")).await;
        let config = RetentionSettings {
            rules: vec![rule("app_events", "happened", 180, RuleStrategy::Hard, &[])],
            ..settings()
        };
        let report = run(&db, &config, &clock).await;
        assert_eq!(report.rules[0].rows, expected, "{e}");
        let mut left: Vec<String> =
            fetch!(&db, (Option<String>,), "SELECT happened FROM app_events").into_iter().filter_map(|r| r.0).collect();
        left.sort();
        let mut young: Vec<String> = values.iter().filter(|(_, old)| !old).map(|(t, _)| t.to_string()).collect();
        young.sort();
        assert_eq!(left, young, "{e}: exactly the rows SQLite's julianday() calls older than the cutoff went");
    }
}

#[tokio::test]
async fn users_under_a_hold_are_not_anonymized_by_a_rule() {
    for db in engines("rules_users_held").await {
        let e = engine(&db);
        let clock = scene(&db).await;
        exec(&db, "UPDATE users SET email = external_id || '@example.com'").await;
        hold(&db, "user", "ana", "case 9", &ago(&clock, 0)).await;
        let rules = RetentionSettings {
            rules: vec![rule("users", "created_at", 30, RuleStrategy::Anonymize, &["email"])],
            ..settings()
        };
        let report = run(&db, &rules, &clock).await;
        assert_eq!(report.rules[0].rows, 2, "{e}: ben and the bot; ana is under a hold");
        let emails: Vec<(String, Option<String>)> =
            fetch!(&db, (String, Option<String>), "SELECT external_id, email FROM users ORDER BY id");
        assert_eq!(emails[0], ("ana".to_string(), Some("ana@example.com".to_string())), "{e}: held");
        assert!(emails[1].1.as_deref().unwrap().starts_with("anon-"), "{e}: ben is not held: {emails:?}");
    }
}

#[tokio::test]
async fn rules_naming_unknown_or_protected_things_are_refused_by_name_on_both_engines() {
    for db in engines("rules_refused").await {
        let e = engine(&db);
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
            let err = add_rule(db.store(), bad.clone(), Actor::Cli, &clock).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{e} {bad:?}: {err:?}");
            assert!(err.to_string().contains(expected), "{e} {bad:?}: expected {expected:?} in: {err}");
        }
        assert_eq!(db.count("retention_rules").await, 0, "{e}: nothing refused was stored");

        // A second rule for the same column is refused by name, not with a database error.
        let good = rule("app_sessions", "created_at", 30, RuleStrategy::Hard, &[]);
        add_rule(db.store(), good.clone(), Actor::Cli, &clock).await.unwrap();
        let err = add_rule(db.store(), good, Actor::Cli, &clock).await.unwrap_err();
        assert!(err.to_string().contains("already a rule for app_sessions.created_at"), "{e}: {err}");
        let listed = list_rules(db.store(), &[]).await.unwrap();
        assert_eq!((listed.len(), listed[0].problem.as_deref()), (1, None), "{e}");
    }
}

#[tokio::test]
async fn anonymize_rules_may_not_rewrite_keys_on_both_engines() {
    for db in engines("rules_keys").await {
        let e = engine(&db);
        let clock = clock();
        exec(
            &db,
            "CREATE TABLE app_accounts (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, nickname TEXT,
                                        created_at TEXT NOT NULL);
             CREATE TABLE app_orders (id INTEGER PRIMARY KEY, account_login TEXT REFERENCES app_accounts (login),
                                      phone TEXT, created_at TEXT NOT NULL)",
        )
        .await;
        let cases = [
            (rule("users", "created_at", 30, RuleStrategy::Anonymize, &["external_id"]), "external_id is a key"),
            (rule("app_accounts", "created_at", 30, RuleStrategy::Anonymize, &["login"]), "login is a key"),
            (
                rule("app_orders", "created_at", 30, RuleStrategy::Anonymize, &["account_login"]),
                "account_login is a key",
            ),
        ];
        for (bad, expected) in cases {
            let err = add_rule(db.store(), bad.clone(), Actor::Cli, &clock).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{e} {bad:?}: expected {expected:?} in: {err}");
        }
        assert_eq!(db.count("retention_rules").await, 0, "{e}: nothing refused was stored");
        // Columns that only describe a row are fine.
        for good in [
            rule("users", "created_at", 30, RuleStrategy::Anonymize, &["email", "display_name"]),
            rule("app_accounts", "created_at", 30, RuleStrategy::Anonymize, &["nickname"]),
            rule("app_orders", "created_at", 30, RuleStrategy::Anonymize, &["phone"]),
        ] {
            add_rule(db.store(), good, Actor::Cli, &clock).await.unwrap();
        }
        // A rule from the config file that names a key is refused by the first run that would use it.
        let settings = RetentionSettings {
            rules: vec![rule("users", "created_at", 30, RuleStrategy::Anonymize, &["external_id"])],
            ..settings()
        };
        let listed = list_rules(db.store(), &settings.rules).await.unwrap();
        let from_file = listed.iter().find(|l| l.rule.id.is_none()).unwrap();
        assert!(from_file.problem.as_deref().unwrap_or_default().contains("external_id is a key"), "{e}: {listed:?}");
    }
}

#[tokio::test]
async fn rules_need_a_key_to_address_rows_and_say_which_table_lacks_one() {
    for db in engines("rules_without_key").await {
        let e = engine(&db);
        let clock = clock();
        let (ddl, cases): (&str, Vec<(&str, &str)>) = match &db {
            AnyDb::Sqlite(_) => (
                "CREATE TABLE app_tokens (token TEXT PRIMARY KEY, created_at TEXT) WITHOUT ROWID",
                vec![("app_tokens", "table app_tokens is WITHOUT ROWID")],
            ),
            AnyDb::Postgres(..) => (
                "CREATE TABLE app_log (line text, created_at timestamptz);
                 CREATE TABLE app_pairs (a bigint, b bigint, created_at timestamptz, PRIMARY KEY (a, b));
                 CREATE TABLE app_tokens (token uuid PRIMARY KEY, created_at timestamptz)",
                vec![
                    ("app_log", "table app_log has no primary key"),
                    ("app_pairs", "table app_pairs has a primary key of 2 columns (a, b)"),
                    ("app_tokens", "table app_tokens has the primary key token, of type uuid"),
                ],
            ),
        };
        exec(&db, ddl).await;
        for (table, expected) in cases {
            let err = add_rule(db.store(), rule(table, "created_at", 30, RuleStrategy::Hard, &[]), Actor::Cli, &clock)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{e}: {err:?}");
            assert!(err.to_string().contains(expected), "{e}: expected {expected:?} in: {err}");
        }
        // From the config file, such a rule is reported and skipped; message retention goes on.
        let config = RetentionSettings {
            rules: vec![rule("app_tokens", "created_at", 30, RuleStrategy::Hard, &[])],
            ..settings()
        };
        let report = run(&db, &config, &clock).await;
        assert!(report.rules.is_empty() && report.problems.iter().any(|p| p.contains("app_tokens")), "{e}: {report:?}");
    }
}

/// (id, then whether each soft marker is set, then the two anonymized columns)
type VisitRow = (i64, bool, bool, bool, bool, Option<String>, Option<String>);

#[tokio::test]
async fn rules_on_postgres_compare_each_column_type_as_an_instant() {
    let Some(db) = AnyDb::postgres("rules_column_types").await else { return };
    let clock = clock();
    exec(
        &db,
        "CREATE TABLE app_visits (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             at_zoned timestamptz NOT NULL,
             at_naive timestamp NOT NULL,
             on_day date NOT NULL,
             at_unix double precision NOT NULL,
             email varchar(200),
             deleted_at timestamptz,
             gone_on date,
             gone_unix bigint,
             gone text,
             \"Odd \"\"Name\"\"\" text
         );
         INSERT INTO app_visits (at_zoned, at_naive, on_day, at_unix, email, \"Odd \"\"Name\"\"\")
         SELECT now_ - d * interval '1 day', (now_ - d * interval '1 day') AT TIME ZONE 'UTC',
                ((now_ - d * interval '1 day') AT TIME ZONE 'UTC')::date,
                extract(epoch FROM now_ - d * interval '1 day'), 'v' || d || '@example.com', 'odd ' || d
         FROM (VALUES (400), (200), (31), (29), (10)) AS v(d),
              (SELECT timestamptz '2026-11-23 12:00:00+00' AS now_) AS n",
    )
    .await;
    // Thirty days before now: 400, 200 and 31 days old are past it, 29 and 10 are not.
    for (column, strategy, columns) in [
        ("at_zoned", RuleStrategy::Soft, vec!["deleted_at"]),
        ("at_naive", RuleStrategy::Soft, vec!["gone_on"]),
        ("on_day", RuleStrategy::Soft, vec!["gone_unix"]),
        ("at_unix", RuleStrategy::Soft, vec!["gone"]),
        ("at_zoned", RuleStrategy::Anonymize, vec!["email", "Odd \"Name\""]),
    ] {
        let settings =
            RetentionSettings { rules: vec![rule("app_visits", column, 30, strategy, &columns)], ..settings() };
        let preview = preview(&db, &settings, &clock).await;
        assert_eq!(preview.rules.len(), 1, "{column}: {:?}", preview.problems);
        assert_eq!(preview.rules[0].rows, 3, "{column} -> {columns:?}: three visits are older than 30 days");
        let report = run(&db, &settings, &clock).await;
        assert_eq!(report.rules, preview.rules, "{column} -> {columns:?}");
    }
    let marked: Vec<VisitRow> = fetch!(
        &db,
        VisitRow,
        "SELECT id, deleted_at IS NOT NULL, gone_on IS NOT NULL, gone_unix IS NOT NULL, gone IS NOT NULL, email,
                \"Odd \"\"Name\"\"\"
         FROM app_visits ORDER BY id"
    );
    for (n, row) in marked.iter().enumerate() {
        let old = n < 3;
        assert_eq!((row.1, row.2, row.3, row.4), (old, old, old, old), "visit {n}: every marker agrees: {row:?}");
        let email = row.5.as_deref().unwrap();
        let odd = row.6.as_deref().unwrap();
        assert_eq!(email.starts_with("anon-") && odd.starts_with("anon-"), old, "visit {n}: {row:?}");
    }
    let stamps: Vec<(String, i64)> = fetch!(
        &db,
        (String, i64),
        "SELECT ck_ts(deleted_at), gone_unix FROM app_visits WHERE deleted_at IS NOT NULL LIMIT 1"
    );
    assert_eq!(stamps[0].0, "2026-11-23T12:00:00.000Z", "soft marks with the run's instant");
    assert_eq!(stamps[0].1, clock.now().timestamp(), "a numeric marker gets Unix seconds");
}

#[tokio::test]
async fn rules_are_stored_listed_and_removed_on_both_engines() {
    for db in engines("rules_stored").await {
        let e = engine(&db);
        let clock = clock();
        sessions_table(&db, &clock).await;
        let stored = add_rule(
            db.store(),
            rule("app_sessions", "created_at", 30, RuleStrategy::Anonymize, &["email", "ip"]),
            Actor::Cli,
            &clock,
        )
        .await
        .unwrap();
        let listed = list_rules(db.store(), &[]).await.unwrap();
        assert_eq!(listed[0].rule, stored, "{e}: read back as written");
        let removed = chatkeep_core::ops::retention::remove_rule(db.store(), stored.id.unwrap(), Actor::Cli, &clock)
            .await
            .unwrap();
        assert_eq!(removed, stored, "{e}");
        assert!(list_rules(db.store(), &[]).await.unwrap().is_empty(), "{e}");
        let err = chatkeep_core::ops::retention::remove_rule(db.store(), 99, Actor::Cli, &clock).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{e}: {err:?}");
    }
}

#[tokio::test]
async fn preview_equals_the_run_on_demo_data_on_both_engines() {
    for db in engines("preview_demo").await {
        let e = engine(&db);
        let clock = clock();
        let options =
            SeedOptions { conversations: 400, messages: 6_000, months: 12, seed: 7, until: at(2026, 11, 23, 0, 0, 0) };
        seed_demo(db.store(), &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
        let small_batches = RetentionSettings { batch_size: 37, ..settings() };

        for step in 0..3 {
            let preview = preview(&db, &small_batches, &clock).await;
            let mut report = run(&db, &small_batches, &clock).await;
            assert_eq!(report.mode, ReportMode::Run, "{e}");
            report.mode = ReportMode::Preview;
            report.expires_at_updated = 0;
            assert!(report.stage_ms.contains_key("purge_messages"), "{e}: a run reports how long each stage took");
            report.stage_ms.clear();
            assert_eq!(preview, report, "{e}: step {step}: the run did exactly what its preview said");
            clock.advance(Duration::days(5));
            if step == 0 {
                assert!(preview.expired.messages > 1_000, "{e}: a year of demo data has plenty past 180 days");
            }
        }
        no_orphans(&db).await;
    }
}

// ---- what only SQLite has ----

#[tokio::test]
async fn a_purge_leaves_no_earlier_copy_of_purged_rows_in_the_write_ahead_log() {
    let db = AnyDb::sqlite().await;
    let AnyDb::Sqlite(file) = &db else { unreachable!("a SQLite database") };
    let clock = scene(&db).await;
    let settings = settings();
    run(&db, &settings, &clock).await;
    let wal_path = format!("{}-wal", file.path.display());
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
