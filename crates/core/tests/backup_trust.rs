#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Anyone may be able to write to the backup folder: restores and verifies trust only
//! what the catalog recorded when chatkeep wrote each backup. Files are taken apart and
//! put back together with the real `tar` and `zstd`, as an attacker would. The stories
//! that do not depend on the engine's snapshot format run on SQLite and, when a server
//! answers, on PostgreSQL.
mod common;

use std::path::{Path, PathBuf};

use chatkeep_core::config::{BackupSettings, DatabaseUrl};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::backup::{Backups, parse_month};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::backups::BackupRow;
use chatkeep_core::{Error, FixedClock};
use chrono_tz::Tz;
use common::{AnyDb, at, backup_settings, clock, run_tool as run};

struct Case {
    db: AnyDb,
    dir: tempfile::TempDir,
    settings: BackupSettings,
    clock: FixedClock,
}

impl Case {
    async fn new(db: AnyDb) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let settings = backup_settings(dir.path());
        let clock = clock();
        let options =
            SeedOptions { conversations: 120, messages: 1_500, months: 4, seed: 5, until: at(2026, 11, 20, 0, 0, 0) };
        seed_demo(db.store(), &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
        Case { db, dir, settings, clock }
    }

    fn backups(&self) -> Backups<'_> {
        Backups {
            store: self.db.store(),
            settings: &self.settings,
            tz: Tz::UTC,
            clock: &self.clock,
            passphrase: None,
            events: &NoEvents,
        }
    }

    fn file(&self, row: &BackupRow) -> PathBuf {
        self.settings.directory.join(&row.file_name)
    }

    fn engine(&self) -> &'static str {
        self.db.store().engine()
    }

    async fn status(&self, id: i64) -> String {
        self.db.store().backup(id).await.unwrap().unwrap().status
    }

    /// Makes the catalog record `file` (size and SHA-256) as backup `id`'s, and with
    /// `manifest` its manifest too: as if chatkeep itself had written the forged file.
    /// Only a test can do this; it reaches the checks that stand behind the catalog's.
    async fn catalog_records(&self, id: i64, file: &Path, manifest: Option<&Path>) {
        let bytes = std::fs::metadata(file).unwrap().len();
        let sha = run("sha256sum", &[file.to_str().unwrap()], Path::new("."));
        let sha = sha.split_whitespace().next().unwrap();
        let manifest = match manifest {
            Some(path) => {
                let text = std::fs::read_to_string(path).unwrap().replace('\'', "''");
                match self.engine() {
                    "postgres" => format!(", manifest = '{text}'::json"),
                    _ => format!(", manifest = '{text}'"),
                }
            }
            None => String::new(),
        };
        self.db
            .execute(&format!("UPDATE backups SET sha256 = '{sha}', size_bytes = {bytes}{manifest} WHERE id = {id}"))
            .await;
    }
}

/// SQLite always; PostgreSQL when a server answers (and always in CI).
async fn engines(test: &str) -> Vec<Case> {
    let mut all = vec![Case::new(AnyDb::sqlite().await).await];
    if let Some(db) = AnyDb::postgres(test).await {
        all.push(Case::new(db).await);
    }
    all
}

/// `zstd -d | tar -x` into a fresh `work` folder.
fn unpack(file: &Path, work: &Path) {
    std::fs::create_dir_all(work).unwrap();
    let plain = work.join("plain.tar");
    run("zstd", &["-q", "-d", "-f", file.to_str().unwrap(), "-o", plain.to_str().unwrap()], work);
    run("tar", &["-xf", "plain.tar"], work);
    std::fs::remove_file(plain).unwrap();
}

/// Packs `entries` of `work` (in that order; a name given twice goes in twice) over `file`.
fn repack(work: &Path, entries: &[&str], file: &Path) {
    let mut args = vec!["-cf", "plain.tar"];
    args.extend_from_slice(entries);
    run("tar", &args, work);
    run("zstd", &["-q", "-f", "plain.tar", "-o", file.to_str().unwrap()], work);
    std::fs::remove_file(work.join("plain.tar")).unwrap();
}

