//! GDPR requests. So far: the erasure ledger's replay, which every restore
//! runs so that people erased after a backup was made never come back from it.

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::error::Result;
use crate::store::Store;
use crate::store::erasure::LedgerEntry;

/// Re-applies every ledger entry to `store`; returns (entries that changed something, rows changed).
pub async fn reapply_erasure_ledger(
    store: &Store,
    entries: &[LedgerEntry],
    actor: Actor,
    clock: &dyn Clock,
) -> Result<(u64, u64)> {
    let mut tx = store.begin().await?;
    let (mut people, mut rows) = (0, 0);
    for entry in entries {
        tx.copy_ledger_entry(entry).await?;
        let changed = tx.apply_erasure(entry).await?;
        if changed > 0 {
            people += 1;
            rows += changed;
        }
    }
    if !entries.is_empty() {
        audit::append(
            &mut tx,
            clock.now(),
            AuditEntry::new(actor, "gdpr.ledger_reapply")
                .counts(serde_json::json!({ "entries": entries.len(), "people_erased_again": people, "rows": rows })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((people, rows))
}
