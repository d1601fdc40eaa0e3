//! The tamper-evident audit log.
//!
//! Every operation that changes data or settings calls [`append`] inside its
//! own transaction, so the audit row and the change commit together or not at
//! all. Each row's hash covers its fields and the previous row's hash; the
//! newest link is also kept in `settings` so removing rows from the end shows
//! too. [`verify`] walks the chain and names the first row that does not fit.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::store::{AuditFilter, AuditRow, Store, Tx};
use crate::time;

/// The previous-hash of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HEAD_SETTING: &str = "audit.head";

/// A point of the chain recorded outside the log (in every backup's manifest): the row
/// number and hash the log had reached. A later log that is shorter, or whose row of
/// that number has another hash, was cut or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AuditAnchor {
    pub row: i64,
    pub hash: String,
}

/// Where an anchor was read, for the report: `backup #12 (chatkeep-archive-2026-10.tar.zst)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorSource {
    pub anchor: AuditAnchor,
    pub from: String,
}

/// The chain's head as the log itself records it (`None` before the first row).
pub async fn head(store: &Store) -> Result<Option<AuditAnchor>> {
    Ok(store.setting(HEAD_SETTING).await?.and_then(|text| {
        let (row, hash) = text.split_once(':')?;
        Some(AuditAnchor { row: row.parse().ok()?, hash: hash.to_string() })
    }))
}

/// What happened, as the operation describes it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Actor,
    /// Dotted verb, `area.verb`: `import.file`, `demo.seed`, `retention.purge` ...
    pub action: String,
    /// What it acted on: a file, a conversation id, a month ...
    pub target: Option<String>,
    pub details: serde_json::Value,
    /// Rows touched, by kind.
    pub counts: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: impl Into<String>) -> AuditEntry {
        AuditEntry {
            actor,
            action: action.into(),
            target: None,
            details: serde_json::json!({}),
            counts: serde_json::json!({}),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).unwrap_or_default();
        self
    }

    pub fn counts(mut self, counts: impl Serialize) -> Self {
        self.counts = serde_json::to_value(counts).unwrap_or_default();
        self
    }
}

