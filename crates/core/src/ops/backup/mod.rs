//! `chatkeep backup`: monthly archives and snapshots, compressed, optionally
//! encrypted, verified after writing, restorable, pruned.
//!
//! A backup is written under a temporary name in the backup folder, read
//! back and checked against its manifest, and only then renamed to its final
//! name: a file that looks complete is complete. Every step is recorded in
//! the `backups` catalog (`in_progress`, then `verified` or `failed` with the
//! reason) and in the audit log.

mod container;
pub mod manifest;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use age::secrecy::SecretString;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// The environment variable naming the folder of `pg_dump` and `pg_restore`.
pub use crate::store::snapshot::TOOLS_ENV as PG_TOOLS_ENV;
pub use container::HashingWriter;
use manifest::SnapshotFacts;
pub use manifest::{Manifest, ManifestFile};

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::{BackupSettings, DatabaseUrl};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::ops::import::{ImportOptions, ImportReport, import_jsonl_with};
use crate::ops::{Cancel, Progress};
use crate::store::backups::{BackupRow, ExportTable, Finished, NewBackup};
use crate::store::snapshot::{self, Expected, Format};
use crate::store::{Store, StoreError};
use crate::time::{Month, to_db};

/// Rows per export query when writing an archive.
const EXPORT_CHUNK: usize = 5_000;
const PREFIX: &str = "chatkeep-";
/// The largest `manifest.json` read from a backup; chatkeep's own are a few KiB.
const MANIFEST_CAP: u64 = 1 << 20;
/// Free space left on a disk after a verify's or a restore's scratch files.
const SCRATCH_MARGIN: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Archive,
    Snapshot,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Archive => "archive",
            Kind::Snapshot => "snapshot",
        }
    }
}

/// The environment variable holding the backup passphrase.
pub const PASSPHRASE_ENV: &str = "CHATKEEP_BACKUP_PASSPHRASE";

/// The backup passphrase of this process: [`PASSPHRASE_ENV`], else `backup.passphrase_file`;
/// `None` when neither is set. Every shell reads it through here.
pub fn passphrase(settings: &BackupSettings) -> Result<Option<SecretString>> {
    passphrase_from(settings, std::env::var(PASSPHRASE_ENV).ok())
}

/// Where the passphrase comes from: `env` (the value of [`PASSPHRASE_ENV`]), else `backup.passphrase_file`.
pub fn passphrase_from(settings: &BackupSettings, env: Option<String>) -> Result<Option<SecretString>> {
    let text = match env {
        Some(text) => Some(text),
        None => match &settings.passphrase_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::io(format!("cannot read the passphrase file {} (backup.passphrase_file)", path.display()), e)
                })?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            None => None,
        },
    };
    match text {
        Some(text) if text.trim().is_empty() => Err(Error::invalid(
            "the backup passphrase is empty: set CHATKEEP_BACKUP_PASSPHRASE or put it in backup.passphrase_file",
        )),
        Some(text) => Ok(Some(SecretString::from(text))),
        None => Ok(None),
    }
}

/// Everything backups need.
#[derive(Clone, Copy)]
pub struct Backups<'a> {
    pub store: &'a Store,
    pub settings: &'a BackupSettings,
    pub tz: Tz,
    pub clock: &'a dyn Clock,
    pub passphrase: Option<&'a SecretString>,
    pub events: &'a dyn EventSink,
}

impl<'a> Backups<'a> {
    /// Backups as the configuration says: its folder, encryption and zone.
    pub fn new(
        store: &'a Store,
        config: &'a crate::Config,
        clock: &'a dyn Clock,
        passphrase: Option<&'a SecretString>,
        events: &'a dyn EventSink,
    ) -> Backups<'a> {
        Backups { store, settings: &config.backup, tz: config.timezone, clock, passphrase, events }
    }
}

impl std::fmt::Debug for Backups<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups").field("settings", self.settings).finish_non_exhaustive()
    }
}

/// Where the erasure ledger and the audit log stood when a backup started: recorded in its manifest.
#[derive(Debug, Clone)]
struct Positions {
    ledger: i64,
    audit_head: Option<audit::AuditAnchor>,
}

/// A backup kind's work in the scratch folder, run by the shared writing path.
type Producing = Pin<Box<dyn Future<Output = Result<Produced>> + Send>>;

/// What a backup kind hands to the shared writing path.
struct Produced {
    manifest: Manifest,
    /// (name in the backup, file on disk), after the manifest.
    files: Vec<(String, PathBuf)>,
    /// A database snapshot whose structure is checked while the backup is written.
    check: Option<(Format, PathBuf)>,
}

/// A catalog row with what the folder says about it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub backup: BackupRow,
    /// False when the catalog names a file the folder does not have.
    pub file_present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub directory: PathBuf,
    pub backups: Vec<Listed>,
    /// Backup files in the folder the catalog does not know.
    pub unknown_files: Vec<String>,
}

/// The result of checking one backup.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub id: i64,
    pub file_name: String,
    pub ok: bool,
    pub problems: Vec<String>,
    pub row_counts: BTreeMap<String, u64>,
}

