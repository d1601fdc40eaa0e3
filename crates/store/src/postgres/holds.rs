use sqlx::PgConnection;

pub(crate) use crate::holds::postgres::*;
use crate::{Entity, Result};
use chatkeep_domain::hold::LegalHold;

pub(crate) async fn active_on(conn: &mut PgConnection, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
    // Lock the target first, so that two holds placed at once on the same target are checked one
    // after the other (SQLite's single writer gives the same); the lock lasts until the transaction ends.
    let target_table = match on {
        Entity::User => "users",
        _ => "conversations",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT FROM {target_table} WHERE id = $1 FOR NO KEY UPDATE")))
        .bind(target_id)
        .execute(&mut *conn)
        .await?;
    active_hold(conn, on, target_id).await
}
