//! The scheduler: runs each job when its cron expression says, in the
//! configured time zone, and makes every run, miss and failure visible.
//!
//! - Every run is a `job_runs` row: scheduled time, start, end, status
//!   (`ok | failed | skipped | missed | cancelled`), a summary and the error.
//! - Times that passed while chatkeep was not running (closed, the machine
//!   asleep, the clock jumping) are found from the newest recorded time and
//!   the schedule. They are recorded as `missed` and notified; then, per job,
//!   the job runs once now (`run_once`, the default) or waits (`skip`).
//! - A job never overlaps itself, even across processes: a lease row with an
//!   expiry, renewed while the job runs, so a crash blocks nothing for long.
//! - Passing failures (a busy database, an I/O hiccup) are retried with
//!   growing, jittered pauses up to a limit; then the run is `failed` and notified.
//! - Pause and resume, of one job or the whole schedule, are stored in the database.

pub mod jobs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::clock::FixedClock;
use crate::config::CatchUp;
pub use crate::domain::schedule::Schedule;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::jobs::{JobRun, NewRun, PassedSlots};
pub use jobs::{BoxFuture, Finish, JobContext, JobFn, JobName, Outcome};

/// The whole schedule's pause switch is stored under this name.
const ALL_JOBS: &str = "*";
/// How long a lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(120);
/// How often a running job's lease is renewed.
const LEASE_RENEWAL: Duration = Duration::from_secs(30);
/// The longest the run loop sleeps before it looks at the clock (and the stop signal) again.
const LOOP_STEP: Duration = Duration::from_secs(1);
/// A gap between two looks at the clock this much longer than the loop slept
/// means the machine slept or the clock was set forward.
const CLOCK_JUMP: chrono::Duration = chrono::Duration::seconds(60);

/// Waits. The real one sleeps; a test one moves a [`FixedClock`] instead.
pub trait Sleeper: Send + Sync + std::fmt::Debug {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Moves a fixed clock forward instead of sleeping: a day of schedule in milliseconds.
#[derive(Debug, Clone)]
pub struct ClockSleeper(pub Arc<FixedClock>);

impl Sleeper for ClockSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.0.advance(chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero()));
        Box::pin(tokio::task::yield_now())
    }
}

struct Job {
    name: JobName,
    schedule: Option<Schedule>,
    catch_up: CatchUp,
    body: JobFn,
}

/// One job in `jobs list`.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub job: JobName,
    pub about: &'static str,
    /// The cron expression; `None` when off or when the job follows others.
    pub schedule: Option<String>,
    /// The schedule in words, or what the job follows.
    pub schedule_text: String,
    pub timezone: String,
    pub catch_up: CatchUp,
    /// Paused itself, or through the whole schedule.
    pub paused: bool,
    pub next_run: Option<String>,
    /// The next run in the configured zone, for people.
    pub next_run_local: Option<String>,
    pub last_run: Option<JobRun>,
    /// The newest failed run, when no good run came after it.
    pub failing: Option<JobRun>,
    /// Times missed in the last 7 days (caught up or not), and the newest of them.
    pub missed_last_7_days: u64,
    pub last_missed: Option<JobRun>,
}

/// What one look at the schedule did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// Runs started (their ids).
    pub runs: Vec<i64>,
    /// Times recorded as missed.
    pub missed: u64,
    /// Times recorded as skipped (paused, or covered by a later run).
    pub skipped: u64,
}

