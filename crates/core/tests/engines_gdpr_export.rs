#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Exports and GDPR requests on both engines. The same chat data, written with plain SQL both
//! engines accept, exports to the same bytes on SQLite and PostgreSQL (CSV, JSON, JSONL and
//! PDF, with filters, date ranges cutting conversations, and pages of thousands of messages);
//! a person's access export holds the same data; erasure by delete and by anonymize leaves no
//! personal rows behind (the certificate's checks are all 0, and so are ours); request
//! deadlines, extensions and rejections read the same; a ledger replay after a restore erases
//! the person again, folding a returned row into its pseudonym.
//!
//! Without a PostgreSQL server the scenarios run on SQLite alone (and say so).
mod common;

use std::path::Path;

use chatkeep_core::config::{ExportSettings, GdprSettings};
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::gdpr::{BodyMode, ErasureStrategy, RequestKind, RequestStatus};
use chatkeep_core::domain::hold::HoldTarget;
use chatkeep_core::ops::export::{ExportRequest, export, plan};
use chatkeep_core::ops::gdpr::{self, NewRequestInput, Target, access, erase};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::sqlx;
use chatkeep_core::{FixedClock, audit};
use chrono_tz::Tz;
use common::{AnyDb, at, clock, engine, engines, exec};

const BERLIN: Tz = chrono_tz::Europe::Berlin;

/// One number from a query, on either engine.
async fn number(db: &AnyDb, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match db {
        AnyDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
        AnyDb::Postgres(db, _) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
    }
    .unwrap_or_else(|e| panic!("{}: {e:?}", engine(db)))
}

/// One text from a query, on either engine.
async fn text(db: &AnyDb, sql: &str) -> Option<String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match db {
        AnyDb::Sqlite(db) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
        AnyDb::Postgres(db, _) => sqlx::query_scalar(sql).fetch_one(&mut db.raw().await).await,
    }
    .unwrap_or_else(|e| panic!("{}: {e:?}", engine(db)))
}

const USER: &str = "(SELECT id FROM users WHERE external_id = ";
const CONVERSATION: &str = "(SELECT id FROM conversations WHERE external_id = ";
const MESSAGE: &str = "(SELECT id FROM messages WHERE external_id = ";

/// Conversations of bulk messages, each a page of its own.
const BULK_CONVERSATIONS: usize = 3;
const BULK_MESSAGES: usize = 2_600;

