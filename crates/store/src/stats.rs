//! The figures behind `chatkeep stats`, each answered from an index.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MessageTally, Store, TimeRange};
use crate::Result;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConversationCounts {
    pub total: i64,
    /// With a message since the "active" cut-off.
    pub active: i64,
    /// With no message since the "old" cut-off.
    pub old: i64,
}

/// On-disk size of the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FileSize {
    pub bytes: i64,
    pub page_size: i64,
    pub pages: i64,
    pub free_pages: i64,
    /// Bytes in the write-ahead log not yet checkpointed into the file.
    pub wal_bytes: i64,
    /// Whether the figures are of one file whose pages, free pages and write-ahead log
    /// chatkeep looks after (SQLite); a server (PostgreSQL) keeps its own log and reuses
    /// free space itself, so only its size counts.
    #[serde(skip)]
    pub one_file: bool,
}

impl Store {
    /// Live (not expired) conversations: all, active since `active_since`, idle since `old_before`.
    pub async fn conversation_counts(
        &self,
        active_since: DateTime<Utc>,
        old_before: DateTime<Utc>,
    ) -> Result<ConversationCounts> {
        on_engine!(self, Store(pool) => stats::conversation_counts(pool, active_since, old_before).await)
    }

    /// Live messages and tokens in each range.
    pub async fn message_tallies(&self, ranges: &[TimeRange]) -> Result<Vec<MessageTally>> {
        on_engine!(self, Store(pool) => stats::message_tallies(pool, ranges).await)
    }

    /// The oldest and newest live message times.
    pub async fn message_time_bounds(&self) -> Result<Option<TimeRange>> {
        on_engine!(self, Store(pool) => stats::message_time_bounds(pool).await)
    }

    pub async fn file_size(&self) -> Result<FileSize> {
        on_engine!(self, Store(pool) => stats::file_size(pool).await)
    }
}

// ---- shared by both engines ----

/// Conversations counted with the expired ones, then the expired ones alone: total, active,
/// old, expired total, expired active, expired old.
pub(super) type ConversationFigures = (i64, i64, i64, i64, i64, i64);

/// Live conversations: each figure less its expired part.
pub(super) fn live_conversations(
    (total, active, old, expired_total, expired_active, expired_old): ConversationFigures,
) -> ConversationCounts {
    ConversationCounts { total: total - expired_total, active: active - expired_active, old: old - expired_old }
}

/// A range's messages and tokens counted with the expired ones, then the expired ones alone.
pub(super) type MessageFigures = (i64, i64, i64, i64);

/// Live messages in a range: the counts less their expired part.
pub(super) fn live_messages((messages, tokens, expired, expired_tokens): MessageFigures) -> MessageTally {
    MessageTally { messages: messages - expired, tokens: tokens - expired_tokens }
}
