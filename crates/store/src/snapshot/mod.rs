//! Snapshots of a whole database, behind one engine-neutral interface: a backup
//! asks the [`Store`] for a [`Snapshotter`], takes the snapshot into a scratch
//! folder, and later checks or restores the one entry it wrote, whose [`Format`]
//! its name tells.
//!
//! - SQLite (`sqlite.rs`): a consistent copy of the file made with SQLite's online
//!   backup API, checked with `PRAGMA integrity_check` and counted per table.
//! - PostgreSQL (`postgres.rs`): `pg_dump --format=custom` inside an exported
//!   snapshot whose tables are counted and checksummed meanwhile; checked by
//!   restoring into a scratch database on the server; restored with `pg_restore`
//!   into a new database ([`NewDatabase`]).

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use postgres::{NewDatabase, TOOLS_ENV, Tools};

use crate::{DatabaseUrl, Result, Store, StoreError};

/// The form a database snapshot takes inside a backup: one entry, named for its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A self-contained SQLite database file.
    SqliteFile,
    /// A `pg_dump` custom-format dump.
    PgDump,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::SqliteFile, Format::PgDump];

    /// The entry's name inside a backup.
    pub fn entry(self) -> &'static str {
        match self {
            Format::SqliteFile => "chatkeep.db",
            Format::PgDump => postgres::ENTRY,
        }
    }

    /// The format an entry name stands for, if it is a snapshot's.
    pub fn of_entry(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.entry() == name)
    }

    /// The format a database of `engine` (as a manifest records it) is snapshotted in.
    pub fn of_engine(engine: &str) -> Format {
        if engine == "postgres" { Format::PgDump } else { Format::SqliteFile }
    }

    /// Whether a snapshot in this format restores into a new database file (SQLite);
    /// otherwise it restores into a new database on a server.
    pub fn restores_into_file(self) -> bool {
        self == Format::SqliteFile
    }
}

/// What was recorded of a snapshot entry when it was written: rows (and, for a dump,
/// checksums) per table, and the tool that wrote it. A check or a restore compares with it.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub rows: &'a BTreeMap<String, u64>,
    pub checksums: &'a BTreeMap<String, String>,
    pub dump_tool: Option<&'a str>,
}

/// A snapshot taken into a scratch folder.
#[derive(Debug)]
pub struct Taken {
    pub format: Format,
    /// The entry's file in the scratch folder.
    pub path: PathBuf,
    pub rows: BTreeMap<String, u64>,
    /// Per table, where the format records them (a dump's order-independent checksums).
    pub checksums: BTreeMap<String, String>,
    /// The tool that wrote it (`pg_dump (PostgreSQL) 16.4`), where one did.
    pub tool: Option<String>,
}

/// A snapshot of the live database, ready to be taken: what it needs (the database file,
/// the client tools matching the server) was found before anything is written.
#[derive(Debug)]
pub struct Snapshotter {
    inner: Source,
}

#[derive(Debug)]
enum Source {
    Sqlite(PathBuf),
    Postgres(sqlx::PgPool, Tools),
}

impl Store {
    /// Finds what a snapshot of this database needs: on SQLite its file (an in-memory
    /// database has none), on PostgreSQL `pg_dump` and `pg_restore` as new as the server.
    pub async fn snapshotter(&self) -> Result<Snapshotter> {
        let inner = match self {
            Store::Sqlite(_) => Source::Sqlite(self.database_file().ok_or_else(|| {
                StoreError::invalid(
                    "this database has no file to snapshot (an in-memory database); use a sqlite:// file",
                )
            })?),
            Store::Postgres(pool) => {
                let server = postgres::server_major(pool).await?;
                let tools =
                    postgres::locate_async(postgres::Tool::Dump, server, format!("the PostgreSQL {server} server"))
                        .await?;
                Source::Postgres(pool.clone(), tools)
            }
        };
        Ok(Snapshotter { inner })
    }

    /// The format this database's snapshots take.
    pub fn snapshot_format(&self) -> Format {
        match self {
            Store::Sqlite(_) => Format::SqliteFile,
            Store::Postgres(_) => Format::PgDump,
        }
    }

