//! The reads an export makes: which conversations are in scope, and their
//! rows in pages, in (conversation, created_at) order, built by the engine as
//! one JSON value per page so that a million rows cross cheaply.

use std::borrow::Cow;

use serde::Deserialize;

use super::{Store, postgres, sqlite};
use crate::error::Result;

/// What an export covers. Times are stored-shape UTC text; `[from, to)`.
#[derive(Debug, Clone)]
pub struct ExportScope {
    pub from: String,
    pub to: String,
    /// Internal conversation ids to keep (empty = all).
    pub conversations: Vec<i64>,
    /// Keep only conversations this user takes part in.
    pub participant: Option<i64>,
    /// Conversation kinds to keep (empty = all).
    pub kinds: Vec<String>,
    pub include_expired: bool,
}

/// One message with its conversation's columns, as the engine returns it
/// (as a JSON array in this field order: keys would double the text to parse).
#[derive(Debug, Clone, Deserialize)]
pub struct ExportMessage<'a> {
    pub conversation_id: i64,
    #[serde(borrow)]
    pub conversation: Cow<'a, str>,
    #[serde(borrow)]
    pub title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(borrow)]
    pub sender: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub sender_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub message_kind: Cow<'a, str>,
    #[serde(borrow)]
    pub body: Option<Cow<'a, str>>,
    pub tokens_used: i64,
    #[serde(borrow)]
    pub reply_to: Option<Cow<'a, str>>,
    pub pinned: bool,
    #[serde(borrow)]
    pub expired_at: Option<Cow<'a, str>>,
}

impl ExportMessage<'_> {
    /// Reads a page returned by [`Store::export_messages`]; strings borrow from `json` where they can.
    pub fn page(json: &str) -> crate::error::Result<Vec<ExportMessage<'_>>> {
        serde_json::from_str(json)
            .map_err(|e| crate::error::Error::invalid(format!("unexpected export page from the database: {e}")))
    }
}

/// One conversation with its figures inside the range.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportConversation {
    pub conversation_id: i64,
    pub conversation: String,
    pub title: Option<String>,
    pub kind: String,
    pub owner: Option<String>,
    pub created_at: String,
    pub last_activity_at: Option<String>,
    pub participants: Vec<String>,
    pub messages: i64,
    pub tokens_used: i64,
    pub first_message_at: Option<String>,
    pub last_message_at: Option<String>,
}

impl Store {
    /// Conversations in scope with a message in the range, ascending, each with its number of such messages.
    pub async fn export_conversations(&self, scope: &ExportScope) -> Result<Vec<(i64, i64)>> {
        match self {
            Store::Sqlite(pool) => sqlite::export::conversations(pool, scope).await,
            Store::Postgres(pool) => postgres::export::conversations(pool, scope).await,
        }
    }

    /// The range's messages of these conversations, in (conversation, created_at) order,
    /// as one JSON value to read with [`ExportMessage::page`].
    pub async fn export_messages(&self, scope: &ExportScope, conversations: &[i64]) -> Result<String> {
        match self {
            Store::Sqlite(pool) => sqlite::export::messages(pool, scope, conversations).await,
            Store::Postgres(pool) => postgres::export::messages(pool, scope, conversations).await,
        }
    }

    /// These conversations, with their participants and figures inside the range.
    pub async fn export_conversation_rows(
        &self,
        scope: &ExportScope,
        conversations: &[i64],
    ) -> Result<Vec<ExportConversation>> {
        match self {
            Store::Sqlite(pool) => sqlite::export::conversation_rows(pool, scope, conversations).await,
            Store::Postgres(pool) => postgres::export::conversation_rows(pool, scope, conversations).await,
        }
    }

    /// Canonical JSONL (import shapes) for these conversations' rows in the range, in import order
    /// within the page: conversations, participants, messages, reads. Replies to messages outside
    /// the export lose their link, so the file imports on its own.
    pub async fn export_records(&self, scope: &ExportScope, conversations: &[i64]) -> Result<String> {
        match self {
            Store::Sqlite(pool) => sqlite::export::records(pool, scope, conversations).await,
            Store::Postgres(pool) => postgres::export::records(pool, scope, conversations).await,
        }
    }

    /// Canonical JSONL for every user the exported conversations refer to.
    pub async fn export_user_records(&self, scope: &ExportScope, conversations: &[i64]) -> Result<String> {
        match self {
            Store::Sqlite(pool) => sqlite::export::user_records(pool, scope, conversations).await,
            Store::Postgres(pool) => postgres::export::user_records(pool, scope, conversations).await,
        }
    }
}
