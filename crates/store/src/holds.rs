//! Legal hold storage.

use chrono::{DateTime, Utc};

use super::{Entity, Store, Tx};
use crate::Result;
use crate::db_time::to_db;
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
        on_engine!(self, Tx(tx) => holds::insert(tx, on, target_id, target_external_id, reason, placed_by, now).await)
    }

    /// The active hold placed directly on this user or conversation, if any.
    pub async fn active_hold_on(&mut self, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
        on_engine!(self, Tx(tx) => holds::active_on(tx, on, target_id).await)
    }

    pub async fn hold(&mut self, id: i64) -> Result<Option<LegalHold>> {
        on_engine!(self, Tx(tx) => holds::by_id(tx, id).await)
    }

    pub async fn release_hold(&mut self, id: i64, reason: Option<&str>, now: DateTime<Utc>) -> Result<()> {
        on_engine!(self, Tx(tx) => holds::release(tx, id, reason, now).await)
    }
}

impl Store {
    /// Holds, newest first; released ones too when asked.
    pub async fn holds(&self, include_released: bool) -> Result<Vec<LegalHold>> {
        on_engine!(self, Store(pool) => holds::list(&mut *pool.acquire().await?, include_released).await)
    }
}

// ---- shared by both engines ----

both_engines! {
    /// Every hold with the chat service's id of what it covers.
    /// (The id is kept on the hold itself, so history outlives a purged conversation.)
    const SELECT: &str = concat!(
        "SELECT h.id, h.target_kind, h.target_external_id, h.reason, h.placed_by, ",
        ts_of!("h.created_at"), ", ", ts_of!("h.released_at"), ", h.release_reason FROM legal_holds h"
    );

    pub(crate) async fn insert(
        conn: &mut Conn,
        on: Entity,
        target_id: i64,
        target_external_id: &str,
        reason: &str,
        placed_by: Actor,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let sql = format!(
            concat!(
                "INSERT INTO legal_holds ({}, target_kind, target_external_id, reason, placed_by, created_at)
                 VALUES ($1, $5, $6, $2, $3, ", ts!(4), ") RETURNING id"
            ),
            column(on)
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(target_id)
            .bind(reason)
            .bind(placed_by.as_str())
            .bind(to_db(now))
            .bind(target_kind(on))
            .bind(target_external_id)
            .fetch_one(conn)
            .await?)
    }

    /// The active hold placed directly on the target (see the engines' `active_on` for locking).
    pub(crate) async fn active_hold(conn: &mut Conn, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
        let sql = format!("{SELECT} WHERE h.{} = $1 AND h.released_at IS NULL ORDER BY h.id LIMIT 1", column(on));
        let row: Option<HoldRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(target_id).fetch_optional(conn).await?;
        Ok(row.map(hold))
    }

    pub(crate) async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<LegalHold>> {
        let row: Option<HoldRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE h.id = $1"))).bind(id).fetch_optional(conn).await?;
        Ok(row.map(hold))
    }

    pub(crate) async fn release(conn: &mut Conn, id: i64, reason: Option<&str>, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE legal_holds SET released_at = ", ts!(2), ", release_reason = $3 WHERE id = $1 AND released_at IS NULL"
        ))
        .bind(id)
        .bind(to_db(now))
        .bind(reason)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn list(conn: &mut Conn, include_released: bool) -> Result<Vec<LegalHold>> {
        let rows: Vec<HoldRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE $1 OR h.released_at IS NULL ORDER BY h.id DESC")))
                .bind(include_released)
                .fetch_all(conn)
                .await?;
        Ok(rows.into_iter().map(hold).collect())
    }
}

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
