#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Backups on real files, read back by the tools a user would have: `tar`,
//! `zstd`, `age` and `sqlite3`.
mod common;

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use chatkeep_core::config::{BackupSettings, RetentionSettings};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::{CollectEvents, Event, NoEvents};
use chatkeep_core::ops::backup::{Backups, parse_month};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::retention::{Retention, RunHooks};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::{Error, FixedClock, audit};
use chrono::Duration;
use chrono_tz::Tz;
use common::{TestDb, at, backup_settings as settings, clock, run_tool as run};

async fn seeded() -> (TestDb, FixedClock) {
    let db = TestDb::new().await;
    let clock = clock();
    let options =
        SeedOptions { conversations: 150, messages: 2_000, months: 4, seed: 3, until: at(2026, 11, 20, 0, 0, 0) };
    seed_demo(&db.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    (db, clock)
}

fn backups<'a>(
    db: &'a TestDb,
    settings: &'a BackupSettings,
    clock: &'a FixedClock,
    passphrase: Option<&'a SecretString>,
) -> Backups<'a> {
    Backups { store: &db.store, settings, tz: Tz::UTC, clock, passphrase, events: &NoEvents }
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
    let b = Backups { events: &events, ..backups(&db, &settings, &clock, None) };
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
    let b = backups(&db, &settings, &clock, Some(&passphrase));
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
    let err = backups(&db, &settings, &clock, Some(&wrong)).verify(row.id, Actor::Cli).await.unwrap_err();
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
    let b = backups(&db, &settings, &clock, None);
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
    let b = backups(&db, &settings, &clock, None);
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
    let b = backups(&db, &settings, &clock, None);
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
    let planned = backups(&db, &strict, &clock, None).prune(true, Actor::Cli).await.unwrap();
    assert!(!planned.iter().any(|p| p.id == snapshots[2].id), "the last verified snapshot is kept: {planned:?}");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let (db, clock) = seeded().await;
    let settings = settings(db.dir.path());
    let b = backups(&db, &settings, &clock, None);
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
    let err =
        backups(&db, &bad, &clock, None).snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");

    // Encryption on without a passphrase, or with an empty one.
    let encrypting = BackupSettings { encrypt: true, ..settings.clone() };
    let err = backups(&db, &encrypting, &clock, None)
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
    let b = backups(&db, &settings, &clock, None);
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

#[tokio::test]
async fn excluded_tables_leave_no_trace_in_the_snapshot_file() {
    let (db, clock) = seeded().await;
    sqlx::query("CREATE TABLE app_sessions (id INTEGER PRIMARY KEY, token TEXT); INSERT INTO app_sessions VALUES (1, 'secret-session-token-4711');")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let settings = BackupSettings { exclude_tables: vec!["app_sessions".into()], ..settings(db.dir.path()) };
    let row =
        backups(&db, &settings, &clock, None).snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let out = db.dir.path().join("out");
    unpack(&file_of(&settings, &row.file_name), &out);
    let copy = out.join("chatkeep.db");
    assert_eq!(count(&copy, "SELECT count(*) FROM app_sessions"), 0);
    let bytes = std::fs::read(&copy).unwrap();
    let needle = b"secret-session-token-4711";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle), "the excluded rows are not in the file's free pages");
}
