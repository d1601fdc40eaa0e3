//! Erasure (Art. 17): one transaction per person, refused while a legal hold covers them.
//!
//! - `delete`: their messages and read receipts (and the reads of their messages), their
//!   participation and ownership, conversations left without messages, and their row.
//! - `anonymize`: their row keeps its activity but its identity becomes a stable pseudonym
//!   (the same one retention's anonymize rules would write); message bodies are kept,
//!   with email addresses and phone numbers scrubbed, or redacted, as configured.
//!
//! Either way the request records a completion certificate: the queries that show no
//! personal rows are left, with their results. On SQLite the transaction runs with
//! `secure_delete` fully on, so removed rows and freed pages are overwritten with zeros,
//! and the write-ahead log is checkpointed and emptied afterwards; on PostgreSQL removed rows
//! are dead tuples until VACUUM reclaims them. The certificate says which, in the engine's words.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ledger::{self, subject_key};
use super::scrub::{self, ScrubCounts};
use super::{Subject, Target, insert_request, normalize_email, pending_request, resolve_target};
use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::{BackupSettings, GdprSettings};
use crate::domain::Actor;
use crate::domain::gdpr::{BodyMode, DsrRequest, ErasureStrategy, RequestKind};
use crate::error::{Error, Result};
use crate::ops::retention::rules;
use crate::store::erasure::LedgerEntry;
use crate::store::gdpr::{CertificateCheck, CheckSubject, PersonCounts};
use crate::store::{Store, Tx};
use crate::time::to_db;

/// What a redacted message body reads.
pub const REDACTED_BODY: &str = "[redacted]";

/// The proof an erasure leaves with its request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub request: i64,
    pub strategy: ErasureStrategy,
    pub erased_at: String,
    /// The erasure-ledger entry that keeps the person erased after restores.
    pub ledger_entry: i64,
    pub pseudonym: Option<String>,
    /// `anonymize`: what happened to their message bodies.
    pub bodies: Option<BodyMode>,
    /// What was stored about them just before.
    pub before: PersonCounts,
    /// Rows removed or changed, by kind.
    pub rows: serde_json::Value,
    /// `anonymize` with bodies kept: what the scrub removed.
    pub scrubbed: Option<ScrubCounts>,
    /// Each must be 0.
    pub checks: Vec<CertificateCheck>,
    pub residue: Residue,
    /// What stays outside the live database, and when it goes.
    #[serde(default)]
    pub survives: Survives,
    pub note: String,
}

/// What an erasure cannot reach: copies made before it, and other people's words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survives {
    /// Backups made before the erasure. The erasure ledger erases the person again on
    /// any restore; pruning removes the files.
    pub backups: Vec<SurvivingBackup>,
    /// Files written before the erasure that may hold their data: exports in the audit
    /// log, and access exports given to them. chatkeep cannot reach them.
    pub exports: Vec<SurvivingExport>,
    /// Exports beyond the listed ones (the newest are listed).
    pub more_exports: u64,
    /// Other people's messages that quoted their email address or phone number.
    pub mentions: u64,
    /// Of those, the ones this erasure scrubbed (`gdpr.scrub_mentions`).
    pub mentions_scrubbed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurvivingBackup {
    pub id: i64,
    pub file: String,
    pub kind: String,
    pub created_at: String,
    /// The last day it is kept by the backup generations, as long as backups go on as
    /// scheduled and pruning runs (`chatkeep backup prune`).
    pub kept_until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurvivingExport {
    pub at: String,
    pub what: String,
    pub path: String,
}

/// The exports listed on a certificate, newest first.
const LISTED_EXPORTS: usize = 20;
/// What replaces the person's email address or phone number in other people's messages.
pub const ERASED_MENTION: &str = "[erased]";

impl Certificate {
    pub fn all_zero(&self) -> bool {
        self.checks.iter().all(|c| c.result == 0)
    }
}

/// What was done about deleted bytes lingering in the database file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residue {
    pub secure_delete: String,
    pub wal_checkpoint: Option<String>,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub request: DsrRequest,
    pub certificate: Certificate,
}

/// How to erase one person; shared by an erasure and a ledger replay.
#[derive(Debug, Clone)]
pub(crate) struct ErasePlan {
    pub strategy: ErasureStrategy,
    pub pseudonym: Option<String>,
    pub bodies: BodyMode,
    pub scrub: bool,
    pub now: String,
    /// What chatkeep's own tables say instead of the person's identifiers.
    pub marker: String,
    /// Values a hold or request may name them by.
    pub identifiers: Vec<String>,
    pub release_reason: String,
}

