//! Writing chat data: bulk inserts of rows with known ids (the demo seeder)
//! and idempotent upserts keyed by the chat service's ids (import).

use super::{ChatBatch, MaxIds, Store, Tx};
use crate::Result;
use chatkeep_domain::chat::{Conversation, Message, MessageRead, Participant, User};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Inserted,
    Updated,
    Unchanged,
}

/// The kinds of chat record that are looked up by the chat service's own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Conversation,
    Message,
}

impl Entity {
    pub fn noun(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Conversation => "conversation",
            Entity::Message => "message",
        }
    }
}

impl Store {
    pub async fn max_ids(&self) -> Result<MaxIds> {
        on_engine!(self, Store(pool) => chat::max_ids(&mut *pool.acquire().await?).await)
    }

    /// How many conversations have an external id starting with `prefix`.
    pub async fn count_conversations_with_prefix(&self, prefix: &str) -> Result<i64> {
        on_engine!(self, Store(pool) => chat::count_conversations_with_prefix(pool, prefix).await)
    }

    /// The internal id for a chat-service id, if stored.
    pub async fn find_id(&self, kind: Entity, external_id: &str) -> Result<Option<i64>> {
        on_engine!(self, Store(pool) => chat::find_id(pool, kind, external_id).await)
    }
}

impl Tx<'_> {
    /// Inserts every row of the batch (ids given), parents before children.
    pub async fn insert_batch(&mut self, batch: &ChatBatch) -> Result<()> {
        on_engine!(self, Tx(tx) => chat::insert_batch(tx, batch).await)
    }

    /// The internal id for a chat-service id, if stored.
    pub async fn find_id(&mut self, kind: Entity, external_id: &str) -> Result<Option<i64>> {
        on_engine!(self, Tx(tx) => chat::find_id(&mut **tx, kind, external_id).await)
    }

    pub async fn upsert_user(&mut self, user: &User) -> Result<(i64, Upserted)> {
        on_engine!(self, Tx(tx) => chat::upsert_user(tx, user).await)
    }

    /// Upserts a conversation. A legal hold is never lifted by an upsert.
    pub async fn upsert_conversation(&mut self, conversation: &Conversation) -> Result<(i64, Upserted)> {
        on_engine!(self, Tx(tx) => chat::upsert_conversation(tx, conversation).await)
    }

    /// Inserts or updates a participant row; with `keep`, an existing row is left as it is.
    pub async fn upsert_participant(&mut self, participant: &Participant, keep: bool) -> Result<Upserted> {
        on_engine!(self, Tx(tx) => chat::upsert_participant(tx, participant, keep).await)
    }

    pub async fn upsert_message(&mut self, message: &Message) -> Result<(i64, Upserted)> {
        on_engine!(self, Tx(tx) => chat::upsert_message(tx, message).await)
    }

    /// Inserts or updates a read receipt; with `keep`, an existing one is left as it is.
    pub async fn upsert_read(&mut self, read: &MessageRead, keep: bool) -> Result<Upserted> {
        on_engine!(self, Tx(tx) => chat::upsert_read(tx, read, keep).await)
    }

    /// Moves each conversation's `last_activity_at` up to its newest message.
    pub async fn refresh_last_activity(&mut self, conversation_ids: &[i64]) -> Result<()> {
        on_engine!(self, Tx(tx) => chat::refresh_last_activity(tx, conversation_ids).await)
    }
}

// ---- shared by both engines ----

/// The highest id in use in each table (0 when empty), in [`MaxIds`]'s field order.
pub(super) const MAX_IDS: &str = "SELECT (SELECT coalesce(max(id), 0) FROM users),
                (SELECT coalesce(max(id), 0) FROM conversations),
                (SELECT coalesce(max(id), 0) FROM messages)";

/// The statement that finds a record's id by the chat service's id (`$1`).
pub(super) fn find_id_sql(kind: Entity) -> &'static str {
    match kind {
        Entity::User => "SELECT id FROM users WHERE external_id = $1",
        Entity::Conversation => "SELECT id FROM conversations WHERE external_id = $1",
        Entity::Message => "SELECT id FROM messages WHERE external_id = $1",
    }
}
