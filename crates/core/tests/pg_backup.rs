#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Backups on a real PostgreSQL server: `pg_dump` snapshots verified and restored into new
//! databases, monthly archives that move between SQLite and PostgreSQL, a clear error when
//! the client tools are missing or too old, and the scheduler's leases held across processes.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chatkeep_core::config::{BackupSettings, DatabaseUrl};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::backup::{Backups, parse_month};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::jobs::{NewRun, PassedSlots};
use chatkeep_core::{FixedClock, Store};
use chrono::Duration;
use chrono_tz::Tz;
use common::{AnyDb, PgDb, TestDb, at, backup_settings as settings, clock};

fn backups<'a>(store: &'a Store, settings: &'a BackupSettings, clock: &'a FixedClock) -> Backups<'a> {
    Backups { store, settings, tz: Tz::UTC, clock, passphrase: None, events: &NoEvents }
}

/// Chat data written the way a chat service would, with plain SQL: 40 people, 30
/// conversations, 2,000 messages from August to November 2026 (Unicode, quotes, newlines,
/// empty bodies, replies, JSON context, legal holds) and read receipts.
const SEED: &str = r#"
INSERT INTO users (id, external_id, display_name, email, created_at, last_seen_at)
SELECT g, 'u-' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'Ünïcødé ' || g END, 'user' || g || '@example.com',
       timestamptz '2026-07-01 00:00:00+00' + g * interval '1 hour', timestamptz '2026-11-01 12:00:00.123+00'
FROM generate_series(1, 40) g;
INSERT INTO conversations (id, external_id, title, kind, owner_id, context, retention_policy, legal_hold, created_at)
SELECT g, 'c-' || g, 'Conversation ' || g, (ARRAY['direct', 'group', 'channel', 'bot'])[1 + g % 4], 1 + (g + 7) % 40,
       CASE WHEN g % 3 = 0 THEN jsonb_build_object('topic', 'billing', 'n', g, 'tags', jsonb_build_array('a', 'b')) END,
       CASE WHEN g % 5 = 0 THEN '30d' END, g % 9 = 0,
       timestamptz '2026-07-20 00:00:00+00' + g * interval '1 day'
FROM generate_series(1, 30) g;
INSERT INTO participants (conversation_id, user_id, role, joined_at)
SELECT c, 1 + (c + k * 7) % 40, CASE WHEN k = 1 THEN 'owner' ELSE 'member' END,
       timestamptz '2026-07-20 00:00:00+00' + c * interval '1 day'
FROM generate_series(1, 30) c, generate_series(1, 3) k;
INSERT INTO messages (id, external_id, conversation_id, sender_id, role, kind, body, tokens_used, reply_to_id, pinned, created_at)
SELECT g, 'm-' || g, 1 + g % 30,
       CASE WHEN g % 11 = 0 THEN NULL ELSE 1 + (1 + g % 30 + (1 + g % 3) * 7) % 40 END,
       (ARRAY['user', 'assistant', 'system', 'agent'])[1 + g % 4], 'text',
       CASE WHEN g % 13 = 0 THEN NULL ELSE 'Message ' || g || E' — привет 你好 "quoted"\n\tline' END,
       g % 500, CASE WHEN g > 30 AND g % 10 = 0 THEN g - 30 END, g % 17 = 0,
       timestamptz '2026-08-01 00:00:00+00' + g * interval '72 minutes 0.123 seconds'
FROM generate_series(1, 2000) g;
INSERT INTO message_reads (message_id, user_id, read_at)
SELECT m.id, p.user_id, m.created_at + interval '5 minutes'
FROM messages m JOIN participants p ON p.conversation_id = m.conversation_id
WHERE m.id % 3 = 0 AND p.user_id IS DISTINCT FROM m.sender_id;
UPDATE conversations c SET last_activity_at = (SELECT max(created_at) FROM messages m WHERE m.conversation_id = c.id);
SELECT setval(pg_get_serial_sequence('users', 'id'), 40),
       setval(pg_get_serial_sequence('conversations', 'id'), 30),
       setval(pg_get_serial_sequence('messages', 'id'), 2000);