/// What [`Backups::verify_all`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifiedAll {
    pub results: Vec<Verified>,
    /// (backup id, why it could not be checked)
    pub skipped: Vec<(i64, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup: i64,
    pub kind: Kind,
    /// The new database file, or `None` for a merge into the live one (or a PostgreSQL target).
    pub to: Option<PathBuf>,
    /// The new PostgreSQL database (its URL, password hidden), for a restore into one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_database: Option<String>,
    pub import: Option<ImportReport>,
    pub row_counts: BTreeMap<String, u64>,
    /// People erased after the backup was made, erased again.
    pub erased_again: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneItem {
    pub id: i64,
    pub file_name: String,
    pub kind: String,
    pub created_at: String,
    pub reason: String,
}

impl<'a> Backups<'a> {
    fn directory(&self) -> &Path {
        &self.settings.directory
    }

    /// Checks the backup folder: creates it (owner-only) if missing, and makes sure it takes files.
    fn prepare_directory(&self) -> Result<()> {
        let dir = self.directory();
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(|e| {
                Error::io(format!("cannot create the backup folder {} (backup.directory)", dir.display()), e)
            })?;
        }
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "the backup folder {} is not a folder; set backup.directory (CHAT_BACKUP_DIRECTORY) to a folder",
                dir.display()
            )));
        }
        let probe = dir.join(format!(".chatkeep-write-test-{}", std::process::id()));
        container::create_private(&probe).map_err(|e| {
            Error::io(
                format!(
                    "the backup folder {} does not take new files (check its permissions and free space)",
                    dir.display()
                ),
                e,
            )
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// Marks backups left `in_progress` by a process that is gone as failed, and removes their partial files.
    pub async fn recover_interrupted(&self) -> Result<u64> {
        let mut recovered = 0;
        for row in self.store.backups().await? {
            if row.status != "in_progress" || row.owner_pid.is_some_and(|pid| process_alive(pid, &row.created_at)) {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(self.directory()) {
                let prefix = partial_prefix(row.id);
                for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            let mut tx = self.store.begin().await?;
            tx.finish_backup(
                row.id,
                &Finished::failed("interrupted: the process writing it stopped before it finished"),
            )
            .await?;
            tx.commit().await?;
            recovered += 1;
        }
        // With nothing running, scratch folders are leftovers of a killed run.
        let running = self.store.backups().await?.iter().any(|r| r.status == "in_progress");
        if !running && let Ok(entries) = std::fs::read_dir(self.directory()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if [".chatkeep-scratch-", ".chatkeep-verify-", ".chatkeep-backup-"].iter().any(|p| name.starts_with(p))
                {
                    let path = entry.path();
                    let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                }
            }
        }
        Ok(recovered)
    }

    /// A snapshot of the whole database, verified: on SQLite a consistent copy of the file,
    /// on PostgreSQL a `pg_dump` of the database (see [`crate::store::snapshot`]). What it
    /// needs (the file, tools matching the server) is found before anything is written.
    pub async fn snapshot(
        &self,
        manual: bool,
        actor: Actor,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<BackupRow> {
        let snapshotter = self.store.snapshotter().await?;
        let (now, name) = self.snapshot_name().await?;
        let at = to_db(now);
        let new = self.snapshot_row(manual, &name, &at);
        let (exclude, tz, stop) = (self.settings.exclude_tables.clone(), self.tz, cancel.clone());
        let engine = self.store.engine();
        self.create(new, actor, progress, cancel, move |scratch: PathBuf, at: Positions| -> Producing {
            Box::pin(async move {
                let cancelled = move || stop.is_cancelled();
                let (taken, hashed) = snapshotter.take(&scratch, &exclude, &cancelled, container::hash_file).await?;
                let (sha256, bytes) = hashed.map_err(|e| Error::io("cannot read the snapshot", e))?;
                let facts = SnapshotFacts {
                    manual,
                    engine,
                    created_at: to_db(now),
                    timezone: tz.name().into(),
                    erasure_ledger_position: at.ledger,
                    audit_head: at.audit_head,
                    excluded_tables: exclude.clone(),
                    dump_tool: taken.tool,
                };
                let entry = taken.format.entry();
                let file =
                    ManifestFile { name: entry.into(), bytes, sha256, rows: taken.rows, checksums: taken.checksums };
                let manifest = Manifest::snapshot(facts, file);
                let check = Some((taken.format, taken.path.clone()));
                Ok(Produced { manifest, files: vec![(entry.to_string(), taken.path)], check })
            })
        })
        .await
    }

    /// When a snapshot is taken (to the millisecond) and the file name it gets.
    async fn snapshot_name(&self) -> Result<(DateTime<Utc>, String)> {
        let now = crate::time::truncate_to_millis(self.clock.now());
        let name = self.unused_name(Kind::Snapshot, &now.format("%Y%m%dT%H%M%SZ").to_string()).await?;
        Ok((now, name))
    }

    /// A snapshot's catalog row: everything up to `at`.
    fn snapshot_row<'n>(&self, manual: bool, name: &'n str, at: &'n str) -> NewBackup<'n> {
        NewBackup {
            kind: "snapshot",
            manual,
            range_start: None,
            range_end: Some(at),
            year: None,
            month: None,
            file_name: name,
            encrypted: self.encrypting(),
            created_at: at,
        }
    }

    /// The monthly archive of `month`: its conversations, messages, reads and the people they refer to.
    /// Replaces an earlier archive of the month only once the new one has verified.
    pub async fn archive(
        &self,
        month: Month,
        manual: bool,
        actor: Actor,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<BackupRow> {
        let now = crate::time::truncate_to_millis(self.clock.now());
        let current = Month::containing(now, self.tz);
        if month >= current {
            return Err(Error::invalid(format!(
                "month {month} is not over yet (it is {current} in {}): archive it from the 1st of the next month",
                self.tz.name()
            )));
        }
        let (start, end) = month.range(self.tz);
        let (start, end) = (to_db(start), to_db(end));
        let name = file_name(Kind::Archive, &month.to_string(), self.encrypting());

        // Gather the month's rows (read-only) before the file work starts.
        let messages = self.store.message_ids_created_between(&start, &end).await?;
        // A new archive of the month replaces the old one: never with fewer messages than it holds
        // (rows purged since then would be lost from every backup).
        for earlier in self.store.backups().await? {
            let same_month =
                earlier.kind == "archive" && earlier.year == Some(month.year) && earlier.month == Some(month.month);
            if !same_month || earlier.status != "verified" {
                continue;
            }
            let held: u64 = earlier
                .row_counts
                .as_deref()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
                .and_then(|c| c["messages"].as_u64())
                .unwrap_or(0);
            if (messages.len() as u64) < held {
                return Err(Error::invalid(format!(
                    "backup #{} already archives {month} with {held} messages; the database now has {} for that month \
                     (some were purged since), so the existing archive is kept",
                    earlier.id,
                    messages.len()
                )));
            }
        }
        let conversations = self.store.archive_conversation_ids(&start, &end).await?;
        let users = self.store.referenced_user_ids(&conversations, &messages).await?;
        let mut lines: Vec<(ExportTable, Vec<String>)> = Vec::new();
        progress.set_total((messages.len() + conversations.len() + users.len()) as u64 * 2);
        let mut done = 0u64;
        for table in ExportTable::ALL {
            let ids = match table {
                ExportTable::Users => &users,
                ExportTable::Conversations | ExportTable::Participants => &conversations,
                ExportTable::Messages | ExportTable::Reads => &messages,
            };
            let mut chunks = Vec::new();
            for chunk in ids.chunks(EXPORT_CHUNK) {
                if cancel.is_cancelled() {
                    return Err(Error::invalid("the archive was cancelled; nothing was written"));
                }
                chunks.push(self.store.export_lines(table, chunk).await?);
                done += chunk.len() as u64;
                progress.advance_to(done);
            }
            lines.push((table, chunks));
        }

        let new = NewBackup {
            kind: "archive",
            manual,
            range_start: Some(&start),
            range_end: Some(&end),
            year: Some(month.year),
            month: i32::try_from(month.month).ok(),
            file_name: &name,
            encrypted: self.encrypting(),
            created_at: &to_db(now),
        };
        let tz = self.tz;
        let (range_start, range_end) = (start.clone(), end.clone());
        let replaced: Vec<i64> = self
            .store
            .backups()
            .await?
            .into_iter()
            .filter(|b| b.kind == "archive" && b.year == Some(month.year) && b.month == Some(month.month))
            .map(|b| b.id)
            .collect();
        let engine = self.store.engine();
        let row = self
            .create(new, actor, progress, cancel, move |scratch: PathBuf, at: Positions| -> Producing {
                Box::pin(blocking(move || {
                    let mut files = Vec::new();
                    let mut entries = Vec::new();
                    for (table, chunks) in &lines {
                        let path = scratch.join(table.file_name());
                        let file = File::create(&path).map_err(|e| Error::io("cannot write the archive's data", e))?;
                        let mut out = container::HashingWriter::new(BufWriter::new(file));
                        let mut rows = 0u64;
                        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                            out.write_all(chunk.as_bytes())
                                .and_then(|_| out.write_all(b"\n"))
                                .map_err(|e| Error::io("cannot write the archive's data", e))?;
                            rows += chunk.lines().count() as u64;
                        }
                        let (buffered, sha256, bytes) = out.finish();
                        buffered
                            .into_inner()
                            .map_err(|e| Error::io("cannot write the archive's data", e.into_error()))?;
                        files.push(ManifestFile {
                            name: table.file_name().into(),
                            bytes,
                            sha256,
                            rows: BTreeMap::from([(table.table().to_string(), rows)]),
                            checksums: BTreeMap::new(),
                        });
                        entries.push((table.file_name().to_string(), path));
                    }
                    let manifest = Manifest {
                        format: manifest::FORMAT.into(),
                        format_version: manifest::FORMAT_VERSION,
                        kind: "archive".into(),
                        manual,
                        engine: engine.into(),
                        app_version: crate::VERSION.into(),
                        created_at: to_db(now),
                        timezone: tz.name().into(),
                        range_start: Some(range_start),
                        range_end: Some(range_end),
                        month: Some(month.to_string()),
                        erasure_ledger_position: at.ledger,
                        audit_head: at.audit_head,
                        excluded_tables: Vec::new(),
                        dump_tool: None,
                        files,
                    };
                    Ok(Produced { manifest, files: entries, check: None })
                }))
            })
            .await?;
        // The new archive verified: earlier ones of the month leave the catalog (the file was replaced).
        for id in replaced {
            let mut tx = self.store.begin().await?;
            tx.delete_backup(id).await?;
            tx.commit().await?;
        }
        Ok(row)
    }

    /// A file name no backup in the folder or the catalog has yet (`-2`, `-3`... on a clash).
    async fn unused_name(&self, kind: Kind, range: &str) -> Result<String> {
        let taken: HashSet<String> = self.store.backups().await?.into_iter().map(|b| b.file_name).collect();
        let mut name = file_name(kind, range, self.encrypting());
        let mut n = 1;
        while taken.contains(&name) || self.directory().join(&name).exists() {
            n += 1;
            name = file_name(kind, &format!("{range}-{n}"), self.encrypting());
        }
        Ok(name)
    }

    fn encrypting(&self) -> bool {
        self.settings.encrypt
    }

    /// The shared path of every backup: catalog row, scratch files, container under a
    /// temporary name, verification, rename, catalog and audit. `produce` fills the
    /// scratch folder and returns the manifest and the files to put after it.
    async fn create<F>(
        &self,
        new: NewBackup<'_>,
        actor: Actor,
        progress: &dyn Progress,
        cancel: &Cancel,
        produce: F,
    ) -> Result<BackupRow>
    where
        F: FnOnce(PathBuf, Positions) -> Producing,
    {
        if self.settings.encrypt && self.passphrase.is_none() {
            return Err(Error::invalid(
                "backup.encrypt is on but there is no passphrase: set CHATKEEP_BACKUP_PASSPHRASE or backup.passphrase_file",
            ));
        }
        self.prepare_directory()?;
        self.recover_interrupted().await?;
        let kind = new.kind.to_string();
        let final_name = new.file_name.to_string();
        let mut tx = self.store.begin().await?;
        let id = tx.insert_backup(&new).await?;
        tx.commit().await?;

        let at = Positions {
            ledger: self.store.erasure_ledger_position().await?,
            audit_head: audit::head(self.store).await?,
        };
        // Only a monthly archive replaces a file of its name (its month's earlier archive).
        let may_replace = kind == "archive";
        progress.set_total(3);
        let outcome = self.produce_and_write(id, at, may_replace, &final_name, progress, cancel, produce).await;
        progress.advance_to(3);
        let now = to_db(self.clock.now());
        match outcome {
            Ok((manifest, written, rows)) => {
                let counts = serde_json::to_string(&rows).unwrap_or_default();
                let manifest_text = serde_json::to_string(&manifest).unwrap_or_default();
                let mut tx = self.store.begin().await?;
                tx.finish_backup(
                    id,
                    &Finished {
                        status: "verified",
                        size_bytes: Some(written.bytes as i64),
                        sha256: Some(&written.sha256),
                        row_counts: Some(&counts),
                        manifest: Some(&manifest_text),
                        error: None,
                        verified_at: Some(&now),
                    },
                )
                .await?;
                audit::append(
                    &mut tx,
                    self.clock.now(),
                    AuditEntry::new(actor, "backup.create")
                        .target(final_name.clone())
                        .details(serde_json::json!({
                            "backup": id, "kind": kind, "encrypted": new.encrypted, "bytes": written.bytes,
                            "sha256": written.sha256, "month": manifest.month,
                        }))
                        .counts(&rows),
                )
                .await?;
                tx.commit().await?;
                self.events.emit(Event::BackupDone { kind: kind.clone(), file: final_name, bytes: written.bytes });
                self.store.backup(id).await?.ok_or_else(|| Error::NotFound(format!("backup #{id}")))
            }
            Err(error) => {
                let message = error.to_string();
                self.fail(id, &kind, &message, actor).await?;
                Err(error)
            }
        }
    }

    /// Runs `produce` in a scratch folder, then writes the container under a temporary
    /// name, reads it back against the manifest, and gives it its final name.
    #[allow(clippy::too_many_arguments)]
    async fn produce_and_write<F>(
        &self,
        id: i64,
        at: Positions,
        may_replace: bool,
        final_name: &str,
        progress: &dyn Progress,
        cancel: &Cancel,
        produce: F,
    ) -> Result<(Manifest, container::Written, BTreeMap<String, u64>)>
    where
        F: FnOnce(PathBuf, Positions) -> Producing,
    {
        let dir = self.directory().to_path_buf();
        let scratch = tempfile::Builder::new()
            .prefix(".chatkeep-scratch-")
            .tempdir_in(&dir)
            .map_err(|e| Error::io(format!("cannot make a scratch folder in {}", dir.display()), e))?;
        let Produced { manifest, files, check } = produce(scratch.path().to_path_buf(), at).await?;
        progress.advance_to(1);
        if cancel.is_cancelled() {
            return Err(Error::invalid("the backup was cancelled; nothing was kept"));
        }
        let passphrase = if self.settings.encrypt { self.passphrase.cloned() } else { None };
        let final_path = dir.join(final_name);
        // Phases done (copy, write, read back), shown as progress while the blocking work runs.
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let phase_in_work = phase.clone();
        let step = move || phase_in_work.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let work =
            tokio::task::spawn_blocking(move || -> Result<(Manifest, container::Written, BTreeMap<String, u64>)> {
                // The scratch folder lives until the container is written.
                let _scratch = scratch;
                let partial = dir.join(partial_name(id));
                let threads = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1).min(4);
                // The database copy's structure is checked while the file is written and read back.
                let (checked_copy, written) = std::thread::scope(|scope| {
                    let checker =
                        check.as_ref().map(|(format, db)| scope.spawn(move || snapshot::check_written(*format, db)));
                    let written =
                        container::write(&partial, &manifest, &files, passphrase.as_ref(), threads).and_then(|w| {
                            step();
                            // Read it back before it gets its real name.
                            check_file(&partial, passphrase.as_ref(), &manifest, false).map(|c| (w, c.rows))
                        });
                    let checked_copy = match checker {
                        Some(handle) => handle
                            .join()
                            .unwrap_or_else(|_| Err(StoreError::Check("the snapshot check stopped".into())))
                            .map_err(Error::from),
                        None => Ok(()),
                    };
                    (checked_copy, written)
                });
                match checked_copy.and(written) {
                    Ok((written, rows)) => {
                        if !may_replace && final_path.exists() {
                            let _ = std::fs::remove_file(&partial);
                            return Err(Error::invalid(format!(
                                "{} already exists; chatkeep never writes one backup over another",
                                final_path.display()
                            )));
                        }
                        std::fs::rename(&partial, &final_path)
                            .map_err(|e| Error::io("cannot give the backup its final name", e))?;
                        sync_dir(&dir);
                        Ok((manifest, written, rows))
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&partial);
                        Err(e)
                    }
                }
            });
        let mut work = work;
        loop {
            tokio::select! {
                joined = &mut work => break match joined {
                    Ok(result) => result,
                    Err(join) => Err(Error::Check(format!("the backup worker stopped: {join}"))),
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    progress.advance_to(phase.load(std::sync::atomic::Ordering::Relaxed));
                }
            }
        }
    }

    async fn fail(&self, id: i64, what: &str, message: &str, actor: Actor) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.finish_backup(id, &Finished::failed(message)).await?;
        audit::append(
            &mut tx,
            self.clock.now(),
            AuditEntry::new(actor, "backup.failed")
                .target(format!("backup #{id}"))
                .details(serde_json::json!({ "kind": what, "error": message })),
        )
        .await?;
        tx.commit().await?;
        self.events.emit(Event::BackupFailed { what: format!("{what} backup #{id}"), error: message.to_string() });
        Ok(())
    }

    /// The catalog, with missing files and unknown files flagged.
    pub async fn list(&self) -> Result<Listing> {
        let rows = self.store.backups().await?;
        let known: HashSet<&str> = rows.iter().map(|r| r.file_name.as_str()).collect();
        let mut unknown_files = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.directory()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with(PREFIX) && name.contains(".tar.zst") && !known.contains(name.as_str()) {
                    unknown_files.push(name);
                }
            }
        }
        unknown_files.sort();
        let backups = rows
            .iter()
            .map(|r| Listed {
                backup: r.clone(),
                // In progress: not there yet. Failed before it was written: never there.
                file_present: r.status == "in_progress"
                    || (r.status == "failed" && r.size_bytes.is_none())
                    || self.directory().join(&r.file_name).exists(),
            })
            .collect();
        Ok(Listing { directory: self.directory().to_path_buf(), backups, unknown_files })
    }

    fn path_of(&self, row: &BackupRow) -> PathBuf {
        self.directory().join(&row.file_name)
    }

    async fn row(&self, id: i64) -> Result<BackupRow> {
        self.store
            .backup(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("backup #{id} (see `chatkeep backup list`)")))
    }

    /// The catalog's record of a backup (see [`Recorded`]).
    async fn recorded(&self, row: &BackupRow) -> Result<Recorded> {
        Recorded::of(row, self.store.backup_manifest(row.id).await?)
    }

    /// A backup that can be restored: it finished, its file is there, and the catalog
    /// recorded what it holds (the file itself is checked against that before it is read).
    async fn restorable(&self, id: i64) -> Result<(BackupRow, Recorded)> {
        let row = self.row(id).await?;
        match row.status.as_str() {
            "verified" | "completed" => {}
            "failed" => {
                return Err(Error::invalid(format!(
                    "backup #{id} failed ({}); restore a verified backup (see `chatkeep backup list`)",
                    row.error.as_deref().unwrap_or("no reason recorded")
                )));
            }
            other => return Err(Error::invalid(format!("backup #{id} is {other}; restore a verified backup"))),
        }
        if !self.path_of(&row).exists() {
            return Err(Error::Check(format!(
                "backup #{id}'s file {} is missing from {}",
                row.file_name,
                self.directory().display()
            )));
        }
        let recorded = self.recorded(&row).await?;
        Ok((row, recorded))
    }

    /// Checks the file against the catalog and pulls its data files into `scratch`,
    /// refusing (before anything is extracted) a file that is not the one chatkeep wrote.
    async fn extract_recorded(&self, row: &BackupRow, recorded: &Recorded, scratch: &Path) -> Result<Extracted> {
        let (path, passphrase, recorded, scratch) =
            (self.path_of(row), self.passphrase.cloned(), recorded.clone(), scratch.to_path_buf());
        let id = row.id;
        blocking(move || extract(&path, passphrase.as_ref(), &recorded, &scratch)).await.map_err(|error| match error {
            Error::Check(problem) => Error::Check(format!(
                "backup #{id} is not the backup chatkeep wrote, so nothing was restored: {problem} \
                     (see `chatkeep backup verify {id}`)"
            )),
            other => other,
        })
    }

    /// `audit verify`: the chain walked, then compared with the newest head a backup recorded.
    pub async fn verify_audit_log(&self) -> Result<audit::VerifyReport> {
        let anchor = self.newest_audit_anchor().await?;
        audit::verify_against(self.store, anchor).await
    }

    /// The newest record of the audit log's head kept outside the database: the one in the
    /// manifest inside the newest verified backup's file that holds one. Where that file
    /// cannot be read (moved away, encrypted and no passphrase here), the catalog's copy of
    /// its manifest stands in, and the source says so.
    pub async fn newest_audit_anchor(&self) -> Result<Option<audit::AnchorSource>> {
        for row in self.store.backups().await? {
            if row.status != "verified" {
                continue;
            }
            let Ok(recorded) = self.recorded(&row).await else { continue };
            let Some(catalog) = recorded.manifest.audit_head.clone() else { continue };
            let (path, passphrase) = (self.path_of(&row), self.passphrase.cloned());
            let in_file = blocking(move || read_manifest(&path, passphrase.as_ref())).await;
            let made = format!("backup #{} ({}, made {})", row.id, row.file_name, row.created_at);
            return Ok(Some(match in_file {
                Ok(manifest) => match manifest.audit_head {
                    Some(anchor) if anchor == catalog => audit::AnchorSource { anchor, from: made },
                    Some(anchor) => audit::AnchorSource {
                        anchor,
                        from: format!("{made}, whose file disagrees with the catalog's copy of its manifest"),
                    },
                    None => continue,
                },
                Err(_) => audit::AnchorSource {
                    anchor: catalog,
                    from: format!("{made}, as the catalog recorded it (its file could not be read here)"),
                },
            }));
        }
        Ok(None)
    }

    /// Re-reads a backup and checks it against its manifest and the catalog;
    /// marks it verified or failed, saying what differs.
    pub async fn verify(&self, id: i64, actor: Actor) -> Result<Verified> {
        let row = self.row(id).await?;
        if row.status == "in_progress" {
            return Err(Error::invalid(format!("backup #{id} is still being written")));
        }
        let path = self.path_of(&row);
        let passphrase = self.passphrase.cloned();
        let deep = row.kind == "snapshot";
        let result = match self.recorded(&row).await {
            Ok(recorded) => {
                if deep {
                    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                    ensure_scratch_space(&dir, recorded.data_bytes(), &format!("verifying backup #{id}"))?;
                }
                let checked = blocking(move || {
                    recorded.check_whole_file(&path)?;
                    check_file(&path, passphrase.as_ref(), &recorded.manifest, deep)
                })
                .await;
                // A dump is checked by restoring it into a scratch database on the server.
                match checked {
                    Ok(Checked { on_server: Some((_scratch, format, entry)), manifest, .. }) => {
                        let expected = expected_of(&manifest, format)?;
                        self.store.check_snapshot_on_server(format, &entry, &expected).await.map_err(|e| match e {
                            StoreError::InvalidInput(why) => Error::invalid(format!("backup #{id}: {why}")),
                            other => other.into(),
                        })
                    }
                    other => other.map(|c| c.rows),
                }
            }
            Err(error) => Err(error),
        };
        let now = to_db(self.clock.now());
        let mut tx = self.store.begin().await?;
        let verified = match result {
            Ok(rows) => {
                tx.finish_backup(id, &Finished::reverified(&now)).await?;
                Verified { id, file_name: row.file_name.clone(), ok: true, problems: Vec::new(), row_counts: rows }
            }
            // Only what the backup itself shows judges it. Without the passphrase, or with the
            // verifying machine's own fault (no scratch space, permissions), its status stays.
            Err(Error::Check(message)) => {
                tx.finish_backup(id, &Finished::failed(&message)).await?;
                self.events.emit(Event::BackupFailed {
                    what: format!("verification of backup #{id}"),
                    error: message.clone(),
                });
                Verified {
                    id,
                    file_name: row.file_name.clone(),
                    ok: false,
                    problems: vec![message],
                    row_counts: BTreeMap::new(),
                }
            }
            Err(other) => return Err(other),
        };
        audit::append(
            &mut tx,
            self.clock.now(),
            AuditEntry::new(actor, "backup.verify")
                .target(row.file_name.clone())
                .details(serde_json::json!({ "backup": id, "ok": verified.ok, "problems": verified.problems })),
        )
        .await?;
        tx.commit().await?;
        Ok(verified)
    }

    /// Verifies every finished backup whose file is there. An encrypted one that
    /// cannot be opened without the passphrase is skipped with the reason, not failed.
    pub async fn verify_all(&self, actor: Actor) -> Result<VerifiedAll> {
        let mut all = VerifiedAll::default();
        for listed in self.list().await?.backups {
            let row = &listed.backup;
            if !listed.file_present || row.status == "in_progress" || row.status == "failed" {
                continue;
            }
            match self.verify(row.id, actor).await {
                Ok(result) => all.results.push(result),
                Err(Error::InvalidInput(reason)) => all.skipped.push((row.id, reason)),
                Err(other) => return Err(other),
            }
        }
        Ok(all)
    }

    /// Restores a backup into a new database file (never over an existing one),
    /// then re-applies the erasure ledger of the live database to it.
    pub async fn restore_to(&self, id: i64, to: &Path, actor: Actor, progress: &dyn Progress) -> Result<RestoreReport> {
        let (row, recorded) = self.restorable(id).await?;
        // The catalog lives in the database it backs up: its snapshots are of this engine.
        let restores_into_file = |format: Format| format.restores_into_file();
        if row.kind == "snapshot"
            && !(restores_into_file(self.store.snapshot_format())
                && recorded.snapshot_format().is_some_and(restores_into_file))
        {
            return Err(postgres_snapshot_needs_database(id));
        }
        if to.exists() {
            return Err(Error::invalid(format!(
                "{} already exists: restore into a new file (chatkeep never restores over a database)",
                to.display()
            )));
        }
        if self.store.database_file().is_some_and(|live| same_file(&live, to)) {
            return Err(Error::invalid("that is the live database: restore into a new file"));
        }
        let parent = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::invalid(format!("the folder {} does not exist", parent.display())));
        }
        let kind = if row.kind == "snapshot" { Kind::Snapshot } else { Kind::Archive };
        // The data files, and for an archive the combined import file and the new database beside them.
        let copies = if kind == Kind::Snapshot { 1 } else { 3 };
        ensure_scratch_space(parent, recorded.data_bytes().saturating_mul(copies), &format!("restoring backup #{id}"))?;
        let scratch = tempfile::Builder::new()
            .prefix(".chatkeep-restore-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("cannot make a scratch folder in {}", parent.display()), e))?;
        let extracted = self.extract_recorded(&row, &recorded, scratch.path()).await?;
        let ledger = crate::ops::gdpr::load_ledger(self.store, self.clock).await?;
        // Everything happens in the scratch folder; the finished database is renamed into place last,
        // so a failure or a kill never leaves a file at `to` that still holds erased people.
        let staged = scratch.path().join("restored.db");
        let (import, row_counts) = match kind {
            Kind::Snapshot => {
                let format = recorded.snapshot_format().unwrap_or(Format::SqliteFile);
                let db = scratch.path().join(format.entry());
                let rows = snapshot::check_entry(format, &db)?.unwrap_or_default();
                check_restored_rows(id, &recorded.manifest, &rows)?;
                std::fs::rename(&db, &staged).map_err(|e| Error::io("cannot stage the restored database", e))?;
                (None, rows)
            }
            Kind::Archive => {
                let combined = combine_jsonl(scratch.path(), &extracted, None, &ledger)?;
                let target = Store::open(&crate::config::DatabaseUrl::Sqlite(staged.clone())).await?;
                let options =
                    ImportOptions { keep_existing: true, drop_missing_reply_to: true, action: "backup.restore" };
                let report = import_jsonl_with(&target, &combined, options, actor, self.clock, progress).await;
                target.close().await;
                (Some(report?), recorded.manifest.row_counts())
            }
        };
        let target = Store::open(&crate::config::DatabaseUrl::Sqlite(staged.clone())).await?;
        let position = recorded.manifest.erasure_ledger_position;
        let replayed = crate::ops::gdpr::reapply_erasure_ledger(&target, &ledger, position, actor, self.clock).await;
        target.close().await;
        let (erased_again, _) = replayed?;
        restrict(&staged);
        if to.exists() {
            return Err(Error::invalid(format!("{} appeared while restoring; nothing was overwritten", to.display())));
        }
        std::fs::rename(&staged, to)
            .map_err(|e| Error::io(format!("cannot move the restored database to {}", to.display()), e))?;
        self.audit_restore(actor, &row, Some(to.display().to_string()), erased_again).await?;
        Ok(RestoreReport {
            backup: id,
            kind,
            to: Some(to.to_path_buf()),
            to_database: None,
            import,
            row_counts,
            erased_again,
        })
    }

    /// Restores a backup into a new database: a SQLite file (as [`restore_to`](Self::restore_to))
    /// or a PostgreSQL database that does not exist yet (or exists and is empty). A
    /// PostgreSQL snapshot goes in through `pg_restore`, a monthly archive (from either
    /// engine) through the import; then the live database's erasure ledger is re-applied.
    /// A new database is written under a scratch name and renamed only when complete.
    pub async fn restore_to_database(
        &self,
        id: i64,
        to: &DatabaseUrl,
        actor: Actor,
        progress: &dyn Progress,
    ) -> Result<RestoreReport> {
        match to.file() {
            Some(path) => self.restore_to(id, path, actor, progress).await,
            None => self.restore_to_server(id, to, actor, progress).await,
        }
    }

    /// Restores into a new database on a server (see [`crate::store::snapshot::NewDatabase`]).
    async fn restore_to_server(
        &self,
        id: i64,
        to: &DatabaseUrl,
        actor: Actor,
        progress: &dyn Progress,
    ) -> Result<RestoreReport> {
        let (row, recorded) = self.restorable(id).await?;
        if row.kind == "snapshot" && recorded.snapshot_format().is_none_or(Format::restores_into_file) {
            return Err(Error::invalid(format!(
                "backup #{id} is a SQLite snapshot: it restores into a new SQLite file (--to NEW.db); \
                 to bring chat data into PostgreSQL, restore its monthly archives there"
            )));
        }
        let mut target = self.store.new_database(to).await?;
        let snapshot = recorded.snapshot_format();
        // The data files, and for an archive the combined import file beside them.
        let copies = if snapshot.is_some() { 1 } else { 2 };
        ensure_scratch_space(
            self.directory(),
            recorded.data_bytes().saturating_mul(copies),
            &format!("restoring backup #{id}"),
        )?;
        let scratch = tempfile::Builder::new()
            .prefix(".chatkeep-restore-")
            .tempdir_in(self.directory())
            .map_err(|e| Error::io("cannot make a scratch folder in the backup folder", e))?;
        let extracted = self.extract_recorded(&row, &recorded, scratch.path()).await?;
        let dump = snapshot.map(|format| (format, scratch.path().join(format.entry())));
        // Found before anything is created on the server.
        let tools = match &dump {
            Some(_) => Some(target.tools_for(recorded.manifest.dump_tool.as_deref()).await?),
            None => None,
        };
        let ledger = crate::ops::gdpr::load_ledger(self.store, self.clock).await?;
        target.begin().await?;
        let restored = async {
            let (import, row_counts) = match (&dump, &tools) {
                (Some((format, dump)), Some(tools)) => {
                    let expected = expected_of(&recorded.manifest, *format)?;
                    (None, target.restore_dump(tools, dump, &expected).await?)
                }
                _ => {
                    let combined = combine_jsonl(scratch.path(), &extracted, None, &ledger)?;
                    let store = Store::open(&target.work_url()).await?;
                    let options =
                        ImportOptions { keep_existing: true, drop_missing_reply_to: true, action: "backup.restore" };
                    let report = import_jsonl_with(&store, &combined, options, actor, self.clock, progress).await;
                    store.close().await;
                    (Some(report?), recorded.manifest.row_counts())
                }
            };
            // Opening it also brings a snapshot of an older chatkeep up to the current schema.
            let store = Store::open(&target.work_url()).await?;
            let position = recorded.manifest.erasure_ledger_position;
            let replayed = crate::ops::gdpr::reapply_erasure_ledger(&store, &ledger, position, actor, self.clock).await;
            store.close().await;
            let (erased_again, _) = replayed?;
            Ok::<_, Error>((import, row_counts, erased_again))
        }
        .await;
        let (import, row_counts, erased_again) = match restored {
            Ok(done) => done,
            Err(error) => {
                target.abandon().await;
                return Err(error);
            }
        };
        let shown = target.shown();
        target.finish().await?;
        self.audit_restore(actor, &row, Some(shown.clone()), erased_again).await?;
        let kind = if row.kind == "snapshot" { Kind::Snapshot } else { Kind::Archive };
        Ok(RestoreReport { backup: id, kind, to: None, to_database: Some(shown), import, row_counts, erased_again })
    }

    /// Merges an archive back into the live database: rows that exist are left
    /// as they are, missing ones come back. Idempotent. Then re-applies the erasure ledger.
    pub async fn restore_into_live(
        &self,
        id: i64,
        conversation: Option<&str>,
        actor: Actor,
        progress: &dyn Progress,
    ) -> Result<RestoreReport> {
        let (row, recorded) = self.restorable(id).await?;
        if row.kind != "archive" {
            return Err(Error::invalid(format!(
                "backup #{id} is a snapshot; a snapshot restores into a new file (--to NEW.db), never into the live database"
            )));
        }
        // The data files and the combined import file.
        ensure_scratch_space(
            self.directory(),
            recorded.data_bytes().saturating_mul(2),
            &format!("restoring backup #{id}"),
        )?;
        let scratch = tempfile::Builder::new()
            .prefix(".chatkeep-restore-")
            .tempdir_in(self.directory())
            .map_err(|e| Error::io("cannot make a scratch folder in the backup folder", e))?;
        let extracted = self.extract_recorded(&row, &recorded, scratch.path()).await?;
        let ledger = crate::ops::gdpr::load_ledger(self.store, self.clock).await?;
        let combined = combine_jsonl(scratch.path(), &extracted, conversation, &ledger)?;
        let options = ImportOptions { keep_existing: true, drop_missing_reply_to: true, action: "backup.restore" };
        let report = import_jsonl_with(self.store, &combined, options, actor, self.clock, progress).await?;
        if let Some(conversation) = conversation
            && report.conversations.inserted + report.conversations.unchanged == 0
        {
            return Err(Error::NotFound(format!("conversation {conversation:?} in backup #{id}")));
        }
        // Erasures since the backup: the merge may have brought their rows back.
        let ledger = crate::ops::gdpr::load_ledger(self.store, self.clock).await?;
        let position = recorded.manifest.erasure_ledger_position;
        let (erased_again, _) =
            crate::ops::gdpr::reapply_erasure_ledger(self.store, &ledger, position, actor, self.clock).await?;
        self.audit_restore(actor, &row, None, erased_again).await?;
        Ok(RestoreReport {
            backup: id,
            kind: Kind::Archive,
            to: None,
            to_database: None,
            row_counts: recorded.manifest.row_counts(),
            import: Some(report),
            erased_again,
        })
    }

    async fn audit_restore(&self, actor: Actor, row: &BackupRow, to: Option<String>, erased_again: u64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        audit::append(
            &mut tx,
            self.clock.now(),
            AuditEntry::new(actor, "backup.restore").target(row.file_name.clone()).details(serde_json::json!({
                "backup": row.id, "into_live": to.is_none(), "to": to,
                "erased_again": erased_again,
            })),
        )
        .await?;
        Ok(tx.commit().await?)
    }

    /// What pruning removes: snapshots beyond `keep_daily` newest days (plus `keep_weekly`
    /// weekly generations), archives beyond `keep_monthly` newest months; never the newest
    /// verified backup of a kind. With `dry_run`, only lists.
    pub async fn prune(&self, dry_run: bool, actor: Actor) -> Result<Vec<PruneItem>> {
        let rows = self.store.backups().await?; // newest first
        let mut going = Vec::new();
        for kind in ["snapshot", "archive"] {
            let of_kind: Vec<&BackupRow> = rows
                .iter()
                .filter(|r| r.kind == kind && matches!(r.status.as_str(), "verified" | "completed"))
                .collect();
            let newest_verified = of_kind.iter().find(|r| r.status == "verified").map(|r| r.id);
            let mut kept_days: Vec<String> = Vec::new();
            let mut kept_weeks: Vec<String> = Vec::new();
            let mut kept_months: Vec<(i32, u32)> = Vec::new();
            for row in of_kind {
                let created = crate::time::from_db(&row.created_at).unwrap_or_else(Utc::now).with_timezone(&self.tz);
                let by_rule = if kind == "snapshot" {
                    let day = created.date_naive().to_string();
                    let week = format!("{}-W{:02}", created.iso_week().year(), created.iso_week().week());
                    if kept_days.contains(&day) {
                        None
                    } else if (kept_days.len() as u32) < self.settings.keep_daily {
                        kept_days.push(day);
                        Some("daily")
                    } else if !kept_weeks.contains(&week) && (kept_weeks.len() as u32) < self.settings.keep_weekly {
                        kept_weeks.push(week);
                        Some("weekly")
                    } else {
                        None
                    }
                } else {
                    let month = (row.year.unwrap_or(0), row.month.unwrap_or(0));
                    if !kept_months.contains(&month) && (kept_months.len() as u32) < self.settings.keep_monthly {
                        kept_months.push(month);
                        Some("monthly")
                    } else {
                        None
                    }
                };
                // The newest verified backup of a kind is never pruned, whatever the rules say.
                let keep_reason = by_rule.or((Some(row.id) == newest_verified).then_some("the newest verified"));
                if keep_reason.is_none() {
                    let reason = if kind == "snapshot" {
                        format!(
                            "older than the {} newest daily snapshots{}",
                            self.settings.keep_daily,
                            if self.settings.keep_weekly > 0 {
                                format!(" and {} weekly generations", self.settings.keep_weekly)
                            } else {
                                String::new()
                            }
                        )
                    } else {
                        format!("older than the {} newest monthly archives", self.settings.keep_monthly)
                    };
                    going.push(PruneItem {
                        id: row.id,
                        file_name: row.file_name.clone(),
                        kind: kind.into(),
                        created_at: row.created_at.clone(),
                        reason,
                    });
                }
            }
        }
        if dry_run || going.is_empty() {
            return Ok(going);
        }
        for item in &going {
            let path = self.directory().join(&item.file_name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
            }
            let mut tx = self.store.begin().await?;
            tx.delete_backup(item.id).await?;
            audit::append(
                &mut tx,
                self.clock.now(),
                AuditEntry::new(actor, "backup.prune")
                    .target(item.file_name.clone())
                    .details(serde_json::json!({ "backup": item.id, "reason": item.reason })),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(going)
    }

    /// Copies a backup to `to` (a file, or a folder to put it in), checking the copy.
    /// Refuses to overwrite unless asked.
    pub async fn save_copy(&self, id: i64, to: &Path, overwrite: bool) -> Result<PathBuf> {
        let (row, recorded) = self.restorable(id).await?;
        let source = self.path_of(&row);
        let target = if to.is_dir() { to.join(&row.file_name) } else { to.to_path_buf() };
        crate::output::check_target(&target, overwrite)?;
        if same_file(&source, &target) {
            return Err(Error::invalid("that is the backup itself"));
        }
        let expected = recorded.sha256;
        let target_for_copy = target.clone();
        blocking(move || {
            let (file, pending) = crate::output::create(&target_for_copy, overwrite)?;
            let copy = || -> std::io::Result<(String, File)> {
                let mut input = File::open(&source)?;
                let mut out = container::HashingWriter::new(BufWriter::new(file));
                std::io::copy(&mut input, &mut out)?;
                let (buffered, sha, _) = out.finish();
                Ok((sha, buffered.into_inner().map_err(|e| e.into_error())?))
            };
            let (sha, file) =
                copy().map_err(|e| Error::io(format!("cannot copy the backup to {}", target_for_copy.display()), e))?;
            if expected != sha {
                return Err(Error::Check("the copy does not match the backup's checksum; nothing was saved".into()));
            }
            Ok(pending.finish(file).map(drop)?)
        })
        .await?;
        Ok(target)
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Check(format!("a backup worker stopped: {e}")))?
}

fn postgres_snapshot_needs_database(id: i64) -> Error {
    Error::invalid(format!(
        "backup #{id} is a PostgreSQL snapshot (pg_dump): restore it into a new PostgreSQL database \
         (--to postgres://USER@HOST/NEW_DATABASE), not into a file"
    ))
}

fn file_name(kind: Kind, range: &str, encrypted: bool) -> String {
    format!("{PREFIX}{}-{range}.tar.zst{}", kind.as_str(), if encrypted { ".age" } else { "" })
}

/// The temporary name a backup is written under: unpredictable, so nobody can plant a
/// file or link there ahead of it (it is created exclusively, 0600, in any case).
fn partial_name(id: i64) -> String {
    format!("{}{:016x}.partial", partial_prefix(id), rand::random::<u64>())
}

fn partial_prefix(id: i64) -> String {
    format!(".chatkeep-backup-{id}-")
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether the process that started a backup may still be running: on Linux from
/// /proc; elsewhere a backup younger than 12 hours is assumed to be still running.
fn process_alive(pid: i64, started: &str) -> bool {
    if pid == i64::from(std::process::id()) {
        return true;
    }
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    crate::time::from_db(started).is_none_or(|at| Utc::now() - at < chrono::Duration::hours(12))
}

/// Owner-only permissions for a file holding chat data.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// A backup file that cannot be opened: missing is the backup's problem; anything
/// else (permissions, a failing disk) is the machine's, and judges nothing.
fn unreadable(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::Check(format!("the file {} is missing", path.display()))
    } else {
        Error::io(format!("cannot read the backup {}", path.display()), e)
    }
}

/// Data files pulled out of a backup into a scratch folder.
struct Extracted {
    files: Vec<String>,
}

/// What the catalog recorded when chatkeep wrote a backup: the only thing a restore or a
/// verify decides from (kind, range, rows, erasure-ledger position, engine). The file in
/// the folder is checked against it before anything in the file is used.
#[derive(Debug, Clone)]
struct Recorded {
    id: i64,
    manifest: Manifest,
    sha256: String,
    bytes: u64,
}

impl Recorded {
    /// The catalog's record of `row`, checked to be the shape chatkeep writes for its kind.
    fn of(row: &BackupRow, manifest: Option<String>) -> Result<Recorded> {
        let id = row.id;
        let (Some(sha256), Some(bytes), Some(text)) = (row.sha256.clone(), row.size_bytes, manifest) else {
            return Err(Error::Check(format!(
                "the catalog holds no checksum or manifest for backup #{id}; only a backup chatkeep recorded \
                 when it wrote it can be verified or restored"
            )));
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::Check(format!("the catalog's manifest of backup #{id} is not valid: {e}")))?;
        let recorded = Recorded { id, manifest, sha256, bytes: u64::try_from(bytes).unwrap_or(0) };
        recorded.check_shape(&row.kind)?;
        Ok(recorded)
    }

    /// Exactly the entries chatkeep writes for the catalog's kind, with plain names.
    fn check_shape(&self, kind: &str) -> Result<()> {
        let (id, m) = (self.id, &self.manifest);
        if m.format != manifest::FORMAT || m.format_version > manifest::FORMAT_VERSION {
            return Err(Error::Check(format!(
                "backup #{id} is format {} version {}; this chatkeep reads {} version {} or older",
                m.format,
                m.format_version,
                manifest::FORMAT,
                manifest::FORMAT_VERSION
            )));
        }
        if m.kind != kind {
            return Err(Error::Check(format!("backup #{id}'s manifest says {}, the catalog says {kind}", m.kind)));
        }
        let mut names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        let mut wanted: Vec<&str> = match (kind, m.engine.as_str()) {
            ("archive", _) => ExportTable::ALL.iter().map(|t| t.file_name()).collect(),
            ("snapshot", engine) => vec![Format::of_engine(engine).entry()],
            _ => Vec::new(),
        };
        wanted.sort_unstable();
        if names != wanted {
            return Err(Error::Check(format!(
                "backup #{id} lists the files {names:?}; a {kind} holds exactly {wanted:?}"
            )));
        }
        Ok(())
    }

    /// The file in the folder is the one chatkeep wrote: same size, same SHA-256.
    fn check_whole_file(&self, path: &Path) -> Result<()> {
        let size = std::fs::metadata(path).map_err(|e| unreadable(path, e))?.len();
        if size != self.bytes {
            return Err(Error::Check(format!(
                "the file {} is {size} bytes, but the catalog recorded {}: it changed after it was written",
                path.display(),
                self.bytes
            )));
        }
        let (actual, _) = container::hash_file(path).map_err(|e| unreadable(path, e))?;
        if actual != self.sha256 {
            return Err(Error::Check(format!(
                "the file's SHA-256 is {actual}, but the catalog recorded {}: it changed after it was written",
                self.sha256
            )));
        }
        Ok(())
    }

    /// The bytes of the data entries, as recorded.
    fn data_bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.bytes).sum()
    }

    /// The format of the database snapshot this backup holds; `None` for an archive.
    fn snapshot_format(&self) -> Option<Format> {
        self.manifest.files.iter().find_map(|f| Format::of_entry(&f.name))
    }
}

