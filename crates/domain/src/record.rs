//! The canonical JSONL records: what `chatkeep import` reads and JSONL
//! exports write. One JSON object per line, tagged by `type`; records refer to
//! each other by the chat service's own ids (`external_id` in the schema).
//! `docs/import-format.md` documents every field.

use serde::{Deserialize, Serialize};

use super::chat::{ConversationKind, MessageKind, MessageRole};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    User(UserRecord),
    Conversation(ConversationRecord),
    Participant(ParticipantRecord),
    Message(MessageRecord),
    Read(ReadRecord),
}

impl Record {
    /// The record's type as written in the `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Record::User(_) => "user",
            Record::Conversation(_) => "conversation",
            Record::Participant(_) => "participant",
            Record::Message(_) => "message",
            Record::Read(_) => "read",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub kind: ConversationKind,
    /// The owning user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// `instant`, `Nd` or `forever`; absent means the default policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRecord {
    pub conversation: String,
    pub user: String,
    #[serde(default = "default_participant_role")]
    pub role: String,
    pub joined_at: String,
}

fn default_participant_role() -> String {
    "member".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRecord {
    pub id: String,
    pub conversation: String,
    /// The sending user's id; absent for system messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    pub role: MessageRole,
    #[serde(default = "default_message_kind")]
    pub kind: MessageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default)]
    pub tokens_used: u32,
    /// The id of the message this one replies to (same file, earlier, or already stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    pub created_at: String,
}

fn default_message_kind() -> MessageKind {
    MessageKind::Text
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRecord {
    pub message: String,
    pub user: String,
    pub read_at: String,
}
