//! The scheduler's tables: run history, leases (one run of a job at a time,
//! across processes) and per-job state (paused, watched since).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Store;
use crate::Result;

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
