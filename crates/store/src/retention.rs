//! Retention's storage: selections (read-only, on the pool) and batch writes
//! (inside a short transaction each, re-checking their conditions).

use super::{Store, Tx, postgres, sqlite};
use crate::Result;

/// A row retention may act on: its id, its conversation, and its creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub conversation_id: i64,
    pub created_at: String,
}

/// A day-count policy (`None` = the default) and the creation time before which its messages expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCutoff {
    pub policy: Option<String>,
    pub cutoff: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLabel {
    pub id: i64,
    pub external_id: String,
    pub title: Option<String>,
    pub policy: Option<String>,
}

/// What one purge batch deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgedMessages {
    pub ids: Vec<i64>,
    pub reads: u64,
    pub replies_unlinked: u64,
}

/// Which expired rows a restore brings back.
#[derive(Debug, Clone, Copy)]
pub struct RestoreScope<'a> {
    pub conversation: Option<i64>,
    /// Rows that expired at or after this instant.
    pub expired_since: &'a str,
}

macro_rules! on_pool {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(pool) => sqlite::retention::$f(pool $(, $arg)*).await,
            Store::Postgres(pool) => postgres::retention::$f(pool $(, $arg)*).await,
        }
    };
}

macro_rules! in_tx {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self {
            Tx::Sqlite(tx) => sqlite::retention::$f(tx $(, $arg)*).await,
            Tx::Postgres(tx) => postgres::retention::$f(tx $(, $arg)*).await,
        }
    };
}

impl Store {
    /// Each distinct `retention_policy` value (`None` = the default) and how many conversations use it.
    pub async fn policy_groups(&self) -> Result<Vec<(Option<String>, i64)>> {
        on_pool!(self, policy_groups())
    }

    /// Conversations under a hold of any kind (the chat service's flag, on the conversation, or on a participant).
    pub async fn held_conversations(&self) -> Result<Vec<i64>> {
        on_pool!(self, held_conversations())
    }

    pub async fn aged_messages(&self, cutoffs: &[PolicyCutoff]) -> Result<Vec<Candidate>> {
        on_pool!(self, aged_messages(cutoffs))
    }

    pub async fn read_messages(&self) -> Result<Vec<Candidate>> {
        on_pool!(self, read_messages())
    }

    pub async fn purgeable_messages(&self, now: &str, grace_cutoff: &str) -> Result<Vec<Candidate>> {
        on_pool!(self, purgeable_messages(now, grace_cutoff))
    }

    pub async fn aged_conversations(&self, cutoffs: &[PolicyCutoff], instant_cutoff: &str) -> Result<Vec<Candidate>> {
        on_pool!(self, aged_conversations(cutoffs, instant_cutoff))
    }

    pub async fn purgeable_conversations(&self, now: &str, grace_cutoff: &str) -> Result<Vec<(Candidate, i64)>> {
        on_pool!(self, purgeable_conversations(now, grace_cutoff))
    }

    pub async fn idle_conversations(&self, before: &str, bots_only: bool) -> Result<Vec<Candidate>> {
        on_pool!(self, idle_conversations(before, bots_only))
    }

    /// Live messages created in each `(policy, from, to)` window: (conversation, created_at, policy).
    pub async fn messages_created_between(
        &self,
        windows: &[(Option<String>, String, String)],
    ) -> Result<Vec<(i64, String, Option<String>)>> {
        on_pool!(self, messages_created_between(windows))
    }

    pub async fn conversation_labels(&self, ids: &[i64]) -> Result<Vec<ConversationLabel>> {
        on_pool!(self, conversation_labels(ids))
    }

    pub async fn count_reads_of(&self, messages: &[i64]) -> Result<u64> {
        on_pool!(self, count_reads_of(messages))
    }

    pub async fn count_participants_of(&self, conversations: &[i64]) -> Result<u64> {
        on_pool!(self, count_participants_of(conversations))
    }

    /// `[start, end)` of every verified monthly archive, as stored.
    pub async fn verified_archive_ranges(&self) -> Result<Vec<(String, String)>> {
        on_pool!(self, verified_archive_ranges())
    }

