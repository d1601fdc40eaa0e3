//! GDPR requests: find the person, track access and erasure requests against their
//! one-month deadline, answer them ([`access`] writes the export, [`erase`] deletes or
//! anonymizes), and keep erased people erased across restores ([`ledger`]).
//!
//! The wrong person is the worst mistake, so every answer starts from [`find_subject`]:
//! exactly one person must match, and the counts of their rows are shown before anything
//! is done. Nothing here writes a person's identifiers into the audit log.

pub mod access;
pub mod erase;
pub mod ledger;
pub mod scrub;

use chrono::{DateTime, Duration, Months, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::GdprSettings;
use crate::domain::Actor;
use crate::domain::gdpr::{DsrRequest, RequestKind, RequestStatus};
use crate::error::{Error, Result};
use crate::store::gdpr::{Blocker, NewRequest, PersonCounts, PersonRow, SubjectLookup};
use crate::store::{Store, Tx};
use crate::time::{self, to_db};

pub use ledger::{ErasureLedger, load_ledger, reapply_erasure_ledger};

/// How a person may be named: `id:42` (chatkeep's user id), `ext:u-77` (the chat
/// service's id), `email:ana@example.com`, `phone:+49 30 1234567`, or the bare text,
/// which is tried as an external id, and as an email address or phone number when it
/// looks like one.
pub const SUBJECT_FORMS: &str = "ext:ID, email:ADDRESS, phone:NUMBER or id:N";

/// The person a request is about, as found, with what matched and what is stored about them.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub person: PersonRow,
    /// Which identifiers matched: `external_id`, `email`, `phone`, `user_id`.
    pub matched_by: Vec<&'static str>,
    pub counts: PersonCounts,
    /// Active holds that forbid erasing them (empty when none).
    pub blockers: Vec<Blocker>,
}

impl Subject {
    /// One line naming the person: `#12 "u-12" Ana Lima <ana@example.com> +49 30 1234567`.
    pub fn describe(&self) -> String {
        describe_person(&self.person)
    }
}

fn describe_person(p: &PersonRow) -> String {
    let mut line = format!("#{} {:?}", p.id, p.external_id);
    if let Some(name) = &p.display_name {
        line.push_str(&format!(" {name}"));
    }
    if let Some(email) = &p.email {
        line.push_str(&format!(" <{email}>"));
    }
    if let Some(phone) = &p.phone {
        line.push_str(&format!(" {phone}"));
    }
    line
}

/// A trimmed, lower-case email address, if the text is one.
pub fn normalize_email(text: &str) -> Option<String> {
    let text = text.trim().to_lowercase();
    let (local, domain) = text.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)).then_some(text)
}

/// A phone number's digits without the international prefix sign (`+49 30 123` and
/// `0049-30-123` both become `4930123`), if the text is a phone number of 7 to 15 digits.
pub fn normalize_phone(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || " +-()./".contains(c)) {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let digits = if !text.starts_with('+') { digits.strip_prefix("00").unwrap_or(&digits).to_string() } else { digits };
    (7..=15).contains(&digits.len()).then_some(digits)
}

/// One lookup a subject text asks for, owning its value.
enum Lookup {
    UserId(i64),
    ExternalId(String),
    Email(String),
    Phone(String),
}

impl Lookup {
    fn as_lookup(&self) -> SubjectLookup<'_> {
        match self {
            Lookup::UserId(id) => SubjectLookup::UserId(*id),
            Lookup::ExternalId(text) => SubjectLookup::ExternalId(text),
            Lookup::Email(text) => SubjectLookup::Email(text),
            Lookup::Phone(text) => SubjectLookup::Phone(text),
        }
    }
}

