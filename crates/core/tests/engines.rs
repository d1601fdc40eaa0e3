//! Import, demo data, statistics, settings, the audit log, legal holds and the erasure ledger
//! tell the same story on SQLite and on PostgreSQL: each scenario runs on both engines and
//! what a user would see is compared between them.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::audit::{self, AuditEntry};
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::chat::{Conversation, ConversationKind, Message, MessageKind, MessageRole, User};
use chatkeep_core::domain::gdpr::{BodyMode, ErasureStrategy};
use chatkeep_core::domain::hold::HoldTarget;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::hold::{list_holds, place_hold, release_hold};
use chatkeep_core::ops::import::{ImportReport, import_jsonl};
use chatkeep_core::ops::stats::storage_stats;
use chatkeep_core::store::erasure::LedgerEntry;
use chatkeep_core::store::sqlx;
use chatkeep_core::store::{AuditFilter, ChatBatch, Entity};
use chatkeep_core::{FixedClock, Result};
use chrono_tz::Tz;
use common::{AnyDb, at, clock, engine, engines};

/// One text from a raw connection, asked in each engine's own SQL.
async fn text(db: &AnyDb, sqlite: &str, postgres: &str) -> Option<String> {
    match db {
        AnyDb::Sqlite(t) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sqlite)).fetch_one(&mut t.raw().await).await.unwrap()
        }
        AnyDb::Postgres(p, _) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(postgres)).fetch_one(&mut p.raw().await).await.unwrap()
        }
    }
}

/// A statement run from outside chatkeep, as a tamperer (or another program) would.
async fn execute(db: &AnyDb, sql: &str) {
    let rows = match db {
        AnyDb::Sqlite(t) => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut t.raw().await).await.unwrap().rows_affected()
        }
        AnyDb::Postgres(p, _) => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut p.raw().await).await.unwrap().rows_affected()
        }
    };
    assert!(rows > 0, "{sql} should change something");
}

/// Every row of the chat tables with its ids, one text per table, for comparing engines.
async fn dump(db: &AnyDb) -> Vec<String> {
    let sqlite = [
        "SELECT group_concat(id || '|' || external_id || '|' || coalesce(display_name,'~') || '|' || coalesce(email,'~') || '|' || coalesce(phone,'~') || '|' || created_at || '|' || coalesce(last_seen_at,'~'), ';') FROM (SELECT * FROM users ORDER BY id)",
        "SELECT group_concat(id || '|' || external_id || '|' || coalesce(title,'~') || '|' || kind || '|' || coalesce(owner_id,'~') || '|' || coalesce(retention_policy,'~') || '|' || legal_hold || '|' || created_at || '|' || coalesce(last_activity_at,'~') || '|' || coalesce(archived_at,'~'), ';') FROM (SELECT * FROM conversations ORDER BY id)",
        "SELECT group_concat(conversation_id || '|' || user_id || '|' || role || '|' || joined_at, ';') FROM (SELECT * FROM participants ORDER BY 1, 2)",
        "SELECT group_concat(id || '|' || external_id || '|' || conversation_id || '|' || coalesce(sender_id,'~') || '|' || role || '|' || kind || '|' || coalesce(body,'~') || '|' || tokens_used || '|' || coalesce(reply_to_id,'~') || '|' || pinned || '|' || created_at, ';') FROM (SELECT * FROM messages ORDER BY id)",
        "SELECT group_concat(message_id || '|' || user_id || '|' || read_at, ';') FROM (SELECT * FROM message_reads ORDER BY 1, 2)",
    ];
    let postgres = [
        "SELECT string_agg(id || '|' || external_id || '|' || coalesce(display_name,'~') || '|' || coalesce(email,'~') || '|' || coalesce(phone,'~') || '|' || ck_ts(created_at) || '|' || coalesce(ck_ts(last_seen_at),'~'), ';' ORDER BY id) FROM users",
        "SELECT string_agg(id || '|' || external_id || '|' || coalesce(title,'~') || '|' || kind || '|' || coalesce(owner_id::text,'~') || '|' || coalesce(retention_policy,'~') || '|' || legal_hold::int || '|' || ck_ts(created_at) || '|' || coalesce(ck_ts(last_activity_at),'~') || '|' || coalesce(ck_ts(archived_at),'~'), ';' ORDER BY id) FROM conversations",
        "SELECT string_agg(conversation_id || '|' || user_id || '|' || role || '|' || ck_ts(joined_at), ';' ORDER BY conversation_id, user_id) FROM participants",
        "SELECT string_agg(id || '|' || external_id || '|' || conversation_id || '|' || coalesce(sender_id::text,'~') || '|' || role || '|' || kind || '|' || coalesce(body,'~') || '|' || tokens_used || '|' || coalesce(reply_to_id::text,'~') || '|' || pinned::int || '|' || ck_ts(created_at), ';' ORDER BY id) FROM messages",
        "SELECT string_agg(message_id || '|' || user_id || '|' || ck_ts(read_at), ';' ORDER BY message_id, user_id) FROM message_reads",
    ];
    let mut out = Vec::new();
    for (s, p) in sqlite.iter().zip(postgres) {
        out.push(text(db, s, p).await.unwrap_or_default());
    }
    out
}