"#;

/// A migrated PostgreSQL database holding [`SEED`].
async fn seeded_postgres(test: &str) -> Option<(PgDb, Store)> {
    let db = PgDb::new(test).await?;
    let store = Store::open(&db.url).await.unwrap();
    sqlx::raw_sql(SEED).execute(&mut db.raw().await).await.unwrap();
    Some((db, store))
}

/// Rows and an MD5 over every row's text, in a fixed order: equal only when the rows are.
async fn digest(db: &PgDb, table: &str) -> (i64, String) {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t"
    )))
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap()
}

const CHAT_TABLES: [&str; 5] = ["users", "conversations", "participants", "messages", "message_reads"];

fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed to read backups back: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `zstd -d | tar -x` into `into`, with the real tools; returns the manifest.
fn unpack(file: &Path, into: &Path) -> serde_json::Value {
    std::fs::create_dir_all(into).unwrap();
    let plain = into.join("plain.tar");
    run("zstd", &["-q", "-d", "-f", file.to_str().unwrap(), "-o", plain.to_str().unwrap()], into);
    let names = run("tar", &["-tf", "plain.tar"], into);
    assert_eq!(names.lines().next(), Some("manifest.json"), "the manifest comes first");
    run("tar", &["-xf", "plain.tar"], into);
    std::fs::remove_file(&plain).unwrap();
    serde_json::from_str(&std::fs::read_to_string(into.join("manifest.json")).unwrap()).unwrap()
}

fn pg_restore_tool() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter().rev().map(|d| d.join("pg_restore")).find(|p| p.is_file()).unwrap_or_else(|| "pg_restore".into())
}

#[tokio::test]
async fn a_pg_dump_snapshot_verifies_and_restores_into_a_new_database_with_the_same_rows() {
    let Some((db, store)) = seeded_postgres("pg_snapshot").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let clock = clock();
    let b = backups(&store, &settings, &clock);

    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_eq!(row.status, "verified");
    assert!(row.file_name.starts_with("chatkeep-snapshot-") && row.file_name.ends_with(".tar.zst"));
    let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
    assert_eq!(counts["messages"], 2_000, "the catalog records the rows dumped");

    // Anyone with tar, zstd and pg_restore can read it.
    let out = dir.path().join("out");
    let manifest = unpack(&settings.directory.join(&row.file_name), &out);
    assert_eq!(manifest["engine"], "postgres");
    assert!(manifest["dump_tool"].as_str().unwrap().starts_with("pg_dump (PostgreSQL)"), "{manifest}");
    let file = &manifest["files"][0];
    assert_eq!(file["name"], "chatkeep.dump");
    assert_eq!(file["rows"]["messages"], 2_000);
    assert_eq!(file["rows"]["users"], 40);
    assert!(file["checksums"]["messages"].is_string(), "each table's rows are checksummed: {file}");
    let listing = run(pg_restore_tool().to_str().unwrap(), &["--list", "chatkeep.dump"], &out);
    assert!(listing.contains("TABLE DATA public messages"), "{listing}");

    // Verify restores it into a scratch database, compares, and drops the scratch database.
    let verified = b.verify(row.id, Actor::Cli).await.unwrap();
    assert!(verified.ok, "{:?}", verified.problems);
    assert_eq!(verified.row_counts["messages"], 2_000);
    assert_eq!(verified.row_counts["message_reads"], counts["message_reads"].as_u64().unwrap());
    assert_eq!(own_scratch(&db, "verify").await, 0, "no scratch database is left behind");

    // Restore into a new database: the same rows, table by table, and it takes new rows.
    let target = PgDb::new("pg_snapshot_target").await.unwrap();
    let report = b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(report.to_database.as_deref(), Some(target.url.to_string().as_str()));
    assert_eq!(report.row_counts["messages"], 2_000);
    for table in CHAT_TABLES.into_iter().chain(["erasure_ledger", "legal_holds", "retention_rules", "dsr_requests"]) {
        assert_eq!(digest(&target, table).await, digest(&db, table).await, "{table} restores row for row");
    }
    sqlx::query("INSERT INTO users (external_id, created_at) VALUES ('u-new', now())")
        .execute(&mut target.raw().await)
        .await
        .expect("the restored identity sequences are past the restored ids");
    let restored = Store::open(&target.url).await.expect("the restored database opens as a chatkeep database");
    assert_eq!(restored.applied_migrations().await.unwrap(), store.applied_migrations().await.unwrap());
    restored.close().await;
    assert_eq!(own_scratch(&db, "restore").await, 0, "the restore's scratch database took the new name");

    // Never over a database that holds anything, never over the live one, never into a file.
    let err = b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("already exists and is not empty"), "{err}");
    let err = b.restore_to_database(row.id, &db.url, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("live database"), "{err}");
    let err = b.restore_to(row.id, &dir.path().join("restored.db"), Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("PostgreSQL snapshot"), "{err}");
    assert!(!dir.path().join("restored.db").exists());

    // An existing, empty database (made by an administrator) is accepted.
    let empty = PgDb::new("pg_snapshot_empty").await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{}\"", empty.name)))
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    b.restore_to_database(row.id, &empty.url, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(digest(&empty, "messages").await, digest(&db, "messages").await);

    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'backup.restore'")
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap();
    assert_eq!(audit, 2, "each restore is in the audit log");
    store.close().await;
}

