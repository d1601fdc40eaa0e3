//! The nouns chatkeep works with: the chat data it governs ([`chat`]), the
//! canonical JSONL records it reads and writes ([`record`]), retention
//! policies ([`policy`]), data-subject requests ([`gdpr`]), and who acted ([`Actor`]).

pub mod chat;
pub mod gdpr;
pub mod hold;
pub mod policy;
pub mod record;
pub mod rule;
pub mod schedule;

use serde::{Deserialize, Serialize};

/// Who performed an operation, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Desktop,
    Scheduler,
    Cli,
    Api,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Desktop => "desktop",
            Actor::Scheduler => "scheduler",
            Actor::Cli => "cli",
            Actor::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Actor> {
        match text {
            "desktop" => Some(Actor::Desktop),
            "scheduler" => Some(Actor::Scheduler),
            "cli" => Some(Actor::Cli),
            "api" => Some(Actor::Api),
            _ => None,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