/// The text that replaces a person's identifiers in requests and holds.
pub(crate) fn marker(ledger_entry: i64) -> String {
    format!("erased person (ledger #{ledger_entry})")
}

pub(crate) struct Erased {
    /// The person's row after the erasure (an anonymized person may be merged into their pseudonym's row).
    pub user: i64,
    pub rows: u64,
    pub counts: serde_json::Value,
    pub scrubbed: Option<ScrubCounts>,
}

/// Erases one person inside the caller's transaction.
pub(crate) async fn erase_rows(tx: &mut Tx<'_>, user: i64, plan: &ErasePlan) -> Result<Erased> {
    let identifiers: Vec<&str> = plan.identifiers.iter().map(String::as_str).collect();
    let references = tx.redact_references(user, &identifiers, &plan.marker).await?;
    match (plan.strategy, plan.pseudonym.as_deref()) {
        (ErasureStrategy::Delete, _) => {
            let counts = tx.delete_person(user, &plan.now, &plan.release_reason).await?;
            Ok(Erased {
                user,
                rows: counts.total() + references,
                counts: serde_json::json!({ "references_redacted": references, "deleted": counts }),
                scrubbed: None,
            })
        }
        (ErasureStrategy::Anonymize, Some(pseudonym)) => {
            // A restore may bring back the original row beside the pseudonym's: fold it in.
            let (user, merged) = match tx.other_user_with_external_id(user, pseudonym).await? {
                Some(other) => (other, tx.merge_person(user, other).await?),
                None => (user, 0),
            };
            let users = tx.anonymize_person(user, pseudonym, &plan.now).await?;
            let mut redacted = 0;
            let mut scrubbed = None;
            match plan.bodies {
                BodyMode::Redact => redacted = tx.redact_bodies(user, REDACTED_BODY).await?,
                BodyMode::Keep if plan.scrub => {
                    let mut total = ScrubCounts::default();
                    for (message, body) in tx.bodies_of(user).await? {
                        if let Some((clean, counts)) = scrub::scrub(&body) {
                            tx.set_body(message, &clean).await?;
                            total.add(counts);
                        }
                    }
                    scrubbed = Some(total);
                }
                BodyMode::Keep => {}
            }
            let scrubbed_rows = scrubbed.map_or(0, |s| s.messages);
            Ok(Erased {
                user,
                rows: users + merged + redacted + scrubbed_rows + references,
                counts: serde_json::json!({
                    "references_redacted": references, "users_anonymized": users, "rows_merged": merged,
                    "bodies_redacted": redacted, "bodies_scrubbed": scrubbed_rows,
                }),
                scrubbed,
            })
        }
        (ErasureStrategy::Anonymize, None) => Err(Error::Check("an anonymization needs a pseudonym".into())),
    }
}

/// Refuses to touch a person under a legal hold, naming each hold and the way out.
pub fn refuse_if_held(subject: &Subject) -> Result<()> {
    if subject.blockers.is_empty() {
        return Ok(());
    }
    let holds: Vec<String> = subject
        .blockers
        .iter()
        .map(|b| match b.hold {
            Some(id) => format!("hold #{id} on {} ({})", b.what, b.reason),
            None => format!("{} ({})", b.what, b.reason),
        })
        .collect();
    Err(Error::invalid(format!(
        "{} is under legal hold and cannot be erased: {}. Nothing was changed. Once the case allows it, release the \
         hold (`chatkeep hold release ID --reason ...`) and erase again",
        subject.describe(),
        holds.join("; ")
    )))
}

/// Backups and exports made before now, which an erasure cannot reach.
async fn copies_made_before(store: &Store, settings: &BackupSettings, tz: Tz) -> Result<Survives> {
    use chrono::Datelike;
    let mut survives = Survives::default();
    for row in store.backups().await? {
        if !matches!(row.status.as_str(), "verified" | "completed") {
            continue;
        }
        let Some(created) = crate::time::from_db(&row.created_at) else { continue };
        let created = created.with_timezone(&tz).date_naive();
        // The generations keep a snapshot for its daily (then weekly) window, a monthly
        // archive for as many months as it keeps.
        let kept_until = if row.kind == "snapshot" {
            created + chrono::Duration::days(i64::from(settings.keep_daily) + 7 * i64::from(settings.keep_weekly))
        } else {
            let month = chrono::NaiveDate::from_ymd_opt(row.year.unwrap_or(created.year()), row.month.unwrap_or(1), 1)
                .unwrap_or(created);
            month
                .checked_add_months(chrono::Months::new(settings.keep_monthly + 1))
                .map_or(created, |first| first - chrono::Duration::days(1))
        };
        survives.backups.push(SurvivingBackup {
            id: row.id,
            file: row.file_name,
            kind: row.kind,
            created_at: row.created_at,
            kept_until: kept_until.to_string(),
        });
    }
    let exports =
        audit::list(store, &crate::store::AuditFilter { since: None, action: Some("export".into()), limit: None })
            .await?;
    survives.more_exports = exports.len().saturating_sub(LISTED_EXPORTS) as u64;
    survives.exports = exports
        .into_iter()
        .take(LISTED_EXPORTS)
        .map(|row| SurvivingExport { at: row.at, what: row.action, path: row.target.unwrap_or_default() })
        .collect();
    Ok(survives)
}

