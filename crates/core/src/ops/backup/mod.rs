//! `chatkeep backup`: monthly archives and snapshots, compressed, optionally
//! encrypted, verified after writing, restorable, pruned.
//!
//! A backup is written under a temporary name in the backup folder, read
//! back and checked against its manifest, and only then renamed to its final
//! name: a file that looks complete is complete. Every step is recorded in
//! the `backups` catalog (`in_progress`, then `verified` or `failed` with the
//! reason) and in the audit log.
//!
//! One file per verb: `create` (the snapshot and the monthly archive, and the
//! one path both are written through), `verify` (reading a backup back),
//! `restore`, `prune`, `catalog` (what chatkeep recorded of each backup, the
//! only thing trusted), `container` (tar + zstd + age) and `manifest`. This
//! file holds what they share: the context, the results, the file names.

mod catalog;
mod container;
mod create;
pub mod manifest;
mod prune;
mod restore;
mod verify;

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
use catalog::*;
pub use container::HashingWriter;
use manifest::SnapshotFacts;
pub use manifest::{Manifest, ManifestFile};
use restore::*;
use verify::*;

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
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Check(format!("a backup worker stopped: {e}")))?
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

/// The new database a restore goes into, as a user names it: a PostgreSQL URL
/// (`postgres://USER@HOST/NEW`), a `sqlite://` URL, or else a file path (any path
/// that is not text is one).
pub fn restore_target(to: &Path) -> Result<DatabaseUrl> {
    let Some(text) = to.to_str() else { return Ok(DatabaseUrl::Sqlite(to.to_path_buf())) };
    let trimmed = text.trim();
    if ["postgres://", "postgresql://", "sqlite:"].iter().any(|scheme| trimmed.starts_with(scheme)) {
        return DatabaseUrl::parse(trimmed).map_err(|accepted| Error::invalid(format!("{text}: expected {accepted}")));
    }
    if trimmed.is_empty() {
        return Err(Error::invalid("name the new database to restore into: a file path or postgres://HOST/NEW"));
    }
    Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
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