/// Appends one row to the chain, inside the caller's transaction.
pub async fn append(tx: &mut Tx<'_>, now: DateTime<Utc>, entry: AuditEntry) -> Result<AuditRow> {
    let (last_id, prev_hash) = tx.audit_last_link().await?.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut row = AuditRow {
        id: last_id + 1,
        at: time::to_db(now),
        actor: entry.actor.as_str().to_string(),
        action: entry.action,
        target: entry.target,
        details: entry.details.to_string(),
        counts: entry.counts.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row_hash(&row);
    tx.audit_insert(&row).await?;
    tx.set_setting(HEAD_SETTING, &format!("{}:{}", row.id, row.hash), now).await?;
    Ok(row)
}

/// The hash of a row: SHA-256 over a JSON array of the previous hash and every field.
pub fn row_hash(row: &AuditRow) -> String {
    let canonical =
        serde_json::json!([row.prev_hash, row.id, row.at, row.actor, row.action, row.target, row.details, row.counts]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Rows matching a filter, newest first.
pub async fn list(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    if filter.limit.is_some_and(|n| n < 1) {
        return Err(Error::invalid("--limit must be 1 or more"));
    }
    Ok(store.audit_list(filter).await?)
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub rows_checked: u64,
    /// The first row that does not fit, if any.
    pub first_break: Option<ChainBreak>,
    /// The newest anchor the log was compared with (see [`verify_against`]), if any was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorSource>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The row at which the chain stops holding.
    pub row_id: i64,
    pub reason: String,
}

/// Walks the whole chain in id order, in pages, and reports the first broken link.
pub async fn verify(store: &Store) -> Result<VerifyReport> {
    const PAGE: i64 = 5_000;
    let mut previous: Option<(i64, String)> = None;
    let mut rows_checked = 0u64;
    loop {
        let after = previous.as_ref().map_or(0, |(id, _)| *id);
        let rows = store.audit_page(after, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let expected_prev = previous.as_ref().map_or(GENESIS_HASH, |(_, hash)| hash.as_str());
            let expected_id = previous.as_ref().map_or(1, |(id, _)| id + 1);
            let broken = if row.id != expected_id {
                Some(format!("rows {expected_id}..{} are missing: removed from the log", row.id - 1))
            } else if row.prev_hash != expected_prev {
                Some("its link to the previous row does not match: the previous row was altered or replaced".into())
            } else if row_hash(row) != row.hash {
                Some(format!(
                    "its contents do not match its hash: row {} ({} at {}) was altered",
                    row.id, row.action, row.at
                ))
            } else {
                None
            };
            if let Some(reason) = broken {
                return Ok(VerifyReport {
                    rows_checked,
                    first_break: Some(ChainBreak { row_id: row.id, reason }),
                    anchor: None,
                });
            }
            rows_checked += 1;
            previous = Some((row.id, row.hash.clone()));
        }
    }

    // The chain holds; check that nothing was cut off its end.
    let last_id = previous.as_ref().map_or(0, |(id, _)| *id);
    let last_hash = previous.as_ref().map_or("", |(_, hash)| hash.as_str());
    let broken = |row_id: i64, reason: String| VerifyReport {
        rows_checked,
        first_break: Some(ChainBreak { row_id, reason }),
        anchor: None,
    };
    match head(store).await? {
        Some(head) if head.row != last_id || head.hash != last_hash => {
            return Ok(broken(
                last_id + 1,
                format!(
                    "the log ends at row {last_id}, but row {} was the last one written: rows were removed from the end",
                    head.row
                ),
            ));
        }
        Some(_) => {}
        // Every append records the head: a log with rows and no head had it removed.
        None if last_id > 0 => {
            return Ok(broken(
                last_id,
                format!(
                    "the log has {last_id} rows but no record of its last one (the setting {HEAD_SETTING} is gone): \
                     the head was removed, so rows cut from the end would not show"
                ),
            ));
        }
        None => {}
    }
    Ok(VerifyReport { rows_checked, first_break: None, anchor: None })
}

/// [`verify`], then the log compared with `anchor`, a head recorded outside it (the newest
/// backup's manifest): a log shorter than the anchor, or whose row of that number has
/// another hash, was cut or rewritten since, even if its own chain holds.
pub async fn verify_against(store: &Store, anchor: Option<AnchorSource>) -> Result<VerifyReport> {
    let mut report = verify(store).await?;
    let Some(source) = anchor else {
        return Ok(report);
    };
    if report.is_intact() {
        let AuditAnchor { row, hash } = &source.anchor;
        let found = store.audit_page(row - 1, 1).await?.into_iter().next().filter(|r| r.id == *row);
        let reason = match found {
            None => Some(format!(
                "the log has {} rows, but {} recorded row {row}: rows were removed",
                report.rows_checked, source.from
            )),
            Some(found) if &found.hash != hash => Some(format!(
                "row {row} differs from what {} recorded: the log was rewritten from there on",
                source.from
            )),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            report.first_break = Some(ChainBreak { row_id: *row, reason });
        }
    }
    report.anchor = Some(source);
    Ok(report)
}

/// Writes the rows `filter` selects to a CSV file (header row; the hashes included).
/// Written privately under a temporary name and renamed (see [`crate::output`]), so a
/// failed export leaves no half file; an existing file is replaced only with `overwrite`.
/// Cells a spreadsheet would run as a formula get a leading `'`
/// ([`neutralize_formula`](crate::ops::export::neutralize_formula)); `chatkeep audit list
/// --json` gives every value exact, to recompute the chain outside chatkeep.
pub async fn export_csv(store: &Store, filter: &AuditFilter, path: &std::path::Path, overwrite: bool) -> Result<u64> {
    crate::output::check_target(path, overwrite)?;
    let rows = list(store, filter).await?;
    let io = |what: &str, e: std::io::Error| Error::io(format!("{what} {}", path.display()), e);
    let (file, pending) = crate::output::create(path, overwrite)?;
    let mut writer = csv::Writer::from_writer(file);
    writer
        .write_record(["id", "at", "actor", "action", "target", "details", "counts", "prev_hash", "hash"])
        .map_err(|e| io("cannot write", e.into()))?;
    for row in &rows {
        let id = row.id.to_string();
        let target = row.target.as_deref().unwrap_or("");
        let cells = [
            id.as_str(),
            &row.at,
            &row.actor,
            &row.action,
            target,
            &row.details,
            &row.counts,
            &row.prev_hash,
            &row.hash,
        ];
        writer
            .write_record(cells.iter().map(|cell| crate::ops::export::neutralize_formula(cell).into_owned()))
            .map_err(|e| io("cannot write", e.into()))?;
    }
    let file = writer.into_inner().map_err(|e| io("cannot write", e.into_error()))?;
    pending.finish(file)?;
    Ok(rows.len() as u64)
}
