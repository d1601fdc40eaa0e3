//! Legal hold storage.

use chrono::{DateTime, Utc};

use super::{Entity, Store, Tx, postgres, sqlite};
use crate::Result;
use chatkeep_domain::Actor;
use chatkeep_domain::hold::{HoldTarget, LegalHold};

impl Tx<'_> {
    /// Places a hold on a user or conversation (by internal id); returns the hold's id.
    pub async fn insert_hold(
        &mut self,
        on: Entity,
        target_id: i64,
        target_external_id: &str,
        reason: &str,
        placed_by: Actor,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        match self {
            Tx::Sqlite(tx) => {
                sqlite::holds::insert(tx, on, target_id, target_external_id, reason, placed_by, now).await
            }
            Tx::Postgres(tx) => {
                postgres::holds::insert(tx, on, target_id, target_external_id, reason, placed_by, now).await
            }
        }
    }

    /// The active hold placed directly on this user or conversation, if any.
    pub async fn active_hold_on(&mut self, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
        match self {
            Tx::Sqlite(tx) => sqlite::holds::active_on(tx, on, target_id).await,
            Tx::Postgres(tx) => postgres::holds::active_on(tx, on, target_id).await,
        }
    }

    pub async fn hold(&mut self, id: i64) -> Result<Option<LegalHold>> {
        match self {
            Tx::Sqlite(tx) => sqlite::holds::by_id(tx, id).await,
            Tx::Postgres(tx) => postgres::holds::by_id(tx, id).await,
        }
    }

    pub async fn release_hold(&mut self, id: i64, reason: Option<&str>, now: DateTime<Utc>) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => sqlite::holds::release(tx, id, reason, now).await,
            Tx::Postgres(tx) => postgres::holds::release(tx, id, reason, now).await,
        }
    }
}

impl Store {
    /// Holds, newest first; released ones too when asked.
    pub async fn holds(&self, include_released: bool) -> Result<Vec<LegalHold>> {
        match self {
            Store::Sqlite(pool) => sqlite::holds::list(&mut *pool.acquire().await?, include_released).await,
            Store::Postgres(pool) => postgres::holds::list(&mut *pool.acquire().await?, include_released).await,
        }
    }
}

// ---- shared by both engines ----

/// A `legal_holds` row as both engines select it: id, target kind, target's external id, reason,
/// placed by, created, released, release reason.
pub(super) type HoldRow = (i64, String, String, String, String, String, Option<String>, Option<String>);

pub(super) fn hold(
    (id, kind, external_id, reason, placed_by, created_at, released_at, release_reason): HoldRow,
) -> LegalHold {
    let target = match kind.as_str() {
        "user" => HoldTarget::User(external_id),
        _ => HoldTarget::Conversation(external_id),
    };
    LegalHold { id, target, reason, placed_by, created_at, released_at, release_reason }
}

/// The `legal_holds` column that points at what a hold covers.
pub(super) fn column(on: Entity) -> &'static str {
    match on {
        Entity::Conversation => "conversation_id",
        Entity::User => "user_id",
        Entity::Message => unreachable!("holds cover users and conversations"),
    }
}

/// The `target_kind` a hold on `on` is stored with.
pub(super) fn target_kind(on: Entity) -> &'static str {
    match on {
        Entity::User => "user",
        _ => "conversation",
    }
}