/// The chat data, as the chat service would have it: SQL both engines run as written
/// (instants in chatkeep's stored shape, `true`/`false` flags, JSON as chatkeep stores it:
/// keys sorted, no spaces), so both databases hold exactly the same rows with the same ids.
fn scene_sql() -> String {
    let user = |id: &str| format!("{USER}'{id}')");
    let conversation = |id: &str| format!("{CONVERSATION}'{id}')");
    let message = |id: &str| format!("{MESSAGE}'{id}')");
    let mut sql = String::from(
        "INSERT INTO users (external_id, display_name, email, phone, created_at, last_seen_at) VALUES
           ('u-ana', 'Anatolia Quixley', 'Ana.Quixley@Example.org', '+49 30 1234567', '2026-01-05T09:00:00.000Z', '2026-10-20T18:00:00.250Z'),
           ('u-ben', 'Benedikt \"Ben\" Zorander', 'ben.zorander@example.org', '0044 20 7946 0958', '2026-02-01T09:00:00.000Z', NULL),
           ('u-twin-1', 'Twin One', 'shared@example.org', NULL, '2026-02-01T09:00:00.000Z', NULL),
           ('u-twin-2', 'Twin Two', 'Shared@Example.org', NULL, '2026-02-01T09:00:00.000Z', NULL),
           ('u-zoe', 'Zoë Ωμέγα 李, \"Z\"', NULL, NULL, '2026-03-01T00:00:00.000Z', NULL);\n",
    );
    sql += &format!(
        "INSERT INTO conversations (external_id, title, kind, owner_id, context, retention_policy, legal_hold,
                                    created_at, last_activity_at, archived_at, expired_at) VALUES
           ('c-direct', NULL, 'direct', NULL, NULL, NULL, false, '2026-10-01T08:00:00.000Z', '2026-10-21T10:00:00.000Z', NULL, NULL),
           ('c-group', 'Trip planning, \"day 1\"', 'group', {ben}, '{{\"a\":null,\"ab\":{{\"a\":[1,2.5,\"x\"],\"z\":true}},\"b\":1,\"é\":\"ü\"}}',
            NULL, false, '2026-10-02T08:00:00.000Z', '2026-10-05T12:00:00.000Z', NULL, NULL),
           ('c-bot', 'Help', 'bot', {ana}, '{{\"assistant\":\"helpdesk-bot\",\"locale\":\"de-DE\",\"source\":\"web\"}}', '7d', false,
            '2026-10-03T08:00:00.000Z', '2026-10-03T09:00:05.000Z', NULL, NULL),
           ('c-old', 'Old times', 'channel', NULL, NULL, NULL, false, '2026-09-01T00:00:00.000Z', '2026-09-15T00:00:00.000Z',
            '2026-10-10T00:00:00.000Z', '2026-10-15T00:00:00.000Z');\n",
        ben = user("u-ben"),
        ana = user("u-ana"),
    );
    for n in 1..=BULK_CONVERSATIONS {
        sql += &format!(
            "INSERT INTO conversations (external_id, title, kind, context, created_at, last_activity_at)
             VALUES ('c-bulk-{n}', 'Bulk {n}', 'group', '{{}}', '2026-10-04T00:00:00.000Z', '2026-10-07T00:00:00.000Z');\n"
        );
    }
    // Participants in an order other than their ids, to see who comes first.
    let mut participants = vec![
        ("c-direct", "u-ben", "member", "2026-10-01T08:00:00.000Z"),
        ("c-direct", "u-ana", "member", "2026-10-01T08:00:00.000Z"),
        ("c-group", "u-zoe", "member", "2026-10-02T08:00:00.000Z"),
        ("c-group", "u-twin-1", "member", "2026-10-02T08:00:00.000Z"),
        ("c-group", "u-ben", "admin", "2026-10-02T08:00:00.000Z"),
        ("c-group", "u-ana", "member", "2026-10-02T08:30:00.000Z"),
        ("c-bot", "u-ana", "member", "2026-10-03T08:00:00.000Z"),
        ("c-old", "u-twin-2", "member", "2026-09-01T00:00:00.000Z"),
        ("c-old", "u-ben", "member", "2026-09-01T00:00:00.000Z"),
    ];
    let bulk: Vec<String> = (1..=BULK_CONVERSATIONS).map(|n| format!("c-bulk-{n}")).collect();
    for c in &bulk {
        participants.push((c, "u-twin-1", "member", "2026-10-04T00:00:00.000Z"));
        participants.push((c, "u-ben", "member", "2026-10-04T00:00:00.000Z"));
    }
    let rows: Vec<String> = participants
        .iter()
        .map(|(c, u, role, at)| format!("({}, {}, '{role}', '{at}')", conversation(c), user(u)))
        .collect();
    sql +=
        &format!("INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES {};\n", rows.join(", "));

    // (id, conversation, sender, role, kind, body, tokens, reply to, pinned, created, expired)
    type Row<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        &'a str,
        Option<&'a str>,
        i64,
        Option<&'a str>,
        bool,
        &'a str,
        Option<&'a str>,
    );
    let special: Vec<Row> = vec![
        (
            "m-0",
            "c-group",
            Some("u-ana"),
            "user",
            "text",
            Some("before the range"),
            1,
            None,
            false,
            "2026-08-01T00:00:00.000Z",
            None,
        ),
        (
            "m-1",
            "c-direct",
            Some("u-ana"),
            "user",
            "text",
            Some("Hi Ben! Write to ana.quixley@example.org or call +49 30 1234567 after 2026-10-05 18:00"),
            3,
            None,
            false,
            "2026-10-01T09:00:00.000Z",
            None,
        ),
        (
            "m-2",
            "c-direct",
            Some("u-ben"),
            "user",
            "text",
            Some("Will do, my mobile is 0044 20 7946 0958"),
            0,
            Some("m-1"),
            true,
            "2026-10-01T09:05:00.000Z",
            None,
        ),
        (
            "m-3",
            "c-group",
            Some("u-ana"),
            "user",
            "text",
            Some("Quixley family arrives Friday, \"early\"\nsee you"),
            7,
            None,
            false,
            "2026-10-02T09:00:00.000Z",
            None,
        ),
        (
            "m-4",
            "c-group",
            Some("u-twin-1"),
            "user",
            "text",
            Some(
                "tab\there, ctrl \u{1}\u{1f} bell \u{7} del \u{7f}, back\\slash, a \"quote\", 🚀 and U+2028 \u{2028}.",
            ),
            2,
            None,
            false,
            "2026-10-02T09:10:00.001Z",
            None,
        ),
        (
            "m-5",
            "c-group",
            Some("u-zoe"),
            "user",
            "text",
            Some("Größe, Ελληνικά, Кириллица, العربية, 中文, 日本語"),
            5,
            Some("m-3"),
            false,
            "2026-10-02T09:20:00.999Z",
            None,
        ),
        (
            "m-6",
            "c-group",
            Some("u-ben"),
            "user",
            "text",
            Some("windows\r\nline end"),
            4,
            None,
            false,
            "2026-10-02T09:30:00.000Z",
            Some("2026-10-20T00:00:00.000Z"),
        ),
        (
            "m-7",
            "c-bot",
            Some("u-ana"),
            "user",
            "text",
            Some("How do I reset my password?"),
            6,
            None,
            false,
            "2026-10-03T09:00:00.000Z",
            None,
        ),
        (
            "m-8",
            "c-bot",
            None,
            "assistant",
            "text",
            Some("Use the link we sent."),
            40,
            Some("m-7"),
            false,
            "2026-10-03T09:00:05.000Z",
            None,
        ),
        (
            "m-9",
            "c-old",
            Some("u-ben"),
            "user",
            "text",
            Some("old news"),
            1,
            None,
            false,
            "2026-09-15T00:00:00.000Z",
            None,
        ),
        (
            "m-10",
            "c-group",
            Some("u-ben"),
            "user",
            "text",
            Some("answer to something older"),
            1,
            Some("m-0"),
            false,
            "2026-10-05T12:00:00.000Z",
            None,
        ),
        (
            "m-11",
            "c-direct",
            Some("u-ben"),
            "user",
            "text",
            Some(""),
            0,
            Some("m-1"),
            false,
            "2026-10-20T10:00:00.000Z",
            None,
        ),
        ("m-12", "c-direct", Some("u-ana"), "user", "file", None, 0, None, false, "2026-10-21T10:00:00.000Z", None),
        (
            "m-13",
            "c-direct",
            None,
            "system",
            "system",
            Some("Ana joined"),
            0,
            None,
            false,
            "2026-10-01T08:00:00.000Z",
            None,
        ),
    ];
    let quote = |t: Option<&str>| t.map_or("NULL".to_string(), |t| format!("'{}'", t.replace('\'', "''")));
    let rows: Vec<String> = special
        .iter()
        .map(|(id, c, sender, role, kind, body, tokens, reply, pinned, created, expired)| {
            format!(
                "('{id}', {}, {}, '{role}', '{kind}', {}, {tokens}, {}, {pinned}, '{created}', {})",
                conversation(c),
                sender.map_or("NULL".into(), user),
                quote(*body),
                reply.map_or("NULL".into(), message),
                quote(*expired)
            )
        })
        .collect();
    // One statement per message: a reply's target must exist when it is written.
    for row in rows {
        sql += &format!(
            "INSERT INTO messages (external_id, conversation_id, sender_id, role, kind, body, tokens_used, reply_to_id,
                                   pinned, created_at, expired_at) VALUES {row};\n"
        );
    }
    for n in 1..=BULK_CONVERSATIONS {
        let c = conversation(&format!("c-bulk-{n}"));
        let (ben, twin) = (user("u-ben"), user("u-twin-1"));
        for chunk in (0..BULK_MESSAGES).collect::<Vec<_>>().chunks(500) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let minute = i + n * 7;
                    format!(
                        "('m-bulk-{n}-{i}', {c}, {}, 'user', 'Message {i} of bulk {n}, \"quoted\"', {}, '2026-10-{:02}T{:02}:{:02}:{:02}.{:03}Z')",
                        if i % 2 == 0 { &ben } else { &twin },
                        i % 13,
                        4 + minute / 1440,
                        minute / 60 % 24,
                        minute % 60,
                        i % 60,
                        i % 1000
                    )
                })
                .collect();
            sql += &format!(
                "INSERT INTO messages (external_id, conversation_id, sender_id, role, body, tokens_used, created_at) VALUES {};\n",
                rows.join(", ")
            );
        }
        sql += &format!(
            "INSERT INTO message_reads (message_id, user_id, read_at)
             SELECT id, {ben}, '2026-10-08T00:00:00.000Z' FROM messages WHERE conversation_id = {c} AND sender_id = {twin};\n"
        );
    }
    let reads = [
        ("m-2", "u-ana", "2026-10-01T09:06:00.000Z"),
        ("m-1", "u-ben", "2026-10-01T09:04:00.000Z"),
        ("m-4", "u-zoe", "2026-10-02T09:11:00.000Z"),
        ("m-4", "u-ana", "2026-10-02T09:11:00.000Z"),
        ("m-3", "u-ben", "2026-10-02T09:01:00.000Z"),
        ("m-8", "u-ana", "2026-10-03T09:01:00.000Z"),
    ];
    let rows: Vec<String> = reads.iter().map(|(m, u, at)| format!("({}, {}, '{at}')", message(m), user(u))).collect();
    sql += &format!("INSERT INTO message_reads (message_id, user_id, read_at) VALUES {};\n", rows.join(", "));
    sql
}

