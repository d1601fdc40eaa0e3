//! `chatkeep hold add | list | release`: legal holds.
//!
//! A hold names a conversation, or a user (covering every conversation they
//! take part in), and a reason. Retention never expires or purges what an
//! active hold covers. Placing and releasing are audited; a released hold
//! stays listed with `--all`, so the history is never lost.

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::hold::{HoldTarget, LegalHold};
use crate::error::{Error, Result};
use crate::store::{Entity, Store};

const MAX_REASON_CHARS: usize = 1_000;

/// What a hold covers, from a shell's two inputs: exactly one of a conversation id and a user
/// id (blank counts as not given). Both shells read their choice through here.
pub fn hold_target(conversation: Option<&str>, user: Option<&str>) -> Result<HoldTarget> {
    let given = |id: Option<&str>| id.map(str::trim).filter(|id| !id.is_empty()).map(str::to_string);
    match (given(conversation), given(user)) {
        (Some(id), None) => Ok(HoldTarget::Conversation(id)),
        (None, Some(id)) => Ok(HoldTarget::User(id)),
        (Some(_), Some(_)) => {
            Err(Error::invalid("a hold covers a conversation or a user, not both: place two holds for both"))
        }
        (None, None) => Err(Error::invalid("give the conversation id or the user id the hold covers")),
    }
}

fn checked_reason(what: &str, reason: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(format!(
            "{what} needs a reason, for example --reason \"litigation hold, case 2026-114\""
        )));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid(format!("{what}: the reason is longer than {MAX_REASON_CHARS} characters")));
    }
    Ok(reason.to_string())
}

/// Places a hold. Fails if the target does not exist or is already held.
pub async fn place_hold(
    store: &Store,
    target: HoldTarget,
    reason: &str,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<LegalHold> {
    let reason = checked_reason("a legal hold", reason)?;
    let (entity, external_id) = match &target {
        HoldTarget::Conversation(id) => (Entity::Conversation, id.as_str()),
        HoldTarget::User(id) => (Entity::User, id.as_str()),
    };
    let now = clock.now();
    let mut tx = store.begin().await?;
    let target_id = tx.find_id(entity, external_id).await?.ok_or_else(|| {
        Error::NotFound(format!("{target} (check the id with `chatkeep stats` or your chat service)"))
    })?;
    if let Some(existing) = tx.active_hold_on(entity, target_id).await? {
        return Err(Error::invalid(format!(
            "{target} is already under legal hold #{} (placed {}: {})",
            existing.id, existing.created_at, existing.reason
        )));
    }
    let id = tx.insert_hold(entity, target_id, external_id, &reason, actor, now).await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "hold.place")
            .target(target.to_string())
            .details(serde_json::json!({ "hold": id, "reason": reason })),
    )
    .await?;
    let hold = tx.hold(id).await?.ok_or_else(|| Error::NotFound(format!("legal hold #{id}")))?;
    tx.commit().await?;
    Ok(hold)
}

/// Releases an active hold; the row stays as history.
pub async fn release_hold(
    store: &Store,
    id: i64,
    reason: Option<&str>,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<LegalHold> {
    let reason = reason.map(|r| checked_reason("a release", r)).transpose()?;
    let now = clock.now();
    let mut tx = store.begin().await?;
    let hold = tx
        .hold(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("legal hold #{id} (see `chatkeep hold list --all`)")))?;
    if let Some(released_at) = &hold.released_at {
        return Err(Error::invalid(format!("legal hold #{id} was already released at {released_at}")));
    }
    tx.release_hold(id, reason.as_deref(), now).await?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "hold.release")
            .target(hold.target.to_string())
            .details(serde_json::json!({ "hold": id, "reason": reason })),
    )
    .await?;
    let released = tx.hold(id).await?.ok_or_else(|| Error::NotFound(format!("legal hold #{id}")))?;
    tx.commit().await?;
    Ok(released)
}

/// Active holds, newest first; released ones too when asked.
pub async fn list_holds(store: &Store, include_released: bool) -> Result<Vec<LegalHold>> {
    Ok(store.holds(include_released).await?)
}
