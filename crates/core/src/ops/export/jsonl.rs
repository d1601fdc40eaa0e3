//! JSONL: chatkeep's import format, people first, then each conversation with its rows; the
//! file imports on its own.

use std::io::Write;

use super::*;

/// Writes the export; `Ok(false)` when cancelled.
pub(super) async fn write(w: Writing<'_>, out: &mut impl Write) -> Result<bool> {
    let Writing { store, plan, conversations, progress, cancel, pages, sizes, .. } = w;
    let mut done = 0u64;
    let all: Vec<i64> = conversations.iter().map(|(id, _)| *id).collect();
    let users = store.export_user_records(&plan.scope, &all).await?;
    if !users.is_empty() {
        out.write_all(users.as_bytes()).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    let mut incoming = prefetch(store, plan, pages, sizes);
    while let Some(page) = incoming.recv().await {
        let page = page?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        if !page.records.is_empty() {
            out.write_all(page.records.as_bytes()).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
        }
        done += page.size;
        progress.advance_to(done);
    }
    Ok(true)
}