/// `body` with every occurrence of the needles (matched case-insensitively) replaced.
fn scrub_mentions(body: &str, needles: &[String]) -> String {
    let mut out = body.to_string();
    for needle in needles {
        if let Ok(pattern) = regex::RegexBuilder::new(&regex::escape(needle)).case_insensitive(true).build() {
            out = pattern.replace_all(&out, ERASED_MENTION).into_owned();
        }
    }
    out
}

/// Erases the person `target` names, after the caller showed them and got a confirmation
/// for user `confirmed_user` (the erasure stops if the target now finds someone else).
#[allow(clippy::too_many_arguments)]
pub async fn erase(
    store: &Store,
    target: Target<'_>,
    strategy: ErasureStrategy,
    confirmed_user: i64,
    settings: &GdprSettings,
    backups: &BackupSettings,
    tz: Tz,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<ErasureReport> {
    let (request, subject) = resolve_target(store, target, RequestKind::Erasure).await?;
    if subject.person.id != confirmed_user {
        return Err(Error::invalid(format!(
            "the person found is {}, not the confirmed user #{confirmed_user}; look again with `chatkeep gdpr find`",
            subject.describe()
        )));
    }
    refuse_if_held(&subject)?;
    let salt = rules::salt(store, clock).await?;
    let now = clock.now();
    let user = subject.person.id;
    // Read before the transaction (an in-memory database has a single connection).
    let mut survives = copies_made_before(store, backups, tz).await?;

    let mut tx = store.begin().await?;
    tx.secure_delete(true).await?;
    // Checked again inside the transaction: the person or their holds may have changed since.
    let person = tx.person(user).await?.filter(|p| p.external_id == subject.person.external_id).ok_or_else(|| {
        Error::invalid(format!(
            "{} changed while being confirmed; look again with `chatkeep gdpr find`",
            subject.describe()
        ))
    })?;
    let blockers = tx.hold_blockers(user).await?;
    refuse_if_held(&Subject { blockers, ..subject.clone() })?;
    let before = tx.person_counts(user).await?;
    let request_id = match (&request, target) {
        (Some(request), _) => pending_request(&mut tx, request.id, "answered").await?.id,
        (None, Target::Subject(text)) => {
            insert_request(&mut tx, RequestKind::Erasure, text, &subject, now, settings, tz, None).await?
        }
        (None, Target::Request(id)) => return Err(Error::NotFound(format!("request #{id}"))),
    };
    let key = ledger::ensure_key(&mut tx, clock).await?;
    let anonymize = strategy == ErasureStrategy::Anonymize;
    let pseudonym = anonymize.then(|| rules::pseudonym(&salt, &person.external_id));
    let bodies = anonymize.then_some(settings.anonymize_bodies);
    let scrub_bodies = bodies == Some(BodyMode::Keep) && settings.scrub_bodies;
    let ledger_entry = tx
        .insert_ledger_entry(&LedgerEntry {
            id: 0,
            request_id: Some(request_id),
            subject_key: subject_key(&key, &person.external_id),
            strategy,
            pseudonym: pseudonym.clone(),
            bodies,
            scrub: scrub_bodies,
            erased_at: to_db(now),
        })
        .await?;

    let email = person.email.as_deref().and_then(normalize_email);
    let mut identifiers = vec![person.external_id.clone()];
    identifiers.extend(person.email.iter().cloned());
    identifiers.extend(email.iter().cloned());
    identifiers.extend(person.phone.iter().cloned());
    if let Target::Subject(text) = target {
        identifiers.push(text.trim().to_string());
    }
    let plan = ErasePlan {
        strategy,
        pseudonym: pseudonym.clone(),
        bodies: bodies.unwrap_or(BodyMode::Keep),
        scrub: scrub_bodies,
        now: to_db(now),
        marker: marker(ledger_entry),
        identifiers,
        release_reason: format!("erased (request #{request_id})"),
    };
    let mut needles: Vec<String> =
        email.iter().chain(person.email.iter()).chain(person.phone.iter()).cloned().collect();
    needles.iter_mut().for_each(|n| *n = n.trim().to_lowercase());
    needles.retain(|n| n.chars().count() >= 5);
    needles.sort();
    needles.dedup();
    let mentions = tx.mentions_of(user, &needles).await?;
    survives.mentions = mentions.len() as u64;
    if settings.scrub_mentions {
        for (message, body) in &mentions {
            tx.set_body(*message, &scrub_mentions(body, &needles)).await?;
        }
        survives.mentions_scrubbed = mentions.len() as u64;
    }
    for request in tx.requests_of(user).await? {
        if let (Some(path), Some(at)) = (request.artifact_path, request.completed_at) {
            survives
                .exports
                .insert(0, SurvivingExport { at, what: format!("access export (request #{})", request.id), path });
        }
    }
    let erased = erase_rows(&mut tx, user, &plan).await?;

    let redacted_body = (bodies == Some(BodyMode::Redact)).then_some(REDACTED_BODY);
    let mut checks = tx
        .certificate_checks(&CheckSubject {
            strategy,
            user_id: erased.user,
            external_id: &person.external_id,
            email: email.as_deref(),
            phone: person.phone.as_deref(),
            pseudonym: pseudonym.as_deref(),
            redacted_body,
        })
        .await?;
    if settings.scrub_mentions {
        checks.push(CertificateCheck {
            what: "other people's messages still quoting their email address or phone number".into(),
            query: "SELECT id FROM messages WHERE sender_id <> $1 AND (position of each of $3, $4 in lower(body)) > 0"
                .into(),
            result: tx.mentions_of(user, &needles).await?.len() as i64,
        });
    }
    if scrub_bodies {
        let left = tx.bodies_of(erased.user).await?.iter().filter(|(_, body)| scrub::has_contact_details(body)).count();
        checks.push(CertificateCheck {
            what: "their message bodies still holding an email address or phone number".into(),
            query: "SELECT id, body FROM messages WHERE sender_id = $1 AND body IS NOT NULL \
                    (each body matched against the scrub patterns)"
                .into(),
            result: left as i64,
        });
    }
    let mut certificate = Certificate {
        request: request_id,
        strategy,
        erased_at: to_db(now),
        ledger_entry,
        pseudonym,
        bodies,
        before,
        rows: erased.counts.clone(),
        scrubbed: erased.scrubbed,
        checks,
        residue: Residue { secure_delete: store.removed_rows_note().into(), wal_checkpoint: None },
        survives,
        note: "$1 is the person's user id; $2, $3, $4 are their external id, email address and phone number as \
               they were, bound as parameters and not recorded here; $5 is the pseudonym, $6 the redaction text"
            .into(),
    };
    if !certificate.all_zero() {
        let failing: Vec<String> =
            certificate.checks.iter().filter(|c| c.result != 0).map(|c| format!("{}: {}", c.what, c.result)).collect();
        return Err(Error::Check(format!(
            "the erasure would leave personal rows behind ({}); it was rolled back and nothing was changed",
            failing.join("; ")
        )));
    }
    tx.complete_erasure(request_id, &to_db(now), strategy, &serde_json::to_string(&certificate).unwrap_or_default())
        .await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "gdpr.erase")
            .target(format!("request #{request_id}"))
            .details(serde_json::json!({
                "strategy": strategy, "ledger_entry": ledger_entry, "bodies": bodies, "scrubbed": erased.scrubbed,
                "mentions_of_them_in_other_messages": certificate.survives.mentions,
                "mentions_scrubbed": certificate.survives.mentions_scrubbed,
            }))
            .counts(&erased.counts),
    )
    .await?;
    tx.secure_delete(false).await?;
    tx.commit().await?;

    // Old versions of the erased pages may sit in the write-ahead log (SQLite: copied into the
    // database file and emptied now).
    certificate.residue.wal_checkpoint = Some(store.checkpoint_wal().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "checkpoint after an erasure failed");
        "the write-ahead log could not be checkpointed; the database overwrites its old entries in time".into()
    }));
    let mut tx = store.begin().await?;
    tx.set_certificate(request_id, &serde_json::to_string(&certificate).unwrap_or_default()).await?;
    let request = tx.request(request_id).await?.ok_or_else(|| Error::NotFound(format!("request #{request_id}")))?;
    tx.commit().await?;
    Ok(ErasureReport { request, certificate })
}