/// The lookups a subject text asks for (see [`SUBJECT_FORMS`]).
fn lookups(text: &str) -> Result<Vec<Lookup>> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid(format!("name the person: {SUBJECT_FORMS}")));
    }
    if let Some((prefix, rest)) = text.split_once(':') {
        let rest = rest.trim();
        match prefix.trim() {
            "id" => {
                let id: i64 = rest.parse().map_err(|_| {
                    Error::invalid(format!("{text:?}: id: takes chatkeep's numeric user id, such as id:42"))
                })?;
                return Ok(vec![Lookup::UserId(id)]);
            }
            "ext" => return Ok(vec![Lookup::ExternalId(rest.to_string())]),
            "email" => {
                let email = normalize_email(rest).ok_or_else(|| {
                    Error::invalid(format!("{text:?} is not an email address such as ana@example.com"))
                })?;
                return Ok(vec![Lookup::Email(email)]);
            }
            "phone" => {
                let phone = normalize_phone(rest).ok_or_else(|| {
                    Error::invalid(format!("{text:?} is not a phone number of 7 to 15 digits such as +49 30 1234567"))
                })?;
                return Ok(vec![Lookup::Phone(phone)]);
            }
            _ => {}
        }
    }
    let mut all = vec![Lookup::ExternalId(text.to_string())];
    if let Some(email) = normalize_email(text) {
        all.push(Lookup::Email(email));
    }
    if let Some(phone) = normalize_phone(text) {
        all.push(Lookup::Phone(phone));
    }
    Ok(all)
}

/// Finds exactly one person for `text` (see [`SUBJECT_FORMS`]), with their row counts and
/// any holds. No match, or more than one person, is an error naming the candidates.
pub async fn find_subject(store: &Store, text: &str) -> Result<Subject> {
    let mut found: Vec<(PersonRow, Vec<&'static str>)> = Vec::new();
    let mut tried = Vec::new();
    for owned in lookups(text)? {
        let lookup = owned.as_lookup();
        tried.push(lookup.key().replace('_', " "));
        for person in store.find_people(&lookup).await? {
            match found.iter_mut().find(|(p, _)| p.id == person.id) {
                Some((_, keys)) => keys.push(lookup.key()),
                None => found.push((person, vec![lookup.key()])),
            }
        }
    }
    match found.len() {
        0 => Err(Error::invalid(format!(
            "no person matches {text:?} (looked up by {}); check the spelling, or name them another way: {SUBJECT_FORMS}",
            tried.join(" and ")
        ))),
        1 => {
            let (person, matched_by) = found.remove(0);
            let counts = store.person_counts(person.id).await?;
            let blockers = store.hold_blockers(person.id).await?;
            Ok(Subject { person, matched_by, counts, blockers })
        }
        n => {
            let candidates: Vec<String> = found
                .iter()
                .map(|(p, keys)| format!("{} (matched by {})", describe_person(p), keys.join(", ")))
                .collect();
            Err(Error::invalid(format!(
                "{text:?} is ambiguous: {n} people match: {}; name one exactly with id:N or ext:ID",
                candidates.join("; ")
            )))
        }
    }
}

/// The subject of a stored request: the person it is linked to, found again.
async fn subject_of_request(store: &Store, request: &DsrRequest) -> Result<Subject> {
    let id = request.subject_user_id.ok_or_else(|| {
        Error::invalid(format!(
            "request #{} is not linked to a person in this database any more (erased or removed); nothing to do",
            request.id
        ))
    })?;
    find_subject(store, &format!("id:{id}")).await
}

// ---- deadlines ----

/// The deadline for a request received at `received`: the end of the same calendar day
/// `months` later in `tz`, or of that month's last day when it is shorter (a request
/// received on 31 January is due on 28 February, or the 29th in a leap year).
pub fn due_at(received: DateTime<Utc>, months: u32, tz: Tz) -> DateTime<Utc> {
    let day = received.with_timezone(&tz).date_naive();
    let due_day = day.checked_add_months(Months::new(months)).unwrap_or(day);
    let next = due_day.succ_opt().unwrap_or(due_day);
    time::start_of_day(next, tz) - Duration::milliseconds(1)
}

/// A pending request that is due soon or overdue, for the daily deadline check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueRequest {
    pub id: i64,
    pub kind: RequestKind,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
}

