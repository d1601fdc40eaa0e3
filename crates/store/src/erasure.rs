//! The erasure ledger: a marker per erased person (a keyed hash, never a clear identifier)
//! and how they were erased, re-applied after every restore.

use serde::{Deserialize, Serialize};

use super::{Store, Tx, postgres, sqlite};
use crate::{Result, StoreError};
use chatkeep_domain::gdpr::{BodyMode, ErasureStrategy};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub request_id: Option<i64>,
    /// HMAC-SHA256 of the person's external id under this database's ledger key, in hex.
    /// Rows from before keyed hashes read `unkeyed:<external id>` until chatkeep rehashes them.
    pub subject_key: String,
    pub strategy: ErasureStrategy,
    /// `anonymize`: the pseudonym the person's row carries.
    pub pseudonym: Option<String>,
    /// `anonymize`: what happened to their message bodies.
    pub bodies: Option<BodyMode>,
    /// `anonymize`: whether email addresses and phone numbers in their bodies were scrubbed.
    pub scrub: bool,
    pub erased_at: String,
}

impl Store {
    /// Every ledger entry, oldest first.
    pub async fn erasure_ledger(&self) -> Result<Vec<LedgerEntry>> {
        match self {
            Store::Sqlite(pool) => sqlite::erasure::list(&mut *pool.acquire().await?).await,
            Store::Postgres(pool) => postgres::erasure::list(&mut *pool.acquire().await?).await,
        }
    }
}

impl Tx<'_> {
    pub async fn erasure_ledger(&mut self) -> Result<Vec<LedgerEntry>> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::list(tx).await,
            Tx::Postgres(tx) => postgres::erasure::list(tx).await,
        }
    }

    /// Records a ledger entry (keeping its id) unless one with that id is there.
    pub async fn copy_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::copy(tx, entry).await,
            Tx::Postgres(tx) => postgres::erasure::copy(tx, entry).await,
        }
    }

    /// Adds an entry (its `id` is ignored); returns the new id.
    pub async fn insert_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<i64> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::insert(tx, entry).await,
            Tx::Postgres(tx) => postgres::erasure::insert(tx, entry).await,
        }
    }

    pub async fn set_ledger_subject_key(&mut self, id: i64, subject_key: &str) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::set_subject_key(tx, id, subject_key).await,
            Tx::Postgres(tx) => postgres::erasure::set_subject_key(tx, id, subject_key).await,
        }
    }

    /// (id, external id) of every user: a replay recognises erased people among them.
    pub async fn user_external_ids(&mut self) -> Result<Vec<(i64, String)>> {
        match self {
            Tx::Sqlite(tx) => sqlite::erasure::user_external_ids(tx).await,
            Tx::Postgres(tx) => postgres::erasure::user_external_ids(tx).await,
        }
    }
}

// ---- shared by both engines ----

/// An `erasure_ledger` row in [`LedgerEntry`]'s field order.
pub(super) type LedgerRow = (i64, Option<i64>, String, String, Option<String>, Option<String>, bool, String);

pub(super) fn entry(
    (id, request_id, subject_key, strategy, pseudonym, bodies, scrub, erased_at): LedgerRow,
) -> Result<LedgerEntry> {
    let bad = |e: String| StoreError::invalid(format!("erasure ledger entry #{id}: {e}"));
    Ok(LedgerEntry {
        id,
        request_id,
        subject_key,
        strategy: ErasureStrategy::parse(&strategy).map_err(bad)?,
        pseudonym,
        bodies: bodies.as_deref().map(BodyMode::parse).transpose().map_err(bad)?,
        scrub,
        erased_at,
    })
}
