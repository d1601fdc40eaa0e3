//! Storage for data-subject requests: finding a person, their requests, what an access
//! export reads, and the statements an erasure runs.

use serde::Serialize;

use super::{Store, Tx};
use crate::{Result, StoreError};
use chatkeep_domain::gdpr::{DsrRequest, ErasureStrategy, RequestKind, RequestStatus};

/// A person as the `users` table has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRow {
    pub id: i64,
    pub external_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    pub anonymized_at: Option<String>,
}

/// One way to look a person up; email and phone already normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectLookup<'a> {
    UserId(i64),
    ExternalId(&'a str),
    /// Trimmed and lower-case.
    Email(&'a str),
    /// Digits only, without an international prefix sign (`+` or `00`).
    Phone(&'a str),
}

impl SubjectLookup<'_> {
    pub fn key(&self) -> &'static str {
        match self {
            SubjectLookup::UserId(_) => "user_id",
            SubjectLookup::ExternalId(_) => "external_id",
            SubjectLookup::Email(_) => "email",
            SubjectLookup::Phone(_) => "phone",
        }
    }
}

/// How many rows of each kind are about a person: shown before anything is done to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PersonCounts {
    pub messages: i64,
    pub message_reads: i64,
    /// Conversations they take part in.
    pub conversations: i64,
    pub conversations_owned: i64,
    pub active_holds: i64,
    pub requests: i64,
}

/// An active hold that forbids changing a person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The hold's number; `None` for the chat service's own `legal_hold` flag on a conversation.
    pub hold: Option<i64>,
    /// `user "u-7"` or `conversation "c-1"`.
    pub what: String,
    pub reason: String,
}

/// A new request's row.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub kind: RequestKind,
    pub subject: &'a str,
    pub subject_user_id: Option<i64>,
    pub matched_by: Option<&'a str>,
    pub received_at: &'a str,
    pub due_at: &'a str,
    pub notes: Option<&'a str>,
}

/// What an access export reads besides the user row: JSON objects, as SQLite built them.
#[derive(Debug, Clone, Default)]
pub struct AccessRows {
    pub conversations: Vec<serde_json::Value>,
    pub messages: Vec<serde_json::Value>,
    pub reads: Vec<serde_json::Value>,
}

/// Rows a `delete` erasure removed or changed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteCounts {
    pub users: u64,
    pub messages: u64,
    pub message_reads: u64,
    pub reads_of_their_messages: u64,
    pub replies_unlinked: u64,
    pub participants: u64,
    pub ownership_unset: u64,
    pub conversations_deleted: u64,
    /// Messages without a sender (a bot's, the system's) in the conversations that went.
    pub messages_of_emptied_conversations: u64,
    pub holds_released: u64,
}

impl DeleteCounts {
    pub fn total(&self) -> u64 {
        self.users
            + self.messages
            + self.message_reads
            + self.reads_of_their_messages
            + self.replies_unlinked
            + self.participants
            + self.ownership_unset
            + self.conversations_deleted
            + self.messages_of_emptied_conversations
            + self.holds_released
    }
}

/// What the certificate's checks look for.
#[derive(Debug, Clone, Copy)]
pub struct CheckSubject<'a> {
    pub strategy: ErasureStrategy,
    pub user_id: i64,
    pub external_id: &'a str,
    /// Normalized (trimmed, lower-case).
    pub email: Option<&'a str>,
    /// As stored.
    pub phone: Option<&'a str>,
    pub pseudonym: Option<&'a str>,
    /// The text redacted bodies were replaced with (`anonymize` with bodies redacted).
    pub redacted_body: Option<&'a str>,
}

/// One check of a completion certificate: the query, and what it returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CertificateCheck {
    pub what: String,
    pub query: String,
    pub result: i64,
}

impl Store {
    pub async fn find_people(&self, lookup: &SubjectLookup<'_>) -> Result<Vec<PersonRow>> {
        on_engine!(self, Store(pool) => gdpr::find_people(pool, lookup).await)
    }

    pub async fn person_counts(&self, user: i64) -> Result<PersonCounts> {
        on_engine!(self, Store(pool) => gdpr::person_counts(&mut *pool.acquire().await?, user).await)
    }

    pub async fn hold_blockers(&self, user: i64) -> Result<Vec<Blocker>> {
        on_engine!(self, Store(pool) => gdpr::blockers(&mut *pool.acquire().await?, user).await)
    }

