//! The erasure ledger: one marker per erased person, so that a restore never brings them back.
//!
//! A marker names nobody: it holds an HMAC-SHA256 of the person's external id under a
//! key kept in this database's `settings` (created by the first erasure), plus how they
//! were erased. After a restore, chatkeep hashes every external id in the restored data
//! with the same key and erases again whoever matches a marker newer than the backup
//! (each manifest records the ledger position it was taken at).
//!
//! The external id is the key because it is what the chat service and every backup know
//! the person by; an email address or phone number may later belong to someone else.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::erase::{self, ErasePlan};
use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::gdpr::{BodyMode, ErasureStrategy};
use crate::error::{Error, Result};
use crate::store::erasure::LedgerEntry;
use crate::store::{Store, Tx};
use crate::time::to_db;

/// The `settings` key of the ledger's HMAC key.
pub const KEY_SETTING: &str = "gdpr.ledger_key";
/// Rows written before keyed hashes carried the external id after this prefix.
const UNKEYED: &str = "unkeyed:";

/// The ledger of one database, with the key its markers were made with.
#[derive(Debug, Clone, Default)]
pub struct ErasureLedger {
    key: Option<String>,
    pub entries: Vec<LedgerEntry>,
}

impl ErasureLedger {
    /// The highest entry id (0 when empty).
    pub fn position(&self) -> i64 {
        self.entries.iter().map(|e| e.id).max().unwrap_or(0)
    }

    /// The newest entry for a person, if they were erased.
    pub fn entry_for(&self, external_id: &str) -> Option<&LedgerEntry> {
        let key = self.key.as_deref()?;
        let marker = subject_key(key, external_id);
        self.entries.iter().rev().find(|e| e.subject_key == marker)
    }

    /// True when the person was erased by deletion: their rows never come back.
    pub fn deletes(&self, external_id: &str) -> bool {
        self.entry_for(external_id).is_some_and(|e| e.strategy == ErasureStrategy::Delete)
    }
}

/// The marker for an external id: HMAC-SHA256 under the ledger key, in hex.
pub fn subject_key(key: &str, external_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"chatkeep erasure ledger\0external_id\0");
    mac.update(external_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// This database's ledger key, created inside the caller's transaction on first use.
pub(crate) async fn ensure_key(tx: &mut Tx<'_>, clock: &dyn Clock) -> Result<String> {
    if let Some(key) = tx.setting(KEY_SETTING).await? {
        return Ok(key);
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    tx.set_setting(KEY_SETTING, &key, clock.now()).await?;
    Ok(key)
}

/// Reads the ledger and its key. Entries from before keyed hashes are hashed in place
/// first (with `secure_delete` on, so their clear ids do not linger in the file).
pub async fn load_ledger(store: &Store, clock: &dyn Clock) -> Result<ErasureLedger> {
    let entries = store.erasure_ledger().await?;
    if entries.iter().any(|e| e.subject_key.starts_with(UNKEYED)) {
        let mut tx = store.begin().await?;
        tx.secure_delete(true).await?;
        let key = ensure_key(&mut tx, clock).await?;
        for entry in tx.erasure_ledger().await? {
            if let Some(external_id) = entry.subject_key.strip_prefix(UNKEYED) {
                tx.set_ledger_subject_key(entry.id, &subject_key(&key, external_id)).await?;
            }
        }
        tx.secure_delete(false).await?;
        tx.commit().await?;
    }
    Ok(ErasureLedger { key: store.setting(KEY_SETTING).await?, entries: store.erasure_ledger().await? })
}

/// Re-applies a ledger (read from the live database) to `store`, typically a restored one:
/// copies every entry and the key, and erases again whoever matches an entry newer than
/// `position` (the backup manifest's ledger position; older erasures are in the backup
/// already). Returns (people erased again, rows changed).
pub async fn reapply_erasure_ledger(
    store: &Store,
    ledger: &ErasureLedger,
    position: i64,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<(u64, u64)> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    tx.secure_delete(true).await?;
    if let Some(key) = &ledger.key {
        match tx.setting(KEY_SETTING).await? {
            None => tx.set_setting(KEY_SETTING, key, now).await?,
            Some(own) if &own != key => {
                // A backup of another database: its own markers keep its key; ours are applied below.
                tracing::warn!("the restored database has its own erasure-ledger key; keeping it");
            }
            Some(_) => {}
        }
    }
    for entry in &ledger.entries {
        tx.copy_ledger_entry(entry).await?;
    }
    // A position beyond this ledger means the backup came from elsewhere: apply everything.
    let after = if position > ledger.position() { 0 } else { position };
    let pending: HashMap<&str, &LedgerEntry> =
        ledger.entries.iter().filter(|e| e.id > after).map(|e| (e.subject_key.as_str(), e)).collect();
    let (mut people, mut rows) = (0, 0);
    if let (Some(key), false) = (&ledger.key, pending.is_empty()) {
        for (user, external_id) in tx.user_external_ids().await? {
            let Some(entry) = pending.get(subject_key(key, &external_id).as_str()) else {
                continue;
            };
            let plan = ErasePlan::replay(entry, &external_id, to_db(now))?;
            let changed = erase::erase_rows(&mut tx, user, &plan).await?.rows;
            if changed > 0 {
                people += 1;
                rows += changed;
            }
        }
    }
    tx.secure_delete(false).await?;
    if !ledger.entries.is_empty() {
        audit::append(
            &mut tx,
            now,
            AuditEntry::new(actor, "gdpr.ledger_reapply").counts(serde_json::json!({
                "entries": ledger.entries.len(), "applied_after": after, "people_erased_again": people, "rows": rows
            })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((people, rows))
}

impl ErasePlan {
    /// The plan a ledger entry stands for, applied to the row found by `external_id`.
    fn replay(entry: &LedgerEntry, external_id: &str, now: String) -> Result<ErasePlan> {
        let pseudonym = match entry.strategy {
            ErasureStrategy::Anonymize => Some(entry.pseudonym.clone().ok_or_else(|| {
                Error::Check(format!("erasure ledger entry #{} (anonymize) has no pseudonym", entry.id))
            })?),
            ErasureStrategy::Delete => None,
        };
        Ok(ErasePlan {
            strategy: entry.strategy,
            pseudonym,
            bodies: entry.bodies.unwrap_or(BodyMode::Keep),
            scrub: entry.scrub,
            now,
            marker: erase::marker(entry.id),
            identifiers: vec![external_id.to_string()],
            release_reason: "erased (erasure ledger replay)".into(),
        })
    }
}
