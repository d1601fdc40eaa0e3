//! The scheduler's tables on PostgreSQL. Leases are safe across processes and
//! machines: taking one is a single `INSERT ... ON CONFLICT DO UPDATE ... WHERE`,
//! which PostgreSQL runs atomically against the latest committed lease row (a
//! second taker waits for the first one's commit, then sees its lease).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;
use crate::db_time::to_db;
pub(crate) use crate::jobs::postgres::*;
use crate::jobs::{JobRun, PassedSlots};

/// A run row as the seam carries it: instants as canonical text, the summary as JSON text.
const RUN_COLUMNS: &str = "id, job, ck_ts(scheduled_for) AS scheduled_for, ck_ts(started_at) AS started_at,
                           ck_ts(finished_at) AS finished_at, status, attempt::bigint AS attempt,
                           summary::text AS summary, error, trigger, holder";

pub(crate) async fn runs(pool: &PgPool, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1::text IS NULL OR job = $1)
         ORDER BY coalesce(started_at, scheduled_for) DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(job).bind(limit).fetch_all(pool).await?)
}

pub(crate) async fn note_attempt(pool: &PgPool, id: i64, attempt: u32, error: &str) -> Result<()> {
    sqlx::query("UPDATE job_runs SET attempt = $2, error = $3 WHERE id = $1")
        .bind(id)
        .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn record_passed(pool: &PgPool, passed: PassedSlots<'_>) -> Result<()> {
    if passed.slots.is_empty() {
        return Ok(());
    }
    let slots: Vec<String> = passed.slots.iter().map(|s| to_db(*s)).collect();
    sqlx::query(
        "INSERT INTO job_runs (job, scheduled_for, finished_at, status, attempt, error, trigger)
         SELECT $1, slot::timestamptz, $2::timestamptz, $3, 0, $4, 'schedule' FROM unnest($5::text[]) AS slot",
    )
    .bind(passed.job)
    .bind(to_db(passed.now))
    .bind(passed.status)
    .bind(passed.reason)
    .bind(&slots)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn fail_interrupted(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<JobRun>> {
    let sql = format!(
        "UPDATE job_runs SET status = 'failed', finished_at = $1::timestamptz,
                error = 'interrupted: the chatkeep process running it stopped before it finished'
         WHERE status = 'running'
           AND NOT EXISTS (SELECT 1 FROM job_leases l
                           WHERE l.job = job_runs.job AND l.holder = job_runs.holder AND l.expires_at > $1::timestamptz)
         RETURNING {RUN_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(to_db(now)).fetch_all(pool).await?)
}
