//! The scheduler's tables: run history, leases (one run of a job at a time,
//! across processes) and per-job state (paused, watched since).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Store;
use crate::Result;
use crate::db_time::{from_db, to_db};

both_engines! {
    pub(crate) async fn last_slot(pool: &Pool, job: &str) -> Result<Option<DateTime<Utc>>> {
        let text: Option<String> = sqlx::query_scalar(concat!(
            "SELECT ", ts_of!("max(scheduled_for)"), " FROM job_runs WHERE job = $1 AND trigger <> 'manual'"
        ))
        .bind(job)
        .fetch_one(pool)
        .await?;
        Ok(text.as_deref().and_then(from_db))
    }

    pub(crate) async fn slot_recorded(pool: &Pool, job: &str, slot: DateTime<Utc>) -> Result<bool> {
        Ok(sqlx::query_scalar(concat!(
            "SELECT EXISTS (SELECT 1 FROM job_runs
                            WHERE job = $1 AND scheduled_for = ", ts!(2), " AND trigger <> 'manual')"
        ))
        .bind(job)
        .bind(to_db(slot))
        .fetch_one(pool)
        .await?)
    }

    pub(crate) async fn state(pool: &Pool, job: &str, now: DateTime<Utc>) -> Result<JobState> {
        // Two statements: on PostgreSQL the read sees a row another process inserted after this insert's snapshot.
        sqlx::query(concat!(
            "INSERT INTO job_state (job, watched_since) VALUES ($1, ", ts!(2), ") ON CONFLICT (job) DO NOTHING"
        ))
        .bind(job)
        .bind(to_db(now))
        .execute(pool)
        .await?;
        let (paused, paused_at, watched_since): (bool, Option<String>, String) = sqlx::query_as(concat!(
            "SELECT paused, ", ts_of!("paused_at"), ", ", ts_of!("watched_since"), " FROM job_state WHERE job = $1"
        ))
        .bind(job)
        .fetch_one(pool)
        .await?;
        Ok(JobState { paused, paused_at, watched_since })
    }

    pub(crate) async fn set_paused(pool: &Pool, job: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO job_state (job, paused, paused_at, watched_since) VALUES ($1, $2, ", ts!(3), ", ", ts!(4), ")
             ON CONFLICT (job) DO UPDATE SET paused = excluded.paused, paused_at = excluded.paused_at"
        ))
        .bind(job)
        .bind(paused)
        .bind(paused.then(|| to_db(now)))
        .bind(to_db(now))
        .execute(pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn take_lease(
        pool: &Pool,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Option<String>> {
        // One statement: the insert, or the take-over of an expired (or our own) lease, is atomic.
        // On PostgreSQL a concurrent taker blocks on the row until this one commits, then re-checks
        // the WHERE against the lease just written, so two processes never both get it.
        let taken = sqlx::query(concat!(
            "INSERT INTO job_leases (job, holder, acquired_at, expires_at) VALUES ($1, $2, ", ts!(3), ", ", ts!(4), ")
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at,
                                             expires_at = excluded.expires_at
             WHERE job_leases.expires_at <= excluded.acquired_at OR job_leases.holder = excluded.holder"
        ))
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

    pub(crate) async fn lease_holder(pool: &Pool, job: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(concat!("SELECT holder FROM job_leases WHERE job = $1 AND expires_at > ", ts!(2)))
            .bind(job)
            .bind(to_db(now))
            .fetch_optional(pool)
            .await?)
    }

    pub(crate) async fn renew_lease(pool: &Pool, job: &str, holder: &str, expires: DateTime<Utc>) -> Result<bool> {
        let renewed =
            sqlx::query(concat!("UPDATE job_leases SET expires_at = ", ts!(3), " WHERE job = $1 AND holder = $2"))
                .bind(job)
                .bind(holder)
                .bind(to_db(expires))
                .execute(pool)
                .await?
                .rows_affected();
        Ok(renewed == 1)
    }

    pub(crate) async fn release_lease(pool: &Pool, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2").bind(job).bind(holder).execute(pool).await?;
        Ok(())
    }

    pub(crate) async fn insert_run(pool: &Pool, run: NewRun<'_>) -> Result<i64> {
        Ok(sqlx::query_scalar(concat!(
            "INSERT INTO job_runs (job, scheduled_for, started_at, status, attempt, trigger, holder)
             VALUES ($1, ", ts!(2), ", ", ts!(3), ", 'running', 1, $4, $5) RETURNING id"
        ))
        .bind(run.job)
        .bind(run.scheduled_for.map(to_db))
        .bind(to_db(run.started_at))
        .bind(run.trigger)
        .bind(run.holder)
        .fetch_one(pool)
        .await?)
    }

    pub(crate) async fn finish_run(
        pool: &Pool,
        id: i64,
        status: &str,
        finished_at: DateTime<Utc>,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE job_runs SET status = $2, finished_at = ", ts!(3), ", summary = ", json!(4), ", error = $5 WHERE id = $1"
        ))
        .bind(id)
        .bind(status)
        .bind(to_db(finished_at))
        .bind(summary.to_string())
        .bind(error)
        .execute(pool)
        .await?;
        Ok(())
    }
}