async fn scene(db: &AnyDb) {
    exec(db, &scene_sql()).await;
}

// ---- exports ----

fn export_request(format: &str, from: &str, to: &str) -> ExportRequest {
    ExportRequest {
        from: from.into(),
        to: to.into(),
        format: format.into(),
        include_messages: true,
        ..ExportRequest::default()
    }
}

async fn run_export(db: &AnyDb, request: &ExportRequest, dir: &Path, name: &str) -> Vec<u8> {
    let request = ExportRequest { out: Some(dir.join(format!("{}-{name}", engine(db)))), ..request.clone() };
    let settings = ExportSettings { max_range_days: 400 };
    let plan = plan(db.store(), &request, BERLIN, &settings).await.unwrap_or_else(|e| panic!("{}: {e:?}", engine(db)));
    let report = export(db.store(), &plan, BERLIN, Actor::Cli, &clock(), &NoProgress, &Cancel::new())
        .await
        .unwrap_or_else(|e| panic!("{} {name}: {e:?}", engine(db)));
    assert!(!report.cancelled);
    std::fs::read(&report.path).unwrap()
}

/// Same bytes, or the first line that differs.
fn assert_same(what: &str, sqlite: &[u8], postgres: &[u8]) {
    if sqlite == postgres {
        return;
    }
    let (a, b) = (String::from_utf8_lossy(sqlite), String::from_utf8_lossy(postgres));
    for (n, (x, y)) in a.split('\n').zip(b.split('\n')).enumerate() {
        assert_eq!(x, y, "{what}: line {} differs between SQLite (left) and PostgreSQL (right)", n + 1);
    }
    panic!("{what}: SQLite wrote {} bytes, PostgreSQL {}", sqlite.len(), postgres.len());
}

