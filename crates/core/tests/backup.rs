#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Backups on real files, read back by the tools a user would have: `tar`,
//! `zstd`, `age`, `sqlite3` and `pg_restore`. Scenarios that mean the same on
//! both engines run on each (SQLite always, PostgreSQL when a server answers);
//! then SQLite's snapshots (a database file), PostgreSQL's (`pg_dump`, verified
//! and restored into new databases on the server), monthly archives that move
//! between the two, and the scheduler's leases held across processes.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::SecretString;
use chatkeep_core::config::{BackupSettings, DatabaseUrl, RetentionSettings};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::{CollectEvents, Event, NoEvents};
use chatkeep_core::ops::backup::{Backups, parse_month, restore_target};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::retention::{Retention, RunHooks};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::jobs::{NewRun, PassedSlots};
use chatkeep_core::store::sqlx;
use chatkeep_core::{Error, FixedClock, Store, audit};
use chrono::Duration;
use chrono_tz::Tz;
use common::{AnyDb, PgDb, TestDb, at, backup_settings as settings, clock, run_tool as run};

async fn seeded() -> (TestDb, FixedClock) {
    let db = TestDb::new().await;
    let clock = clock();
    let options =
        SeedOptions { conversations: 150, messages: 2_000, months: 4, seed: 3, until: at(2026, 11, 20, 0, 0, 0) };
    seed_demo(&db.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    (db, clock)
}

fn backups<'a>(
    store: &'a Store,
    settings: &'a BackupSettings,
    clock: &'a FixedClock,
    passphrase: Option<&'a SecretString>,
) -> Backups<'a> {
    Backups { store, settings, tz: Tz::UTC, clock, passphrase, events: &NoEvents }
}

/// `zstd -d | tar -x` into `into`, with the real tools.
fn unpack(file: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let plain = into.join("plain.tar");
    run("zstd", &["-q", "-d", "-f", file.to_str().unwrap(), "-o", plain.to_str().unwrap()], into);
    let names = run("tar", &["-tf", "plain.tar"], into);
    assert_eq!(names.lines().next(), Some("manifest.json"), "the manifest comes first");
    run("tar", &["-xf", "plain.tar"], into);
}

fn count(db: &Path, sql: &str) -> i64 {
    run("sqlite3", &[db.to_str().unwrap(), sql], Path::new(".")).parse().unwrap()
}

fn file_of(settings: &BackupSettings, name: &str) -> PathBuf {
    settings.directory.join(name)
}