/// Open and in-progress requests due within `within_days` of `now`, and overdue ones, soonest first.
pub async fn requests_due(store: &Store, now: DateTime<Utc>, within_days: i64) -> Result<Vec<DueRequest>> {
    let until = to_db(now + Duration::days(within_days.max(0)));
    let due = store.requests_due(&until).await?;
    Ok(due
        .into_iter()
        .filter_map(|r| {
            let due_at = time::from_db(&r.due_at)?;
            Some(DueRequest { id: r.id, kind: r.kind, due_at, overdue: due_at < now })
        })
        .collect())
}

// ---- requests ----

/// A new request, as the user gives it.
#[derive(Debug, Clone)]
pub struct NewRequestInput<'a> {
    pub kind: RequestKind,
    /// Who it is about (see [`SUBJECT_FORMS`]).
    pub subject: &'a str,
    /// When it arrived (a date, local midnight in the time zone, or an instant); now when absent.
    pub received: Option<&'a str>,
    pub notes: Option<&'a str>,
}

/// Records a request for the one person `subject` names, due `deadline_months` after receipt.
pub async fn new_request(
    store: &Store,
    input: &NewRequestInput<'_>,
    settings: &GdprSettings,
    tz: Tz,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<DsrRequest> {
    let now = clock.now();
    let received = match input.received {
        Some(text) => time::parse_date_or_instant("--received", text, tz).map_err(Error::invalid)?,
        None => time::truncate_to_millis(now),
    };
    if received > now {
        return Err(Error::invalid(format!("--received {} is in the future", to_db(received))));
    }
    let subject = find_subject(store, input.subject).await?;
    let mut tx = store.begin().await?;
    let id = insert_request(&mut tx, input.kind, input.subject, &subject, received, settings, tz, input.notes).await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "gdpr.request")
            .target(format!("request #{id}"))
            .details(serde_json::json!({ "kind": input.kind, "matched_by": subject.matched_by })),
    )
    .await?;
    let request = tx.request(id).await?.ok_or_else(|| Error::NotFound(format!("request #{id}")))?;
    tx.commit().await?;
    Ok(request)
}

#[allow(clippy::too_many_arguments)]
async fn insert_request(
    tx: &mut Tx<'_>,
    kind: RequestKind,
    subject_text: &str,
    subject: &Subject,
    received: DateTime<Utc>,
    settings: &GdprSettings,
    tz: Tz,
    notes: Option<&str>,
) -> Result<i64> {
    let matched_by = subject.matched_by.join(",");
    Ok(tx
        .insert_request(&NewRequest {
            kind,
            subject: subject_text.trim(),
            subject_user_id: Some(subject.person.id),
            matched_by: Some(&matched_by),
            received_at: &to_db(received),
            due_at: &to_db(due_at(received, settings.deadline_months, tz)),
            notes,
        })
        .await?)
}

/// Requests, soonest due first; only open and in-progress ones unless `all`.
pub async fn list_requests(store: &Store, all: bool) -> Result<Vec<DsrRequest>> {
    Ok(store.requests(all).await?)
}