    /// What the engine does with the bytes of the rows an erasure removes (see [`Tx::secure_delete`]),
    /// in words for the certificate.
    pub fn removed_rows_note(&self) -> &'static str {
        on_engine!(self, Store(_) => gdpr::REMOVED_ROWS)
    }

    /// Requests, soonest due first; only open and in-progress ones unless `all`.
    pub async fn requests(&self, all: bool) -> Result<Vec<DsrRequest>> {
        on_engine!(self, Store(pool) => gdpr::requests(pool, all).await)
    }

    /// Open and in-progress requests due at or before `until` (a stored timestamp).
    pub async fn requests_due(&self, until: &str) -> Result<Vec<DsrRequest>> {
        on_engine!(self, Store(pool) => gdpr::requests_due(pool, until).await)
    }

    pub async fn request(&self, id: i64) -> Result<Option<DsrRequest>> {
        on_engine!(self, Store(pool) => gdpr::request_by_id(&mut *pool.acquire().await?, id).await)
    }

    /// After an erasure has committed: SQLite copies its write-ahead log into the database file
    /// and empties it, so rows the erasure removed are not left in old log frames; PostgreSQL
    /// manages its own log and does nothing here. Returns what happened, in words for the certificate.
    pub async fn checkpoint_wal(&self) -> Result<String> {
        on_engine!(self, Store(pool) => gdpr::wal_checkpoint(pool).await)
    }
}

