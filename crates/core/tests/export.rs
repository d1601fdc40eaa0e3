#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Exports read back by independent readers: Python's `csv` module, `jq`, and
//! chatkeep's own import on a fresh database (the round trip).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chatkeep_core::config::ExportSettings;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::export::{ExportRequest, export, plan};
use chatkeep_core::ops::import::import_jsonl;
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::sqlx;
use chatkeep_core::{Error, Store, audit};
use chrono_tz::Tz;
use common::{TestDb, clock};
use serde_json::json;

const BERLIN: Tz = chrono_tz::Europe::Berlin;

fn settings() -> ExportSettings {
    ExportSettings { max_range_days: 400 }
}

/// Bodies that break naive writers.
const TRICKY: &[&str] = &[
    "plain",
    "comma, inside",
    "a \"quoted\" word",
    "two\nlines",
    "windows\r\nline end",
    "  spaces around  ",
    "Größe, Ελληνικά, Кириллица, العربية, 中文, 日本語, 🚀",
    "",
    "trailing quote\"",
];

async fn load(db: &TestDb, records: &[serde_json::Value]) {
    let path = db.dir.path().join("load.jsonl");
    let text: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    import_jsonl(&db.store, &path, Actor::Cli, &clock(), &NoProgress).await.unwrap();
}

/// Messages at the edges of local days in Berlin, around the autumn DST change (2026-10-25, 25 hours long).
async fn scene(db: &TestDb) {
    let mut records = vec![
        json!({"type": "user", "id": "ana", "display_name": "Ana, \"the admin\"", "created_at": "2026-01-01T00:00:00Z"}),
        json!({"type": "user", "id": "ben", "created_at": "2026-01-01T00:00:00Z"}),
        json!({"type": "conversation", "id": "c-edges", "kind": "group", "title": "Edges, and \"quotes\"",
               "created_at": "2026-10-01T00:00:00Z"}),
        json!({"type": "participant", "conversation": "c-edges", "user": "ana", "joined_at": "2026-10-01T00:00:00Z"}),
        json!({"type": "participant", "conversation": "c-edges", "user": "ben", "joined_at": "2026-10-01T00:00:00Z"}),
        json!({"type": "conversation", "id": "c-bot", "kind": "bot", "created_at": "2026-10-01T00:00:00Z"}),
        json!({"type": "participant", "conversation": "c-bot", "user": "ben", "joined_at": "2026-10-01T00:00:00Z"}),
    ];
    // Local 2026-10-24 23:59:59 CEST = 21:59:59Z; 10-25 00:00:00 CEST = 10-24 22:00:00Z;
    // 10-25 23:59:59 CET = 22:59:59Z; 10-26 00:00:00 CET = 10-25 23:00:00Z.
    let edges = [
        ("m-before", "2026-10-24T21:59:59Z"),
        ("m-first", "2026-10-24T22:00:00Z"),
        ("m-last", "2026-10-25T22:59:59Z"),
        ("m-after", "2026-10-25T23:00:00Z"),
    ];
    for (id, at) in edges {
        records.push(json!({"type": "message", "id": id, "conversation": "c-edges", "sender": "ana", "role": "user",
                            "body": id, "created_at": at}));
    }
    for (n, body) in TRICKY.iter().enumerate() {
        records.push(json!({"type": "message", "id": format!("m-tricky-{n}"), "conversation": "c-edges",
                            "sender": "ben", "role": "user", "body": body, "tokens_used": n,
                            "reply_to": if n > 0 { Some("m-first") } else { None },
                            "created_at": format!("2026-10-25T10:00:{n:02}Z")}));
        records.push(json!({"type": "read", "message": format!("m-tricky-{n}"), "user": "ana",
                            "read_at": format!("2026-10-25T11:00:{n:02}Z")}));
    }
    records.push(json!({"type": "message", "id": "m-bot", "conversation": "c-bot", "sender": "ben", "role": "user",
                        "body": "hello bot", "created_at": "2026-10-25T12:00:00Z"}));
    load(db, &records).await;
}

fn request(db: &TestDb, format: &str, from: &str, to: &str) -> ExportRequest {
    ExportRequest {
        from: from.into(),
        to: to.into(),
        format: format.into(),
        include_messages: true,
        out: Some(db.dir.path().to_path_buf()),
        ..ExportRequest::default()
    }
}

