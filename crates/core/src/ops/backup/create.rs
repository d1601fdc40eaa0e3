//! Making backups: a snapshot of the whole database or the monthly archive of one month, written
//! through one path (scratch folder, container under a temporary name, read back, renamed).

use super::*;

impl<'a> Backups<'a> {
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
    pub(super) async fn snapshot_name(&self) -> Result<(DateTime<Utc>, String)> {
        let now = crate::time::truncate_to_millis(self.clock.now());
        let name = self.unused_name(Kind::Snapshot, &now.format("%Y%m%dT%H%M%SZ").to_string()).await?;
        Ok((now, name))
    }

    /// A snapshot's catalog row: everything up to `at`.
    pub(super) fn snapshot_row<'n>(&self, manual: bool, name: &'n str, at: &'n str) -> NewBackup<'n> {
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
    pub(super) async fn unused_name(&self, kind: Kind, range: &str) -> Result<String> {
        let taken: HashSet<String> = self.store.backups().await?.into_iter().map(|b| b.file_name).collect();
        let mut name = file_name(kind, range, self.encrypting());
        let mut n = 1;
        while taken.contains(&name) || self.directory().join(&name).exists() {
            n += 1;
            name = file_name(kind, &format!("{range}-{n}"), self.encrypting());
        }
        Ok(name)
    }

    pub(super) fn encrypting(&self) -> bool {
        self.settings.encrypt
    }

    /// The shared path of every backup: catalog row, scratch files, container under a
    /// temporary name, verification, rename, catalog and audit. `produce` fills the
    /// scratch folder and returns the manifest and the files to put after it.
    pub(super) async fn create<F>(
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
    pub(super) async fn produce_and_write<F>(
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

    pub(super) async fn fail(&self, id: i64, what: &str, message: &str, actor: Actor) -> Result<()> {
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
}