impl Tx<'_> {
    pub async fn person(&mut self, user: i64) -> Result<Option<PersonRow>> {
        on_engine!(self, Tx(tx) => gdpr::person_by_id(tx, user).await)
    }

    pub async fn person_counts(&mut self, user: i64) -> Result<PersonCounts> {
        on_engine!(self, Tx(tx) => gdpr::person_counts(tx, user).await)
    }

    pub async fn hold_blockers(&mut self, user: i64) -> Result<Vec<Blocker>> {
        on_engine!(self, Tx(tx) => gdpr::blockers(tx, user).await)
    }

    pub async fn insert_request(&mut self, new: &NewRequest<'_>) -> Result<i64> {
        on_engine!(self, Tx(tx) => gdpr::insert_request(tx, new).await)
    }

    pub async fn request(&mut self, id: i64) -> Result<Option<DsrRequest>> {
        on_engine!(self, Tx(tx) => gdpr::request_by_id(tx, id).await)
    }

    pub async fn requests_of(&mut self, user: i64) -> Result<Vec<DsrRequest>> {
        on_engine!(self, Tx(tx) => gdpr::requests_of(tx, user).await)
    }

    pub async fn extend_request(&mut self, id: i64, due_at: &str, reason: &str, now: &str) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::extend_request(tx, id, due_at, reason, now).await)
    }

    pub async fn set_request_status(
        &mut self,
        id: i64,
        status: RequestStatus,
        rejected_reason: Option<&str>,
        completed_at: Option<&str>,
    ) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::set_request_status(tx, id, status, rejected_reason, completed_at).await)
    }

    pub async fn complete_access(&mut self, id: i64, now: &str, path: &str, sha256: &str) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::complete_access(tx, id, now, path, sha256).await)
    }

    pub async fn complete_erasure(
        &mut self,
        id: i64,
        now: &str,
        strategy: ErasureStrategy,
        certificate: &str,
    ) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::complete_erasure(tx, id, now, strategy, certificate).await)
    }

    pub async fn set_certificate(&mut self, id: i64, certificate: &str) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::set_certificate(tx, id, certificate).await)
    }

    /// Everything an access export holds about a person besides their user row;
    /// other participants' messages only with `others`.
    pub async fn access_rows(&mut self, user: i64, others: bool) -> Result<AccessRows> {
        on_engine!(self, Tx(tx) => gdpr::access_rows(tx, user, others).await)
    }

    /// Turns SQLite's `secure_delete` fully on (deleted content and freed pages zeroed)
    /// for this transaction's connection, or back to the pool's FAST. PostgreSQL has no such
    /// setting (VACUUM reclaims removed rows): there it does nothing.
    pub async fn secure_delete(&mut self, on: bool) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::secure_delete(tx, on).await)
    }

    pub async fn delete_person(&mut self, user: i64, released_at: &str, release_reason: &str) -> Result<DeleteCounts> {
        on_engine!(self, Tx(tx) => gdpr::delete_person(tx, user, released_at, release_reason).await)
    }

    pub async fn other_user_with_external_id(&mut self, user: i64, external_id: &str) -> Result<Option<i64>> {
        on_engine!(self, Tx(tx) => gdpr::other_user_with_external_id(tx, user, external_id).await)
    }

    /// Moves everything of `from` onto `into` and removes `from`; returns the rows changed.
    pub async fn merge_person(&mut self, from: i64, into: i64) -> Result<u64> {
        on_engine!(self, Tx(tx) => gdpr::merge_person(tx, from, into).await)
    }

    pub async fn anonymize_person(&mut self, user: i64, pseudonym: &str, now: &str) -> Result<u64> {
        on_engine!(self, Tx(tx) => gdpr::anonymize_person(tx, user, pseudonym, now).await)
    }

    pub async fn redact_bodies(&mut self, user: i64, text: &str) -> Result<u64> {
        on_engine!(self, Tx(tx) => gdpr::redact_bodies(tx, user, text).await)
    }

    /// (message id, body) of other people's messages whose body holds one of `needles`
    /// (lower-case text, matched case-insensitively): where they quote the person.
    pub async fn mentions_of(&mut self, user: i64, needles: &[String]) -> Result<Vec<(i64, String)>> {
        if needles.is_empty() {
            return Ok(Vec::new());
        }
        // The same SQL on both engines but for the name of the substring function.
        let position = match self {
            Tx::Sqlite(_) => "instr",
            Tx::Postgres(_) => "strpos",
        };
        let matches: Vec<String> =
            (0..needles.len()).map(|i| format!("{position}(lower(body), ${}) > 0", i + 2)).collect();
        let sql = format!(
            "SELECT id, body FROM messages
             WHERE (sender_id IS NULL OR sender_id <> $1) AND body IS NOT NULL AND ({}) ORDER BY id",
            matches.join(" OR ")
        );
        let sql = sqlx::AssertSqlSafe(sql);
        Ok(match self {
            Tx::Sqlite(tx) => {
                let mut query = sqlx::query_as(sql).bind(user);
                for needle in needles {
                    query = query.bind(needle);
                }
                query.fetch_all(&mut **tx).await?
            }
            Tx::Postgres(tx) => {
                let mut query = sqlx::query_as(sql).bind(user);
                for needle in needles {
                    query = query.bind(needle);
                }
                query.fetch_all(&mut **tx).await?
            }
        })
    }

    /// (message id, body) of every message the person sent that has a body.
    pub async fn bodies_of(&mut self, user: i64) -> Result<Vec<(i64, String)>> {
        on_engine!(self, Tx(tx) => gdpr::bodies_of(tx, user).await)
    }

    pub async fn set_body(&mut self, message: i64, body: &str) -> Result<()> {
        on_engine!(self, Tx(tx) => gdpr::set_body(tx, message, body).await)
    }

    pub async fn redact_references(&mut self, user: i64, identifiers: &[&str], marker: &str) -> Result<u64> {
        on_engine!(self, Tx(tx) => gdpr::redact_references(tx, user, identifiers, marker).await)
    }

    pub async fn certificate_checks(&mut self, subject: &CheckSubject<'_>) -> Result<Vec<CertificateCheck>> {
        on_engine!(self, Tx(tx) => gdpr::certificate_checks(tx, subject).await)
    }
}

// ---- shared by both engines ----