pub async fn show_request(store: &Store, id: i64) -> Result<DsrRequest> {
    store.request(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> Error {
    Error::NotFound(format!("request #{id} (see `chatkeep gdpr request list --all`)"))
}

/// A pending request, or an error saying why it cannot be acted on.
async fn pending_request(tx: &mut Tx<'_>, id: i64, doing: &str) -> Result<DsrRequest> {
    let request = tx.request(id).await?.ok_or_else(|| not_found(id))?;
    if !request.status.is_pending() {
        return Err(Error::invalid(format!(
            "request #{id} is already {} ({}); only open or in-progress requests can be {doing}",
            request.status,
            request.completed_at.as_deref().unwrap_or("no date")
        )));
    }
    Ok(request)
}

/// Extends a pending request's deadline by `months` further months, with the reason the
/// person must be told (Art. 12(3) allows two further months in all).
#[allow(clippy::too_many_arguments)]
pub async fn extend_request(
    store: &Store,
    id: i64,
    months: u32,
    reason: &str,
    settings: &GdprSettings,
    tz: Tz,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<DsrRequest> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("--reason is empty: say why the request needs longer (it is told to the person)"));
    }
    if !(1..=2).contains(&months) {
        return Err(Error::invalid(format!("--months {months}: a deadline can be extended by 1 or 2 months")));
    }
    let now = clock.now();
    let mut tx = store.begin().await?;
    let request = pending_request(&mut tx, id, "extended").await?;
    let received = time::from_db(&request.received_at)
        .ok_or_else(|| Error::invalid(format!("request #{id} has an unreadable received_at")))?;
    let current = time::from_db(&request.due_at).unwrap_or(received);
    // Months already added: the largest extension whose deadline is not after the current one.
    let so_far = (0..=2).rev().find(|m| due_at(received, settings.deadline_months + m, tz) <= current).unwrap_or(0);
    if so_far + months > 2 {
        return Err(Error::invalid(format!(
            "request #{id} was already extended by {so_far} month(s); the law allows two further months in all"
        )));
    }
    let due = due_at(received, settings.deadline_months + so_far + months, tz);
    tx.extend_request(id, &to_db(due), reason, &to_db(now)).await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "gdpr.extend")
            .target(format!("request #{id}"))
            .details(serde_json::json!({ "months": months, "due_at": to_db(due), "reason": reason })),
    )
    .await?;
    let request = tx.request(id).await?.ok_or_else(|| not_found(id))?;
    tx.commit().await?;
    Ok(request)
}

/// Rejects a pending request (manifestly unfounded, identity not confirmed, ...), with the reason.
pub async fn reject_request(
    store: &Store,
    id: i64,
    reason: &str,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<DsrRequest> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("--reason is empty: say why the request is rejected (it is told to the person)"));
    }
    let now = clock.now();
    let mut tx = store.begin().await?;
    pending_request(&mut tx, id, "rejected").await?;
    tx.set_request_status(id, RequestStatus::Rejected, Some(reason), Some(&to_db(now))).await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "gdpr.reject")
            .target(format!("request #{id}"))
            .details(serde_json::json!({ "reason": reason })),
    )
    .await?;
    let request = tx.request(id).await?.ok_or_else(|| not_found(id))?;
    tx.commit().await?;
    Ok(request)
}

/// Marks an open request as in progress (being worked on: identity checks, gathering data).
pub async fn start_request(store: &Store, id: i64, actor: Actor, clock: &dyn Clock) -> Result<DsrRequest> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let request = pending_request(&mut tx, id, "started").await?;
    if request.status == RequestStatus::InProgress {
        return Err(Error::invalid(format!("request #{id} is already in progress")));
    }
    tx.set_request_status(id, RequestStatus::InProgress, None, None).await?;
    audit::append(&mut tx, now, AuditEntry::new(actor, "gdpr.start").target(format!("request #{id}"))).await?;
    let request = tx.request(id).await?.ok_or_else(|| not_found(id))?;
    tx.commit().await?;
    Ok(request)
}

/// What an export or an erasure acts on: a stored request, or a person named directly
/// (an erasure then records a request for itself, received now).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Request(i64),
    Subject(&'a str),
}

/// The person and the request (if any) a target names, checked for `kind` and still pending.
pub async fn resolve_target(
    store: &Store,
    target: Target<'_>,
    kind: RequestKind,
) -> Result<(Option<DsrRequest>, Subject)> {
    match target {
        Target::Subject(text) => Ok((None, find_subject(store, text).await?)),
        Target::Request(id) => {
            let request = store.request(id).await?.ok_or_else(|| not_found(id))?;
            if request.kind != kind {
                return Err(Error::invalid(format!(
                    "request #{id} is an {} request, not an {kind} request",
                    request.kind
                )));
            }
            if !request.status.is_pending() {
                return Err(Error::invalid(format!(
                    "request #{id} is already {}; only open or in-progress requests are answered",
                    request.status
                )));
            }
            let subject = subject_of_request(store, &request).await?;
            Ok((Some(request), subject))
        }
    }
}
