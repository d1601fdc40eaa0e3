//! The reads an export makes: which conversations are in scope, and their
//! rows in pages, in (conversation, created_at) order. SQLite builds each page
//! as one JSON value, so that a million rows cross cheaply; PostgreSQL's rows
//! arrive typed (see [`MessagePage`]).

use std::borrow::Cow;

use serde::Deserialize;

use super::{Store, postgres, sqlite};
use crate::Result;

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

/// One message with its conversation's columns (from SQLite as a JSON array in this
/// field order: keys would double the text to parse; from PostgreSQL as a [`MessageRow`]).
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

/// What the receiver of a streamed page answers, once it has the page: whether to go on.
pub type PageSent = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

/// A page of messages as an engine returns it: SQLite builds the page as one JSON value
/// in SQL (one value to step over instead of a row per message); PostgreSQL's rows come
/// over its protocol already typed, and turning them into JSON here only to parse them
/// again took nearly half of a CSV export's own CPU time.
#[derive(Default)]
pub enum MessagePage {
    #[default]
    Empty,
    Json(String),
    Rows(Vec<MessageRow>),
}

/// (conversation id, conversation, title, kind, message, created_at, sender, sender name,
/// role, message kind, body, tokens, reply to, pinned, expired_at): [`ExportMessage`]'s fields in order.
pub type MessageRow = (
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    bool,
    Option<String>,
);

impl std::fmt::Debug for MessagePage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessagePage::Empty => write!(f, "MessagePage::Empty"),
            MessagePage::Json(json) => write!(f, "MessagePage::Json({} bytes)", json.len()),
            MessagePage::Rows(rows) => write!(f, "MessagePage::Rows({} rows)", rows.len()),
        }
    }
}

impl MessagePage {
    /// How many messages the page holds, without reading a JSON page.
    pub fn rows(&self) -> Option<usize> {
        match self {
            MessagePage::Rows(rows) => Some(rows.len()),
            MessagePage::Empty => Some(0),
            MessagePage::Json(_) => None,
        }
    }

    /// The page's messages in order; strings borrow from the page.
    pub fn messages(&self) -> crate::Result<Vec<ExportMessage<'_>>> {
        match self {
            MessagePage::Empty => Ok(Vec::new()),
            MessagePage::Json(json) => serde_json::from_str(json)
                .map_err(|e| crate::StoreError::invalid(format!("unexpected export page from the database: {e}"))),
            MessagePage::Rows(rows) => Ok(rows.iter().map(ExportMessage::from_row).collect()),
        }
    }
}

impl<'a> ExportMessage<'a> {
    fn from_row(row: &'a MessageRow) -> ExportMessage<'a> {
        let text = |s: &'a String| Cow::Borrowed(s.as_str());
        let optional = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        ExportMessage {
            conversation_id: row.0,
            conversation: text(&row.1),
            title: optional(&row.2),
            kind: text(&row.3),
            id: text(&row.4),
            created_at: text(&row.5),
            sender: optional(&row.6),
            sender_name: optional(&row.7),
            role: text(&row.8),
            message_kind: text(&row.9),
            body: optional(&row.10),
            tokens_used: row.11,
            reply_to: optional(&row.12),
            pinned: row.13,
            expired_at: optional(&row.14),
        }
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
        on_engine!(self, Store(pool) => export::conversations(pool, scope).await)
    }

    /// The range's messages of these conversations, in (conversation, created_at) order,
    /// read with [`MessagePage::messages`].
    pub async fn export_messages(&self, scope: &ExportScope, conversations: &[i64]) -> Result<MessagePage> {
        match self {
            Store::Sqlite(pool) => sqlite::export::messages(pool, scope, conversations).await.map(MessagePage::Json),
            Store::Postgres(pool) => {
                postgres::export::messages(pool, scope, conversations).await.map(MessagePage::Rows)
            }
        }
    }

    /// Every message in scope in (conversation, created_at) order, handed to `page` about
    /// `rows` at a time, from one streamed query; `page` returns false to stop. PostgreSQL
    /// only ([`Store::streams_exports`]): SQLite reads a page per query with [`Store::export_messages`].
    pub async fn export_message_stream(
        &self,
        scope: &ExportScope,
        rows: usize,
        mut page: impl FnMut(MessagePage) -> PageSent,
    ) -> Result<()> {
        match self {
            Store::Postgres(pool) => {
                postgres::export::stream_messages(pool, scope, rows, |batch| page(MessagePage::Rows(batch))).await
            }
            Store::Sqlite(_) => Err(crate::StoreError::invalid("streamed exports are read per page on SQLite")),
        }
    }

    /// True when [`Store::export_message_stream`] is the faster way to read a CSV export's
    /// messages: on PostgreSQL one sorted query costs the server far less than a query per
    /// page; SQLite, in-process, reads a page per query as fast.
    pub fn streams_exports(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// These conversations, with their participants and figures inside the range.
    pub async fn export_conversation_rows(
        &self,
        scope: &ExportScope,
        conversations: &[i64],
    ) -> Result<Vec<ExportConversation>> {
        on_engine!(self, Store(pool) => export::conversation_rows(pool, scope, conversations).await)
    }

    /// Canonical JSONL (import shapes) for these conversations' rows in the range, in import order
    /// within the page: conversations, participants, messages, reads. Replies to messages outside
    /// the export lose their link, so the file imports on its own.
    pub async fn export_records(&self, scope: &ExportScope, conversations: &[i64]) -> Result<String> {
        on_engine!(self, Store(pool) => export::records(pool, scope, conversations).await)
    }

    /// Canonical JSONL for every user the exported conversations refer to.
    pub async fn export_user_records(&self, scope: &ExportScope, conversations: &[i64]) -> Result<String> {
        on_engine!(self, Store(pool) => export::user_records(pool, scope, conversations).await)
    }
}