/// Rewrites `work/manifest.json` through `edit`.
fn edit_manifest(work: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = work.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

const ARCHIVE_ENTRIES: [&str; 6] =
    ["manifest.json", "users.jsonl", "conversations.jsonl", "participants.jsonl", "messages.jsonl", "reads.jsonl"];

fn refused_as_not_written_by_chatkeep(err: &Error, why: &str) {
    let text = err.to_string();
    assert!(matches!(err, Error::Check(_)), "a check failure, not {:?}: {text}", err.code());
    assert!(text.contains("is not the backup chatkeep wrote") && text.contains(why), "{text}");
}

#[tokio::test]
async fn a_restore_refuses_a_backup_file_replaced_in_the_folder_before_extracting_anything() {
    for case in engines("trust_replaced_file").await {
        let engine = case.engine();
        let b = case.backups();
        let cancel = Cancel::new();
        let september =
            b.archive(parse_month("2026-09").unwrap(), true, Actor::Cli, &NoProgress, &cancel).await.unwrap();
        let october = b.archive(parse_month("2026-10").unwrap(), true, Actor::Cli, &NoProgress, &cancel).await.unwrap();
        // Another month's (otherwise perfect) backup put in September's place.
        std::fs::copy(case.file(&october), case.file(&september)).unwrap();

        let to = case.dir.path().join("restored.db");
        let err = b.restore_to(september.id, &to, Actor::Cli, &NoProgress).await.unwrap_err();
        refused_as_not_written_by_chatkeep(&err, "changed after it was written");
        assert!(!to.exists(), "{engine}: nothing was restored");
        let scratch: Vec<_> = std::fs::read_dir(case.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".chatkeep-restore"))
            .collect();
        assert!(scratch.is_empty(), "{engine}: no scratch folder is left: {scratch:?}");

        // Into the live database: refused too, and the live rows are as they were.
        let messages = case.db.count("messages").await;
        case.db.execute("DELETE FROM message_reads").await;
        let err = b.restore_into_live(september.id, None, Actor::Cli, &NoProgress).await.unwrap_err();
        refused_as_not_written_by_chatkeep(&err, "changed after it was written");
        assert_eq!(case.db.count("messages").await, messages, "{engine}: the live database is untouched");
        assert_eq!(case.db.count("message_reads").await, 0, "{engine}: nothing was merged back");

        // October's own backup still restores.
        b.restore_to(october.id, &case.dir.path().join("october.db"), Actor::Cli, &NoProgress).await.unwrap();
    }
}

#[tokio::test]
async fn editing_the_ledger_position_in_a_snapshots_manifest_cannot_bring_an_erased_person_back() {
    for case in engines("trust_ledger_position").await {
        let engine = case.engine();
        let b = case.backups();
        let person: String = case.db.scalar("SELECT external_id FROM users ORDER BY id LIMIT 1").await;
        let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
        // The person is erased after the snapshot; the ledger re-erases them on every restore.
        case.db
            .execute(&format!(
                "INSERT INTO erasure_ledger (subject_key, strategy, erased_at)
                 VALUES ('unkeyed:{person}', 'delete', '2026-11-22T00:00:00.000Z')"
            ))
            .await;

        // The attacker moves the snapshot's ledger position past that erasure.
        let file = case.file(&snapshot);
        let original = std::fs::read(&file).unwrap();
        let work = case.dir.path().join("forged");
        unpack(&file, &work);
        edit_manifest(&work, |m| m["erasure_ledger_position"] = 1_000_000.into());
        let entry = if engine == "postgres" { "chatkeep.dump" } else { "chatkeep.db" };
        repack(&work, &["manifest.json", entry], &file);

        let (to, to_url) = match engine {
            "postgres" => {
                let target = common::PgDb::new("trust_ledger_position_target").await.unwrap();
                (None, Some(target))
            }
            _ => (Some(case.dir.path().join("restored.db")), None),
        };
        let url = match (&to, &to_url) {
            (Some(path), _) => DatabaseUrl::Sqlite(path.clone()),
            (_, Some(pg)) => pg.url.clone(),
            _ => unreachable!(),
        };
        let err = b.restore_to_database(snapshot.id, &url, Actor::Cli, &NoProgress).await.unwrap_err();
        refused_as_not_written_by_chatkeep(&err, "changed after it was written");

        // Even a catalog that had recorded this very file (size and SHA-256) would not let
        // its manifest decide: the one recorded when the backup was made does.
        case.catalog_records(snapshot.id, &file, None).await;
        let err = b.restore_to_database(snapshot.id, &url, Actor::Cli, &NoProgress).await.unwrap_err();
        refused_as_not_written_by_chatkeep(&err, "differs from the one chatkeep recorded");
        if let Some(path) = &to {
            assert!(!path.exists(), "nothing was restored");
        }

        // The file chatkeep wrote restores, without the erased person.
        std::fs::write(&file, &original).unwrap();
        case.catalog_records(snapshot.id, &file, None).await;
        b.restore_to_database(snapshot.id, &url, Actor::Cli, &NoProgress).await.unwrap();
        let restored = chatkeep_core::Store::open(&url).await.unwrap();
        let found = chatkeep_core::ops::gdpr::find_subject(&restored, &person).await;
        assert!(found.is_err(), "{engine}: the erased person is not in the restored database: {found:?}");
        restored.close().await;
    }
}

