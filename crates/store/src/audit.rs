//! Audit log storage: append inside the caller's transaction, read back in id order.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, Tx};
use crate::Result;

/// A stored audit row, exactly as hashed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// JSON text.
    pub details: String,
    /// JSON text.
    pub counts: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Which rows `audit list` shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<DateTime<Utc>>,
    pub action: Option<String>,
    pub limit: Option<i64>,
}

impl Tx<'_> {
    /// The id and hash of the newest audit row, if any.
    pub async fn audit_last_link(&mut self) -> Result<Option<(i64, String)>> {
        on_engine!(self, Tx(tx) => audit::last_link(tx).await)
    }

    pub async fn audit_insert(&mut self, row: &AuditRow) -> Result<()> {
        on_engine!(self, Tx(tx) => audit::insert(tx, row).await)
    }
}

impl Store {
    /// Up to `limit` rows with ids above `after_id`, in id order.
    pub async fn audit_page(&self, after_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
        on_engine!(self, Store(pool) => audit::page(pool, after_id, limit).await)
    }

    /// Rows matching a filter, newest first.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
        on_engine!(self, Store(pool) => audit::list(pool, filter).await)
    }
}

// ---- shared by both engines ----

both_engines! {
    /// Columns as hashed: `at` in chatkeep's canonical text, `details` and `counts` as the exact
    /// text they were written with (PostgreSQL's json columns keep it byte for byte).
    pub(crate) const COLUMNS: &str = concat!(
        "id, ", ts_of!("at"), ", actor, action, target, ", text_of!("details"), ", ", text_of!("counts"),
        ", prev_hash, hash"
    );

    /// The id and hash of the newest row (the engines' `last_link` first puts appends in a line).
    pub(crate) async fn newest_link(conn: &mut Conn) -> Result<Option<(i64, String)>> {
        Ok(sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetch_optional(conn).await?)
    }

    pub(crate) async fn insert(conn: &mut Conn, r: &AuditRow) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO audit_log (id, at, actor, action, target, details, counts, prev_hash, hash)
             VALUES ($1, ", ts!(2), ", $3, $4, $5, ", json!(6), ", ", json!(7), ", $8, $9)"
        ))
        .bind(r.id)
        .bind(&r.at)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.target)
        .bind(&r.details)
        .bind(&r.counts)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn page(pool: &Pool, after_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows: Vec<RawRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(rows.into_iter().map(row).collect())
    }
}

/// An `audit_log` row in [`AuditRow`]'s field order.
pub(super) type RawRow = (i64, String, String, String, Option<String>, String, String, String, String);

pub(super) fn row((id, at, actor, action, target, details, counts, prev_hash, hash): RawRow) -> AuditRow {
    AuditRow { id, at, actor, action, target, details, counts, prev_hash, hash }
}