both_engines! {
    const PERSON: &str = concat!(
        "SELECT id, external_id, display_name, email, phone, ",
        ts_of!("created_at"), ", ", ts_of!("last_seen_at"), ", ", ts_of!("anonymized_at"), " FROM users"
    );

    const REQUEST: &str = concat!(
        "SELECT id, kind, subject, subject_user_id, matched_by, ", ts_of!("received_at"), " AS received_at, ",
        ts_of!("due_at"), " AS due_at, status, extended_reason, ", ts_of!("extended_at"), " AS extended_at, ",
        "rejected_reason, ", ts_of!("completed_at"), " AS completed_at, artifact_path, artifact_sha256, ",
        "erasure_strategy, notes, ", text_of!("certificate"), " AS certificate FROM dsr_requests"
    );

    pub(crate) async fn find_people(pool: &Pool, lookup: &SubjectLookup<'_>) -> Result<Vec<PersonRow>> {
        let rows: Vec<PersonTuple> =
            match lookup {
                SubjectLookup::UserId(id) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{PERSON} WHERE id = $1"))).bind(id).fetch_all(pool).await?
                }
                SubjectLookup::ExternalId(text) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{PERSON} WHERE external_id = $1")))
                        .bind(text)
                        .fetch_all(pool)
                        .await?
                }
                // Stored addresses may carry capitals or spaces; the lookup is already trimmed and lower-case.
                SubjectLookup::Email(text) => {
                    sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{PERSON} WHERE email IS NOT NULL AND lower(trim(email)) = $1 ORDER BY id"
                    )))
                    .bind(text)
                    .fetch_all(pool)
                    .await?
                }
                // Digits only; a stored international prefix written as 00 matches one written as +.
                SubjectLookup::Phone(digits) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{PERSON} WHERE phone IS NOT NULL AND ({PHONE_DIGITS} = $1 OR {PHONE_DIGITS} = '00' || $1) ORDER BY id"
                )))
                .bind(digits)
                .fetch_all(pool)
                .await?,
            };
        Ok(rows.into_iter().map(person).collect())
    }

    pub(crate) async fn person_by_id(conn: &mut Conn, id: i64) -> Result<Option<PersonRow>> {
        let row: Option<PersonTuple> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{PERSON} WHERE id = $1"))).bind(id).fetch_optional(conn).await?;
        Ok(row.map(person))
    }

    pub(crate) async fn person_counts(conn: &mut Conn, user: i64) -> Result<PersonCounts> {
        let row: CountsTuple = sqlx::query_as(PERSON_COUNTS).bind(user).fetch_one(conn).await?;
        Ok(counts(row))
    }

    pub(crate) async fn insert_request(conn: &mut Conn, new: &NewRequest<'_>) -> Result<i64> {
        Ok(sqlx::query_scalar(concat!(
            "INSERT INTO dsr_requests (kind, subject, subject_user_id, matched_by, received_at, due_at, status, notes)
             VALUES ($1, $2, $3, $4, ", ts!(5), ", ", ts!(6), ", 'open', $7) RETURNING id"
        ))
        .bind(new.kind.as_str())
        .bind(new.subject)
        .bind(new.subject_user_id)
        .bind(new.matched_by)
        .bind(new.received_at)
        .bind(new.due_at)
        .bind(new.notes)
        .fetch_one(conn)
        .await?)
    }

    pub(crate) async fn request_by_id(conn: &mut Conn, id: i64) -> Result<Option<DsrRequest>> {
        let row: Option<RequestRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{REQUEST} WHERE id = $1"))).bind(id).fetch_optional(conn).await?;
        row.map(|row| request(row, engine::from_json)).transpose()
    }

    /// Requests, newest first; only pending ones unless `all`.
    pub(crate) async fn requests(pool: &Pool, all: bool) -> Result<Vec<DsrRequest>> {
        let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REQUEST} WHERE $1 OR status IN ('open', 'in_progress') ORDER BY due_at, id"
        )))
        .bind(all)
        .fetch_all(pool)
        .await?;
        rows.into_iter().map(|row| request(row, engine::from_json)).collect()
    }

    /// Pending requests due at or before `until` (overdue ones included), soonest first.
    pub(crate) async fn requests_due(pool: &Pool, until: &str) -> Result<Vec<DsrRequest>> {
        let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            concat!("{} WHERE status IN ('open', 'in_progress') AND due_at <= ", ts!(1), " ORDER BY due_at, id"),
            REQUEST
        )))
        .bind(until)
        .fetch_all(pool)
        .await?;
        rows.into_iter().map(|row| request(row, engine::from_json)).collect()
    }

    pub(crate) async fn requests_of(conn: &mut Conn, user: i64) -> Result<Vec<DsrRequest>> {
        let rows: Vec<RequestRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{REQUEST} WHERE subject_user_id = $1 ORDER BY id")))
                .bind(user)
                .fetch_all(conn)
                .await?;
        rows.into_iter().map(|row| request(row, engine::from_json)).collect()
    }

    pub(crate) async fn extend_request(
        conn: &mut Conn,
        id: i64,
        due_at: &str,
        reason: &str,
        now: &str,
    ) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE dsr_requests SET due_at = ", ts!(2), ", extended_reason = $3, extended_at = ", ts!(4), "
             WHERE id = $1 AND status IN ('open', 'in_progress')"
        ))
        .bind(id)
        .bind(due_at)
        .bind(reason)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn set_request_status(
        conn: &mut Conn,
        id: i64,
        status: RequestStatus,
        rejected_reason: Option<&str>,
        completed_at: Option<&str>,
    ) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE dsr_requests SET status = $2, rejected_reason = coalesce($3, rejected_reason),
                    completed_at = coalesce(", ts!(4), ", completed_at)
             WHERE id = $1"
        ))
        .bind(id)
        .bind(status.as_str())
        .bind(rejected_reason)
        .bind(completed_at)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn complete_access(
        conn: &mut Conn,
        id: i64,
        now: &str,
        artifact_path: &str,
        artifact_sha256: &str,
    ) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE dsr_requests SET status = 'done', completed_at = ", ts!(2), ", artifact_path = $3, artifact_sha256 = $4
             WHERE id = $1"
        ))
        .bind(id)
        .bind(now)
        .bind(artifact_path)
        .bind(artifact_sha256)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn complete_erasure(
        conn: &mut Conn,
        id: i64,
        now: &str,
        strategy: ErasureStrategy,
        certificate: &str,
    ) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE dsr_requests SET status = 'done', completed_at = ", ts!(2), ", erasure_strategy = $3,
                    certificate = ", json!(4), "
             WHERE id = $1"
        ))
        .bind(id)
        .bind(now)
        .bind(strategy.as_str())
        .bind(certificate)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn set_certificate(conn: &mut Conn, id: i64, certificate: &str) -> Result<()> {
        sqlx::query(concat!("UPDATE dsr_requests SET certificate = ", json!(2), " WHERE id = $1"))
            .bind(id)
            .bind(certificate)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// A stored phone number reduced to its digits (separators and a leading `+` dropped).
pub(super) const PHONE_DIGITS: &str = "ltrim(replace(replace(replace(replace(replace(replace(phone, ' ', ''), '-', ''), \
                                       '(', ''), ')', ''), '.', ''), '/', ''), '+')";

/// The conversations a person is in: as a participant, a sender or the owner.
pub(super) const THEIRS: &str = "WITH theirs(id) AS (
        SELECT conversation_id FROM participants WHERE user_id = $1
        UNION SELECT conversation_id FROM messages WHERE sender_id = $1
        UNION SELECT id FROM conversations WHERE owner_id = $1)";