#[tokio::test]
async fn a_snapshot_restore_checks_the_rows_it_restored() {
    let case = Case::new(AnyDb::sqlite().await).await;
    let b = case.backups();
    let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = case.file(&snapshot);
    let work = case.dir.path().join("forged");
    unpack(&file, &work);

    // A forger who also controlled the catalog: a well-formed but nearly empty database,
    // with the entry's checksum and size made to match, and the row counts left as they were.
    let db = work.join("chatkeep.db");
    std::fs::remove_file(&db).unwrap();
    run("sqlite3", &[db.to_str().unwrap(), "CREATE TABLE messages (id INTEGER PRIMARY KEY)"], &work);
    let sha = run("sha256sum", &["chatkeep.db"], &work).split_whitespace().next().unwrap().to_string();
    let bytes = std::fs::metadata(&db).unwrap().len();
    edit_manifest(&work, |m| {
        m["files"][0]["sha256"] = sha.clone().into();
        m["files"][0]["bytes"] = bytes.into();
    });
    repack(&work, &["manifest.json", "chatkeep.db"], &file);
    case.catalog_records(snapshot.id, &file, Some(&work.join("manifest.json"))).await;
    let to = case.dir.path().join("restored.db");
    let err = b.restore_to(snapshot.id, &to, Actor::Cli, &NoProgress).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("did not restore what it recorded") && text.contains("messages: 0 rows restored"), "{text}");
    assert!(!to.exists(), "no \"Restored backup\" with an empty database");

    // The entry as a link to a file elsewhere: refused, whatever the catalog says.
    std::fs::remove_file(&db).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &db).unwrap();
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    edit_manifest(&work, |m| {
        m["files"][0]["sha256"] = empty.into();
        m["files"][0]["bytes"] = 0.into();
    });
    repack(&work, &["manifest.json", "chatkeep.db"], &file);
    case.catalog_records(snapshot.id, &file, Some(&work.join("manifest.json"))).await;
    let err = b.restore_to(snapshot.id, &to, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("chatkeep.db is not a regular file"), "{err}");
    assert!(!to.exists());
}

#[tokio::test]
async fn oversized_manifests_and_entries_are_read_only_up_to_their_recorded_size() {
    let case = Case::new(AnyDb::sqlite().await).await;
    let b = case.backups();
    let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = case.file(&snapshot);
    let original = std::fs::read(&file).unwrap();
    let work = case.dir.path().join("forged");
    unpack(&file, &work);
    let manifest = std::fs::read(work.join("manifest.json")).unwrap();

    // A manifest of 8 MiB (it compresses to a few KiB): never read past 1 MiB.
    let mut padded = manifest.clone();
    padded.extend(std::iter::repeat_n(b' ', 8 << 20));
    std::fs::write(work.join("manifest.json"), &padded).unwrap();
    repack(&work, &["manifest.json", "chatkeep.db"], &file);
    assert!(std::fs::metadata(&file).unwrap().len() < 1 << 20, "the forged file is small");
    case.catalog_records(snapshot.id, &file, None).await;
    let verified = b.verify(snapshot.id, Actor::Cli).await.unwrap();
    assert!(!verified.ok && verified.problems[0].contains("larger than 1024 KiB"), "{:?}", verified.problems);

    // The database entry followed by 256 MiB of zeros: extraction stops one byte past the recorded size.
    std::fs::write(work.join("manifest.json"), &manifest).unwrap();
    let db = std::fs::OpenOptions::new().append(true).open(work.join("chatkeep.db")).unwrap();
    db.set_len(db.metadata().unwrap().len() + (256 << 20)).unwrap();
    repack(&work, &["manifest.json", "chatkeep.db"], &file);
    case.catalog_records(snapshot.id, &file, None).await;
    let verified = b.verify(snapshot.id, Actor::Cli).await.unwrap();
    assert!(!verified.ok && verified.problems[0].contains("chatkeep.db is longer than"), "{:?}", verified.problems);
    let to = case.dir.path().join("restored.db");
    let err = b.restore_to(snapshot.id, &to, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("chatkeep.db is longer than"), "{err}");
    assert!(!to.exists());

    // The original file, recorded again, is whole.
    std::fs::write(&file, &original).unwrap();
    case.catalog_records(snapshot.id, &file, None).await;
    assert!(b.verify(snapshot.id, Actor::Cli).await.unwrap().ok);
}

