#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use std::path::PathBuf;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::import::{ImportReport, import_jsonl};
use chatkeep_core::store::sqlx;
use chatkeep_core::{Error, Result};
use common::{TestDb, clock};

/// A file with every record type, tricky text included.
fn sample_lines() -> Vec<String> {
    let mut lines = vec![
        r#"{"type":"user","id":"u-ana","display_name":"Ana Núñez","email":"ana@example.com","phone":"+34 600 000 000","created_at":"2026-01-01T08:00:00Z","last_seen_at":"2026-03-01T10:00:00+01:00"}"#.to_string(),
        r#"{"type":"user","id":"u-olga","display_name":"Ольга","created_at":"2026-01-02T08:00:00Z"}"#.to_string(),
        r#"{"type":"user","id":"u-bot","display_name":"Helpdesk bot","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"c-1","title":"Billing, \"urgent\"","kind":"group","owner":"u-ana","context":{"locale":"es-ES"},"retention_policy":"30d","created_at":"2026-02-01T09:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"c-2","kind":"bot","retention_policy":"instant","legal_hold":true,"created_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-1","user":"u-ana","role":"owner","joined_at":"2026-02-01T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-1","user":"u-olga","joined_at":"2026-02-01T09:05:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-2","user":"u-ana","joined_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"participant","conversation":"c-2","user":"u-bot","role":"bot","joined_at":"2026-02-02T09:00:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-1","conversation":"c-1","sender":"u-ana","role":"user","body":"Hola, \"factura\", línea 1\nlínea 2","tokens_used":7,"created_at":"2026-02-01T09:10:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-2","conversation":"c-1","sender":"u-olga","role":"user","body":"Здравствуйте 👋 谢谢 مرحبا","reply_to":"m-1","pinned":true,"created_at":"2026-02-01T09:11:00.123Z"}"#.to_string(),
        r#"{"type":"message","id":"m-3","conversation":"c-2","sender":"u-bot","role":"assistant","kind":"text","body":"I can help.","tokens_used":120,"created_at":"2026-02-02T09:01:00Z"}"#.to_string(),
        r#"{"type":"message","id":"m-4","conversation":"c-2","role":"system","kind":"system","created_at":"2026-02-02T09:02:00Z"}"#.to_string(),
        r#"{"type":"read","message":"m-1","user":"u-olga","read_at":"2026-02-01T09:12:00Z"}"#.to_string(),
        r#"{"type":"read","message":"m-3","user":"u-ana","read_at":"2026-02-02T09:03:00Z"}"#.to_string(),
    ];
    // Enough messages that a bad line can sit at line 57.
    for n in 5..=60 {
        lines.push(format!(
            r#"{{"type":"message","id":"m-{n}","conversation":"c-1","sender":"u-ana","role":"user","body":"note {n}","created_at":"2026-02-03T10:{:02}:00Z"}}"#,
            n % 60
        ));
    }
    lines
}

