//! The erasure ledger: who was erased and how, re-applied after every restore.

use serde::{Deserialize, Serialize};

use super::{Store, Tx, sqlite};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: i64,
    pub request_id: Option<i64>,
    pub user_external_id: String,
    /// `delete` or `anonymize`.
    pub strategy: String,
    pub pseudonym: Option<String>,
    pub erased_at: String,
}

impl Store {
    pub async fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>> {
        match self {
            Store::Sqlite(pool) => sqlite::erasure::list(pool).await,
        }
    }
}

impl Tx {
    /// Records a ledger entry (keeping its id) unless one with that id is there.
    pub async fn copy_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::copy(tx, entry).await,
        }
    }

    /// Applies one erasure to whatever rows of that person exist; returns the rows changed.
    pub async fn apply_erasure(&mut self, entry: &LedgerEntry) -> Result<u64> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::apply(tx, entry).await,
        }
    }
}