/// What [`check_file`] found.
struct Checked {
    rows: BTreeMap<String, u64>,
    manifest: Manifest,
    /// A snapshot only a server can open (a dump), extracted by a deep check (with its
    /// scratch folder), still to be restored into a scratch database there.
    on_server: Option<(tempfile::TempDir, Format, PathBuf)>,
}

/// Reads a backup through, checks it against `expected` (the manifest recorded when
/// it was written), and returns the rows per table. With `deep`, a SQLite snapshot is
/// extracted to a scratch folder and opened with `PRAGMA integrity_check`; a PostgreSQL
/// dump is extracted and handed back for the caller to restore.
fn check_file(path: &Path, passphrase: Option<&SecretString>, expected: &Manifest, deep: bool) -> Result<Checked> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let scratch = if deep {
        ensure_scratch_space(dir, expected.files.iter().map(|f| f.bytes).sum(), "checking the backup")?;
        Some(
            tempfile::Builder::new()
                .prefix(".chatkeep-verify-")
                .tempdir_in(dir)
                .map_err(|e| scratch_fault(&dir.join(".chatkeep-verify"), e))?,
        )
    } else {
        None
    };
    let mut dump = None;
    walk(path, passphrase, expected, |name, reader| {
        let Some(scratch) = &scratch else {
            let (sha, bytes, rows) = count_entry(name, reader)?;
            // A snapshot's rows are counted only when it is opened (deep).
            return Ok((sha, bytes, (!is_snapshot_entry(name)).then_some(rows)));
        };
        let target = scratch.path().join(name);
        let mut file = container::create_private(&target).map_err(|e| scratch_fault(scratch.path(), e))?;
        let mut hashing = container::HashingReader::new(reader);
        copy_entry(path, scratch.path(), &mut hashing, &mut file)?;
        let (sha, bytes) = hashing.finish();
        let listed = expected.files.iter().find(|f| f.name == name).map_or(0, |f| f.bytes);
        if sha != expected.files.iter().find(|f| f.name == name).map_or("", |f| f.sha256.as_str()) || bytes != listed {
            // Not what was written: the walk reports it; never open it.
            return Ok((sha, bytes, None));
        }
        let rows = if let Some(format) = Format::of_entry(name) {
            drop(file);
            match snapshot::check_entry(format, &target)? {
                Some(rows) => rows,
                None => {
                    dump = Some((format, target));
                    return Ok((sha, bytes, None));
                }
            }
        } else {
            let reader = BufReader::new(File::open(&target).map_err(|e| scratch_fault(scratch.path(), e))?);
            BTreeMap::from([(String::new(), reader.lines().count() as u64)])
        };
        Ok((sha, bytes, Some(rows)))
    })?;
    let on_server = match (scratch, dump) {
        (Some(scratch), Some((format, dump))) => Some((scratch, format, dump)),
        _ => None,
    };
    Ok(Checked { rows: expected.row_counts(), manifest: expected.clone(), on_server })
}