fn write_file(dir: &std::path::Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

async fn import(db: &TestDb, path: &std::path::Path) -> Result<ImportReport> {
    import_jsonl(&db.store, path, Actor::Cli, &clock(), &NoProgress).await
}

async fn assert_nothing_written(db: &TestDb) {
    for table in ["users", "conversations", "participants", "messages", "message_reads", "audit_log"] {
        assert_eq!(db.count(table).await, 0, "a failed import must write nothing, but {table} has rows");
    }
}

#[tokio::test]
async fn every_record_type_lands_exactly_as_written() {
    let db = TestDb::new().await;
    let path = write_file(db.dir.path(), "chat.jsonl", &sample_lines());
    let report = import(&db, &path).await.expect("the sample imports");
    assert_eq!(report.records, 71);
    assert_eq!((report.users.inserted, report.conversations.inserted), (3, 2));
    assert_eq!((report.participants.inserted, report.messages.inserted, report.reads.inserted), (4, 60, 2));

    let mut raw = db.raw().await;
    let user: (String, Option<String>, Option<String>, String, Option<String>) = sqlx::query_as(
        "SELECT display_name, email, phone, created_at, last_seen_at FROM users WHERE external_id = 'u-ana'",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(
        user,
        (
            "Ana Núñez".into(),
            Some("ana@example.com".into()),
            Some("+34 600 000 000".into()),
            "2026-01-01T08:00:00.000Z".into(),
            Some("2026-03-01T09:00:00.000Z".into()),
        ),
        "offsets are stored as UTC"
    );
    let conversation: (String, String, String, String, i64, String) = sqlx::query_as(
        "SELECT c.title, c.kind, u.external_id, c.context, c.legal_hold, c.last_activity_at
         FROM conversations c JOIN users u ON u.id = c.owner_id WHERE c.external_id = 'c-1'",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(conversation.0, "Billing, \"urgent\"");
    assert_eq!(conversation.1, "group");
    assert_eq!(conversation.2, "u-ana");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&conversation.3).unwrap(),
        serde_json::json!({"locale": "es-ES"})
    );
    assert_eq!(conversation.4, 0);
    assert_eq!(conversation.5, "2026-02-03T10:59:00.000Z", "last activity follows the newest message");

    let reply: (String, i64, String, i64) = sqlx::query_as(
        "SELECT m.body, m.pinned, r.external_id, m.tokens_used FROM messages m JOIN messages r ON r.id = m.reply_to_id
         WHERE m.external_id = 'm-2'",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(reply, ("Здравствуйте 👋 谢谢 مرحبا".into(), 1, "m-1".into(), 0));
    let body: String =
        sqlx::query_scalar("SELECT body FROM messages WHERE external_id = 'm-1'").fetch_one(&mut raw).await.unwrap();
    assert_eq!(body, "Hola, \"factura\", línea 1\nlínea 2");
    let system: (Option<i64>, String, Option<String>) =
        sqlx::query_as("SELECT sender_id, kind, body FROM messages WHERE external_id = 'm-4'")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert_eq!(system, (None, "system".into(), None));
    let audit: (String, String) =
        sqlx::query_as("SELECT action, counts FROM audit_log").fetch_one(&mut raw).await.unwrap();
    assert_eq!(audit.0, "import.file");
    assert!(audit.1.contains("\"inserted\":60"), "the audit row carries the counts: {}", audit.1);
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let db = TestDb::new().await;
    let path = write_file(db.dir.path(), "chat.jsonl", &sample_lines());
    import(&db, &path).await.unwrap();
    let again = import(&db, &path).await.unwrap();
    assert_eq!(again.messages.inserted + again.messages.updated, 0, "{again:?}");
    assert_eq!(again.messages.unchanged, 60);
    assert_eq!(again.users.unchanged + again.conversations.unchanged + again.reads.unchanged, 3 + 2 + 2);
    assert_eq!(db.count("messages").await, 60);

    // A changed body is an update, not a duplicate.
    let mut lines = sample_lines();
    lines[9] = lines[9].replace("línea 2", "línea dos");
    let changed = write_file(db.dir.path(), "changed.jsonl", &lines);
    let report = import(&db, &changed).await.unwrap();
    assert_eq!((report.messages.updated, report.messages.inserted), (1, 0));
}

#[tokio::test]
async fn a_bad_line_57_is_reported_by_number_and_nothing_is_written() {
    let db = TestDb::new().await;
    let mut lines = sample_lines();
    lines[56] = lines[56].replace("2026-02-03T10", "yesterday at 10");
    let path = write_file(db.dir.path(), "bad.jsonl", &lines);
    let err = import(&db, &path).await.expect_err("line 57 is bad");
    let message = err.to_string();
    assert!(message.contains("line 57"), "the message should name line 57: {message}");
    assert!(message.contains("created_at") && message.contains("RFC 3339"), "and what is wrong: {message}");
    assert!(matches!(err, Error::Import(ref e) if e.problems.len() == 1 && e.problems[0].line == 57));
    assert_nothing_written(&db).await;
}

#[tokio::test]
async fn timestamps_outside_the_years_backups_and_retention_handle_are_refused() {
    let db = TestDb::new().await;
    let mut lines = sample_lines();
    for (n, year) in [(10, "0000"), (20, "1900"), (30, "1969")] {
        let line = &lines[n];
        let at = line.find("\"created_at\":\"").expect("a created_at") + "\"created_at\":\"".len();
        lines[n] = format!("{}{year}{}", &line[..at], &line[at + 4..]);
    }
    let path = write_file(db.dir.path(), "old.jsonl", &lines);
    let Err(Error::Import(err)) = import(&db, &path).await else { panic!("the file is refused") };
    let by_line: Vec<(u64, &str)> = err.problems.iter().map(|p| (p.line, p.message.as_str())).collect();
    assert_eq!(by_line.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![11, 21, 31], "{by_line:?}");
    assert!(by_line.iter().all(|(_, m)| m.contains("outside the years") && m.contains("1970 to 9999")), "{by_line:?}");
    assert_nothing_written(&db).await;
}

#[tokio::test]
async fn hostile_files_get_short_exact_answers() {
    let db = TestDb::new().await;
    // A byte-order mark before the first record is accepted.
    let mut lines = sample_lines();
    lines[0] = format!("\u{feff}{}", lines[0]);
    let path = write_file(db.dir.path(), "bom.jsonl", &lines);
    import(&db, &path).await.expect("a file starting with a byte-order mark imports");

    let fresh = TestDb::new().await;
    let mut lines = sample_lines();
    lines[7] = "[1, 2, 3]".into();
    lines[8] = "\"just text\"".into();
    lines[12] = lines[11].replace("\"m-3\"", "\"m-2\""); // m-2 is already on line 11
    lines[13] = lines[4].replace("\"bot\"", &format!("\"{}\"", "robot".repeat(20_000)));
    let path = write_file(fresh.dir.path(), "hostile.jsonl", &lines);
    let Err(Error::Import(err)) = import(&fresh, &path).await else { panic!("the file is refused") };
    let by_line: Vec<(u64, &str)> = err.problems.iter().map(|p| (p.line, p.message.as_str())).collect();
    assert_eq!(by_line.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![8, 9, 13, 14], "{by_line:?}");
    assert!(by_line[0].1.contains("JSON but an array, not an object"), "{by_line:?}");
    assert!(by_line[1].1.contains("JSON but a string"), "{by_line:?}");
    assert!(by_line[2].1.contains("\"m-2\" is already on line 11"), "{by_line:?}");
    assert!(by_line[3].1.chars().count() < 400 && by_line[3].1.contains("characters cut"), "{}", by_line[3].1);
    assert_nothing_written(&fresh).await;

    // A line over 16 MiB is refused by number, without being read whole.
    let mut lines = sample_lines();
    lines[2] = format!("{{\"type\":\"user\",\"id\":\"{}\"}}", "x".repeat(17 << 20));
    let path = write_file(fresh.dir.path(), "huge.jsonl", &lines);
    let Err(Error::Import(err)) = import(&fresh, &path).await else { panic!("the file is refused") };
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].line, 3);
    assert!(err.problems[0].message.contains("longer than 16 MiB"), "{:?}", err.problems);
    assert_nothing_written(&fresh).await;
}