/// Scratch databases of this test process on the server (other tests run beside it).
async fn own_scratch(db: &PgDb, purpose: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname ~ $1")
        .bind(format!("^chatkeep_{purpose}_[0-9]+_{}_", std::process::id()))
        .fetch_one(&mut db.raw().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn scratch_databases_an_interrupted_verify_left_are_dropped_by_the_next_one() {
    let Some((db, store)) = seeded_postgres("pg_scratch_sweep").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let clock = clock();
    let b = backups(&store, &settings, &clock);
    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();

    // As a chatkeep killed two days ago in mid-verify and mid-restore would leave them, and one made a moment ago.
    // Process id 0, which no test process has: other tests count their own scratch databases.
    let now = chrono::Utc::now().timestamp();
    let pid = 0;
    let abandoned = [
        format!("chatkeep_verify_{}_{pid}_0badc0de", now - 172_800),
        format!("chatkeep_restore_{}_{pid}_0badc0de", now - 172_800),
    ];
    let recent = format!("chatkeep_verify_{}_{pid}_00c0ffee", now - 60);
    let exists = async |name: &str| -> bool {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut db.raw().await)
            .await
            .unwrap()
    };
    for name in abandoned.iter().chain([&recent]) {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut db.raw().await)
            .await
            .unwrap();
    }

    assert!(b.verify(row.id, Actor::Cli).await.unwrap().ok);
    for name in &abandoned {
        assert!(!exists(name).await, "{name} is dropped: it held a copy of the chat data");
    }
    assert!(exists(&recent).await, "a scratch database made a minute ago may still be in use and stays");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{recent}\""))).execute(&mut db.raw().await).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn people_erased_after_a_pg_snapshot_do_not_come_back_in_its_restore() {
    let Some((db, store)) = seeded_postgres("pg_snapshot_ledger").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let clock = clock();
    let b = backups(&store, &settings, &clock);
    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.external_id = 'u-9'",
    )
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap();
    assert!(sent > 0, "u-9 wrote messages before the snapshot");

    // Erased after the snapshot. The row is written as chatkeep wrote ledger rows before
    // keyed hashes (the external id in clear): reading the ledger hashes it.
    sqlx::query(
        "INSERT INTO erasure_ledger (subject_key, strategy, erased_at)
         VALUES ('unkeyed:u-9', 'delete', '2026-11-22T00:00:00.000Z')",
    )
    .execute(&mut db.raw().await)
    .await
    .unwrap();
    let target = PgDb::new("pg_snapshot_ledger_target").await.unwrap();
    let report = b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(report.erased_again, 1, "the person erased since the snapshot is erased again");
    let mut restored = target.raw().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE external_id = 'u-9'")
        .fetch_one(&mut restored)
        .await
        .unwrap();
    assert_eq!(left, 0, "the erased person is not in the restored database");
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM erasure_ledger").fetch_one(&mut restored).await.unwrap();
    assert_eq!(ledger, 1, "the restored database carries the ledger forward");
    assert_eq!(target.count("messages").await, 2_000 - sent);
    store.close().await;
}

