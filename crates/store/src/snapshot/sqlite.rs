//! A consistent copy of a live SQLite database, made with SQLite's online
//! backup API in one step (one read transaction: the chat service keeps
//! writing, and the copy is exactly the database at one moment).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

fn db_err(what: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Check(format!("{what}: {e}"))
}

/// Copies `live` into the new file `copy`, drops the rows of `exclude`, and
/// leaves a self-contained file (rollback journal, not WAL).
pub(super) fn copy_database(live: &Path, copy: &Path, exclude: &[String]) -> Result<()> {
    let source = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| db_err("cannot open the database to back it up", e))?;
    source.busy_timeout(Duration::from_secs(15)).map_err(|e| db_err("cannot set a busy timeout", e))?;
    let mut target = Connection::open(copy).map_err(|e| db_err("cannot create the snapshot copy", e))?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)
            .map_err(|e| db_err("cannot start the online backup", e))?;
        // -1: every page in one step, from one read snapshot.
        backup
            .step(-1)
            .map_err(|e| db_err("cannot write the snapshot copy into the backup folder (is the disk full?)", e))?;
    }
    target.pragma_update(None, "journal_mode", "DELETE").map_err(|e| db_err("cannot finish the snapshot copy", e))?;
    for table in exclude {
        let exists: bool = target
            .query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| {
                r.get(0)
            })
            .map_err(|e| db_err("cannot read the snapshot's schema", e))?;
        if !exists {
            return Err(StoreError::invalid(format!(
                "backup.exclude_tables names {table:?}, which is not a table in the database"
            )));
        }
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        target
            .execute(&format!("DELETE FROM {quoted}"), [])
            .map_err(|e| db_err(&format!("cannot leave {table} out of the snapshot"), e))?;
    }
    if !exclude.is_empty() {
        // Deleted rows stay in free pages until a VACUUM: rebuild the copy so they are really gone.
        target.execute("VACUUM", []).map_err(|e| db_err("cannot compact the snapshot copy", e))?;
    }
    Ok(())
}

fn open(path: &Path) -> Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Check(format!("the snapshot does not open as a SQLite database: {e}")))
}

/// How thoroughly a snapshot copy is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Depth {
    /// `PRAGMA quick_check`: every page and record, without cross-checking indexes (when writing).
    Quick,
    /// `PRAGMA integrity_check`: everything (`backup verify`).
    Full,
}

/// Checks a database file's structure.
pub(super) fn check_structure(path: &Path, depth: Depth) -> Result<()> {
    let conn = open(path)?;
    let (pragma, name) = match depth {
        Depth::Quick => ("PRAGMA quick_check(1)", "quick_check"),
        Depth::Full => ("PRAGMA integrity_check(1)", "integrity_check"),
    };
    let verdict: String = conn
        .query_row(pragma, [], |r| r.get(0))
        .map_err(|e| StoreError::Check(format!("the snapshot is not a readable SQLite database: {e}")))?;
    if verdict != "ok" {
        return Err(StoreError::Check(format!("the snapshot fails PRAGMA {name}: {verdict}")));
    }
    Ok(())
}

/// `PRAGMA integrity_check` and rows per table of a database file.
pub(super) fn check_database(path: &Path) -> Result<BTreeMap<String, u64>> {
    check_structure(path, Depth::Full)?;
    count_rows(path)
}

/// Rows per table of a database file.
pub(super) fn count_rows(path: &Path) -> Result<BTreeMap<String, u64>> {
    let conn = open(path)?;
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .map_err(|e| StoreError::Check(format!("cannot list the snapshot's tables: {e}")))?;
    let tables: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::Check(format!("cannot list the snapshot's tables: {e}")))?;
    let mut counts = BTreeMap::new();
    for table in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {quoted}"), [], |r| r.get(0))
            .map_err(|e| StoreError::Check(format!("cannot count {table} in the snapshot: {e}")))?;
        counts.insert(table, n as u64);
    }
    Ok(counts)
}