/// Conversation contexts as JSON values (PostgreSQL keeps them as jsonb, in its own key order).
async fn contexts(db: &AnyDb) -> Vec<serde_json::Value> {
    let all = text(
        db,
        "SELECT json_group_array(json(coalesce(context, 'null'))) FROM (SELECT context FROM conversations ORDER BY id)",
        "SELECT coalesce(json_agg(context ORDER BY id), '[]')::text FROM conversations",
    )
    .await
    .unwrap();
    serde_json::from_str(&all).unwrap()
}

/// Asserts that every engine gave the same answer, naming the first that differs.
fn assert_same<T: PartialEq + std::fmt::Debug>(what: &str, answers: &[(&'static str, T)]) {
    let Some((first_engine, first)) = answers.first() else { return };
    for (other_engine, other) in &answers[1..] {
        assert_eq!(first, other, "{what}: {first_engine} and {other_engine} should agree");
    }
}

// --- import ---------------------------------------------------------------------------

/// A file with every record type and tricky text: quotes, newlines, tabs, backslashes, scripts, emoji.
fn sample_lines() -> Vec<String> {
    let mut lines = vec![
        r#"{"type":"user","id":"u-ana","display_name":"Ana Núñez","email":"ana@example.com","phone":"+34 600 000 000","created_at":"2026-01-01T08:00:00Z","last_seen_at":"2026-03-01T10:00:00+01:00"}"#.to_string(),
        r#"{"type":"user","id":"u-olga","display_name":"Ольга","created_at":"2026-01-02T08:00:00Z"}"#.to_string(),
        r#"{"type":"user","id":"u-bot","display_name":"Helpdesk bot","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"c-1","title":"Billing, \"urgent\"","kind":"group","owner":"u-ana","context":{"locale":"es-ES","tags":["a","b"]},"retention_policy":"30d","created_at":"2026-02-01T09:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"c-2","kind":"bot","retention_policy":"instant","legal_hold":true,"created_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-1","user":"u-ana","role":"owner","joined_at":"2026-02-01T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-1","user":"u-olga","joined_at":"2026-02-01T09:05:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-2","user":"u-ana","joined_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-2","user":"u-bot","role":"bot","joined_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-1","conversation":"c-1","sender":"u-ana","role":"user","body":"Hola, \"factura\", línea 1\nlínea 2\ttab \\ back","tokens_used":7,"created_at":"2026-02-01T09:10:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-2","conversation":"c-1","sender":"u-olga","role":"user","body":"Здравствуйте 👋 谢谢 مرحبا","reply_to":"m-1","pinned":true,"created_at":"2026-02-01T09:11:00.123Z"}"#.to_string(),
        r#"{"type":"message","id":"m-3","conversation":"c-2","sender":"u-bot","role":"assistant","kind":"text","body":"I can help.","tokens_used":120,"created_at":"2026-02-02T09:01:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-4","conversation":"c-2","role":"system","kind":"system","created_at":"2026-02-02T09:02:00Z"}"#.to_string(),
        r#"{"type":"read","message":"m-1","user":"u-olga","read_at":"2026-02-01T09:12:00Z"}"#.to_string(),
        r#"{"type":"read","message":"m-3","user":"u-ana","read_at":"2026-02-02T09:03:00Z"}"#.to_string(),
    ];
    for n in 5..=30 {
        lines.push(format!(
            r#"{{"type":"message","id":"m-{n}","conversation":"c-1","sender":"u-ana","role":"user","body":"note {n}","created_at":"2026-02-03T10:{n:02}:00Z"}}"#
        ));
    }
    lines
}

fn write_file(dir: &std::path::Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

async fn import(db: &AnyDb, path: &std::path::Path) -> Result<ImportReport> {
    import_jsonl(db.store(), path, Actor::Cli, &clock(), &NoProgress).await
}

#[tokio::test]
async fn an_import_and_its_repeats_land_the_same_rows_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "chat.jsonl", &sample_lines());
    let mut changed_lines = sample_lines();
    changed_lines[9] = changed_lines[9].replace("línea 2", "línea dos");
    let changed = write_file(dir.path(), "changed.jsonl", &changed_lines);
    let without_hold: Vec<String> = sample_lines().iter().map(|l| l.replace(",\"legal_hold\":true", "")).collect();
    let without_hold = write_file(dir.path(), "no-hold.jsonl", &without_hold);

    let mut dumps = Vec::new();
    let mut context_values = Vec::new();
    for db in engines("import_repeats").await {
        let e = engine(&db);
        let first = import(&db, &path).await.unwrap();
        assert_eq!(first.records, 41, "{e}");
        assert_eq!((first.users.inserted, first.conversations.inserted), (3, 2), "{e}");
        assert_eq!((first.participants.inserted, first.messages.inserted, first.reads.inserted), (4, 30, 2), "{e}");

        let again = import(&db, &path).await.unwrap();
        assert_eq!(again.messages.unchanged, 30, "{e}: a repeated import changes no message: {again:?}");
        assert_eq!(
            again.users.unchanged
                + again.conversations.unchanged
                + again.participants.unchanged
                + again.reads.unchanged,
            3 + 2 + 4 + 2,
            "{e}: nor anything else: {again:?}"
        );
        assert_eq!(db.count("messages").await, 30, "{e}");

        let report = import(&db, &changed).await.unwrap();
        assert_eq!((report.messages.updated, report.messages.inserted), (1, 0), "{e}: a changed body is an update");

        import(&db, &without_hold).await.unwrap();
        let hold = text(
            &db,
            "SELECT CAST(legal_hold AS TEXT) FROM conversations WHERE external_id = 'c-2'",
            "SELECT legal_hold::int::text FROM conversations WHERE external_id = 'c-2'",
        )
        .await;
        assert_eq!(hold.as_deref(), Some("1"), "{e}: an import never lifts a legal hold");

        let last_activity = text(
            &db,
            "SELECT last_activity_at FROM conversations WHERE external_id = 'c-1'",
            "SELECT ck_ts(last_activity_at) FROM conversations WHERE external_id = 'c-1'",
        )
        .await;
        assert_eq!(last_activity.as_deref(), Some("2026-02-03T10:30:00.000Z"), "{e}: follows the newest message");

        // A dangling reference rolls the whole import back.
        let mut dangling = sample_lines();
        dangling.insert(0, r#"{"type":"user","id":"u-new","created_at":"2026-01-01T00:00:00Z"}"#.into());
        dangling[21] = dangling[21].replace("\"c-1\"", "\"c-404\"");
        let dangling = write_file(dir.path(), &format!("dangling-{e}.jsonl"), &dangling);
        let message = import(&db, &dangling).await.unwrap_err().to_string();
        assert!(message.contains("line 22") && message.contains("c-404"), "{e}: {message}");
        assert_eq!(db.store().find_id(Entity::User, "u-new").await.unwrap(), None, "{e}: nothing was written");

        let audit = audit::verify(db.store()).await.unwrap();
        assert!(audit.is_intact() && audit.rows_checked == 4, "{e}: four imports audited: {audit:?}");
        dumps.push((e, dump(&db).await));
        context_values.push((e, contexts(&db).await));
    }
    assert_same("the imported rows", &dumps);
    assert_same("the conversation contexts", &context_values);
}

#[tokio::test]
async fn tricky_text_survives_a_bulk_insert_unchanged() {
    let created_at = at(2026, 3, 1, 9, 30, 0);
    let bodies = [
        Some("back\\slash \\N and \\\\N".to_string()),
        Some("tab\there\r\nand CRLF".to_string()),
        Some(String::new()),
        None,
        Some("Ünïcödé 👋 \u{7f} end".to_string()),
    ];
    let batch = ChatBatch {
        users: vec![User {
            id: 10,
            external_id: "u\t1".into(),
            display_name: Some("\\N".into()),
            email: None,
            phone: Some(String::new()),
            created_at,
            last_seen_at: None,
        }],
        conversations: vec![Conversation {
            id: 20,
            external_id: "c\\1".into(),
            title: Some("line\nbreak".into()),
            kind: ConversationKind::Channel,
            owner_id: Some(10),
            context: Some(r#"{"path":"C:\\temp","q":"\"x\""}"#.into()),
            retention_policy: None,
            legal_hold: true,
            created_at,
            last_activity_at: Some(created_at),
            archived_at: None,
        }],
        participants: vec![],
        messages: bodies
            .iter()
            .enumerate()
            .map(|(n, body)| Message {
                id: 30 + n as i64,
                external_id: format!("m-{n}"),
                conversation_id: 20,
                sender_id: if n % 2 == 0 { Some(10) } else { None },
                role: MessageRole::User,
                kind: MessageKind::Text,
                body: body.clone(),
                tokens_used: n as i64 * 1_000_000_007,
                reply_to_id: if n > 0 { Some(30) } else { None },
                pinned: n == 1,
                created_at,
            })
            .collect(),
        reads: vec![],
    };
    let mut dumps = Vec::new();
    for db in engines("tricky_bulk").await {
        let mut tx = db.store().begin().await.unwrap();
        tx.insert_batch(&batch).await.unwrap();
        tx.commit().await.unwrap();
        let e = engine(&db);
        let body =
            text(&db, "SELECT body FROM messages WHERE id = 30", "SELECT body FROM messages WHERE id = 30").await;
        assert_eq!(body, bodies[0], "{e}");
        let body =
            text(&db, "SELECT body FROM messages WHERE id = 31", "SELECT body FROM messages WHERE id = 31").await;
        assert_eq!(body, bodies[1], "{e}");
        let empty =
            text(&db, "SELECT body FROM messages WHERE id = 32", "SELECT body FROM messages WHERE id = 32").await;
        assert_eq!(empty.as_deref(), Some(""), "{e}: an empty body is not NULL");
        let null =
            text(&db, "SELECT body FROM messages WHERE id = 33", "SELECT body FROM messages WHERE id = 33").await;
        assert_eq!(null, None, "{e}: a missing body stays NULL");
        dumps.push((e, dump(&db).await));
        let context = contexts(&db).await;
        assert_eq!(context, vec![serde_json::json!({"path": "C:\\temp", "q": "\"x\""})], "{e}");
    }
    assert_same("the rows written in bulk", &dumps);
}

// --- demo data --------------------------------------------------------------------------

fn demo_options() -> SeedOptions {
    SeedOptions { conversations: 60, messages: 900, months: 4, seed: 11, until: at(2026, 11, 20, 18, 0, 0) }
}

#[tokio::test]
async fn demo_data_is_identical_on_both_engines_and_new_rows_are_numbered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let newcomer = write_file(
        dir.path(),
        "newcomer.jsonl",
        &[
            r#"{"type":"user","id":"u-newcomer","created_at":"2026-11-21T00:00:00Z"}"#.to_string(),
            r#"{"type":"conversation","id":"c-newcomer","kind":"direct","created_at":"2026-11-21T00:00:00Z"}"#.to_string(),
            r#"{"type":"message","id":"m-newcomer","conversation":"c-newcomer","sender":"u-newcomer","role":"user","body":"hi","created_at":"2026-11-21T00:00:01Z"}"#.to_string(),
        ],
    );
    let mut reports = Vec::new();
    let mut dumps = Vec::new();
    let mut new_ids = Vec::new();
    for db in engines("demo_numbering").await {
        let e = engine(&db);
        let report = seed_demo(db.store(), &demo_options(), Actor::Cli, &clock(), &NoProgress).await.unwrap();
        assert_eq!(report.messages, 900, "{e}");
        assert_eq!(report.conversations, 60, "{e}");
        for (table, expected) in [
            ("users", report.users),
            ("conversations", report.conversations),
            ("participants", report.participants),
            ("messages", report.messages),
            ("message_reads", report.reads),
        ] {
            assert_eq!(db.count(table).await, expected as i64, "{e}: {table} holds what the report says");
        }
        let again = seed_demo(db.store(), &demo_options(), Actor::Cli, &clock(), &NoProgress).await.unwrap();
        assert!(again.already_present && again.conversations == 60, "{e}: a repeated seed writes nothing: {again:?}");

        let max = db.store().max_ids().await.unwrap();
        import(&db, &newcomer).await.expect("an import after demo data gets fresh ids");
        let ids = (
            db.store().find_id(Entity::User, "u-newcomer").await.unwrap().unwrap(),
            db.store().find_id(Entity::Conversation, "c-newcomer").await.unwrap().unwrap(),
            db.store().find_id(Entity::Message, "m-newcomer").await.unwrap().unwrap(),
        );
        assert_eq!(
            ids,
            (max.user + 1, max.conversation + 1, max.message + 1),
            "{e}: numbered right after the demo rows"
        );

        // Another seed adds to what is there, after the imported rows.
        let other = SeedOptions { seed: 12, conversations: 5, messages: 20, ..demo_options() };
        seed_demo(db.store(), &other, Actor::Cli, &clock(), &NoProgress).await.unwrap();
        assert_eq!(db.count("conversations").await, 60 + 1 + 5, "{e}");
        assert!(audit::verify(db.store()).await.unwrap().is_intact(), "{e}");

        reports.push((e, report));
        dumps.push((e, dump(&db).await));
        new_ids.push((e, ids));
    }
    assert_same("the seed report", &reports);
    assert_same("the demo rows", &dumps);
    assert_same("the ids of imported rows", &new_ids);
}

// --- statistics -------------------------------------------------------------------------

#[tokio::test]
async fn statistics_agree_between_engines_for_the_same_data() {
    let mut figures = Vec::new();
    for db in engines("stats_agree").await {
        let e = engine(&db);
        let empty = storage_stats(db.store(), Tz::UTC, &clock()).await.unwrap();
        assert_eq!((empty.messages.total, empty.conversations.total, empty.per_month.len()), (0, 0, 0), "{e}");

        seed_demo(db.store(), &demo_options(), Actor::Cli, &clock(), &NoProgress).await.unwrap();
        // Some rows in retention's hidden stage: statistics leave them out.
        execute(&db, "UPDATE messages SET expired_at = '2026-11-22T00:00:00.000Z' WHERE id % 7 = 0").await;
        execute(&db, "UPDATE conversations SET expired_at = '2026-11-22T00:00:00.000Z' WHERE id % 9 = 0").await;

        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let stats = storage_stats(db.store(), tz, &FixedClock::new(at(2026, 11, 23, 12, 0, 0))).await.unwrap();
        assert_eq!(stats.engine, e);
        assert!(stats.messages.total > 0 && stats.messages.total < 900, "{e}: expired messages are left out");
        assert!(stats.per_month.len() >= 4, "{e}: {:?}", stats.per_month);
        assert!(stats.database.bytes > 0 && stats.database.page_size > 0 && stats.database.pages > 0, "{e}");
        if e == "postgres" {
            assert_eq!((stats.database.free_pages, stats.database.wal_bytes), (0, 0), "no per-database equivalent");
        }
        figures.push((
            e,
            serde_json::json!({
                "conversations": stats.conversations,
                "messages": stats.messages,
                "per_month": stats.per_month,
                "timezone": stats.timezone,
                "generated_at": stats.generated_at,
            }),
        ));
    }
    assert_same("the statistics", &figures);
}

// --- settings ---------------------------------------------------------------------------

#[tokio::test]
async fn settings_are_written_overwritten_and_read_back() {
    for db in engines("settings").await {
        let e = engine(&db);
        assert_eq!(db.store().setting("retention.paused").await.unwrap(), None, "{e}");
        let mut tx = db.store().begin().await.unwrap();
        tx.set_setting("retention.paused", "yes", at(2026, 11, 1, 0, 0, 0)).await.unwrap();
        tx.set_setting("retention.paused", "no, \"really\"", at(2026, 11, 2, 0, 0, 0)).await.unwrap();
        assert_eq!(tx.setting("retention.paused").await.unwrap().as_deref(), Some("no, \"really\""), "{e}");
        tx.commit().await.unwrap();
        assert_eq!(db.store().setting("retention.paused").await.unwrap().as_deref(), Some("no, \"really\""), "{e}");
        let updated = text(
            &db,
            "SELECT updated_at FROM settings WHERE key = 'retention.paused'",
            "SELECT ck_ts(updated_at) FROM settings WHERE key = 'retention.paused'",
        )
        .await;
        assert_eq!(updated.as_deref(), Some("2026-11-02T00:00:00.000Z"), "{e}");
    }
}

// --- audit log --------------------------------------------------------------------------

async fn append_five(db: &AnyDb) {
    for n in 1..=5 {
        let mut tx = db.store().begin().await.unwrap();
        let entry = AuditEntry::new(if n % 2 == 0 { Actor::Scheduler } else { Actor::Cli }, format!("test.step{n}"))
            .target(format!("thing {n}"))
            .details(serde_json::json!({ "note": format!("step, \"{n}\" — ✓ \\ 👋"), "z": 1, "a": [n, null] }))
            .counts(serde_json::json!({ "rows": n * 10 }));
        audit::append(&mut tx, at(2026, 11, n, 9, 0, 0) + chrono::Duration::milliseconds(123), entry).await.unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn the_audit_chain_verifies_and_shows_tampering_on_both_engines() {
    let mut pages = Vec::new();
    let mut listed = Vec::new();
    for db in engines("audit_chain").await {
        let e = engine(&db);
        assert!(audit::verify(db.store()).await.unwrap().is_intact(), "{e}: an empty log verifies");
        append_five(&db).await;
        let report = audit::verify(db.store()).await.unwrap();
        assert!(report.is_intact() && report.rows_checked == 5, "{e}: {report:?}");
        let rows = db.store().audit_page(0, 100).await.unwrap();
        assert_eq!(rows[0].at, "2026-11-01T09:00:00.123Z", "{e}: instants read back in chatkeep's text");
        pages.push((e, rows));

        let filter = AuditFilter { since: Some(at(2026, 11, 2, 0, 0, 0)), action: Some("test".into()), limit: Some(2) };
        let ids: Vec<i64> = audit::list(db.store(), &filter).await.unwrap().iter().map(|r| r.id).collect();
        let exact = AuditFilter { action: Some("test.step3".into()), ..AuditFilter::default() };
        let exact: Vec<i64> = audit::list(db.store(), &exact).await.unwrap().iter().map(|r| r.id).collect();
        let all = audit::list(db.store(), &AuditFilter::default()).await.unwrap().len();
        listed.push((e, (ids, exact, all)));

        // A change made outside chatkeep is found at the row it touched.
        execute(&db, "UPDATE audit_log SET counts = '{\"rows\":0}' WHERE id = 3").await;
        let report = audit::verify(db.store()).await.unwrap();
        let broken = report.first_break.expect("the altered row is found");
        assert_eq!((broken.row_id, report.rows_checked), (3, 2), "{e}: {}", broken.reason);
        assert!(broken.reason.contains("altered"), "{e}: {}", broken.reason);
    }
    assert_same("the audit rows as read back", &pages);
    assert_same("the filtered audit lists", &listed);
}

#[tokio::test]
async fn a_whitespace_change_in_audit_details_is_tampering_too() {
    for db in engines("audit_whitespace").await {
        let e = engine(&db);
        append_five(&db).await;
        let details = db.store().audit_page(1, 1).await.unwrap()[0].details.clone();
        let spaced = details.replacen(':', ": ", 1).replace('\'', "''");
        execute(&db, &format!("UPDATE audit_log SET details = '{spaced}' WHERE id = 2")).await;
        let broken = audit::verify(db.store()).await.unwrap().first_break.expect("the reformatted row is found");
        assert_eq!(broken.row_id, 2, "{e}: the same JSON, written differently, no longer matches its hash");
    }
}

#[tokio::test]
async fn audit_rows_appended_at_the_same_time_still_form_one_chain() {
    for db in engines("audit_concurrent").await {
        let e = engine(&db);
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let store = db.store().clone();
                tokio::spawn(async move {
                    let mut tx = store.begin().await?;
                    audit::append(&mut tx, at(2026, 11, 1, 9, 0, n), AuditEntry::new(Actor::Cli, "test.parallel"))
                        .await?;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok::<_, chatkeep_core::Error>(tx.commit().await?)
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap_or_else(|err| panic!("{e}: a concurrent append failed: {err}"));
        }
        let report = audit::verify(db.store()).await.unwrap();
        assert!(report.is_intact() && report.rows_checked == 8, "{e}: {report:?}");
    }
}

// --- legal holds ------------------------------------------------------------------------

#[tokio::test]
async fn holds_are_placed_listed_and_released_alike_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let people = write_file(
        dir.path(),
        "people.jsonl",
        &[
            r#"{"type":"user","id":"u-ana","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
            r#"{"type":"conversation","id":"c-1","kind":"direct","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
        ],
    );
    let mut histories = Vec::new();
    for db in engines("holds").await {
        let e = engine(&db);
        import(&db, &people).await.unwrap();
        let store = db.store();
        let on_conversation =
            place_hold(store, HoldTarget::Conversation("c-1".into()), "case 2026-114", Actor::Cli, &clock())
                .await
                .unwrap();
        assert_eq!(on_conversation.created_at, "2026-11-23T12:00:00.000Z", "{e}");
        let on_user = place_hold(store, HoldTarget::User("u-ana".into()), "access dispute", Actor::Desktop, &clock())
            .await
            .unwrap();
        assert!(on_conversation.is_active() && on_user.is_active(), "{e}");
        let err =
            place_hold(store, HoldTarget::Conversation("c-1".into()), "again", Actor::Cli, &clock()).await.unwrap_err();
        assert!(err.to_string().contains(&format!("already under legal hold #{}", on_conversation.id)), "{e}: {err}");
        assert_eq!(list_holds(store, false).await.unwrap().len(), 2, "{e}");

        let later = FixedClock::new(at(2026, 11, 24, 8, 30, 0));
        let released = release_hold(store, on_conversation.id, Some("case closed"), Actor::Cli, &later).await.unwrap();
        assert_eq!(released.released_at.as_deref(), Some("2026-11-24T08:30:00.000Z"), "{e}");
        let err = release_hold(store, on_conversation.id, None, Actor::Cli, &later).await.unwrap_err();
        assert!(err.to_string().contains("already released"), "{e}: {err}");
        let active: Vec<i64> = list_holds(store, false).await.unwrap().iter().map(|h| h.id).collect();
        assert_eq!(active, vec![on_user.id], "{e}: a released hold leaves the active list");
        let history = list_holds(store, true).await.unwrap();
        assert_eq!(history.len(), 2, "{e}: but stays in the history");
        assert!(audit::verify(store).await.unwrap().is_intact(), "{e}");
        histories.push((e, history));
    }
    assert_same("the hold history", &histories);
}

// --- erasure ledger ---------------------------------------------------------------------

#[tokio::test]
async fn ledger_entries_keep_their_ids_and_new_ones_follow() {
    let copied = LedgerEntry {
        id: 7,
        request_id: Some(99),
        subject_key: "unkeyed:u-gone".into(),
        strategy: ErasureStrategy::Anonymize,
        pseudonym: Some("erased-1".into()),
        bodies: Some(BodyMode::Redact),
        scrub: true,
        erased_at: "2026-05-01T10:00:00.250Z".into(),
    };
    let mut ledgers = Vec::new();
    for db in engines("ledger").await {
        let e = engine(&db);
        let mut tx = db.store().begin().await.unwrap();
        tx.copy_ledger_entry(&copied).await.unwrap();
        tx.copy_ledger_entry(&LedgerEntry { subject_key: "other".into(), ..copied.clone() }).await.unwrap();
        let added = LedgerEntry {
            id: 0,
            request_id: None,
            subject_key: "unkeyed:u-later".into(),
            strategy: ErasureStrategy::Delete,
            pseudonym: None,
            bodies: None,
            scrub: false,
            erased_at: "2026-06-01T00:00:00.000Z".into(),
        };
        let new_id = tx.insert_ledger_entry(&added).await.unwrap();
        assert_eq!(new_id, 8, "{e}: numbered after the copied entry");
        tx.set_ledger_subject_key(new_id, "hmac:abc").await.unwrap();
        tx.commit().await.unwrap();

        let ledger = db.store().erasure_ledger().await.unwrap();
        assert_eq!(ledger.len(), 2, "{e}: copying an entry twice keeps one");
        assert_eq!(
            ledger[0],
            LedgerEntry { request_id: None, ..copied.clone() },
            "{e}: the first copy stays, without its request (not in this database)"
        );
        assert_eq!(ledger[1], LedgerEntry { id: 8, subject_key: "hmac:abc".into(), ..added }, "{e}");
        ledgers.push((e, ledger));
    }
    assert_same("the erasure ledger", &ledgers);
}
