//! Legal holds: while one is active, nothing it covers expires or is purged.

use serde::Serialize;

/// What a hold covers, by the chat service's ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum HoldTarget {
    /// One conversation.
    Conversation(String),
    /// Every conversation the user takes part in.
    User(String),
}

impl std::fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldTarget::Conversation(id) => write!(f, "conversation {id:?}"),
            HoldTarget::User(id) => write!(f, "user {id:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalHold {
    pub id: i64,
    pub target: HoldTarget,
    pub reason: String,
    /// Who placed it: desktop, scheduler, cli or api.
    pub placed_by: String,
    pub created_at: String,
    pub released_at: Option<String>,
    pub release_reason: Option<String>,
}

impl LegalHold {
    pub fn is_active(&self) -> bool {
        self.released_at.is_none()
    }
}