#[tokio::test]
async fn excluded_tables_keep_their_shape_but_not_their_rows_in_a_pg_dump() {
    let Some((db, store)) = seeded_postgres("pg_snapshot_exclude").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let bad = BackupSettings { exclude_tables: vec!["no_such_table".into()], ..settings(dir.path()) };
    let err = backups(&store, &bad, &clock).snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");

    let settings = BackupSettings { exclude_tables: vec!["message_reads".into()], ..settings(dir.path()) };
    let b = backups(&store, &settings, &clock);
    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
    assert_eq!(counts["message_reads"], 0);
    assert_eq!(counts["messages"], 2_000);
    assert!(b.verify(row.id, Actor::Cli).await.unwrap().ok);
    let target = PgDb::new("pg_snapshot_exclude_target").await.unwrap();
    b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(target.count("message_reads").await, 0, "the excluded rows are not in the backup");
    assert!(db.count("message_reads").await > 0);
    assert_eq!(digest(&target, "messages").await, digest(&db, "messages").await);
    store.close().await;
}

/// Two archives hold the same files, line for line (the first difference is shown).
fn assert_same_archive(found: &[(String, String)], expected: &[(String, String)], what: &str) {
    let names = |files: &[(String, String)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(found), names(expected), "{what}: the same files");
    for ((name, found), (_, expected)) in found.iter().zip(expected) {
        for (n, (a, b)) in found.lines().zip(expected.lines()).enumerate() {
            assert_eq!(a, b, "{what}: {name} line {}", n + 1);
        }
        assert_eq!(found.lines().count(), expected.lines().count(), "{what}: {name} lines");
        assert_eq!(found, expected, "{what}: {name} byte for byte");
    }
}

/// An archive as a restore of it reads back: a reply to a message the archive does not
/// hold loses its link (the restore never points at a message that is not there).
fn as_restored(files: &[(String, String)]) -> (Vec<(String, String)>, usize) {
    let messages = &files.iter().find(|(n, _)| n == "messages.jsonl").unwrap().1;
    let held: std::collections::HashSet<String> = messages
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    let mut unlinked = 0;
    let restored = messages
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            match value["reply_to"].as_str() {
                Some(to) if !held.contains(to) => {
                    unlinked += 1;
                    line.replace(&format!(r#""reply_to":"{to}""#), r#""reply_to":null"#)
                }
                _ => line.to_string(),
            }
        })
        .map(|line| line + "\n")
        .collect::<String>();
    let files = files
        .iter()
        .map(|(n, text)| (n.clone(), if n == "messages.jsonl" { restored.clone() } else { text.clone() }))
        .collect();
    (files, unlinked)
}

