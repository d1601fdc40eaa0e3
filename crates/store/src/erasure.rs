//! The erasure ledger: a marker per erased person (a keyed hash, never a clear identifier)
//! and how they were erased, re-applied after every restore.

use serde::{Deserialize, Serialize};

use super::{Store, Tx};
use crate::{Result, StoreError};
use chatkeep_domain::gdpr::{BodyMode, ErasureStrategy};

both_engines! {
    pub(crate) async fn list(conn: &mut Conn) -> Result<Vec<LedgerEntry>> {
        let rows: Vec<LedgerRow> = sqlx::query_as(concat!(
            "SELECT id, request_id, subject_key, strategy, pseudonym, bodies, scrub, ",
            ts_of!("erased_at"),
            " FROM erasure_ledger ORDER BY id"
        ))
        .fetch_all(conn)
        .await?;
        rows.into_iter().map(entry).collect()
    }

    pub(crate) async fn insert(conn: &mut Conn, e: &LedgerEntry) -> Result<i64> {
        Ok(sqlx::query_scalar(concat!(
            "INSERT INTO erasure_ledger (request_id, subject_key, strategy, pseudonym, bodies, scrub, erased_at)
             VALUES ($1, $2, $3, $4, $5, $6, ", ts!(7), ") RETURNING id"
        ))
        .bind(e.request_id)
        .bind(&e.subject_key)
        .bind(e.strategy.as_str())
        .bind(&e.pseudonym)
        .bind(e.bodies.map(BodyMode::as_str))
        .bind(e.scrub)
        .bind(&e.erased_at)
        .fetch_one(conn)
        .await?)
    }

    pub(crate) async fn set_subject_key(conn: &mut Conn, id: i64, subject_key: &str) -> Result<()> {
        sqlx::query("UPDATE erasure_ledger SET subject_key = $2 WHERE id = $1")
            .bind(id)
            .bind(subject_key)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn user_external_ids(conn: &mut Conn) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as("SELECT id, external_id FROM users ORDER BY id").fetch_all(conn).await?)
    }
}

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
        on_engine!(self, Store(pool) => erasure::list(&mut *pool.acquire().await?).await)
    }
}

impl Tx<'_> {
    pub async fn erasure_ledger(&mut self) -> Result<Vec<LedgerEntry>> {
        on_engine!(self, Tx(tx) => erasure::list(tx).await)
    }

    /// Records a ledger entry (keeping its id) unless one with that id is there.
    pub async fn copy_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<()> {
        on_engine!(self, Tx(tx) => erasure::copy(tx, entry).await)
    }

    /// Adds an entry (its `id` is ignored); returns the new id.
    pub async fn insert_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<i64> {
        on_engine!(self, Tx(tx) => erasure::insert(tx, entry).await)
    }

    pub async fn set_ledger_subject_key(&mut self, id: i64, subject_key: &str) -> Result<()> {
        on_engine!(self, Tx(tx) => erasure::set_subject_key(tx, id, subject_key).await)
    }

    /// (id, external id) of every user: a replay recognises erased people among them.
    pub async fn user_external_ids(&mut self) -> Result<Vec<(i64, String)>> {
        on_engine!(self, Tx(tx) => erasure::user_external_ids(tx).await)
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
