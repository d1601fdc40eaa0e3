use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::Result;
use crate::db_time::to_db;
pub(crate) use crate::jobs::sqlite::*;
use crate::jobs::{JobRun, PassedSlots};

const RUN_COLUMNS: &str =
    "id, job, scheduled_for, started_at, finished_at, status, attempt, summary, error, trigger, holder";

pub(crate) async fn runs(pool: &SqlitePool, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1 IS NULL OR job = $1)
         ORDER BY coalesce(started_at, scheduled_for) DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(job).bind(limit).fetch_all(pool).await?)
}

pub(crate) async fn note_attempt(pool: &SqlitePool, id: i64, attempt: u32, error: &str) -> Result<()> {
    sqlx::query("UPDATE job_runs SET attempt = $2, error = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(attempt))
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn record_passed(pool: &SqlitePool, passed: PassedSlots<'_>) -> Result<()> {
    if passed.slots.is_empty() {
        return Ok(());
    }
    let slots: Vec<String> = passed.slots.iter().map(|s| to_db(*s)).collect();
    sqlx::query(
        "INSERT INTO job_runs (job, scheduled_for, finished_at, status, attempt, error, trigger)
         SELECT $1, value, $2, $3, 0, $4, 'schedule' FROM json_each($5)",
    )
    .bind(passed.job)
    .bind(to_db(passed.now))
    .bind(passed.status)
    .bind(passed.reason)
    .bind(serde_json::to_string(&slots).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn fail_interrupted(pool: &SqlitePool, now: DateTime<Utc>) -> Result<Vec<JobRun>> {
    let sql = format!(
        "UPDATE job_runs SET status = 'failed', finished_at = $1,
                error = 'interrupted: the chatkeep process running it stopped before it finished'
         WHERE status = 'running'
           AND NOT EXISTS (SELECT 1 FROM job_leases l
                           WHERE l.job = job_runs.job AND l.holder = job_runs.holder AND l.expires_at > $1)
         RETURNING {RUN_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(to_db(now)).fetch_all(pool).await?)
}