#[tokio::test]
async fn the_same_data_exports_to_the_same_bytes_on_both_engines() {
    let dbs = engines("export_same_bytes").await;
    let dir = tempfile::tempdir().unwrap();
    for db in &dbs {
        scene(db).await;
    }
    let year = ("2026-01-01", "2026-12-31");
    let mut cases: Vec<(&str, ExportRequest)> = vec![
        ("all.csv", export_request("csv", year.0, year.1)),
        ("all.json", export_request("json", year.0, year.1)),
        ("all.jsonl", export_request("jsonl", year.0, year.1)),
        ("all.pdf", export_request("pdf", year.0, year.1)),
        // One local day in Berlin: c-group is cut, so m-10's reply to m-0 loses its link in JSONL.
        ("day.jsonl", export_request("jsonl", "2026-10-02", "2026-10-02")),
        ("day.json", export_request("json", "2026-10-02", "2026-10-05")),
        // An instant range, excluded at its end.
        ("instants.csv", export_request("csv", "2026-10-01T09:00:00Z", "2026-10-02T09:20:00.999Z")),
    ];
    let mut no_messages = export_request("csv", year.0, year.1);
    no_messages.include_messages = false;
    no_messages.bom = true;
    cases.push(("conversations.csv", no_messages.clone()));
    no_messages.format = "json".into();
    cases.push(("conversations.json", no_messages));
    let mut expired = export_request("csv", year.0, year.1);
    expired.include_expired = true;
    expired.conversations = vec!["c-old".into(), "c-group".into()];
    cases.push(("expired.csv", expired.clone()));
    expired.format = "jsonl".into();
    cases.push(("expired.jsonl", expired));
    let mut filtered = export_request("json", year.0, year.1);
    filtered.participant = Some("u-ana".into());
    filtered.kinds = vec!["group".into(), "direct".into()];
    cases.push(("ana.json", filtered.clone()));
    filtered.format = "jsonl".into();
    cases.push(("ana.jsonl", filtered.clone()));
    // CSV reads PostgreSQL's messages from one streamed query: every filter goes into it too.
    filtered.format = "csv".into();
    cases.push(("ana.csv", filtered));
    let mut bot = export_request("pdf", year.0, year.1);
    bot.conversations = vec!["c-bot".into()];
    cases.push(("bot.pdf", bot));

    for (name, request) in &cases {
        let sqlite = run_export(&dbs[0], request, dir.path(), name).await;
        assert!(!sqlite.is_empty(), "{name}");
        if let Some(pg) = dbs.get(1) {
            let postgres = run_export(pg, request, dir.path(), name).await;
            assert_same(name, &sqlite, &postgres);
        }
    }

    // What the files hold, read once (they are the same on both engines).
    let jsonl = String::from_utf8(std::fs::read(dir.path().join("sqlite-all.jsonl")).unwrap()).unwrap();
    let lines: Vec<&str> = jsonl.lines().collect();
    let bulk = BULK_CONVERSATIONS * BULK_MESSAGES;
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("{\"type\":\"message\"")).count(),
        bulk + 12,
        "every message but the expired m-6 and those of the expired c-old"
    );
    assert!(
        jsonl.contains(r#""context":{"a":null,"ab":{"a":[1,2.5,"x"],"z":true},"b":1,"é":"ü"}"#),
        "context with its keys sorted, as stored"
    );
    assert!(jsonl.contains(r#""body":"tab\there, ctrl \u0001\u001f bell \u0007 del "#), "control characters escaped");
    let day = std::fs::read_to_string(dir.path().join("sqlite-day.jsonl")).unwrap();
    assert!(
        day.contains(
            r#""id":"m-5","conversation":"c-group","sender":"u-zoe","role":"user","kind":"text","body":"Größe"#
        )
    );
    assert!(day.contains(r#""reply_to":"m-3""#), "a reply inside the export keeps its link");
    let csv = std::fs::read_to_string(dir.path().join("sqlite-conversations.csv")).unwrap();
    assert!(csv.contains("u-ana u-ben u-twin-1 u-zoe"), "participants by their order in the database:\n{csv}");
    let audit_rows = number(&dbs[0], "SELECT count(*) FROM audit_log WHERE action = 'export.file'").await;
    assert_eq!(audit_rows, cases.len() as i64);
    for db in &dbs {
        assert!(audit::verify(db.store()).await.unwrap().is_intact(), "{}", engine(db));
    }
}

// ---- GDPR ----

fn settings() -> GdprSettings {
    GdprSettings::default()
}

fn read_zip(path: &Path, name: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

#[tokio::test]
async fn a_person_is_found_by_each_identifier_and_their_access_export_is_the_same_on_both_engines() {
    let dbs = engines("gdpr_access").await;
    let dir = tempfile::tempdir().unwrap();
    let mut exports: Vec<(String, String, String)> = Vec::new();
    for db in &dbs {
        let name = engine(db);
        scene(db).await;
        let store = db.store();
        for (subject, key) in [
            ("u-ana", "external_id"),
            ("ext:u-ana", "external_id"),
            ("  ANA.Quixley@example.ORG ", "email"),
            ("+49 (30) 123-4567", "phone"),
            ("0049 30 1234567", "phone"),
            ("id:1", "user_id"),
        ] {
            let found = gdpr::find_subject(store, subject).await.unwrap_or_else(|e| panic!("{name} {subject}: {e:?}"));
            assert_eq!(found.person.external_id, "u-ana", "{name} {subject}");
            assert_eq!(found.matched_by, [key], "{name}: {subject} matched by {key}");
            assert_eq!(found.person.last_seen_at.as_deref(), Some("2026-10-20T18:00:00.250Z"), "{name}");
            let c = &found.counts;
            assert_eq!(
                (c.messages, c.message_reads, c.conversations, c.conversations_owned, c.active_holds, c.requests),
                (5, 3, 3, 1, 0, 0),
                "{name}: Ana's rows"
            );
            assert!(found.blockers.is_empty(), "{name}");
        }
        assert_eq!(gdpr::find_subject(store, "+44 20 7946 0958").await.unwrap().person.external_id, "u-ben", "{name}");
        let err = gdpr::find_subject(store, "shared@example.org").await.unwrap_err().to_string();
        assert!(err.contains("ambiguous") && err.contains("u-twin-1") && err.contains("u-twin-2"), "{name}: {err}");
        let err = gdpr::find_subject(store, "nobody@example.org").await.unwrap_err().to_string();
        assert!(err.contains("no person matches"), "{name}: {err}");

        let clock = clock();
        let input = NewRequestInput {
            kind: RequestKind::Access,
            subject: "ana.quixley@example.org",
            received: None,
            notes: None,
        };
        let request = gdpr::new_request(store, &input, &settings(), Tz::UTC, Actor::Cli, &clock).await.unwrap();
        // The same paths on both engines: the request records where its answer went.
        let out = dir.path().join("ana.zip");
        let report =
            access::export_access(store, Target::Request(request.id), &out, &settings(), Tz::UTC, Actor::Cli, &clock)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!((report.conversations, report.messages, report.read_receipts), (3, 5, 3), "{name}");
        let done = report.request.unwrap();
        assert_eq!(done.status, RequestStatus::Done, "{name}");
        assert_eq!(done.artifact_sha256.as_deref(), Some(report.sha256.as_str()), "{name}");
        let data = read_zip(&out, "data.json");
        let parsed: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert!(parsed["messages"].as_array().unwrap().iter().all(|m| m["from_subject"] == true), "{name}");
        let bot = parsed["conversations"].as_array().unwrap().iter().find(|c| c["id"] == "c-bot").unwrap();
        assert_eq!(bot["owner"], true, "{name}");
        assert_eq!(bot["context"]["locale"], "de-DE", "{name}");
        assert_eq!(bot["messages_total"], 2, "{name}");

        let with_others = GdprSettings { include_other_participants: true, ..settings() };
        let out_all = dir.path().join("ana-all.zip");
        let report =
            access::export_access(store, Target::Subject("u-ana"), &out_all, &with_others, Tz::UTC, Actor::Cli, &clock)
                .await
                .unwrap();
        assert_eq!(report.messages, 13, "{name}: every message of her three conversations");
        exports.push((data, read_zip(&out, "summary.html"), read_zip(&out_all, "data.json")));
        std::fs::remove_file(&out).unwrap();
        std::fs::remove_file(&out_all).unwrap();
        assert!(audit::verify(store).await.unwrap().is_intact(), "{name}");
    }
    if let [sqlite, postgres] = exports.as_slice() {
        assert_same("data.json", sqlite.0.as_bytes(), postgres.0.as_bytes());
        assert_same("summary.html", sqlite.1.as_bytes(), postgres.1.as_bytes());
        assert_same("data.json with the others' messages", sqlite.2.as_bytes(), postgres.2.as_bytes());
    }
}

async fn erase_person(
    db: &AnyDb,
    clock: &FixedClock,
    subject: &str,
    strategy: ErasureStrategy,
    settings: &GdprSettings,
) -> chatkeep_core::Result<erase::ErasureReport> {
    common::erase_person(db.store(), clock, subject, strategy, settings).await
}

/// Rows anywhere in the chat data or chatkeep's requests and holds that still name the person.
async fn traces(db: &AnyDb, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for needle in needles {
        let like = format!("'%{needle}%'");
        for (table, columns) in [
            ("users", &["external_id", "display_name", "email", "phone"][..]),
            ("messages", &["body"][..]),
            ("conversations", &["title"][..]),
            ("dsr_requests", &["subject"][..]),
            ("legal_holds", &["target_external_id"][..]),
        ] {
            let condition: Vec<String> = columns.iter().map(|c| format!("{c} LIKE {like}")).collect();
            let n = number(db, &format!("SELECT count(*) FROM {table} WHERE {}", condition.join(" OR "))).await;
            if n > 0 {
                found.push(format!("{n} rows of {table} hold {needle:?}"));
            }
        }
    }
    found
}

/// A certificate without what legitimately differs by engine: the pseudonym (each database
/// has its own salt), the residue notes and the queries' SQL dialect.
fn comparable(c: &erase::Certificate) -> serde_json::Value {
    let checks: Vec<(String, i64)> = c.checks.iter().map(|k| (k.what.clone(), k.result)).collect();
    serde_json::json!({
        "request": c.request, "strategy": c.strategy, "erased_at": c.erased_at, "ledger_entry": c.ledger_entry,
        "bodies": c.bodies, "before": c.before, "rows": c.rows, "scrubbed": c.scrubbed, "checks": checks,
    })
}

#[tokio::test]
async fn erasure_by_delete_and_by_anonymize_leaves_no_personal_rows_on_both_engines() {
    let dbs = engines("gdpr_erasure").await;
    let mut certificates = Vec::new();
    for db in &dbs {
        let name = engine(db);
        scene(db).await;
        let clock = clock();
        let messages_before = db.count("messages").await;

        let report = erase_person(db, &clock, "ana.quixley@example.org", ErasureStrategy::Delete, &settings())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let c = &report.certificate;
        assert!(c.all_zero(), "{name}: {:#?}", c.checks);
        assert!(c.checks.len() >= 10, "{name}");
        assert!(c.checks.iter().any(|k| k.query == "SELECT count(*) FROM messages WHERE sender_id = $1"), "{name}");
        assert_eq!(c.rows["deleted"]["messages"], 5, "{name}");
        assert_eq!(c.rows["deleted"]["message_reads"], 3, "{name}");
        assert_eq!(c.rows["deleted"]["reads_of_their_messages"], 2, "{name}: m-1 and m-3 read by Ben");
        assert_eq!(c.rows["deleted"]["replies_unlinked"], 5, "{name}: m-2, m-11, m-5, m-10 and the bot answered her");
        assert_eq!(c.rows["deleted"]["conversations_deleted"], 1, "{name}: the bot conversation had only her");
        assert_eq!(c.rows["deleted"]["messages_of_emptied_conversations"], 1, "{name}: the bot's reply");
        match name {
            "sqlite" => {
                assert!(c.residue.secure_delete.contains("secure_delete = ON"), "{name}: {:?}", c.residue);
                assert!(c.residue.wal_checkpoint.as_deref().unwrap().contains("emptied"), "{name}: {:?}", c.residue);
            }
            _ => {
                assert!(c.residue.secure_delete.contains("VACUUM"), "{name}: {:?}", c.residue);
                assert!(!c.residue.secure_delete.contains("zeros"), "{name}: no promise PostgreSQL does not keep");
                assert!(c.residue.wal_checkpoint.as_deref().unwrap().contains("recycled"), "{name}: {:?}", c.residue);
            }
        }
        assert_eq!(report.request.status, RequestStatus::Done, "{name}");
        assert!(report.request.subject.starts_with("erased person (ledger #"), "{name}: {}", report.request.subject);
        let saved = gdpr::show_request(db.store(), report.request.id).await.unwrap();
        assert_eq!(
            saved.certificate.as_ref().unwrap()["checks"].as_array().unwrap().len(),
            c.checks.len(),
            "{name}: the certificate is kept with the request"
        );
        assert_eq!(db.count("messages").await, messages_before - 6, "{name}: her 5 and the bot's reply");
        assert_eq!(number(db, "SELECT count(*) FROM conversations WHERE external_id = 'c-bot'").await, 0, "{name}");
        assert_eq!(
            number(db, "SELECT count(*) FROM messages WHERE reply_to_id IS NOT NULL").await,
            0,
            "{name}: every reply pointed at her"
        );
        assert_eq!(
            number(db, "SELECT count(*) FROM erasure_ledger WHERE length(subject_key) = 64").await,
            1,
            "{name}: a keyed hash"
        );
        assert_eq!(
            traces(db, &["Quixley", "quixley", "u-ana", "1234567", "Anatolia"]).await,
            Vec::<String>::new(),
            "{name}: nothing names them any more"
        );
        certificates.push(comparable(c));

        // Ben anonymized with his bodies redacted.
        let redact = GdprSettings { anonymize_bodies: BodyMode::Redact, ..settings() };
        let report = erase_person(db, &clock, "ext:u-ben", ErasureStrategy::Anonymize, &redact).await.unwrap();
        let c = &report.certificate;
        assert!(c.all_zero(), "{name}: {:#?}", c.checks);
        assert!(c.checks.iter().any(|k| k.what == "their message bodies not redacted"), "{name}");
        let pseudonym = c.pseudonym.clone().unwrap();
        let bens = (5 + BULK_CONVERSATIONS * BULK_MESSAGES / 2) as i64;
        assert_eq!(c.rows["bodies_redacted"], bens, "{name}");
        assert_eq!(
            number(
                db,
                &format!(
                    "SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id
                     WHERE u.external_id = '{pseudonym}' AND m.body = '[redacted]'"
                )
            )
            .await,
            bens,
            "{name}: his messages stay, pseudonymous and redacted"
        );
        assert_eq!(
            text(db, &format!("SELECT display_name FROM users WHERE external_id = '{pseudonym}'")).await.as_deref(),
            Some(pseudonym.as_str()),
            "{name}"
        );
        assert_eq!(
            number(
                db,
                "SELECT count(*) FROM users WHERE anonymized_at IS NOT NULL AND email IS NULL AND phone IS NULL"
            )
            .await,
            1,
            "{name}"
        );
        assert_eq!(
            traces(db, &["Zorander", "zorander", "u-ben", "7946"]).await,
            Vec::<String>::new(),
            "{name}: nothing names them any more"
        );
        certificates.push(comparable(c));

        // Zoë anonymized with her bodies kept (nothing to scrub in them).
        let report = erase_person(db, &clock, "u-zoe", ErasureStrategy::Anonymize, &settings()).await.unwrap();
        let c = &report.certificate;
        assert!(c.all_zero(), "{name}: {:#?}", c.checks);
        assert_eq!(c.scrubbed.unwrap().messages, 0, "{name}");
        assert_eq!(
            text(db, "SELECT body FROM messages WHERE external_id = 'm-5'").await.as_deref(),
            Some("Größe, Ελληνικά, Кириллица, العربية, 中文, 日本語"),
            "{name}: kept"
        );
        assert_eq!(traces(db, &["Zoë", "u-zoe"]).await, Vec::<String>::new(), "{name}: nothing names them any more");
        certificates.push(comparable(c));
        assert!(audit::verify(db.store()).await.unwrap().is_intact(), "{name}");
    }
    if certificates.len() == 6 {
        for (n, (sqlite, postgres)) in certificates[..3].iter().zip(&certificates[3..]).enumerate() {
            assert_eq!(sqlite, postgres, "certificate {n}: the same rows, counts and checks on both engines");
        }
    }
}

#[tokio::test]
async fn a_legal_hold_blocks_erasure_the_same_way_on_both_engines() {
    let dbs = engines("gdpr_holds").await;
    let mut messages = Vec::new();
    for db in &dbs {
        let name = engine(db);
        scene(db).await;
        let clock = clock();
        let store = db.store();
        let hold = chatkeep_core::ops::hold::place_hold(
            store,
            HoldTarget::User("u-ana".into()),
            "case 114",
            Actor::Cli,
            &clock,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let first =
            erase_person(db, &clock, "u-ana", ErasureStrategy::Delete, &settings()).await.unwrap_err().to_string();
        assert!(first.contains(&format!("hold #{} on user \"u-ana\" (case 114)", hold.id)), "{name}: {first}");
        assert_eq!(db.count("dsr_requests").await, 0, "{name}: nothing was recorded");
        assert_eq!(db.count("erasure_ledger").await, 0, "{name}");
        chatkeep_core::ops::hold::release_hold(store, hold.id, Some("closed"), Actor::Cli, &clock).await.unwrap();

        // A hold on another participant of her conversations, and the chat service's own flag.
        chatkeep_core::ops::hold::place_hold(store, HoldTarget::User("u-zoe".into()), "case 115", Actor::Cli, &clock)
            .await
            .unwrap();
        let second = erase_person(db, &clock, "u-twin-1", ErasureStrategy::Anonymize, &settings())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            second.contains("conversation \"c-group\" (held through participant \"u-zoe\": case 115)"),
            "{name}: {second}"
        );
        exec(db, "UPDATE conversations SET legal_hold = true WHERE external_id = 'c-old'").await;
        let third =
            erase_person(db, &clock, "u-twin-2", ErasureStrategy::Delete, &settings()).await.unwrap_err().to_string();
        assert!(third.contains("conversation \"c-old\" (marked legal_hold by the chat service)"), "{name}: {third}");
        let blockers = gdpr::find_subject(store, "u-ben").await.unwrap().blockers;
        let what: Vec<&str> = blockers.iter().map(|b| b.what.as_str()).collect();
        assert_eq!(
            what,
            ["conversation \"c-group\"", "conversation \"c-old\""],
            "{name}: held through Zoë, and flagged; by conversation id"
        );
        assert_eq!(db.count("dsr_requests").await, 0, "{name}");
        messages.push((first, second, third, format!("{blockers:?}")));
    }
    if let [sqlite, postgres] = messages.as_slice() {
        assert_eq!(sqlite, postgres, "the same refusals on both engines");
    }
}

#[tokio::test]
async fn request_deadlines_extensions_and_rejections_read_the_same_on_both_engines() {
    let dbs = engines("gdpr_deadlines").await;
    let mut seen = Vec::new();
    for db in &dbs {
        let name = engine(db);
        scene(db).await;
        let store = db.store();
        let clock = clock();
        clock.set(at(2027, 2, 10, 12, 0, 0));
        let s = settings();
        let new = |subject: &'static str, received: &'static str| NewRequestInput {
            kind: RequestKind::Access,
            subject,
            received: Some(received),
            notes: Some("by post"),
        };
        let ana = gdpr::new_request(store, &new("u-ana", "2027-01-31"), &s, Tz::UTC, Actor::Cli, &clock)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(ana.due_at, "2027-02-28T23:59:59.999Z", "{name}: 31 January is due on the last day of February");
        assert_eq!(ana.received_at, "2027-01-31T00:00:00.000Z", "{name}");
        assert_eq!((ana.status, ana.matched_by.as_deref()), (RequestStatus::Open, Some("external_id")), "{name}");
        let ben =
            gdpr::new_request(store, &new("ben.zorander@example.org", "2027-02-05"), &s, BERLIN, Actor::Cli, &clock)
                .await
                .unwrap();
        assert_eq!(ben.due_at, "2027-03-05T22:59:59.999Z", "{name}: local midnight in Berlin");

        clock.set(at(2027, 2, 22, 9, 0, 0));
        let due = gdpr::requests_due(store, at(2027, 2, 22, 9, 0, 0), 7).await.unwrap();
        assert_eq!(due.iter().map(|d| (d.id, d.overdue)).collect::<Vec<_>>(), [(ana.id, false)], "{name}");
        let overdue = gdpr::requests_due(store, at(2027, 3, 6, 0, 0, 0), 7).await.unwrap();
        assert_eq!(
            overdue.iter().map(|d| (d.id, d.overdue)).collect::<Vec<_>>(),
            [(ana.id, true), (ben.id, true)],
            "{name}"
        );

        let extended =
            gdpr::extend_request(store, ana.id, 2, "complex request", &s, Tz::UTC, Actor::Cli, &clock).await.unwrap();
        assert_eq!(extended.due_at, "2027-04-30T23:59:59.999Z", "{name}");
        assert_eq!(extended.extended_at.as_deref(), Some("2027-02-22T09:00:00.000Z"), "{name}");
        let err = gdpr::extend_request(store, ana.id, 1, "more", &s, Tz::UTC, Actor::Cli, &clock).await.unwrap_err();
        assert!(err.to_string().contains("two further months"), "{name}: {err}");
        let started = gdpr::start_request(store, ana.id, Actor::Cli, &clock).await.unwrap();
        assert_eq!(started.status, RequestStatus::InProgress, "{name}");
        let rejected = gdpr::reject_request(store, ana.id, "identity not confirmed", Actor::Cli, &clock).await.unwrap();
        assert_eq!(rejected.status, RequestStatus::Rejected, "{name}");
        assert_eq!(rejected.completed_at.as_deref(), Some("2027-02-22T09:00:00.000Z"), "{name}");
        let err = gdpr::reject_request(store, ana.id, "again", Actor::Cli, &clock).await.unwrap_err();
        assert!(err.to_string().contains("already rejected"), "{name}: {err}");
        let pending = gdpr::list_requests(store, false).await.unwrap();
        assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [ben.id], "{name}");
        let all = gdpr::list_requests(store, true).await.unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [ben.id, ana.id], "{name}: soonest due first");
        assert!(gdpr::requests_due(store, at(2027, 6, 1, 0, 0, 0), 7).await.unwrap().iter().all(|d| d.id != ana.id));
        assert!(audit::verify(store).await.unwrap().is_intact(), "{name}");
        seen.push(all);
    }
    if let [sqlite, postgres] = seen.as_slice() {
        assert_eq!(sqlite, postgres, "the same requests, field for field");
    }
}

#[tokio::test]
async fn a_ledger_replay_erases_returned_people_again_and_folds_a_returned_row_into_its_pseudonym() {
    let dbs = engines("gdpr_replay").await;
    let mut outcomes = Vec::new();
    for db in &dbs {
        let name = engine(db);
        scene(db).await;
        let clock = clock();
        erase_person(db, &clock, "u-ana", ErasureStrategy::Delete, &settings()).await.unwrap();
        let redact = GdprSettings { anonymize_bodies: BodyMode::Redact, ..settings() };
        let ben = erase_person(db, &clock, "u-ben", ErasureStrategy::Anonymize, &redact).await.unwrap();
        let pseudonym = ben.certificate.pseudonym.unwrap();

        // A restore brings both back, as they were, with a message each and a hold on Ana.
        exec(
            db,
            &format!(
                "INSERT INTO users (external_id, display_name, email, phone, created_at) VALUES
                   ('u-ana', 'Anatolia Quixley', 'Ana.Quixley@Example.org', '+49 30 1234567', '2026-01-05T09:00:00.000Z'),
                   ('u-ben', 'Benedikt Zorander', 'ben.zorander@example.org', NULL, '2026-02-01T09:00:00.000Z');
                 INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES
                   ({CONVERSATION}'c-group'), {USER}'u-ana'), 'member', '2026-10-02T08:30:00.000Z'),
                   ({CONVERSATION}'c-group'), {USER}'u-ben'), 'admin', '2026-10-02T08:00:00.000Z'),
                   ({CONVERSATION}'c-direct'), {USER}'u-ben'), 'member', '2026-10-01T08:00:00.000Z');
                 INSERT INTO messages (external_id, conversation_id, sender_id, role, body, created_at) VALUES
                   ('m-back-ana', {CONVERSATION}'c-group'), {USER}'u-ana'), 'user', 'Quixley is back', '2026-10-06T00:00:00.000Z'),
                   ('m-back-ben', {CONVERSATION}'c-direct'), {USER}'u-ben'), 'user', 'Zorander is back', '2026-10-06T00:01:00.000Z');
                 INSERT INTO message_reads (message_id, user_id, read_at) VALUES
                   ({MESSAGE}'m-back-ana'), {USER}'u-ben'), '2026-10-06T00:02:00.000Z'),
                   ({MESSAGE}'m-4'), {USER}'u-ben'), '2026-10-06T00:03:00.000Z');
                 INSERT INTO legal_holds (target_kind, target_external_id, user_id, reason, placed_by, created_at)
                   VALUES ('user', 'u-ana', {USER}'u-ana'), 'case 9', 'cli', '2026-10-07T00:00:00.000Z');"
            ),
        )
        .await;
        let ledger = gdpr::load_ledger(db.store(), &clock).await.unwrap();
        assert_eq!(ledger.entries.len(), 2, "{name}");
        let (people, rows) = gdpr::reapply_erasure_ledger(db.store(), &ledger, 0, Actor::Cli, &clock)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(people, 2, "{name}: both erased again");
        assert_eq!(number(db, "SELECT count(*) FROM users WHERE external_id IN ('u-ana', 'u-ben')").await, 0, "{name}");
        assert_eq!(
            text(
                db,
                "SELECT u.external_id FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.external_id = 'm-back-ben'"
            )
            .await
            .as_deref(),
            Some(pseudonym.as_str()),
            "{name}: his returned message belongs to his pseudonym"
        );
        assert_eq!(
            text(db, "SELECT body FROM messages WHERE external_id = 'm-back-ben'").await.as_deref(),
            Some("[redacted]"),
            "{name}"
        );
        assert_eq!(
            number(
                db,
                &format!(
                    "SELECT count(*) FROM message_reads r JOIN users u ON u.id = r.user_id WHERE u.external_id = '{pseudonym}'"
                )
            )
            .await,
            // His reads of the bulk conversations, and his returned read of m-4 (the one of
            // m-back-ana went with Ana).
            (BULK_CONVERSATIONS * BULK_MESSAGES / 2 + 1) as i64,
            "{name}"
        );
        assert_eq!(number(db, "SELECT count(*) FROM messages WHERE external_id = 'm-back-ana'").await, 0, "{name}");
        assert_eq!(
            number(db, "SELECT count(*) FROM legal_holds WHERE released_at IS NOT NULL AND target_external_id LIKE 'erased person%'")
                .await,
            1,
            "{name}: her hold released and no longer naming her"
        );
        assert_eq!(
            traces(db, &["Quixley", "u-ana", "Zorander", "u-ben"]).await,
            Vec::<String>::new(),
            "{name}: nothing names them any more"
        );
        // A second replay finds nobody.
        let ledger = gdpr::load_ledger(db.store(), &clock).await.unwrap();
        let again = gdpr::reapply_erasure_ledger(db.store(), &ledger, 0, Actor::Cli, &clock).await.unwrap();
        assert_eq!(again.0, 0, "{name}");
        // New ledger entries are numbered after the copied ones.
        erase_person(db, &clock, "u-zoe", ErasureStrategy::Delete, &settings()).await.unwrap();
        assert_eq!(number(db, "SELECT max(id) FROM erasure_ledger").await, 3, "{name}");
        assert!(audit::verify(db.store()).await.unwrap().is_intact(), "{name}");
        outcomes.push((people, rows));
    }
    if let [sqlite, postgres] = outcomes.as_slice() {
        assert_eq!(sqlite, postgres, "the same people and rows erased again on both engines");
    }
}