/// What the catalog's manifest recorded of a snapshot's entry, for a check or a restore to compare with.
fn expected_of(manifest: &Manifest, format: Format) -> Result<Expected<'_>> {
    let entry = format.entry();
    let file = manifest
        .files
        .iter()
        .find(|f| f.name == entry)
        .ok_or_else(|| Error::Check(format!("the manifest does not list {entry}")))?;
    Ok(Expected { rows: &file.rows, checksums: &file.checksums, dump_tool: manifest.dump_tool.as_deref() })
}

/// A restored snapshot holds the rows per table the catalog's manifest recorded.
fn check_restored_rows(id: i64, manifest: &Manifest, found: &BTreeMap<String, u64>) -> Result<()> {
    let mut problems = Vec::new();
    for file in manifest.files.iter().filter(|f| Format::of_entry(&f.name).is_some()) {
        for (table, rows) in &file.rows {
            let restored = found.get(table).copied().unwrap_or(0);
            if restored != *rows {
                problems.push(format!("{table}: {restored} rows restored, the manifest says {rows}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(format!("backup #{id} did not restore what it recorded: {}", problems.join("; "))))
    }
}

/// A database snapshot's entry (SQLite file or PostgreSQL dump): its rows are counted by opening it.
fn is_snapshot_entry(name: &str) -> bool {
    Format::of_entry(name).is_some()
}

fn truncated(path: &Path, e: std::io::Error) -> Error {
    Error::Check(format!("{} cannot be read to the end (truncated or damaged): {e}", path.display()))
}

/// Hashes and counts lines of an entry. Decompression (the reader) and hashing run on two
/// threads, handing over 1 MiB blocks.
fn count_entry(name: &str, reader: &mut dyn Read) -> Result<(String, u64, BTreeMap<String, u64>)> {
    use sha2::{Digest, Sha256};
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (sha, bytes, lines, last) = std::thread::scope(|scope| -> Result<(String, u64, u64, u8)> {
        let hasher = scope.spawn(move || {
            let (mut hash, mut bytes, mut lines, mut last) = (Sha256::new(), 0u64, 0u64, b'\n');
            for block in receive {
                hash.update(&block);
                bytes += block.len() as u64;
                lines += block.iter().filter(|&&b| b == b'\n').count() as u64;
                if let Some(&b) = block.last() {
                    last = b;
                }
            }
            (hex::encode(hash.finalize()), bytes, lines, last)
        });
        loop {
            let mut block = vec![0u8; 1 << 20];
            let mut filled = 0;
            while filled < block.len() {
                let n = reader
                    .read(&mut block[filled..])
                    .map_err(|e| Error::Check(format!("{name} cannot be read to the end: {e}")))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            block.truncate(filled);
            if send.send(block).is_err() {
                break;
            }
        }
        drop(send);
        hasher.join().map_err(|_| Error::Check("the hashing thread stopped".into()))
    })?;
    let mut lines = lines;
    if bytes > 0 && last != b'\n' {
        lines += 1;
    }
    Ok((sha, bytes, BTreeMap::from([(String::new(), lines)])))
}

/// A backup's own `manifest.json`, read with the size cap (nothing else in the file is read).
fn read_manifest(path: &Path, passphrase: Option<&SecretString>) -> Result<Manifest> {
    let mut archive = tar::Archive::new(container::open(path, passphrase)?);
    let mut entries = archive.entries().map_err(|e| truncated(path, e))?;
    first_manifest(path, &mut entries)
}

/// The first entry of a backup, which must be `manifest.json`, read up to [`MANIFEST_CAP`].
fn first_manifest<R: Read>(path: &Path, entries: &mut tar::Entries<'_, R>) -> Result<Manifest> {
    let mut first = entries
        .next()
        .ok_or_else(|| Error::Check(format!("{} holds no files", path.display())))?
        .map_err(|e| truncated(path, e))?;
    let first_name = first.path().map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
    if first_name != "manifest.json" {
        return Err(Error::Check(format!("{} does not start with manifest.json (found {first_name})", path.display())));
    }
    let mut text = Vec::new();
    (&mut first).take(MANIFEST_CAP + 1).read_to_end(&mut text).map_err(|e| truncated(path, e))?;
    if text.len() as u64 > MANIFEST_CAP {
        return Err(Error::Check(format!(
            "the manifest of {} is larger than {} KiB; chatkeep never writes one so large",
            path.display(),
            MANIFEST_CAP / 1024
        )));
    }
    serde_json::from_slice(&text)
        .map_err(|e| Error::Check(format!("the manifest of {} is not valid: {e}", path.display())))
}

/// Walks a backup against `expected`, the manifest chatkeep recorded when it wrote the
/// file: the file's own `manifest.json` comes first, is read with a size cap, and must
/// equal it; then each data entry, once, as a regular file, is handed to `visit` (which
/// returns its SHA-256, size and rows) reading at most the recorded size plus one byte,
/// and all are compared with `expected`. Nothing in the file decides anything.
fn walk(
    path: &Path,
    passphrase: Option<&SecretString>,
    expected: &Manifest,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(String, u64, Option<BTreeMap<String, u64>>)>,
) -> Result<()> {
    let mut archive = tar::Archive::new(container::open(path, passphrase)?);
    let mut entries = archive.entries().map_err(|e| truncated(path, e))?;
    let manifest = first_manifest(path, &mut entries)?;
    if &manifest != expected {
        return Err(Error::Check(format!(
            "the manifest inside {} differs from the one chatkeep recorded when it wrote the backup: \
             the file was replaced or edited",
            path.display()
        )));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| truncated(path, e))?;
        let name = entry.path().map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
        let Some(listed) = expected.files.iter().find(|f| f.name == name) else {
            problems.push(format!("{name} is in the file but not in the manifest"));
            continue;
        };
        if seen.contains(&name) {
            problems.push(format!("{name} appears more than once"));
            continue;
        }
        seen.push(name.clone());
        let entry_type = entry.header().entry_type();
        if !matches!(entry_type, tar::EntryType::Regular | tar::EntryType::Continuous) {
            problems.push(format!("{name} is not a regular file (tar type {:?})", entry_type));
            continue;
        }
        // Anything past the recorded size is damage: read one byte more to see it, never the rest.
        let (sha, bytes, rows) = visit(&name, &mut (&mut entry).take(listed.bytes + 1))?;
        if bytes > listed.bytes {
            problems.push(format!("{name} is longer than the {} bytes the manifest says", listed.bytes));
            continue;
        }
        if sha != listed.sha256 {
            problems.push(format!("{name}: SHA-256 {sha}, the manifest says {}", listed.sha256));
        }
        if bytes != listed.bytes {
            problems.push(format!("{name}: {bytes} bytes, the manifest says {}", listed.bytes));
        }
        // JSONL files report lines under "", snapshots per table; None: not counted.
        let Some(rows) = rows else {
            continue;
        };
        let counted: BTreeMap<String, u64> = match rows.get("") {
            Some(lines) => listed.rows.keys().map(|table| (table.clone(), *lines)).collect(),
            None => rows,
        };
        for (table, n) in &listed.rows {
            let found = counted.get(table).copied().unwrap_or(0);
            if found != *n {
                problems.push(format!("{name}: {found} {table} rows, the manifest says {n}"));
            }
        }
    }
    for file in &expected.files {
        if !seen.contains(&file.name) {
            problems.push(format!("{} is in the manifest but missing from the file", file.name));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Check(format!("{} does not match its manifest: {}", path.display(), problems.join("; "))));
    }
    Ok(())
}

/// Extracts and checks a backup's data files into `into`, after checking the whole
/// file against what the catalog recorded.
fn extract(path: &Path, passphrase: Option<&SecretString>, recorded: &Recorded, into: &Path) -> Result<Extracted> {
    recorded.check_whole_file(path)?;
    let mut files = Vec::new();
    walk(path, passphrase, &recorded.manifest, |name, reader| {
        let target = into.join(name);
        let mut file = container::create_private(&target).map_err(|e| scratch_fault(into, e))?;
        let mut hashing = container::HashingReader::new(reader);
        copy_entry(path, into, &mut hashing, &mut file)?;
        let (sha, bytes) = hashing.finish();
        files.push(name.to_string());
        let rows = if is_snapshot_entry(name) {
            None
        } else {
            let reader = BufReader::new(File::open(&target).map_err(|e| scratch_fault(into, e))?);
            Some(BTreeMap::from([(String::new(), reader.lines().count() as u64)]))
        };
        Ok((sha, bytes, rows))
    })?;
    Ok(Extracted { files })
}

/// Copies one entry into a scratch file: a read error is the backup's damage, a write
/// error the scratch folder's fault (no space, no permission).
fn copy_entry(path: &Path, scratch: &Path, from: &mut dyn Read, to: &mut File) -> Result<()> {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buffer).map_err(|e| truncated(path, e))?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..n]).map_err(|e| scratch_fault(scratch, e))?;
    }
}