async fn run(db: &TestDb, request: &ExportRequest) -> PathBuf {
    let plan = plan(&db.store, request, BERLIN, &settings()).await.unwrap();
    let report = export(&db.store, &plan, BERLIN, Actor::Cli, &clock(), &NoProgress, &Cancel::new()).await.unwrap();
    assert!(!report.cancelled);
    report.path
}

fn python(script: &str, file: &Path) -> String {
    let out =
        Command::new("python3").arg("-c").arg(script).arg(file).output().expect("python3 is needed to read CSV back");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn csv_reads_back_in_python_with_every_tricky_body_intact_and_day_edges_right() {
    let db = TestDb::new().await;
    scene(&db).await;
    let path = run(&db, &request(&db, "csv", "2026-10-25", "2026-10-25")).await;
    assert_eq!(path.file_name().unwrap(), "chat-export_2026-10-25_2026-10-25.csv");
    let parsed = python(
        "import csv, json, sys\n\
         rows = list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')))\n\
         print(json.dumps(rows))",
        &path,
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&parsed).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["message_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"m-first") && ids.contains(&"m-last"), "the local day's first and last second: {ids:?}");
    assert!(!ids.contains(&"m-before") && !ids.contains(&"m-after"), "the neighbours' edges stay out: {ids:?}");
    for (n, body) in TRICKY.iter().enumerate() {
        let row = rows.iter().find(|r| r["message_id"] == format!("m-tricky-{n}")).unwrap();
        assert_eq!(row["body"], *body, "body {n} survives the round trip through Python's csv module");
    }
    let first = rows.iter().find(|r| r["message_id"] == "m-first").unwrap();
    assert_eq!(first["created_at_local"], "2026-10-25 00:00:00");
    assert_eq!(first["conversation_title"], "Edges, and \"quotes\"");
    assert_eq!(first["sender_name"], "Ana, \"the admin\"");
    // Ordered by conversation, then time.
    let edges: Vec<&str> =
        rows.iter().filter(|r| r["conversation_id"] == "c-edges").map(|r| r["created_at"].as_str().unwrap()).collect();
    let mut sorted = edges.clone();
    sorted.sort();
    assert_eq!(edges, sorted);

    // With a BOM for spreadsheets, and one row per conversation without bodies.
    let mut with_bom = request(&db, "csv", "2026-10-25", "2026-10-25");
    with_bom.bom = true;
    with_bom.include_messages = false;
    with_bom.out = Some(db.dir.path().join("conversations.csv"));
    let path = run(&db, &with_bom).await;
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let parsed = python(
        "import csv, json, sys\n\
         print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8-sig')))))",
        &path,
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&parsed).unwrap();
    assert_eq!(rows.len(), 2);
    let edges = rows.iter().find(|r| r["conversation_id"] == "c-edges").unwrap();
    assert_eq!(edges["messages"], (TRICKY.len() + 2).to_string());
    assert_eq!(edges["participants"], "ana ben");
}

#[tokio::test]
async fn json_is_one_document_jq_reads_with_metadata_and_nested_messages() {
    let db = TestDb::new().await;
    scene(&db).await;
    let mut req = request(&db, "json", "2026-10-25", "2026-10-25");
    req.kinds = vec!["group".into()];
    let path = run(&db, &req).await;
    let jq = |filter: &str| {
        let out = Command::new("jq").arg("-c").arg(filter).arg(&path).output().expect("jq is needed to read JSON back");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(jq(".export.counts"), format!("{{\"conversations\":1,\"messages\":{}}}", TRICKY.len() + 2));
    assert_eq!(jq(".export.timezone"), "\"Europe/Berlin\"");
    assert_eq!(jq("[.conversations[].id]"), "[\"c-edges\"]", "the bot conversation is filtered out by kind");
    assert_eq!(jq(".conversations[0].messages | length"), (TRICKY.len() + 2).to_string());
    assert_eq!(jq(".conversations[0].messages[] | select(.id == \"m-tricky-4\") | .body"), "\"windows\\r\\nline end\"");
}

/// (id, conversation, sender, role, body, tokens, reply_to, created_at)
type MessageRow = (String, String, Option<String>, String, Option<String>, i64, Option<String>, String);

#[tokio::test]
async fn jsonl_imports_into_a_fresh_database_exactly() {
    let db = TestDb::new().await;
    scene(&db).await;
    let path = run(&db, &request(&db, "jsonl", "2026-01-01", "2026-12-31")).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        Store::open(&chatkeep_core::config::DatabaseUrl::Sqlite(other_dir.path().join("other.db"))).await.unwrap();
    import_jsonl(&other, &path, Actor::Cli, &clock(), &NoProgress).await.unwrap();
    let dump = |path: PathBuf| async move {
        let mut conn = common::raw_connection(&path).await;
        let messages: Vec<MessageRow> =
            sqlx::query_as(
                "SELECT m.external_id, c.external_id, s.external_id, m.role, m.body, m.tokens_used, r.external_id, m.created_at
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                 LEFT JOIN users s ON s.id = m.sender_id LEFT JOIN messages r ON r.id = m.reply_to_id
                 ORDER BY m.external_id",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let reads: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.external_id, u.external_id, r.read_at FROM message_reads r
             JOIN messages m ON m.id = r.message_id JOIN users u ON u.id = r.user_id ORDER BY 1, 2",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let people: Vec<(String, Option<String>, String)> =
            sqlx::query_as("SELECT external_id, display_name, created_at FROM users ORDER BY 1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let rooms: Vec<(String, Option<String>, String, String)> =
            sqlx::query_as("SELECT external_id, title, kind, created_at FROM conversations ORDER BY 1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        (messages, reads, people, rooms)
    };
    let original = dump(db.path.clone()).await;
    let copy = dump(other_dir.path().join("other.db")).await;
    assert_eq!(original.0.len(), 4 + TRICKY.len() + 1);
    assert_eq!(original, copy, "export then import gives back the same rows");
    other.close().await;
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_file_exists_and_cancel_leaves_nothing() {
    let db = TestDb::new().await;
    scene(&db).await;
    let cases: Vec<(ExportRequest, &str)> = vec![
        (request(&db, "csv", "2026-10-25", "2026-10-24"), "not after --from"),
        (request(&db, "csv", "2025-01-01", "2026-10-24"), "more than export.max_range_days"),
        (request(&db, "xlsx", "2026-10-25", "2026-10-25"), "csv, json, jsonl or pdf"),
        (request(&db, "csv", "25.10.2026", "2026-10-25"), "--from"),
        (
            ExportRequest { conversations: vec!["c-404".into()], ..request(&db, "csv", "2026-10-25", "2026-10-25") },
            "c-404",
        ),
        (
            ExportRequest { participant: Some("u-404".into()), ..request(&db, "csv", "2026-10-25", "2026-10-25") },
            "u-404",
        ),
        (ExportRequest { kinds: vec!["room".into()], ..request(&db, "csv", "2026-10-25", "2026-10-25") }, "room"),
        (
            ExportRequest {
                out: Some(db.dir.path().join("no/such/dir/x.csv")),
                ..request(&db, "csv", "2026-10-25", "2026-10-25")
            },
            "does not exist",
        ),
    ];
    for (req, expected) in cases {
        let err = plan(&db.store, &req, BERLIN, &settings()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_) | Error::NotFound(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "expected {expected:?} in: {err}");
    }
    let files = || {
        std::fs::read_dir(db.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().to_string_lossy().contains("export"))
            .count()
    };
    assert_eq!(files(), 0, "no file for refused requests");

    // A PDF has written its header (and may have written pages) by the time the cancel is seen.
    for format in ["pdf", "csv"] {
        let plan =
            plan(&db.store, &request(&db, format, "2026-10-25", "2026-10-25"), BERLIN, &settings()).await.unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        let report = export(&db.store, &plan, BERLIN, Actor::Cli, &clock(), &NoProgress, &cancel).await.unwrap();
        assert!(report.cancelled, "the {format} export reports the cancel");
        assert_eq!(files(), 0, "a cancelled {format} export removes its partial file");
    }
    let plan = plan(&db.store, &request(&db, "csv", "2026-10-25", "2026-10-25"), BERLIN, &settings()).await.unwrap();

    // A finished export is audited with its checksum.
    let report = export(&db.store, &plan, BERLIN, Actor::Cli, &clock(), &NoProgress, &Cancel::new()).await.unwrap();
    let details: String = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'export.file'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert!(details.contains(&report.sha256) && details.contains("2026-10-24T22:00:00.000Z"), "{details}");
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn a_pdf_gives_every_script_back_to_pdftotext_and_nothing_runs_off_the_page() {
    let db = TestDb::new().await;
    scene(&db).await;
    let words = ["Größe", "Ελληνικά", "Кириллица", "العربية", "中文", "日本語"];
    let long_body = format!("{} Schlusswort", "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(120));
    let unbroken = "x".repeat(400);
    load(
        &db,
        &[
            json!({"type": "message", "id": "m-long", "conversation": "c-edges", "sender": "ana", "role": "user",
                   "body": long_body, "created_at": "2026-10-25T15:00:00Z"}),
            json!({"type": "message", "id": "m-unbroken", "conversation": "c-edges", "sender": "ana", "role": "user",
                   "body": unbroken, "created_at": "2026-10-25T15:01:00Z"}),
        ],
    )
    .await;
    let path = run(&db, &request(&db, "pdf", "2026-10-25", "2026-10-25")).await;
    let tool = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} is needed: {e}"));
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    tool("qpdf", &["--check", path.to_str().unwrap()]);
    let text = tool("pdftotext", &[path.to_str().unwrap(), "-"]);
    for word in words {
        assert!(text.contains(word), "pdftotext should find {word:?}");
    }
    assert!(text.contains("Chat export") && text.contains("Europe/Berlin"), "the cover page");
    assert!(text.contains("Edges, and \"quotes\""), "the conversation's title");
    assert!(text.contains("Schlusswort"), "a very long body is there to its last word");
    let pages: usize = tool("pdfinfo", &[path.to_str().unwrap()])
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .unwrap();
    assert!(pages >= 3, "the long body splits across pages ({pages} pages)");
    let squeezed = text.replace(' ', "");
    assert!(squeezed.contains(&format!("1/{pages}")) && squeezed.contains(&format!("{pages}/{pages}")), "page numbers");

    // Every word's box lies inside the page's right margin.
    let boxes = tool("pdftotext", &["-bbox", path.to_str().unwrap(), "-"]);
    let right_edge = 595.28 - 51.0 + 1.0;
    for line in boxes.lines().filter(|l| l.contains("<word")) {
        let x_max: f32 = line.split("xMax=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!(x_max <= right_edge, "a word runs off the page: {line}");
    }
}

#[tokio::test]
async fn a_pdf_of_thousands_of_messages_is_written_page_by_page_into_a_file_qpdf_accepts() {
    let db = TestDb::new().await;
    let conversations = 30;
    let per_conversation = 100;
    let mut records = vec![json!({"type": "user", "id": "ana", "created_at": "2026-01-01T00:00:00Z"})];
    for c in 0..conversations {
        records.push(json!({"type": "conversation", "id": format!("c-{c}"), "kind": "group",
                            "title": format!("Thread {c}"), "created_at": "2026-10-01T00:00:00Z"}));
        records.push(json!({"type": "participant", "conversation": format!("c-{c}"), "user": "ana",
                            "joined_at": "2026-10-01T00:00:00Z"}));
        for m in 0..per_conversation {
            let body = format!("Nachricht {c}-{m}: Größe Ελληνικά Кириллица 中文 {}", "lorem ipsum ".repeat(m % 20));
            records.push(json!({"type": "message", "id": format!("m-{c}-{m}"), "conversation": format!("c-{c}"),
                                "sender": "ana", "role": "user", "body": body,
                                "created_at": format!("2026-10-25T{:02}:{:02}:00Z", m / 60, m % 60)}));
        }
    }
    load(&db, &records).await;
    let path = run(&db, &request(&db, "pdf", "2026-10-25", "2026-10-25")).await;
    let tool = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} is needed: {e}"));
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let file = path.to_str().unwrap();
    let check = tool("qpdf", &["--check", file]);
    assert!(check.contains("No syntax or stream encoding errors"), "qpdf finds the file sound: {check}");
    let pages: usize = tool("pdfinfo", &[file])
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .unwrap();
    assert!(pages >= 100, "3,000 messages fill over a hundred pages ({pages})");
    let last = tool("pdftotext", &["-f", &pages.to_string(), "-l", &pages.to_string(), file, "-"]);
    assert!(last.replace(' ', "").contains(&format!("{pages}/{pages}")), "the last page is numbered: {last}");
    assert!(last.contains("Nachricht 29-99"), "the last message is on the last page");
    let middle = pages / 2;
    let text = tool("pdftotext", &["-f", &middle.to_string(), "-l", &middle.to_string(), file, "-"]);
    assert!(text.replace(' ', "").contains(&format!("{middle}/{pages}")), "a middle page carries the total: {text}");
    assert!(text.contains("Кириллица") && text.contains("中文"), "every font is used on every page");
}