/// When this process was busy running a job: times that came due then are late, not missed.
#[derive(Debug, Clone, Copy)]
struct Busy {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Counts a run in progress for as long as it lives.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a AtomicUsize) -> Running<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs the jobs. One per process; more than one process may share a database.
pub struct Scheduler {
    ctx: JobContext,
    jobs: Vec<Job>,
    holder: String,
    sleeper: Arc<dyn Sleeper>,
    busy: Mutex<Vec<Busy>>,
    /// Runs going on in this process now: scheduled ones and `run_now` calls (a tray
    /// click), so that quitting can wait for all of them, not only for the run loop.
    running: AtomicUsize,
    /// The next time each job is due, as this process last worked it out.
    next_due: Mutex<HashMap<JobName, Option<DateTime<Utc>>>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("holder", &self.holder).finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler for the configured jobs. `ctx.cancel` is its stop signal.
    pub fn new(ctx: JobContext, sleeper: Arc<dyn Sleeper>) -> Result<Scheduler> {
        let tz = ctx.config.timezone;
        let mut jobs = Vec::new();
        for name in JobName::ALL {
            let (schedule, catch_up) = match name.schedule(&ctx.config) {
                Some(setting) => {
                    let schedule = match &setting.cron {
                        Some(text) => Some(
                            Schedule::parse(text, tz).map_err(|e| Error::invalid(format!("scheduler.{name}: {e}")))?,
                        ),
                        None => None,
                    };
                    (schedule, setting.catch_up)
                }
                None => (None, CatchUp::Skip),
            };
            jobs.push(Job { name, schedule, catch_up, body: name.body() });
        }
        let holder = format!("{}@{}/{:08x}", std::process::id(), hostname(), rand::random::<u32>());
        Ok(Scheduler {
            ctx,
            jobs,
            holder,
            sleeper,
            busy: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            next_due: Mutex::new(HashMap::new()),
        })
    }

    /// Puts another body in place of a job's own (the desktop app's hooks, tests).
    pub fn replace_body(&mut self, name: JobName, body: JobFn) {
        if let Some(job) = self.jobs.iter_mut().find(|j| j.name == name) {
            job.body = body;
        }
    }

    /// Who this scheduler is in leases and run rows: `pid@host/random`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Asks the running job to stop at its next safe point and the run loop to end.
    pub fn stop(&self) {
        self.ctx.cancel.cancel();
    }