#[tokio::test]
async fn a_snapshot_opens_with_tar_zstd_and_sqlite3() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let events = CollectEvents::default();
    let b = Backups { events: &events, ..backups(&db.store, &settings, &clock, None) };
    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_eq!(row.status, "verified");
    assert!(row.file_name.starts_with("chatkeep-snapshot-") && row.file_name.ends_with(".tar.zst"));
    let file = file_of(&settings, &row.file_name);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
    }
    let out = db.dir.path().join("out");
    unpack(&file, &out);
    let copy = out.join("chatkeep.db");
    assert_eq!(run("sqlite3", &[copy.to_str().unwrap(), "PRAGMA integrity_check"], &out), "ok");
    assert_eq!(count(&copy, "SELECT count(*) FROM messages"), 2_000);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["kind"], "snapshot");
    assert_eq!(manifest["files"][0]["rows"]["messages"], 2_000);
    // A second snapshot in the same second gets its own file, never the first one's.
    let second = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_ne!(second.file_name, row.file_name);
    assert!(b.verify(row.id, Actor::Cli).await.unwrap().ok, "the first snapshot is untouched");
    assert!(events.take().iter().any(|e| matches!(e, Event::BackupDone { .. })));
    // Nothing half-written is left beside it.
    let leftovers: Vec<String> = std::fs::read_dir(&settings.directory)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn an_encrypted_archive_opens_with_age_and_restores_into_a_new_file() {
    let (db, clock) = seeded().await;
    let settings = BackupSettings { encrypt: true, ..settings(db.dir.path()) };
    let passphrase = SecretString::from("correct horse battery staple".to_string());
    let b = backups(&db.store, &settings, &clock, Some(&passphrase));
    let month = parse_month("2026-10").unwrap();
    let row = b.archive(month, false, Actor::Scheduler, &NoProgress, &Cancel::new()).await.unwrap();
    assert!(row.encrypted && row.file_name == "chatkeep-archive-2026-10.tar.zst.age");
    assert_eq!((row.year, row.month), (Some(2026), Some(10)));
    let in_month =
        count(&db.path, "SELECT count(*) FROM messages WHERE created_at >= '2026-10-01' AND created_at < '2026-11-01'");
    let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
    assert_eq!(counts["messages"], in_month);

    // The real age tool, with the passphrase typed at its prompt.
    let file = file_of(&settings, &row.file_name);
    let out = db.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/age_decrypt.py");
    let decrypted = out.join("archive.tar.zst");
    run(
        "python3",
        &[tool.to_str().unwrap(), "correct horse battery staple", file.to_str().unwrap(), decrypted.to_str().unwrap()],
        &out,
    );
    unpack(&decrypted, &out);
    let messages = std::fs::read_to_string(out.join("messages.jsonl")).unwrap();
    assert_eq!(messages.lines().count() as i64, in_month);
    assert!(messages.lines().all(|l| l.contains("\"type\":\"message\"")));

    // A wrong passphrase is a clear error and changes nothing.
    let wrong = SecretString::from("tr0ub4dor".to_string());
    let err = backups(&db.store, &settings, &clock, Some(&wrong)).verify(row.id, Actor::Cli).await.unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert_eq!(
        db.store.backup(row.id).await.unwrap().unwrap().status,
        "verified",
        "a wrong passphrase is not a bad backup"
    );

    // Restore into a new file: the month's conversations come back, readable by sqlite3.
    let restored = db.dir.path().join("restored.db");
    let report = b.restore_to(row.id, &restored, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(report.import.unwrap().messages.inserted as i64, in_month);
    assert_eq!(count(&restored, "SELECT count(*) FROM messages"), in_month);
    assert_eq!(run("sqlite3", &[restored.to_str().unwrap(), "PRAGMA integrity_check"], &out), "ok");
    let err = b.restore_to(row.id, &restored, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[tokio::test]
async fn verify_catches_each_kind_of_damage() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let b = backups(&db.store, &settings, &clock, None);
    let month = parse_month("2026-09").unwrap();

    // A flipped byte.
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = file_of(&settings, &row.file_name);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let result = b.verify(row.id, Actor::Cli).await.unwrap();
    assert!(!result.ok && result.problems[0].contains("SHA-256"), "{:?}", result.problems);
    let stored = db.store.backup(row.id).await.unwrap().unwrap();
    assert_eq!(stored.status, "failed");
    assert!(stored.error.unwrap().contains("changed after it was written"));

    // Data that no longer matches its manifest (repacked with the real tools, catalog checksum updated).
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = file_of(&settings, &row.file_name);
    let work = db.dir.path().join("repack");
    unpack(&file, &work);
    let messages = std::fs::read_to_string(work.join("messages.jsonl")).unwrap();
    let fewer: Vec<&str> = messages.lines().skip(1).collect();
    std::fs::write(work.join("messages.jsonl"), fewer.join("\n") + "\n").unwrap();
    std::fs::remove_file(work.join("plain.tar")).unwrap();
    run(
        "tar",
        &[
            "-cf",
            "plain.tar",
            "manifest.json",
            "users.jsonl",
            "conversations.jsonl",
            "participants.jsonl",
            "messages.jsonl",
            "reads.jsonl",
        ],
        &work,
    );
    std::fs::remove_file(&file).unwrap();
    run("zstd", &["-q", "plain.tar", "-o", file.to_str().unwrap()], &work);
    let sha = run("sha256sum", &[file.to_str().unwrap()], &work).split_whitespace().next().unwrap().to_string();
    sqlx::query("UPDATE backups SET sha256 = $1, size_bytes = $2 WHERE id = $3")
        .bind(&sha)
        .bind(std::fs::metadata(&file).unwrap().len() as i64)
        .bind(row.id)
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let result = b.verify(row.id, Actor::Cli).await.unwrap();
    assert!(!result.ok);
    let problem = &result.problems[0];
    assert!(problem.contains("messages.jsonl") && problem.contains("the manifest says"), "{problem}");

    // A truncated file.
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = file_of(&settings, &row.file_name);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 3]).unwrap();
    // The catalog made to record the cut file, to reach the read itself.
    let sha = run("sha256sum", &[file.to_str().unwrap()], &work).split_whitespace().next().unwrap().to_string();
    sqlx::query("UPDATE backups SET sha256 = $1, size_bytes = $2 WHERE id = $3")
        .bind(&sha)
        .bind((bytes.len() / 3) as i64)
        .bind(row.id)
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let result = b.verify(row.id, Actor::Cli).await.unwrap();
    assert!(!result.ok && result.problems[0].contains("cannot be read to the end"), "{:?}", result.problems);

    // A missing file.
    std::fs::remove_file(&file).unwrap();
    let result = b.verify(row.id, Actor::Cli).await.unwrap();
    assert!(!result.ok && result.problems[0].contains("missing"), "{:?}", result.problems);
    let listing = b.list().await.unwrap();
    assert!(listing.backups.iter().any(|l| l.backup.id == row.id && !l.file_present), "{:?}", listing.backups);

    // Unknown files in the folder are flagged; an unknown id is a clear error.
    std::fs::write(settings.directory.join("chatkeep-archive-2020-01.tar.zst"), b"?").unwrap();
    assert_eq!(b.list().await.unwrap().unknown_files, ["chatkeep-archive-2020-01.tar.zst"]);
    let err = b.verify(999, Actor::Cli).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)) && err.to_string().contains("#999"), "{err}");
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn an_archive_merges_back_after_a_purge_and_the_erasure_ledger_holds() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let b = backups(&db.store, &settings, &clock, None);
    let month = parse_month("2026-08").unwrap();
    let row = b.archive(month, false, Actor::Scheduler, &NoProgress, &Cancel::new()).await.unwrap();
    let in_month = "SELECT count(*) FROM messages WHERE created_at >= '2026-08-01' AND created_at < '2026-09-01'";
    let before = count(&db.path, in_month);
    assert!(before > 0);

    // Retention purges August, which the verified archive now allows.
    let retention_settings = RetentionSettings {
        default_days: 60,
        auto_delete_enabled: true,
        grace_period_days: 0,
        batch_size: 500,
        require_verified_backup: true,
        archive_after_days: 3650,
        bot_idle_hours: 87_600,
        notice_days: 3,
        rules: Vec::new(),
    };
    sqlx::query("UPDATE conversations SET retention_policy = NULL, legal_hold = 0")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let retention = Retention { store: &db.store, settings: &retention_settings, tz: Tz::UTC, clock: &clock };
    let hooks = RunHooks { progress: &NoProgress, events: &NoEvents, cancel: &Cancel::new() };
    retention.run(Actor::Scheduler, hooks).await.unwrap();
    clock.advance(Duration::minutes(1));
    let purge = retention.run(Actor::Scheduler, hooks).await.unwrap();
    assert!(purge.purged.messages > 0);
    assert!(purge.blocked.months.iter().all(|m| m.month != "2026-08"), "August is covered by its archive");
    let left: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT m.created_at, m.expired_at, c.expired_at FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.created_at >= '2026-08-01' AND m.created_at < '2026-09-01' LIMIT 5",
    )
    .fetch_all(&mut db.raw().await)
    .await
    .unwrap();
    assert_eq!(count(&db.path, in_month), 0, "August was purged: {left:?} {:?}", purge.blocked);

    // A person erased after the archive was made. The row is written as chatkeep wrote ledger
    // rows before keyed hashes (the external id in clear): reading the ledger hashes it.
    let erased: String = sqlx::query_scalar(
        "SELECT u.external_id FROM users u JOIN messages m ON m.sender_id = u.id
         WHERE m.created_at >= '2026-08-01' AND m.created_at < '2026-09-01' LIMIT 1",
    )
    .fetch_optional(&mut db.raw().await)
    .await
    .unwrap()
    .unwrap_or_default();
    let erased = if erased.is_empty() {
        // August's senders were purged with their messages; take one from the archive itself.
        let out = db.dir.path().join("peek");
        unpack(&file_of(&settings, &row.file_name), &out);
        let line = std::fs::read_to_string(out.join("messages.jsonl")).unwrap();
        let with_sender = line
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|m| m["sender"].is_string())
            .unwrap();
        with_sender["sender"].as_str().unwrap().to_string()
    } else {
        erased
    };
    sqlx::query(
        "INSERT INTO erasure_ledger (subject_key, strategy, erased_at)
         VALUES ('unkeyed:' || $1, 'delete', '2026-11-22T00:00:00.000Z')",
    )
    .bind(&erased)
    .execute(&mut db.raw().await)
    .await
    .unwrap();

    let restored = b.restore_into_live(row.id, None, Actor::Cli, &NoProgress).await.unwrap();
    let after = count(&db.path, in_month);
    assert!(after > 0 && after <= before, "August is back: {after} of {before}");
    let from_erased = count(
        &db.path,
        &format!("SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.external_id = '{erased}'"),
    );
    assert_eq!(from_erased, 0, "the erased person's messages did not come back");
    assert_eq!(count(&db.path, &format!("SELECT count(*) FROM users WHERE external_id = '{erased}'")), 0);
    // The test wrote the ledger row without erasing: the replay erases the live rows too.
    assert!(restored.erased_again <= 1);

    // Idempotent: a second merge changes nothing.
    let again = b.restore_into_live(row.id, None, Actor::Cli, &NoProgress).await.unwrap();
    assert_eq!(again.import.unwrap().messages.inserted, 0);
    assert_eq!(count(&db.path, in_month), after);
    assert_eq!(run("sqlite3", &[db.path.to_str().unwrap(), "PRAGMA foreign_key_check"], Path::new(".")), "");
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn pruning_keeps_the_generations_and_never_the_last_verified() {
    let (db, clock) = seeded().await;
    let settings = BackupSettings { keep_daily: 2, keep_monthly: 1, ..settings(db.dir.path()) };
    let b = backups(&db.store, &settings, &clock, None);
    let mut snapshots = Vec::new();
    for _ in 0..4 {
        snapshots.push(b.snapshot(false, Actor::Scheduler, &NoProgress, &Cancel::new()).await.unwrap());
        clock.advance(Duration::days(1));
    }
    for month in ["2026-09", "2026-10"] {
        b.archive(parse_month(month).unwrap(), false, Actor::Scheduler, &NoProgress, &Cancel::new()).await.unwrap();
    }
    let planned = b.prune(true, Actor::Cli).await.unwrap();
    let ids: Vec<i64> = planned.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 3, "two old snapshots and the older archive: {planned:?}");
    assert!(ids.contains(&snapshots[0].id) && ids.contains(&snapshots[1].id));
    assert!(planned.iter().any(|p| p.reason.contains("2 newest daily")));
    assert_eq!(db.store.backups().await.unwrap().len(), 6, "a dry run removes nothing");
    let removed = b.prune(false, Actor::Cli).await.unwrap();
    assert_eq!(removed.len(), 3);
    assert!(!file_of(&settings, &snapshots[0].file_name).exists());
    assert!(file_of(&settings, &snapshots[3].file_name).exists());

    // The newest verified backup of a kind stays even when the rules would drop it.
    let strict = BackupSettings { keep_daily: 1, ..settings.clone() };
    sqlx::query("UPDATE backups SET status = 'failed' WHERE id = $1")
        .bind(snapshots[3].id)
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let planned = backups(&db.store, &strict, &clock, None).prune(true, Actor::Cli).await.unwrap();
    assert!(!planned.iter().any(|p| p.id == snapshots[2].id), "the last verified snapshot is kept: {planned:?}");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let b = backups(&db.store, &settings, &clock, None);
    let err =
        b.archive(parse_month("2026-11").unwrap(), true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap_err();
    assert!(err.to_string().contains("not over yet"), "{err}");
    let err =
        b.archive(parse_month("2027-01").unwrap(), true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap_err();
    assert!(err.to_string().contains("not over yet"), "{err}");
    assert!(parse_month("2026-13").unwrap_err().to_string().contains("2026-10"));

    // The backup folder is a file.
    std::fs::write(db.dir.path().join("not-a-folder"), b"").unwrap();
    let bad = BackupSettings { directory: db.dir.path().join("not-a-folder"), ..settings.clone() };
    let err = backups(&db.store, &bad, &clock, None)
        .snapshot(true, Actor::Cli, &NoProgress, &Cancel::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");

    // Encryption on without a passphrase, or with an empty one.
    let encrypting = BackupSettings { encrypt: true, ..settings.clone() };
    let err = backups(&db.store, &encrypting, &clock, None)
        .snapshot(true, Actor::Cli, &NoProgress, &Cancel::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no passphrase"), "{err}");
    let err = chatkeep_core::ops::backup::passphrase_from(&settings, Some("  ".into())).unwrap_err();
    assert!(err.to_string().contains("passphrase is empty"), "{err}");
    assert!(db.store.backups().await.unwrap().is_empty(), "no catalog row for refused requests");

    // Save a copy: checked, never over an existing file unless asked.
    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let target = db.dir.path().join("copy.tar.zst");
    let saved = b.save_copy(row.id, &target, false).await.unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(file_of(&settings, &row.file_name)).unwrap());
    let err = b.save_copy(row.id, &target, false).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    b.save_copy(row.id, &target, true).await.unwrap();
    let err = b.save_copy(row.id, &db.dir.path().join("no/such/folder/x"), false).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn restores_never_bring_back_erased_owners_or_held_people_and_rearchiving_never_loses_rows() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let b = backups(&db.store, &settings, &clock, None);
    let month = parse_month("2026-10").unwrap();
    // An owner of an October conversation, under a hold that is active in the snapshot.
    let owner: String = sqlx::query_scalar(
        "SELECT u.external_id FROM conversations c JOIN users u ON u.id = c.owner_id
         JOIN messages m ON m.conversation_id = c.id
         WHERE m.created_at >= '2026-10-01' AND m.created_at < '2026-11-01' LIMIT 1",
    )
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap();
    chatkeep_core::ops::hold::place_hold(
        &db.store,
        chatkeep_core::domain::hold::HoldTarget::User(owner.clone()),
        "case 9",
        Actor::Cli,
        &clock,
    )
    .await
    .unwrap();
    let archive = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    sqlx::query(
        "INSERT INTO erasure_ledger (subject_key, strategy, erased_at)
         VALUES ('unkeyed:' || $1, 'delete', '2026-11-22T00:00:00.000Z')",
    )
    .bind(&owner)
    .execute(&mut db.raw().await)
    .await
    .unwrap();

    for (id, name) in [(archive.id, "from-archive.db"), (snapshot.id, "from-snapshot.db")] {
        let to = db.dir.path().join(name);
        b.restore_to(id, &to, Actor::Cli, &NoProgress).await.unwrap();
        let people = count(&to, &format!("SELECT count(*) FROM users WHERE external_id = '{owner}'"));
        assert_eq!(people, 0, "{name}: the erased owner is not in the restored database");
        assert_eq!(count(&to, "SELECT count(*) FROM legal_holds WHERE released_at IS NULL AND user_id IS NULL"), 0);
        assert_eq!(run("sqlite3", &[to.to_str().unwrap(), "PRAGMA foreign_key_check"], Path::new(".")), "");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&to).unwrap().permissions().mode() & 0o777, 0o600, "{name}: owner-only");
        }
    }

    // Rows purged since: a new archive of the month would hold fewer, so the old one is kept.
    sqlx::query(
        "DELETE FROM message_reads WHERE message_id IN (SELECT id FROM messages WHERE created_at >= '2026-10-01' AND created_at < '2026-10-05');
         UPDATE messages SET reply_to_id = NULL WHERE reply_to_id IN (SELECT id FROM messages WHERE created_at >= '2026-10-01' AND created_at < '2026-10-05');
         DELETE FROM messages WHERE created_at >= '2026-10-01' AND created_at < '2026-10-05';",
    )
    .execute(&mut db.raw().await)
    .await
    .unwrap();
    let err = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap_err();
    assert!(err.to_string().contains("existing archive is kept"), "{err}");
    assert!(file_of(&settings, &archive.file_name).exists());
}