/// A `users` row in [`PersonRow`]'s field order.
pub(super) type PersonTuple =
    (i64, String, Option<String>, Option<String>, Option<String>, String, Option<String>, Option<String>);

pub(super) fn person(
    (id, external_id, display_name, email, phone, created_at, last_seen_at, anonymized_at): PersonTuple,
) -> PersonRow {
    PersonRow { id, external_id, display_name, email, phone, created_at, last_seen_at, anonymized_at }
}

/// Every count of [`PersonCounts`] for the user `$1`, in its field order.
pub(super) const PERSON_COUNTS: &str = "SELECT (SELECT count(*) FROM messages WHERE sender_id = $1),
                (SELECT count(*) FROM message_reads WHERE user_id = $1),
                (SELECT count(*) FROM participants WHERE user_id = $1),
                (SELECT count(*) FROM conversations WHERE owner_id = $1),
                (SELECT count(*) FROM legal_holds WHERE user_id = $1 AND released_at IS NULL),
                (SELECT count(*) FROM dsr_requests WHERE subject_user_id = $1)";

pub(super) type CountsTuple = (i64, i64, i64, i64, i64, i64);

pub(super) fn counts(
    (messages, message_reads, conversations, conversations_owned, active_holds, requests): CountsTuple,
) -> PersonCounts {
    PersonCounts { messages, message_reads, conversations, conversations_owned, active_holds, requests }
}

/// The active holds on the user `$1` themselves: (hold id, their external id, reason).
pub(super) const USER_HOLDS: &str =
    "SELECT id, target_external_id, reason FROM legal_holds WHERE user_id = $1 AND released_at IS NULL ORDER BY id";

pub(super) fn user_blocker((id, external_id, reason): (i64, String, String)) -> Blocker {
    Blocker { hold: Some(id), what: format!("user {external_id:?}"), reason }
}