#[tokio::test]
async fn every_bad_line_is_listed_with_its_own_reason() {
    let db = TestDb::new().await;
    let mut lines = sample_lines();
    lines[3] = lines[3].replace("\"30d\"", "\"7 days\"");
    lines[4] = lines[4].replace("\"bot\"", "\"robot\"");
    lines[20] = "{not json".into();
    lines[21] = lines[21].replace("\"body\"", "\"bodee\"");
    let path = write_file(db.dir.path(), "bad.jsonl", &lines);
    let Err(Error::Import(err)) = import(&db, &path).await else { panic!("the file is bad") };
    let by_line: Vec<(u64, &str)> = err.problems.iter().map(|p| (p.line, p.message.as_str())).collect();
    assert_eq!(by_line.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![4, 5, 21, 22]);
    assert!(by_line[0].1.contains("retention_policy") && by_line[0].1.contains("30d"), "{by_line:?}");
    assert!(by_line[1].1.contains("robot") && by_line[1].1.contains("direct"), "{by_line:?}");
    assert!(by_line[3].1.contains("bodee"), "{by_line:?}");
    assert_nothing_written(&db).await;
}

#[tokio::test]
async fn an_unknown_reference_rolls_back_the_whole_import() {
    let db = TestDb::new().await;
    let mut lines = sample_lines();
    lines[65] = lines[65].replace("\"c-1\"", "\"c-404\"");
    let path = write_file(db.dir.path(), "dangling.jsonl", &lines);
    let message = import(&db, &path).await.expect_err("c-404 does not exist").to_string();
    assert!(message.contains("line 66") && message.contains("c-404"), "{message}");
    assert_nothing_written(&db).await;
}

#[tokio::test]
async fn an_import_never_lifts_a_legal_hold() {
    let db = TestDb::new().await;
    let lines = sample_lines();
    let path = write_file(db.dir.path(), "chat.jsonl", &lines);
    import(&db, &path).await.unwrap();
    let without_hold: Vec<String> = lines.iter().map(|l| l.replace(",\"legal_hold\":true", "")).collect();
    let path = write_file(db.dir.path(), "no-hold.jsonl", &without_hold);
    import(&db, &path).await.unwrap();
    let hold: i64 = sqlx::query_scalar("SELECT legal_hold FROM conversations WHERE external_id = 'c-2'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert_eq!(hold, 1, "only a deliberate hold release may lift a legal hold");
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let db = TestDb::new().await;
    let message = import(&db, &db.dir.path().join("nope.jsonl")).await.unwrap_err().to_string();
    assert!(message.contains("nope.jsonl"), "{message}");
}
