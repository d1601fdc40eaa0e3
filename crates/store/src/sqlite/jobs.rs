use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::Result;
use crate::db_time::{from_db, to_db};
use crate::jobs::{JobRun, JobState, NewRun, PassedSlots};

const RUN_COLUMNS: &str =
    "id, job, scheduled_for, started_at, finished_at, status, attempt, summary, error, trigger, holder";

pub(crate) async fn runs(pool: &SqlitePool, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1 IS NULL OR job = $1)
         ORDER BY coalesce(started_at, scheduled_for) DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(job).bind(limit).fetch_all(pool).await?)
}

pub(crate) async fn last_slot(pool: &SqlitePool, job: &str) -> Result<Option<DateTime<Utc>>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT max(scheduled_for) FROM job_runs WHERE job = $1 AND trigger <> 'manual'")
            .bind(job)
            .fetch_one(pool)
            .await?;
    Ok(text.as_deref().and_then(from_db))
}

pub(crate) async fn slot_recorded(pool: &SqlitePool, job: &str, slot: DateTime<Utc>) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = $1 AND scheduled_for = $2 AND trigger <> 'manual')",
    )
    .bind(job)
    .bind(to_db(slot))
    .fetch_one(pool)
    .await?)
}

pub(crate) async fn state(pool: &SqlitePool, job: &str, now: DateTime<Utc>) -> Result<JobState> {
    sqlx::query("INSERT INTO job_state (job, watched_since) VALUES ($1, $2) ON CONFLICT (job) DO NOTHING")
        .bind(job)
        .bind(to_db(now))
        .execute(pool)
        .await?;
    let (paused, paused_at, watched_since): (bool, Option<String>, String) =
        sqlx::query_as("SELECT paused, paused_at, watched_since FROM job_state WHERE job = $1")
            .bind(job)
            .fetch_one(pool)
            .await?;
    Ok(JobState { paused, paused_at, watched_since })
}

pub(crate) async fn set_paused(pool: &SqlitePool, job: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_state (job, paused, paused_at, watched_since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job) DO UPDATE SET paused = excluded.paused, paused_at = excluded.paused_at",
    )
    .bind(job)
    .bind(paused)
    .bind(paused.then(|| to_db(now)))
    .bind(to_db(now))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn take_lease(
    pool: &SqlitePool,
    job: &str,
    holder: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<Option<String>> {
    // One statement: the insert or the take-over of an expired (or our own) lease is atomic.
    let taken = sqlx::query(
        "INSERT INTO job_leases (job, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at,
                                         expires_at = excluded.expires_at
         WHERE job_leases.expires_at <= excluded.acquired_at OR job_leases.holder = excluded.holder",
    )
    .bind(job)
    .bind(holder)
    .bind(to_db(now))
    .bind(to_db(expires))
    .execute(pool)
    .await?
    .rows_affected();
    if taken == 1 {
        return Ok(None);
    }
    let other: Option<String> =
        sqlx::query_scalar("SELECT holder FROM job_leases WHERE job = $1").bind(job).fetch_optional(pool).await?;
    Ok(Some(other.unwrap_or_else(|| "another process".into())))
}

pub(crate) async fn lease_holder(pool: &SqlitePool, job: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT holder FROM job_leases WHERE job = $1 AND expires_at > $2")
        .bind(job)
        .bind(to_db(now))
        .fetch_optional(pool)
        .await?)
}

pub(crate) async fn renew_lease(pool: &SqlitePool, job: &str, holder: &str, expires: DateTime<Utc>) -> Result<bool> {
    let renewed = sqlx::query("UPDATE job_leases SET expires_at = $3 WHERE job = $1 AND holder = $2")
        .bind(job)
        .bind(holder)
        .bind(to_db(expires))
        .execute(pool)
        .await?
        .rows_affected();
    Ok(renewed == 1)
}

pub(crate) async fn release_lease(pool: &SqlitePool, job: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2").bind(job).bind(holder).execute(pool).await?;
    Ok(())
}

pub(crate) async fn insert_run(pool: &SqlitePool, run: NewRun<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO job_runs (job, scheduled_for, started_at, status, attempt, trigger, holder)
         VALUES ($1, $2, $3, 'running', 1, $4, $5) RETURNING id",
    )
    .bind(run.job)
    .bind(run.scheduled_for.map(to_db))
    .bind(to_db(run.started_at))
    .bind(run.trigger)
    .bind(run.holder)
    .fetch_one(pool)
    .await?)
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

pub(crate) async fn finish_run(
    pool: &SqlitePool,
    id: i64,
    status: &str,
    finished_at: DateTime<Utc>,
    summary: &serde_json::Value,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE job_runs SET status = $2, finished_at = $3, summary = $4, error = $5 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(to_db(finished_at))
        .bind(summary.to_string())
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