    /// Checks a snapshot entry that only a server can open (a dump) by restoring it into a
    /// scratch database there, comparing every table with `expected`, and dropping it.
    /// Returns the rows per table.
    pub async fn check_snapshot_on_server(
        &self,
        format: Format,
        entry: &Path,
        expected: &Expected<'_>,
    ) -> Result<BTreeMap<String, u64>> {
        match (self, format) {
            (Store::Postgres(pool), Format::PgDump) => postgres::check_in_scratch(pool, entry, expected).await,
            (_, Format::PgDump) => {
                Err(StoreError::invalid("a PostgreSQL snapshot can only be checked against a PostgreSQL server"))
            }
            (_, Format::SqliteFile) => check_entry(format, entry)?
                .ok_or_else(|| StoreError::invalid("a SQLite snapshot is checked where it is, not on a server")),
        }
    }

    /// A new database on this store's kind of server to restore into (see [`NewDatabase`]).
    pub async fn new_database(&self, target: &DatabaseUrl) -> Result<NewDatabase> {
        match target {
            DatabaseUrl::Postgres(text) => NewDatabase::open(text, self).await,
            DatabaseUrl::Sqlite(path) => Err(StoreError::invalid(format!(
                "{} is a database file, not a database on a server: restore into it as a file",
                path.display()
            ))),
            DatabaseUrl::SqliteMemory => {
                Err(StoreError::invalid("restore into a database file or a PostgreSQL database, not an in-memory one"))
            }
        }
    }
}

impl Snapshotter {
    pub fn format(&self) -> Format {
        match self.inner {
            Source::Sqlite(_) => Format::SqliteFile,
            Source::Postgres(..) => Format::PgDump,
        }
    }

    /// Takes the snapshot into `scratch`, leaving the rows of the `exclude` tables out (the
    /// tables stay). `beside` runs on the finished entry file alongside the counting (the
    /// caller's hashing), so the file is read once at a time for both. `cancelled` is asked
    /// while a tool runs.
    pub async fn take<T: Send + 'static>(
        self,
        scratch: &Path,
        exclude: &[String],
        cancelled: &(dyn Fn() -> bool + Send + Sync),
        beside: impl FnOnce(&Path) -> T + Send + 'static,
    ) -> Result<(Taken, T)> {
        match self.inner {
            Source::Sqlite(live) => {
                let copy = scratch.join(Format::SqliteFile.entry());
                let exclude = exclude.to_vec();
                tokio::task::spawn_blocking(move || {
                    sqlite::copy_database(&live, &copy, &exclude)?;
                    // Counting rows and the caller's reading of the copy go side by side.
                    let (rows, other) = std::thread::scope(|scope| {
                        let other = scope.spawn(|| beside(&copy));
                        let rows = sqlite::count_rows(&copy);
                        (rows, other.join())
                    });
                    let other = other.map_err(|_| StoreError::Check("the snapshot's reader stopped".into()))?;
                    let taken = Taken {
                        format: Format::SqliteFile,
                        path: copy,
                        rows: rows?,
                        checksums: BTreeMap::new(),
                        tool: None,
                    };
                    Ok((taken, other))
                })
                .await
                .map_err(|e| StoreError::Check(format!("the snapshot stopped: {e}")))?
            }
            Source::Postgres(pool, tools) => {
                let dumped = postgres::dump(&pool, &tools, scratch, exclude, cancelled).await?;
                let path = dumped.path.clone();
                let other = tokio::task::spawn_blocking(move || beside(&path))
                    .await
                    .map_err(|e| StoreError::Check(format!("the dump's reader stopped: {e}")))?;
                let taken = Taken {
                    format: Format::PgDump,
                    path: dumped.path,
                    rows: dumped.tables.iter().map(|(t, f)| (t.clone(), f.rows)).collect(),
                    checksums: dumped.tables.into_iter().map(|(t, f)| (t, f.checksum)).collect(),
                    tool: Some(tools.version),
                };
                Ok((taken, other))
            }
        }
    }
}

/// Checks a snapshot entry where it lies and counts its rows per table: a SQLite file is
/// opened with `PRAGMA integrity_check`. `None` for a format only a server can open
/// ([`Store::check_snapshot_on_server`]).
pub fn check_entry(format: Format, entry: &Path) -> Result<Option<BTreeMap<String, u64>>> {
    match format {
        Format::SqliteFile => sqlite::check_database(entry).map(Some),
        Format::PgDump => Ok(None),
    }
}

/// The structural check a snapshot gets right after it is written, where its format has
/// one that needs no server (`PRAGMA quick_check` of a SQLite file).
pub fn check_written(format: Format, entry: &Path) -> Result<()> {
    match format {
        Format::SqliteFile => sqlite::check_structure(entry, sqlite::Depth::Quick),
        Format::PgDump => Ok(()),
    }
}
