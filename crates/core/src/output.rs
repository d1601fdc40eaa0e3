//! Files chatkeep writes for its users: exports, the audit CSV, access exports,
//! copies of backups, the settings file.
//!
//! Anyone may be able to write to the folder such a file goes to, so each one is
//! written the way a security tool writes: created exclusively under an
//! unpredictable name beside its target (never through a link, owner-only mode
//! 0600), synced, and only then renamed into place. An existing target is
//! replaced only when the user asked; a target that is not a regular file (a
//! link, a folder, a device node, a fifo) is refused with its reason.
//!
//! ```no_run
//! # fn main() -> chatkeep_core::Result<()> {
//! use std::io::Write;
//! let (mut file, pending) = chatkeep_core::output::create("report.csv".as_ref(), false)?;
//! file.write_all(b"id,at\r\n").map_err(|e| chatkeep_core::Error::io("cannot write", e))?;
//! pending.finish(file)?; // report.csv appears only now, whole
//! # Ok(()) }
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a file could not be written: refused (the message names the target and why), or
/// an I/O failure. Kept apart from the core's error so that the settings file, which the
/// core's error wraps, can be written here too.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Refused(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, OutputError>;

fn refused(message: String) -> OutputError {
    OutputError::Refused(message)
}

fn io(context: String, source: std::io::Error) -> OutputError {
    OutputError::Io { context, source }
}

/// A file being written under a temporary name; dropping it removes that file.
#[derive(Debug)]
pub struct Pending {
    staged: tempfile::TempPath,
    target: PathBuf,
    overwrite: bool,
}

/// Checks that `target` may be written: a new name in an existing folder, or (with
/// `overwrite`) an existing regular file. Call it before any work, so a bad target
/// is refused before anything is read.
pub fn check_target(target: &Path, overwrite: bool) -> Result<()> {
    let shown = target.display();
    let folder = folder_of(target);
    if !folder.is_dir() {
        return Err(refused(format!("cannot write {shown}: the folder {} does not exist", folder.display())));
    }
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(format!("cannot look at {shown}"), e)),
        Ok(meta) => {
            let kind = meta.file_type();
            let reason = if kind.is_symlink() {
                Some("is a symbolic link; chatkeep never writes through a link: name the file itself or a new one")
            } else if kind.is_dir() {
                Some("is a folder: name a file in it")
            } else if !kind.is_file() {
                Some("is not a regular file (a device, a fifo or a socket): name a new file")
            } else if !overwrite {
                Some("already exists: choose another name, or allow replacing it (--overwrite)")
            } else {
                None
            };
            match reason {
                Some(reason) => Err(refused(format!("{shown} {reason}"))),
                None => Ok(()),
            }
        }
    }
}

/// Starts writing `target`: checks it (see [`check_target`]) and creates a private
/// temporary file beside it. Write to the returned file, then [`Pending::finish`].
pub fn create(target: &Path, overwrite: bool) -> Result<(File, Pending)> {
    check_target(target, overwrite)?;
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let staged = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        // Created with O_EXCL and, on Unix, mode 0600: never through a link, never readable by others.
        .tempfile_in(folder_of(target))
        .map_err(|e| io(format!("cannot write {}", target.display()), e))?;
    let (file, staged) = staged.into_parts();
    Ok((file, Pending { staged, target: target.to_path_buf(), overwrite }))
}

impl Pending {
    /// The temporary file's path (for writers that open a path themselves).
    pub fn path(&self) -> &Path {
        &self.staged
    }

    /// Syncs `file` and renames it into place, checking the target once more: a link
    /// or another file that appeared meanwhile is never written through or replaced
    /// unless asked.
    pub fn finish(self, file: File) -> Result<PathBuf> {
        let target = self.target;
        file.sync_all().map_err(|e| io(format!("cannot write {}", target.display()), e))?;
        drop(file);
        check_target(&target, self.overwrite)?;
        let persisted =
            if self.overwrite { self.staged.persist(&target) } else { self.staged.persist_noclobber(&target) };
        persisted.map_err(|e| io(format!("cannot save {}", target.display()), e.error))?;
        if let Ok(folder) = File::open(folder_of(&target)) {
            let _ = folder.sync_all();
        }
        Ok(target)
    }
}

fn folder_of(target: &Path) -> &Path {
    target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}
