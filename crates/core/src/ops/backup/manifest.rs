//! `manifest.json`, the first entry of every backup.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "chatkeep-backup";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// `archive` or `snapshot`.
    pub kind: String,
    pub manual: bool,
    pub engine: String,
    pub app_version: String,
    pub created_at: String,
    pub timezone: String,
    /// The covered range, `[start, end)` in UTC; a snapshot's is everything up to `created_at`.
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    /// `YYYY-MM` for monthly archives.
    pub month: Option<String>,
    /// The highest `erasure_ledger` id when the backup was made: erasures after it are re-applied on restore.
    pub erasure_ledger_position: i64,
    /// The audit log's head when the backup was made: a record of the chain kept outside
    /// the database, which `audit verify` compares the live log with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<crate::audit::AuditAnchor>,
    /// Tables left out of a snapshot by configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_tables: Vec<String>,
    /// The tool that wrote a PostgreSQL snapshot (`pg_dump (PostgreSQL) 16.4`): restoring it
    /// needs a `pg_restore` at least as new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_tool: Option<String>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Rows per table in this file.
    pub rows: BTreeMap<String, u64>,
    /// Per table, a checksum of its rows (PostgreSQL snapshots: the sum of each row's
    /// MD5, so row order does not matter), compared after every restore of the file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

/// What a whole-database snapshot's manifest says besides its one file.
#[derive(Debug)]
pub(crate) struct SnapshotFacts {
    pub manual: bool,
    pub engine: &'static str,
    pub created_at: String,
    pub timezone: String,
    pub erasure_ledger_position: i64,
    pub audit_head: Option<crate::audit::AuditAnchor>,
    pub excluded_tables: Vec<String>,
    pub dump_tool: Option<String>,
}

impl Manifest {
    /// A snapshot's manifest (either engine): everything up to `created_at`, in one file.
    pub(crate) fn snapshot(facts: SnapshotFacts, file: ManifestFile) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            kind: "snapshot".into(),
            manual: facts.manual,
            engine: facts.engine.into(),
            app_version: crate::VERSION.into(),
            range_end: Some(facts.created_at.clone()),
            created_at: facts.created_at,
            timezone: facts.timezone,
            range_start: None,
            month: None,
            erasure_ledger_position: facts.erasure_ledger_position,
            audit_head: facts.audit_head,
            excluded_tables: facts.excluded_tables,
            dump_tool: facts.dump_tool,
            files: vec![file],
        }
    }

    pub fn row_counts(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for file in &self.files {
            for (table, n) in &file.rows {
                *all.entry(table.clone()).or_default() += n;
            }
        }
        all
    }
}