#[tokio::test]
async fn the_erasure_certificate_says_what_survives_outside_the_live_database_on_both_engines() {
    use chatkeep_core::ops::backup::{Backups, parse_month};
    for db in engines("gdpr_survives").await {
        let name = engine(&db);
        scene(&db).await;
        let clock = clock();
        let dir = tempfile::tempdir().unwrap();
        // Ben quotes Ana's address (in other letters' case) and number; Zoë quotes Ben's.
        exec(
            &db,
            &format!(
                "INSERT INTO messages (external_id, conversation_id, sender_id, role, body, tokens_used, created_at) VALUES
                   ('m-quote-ana', {c}'c-direct'), {u}'u-ben'), 'user', 'Ana: ANA.QUIXLEY@example.org, +49 30 1234567', 0,
                    '2026-10-06T00:00:00.000Z'),
                   ('m-quote-ben', {c}'c-group'), {u}'u-zoe'), 'user', 'Ben is ben.zorander@example.org', 0,
                    '2026-10-06T00:00:01.000Z')",
                c = CONVERSATION,
                u = USER
            ),
        )
        .await;
        // A backup and an export made before the erasures.
        let backup_settings = common::backup_settings(dir.path());
        let b = Backups {
            store: db.store(),
            settings: &backup_settings,
            tz: Tz::UTC,
            clock: &clock,
            passphrase: None,
            events: &chatkeep_core::events::NoEvents,
        };
        let archive =
            b.archive(parse_month("2026-10").unwrap(), true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
        run_export(&db, &export_request("csv", "2026-10-01", "2026-10-31"), dir.path(), "before.csv").await;

        // By default other people's messages are counted, not changed.
        let report = erase_person(&db, &clock, "ana.quixley@example.org", ErasureStrategy::Delete, &settings())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let s = &report.certificate.survives;
        assert_eq!((s.mentions, s.mentions_scrubbed), (1, 0), "{name}: Ben's message quotes her: {s:?}");
        assert_eq!(s.backups.len(), 1, "{name}: {s:?}");
        assert_eq!((s.backups[0].id, s.backups[0].kept_until.as_str()), (archive.id, "2028-10-31"), "{name}");
        assert!(s.exports.iter().any(|e| e.what == "export.file" && e.path.contains("before.csv")), "{name}: {s:?}");
        assert!(
            text(&db, "SELECT body FROM messages WHERE external_id = 'm-quote-ana'").await.unwrap().contains("QUIXLEY"),
            "{name}: kept as written"
        );

        // With gdpr.scrub_mentions the quotes go too, and a check proves it.
        let scrub = GdprSettings { scrub_mentions: true, ..settings() };
        let report = erase_person(&db, &clock, "ben.zorander@example.org", ErasureStrategy::Delete, &scrub)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let c = &report.certificate;
        assert_eq!((c.survives.mentions, c.survives.mentions_scrubbed), (1, 1), "{name}: {:?}", c.survives);
        assert!(c.all_zero(), "{name}: {:#?}", c.checks);
        assert!(c.checks.iter().any(|k| k.what.contains("other people's messages still quoting")), "{name}");
        assert_eq!(
            text(&db, "SELECT body FROM messages WHERE external_id = 'm-quote-ben'").await.as_deref(),
            Some("Ben is [erased]"),
            "{name}"
        );
    }
}