/// The month's JSONL files of an archive, by name.
fn archive_files(b: &Backups<'_>, file_name: &str, into: &Path) -> Vec<(String, String)> {
    let manifest = unpack(&b.settings.directory.join(file_name), into);
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap().to_string();
            let text = std::fs::read_to_string(into.join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

#[tokio::test]
async fn a_monthly_archive_from_postgres_restores_into_sqlite_with_the_same_records() {
    let Some((db, store)) = seeded_postgres("pg_archive_out").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let clock = clock();
    let b = backups(&store, &settings, &clock);
    let month = parse_month("2026-09").unwrap();
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_eq!(row.status, "verified");
    let in_month: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE created_at >= '2026-09-01T00:00:00Z' AND created_at < '2026-10-01T00:00:00Z'",
    )
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap();
    let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
    assert_eq!(counts["messages"], in_month);
    let from_postgres = archive_files(&b, &row.file_name, &dir.path().join("pg"));
    assert_eq!(from_postgres[0].0, "users.jsonl");
    let message = from_postgres.iter().find(|(n, _)| n == "messages.jsonl").unwrap().1.lines().next().unwrap();
    assert!(message.starts_with(r#"{"type":"message","id":"m-"#), "compact records in SQLite's field order: {message}");

    // Into a new SQLite file; archived again from there, the records are byte for byte the same.
    let restored = dir.path().join("restored.db");
    let report =
        b.restore_to_database(row.id, &DatabaseUrl::Sqlite(restored.clone()), Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(report.import.unwrap().messages.inserted as i64, in_month);
    let sqlite = Store::open(&DatabaseUrl::Sqlite(restored)).await.unwrap();
    let again_settings = BackupSettings { directory: dir.path().join("from-sqlite"), ..settings.clone() };
    let again = backups(&sqlite, &again_settings, &clock);
    let row = again.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let from_sqlite = archive_files(&again, &row.file_name, &dir.path().join("sqlite"));
    let (expected, unlinked) = as_restored(&from_postgres);
    assert!(unlinked > 0, "the month holds replies to older messages");
    assert_same_archive(&from_sqlite, &expected, "the same month gives the same archive on either engine");
    sqlite.close().await;
    store.close().await;
}

#[tokio::test]
async fn a_monthly_archive_from_sqlite_restores_into_postgres_and_back() {
    let Some(target) = PgDb::new("sqlite_archive_in").await else { return };
    let source = TestDb::new().await;
    let clock = clock();
    let options =
        SeedOptions { conversations: 120, messages: 1_500, months: 4, seed: 5, until: at(2026, 11, 20, 0, 0, 0) };
    seed_demo(&source.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let b = backups(&source.store, &settings, &clock);
    let month = parse_month("2026-10").unwrap();
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let from_sqlite = archive_files(&b, &row.file_name, &dir.path().join("sqlite"));

    let report = b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap();
    let import = report.import.unwrap();
    assert!(import.messages.inserted > 0);
    assert_eq!(target.count("messages").await as u64, import.messages.inserted);
    let postgres = Store::open(&target.url).await.unwrap();
    let pg_settings = BackupSettings { directory: dir.path().join("from-postgres"), ..settings.clone() };
    let pg = backups(&postgres, &pg_settings, &clock);
    let pg_row = pg.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let from_postgres = archive_files(&pg, &pg_row.file_name, &dir.path().join("pg"));
    assert_same_archive(&from_postgres, &as_restored(&from_sqlite).0, "the month came through PostgreSQL unchanged");

    // And back into a new SQLite file from the PostgreSQL archive.
    let back = dir.path().join("back.db");
    pg.restore_to_database(pg_row.id, &DatabaseUrl::Sqlite(back.clone()), Actor::Cli, &NoProgress).await.unwrap();
    let sqlite = Store::open(&DatabaseUrl::Sqlite(back)).await.unwrap();
    let back_settings = BackupSettings { directory: dir.path().join("back"), ..settings.clone() };
    let again = backups(&sqlite, &back_settings, &clock);
    let back_row = again.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let back_again = archive_files(&again, &back_row.file_name, &dir.path().join("back-out"));
    assert_same_archive(&back_again, &from_postgres, "and back into SQLite unchanged");
    sqlite.close().await;
    postgres.close().await;
}

const TOOLS_TEST: &str = "a_snapshot_without_a_usable_pg_dump_names_the_tool_and_writes_nothing";

/// Runs the named test again in a child process whose tool folder (`CHATKEEP_PG_BIN`) is `dir`:
/// the variable belongs to the whole process, so it is never set in this one.
fn in_child(dir: &Path, expect: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TOOLS_TEST, "--nocapture", "--test-threads=1"])
        .env("CHATKEEP_PG_BIN", dir)
        .env("CHATKEEP_TEST_EXPECT", expect)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("1 passed"), "{said}");
}

#[tokio::test]
async fn a_snapshot_without_a_usable_pg_dump_names_the_tool_and_writes_nothing() {
    if let Ok(expect) = std::env::var("CHATKEEP_TEST_EXPECT") {
        let Some(db) = PgDb::new("no_pg_dump").await else { return };
        let store = Store::open(&db.url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let clock = clock();
        let err = backups(&store, &settings, &clock)
            .snapshot(true, Actor::Cli, &NoProgress, &Cancel::new())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&expect), "{message}");
        assert!(message.contains("CHATKEEP_PG_BIN") && message.contains("postgresql-client-"), "{message}");
        assert_eq!(err.code(), "invalid_input");
        assert!(store.backups().await.unwrap().is_empty(), "no catalog row");
        assert!(!settings.directory.exists(), "nothing was written");
        store.close().await;
        return;
    }
    if PgDb::new("no_pg_dump_probe").await.is_none() {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    in_child(empty.path(), "pg_dump was not found");
    // A pg_dump older than the server.
    let old = tempfile::tempdir().unwrap();
    for tool in ["pg_dump", "pg_restore"] {
        let path = old.path().join(tool);
        std::fs::write(&path, format!("#!/bin/sh\necho '{tool} (PostgreSQL) 9.6.24'\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    in_child(old.path(), "pg_dump is too old");
}

/// Everything a scheduler sees of its tables, in a form two engines can be compared by.
async fn scheduler_story(db: &AnyDb) -> Vec<String> {
    let store = db.store();
    // A second handle on the same database: another chatkeep process.
    let other = Store::open(&db.url()).await.unwrap();
    let t0 = at(2026, 11, 23, 1, 0, 0);
    let minutes = move |n: i64| t0 + Duration::minutes(n);
    let mut seen = Vec::new();

    assert_eq!(store.take_job_lease("snapshot", "desktop", t0, minutes(10)).await.unwrap(), None);
    assert_eq!(
        other.take_job_lease("snapshot", "daemon", minutes(1), minutes(11)).await.unwrap().as_deref(),
        Some("desktop"),
        "a live lease blocks another holder"
    );
    assert_eq!(store.job_lease_holder("snapshot", minutes(9)).await.unwrap().as_deref(), Some("desktop"));
    assert_eq!(other.job_lease_holder("snapshot", minutes(10)).await.unwrap(), None, "expired at its time");
    assert!(!other.renew_job_lease("snapshot", "daemon", minutes(20)).await.unwrap(), "only the holder renews");
    assert_eq!(other.take_job_lease("snapshot", "daemon", minutes(10), minutes(20)).await.unwrap(), None);
    assert_eq!(
        store.take_job_lease("snapshot", "desktop", minutes(11), minutes(21)).await.unwrap().as_deref(),
        Some("daemon"),
        "once taken over, the first holder is the one kept out"
    );
    assert!(other.renew_job_lease("snapshot", "daemon", minutes(30)).await.unwrap());
    store.release_job_lease("snapshot", "desktop").await.unwrap();
    assert_eq!(store.job_lease_holder("snapshot", minutes(25)).await.unwrap().as_deref(), Some("daemon"));
    other.release_job_lease("snapshot", "daemon").await.unwrap();
    assert_eq!(store.job_lease_holder("snapshot", minutes(25)).await.unwrap(), None);

    // Eight processes reach for a free lease at once: exactly one gets it.
    let mut racers = Vec::new();
    for n in 0..8 {
        let url = db.url();
        racers.push(tokio::spawn(async move {
            let racer = Store::open(&url).await.unwrap();
            let got = racer.take_job_lease("retention", &format!("p{n}"), t0, minutes(5)).await.unwrap();
            racer.close().await;
            got.is_none()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1, "one holder at a time");

    // Pause state, created on first sight.
    let state = store.job_state("snapshot", t0).await.unwrap();
    assert!(!state.paused);
    store.set_job_paused("snapshot", true, minutes(2)).await.unwrap();
    let state = other.job_state("snapshot", minutes(3)).await.unwrap();
    seen.push(format!("{state:?}"));
    store.set_job_paused("snapshot", false, minutes(4)).await.unwrap();
    seen.push(format!("{:?}", store.job_state("snapshot", minutes(5)).await.unwrap()));

    // Runs: one finished, one retried, slots that passed, one whose process died.
    let ok = store
        .insert_job_run(NewRun {
            job: "snapshot",
            scheduled_for: Some(t0),
            started_at: minutes(1),
            trigger: "schedule",
            holder: "desktop",
        })
        .await
        .unwrap();
    store.note_job_attempt(ok, 2, "the disk was busy").await.unwrap();
    store
        .finish_job_run(ok, "ok", minutes(3), &serde_json::json!({"rows": 12, "file": "x.tar.zst"}), None)
        .await
        .unwrap();
    let slots = [t0 - Duration::days(2), t0 - Duration::days(1)];
    store
        .record_passed_slots(PassedSlots {
            job: "snapshot",
            slots: &slots,
            status: "missed",
            reason: "chatkeep was not running",
            now: minutes(4),
        })
        .await
        .unwrap();
    store.take_job_lease("archive", "gone", t0, minutes(1)).await.unwrap();
    store
        .insert_job_run(NewRun {
            job: "archive",
            scheduled_for: None,
            started_at: t0,
            trigger: "manual",
            holder: "gone",
        })
        .await
        .unwrap();
    assert!(store.fail_interrupted_runs(minutes(1) - Duration::seconds(1)).await.unwrap().is_empty(), "lease live");
    let interrupted = other.fail_interrupted_runs(minutes(5)).await.unwrap();
    assert_eq!(interrupted.len(), 1);
    seen.push(format!("{:?}", (&interrupted[0].job, &interrupted[0].status, &interrupted[0].finished_at)));
    seen.push(format!("{:?}", store.last_scheduled_slot("snapshot").await.unwrap()));
    seen.push(format!("{:?}", store.slot_recorded("snapshot", slots[0]).await.unwrap()));
    seen.push(format!("{:?}", store.slot_recorded("snapshot", t0 - Duration::days(3)).await.unwrap()));
    for run in store.job_runs(None, 10).await.unwrap() {
        let summary: Option<serde_json::Value> = run.summary.as_deref().map(|s| serde_json::from_str(s).unwrap());
        seen.push(format!(
            "{} {:?} {:?} {:?} {} {} {:?} {:?} {} {:?}",
            run.job,
            run.scheduled_for,
            run.started_at,
            run.finished_at,
            run.status,
            run.attempt,
            summary,
            run.error,
            run.trigger,
            run.holder
        ));
    }
    assert_eq!(store.job_runs(Some("archive"), 10).await.unwrap().len(), 1);
    other.close().await;
    seen
}

#[tokio::test]
async fn the_scheduler_lease_keeps_a_second_holder_out_until_it_expires_on_both_engines() {
    let sqlite = AnyDb::sqlite().await;
    let expected = scheduler_story(&sqlite).await;
    assert!(expected.iter().any(|line| line.contains("paused: true")), "{expected:#?}");
    let Some(postgres) = AnyDb::postgres("scheduler_lease").await else { return };
    assert_eq!(scheduler_story(&postgres).await, expected, "PostgreSQL records the same history as SQLite");
}
