//! What the dashboard may make the app write and open.
//!
//! The web view can send any path in a command; a page that went wrong (or script
//! injected into it through chat data) must not be able to write over an arbitrary
//! file or open any folder. So a command that writes a file accepts only a path the
//! native save dialog returned in this session, once; it replaces an existing file only
//! when the dialog itself asked and the user said yes; and "Show in folder" opens only
//! folders chatkeep wrote to in this session, or the backup folder.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{CommandError, CommandResult};

#[derive(Debug, Default)]
pub struct Grants {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Paths the save dialog returned, with whether it confirmed replacing an existing file.
    saves: HashMap<PathBuf, bool>,
    /// Folders chatkeep wrote a file to.
    folders: HashSet<PathBuf>,
}

/// What a granted save allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Save {
    /// The dialog asked about replacing the existing file and the user said yes.
    pub replace: bool,
}

impl Grants {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a path the native save dialog returned. A file already there means the
    /// dialog asked to replace it (GTK's overwrite confirmation) and the user agreed.
    pub fn grant(&self, path: &Path) {
        self.inner().saves.insert(path.to_path_buf(), path.exists());
    }

    /// Uses up the grant of `path`, or refuses a path the dialog did not return.
    pub fn take(&self, path: &Path) -> CommandResult<Save> {
        match self.inner().saves.remove(path) {
            Some(replace) => Ok(Save { replace }),
            None => Err(CommandError::new(
                "not_granted",
                format!("{} was not chosen in the Save dialog; choose where to save through it", path.display()),
            )),
        }
    }

    /// Remembers that chatkeep wrote `file`, so its folder may be shown.
    pub fn wrote(&self, file: &Path) {
        if let Some(folder) = file.parent().and_then(|f| f.canonicalize().ok()) {
            self.inner().folders.insert(folder);
        }
    }

    /// Whether "Show in folder" may open `folder`: one chatkeep wrote to, or `also` (the backup folder).
    pub fn may_open(&self, folder: &Path, also: &Path) -> bool {
        let Ok(folder) = folder.canonicalize() else { return false };
        also.canonicalize().is_ok_and(|also| also == folder) || self.inner().folders.contains(&folder)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    #[test]
    fn a_save_is_granted_once_and_replaces_only_what_existed_when_the_dialog_asked() {
        let dir = tempfile::tempdir().unwrap();
        let grants = Grants::default();
        let new = dir.path().join("new.csv");
        let old = dir.path().join("old.csv");
        std::fs::write(&old, "x").unwrap();
        assert_eq!(grants.take(&new).unwrap_err().code, "not_granted");
        grants.grant(&new);
        grants.grant(&old);
        assert_eq!(grants.take(&new).unwrap(), Save { replace: false });
        assert_eq!(grants.take(&old).unwrap(), Save { replace: true });
        assert!(grants.take(&new).is_err(), "a grant is used once");

        let elsewhere = tempfile::tempdir().unwrap();
        assert!(!grants.may_open(dir.path(), elsewhere.path()));
        grants.wrote(&new);
        assert!(grants.may_open(dir.path(), elsewhere.path()));
        assert!(grants.may_open(elsewhere.path(), elsewhere.path()), "the backup folder");
        assert!(!grants.may_open(Path::new("/etc"), elsewhere.path()));
    }
}
