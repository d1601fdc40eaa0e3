//! Database upkeep: the figures maintenance decides from (sizes, wasted space, index
//! bloat), the integrity check, the upkeep statements themselves, when each cadence
//! task last ran, and the daily storage samples behind the growth charts.
//!
//! Upkeep statements run outside any transaction (VACUUM cannot run in one), one
//! statement at a time on a pooled connection, so the chat service's writes wait
//! for at most one of them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Store, Tx};
use crate::Result;

/// A table or index, as the engine names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// The schema (PostgreSQL); `None` on SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// One table's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableFigures {
    pub table: Relation,
    /// Rows: counted on SQLite, the statistics' live-row estimate on PostgreSQL.
    pub rows: i64,
    /// The table's own pages (without its indexes).
    pub bytes: i64,
    pub index_bytes: i64,
    /// Wasted space in percent: dead rows of all rows (PostgreSQL), unused bytes inside
    /// the table's pages (SQLite, whose free pages are counted for the whole file).
    pub bloat_percent: f64,
    /// Dead rows not yet vacuumed (PostgreSQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_rows: Option<i64>,
    /// Whether chatkeep's database user may vacuum it (PostgreSQL: owns it).
    pub may_vacuum: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_vacuum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_analyze: Option<String>,
}

/// One index's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexFigures {
    pub index: Relation,
    pub table: String,
    pub bytes: i64,
    /// Estimated percent of the index that a rebuild would give back (PostgreSQL B-tree
    /// indexes whose columns have statistics); unused bytes inside its pages on SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloat_percent: Option<f64>,
    /// False for an index a failed concurrent build left behind (PostgreSQL).
    pub valid: bool,
}

/// How an engine is kept healthy; maintenance decides from these, never from the engine's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Upkeep {
    /// VACUUM rebuilds the whole database file and reclaims its free pages (SQLite);
    /// otherwise VACUUM works table by table on dead rows (PostgreSQL).
    pub whole_database_vacuum: bool,
    /// Indexes are rebuilt when an estimate says they are bloated (PostgreSQL); otherwise
    /// on a cadence (`maintenance.reindex_frequency`).
    pub reindex_by_estimate: bool,
    /// `PRAGMA optimize` refreshes the statistics that need it on every run (SQLite);
    /// otherwise a database-wide ANALYZE runs on a cadence (`maintenance.analyze_frequency`).
    pub optimize: bool,
    /// A write-ahead log that a checkpoint copies into the database file and empties (SQLite).
    pub checkpoint: bool,
}

/// The figures maintenance decides from, measured before and after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseFigures {
    pub engine: &'static str,
    pub bytes: i64,
    pub page_size: i64,
    pub pages: i64,
    /// Pages inside the file that hold nothing (SQLite); `None` on PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_pages: Option<i64>,
    /// Bytes in the write-ahead log (SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_bytes: Option<i64>,
    /// Empty when only the database-wide figures were measured.
    pub tables: Vec<TableFigures>,
    pub indexes: Vec<IndexFigures>,
    pub upkeep: Upkeep,
}

/// What the integrity check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// `passed`, `failed`, or `unavailable` (the engine offers no check chatkeep can run).
    pub status: String,
    /// What ran: `PRAGMA quick_check`, `amcheck bt_index_check on 12 indexes`, ...
    pub method: String,
    pub full: bool,
    /// What the engine reported, at most 100 lines.
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl IntegrityReport {
    pub fn failed(&self) -> bool {
        self.status == "failed"
    }
}

/// One upkeep statement. The store turns it into its engine's SQL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    IntegrityCheck {
        full: bool,
    },
    /// `table: None` = the whole database (SQLite). `full`: PostgreSQL's VACUUM FULL.
    Vacuum {
        #[serde(skip_serializing_if = "Option::is_none")]
        table: Option<Relation>,
        full: bool,
    },
    /// `index: None` = every index, one statement each.
    Reindex {
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<Relation>,
    },
    /// Statistics for the whole database.
    Analyze,
    /// SQLite's `PRAGMA optimize`.
    Optimize,
    /// SQLite's `PRAGMA wal_checkpoint(TRUNCATE)`.
    Checkpoint,
}

impl Task {
    /// The heavy tasks rewrite data (or read all of it): a run on a healthy, fresh database has none.
    pub fn is_heavy(&self) -> bool {
        matches!(self, Task::Vacuum { .. } | Task::Reindex { .. } | Task::IntegrityCheck { full: true })
    }
}

/// One day's storage figures, for the growth charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageSample {
    /// The day in the configured time zone.
    pub day: NaiveDate,
    pub taken_at: String,
    pub database_bytes: i64,
    pub messages: i64,
    pub conversations: i64,
    pub backup_bytes: i64,
}

/// The counts a storage sample is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleCounts {
    pub database_bytes: i64,
    pub messages: i64,
    pub conversations: i64,
    pub backup_bytes: i64,
}

impl Store {
    /// The figures maintenance decides from. `detail = false` measures only the database-wide
    /// figures, which read no table (for a database that failed its integrity check).
    pub async fn maintenance_figures(&self, detail: bool) -> Result<DatabaseFigures> {
        on_engine!(self, Store(pool) => maintenance::figures(pool, detail).await)
    }

    /// Checks the database: quickly, or everything (`full`).
    pub async fn integrity_check(&self, full: bool) -> Result<IntegrityReport> {
        on_engine!(self, Store(pool) => maintenance::integrity_check(pool, full).await)
    }

    /// The statement a task runs, as a person reads it in a plan.
    pub fn maintenance_statement(&self, task: &Task) -> String {
        on_engine!(self, Store(_) => maintenance::statement(task))
    }

    /// Runs one upkeep task outside any transaction; returns what the engine said, if anything worth telling.
    pub async fn run_maintenance_task(&self, task: &Task) -> Result<Option<String>> {
        on_engine!(self, Store(pool) => maintenance::run(pool, task).await)
    }

    /// When each cadence task last ran: `maintenance.*` keys of the settings table, as instants.
    pub async fn maintenance_marks(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        on_engine!(self, Store(pool) => maintenance::marks(pool).await)
    }

    /// Live messages and conversations, the database's size and the catalog's backup bytes.
    pub async fn sample_counts(&self) -> Result<SampleCounts> {
        on_engine!(self, Store(pool) => maintenance::sample_counts(pool).await)
    }

    /// Stores a day's sample, replacing an earlier one of the same day.
    pub async fn record_storage_sample(&self, sample: &StorageSample) -> Result<()> {
        on_engine!(self, Store(pool) => maintenance::record_sample(pool, sample).await)
    }

    /// The samples from `from` to `to` (inclusive days), oldest first.
    pub async fn storage_samples(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<StorageSample>> {
        on_engine!(self, Store(pool) => maintenance::samples(pool, from, to).await)
    }
}

impl Tx<'_> {
    /// Records when a cadence task ran (`maintenance.*` in the settings table).
    pub async fn set_maintenance_mark(&mut self, key: &str, at: DateTime<Utc>) -> Result<()> {
        on_engine!(self, Tx(tx) => maintenance::set_mark(tx, key, at).await)
    }
}
