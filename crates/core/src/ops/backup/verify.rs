//! Reading a backup back: every entry against the manifest the catalog recorded, and, for a
//! snapshot, the database inside it opened and counted.

use super::*;

impl<'a> Backups<'a> {
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
}

/// What [`check_file`] found.
pub(super) struct Checked {
    pub(super) rows: BTreeMap<String, u64>,
    pub(super) manifest: Manifest,
    /// A snapshot only a server can open (a dump), extracted by a deep check (with its
    /// scratch folder), still to be restored into a scratch database there.
    pub(super) on_server: Option<(tempfile::TempDir, Format, PathBuf)>,
}

/// Reads a backup through, checks it against `expected` (the manifest recorded when
/// it was written), and returns the rows per table. With `deep`, a SQLite snapshot is
/// extracted to a scratch folder and opened with `PRAGMA integrity_check`; a PostgreSQL
/// dump is extracted and handed back for the caller to restore.
pub(super) fn check_file(
    path: &Path,
    passphrase: Option<&SecretString>,
    expected: &Manifest,
    deep: bool,
) -> Result<Checked> {
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
pub(super) fn expected_of(manifest: &Manifest, format: Format) -> Result<Expected<'_>> {
    let entry = format.entry();
    let file = manifest
        .files
        .iter()
        .find(|f| f.name == entry)
        .ok_or_else(|| Error::Check(format!("the manifest does not list {entry}")))?;
    Ok(Expected { rows: &file.rows, checksums: &file.checksums, dump_tool: manifest.dump_tool.as_deref() })
}

/// A database snapshot's entry (SQLite file or PostgreSQL dump): its rows are counted by opening it.
pub(super) fn is_snapshot_entry(name: &str) -> bool {
    Format::of_entry(name).is_some()
}

pub(super) fn truncated(path: &Path, e: std::io::Error) -> Error {
    Error::Check(format!("{} cannot be read to the end (truncated or damaged): {e}", path.display()))
}

/// Hashes and counts lines of an entry. Decompression (the reader) and hashing run on two
/// threads, handing over 1 MiB blocks.
pub(super) fn count_entry(name: &str, reader: &mut dyn Read) -> Result<(String, u64, BTreeMap<String, u64>)> {
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
pub(super) fn read_manifest(path: &Path, passphrase: Option<&SecretString>) -> Result<Manifest> {
    let mut archive = tar::Archive::new(container::open(path, passphrase)?);
    let mut entries = archive.entries().map_err(|e| truncated(path, e))?;
    first_manifest(path, &mut entries)
}

/// The first entry of a backup, which must be `manifest.json`, read up to [`MANIFEST_CAP`].
pub(super) fn first_manifest<R: Read>(path: &Path, entries: &mut tar::Entries<'_, R>) -> Result<Manifest> {
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
pub(super) fn walk(
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