/// A write in the scratch folder failed: the verifying machine's fault, not the backup's.
fn scratch_fault(scratch: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!(
            "cannot write to the scratch folder {} (free space or fix permissions there, then run it again; \
             the backup's status is unchanged)",
            scratch.parent().unwrap_or(scratch).display()
        ),
        e,
    )
}

/// Checks that `dir` has room for `needed` bytes of scratch files before any is written.
fn ensure_scratch_space(dir: &Path, needed: u64, what: &str) -> Result<()> {
    let free = fs4::available_space(dir)
        .map_err(|e| Error::io(format!("cannot tell how much space is free in {}", dir.display()), e))?;
    // Room for the files, and some left over for everything else on that disk.
    let wanted = needed.saturating_add(needed / 20).saturating_add(SCRATCH_MARGIN);
    if free < wanted {
        return Err(Error::io(
            format!(
                "{what} needs about {} of scratch space in {}, which has {} free",
                human_bytes(wanted),
                dir.display(),
                human_bytes(free)
            ),
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "free space there and run it again; the backup's status is unchanged",
            ),
        ));
    }
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    crate::ops::maintenance::plan::human_bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// Joins an archive's JSONL files in import order (optionally one conversation's rows only),
/// leaving out everything of the people the erasure ledger deleted.
fn combine_jsonl(
    dir: &Path,
    extracted: &Extracted,
    conversation: Option<&str>,
    ledger: &crate::ops::gdpr::ErasureLedger,
) -> Result<PathBuf> {
    let combined = dir.join("restore.jsonl");
    let mut out = BufWriter::new(File::create(&combined).map_err(|e| Error::io("cannot write the restore file", e))?);
    let mut message_ids: HashSet<String> = HashSet::new();
    let mut erased_messages: HashSet<String> = HashSet::new();
    for table in ExportTable::ALL {
        if !extracted.files.iter().any(|f| f == table.file_name()) {
            continue;
        }
        let reader = BufReader::new(File::open(dir.join(table.file_name())).map_err(|e| Error::io("cannot read", e))?);
        for line in reader.lines() {
            let line = line.map_err(|e| Error::io("cannot read the archive's data", e))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| Error::Check(format!("a line of the archive is not JSON: {e}")))?;
            let of_erased = |field: &str| value[field].as_str().is_some_and(|id| ledger.deletes(id));
            let skip_erased = match table {
                ExportTable::Users => of_erased("id"),
                ExportTable::Conversations => false, // kept; an erased owner is unset below
                ExportTable::Participants => of_erased("user"),
                ExportTable::Messages => {
                    let skip = of_erased("sender");
                    if skip {
                        erased_messages.insert(value["id"].as_str().unwrap_or_default().to_string());
                    }
                    skip
                }
                ExportTable::Reads => {
                    of_erased("user") || erased_messages.contains(value["message"].as_str().unwrap_or_default())
                }
            };
            if skip_erased {
                continue;
            }
            let mut value = value;
            if table == ExportTable::Conversations && value["owner"].as_str().is_some_and(|id| ledger.deletes(id)) {
                value["owner"] = serde_json::Value::Null;
            }
            let line = value.to_string();
            if let Some(wanted) = conversation {
                let keep = match table {
                    ExportTable::Users => true,
                    ExportTable::Conversations => value["id"] == wanted,
                    ExportTable::Participants => value["conversation"] == wanted,
                    ExportTable::Messages => {
                        let keep = value["conversation"] == wanted;
                        if keep {
                            message_ids.insert(value["id"].as_str().unwrap_or_default().to_string());
                        }
                        keep
                    }
                    ExportTable::Reads => message_ids.contains(value["message"].as_str().unwrap_or_default()),
                };
                if !keep {
                    continue;
                }
            }
            writeln!(out, "{line}").map_err(|e| Error::io("cannot write the restore file", e))?;
        }
    }
    out.flush().map_err(|e| Error::io("cannot write the restore file", e))?;
    Ok(combined)
}

/// The month a `--month` value names (`2026-10`).
pub fn parse_month(text: &str) -> Result<Month> {
    let bad = || Error::invalid(format!("--month {text:?}: expected a month written like 2026-10"));
    let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u32 = month.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
        return Err(bad());
    }
    Ok(Month { year, month })
}

/// The month before the one `now` falls in, in `tz` (what the 1st-of-month job archives).
pub fn previous_month(now: DateTime<Utc>, tz: Tz) -> Month {
    Month::containing(now, tz).previous()
}
