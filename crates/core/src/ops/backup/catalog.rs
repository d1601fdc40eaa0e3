//! The catalog: what chatkeep recorded of each backup (its row, size, SHA-256 and manifest), the
//! only thing a check or a restore trusts; listing, copies, interrupted writes, the audit anchor.

use super::*;

impl<'a> Backups<'a> {
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

    pub(super) fn path_of(&self, row: &BackupRow) -> PathBuf {
        self.directory().join(&row.file_name)
    }

    pub(super) async fn row(&self, id: i64) -> Result<BackupRow> {
        self.store
            .backup(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("backup #{id} (see `chatkeep backup list`)")))
    }

    /// The catalog's record of a backup (see [`Recorded`]).
    pub(super) async fn recorded(&self, row: &BackupRow) -> Result<Recorded> {
        Recorded::of(row, self.store.backup_manifest(row.id).await?)
    }

    /// A backup that can be restored: it finished, its file is there, and the catalog
    /// recorded what it holds (the file itself is checked against that before it is read).
    pub(super) async fn restorable(&self, id: i64) -> Result<(BackupRow, Recorded)> {
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

/// What the catalog recorded when chatkeep wrote a backup: the only thing a restore or a
/// verify decides from (kind, range, rows, erasure-ledger position, engine). The file in
/// the folder is checked against it before anything in the file is used.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) id: i64,
    pub(super) manifest: Manifest,
    pub(super) sha256: String,
    pub(super) bytes: u64,
}

impl Recorded {
    /// The catalog's record of `row`, checked to be the shape chatkeep writes for its kind.
    pub(super) fn of(row: &BackupRow, manifest: Option<String>) -> Result<Recorded> {
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
    pub(super) fn check_shape(&self, kind: &str) -> Result<()> {
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
    pub(super) fn check_whole_file(&self, path: &Path) -> Result<()> {
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
    pub(super) fn data_bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.bytes).sum()
    }

    /// The format of the database snapshot this backup holds; `None` for an archive.
    pub(super) fn snapshot_format(&self) -> Option<Format> {
        self.manifest.files.iter().find_map(|f| Format::of_entry(&f.name))
    }
}