    /// Expired messages in a restore scope, and the earliest expiry among them.
    pub async fn expired_in_scope(&self, scope: RestoreScope<'_>) -> Result<(i64, Option<String>)> {
        on_pool!(self, expired_in_scope(scope.conversation, scope.expired_since))
    }

    /// One below the lowest and the highest message id (of one conversation, if given).
    pub async fn message_id_bounds(&self, conversation: Option<i64>) -> Result<(i64, i64)> {
        on_pool!(self, message_id_bounds(conversation))
    }
}

impl Tx<'_> {
    /// Expires a batch; `cutoffs` are the day-count policies as planned (re-checked per message).
    pub async fn expire_messages(&mut self, ids: &[i64], now: &str, cutoffs: &[PolicyCutoff]) -> Result<Vec<i64>> {
        in_tx!(self, expire_messages(ids, now, cutoffs))
    }

    pub async fn expire_conversations(&mut self, ids: &[i64], now: &str) -> Result<Vec<i64>> {
        in_tx!(self, expire_conversations(ids, now))
    }

    /// Purges a batch; with `require_backup`, only rows a verified archive covers (re-checked here).
    pub async fn purge_messages(
        &mut self,
        ids: &[i64],
        now: &str,
        grace_cutoff: &str,
        require_backup: bool,
    ) -> Result<PurgedMessages> {
        in_tx!(self, purge_messages(ids, now, grace_cutoff, require_backup))
    }

    /// Returns the purged conversation ids and how many participant rows went with them.
    pub async fn purge_conversations(
        &mut self,
        ids: &[i64],
        now: &str,
        grace_cutoff: &str,
        require_backup: bool,
    ) -> Result<(Vec<i64>, u64)> {
        in_tx!(self, purge_conversations(ids, now, grace_cutoff, require_backup))
    }

    /// Marks idle conversations inactive (sets `archived_at`; nothing is deleted) and returns
    /// those it changed.
    pub async fn mark_inactive(&mut self, ids: &[i64], now: &str) -> Result<Vec<i64>> {
        in_tx!(self, mark_inactive(ids, now))
    }

    pub async fn restore_messages(&mut self, scope: RestoreScope<'_>, limit: u32) -> Result<u64> {
        in_tx!(self, restore_messages(scope.conversation, scope.expired_since, limit))
    }

    pub async fn restore_conversations(&mut self, scope: RestoreScope<'_>) -> Result<u64> {
        in_tx!(self, restore_conversations(scope.conversation, scope.expired_since))
    }

    /// Recomputes `expires_at` for message ids in `(after, upto]`; `policies` maps
    /// policy text ("" = default) to a date modifier such as "+180 days".
    pub async fn set_expires_at(
        &mut self,
        policies: &str,
        after: i64,
        upto: i64,
        conversation: Option<i64>,
    ) -> Result<u64> {
        in_tx!(self, set_expires_at(policies, after, upto, conversation))
    }

    pub async fn set_retention_policy(&mut self, conversation: i64, policy: Option<&str>) -> Result<()> {
        in_tx!(self, set_policy(conversation, policy))
    }
}

// ---- shared by both engines ----

/// A purge batch met rows of another table (`what`) that still refer to its messages.
pub(super) fn referenced_elsewhere(what: &str) -> crate::StoreError {
    crate::StoreError::invalid(format!(
        "cannot purge expired messages: rows in {what} still refer to them. chatkeep removes read receipts \
         and reply links itself, not rows of other tables: delete those rows (or declare the foreign key \
         ON DELETE CASCADE) and run retention again"
    ))
}

/// A backup (aliased `b`) that is a verified monthly archive with both ends of its range.
pub(super) const VERIFIED_ARCHIVE: &str =
    "b.kind = 'archive' AND b.status = 'verified' AND b.range_start IS NOT NULL AND b.range_end IS NOT NULL";

/// True when a verified archive's `[start, end)` holds the instant `column`.
pub(super) fn in_verified_archive(column: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM backups b WHERE {VERIFIED_ARCHIVE} AND {column} >= b.range_start AND {column} < b.range_end)"
    )
}

/// A conversation's (id, external id, title, retention policy).
pub(super) type LabelRow = (i64, String, Option<String>, Option<String>);

pub(super) fn label((id, external_id, title, policy): LabelRow) -> ConversationLabel {
    ConversationLabel { id, external_id, title, policy }
}