#[tokio::test]
async fn the_verifiers_own_faults_leave_the_backups_status_as_it_was() {
    let case = Case::new(AnyDb::sqlite().await).await;
    let b = case.backups();
    let snapshot = b.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let file = case.file(&snapshot);
    let work = case.dir.path().join("catalog");
    unpack(&file, &work);

    // The scratch space a deep check needs is known before it starts: here more than any disk has.
    edit_manifest(&work, |m| m["files"][0]["bytes"] = (1u64 << 60).into());
    case.catalog_records(snapshot.id, &file, Some(&work.join("manifest.json"))).await;
    let err = b.verify(snapshot.id, Actor::Cli).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "the verifying machine's fault: {err:?}");
    let text = err.to_string();
    assert!(text.contains("of scratch space in") && text.contains("free space there"), "{text}");
    assert_eq!(case.status(snapshot.id).await, "verified", "a good backup is not marked failed");
    let err = b.verify_all(Actor::Cli).await.unwrap_err();
    assert!(err.to_string().contains("scratch space"), "verify --all fails the run too: {err}");
    let to = case.dir.path().join("restored.db");
    let err = b.restore_to(snapshot.id, &to, Actor::Cli, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("scratch space"), "{err}");
    assert_eq!(case.status(snapshot.id).await, "verified");

    // Once there is room, verify --all checks it again, as ever.
    unpack(&file, &work);
    case.catalog_records(snapshot.id, &file, Some(&work.join("manifest.json"))).await;
    let all = b.verify_all(Actor::Cli).await.unwrap();
    assert!(all.results.iter().any(|r| r.id == snapshot.id && r.ok), "{:?}", all.results);
}

#[tokio::test]
async fn verify_wants_exactly_the_recorded_entries_once_each_of_the_catalogs_kind() {
    let case = Case::new(AnyDb::sqlite().await).await;
    let b = case.backups();
    let month = parse_month("2026-09").unwrap();
    let mut forgeries: Vec<(&str, Vec<&str>, bool, &str)> = vec![
        // (what, entries, the manifest says snapshot, the problem)
        (
            "duplicate",
            ARCHIVE_ENTRIES.iter().copied().chain(["messages.jsonl"]).collect(),
            false,
            "appears more than once",
        ),
        (
            "missing",
            ARCHIVE_ENTRIES.iter().copied().filter(|e| *e != "messages.jsonl").collect(),
            false,
            "missing from the file",
        ),
        ("kind", ARCHIVE_ENTRIES.to_vec(), true, "differs from the one chatkeep recorded"),
    ];
    for (what, entries, as_snapshot, problem) in forgeries.drain(..) {
        let row = b.archive(month, true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
        let file = case.file(&row);
        let work = case.dir.path().join(what);
        unpack(&file, &work);
        if as_snapshot {
            edit_manifest(&work, |m| m["kind"] = "snapshot".into());
        }
        repack(&work, &entries, &file);
        case.catalog_records(row.id, &file, None).await;
        let verified = b.verify(row.id, Actor::Cli).await.unwrap();
        assert!(!verified.ok && verified.problems[0].contains(problem), "{what}: {:?}", verified.problems);
        assert_eq!(case.status(row.id).await, "failed", "{what}: a failed archive covers no purge");
    }
}

#[tokio::test]
async fn a_link_planted_where_a_backup_is_written_is_never_followed() {
    let case = Case::new(AnyDb::sqlite().await).await;
    let victim = case.dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::fs::create_dir_all(&case.settings.directory).unwrap();
    // The temporary name backups were once written under, guessed for the next backup.
    std::os::unix::fs::symlink(&victim, case.settings.directory.join(".chatkeep-backup-1.partial")).unwrap();
    let row = case.backups().snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    assert_eq!((row.id, row.status.as_str()), (1, "verified"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}
