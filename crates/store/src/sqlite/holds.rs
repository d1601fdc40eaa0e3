use sqlx::SqliteConnection;

pub(crate) use crate::holds::sqlite::*;
use crate::{Entity, Result};
use chatkeep_domain::hold::LegalHold;

/// SQLite's single writer already puts two holds placed at once on one target in a line.
pub(crate) async fn active_on(conn: &mut SqliteConnection, on: Entity, target_id: i64) -> Result<Option<LegalHold>> {
    active_hold(conn, on, target_id).await
}
