//! Events the core emits for a shell to turn into desktop notifications,
//! webhook posts or log lines. The core never knows which.

use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `messages` messages will expire on `expires_on` and be deleted for good from `purged_from`.
    DeletionNotice { messages: u64, expires_on: NaiveDate, purged_from: NaiveDate },
    /// A retention run ended; `summary` is one line a person can read.
    RetentionFinished { summary: String, cancelled: bool },
    /// Purge skipped a month because no verified monthly archive covers it.
    PurgeBlocked { month: String, messages: u64, reason: String },
    /// A backup was written and verified.
    BackupDone { kind: String, file: String, bytes: u64 },
    /// A backup, verification, restore or prune failed.
    BackupFailed { what: String, error: String },
    /// A job's scheduled times passed without a run (chatkeep closed, the machine asleep).
    /// `first` and `last` are local times; `caught_up` says whether it runs once now.
    JobMissed { job: String, missed: u64, first: String, last: String, caught_up: bool },
    /// A job failed for good, after `attempts` tries.
    JobFailed { job: String, attempts: u32, error: String },
    /// A GDPR request is due soon (or overdue).
    RequestDue { request: i64, kind: String, due: String, overdue: bool },
    /// The database failed its integrity check (`problems` found, the first of them shown);
    /// maintenance stopped without changing anything.
    IntegrityCheckFailed { check: String, problems: u64, first: String },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::DeletionNotice { messages, expires_on, purged_from } => write!(
                f,
                "{messages} messages will be deleted on {expires_on} (hidden that day, gone for good from {purged_from})"
            ),
            Event::RetentionFinished { summary, cancelled: false } => write!(f, "retention run finished: {summary}"),
            Event::RetentionFinished { summary, cancelled: true } => write!(f, "retention run cancelled: {summary}"),
            Event::PurgeBlocked { month, messages, reason } => {
                write!(f, "purge blocked: month {month} ({messages} messages) {reason}")
            }
            Event::BackupDone { kind, file, bytes } => {
                write!(f, "{kind} backup done: {file} ({bytes} bytes, verified)")
            }
            Event::BackupFailed { what, error } => write!(f, "{what} failed: {error}"),
            Event::JobMissed { job, missed, first, last, caught_up } => {
                let when =
                    if missed == &1 { format!("at {first}") } else { format!("{missed} times, {first} to {last}") };
                let next = if *caught_up { "running it once now" } else { "waiting for its next time" };
                write!(f, "job {job} missed its run {when} (chatkeep was not running); {next}")
            }
            Event::JobFailed { job, attempts: 1, error } => write!(f, "job {job} failed: {error}"),
            Event::JobFailed { job, attempts, error } => {
                write!(f, "job {job} failed after {attempts} attempts: {error}")
            }
            Event::RequestDue { request, kind, due, overdue: false } => {
                write!(f, "GDPR {kind} request #{request} is due on {due}")
            }
            Event::RequestDue { request, kind, due, overdue: true } => {
                write!(f, "GDPR {kind} request #{request} is overdue (it was due on {due})")
            }
            Event::IntegrityCheckFailed { check, problems, first } => {
                let more = match problems {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                write!(
                    f,
                    "the database failed its integrity check ({check}): {first}{more}; maintenance changed nothing \
                     (restore from a verified backup)"
                )
            }
        }
    }
}

/// Receives events. Implementations must return quickly (queue, don't block).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);

    /// The audit log's head as a job starts. Notifiers that leave the machine (webhooks)
    /// put it in what they send from then on, so the admin's inbox or chat holds
    /// records of the chain that nobody with only the database can rewrite.
    fn note_audit_head(&self, _head: &crate::audit::AuditAnchor) {}
}

/// For callers that ignore events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}

/// Keeps every event, for tests and for shells that show them after an operation.
#[derive(Debug, Default)]
pub struct CollectEvents(std::sync::Mutex<Vec<Event>>);

impl CollectEvents {
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl EventSink for CollectEvents {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event);
    }
}