/// A held conversation the person is in: (conversation, hold id, reason, hold target kind,
/// hold target); no hold when only the chat service's `legal_hold` flag holds it.
pub(super) type HeldConversation = (String, Option<i64>, Option<String>, Option<String>, Option<String>);

pub(super) fn conversation_blocker((external_id, hold, reason, kind, target): HeldConversation) -> Blocker {
    let reason = match (reason, kind.as_deref(), target) {
        (Some(reason), Some("user"), Some(other)) => format!("held through participant {other:?}: {reason}"),
        (Some(reason), _, _) => reason,
        (None, _, _) => "marked legal_hold by the chat service".into(),
    };
    Blocker { hold, what: format!("conversation {external_id:?}"), reason }
}

/// A `dsr_requests` row as both engines select it (instants as canonical text, the
/// certificate as JSON text).
#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    id: i64,
    kind: String,
    subject: String,
    subject_user_id: Option<i64>,
    matched_by: Option<String>,
    received_at: String,
    due_at: String,
    status: String,
    extended_reason: Option<String>,
    extended_at: Option<String>,
    rejected_reason: Option<String>,
    completed_at: Option<String>,
    artifact_path: Option<String>,
    artifact_sha256: Option<String>,
    erasure_strategy: Option<String>,
    notes: Option<String>,
    certificate: Option<String>,
}

/// A request from its row; `from_json` is the engine's, so a bad certificate is reported
/// as coming from that engine.
pub(super) fn request(row: RequestRow, from_json: fn(&str, &str) -> Result<serde_json::Value>) -> Result<DsrRequest> {
    let bad = |e: String| StoreError::invalid(format!("request #{} in the database: {e}", row.id));
    Ok(DsrRequest {
        id: row.id,
        kind: RequestKind::parse(&row.kind).map_err(bad)?,
        status: RequestStatus::parse(&row.status).map_err(bad)?,
        erasure_strategy: row.erasure_strategy.as_deref().map(ErasureStrategy::parse).transpose().map_err(bad)?,
        certificate: row.certificate.as_deref().map(|c| from_json(c, "certificate")).transpose()?,
        subject: row.subject,
        subject_user_id: row.subject_user_id,
        matched_by: row.matched_by,
        received_at: row.received_at,
        due_at: row.due_at,
        extended_reason: row.extended_reason,
        extended_at: row.extended_at,
        rejected_reason: row.rejected_reason,
        completed_at: row.completed_at,
        artifact_path: row.artifact_path,
        artifact_sha256: row.artifact_sha256,
        notes: row.notes,
    })
}

/// A `delete` erasure's own checks: nothing of the person's is left.
pub(super) const DELETE_CHECKS: [(&str, &str); 6] = [
    ("their user row", "SELECT count(*) FROM users WHERE id = $1"),
    ("messages they sent", "SELECT count(*) FROM messages WHERE sender_id = $1"),
    ("their read receipts", "SELECT count(*) FROM message_reads WHERE user_id = $1"),
    ("conversations they take part in", "SELECT count(*) FROM participants WHERE user_id = $1"),
    ("conversations they own", "SELECT count(*) FROM conversations WHERE owner_id = $1"),
    ("requests linked to them", "SELECT count(*) FROM dsr_requests WHERE subject_user_id = $1"),
];

/// The checks every erasure ends with: no row still names the person by an identifier.
pub(super) const IDENTIFIER_CHECKS: [(&str, &str); 5] = [
    ("users with their external id", "SELECT count(*) FROM users WHERE external_id = $2"),
    (
        "users with their email address",
        "SELECT count(*) FROM users WHERE $3 IS NOT NULL AND email IS NOT NULL AND lower(trim(email)) = $3",
    ),
    ("users with their phone number", "SELECT count(*) FROM users WHERE phone IS NOT NULL AND phone = $4"),
    (
        "legal holds naming them",
        "SELECT count(*) FROM legal_holds WHERE target_kind = 'user' AND target_external_id = $2",
    ),
    (
        "requests naming them",
        "SELECT count(*) FROM dsr_requests WHERE subject IN ($2, coalesce($3, ''), coalesce($4, ''))",
    ),
];

impl CertificateCheck {
    /// A check as the certificate shows it: the query on one line.
    pub(super) fn new(what: &str, sql: &str, result: i64) -> CertificateCheck {
        CertificateCheck { what: what.to_string(), query: sql.split_whitespace().collect::<Vec<_>>().join(" "), result }
    }
}
