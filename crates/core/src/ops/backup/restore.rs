//! Restores: into a new database file or server database, or an archive merged back into the live
//! database; the erasure ledger is re-applied every time.

use super::*;

impl<'a> Backups<'a> {
    /// Checks the file against the catalog and pulls its data files into `scratch`,
    /// refusing (before anything is extracted) a file that is not the one chatkeep wrote.
    pub(super) async fn extract_recorded(
        &self,
        row: &BackupRow,
        recorded: &Recorded,
        scratch: &Path,
    ) -> Result<Extracted> {
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

    /// Restores a backup into a new database file (never over an existing one),
    /// then re-applies the erasure ledger of the live database to it.
    pub async fn restore_to(&self, id: i64, to: &Path, actor: Actor, progress: &dyn Progress) -> Result<RestoreReport> {
        let (row, recorded) = self.restorable(id).await?;
        // The catalog lives in the database it backs up: its snapshots are of this engine.
        if row.kind == "snapshot"
            && !(self.store.snapshot_format().restores_into_file()
                && recorded.snapshot_format().is_some_and(Format::restores_into_file))
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
    pub(super) async fn restore_to_server(
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

    pub(super) async fn audit_restore(
        &self,
        actor: Actor,
        row: &BackupRow,
        to: Option<String>,
        erased_again: u64,
    ) -> Result<()> {
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
}

pub(super) fn postgres_snapshot_needs_database(id: i64) -> Error {
    Error::invalid(format!(
        "backup #{id} is a PostgreSQL snapshot (pg_dump): restore it into a new PostgreSQL database \
         (--to postgres://USER@HOST/NEW_DATABASE), not into a file"
    ))
}

/// Data files pulled out of a backup into a scratch folder.
pub(super) struct Extracted {
    pub(super) files: Vec<String>,
}

/// Extracts and checks a backup's data files into `into`, after checking the whole
/// file against what the catalog recorded.
pub(super) fn extract(
    path: &Path,
    passphrase: Option<&SecretString>,
    recorded: &Recorded,
    into: &Path,
) -> Result<Extracted> {
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
pub(super) fn copy_entry(path: &Path, scratch: &Path, from: &mut dyn Read, to: &mut File) -> Result<()> {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buffer).map_err(|e| truncated(path, e))?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..n]).map_err(|e| scratch_fault(scratch, e))?;
    }
}

/// Joins an archive's JSONL files in import order (optionally one conversation's rows only),
/// leaving out everything of the people the erasure ledger deleted.
pub(super) fn combine_jsonl(
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

/// A restored snapshot holds the rows per table the catalog's manifest recorded.
pub(super) fn check_restored_rows(id: i64, manifest: &Manifest, found: &BTreeMap<String, u64>) -> Result<()> {
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
