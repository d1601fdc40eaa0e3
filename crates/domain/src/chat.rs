//! Rows of the canonical chat schema, with chatkeep's internal ids.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What sort of conversation: a one-to-one chat, a group, a channel, or a chat with a bot.
    ConversationKind { Direct => "direct", Group => "group", Channel => "channel", Bot => "bot" }
);
text_enum!(
    /// Who a message speaks for.
    MessageRole { User => "user", Assistant => "assistant", System => "system", Agent => "agent" }
);
text_enum!(
    /// What a message carries.
    MessageKind { Text => "text", File => "file", System => "system" }
);

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub external_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: i64,
    pub external_id: String,
    pub title: Option<String>,
    pub kind: ConversationKind,
    pub owner_id: Option<i64>,
    /// Free-form JSON the chat service keeps with the conversation, as text.
    pub context: Option<String>,
    pub retention_policy: Option<String>,
    pub legal_hold: bool,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub conversation_id: i64,
    pub user_id: i64,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub external_id: String,
    pub conversation_id: i64,
    pub sender_id: Option<i64>,
    pub role: MessageRole,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub tokens_used: i64,
    pub reply_to_id: Option<i64>,
    pub pinned: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRead {
    pub message_id: i64,
    pub user_id: i64,
    pub read_at: DateTime<Utc>,
}