// ---- both engines ----

/// A fresh database on each engine, with two months of demo chat data.
async fn seeded_engines(test: &str) -> Vec<AnyDb> {
    let dbs = common::engines(test).await;
    let options =
        SeedOptions { conversations: 60, messages: 800, months: 2, seed: 5, until: at(2026, 11, 20, 0, 0, 0) };
    for db in &dbs {
        seed_demo(db.store(), &options, Actor::Cli, &clock(), &NoProgress).await.unwrap();
    }
    dbs
}

/// A database to restore into, new, on the same engine as `db`.
async fn new_target(db: &AnyDb, dir: &Path, test: &str) -> (DatabaseUrl, Option<PgDb>) {
    match db {
        AnyDb::Sqlite(_) => (DatabaseUrl::Sqlite(dir.join("restored.db")), None),
        AnyDb::Postgres(..) => {
            let target = PgDb::new(test).await.unwrap();
            (target.url.clone(), Some(target))
        }
    }
}

#[tokio::test]
async fn excluded_tables_leave_no_trace_in_the_snapshot_on_both_engines() {
    for db in seeded_engines("snapshot_exclude").await {
        let e = db.store().engine();
        let dir = tempfile::tempdir().unwrap();
        let clock = clock();
        db.execute("CREATE TABLE app_sessions (id INTEGER PRIMARY KEY, token TEXT)").await;
        db.execute("INSERT INTO app_sessions VALUES (1, 'secret-session-token-4711')").await;

        let bad = BackupSettings { exclude_tables: vec!["no_such_table".into()], ..settings(dir.path()) };
        let err = backups(db.store(), &bad, &clock, None)
            .snapshot(true, Actor::Cli, &NoProgress, &Cancel::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no_such_table"), "{e}: {err}");

        let settings = BackupSettings {
            exclude_tables: vec!["app_sessions".into(), "message_reads".into()],
            ..settings(dir.path())
        };
        let b = backups(db.store(), &settings, &clock, None);
        let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
        let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
        assert_eq!((counts["app_sessions"].as_u64(), counts["message_reads"].as_u64()), (Some(0), Some(0)), "{e}");
        assert!(counts["messages"].as_u64().unwrap() > 0, "{e}: {counts}");
        assert!(b.verify(row.id, Actor::Cli).await.unwrap().ok, "{e}");

        // Not in the entry's bytes either (a SQLite file's free pages, a dump's data).
        let out = dir.path().join("out");
        let manifest = unpack_manifest(&file_of(&settings, &row.file_name), &out);
        let entry = out.join(manifest["files"][0]["name"].as_str().unwrap());
        let bytes = std::fs::read(&entry).unwrap();
        let needle = b"secret-session-token-4711";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{e}: the excluded rows are in the snapshot");

        // The tables come back empty; the rest whole.
        let (url, target) = new_target(&db, dir.path(), "snapshot_exclude_target").await;
        b.restore_to_database(row.id, &url, Actor::Cli, &NoProgress).await.unwrap();
        let (reads, messages) = match &target {
            Some(pg) => (pg.count("message_reads").await, pg.count("messages").await),
            None => {
                let file = dir.path().join("restored.db");
                (count(&file, "SELECT count(*) FROM message_reads"), count(&file, "SELECT count(*) FROM messages"))
            }
        };
        assert_eq!(reads, 0, "{e}: the excluded rows are not in the backup");
        assert_eq!(messages, db.count("messages").await, "{e}: the rest is whole");
        assert!(db.count("message_reads").await > 0, "{e}: the live table keeps its rows");
    }
}

// ---- PostgreSQL snapshots, and archives between the engines ----

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

/// [`unpack`], then the manifest it held (the tar itself removed).
fn unpack_manifest(file: &Path, into: &Path) -> serde_json::Value {
    unpack(file, into);
    std::fs::remove_file(into.join("plain.tar")).unwrap();
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
    let b = backups(&store, &settings, &clock, None);

    let row = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_eq!(row.status, "verified");
    assert!(row.file_name.starts_with("chatkeep-snapshot-") && row.file_name.ends_with(".tar.zst"));
    let counts: serde_json::Value = serde_json::from_str(row.row_counts.as_deref().unwrap()).unwrap();
    assert_eq!(counts["messages"], 2_000, "the catalog records the rows dumped");

    // Anyone with tar, zstd and pg_restore can read it.
    let out = dir.path().join("out");
    let manifest = unpack_manifest(&settings.directory.join(&row.file_name), &out);
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
    let b = backups(&store, &settings, &clock, None);
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
    let b = backups(&store, &settings, &clock, None);
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
    let manifest = unpack_manifest(&b.settings.directory.join(file_name), into);
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
    let b = backups(&store, &settings, &clock, None);
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
    let again = backups(&sqlite, &again_settings, &clock, None);
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
    let b = backups(&source.store, &settings, &clock, None);
    let month = parse_month("2026-10").unwrap();
    let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let from_sqlite = archive_files(&b, &row.file_name, &dir.path().join("sqlite"));

    let report = b.restore_to_database(row.id, &target.url, Actor::Cli, &NoProgress).await.unwrap();
    let import = report.import.unwrap();
    assert!(import.messages.inserted > 0);
    assert_eq!(target.count("messages").await as u64, import.messages.inserted);
    let postgres = Store::open(&target.url).await.unwrap();
    let pg_settings = BackupSettings { directory: dir.path().join("from-postgres"), ..settings.clone() };
    let pg = backups(&postgres, &pg_settings, &clock, None);
    let pg_row = pg.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let from_postgres = archive_files(&pg, &pg_row.file_name, &dir.path().join("pg"));
    assert_same_archive(&from_postgres, &as_restored(&from_sqlite).0, "the month came through PostgreSQL unchanged");

    // And back into a new SQLite file from the PostgreSQL archive.
    let back = dir.path().join("back.db");
    pg.restore_to_database(pg_row.id, &DatabaseUrl::Sqlite(back.clone()), Actor::Cli, &NoProgress).await.unwrap();
    let sqlite = Store::open(&DatabaseUrl::Sqlite(back)).await.unwrap();
    let back_settings = BackupSettings { directory: dir.path().join("back"), ..settings.clone() };
    let again = backups(&sqlite, &back_settings, &clock, None);
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
        let err = backups(&store, &settings, &clock, None)
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

/// A restore's target as a user names it, read the same way by every shell.
#[test]
fn a_restore_target_is_a_file_path_or_a_database_url() {
    assert_eq!(restore_target(Path::new("restored.db")).unwrap(), DatabaseUrl::Sqlite("restored.db".into()));
    assert_eq!(
        restore_target(Path::new("sqlite://x/restored.db")).unwrap(),
        DatabaseUrl::Sqlite("x/restored.db".into())
    );
    assert_eq!(
        restore_target(Path::new("postgres://chatkeep@db.internal/restored")).unwrap(),
        DatabaseUrl::Postgres("postgres://chatkeep@db.internal/restored".into())
    );
    let bad = restore_target(Path::new("postgres://")).unwrap_err();
    assert!(matches!(&bad, Error::InvalidInput(m) if m.contains("postgres://USER@HOST")), "{bad}");
    assert!(matches!(restore_target(Path::new("  ")), Err(Error::InvalidInput(_))));
}