/// One row of `job_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub scheduled_for: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `running | ok | failed | skipped | missed | cancelled`
    pub status: String,
    pub attempt: i64,
    /// Counts and facts about the run, as JSON text.
    pub summary: Option<String>,
    pub error: Option<String>,
    /// `schedule | catch_up | manual`
    pub trigger: String,
    pub holder: Option<String>,
}

/// A job's persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobState {
    pub paused: bool,
    pub paused_at: Option<String>,
    pub watched_since: String,
}

/// A run about to start.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub job: &'a str,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub trigger: &'a str,
    pub holder: &'a str,
}

/// Times that passed without a run: recorded as `missed` or `skipped` with the reason.
#[derive(Debug, Clone, Copy)]
pub struct PassedSlots<'a> {
    pub job: &'a str,
    pub slots: &'a [DateTime<Utc>],
    pub status: &'a str,
    pub reason: &'a str,
    pub now: DateTime<Utc>,
}

impl Store {
    /// Runs, newest first; all jobs or one.
    pub async fn job_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>> {
        on_engine!(self, Store(pool) => jobs::runs(pool, job, limit).await)
    }

    /// The newest time of the job's schedule that has a row (run, missed or skipped).
    pub async fn last_scheduled_slot(&self, job: &str) -> Result<Option<DateTime<Utc>>> {
        on_engine!(self, Store(pool) => jobs::last_slot(pool, job).await)
    }

    /// Whether a row already stands for this time of the schedule.
    pub async fn slot_recorded(&self, job: &str, slot: DateTime<Utc>) -> Result<bool> {
        on_engine!(self, Store(pool) => jobs::slot_recorded(pool, job, slot).await)
    }

    /// The job's state, created (watched from `now`, not paused) the first time it is asked for.
    pub async fn job_state(&self, job: &str, now: DateTime<Utc>) -> Result<JobState> {
        on_engine!(self, Store(pool) => jobs::state(pool, job, now).await)
    }

    pub async fn set_job_paused(&self, job: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
        on_engine!(self, Store(pool) => jobs::set_paused(pool, job, paused, now).await)
    }

    /// Takes the job's lease until `expires`, unless another holder's lease is still live.
    /// `Ok(None)`: taken. `Ok(Some(holder))`: someone else holds it.
    pub async fn take_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Option<String>> {
        on_engine!(self, Store(pool) => jobs::take_lease(pool, job, holder, now, expires).await)
    }

    /// Who holds the job's lease, if anyone's lease is live at `now`.
    pub async fn job_lease_holder(&self, job: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        on_engine!(self, Store(pool) => jobs::lease_holder(pool, job, now).await)
    }

    /// Extends a lease this holder has; false when it has lost it.
    pub async fn renew_job_lease(&self, job: &str, holder: &str, expires: DateTime<Utc>) -> Result<bool> {
        on_engine!(self, Store(pool) => jobs::renew_lease(pool, job, holder, expires).await)
    }

    pub async fn release_job_lease(&self, job: &str, holder: &str) -> Result<()> {
        on_engine!(self, Store(pool) => jobs::release_lease(pool, job, holder).await)
    }

    pub async fn insert_job_run(&self, run: NewRun<'_>) -> Result<i64> {
        on_engine!(self, Store(pool) => jobs::insert_run(pool, run).await)
    }

    /// Notes a failed attempt that will be retried.
    pub async fn note_job_attempt(&self, id: i64, attempt: u32, error: &str) -> Result<()> {
        on_engine!(self, Store(pool) => jobs::note_attempt(pool, id, attempt, error).await)
    }

    pub async fn finish_job_run(
        &self,
        id: i64,
        status: &str,
        finished_at: DateTime<Utc>,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        on_engine!(self, Store(pool) => jobs::finish_run(pool, id, status, finished_at, summary, error).await)
    }

    pub async fn record_passed_slots(&self, passed: PassedSlots<'_>) -> Result<()> {
        on_engine!(self, Store(pool) => jobs::record_passed(pool, passed).await)
    }

    /// Marks `running` rows whose process no longer holds the job's lease as failed; returns them.
    pub async fn fail_interrupted_runs(&self, now: DateTime<Utc>) -> Result<Vec<JobRun>> {
        on_engine!(self, Store(pool) => jobs::fail_interrupted(pool, now).await)
    }
}