    /// Waits until no job runs in this process (after [`Scheduler::stop`], each stops at
    /// its next safe point and is recorded), at most `limit`. False if one was still running.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.running.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    fn now(&self) -> DateTime<Utc> {
        crate::time::truncate_to_millis(self.ctx.clock.now())
    }

    fn job(&self, name: JobName) -> &Job {
        // Every name has a job: `new` makes one for each.
        self.jobs.iter().find(|j| j.name == name).unwrap_or(&self.jobs[0])
    }

    /// Call once when the process starts: runs left `running` by a process that
    /// stopped are marked failed (and notified); each job's watch starts if new.
    pub async fn start(&self) -> Result<Vec<JobRun>> {
        let now = self.now();
        let interrupted = self.ctx.store.fail_interrupted_runs(now).await?;
        for run in &interrupted {
            self.ctx.events.emit(Event::JobFailed {
                job: run.job.clone(),
                attempts: u32::try_from(run.attempt).unwrap_or(1),
                error: run.error.clone().unwrap_or_default(),
            });
        }
        self.ctx.store.job_state(ALL_JOBS, now).await?;
        for job in &self.jobs {
            self.ctx.store.job_state(job.name.as_str(), now).await?;
        }
        Ok(interrupted)
    }

    /// Looks at every job once and runs what is due (and catches up what was missed).
    pub async fn tick(&self) -> Result<TickReport> {
        let mut report = TickReport::default();
        for name in JobName::ALL {
            if self.ctx.cancel.is_cancelled() {
                break;
            }
            self.tick_job(name, &mut report).await?;
        }
        Ok(report)
    }

    /// Runs the schedule until [`Scheduler::stop`]: each job when it is due, missed
    /// times caught up (at start and after the machine sleeps).
    pub async fn run_until_stopped(&self) -> Result<()> {
        self.start().await?;
        let mut last_look = self.now();
        let mut slept = Duration::ZERO;
        while !self.ctx.cancel.is_cancelled() {
            let now = self.now();
            let expected = last_look + chrono::Duration::from_std(slept).unwrap_or_default();
            if now - expected > CLOCK_JUMP {
                tracing::warn!(
                    jumped_seconds = (now - expected).num_seconds(),
                    "the clock moved forward while chatkeep waited (the machine slept, or the time was set); \
                     looking for missed runs"
                );
            } else if expected - now > CLOCK_JUMP {
                tracing::warn!(
                    jumped_seconds = (expected - now).num_seconds(),
                    "the clock moved backwards; runs already recorded are not repeated"
                );
            }
            last_look = now;
            let mut report = TickReport::default();
            let mut soonest: Option<DateTime<Utc>> = None;
            for name in JobName::ALL {
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                match self.due_at(name).await {
                    Ok(Some(due)) if due <= now => {
                        if let Err(e) = self.tick_job(name, &mut report).await {
                            tracing::error!(job = %name, error = %e, "the scheduler could not run a job; it tries again");
                            // Do not spin on a persistent error: look again after the next step.
                            self.set_due(name, Some(now + chrono::Duration::seconds(30)));
                        }
                    }
                    Ok(Some(due)) => soonest = Some(soonest.map_or(due, |s| s.min(due))),
                    Ok(None) => {}
                    Err(e) => tracing::error!(job = %name, error = %e, "cannot read the job's schedule state"),
                }
            }
            if report.runs.is_empty() {
                let until = soonest.map_or(LOOP_STEP, |s| (s - self.now()).to_std().unwrap_or(Duration::ZERO));
                slept = until.min(LOOP_STEP);
                self.sleeper.sleep(slept).await;
            } else {
                // Time went by while jobs ran; that is not a jump.
                last_look = self.now();
                slept = Duration::ZERO;
            }
        }
        Ok(())
    }

    /// When the job is next due, from the newest recorded time (cached per process).
    async fn due_at(&self, name: JobName) -> Result<Option<DateTime<Utc>>> {
        if let Some(due) = self.next_due.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&name) {
            return Ok(*due);
        }
        let Some(schedule) = &self.job(name).schedule else {
            self.set_due(name, None);
            return Ok(None);
        };
        let anchor = self.anchor(name).await?;
        let due = schedule.next_after(anchor);
        self.set_due(name, due);
        Ok(due)
    }

    fn set_due(&self, name: JobName, due: Option<DateTime<Utc>>) {
        self.next_due.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name, due);
    }

    /// The newest time of the schedule that has a row, or when watching began.
    async fn anchor(&self, name: JobName) -> Result<DateTime<Utc>> {
        let now = self.now();
        let state = self.ctx.store.job_state(name.as_str(), now).await?;
        let since = crate::time::from_db(&state.watched_since).unwrap_or(now);
        let last = self.ctx.store.last_scheduled_slot(name.as_str()).await?;
        Ok(last.map_or(since, |l| l.max(since)))
    }

    async fn tick_job(&self, name: JobName, report: &mut TickReport) -> Result<()> {
        let job = self.job(name);
        let Some(schedule) = &job.schedule else {
            return Ok(());
        };
        let now = self.now();
        // Cheap look first: most of the time nothing is due.
        let anchor = self.anchor(name).await?;
        if schedule.next_after(anchor).is_none_or(|next| next > now) {
            self.set_due(name, schedule.next_after(anchor));
            return Ok(());
        }
        let Some(lease) = self.lease(name).await? else {
            // Another process is on it; look again later.
            self.set_due(name, Some(now + chrono::Duration::from_std(LOOP_STEP * 5).unwrap_or_default()));
            return Ok(());
        };
        let result = self.tick_job_leased(job, schedule, report).await;
        lease.release().await;
        let anchor = self.anchor(name).await?;
        self.set_due(name, schedule.next_after(anchor.max(self.now())));
        result
    }

    async fn tick_job_leased(&self, job: &Job, schedule: &Schedule, report: &mut TickReport) -> Result<()> {
        let name = job.name.as_str();
        let store = &self.ctx.store;
        let now = self.now();
        // Under the lease, look again: another process may have just handled these times.
        let slots = schedule.between(self.anchor(job.name).await?, now);
        let Some((&latest, older)) = slots.split_last() else {
            return Ok(());
        };
        let paused = store.job_state(name, now).await?.paused || store.job_state(ALL_JOBS, now).await?.paused;
        if paused {
            let reason = "paused (chatkeep jobs resume)";
            store.record_passed_slots(PassedSlots { job: name, slots: &slots, status: "skipped", reason, now }).await?;
            report.skipped += slots.len() as u64;
            return Ok(());
        }

        let late = chrono::Duration::minutes(i64::from(self.ctx.config.scheduler.late_minutes));
        let busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let on_time = |slot: DateTime<Utc>| now - slot <= late || busy.iter().any(|b| slot >= b.from && slot <= b.to);
        let (superseded, missed): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) =
            older.iter().copied().partition(|slot| on_time(*slot));
        let latest_on_time = on_time(latest);
        let mut missed = missed;
        if !latest_on_time {
            missed.push(latest);
        }
        if !superseded.is_empty() {
            let reason = "a later run of the job covered this time (chatkeep was busy with other jobs)";
            store
                .record_passed_slots(PassedSlots { job: name, slots: &superseded, status: "skipped", reason, now })
                .await?;
            report.skipped += superseded.len() as u64;
        }
        let catch_up = !latest_on_time && job.catch_up == CatchUp::RunOnce;
        if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
            let reason = match (latest_on_time, catch_up) {
                (true, _) => "chatkeep was not running at this time; the job ran at its next time",
                (false, true) => "chatkeep was not running at this time; the job ran once when it started",
                (false, false) => {
                    "chatkeep was not running at this time; the job waits for its next time (catch-up: skip)"
                }
            };
            store.record_passed_slots(PassedSlots { job: name, slots: &missed, status: "missed", reason, now }).await?;
            report.missed += missed.len() as u64;
            let tz = self.ctx.config.timezone;
            let local = |t: &DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
            tracing::warn!(job = name, missed = missed.len(), first = %local(first), last = %local(last), "missed runs found");
            self.ctx.events.emit(Event::JobMissed {
                job: name.to_string(),
                missed: missed.len() as u64,
                first: local(first),
                last: local(last),
                // The job runs now either way when its latest time is on time.
                caught_up: catch_up || latest_on_time,
            });
        }
        if latest_on_time {
            report.runs.extend(self.execute(job, Some(latest), "schedule").await?);
        } else if catch_up {
            report.runs.extend(self.execute(job, Some(latest), "catch_up").await?);
        }
        Ok(())
    }

    /// Runs a job now, recorded like a scheduled run (trigger `manual`). Refused
    /// while another run of the job is going on, in this process or another.
    pub async fn run_now(&self, name: JobName) -> Result<Vec<JobRun>> {
        // Counted until the runs are read back, so a quit that waits for it closes nothing under it.
        let _running = Running::start(&self.running);
        let Some(lease) = self.lease(name).await? else {
            let holder = self.lease_holder(name).await?;
            return Err(Error::invalid(format!(
                "job {name} is running now (in chatkeep process {holder}); wait for it to finish \
                 (chatkeep jobs history {name})"
            )));
        };
        let ids = self.execute(self.job(name), None, "manual").await;
        lease.release().await;
        let ids = ids?;
        let mut runs = Vec::new();
        for run in self.ctx.store.job_runs(None, 20).await? {
            if ids.contains(&run.id) {
                runs.push(run);
            }
        }
        runs.reverse();
        Ok(runs)
    }

    async fn lease_holder(&self, name: JobName) -> Result<String> {
        let holder = self.ctx.store.job_lease_holder(name.as_str(), self.now()).await?;
        Ok(holder.unwrap_or_else(|| "another process".into()))
    }

    /// Takes the job's lease, or `None` when another process holds it.
    async fn lease(&self, name: JobName) -> Result<Option<Lease>> {
        let now = self.now();
        let expires = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        if self.ctx.store.take_job_lease(name.as_str(), &self.holder, now, expires).await?.is_some() {
            return Ok(None);
        }
        // Renew while held: a long job keeps its lease, a crashed process loses it within LEASE.
        let store = self.ctx.store.clone();
        let clock = self.ctx.clock.clone();
        let (job, holder) = (name.as_str().to_string(), self.holder.clone());
        let renewer = tokio::spawn(async move {
            let mut every = tokio::time::interval(LEASE_RENEWAL);
            every.tick().await;
            loop {
                every.tick().await;
                let expires = clock.now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
                match store.renew_job_lease(&job, &holder, expires).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job, "the job's lease was lost; another process may start it"),
                    Err(e) => tracing::warn!(job, error = %e, "cannot renew the job's lease"),
                }
            }
        });
        Ok(Some(Lease { store: self.ctx.store.clone(), job: name, holder: self.holder.clone(), renewer }))
    }

    /// Runs a job (with retries), then pruning after a backup; returns the run ids.
    async fn execute(&self, job: &Job, slot: Option<DateTime<Utc>>, trigger: &str) -> Result<Vec<i64>> {
        let _running = Running::start(&self.running);
        let started = self.now();
        let (id, finish) = self.execute_one(job, slot, trigger).await?;
        let mut ids = vec![id];
        if job.name.makes_backups() && finish == Finish::Ok && !self.ctx.cancel.is_cancelled() {
            match self.lease(JobName::Prune).await? {
                Some(lease) => {
                    let pruned = self.execute_one(self.job(JobName::Prune), slot, trigger).await;
                    lease.release().await;
                    ids.push(pruned?.0);
                }
                None => tracing::info!("backup pruning is running in another process; not starting it twice"),
            }
        }
        let mut busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        busy.retain(|b| self.now() - b.to < chrono::Duration::days(1));
        busy.push(Busy { from: started, to: self.now() });
        Ok(ids)
    }

    async fn execute_one(&self, job: &Job, slot: Option<DateTime<Utc>>, trigger: &str) -> Result<(i64, Finish)> {
        let store = &self.ctx.store;
        let name = job.name.as_str();
        let id = store
            .insert_job_run(NewRun {
                job: name,
                scheduled_for: slot,
                started_at: self.now(),
                trigger,
                holder: &self.holder,
            })
            .await?;
        tracing::info!(job = name, run = id, trigger, "job started");
        // Notifications of this run carry the audit log's head (a record of it outside the database).
        match crate::audit::head(store).await {
            Ok(Some(head)) => self.ctx.events.note_audit_head(&head),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the audit log's head for notifications"),
        }
        let settings = &self.ctx.config.scheduler;
        let mut attempt = 1;
        let (status, summary, error, finish) = loop {
            match (job.body)(self.ctx.clone()).await {
                Ok(Outcome { finish, summary }) => {
                    let (status, error) = match &finish {
                        Finish::Ok => ("ok", None),
                        Finish::Skipped => ("skipped", None),
                        Finish::Cancelled => {
                            ("cancelled", Some("stopped at a safe point: chatkeep was stopping".into()))
                        }
                        Finish::Problem(problem) => ("failed", Some(problem.clone())),
                    };
                    break (status, summary, error, finish);
                }
                Err(e) if e.is_transient() && attempt < settings.max_attempts && !self.ctx.cancel.is_cancelled() => {
                    let pause = backoff(settings.retry_delay_seconds, attempt);
                    tracing::warn!(job = name, attempt, error = %e, retry_in_seconds = pause.as_secs(), "job failed; retrying");
                    store.note_job_attempt(id, attempt, &e.to_string()).await?;
                    self.sleeper.sleep(pause).await;
                    attempt += 1;
                    store.note_job_attempt(id, attempt, &e.to_string()).await?;
                }
                // chatkeep is stopping and the job gave up at a safe point (a backup says "cancelled"
                // as an error): that is a stop, not a failure to notify.
                Err(e) if self.ctx.cancel.is_cancelled() => {
                    let message = format!("stopped at a safe point: chatkeep was stopping ({e})");
                    break ("cancelled", json!({ "attempts": attempt }), Some(message), Finish::Cancelled);
                }
                Err(e) => {
                    let message = e.to_string();
                    break ("failed", json!({ "attempts": attempt }), Some(message.clone()), Finish::Problem(message));
                }
            }
        };
        let mut summary = summary;
        if let Some(fields) = summary.as_object_mut().filter(|_| attempt > 1) {
            fields.insert("attempts".into(), attempt.into());
        }
        store.finish_job_run(id, status, self.now(), &summary, error.as_deref()).await?;
        match (status, &error) {
            ("failed", Some(error)) => {
                tracing::error!(job = name, run = id, attempts = attempt, %error, "job failed");
                self.ctx.events.emit(Event::JobFailed {
                    job: name.to_string(),
                    attempts: attempt,
                    error: error.clone(),
                });
            }
            _ => tracing::info!(job = name, run = id, status, summary = %summary, "job finished"),
        }
        Ok((id, finish))
    }

    /// Pauses one job, or the whole schedule; stored, so it outlives a restart.
    /// Paused times are recorded as `skipped`, not caught up on resume.
    pub async fn set_paused(&self, job: Option<JobName>, paused: bool, actor: crate::domain::Actor) -> Result<()> {
        let name = job.map_or(ALL_JOBS, JobName::as_str);
        let now = self.now();
        self.ctx.store.set_job_paused(name, paused, now).await?;
        let mut tx = self.ctx.store.begin().await?;
        let action = if paused { "jobs.pause" } else { "jobs.resume" };
        crate::audit::append(&mut tx, now, crate::audit::AuditEntry::new(actor, action).target(name)).await?;
        Ok(tx.commit().await?)
    }

    /// Every job with its schedule, next run, last run and anything needing attention.
    pub async fn overview(&self) -> Result<Vec<JobStatus>> {
        let now = self.now();
        let tz = self.ctx.config.timezone;
        let all_paused = self.ctx.store.job_state(ALL_JOBS, now).await?.paused;
        let mut list = Vec::new();
        for job in &self.jobs {
            let name = job.name.as_str();
            let state = self.ctx.store.job_state(name, now).await?;
            let runs = self.ctx.store.job_runs(Some(name), 200).await?;
            let last_run = runs.first().cloned();
            let last_good = runs.iter().position(|r| r.status == "ok");
            let failing = runs
                .iter()
                .position(|r| r.status == "failed")
                .filter(|failed| last_good.is_none_or(|good| failed < &good))
                .map(|i| runs[i].clone());
            let week_ago = crate::time::to_db(now - chrono::Duration::days(7));
            let missed: Vec<&JobRun> = runs
                .iter()
                .filter(|r| r.status == "missed" && r.scheduled_for.as_deref().is_some_and(|s| s >= week_ago.as_str()))
                .collect();
            let next = job.schedule.as_ref().and_then(|s| s.next_after(now));
            let schedule_text = match (&job.schedule, job.name) {
                (_, JobName::Prune) => "after each snapshot and archive".to_string(),
                (Some(s), _) => s.describe(),
                (None, _) => "off".to_string(),
            };
            list.push(JobStatus {
                job: job.name,
                about: job.name.about(),
                schedule: job.schedule.as_ref().map(|s| s.text().to_string()),
                schedule_text,
                timezone: tz.name().to_string(),
                catch_up: job.catch_up,
                paused: state.paused || all_paused,
                next_run: next.map(crate::time::to_db),
                next_run_local: next.map(|n| n.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()),
                last_run,
                failing,
                missed_last_7_days: missed.len() as u64,
                last_missed: missed.first().map(|r| (*r).clone()),
            });
        }
        Ok(list)
    }

    /// Whether the whole schedule is paused.
    pub async fn all_paused(&self) -> Result<bool> {
        Ok(self.ctx.store.job_state(ALL_JOBS, self.now()).await?.paused)
    }
}

/// A held lease; released explicitly (a dropped one expires on its own).
struct Lease {
    store: crate::Store,
    job: JobName,
    holder: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.store.release_job_lease(self.job.as_str(), &self.holder).await {
            tracing::warn!(job = %self.job, error = %e, "cannot release the job's lease; it expires on its own");
        }
    }
}

/// The pause before retry `attempt + 1`: base × 2^(attempt−1), plus up to a quarter more at random.
fn backoff(base_seconds: u32, attempt: u32) -> Duration {
    let base = Duration::from_secs(u64::from(base_seconds)).saturating_mul(1 << (attempt - 1).min(16));
    let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
    base + jitter
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_at_most_a_quarter_of_jitter() {
        for attempt in 1..=4 {
            let pause = backoff(10, attempt);
            let base = Duration::from_secs(10 * (1 << (attempt - 1)));
            assert!(pause >= base && pause <= base.mul_f64(1.25), "attempt {attempt}: {pause:?} vs {base:?}");
        }
    }
}
