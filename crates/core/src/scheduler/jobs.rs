//! The jobs. Each is a plain async function that calls the same operation the
//! CLI and the desktop app call, as the `scheduler` actor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use age::secrecy::SecretString;
use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::config::{Config, JobSchedule};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::ops::backup::{Backups, previous_month};
use crate::ops::maintenance::{
    Hooks as MaintenanceHooks, Maintenance, Options as MaintenanceOptions, Outcome as MaintenanceOutcome,
};
use crate::ops::retention::{Outcome as RetentionOutcome, Retention, RunHooks};
use crate::ops::{Cancel, NoProgress};
use crate::store::Store;

/// A boxed future, so jobs can be stored side by side.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a job needs. Cheap to clone: everything is shared.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<dyn EventSink>,
    /// Set when the scheduler is stopping: long jobs stop at their next batch.
    pub cancel: Cancel,
    /// The backup passphrase, when backups are encrypted.
    pub passphrase: Option<Arc<SecretString>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext").field("store", &self.store).field("clock", &self.clock).finish_non_exhaustive()
    }
}

impl JobContext {
    /// What jobs share, wired from the config once for every shell: the backup passphrase is
    /// read here ([`crate::ops::backup::passphrase`]), so a bad passphrase file stops start-up
    /// with its reason instead of failing the first backup at night.
    pub fn new(store: Store, config: Arc<Config>, clock: Arc<dyn Clock>, events: Arc<dyn EventSink>) -> Result<Self> {
        let passphrase = crate::ops::backup::passphrase(&config.backup)?.map(Arc::new);
        Ok(JobContext { store, config, clock, events, cancel: Cancel::new(), passphrase })
    }

    pub fn backups(&self) -> Backups<'_> {
        Backups::new(&self.store, &self.config, self.clock.as_ref(), self.passphrase.as_deref(), self.events.as_ref())
    }
}

/// How a run ended, when it did not fail with an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Ok,
    /// Nothing to do, and why (in the summary).
    Skipped,
    /// Stopped at a safe point because the scheduler is stopping.
    Cancelled,
    /// The job ran and found a problem (a backup that fails verification): recorded as failed, not retried.
    Problem(String),
}

/// A run's result: how it ended and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub finish: Finish,
    pub summary: serde_json::Value,
}

impl Outcome {
    fn ok(summary: serde_json::Value) -> Outcome {
        Outcome { finish: Finish::Ok, summary }
    }

    fn skipped(reason: &str) -> Outcome {
        Outcome { finish: Finish::Skipped, summary: json!({ "reason": reason }) }
    }
}

/// A job's body.
pub type JobFn = Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<Outcome>> + Send + Sync>;

/// The jobs chatkeep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobName {
    Snapshot,
    Archive,
    Retention,
    Maintenance,
    Verify,
    Prune,
    Gdpr,
}

impl JobName {
    pub const ALL: [JobName; 7] = [
        JobName::Snapshot,
        JobName::Archive,
        JobName::Retention,
        JobName::Maintenance,
        JobName::Verify,
        JobName::Prune,
        JobName::Gdpr,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobName::Snapshot => "snapshot",
            JobName::Archive => "archive",
            JobName::Retention => "retention",
            JobName::Maintenance => "maintenance",
            JobName::Verify => "verify",
            JobName::Prune => "prune",
            JobName::Gdpr => "gdpr",
        }
    }

    /// What the job does, in a few words.
    pub fn about(self) -> &'static str {
        match self {
            JobName::Snapshot => "daily snapshot of the whole database",
            JobName::Archive => "monthly archive of the previous month",
            JobName::Retention => "expire and purge what outlived its policy",
            JobName::Maintenance => "database upkeep inside maintenance.window, and the day's storage sample",
            JobName::Verify => "re-verify every backup",
            JobName::Prune => "delete backups beyond the keep counts (after each backup)",
            JobName::Gdpr => "notify GDPR requests due soon (gdpr.due_soon_days) or overdue",
        }
    }

    pub fn parse(text: &str) -> Result<JobName> {
        let text = text.trim().to_ascii_lowercase();
        JobName::ALL.into_iter().find(|j| j.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = JobName::ALL.iter().map(|j| j.as_str()).collect();
            Error::invalid(format!("unknown job {text:?}: the jobs are {}", names.join(", ")))
        })
    }

    /// The job's schedule from the settings; `None` for jobs that only follow others (prune).
    pub fn schedule(self, config: &Config) -> Option<&JobSchedule> {
        let s = &config.scheduler;
        match self {
            JobName::Snapshot => Some(&s.snapshot),
            JobName::Archive => Some(&s.archive),
            JobName::Retention => Some(&s.retention),
            JobName::Maintenance => Some(&s.maintenance),
            JobName::Verify => Some(&s.verify),
            JobName::Gdpr => Some(&s.gdpr),
            JobName::Prune => None,
        }
    }

    /// Jobs that write a backup; pruning follows each of their successful runs.
    pub fn makes_backups(self) -> bool {
        matches!(self, JobName::Snapshot | JobName::Archive)
    }

    /// The built-in body of the job.
    pub fn body(self) -> JobFn {
        match self {
            JobName::Snapshot => Arc::new(|ctx| Box::pin(snapshot(ctx))),
            JobName::Archive => Arc::new(|ctx| Box::pin(archive(ctx))),
            // The retention run's future is Send, but rustc cannot prove it through its borrows
            // (rust-lang/rust#110338); it runs on a blocking thread of the same runtime instead.
            JobName::Retention => Arc::new(|ctx| {
                Box::pin(async move {
                    let runtime = tokio::runtime::Handle::current();
                    tokio::task::spawn_blocking(move || runtime.block_on(retention(ctx)))
                        .await
                        .map_err(|e| Error::invalid(format!("the retention run stopped unexpectedly: {e}")))?
                })
            }),
            JobName::Maintenance => Arc::new(|ctx| Box::pin(maintenance(ctx))),
            JobName::Verify => Arc::new(|ctx| Box::pin(verify(ctx))),
            JobName::Prune => Arc::new(|ctx| Box::pin(prune(ctx))),
            JobName::Gdpr => Arc::new(|ctx| Box::pin(gdpr(ctx))),
        }
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const BACKUPS_OFF: &str = "backups are switched off (backup.enabled = false / CHAT_BACKUP_ENABLED)";

async fn snapshot(ctx: JobContext) -> Result<Outcome> {
    if !ctx.config.backup.enabled {
        return Ok(Outcome::skipped(BACKUPS_OFF));
    }
    let row = ctx.backups().snapshot(false, Actor::Scheduler, &NoProgress, &ctx.cancel).await?;
    Ok(Outcome::ok(json!({ "backup": row.id, "file": row.file_name, "bytes": row.size_bytes })))
}

async fn archive(ctx: JobContext) -> Result<Outcome> {
    if !ctx.config.backup.enabled {
        return Ok(Outcome::skipped(BACKUPS_OFF));
    }
    let month = previous_month(ctx.clock.now(), ctx.config.timezone);
    let backups = ctx.backups();
    let listing = backups.list().await?;
    let done = listing.backups.iter().find(|l| {
        let b = &l.backup;
        b.kind == "archive" && b.year == Some(month.year) && b.month == Some(month.month) && b.status == "verified"
    });
    if let Some(done) = done {
        let summary = json!({ "month": month.to_string(), "already_archived": done.backup.id });
        return Ok(Outcome { finish: Finish::Skipped, summary });
    }
    let row = backups.archive(month, false, Actor::Scheduler, &NoProgress, &ctx.cancel).await?;
    Ok(Outcome::ok(json!({
        "month": month.to_string(), "backup": row.id, "file": row.file_name, "bytes": row.size_bytes
    })))
}

async fn retention(ctx: JobContext) -> Result<Outcome> {
    let retention = Retention {
        store: &ctx.store,
        settings: &ctx.config.retention,
        tz: ctx.config.timezone,
        clock: ctx.clock.as_ref(),
    };
    let hooks = RunHooks { progress: &NoProgress, events: ctx.events.as_ref(), cancel: &ctx.cancel };
    let report = retention.run(Actor::Scheduler, hooks).await?;
    let summary = json!({
        "mode": report.mode,
        "outcome": report.outcome,
        "expired": report.expired,
        "purged": report.purged,
        "archived": report.archived,
        "blocked_months": report.blocked.months.iter().map(|m| m.month.clone()).collect::<Vec<_>>(),
        "problems": report.problems,
        "summary": report.summary(),
    });
    let finish = match report.outcome {
        RetentionOutcome::Completed => Finish::Ok,
        RetentionOutcome::Cancelled => Finish::Cancelled,
        RetentionOutcome::Failed => Finish::Problem(report.summary()),
    };
    Ok(Outcome { finish, summary })
}

async fn maintenance(ctx: JobContext) -> Result<Outcome> {
    let maintenance = Maintenance {
        store: &ctx.store,
        settings: &ctx.config.maintenance,
        tz: ctx.config.timezone,
        clock: ctx.clock.as_ref(),
    };
    let window = maintenance.window();
    if !window.inside {
        // The day's storage sample is cheap and keeps the growth chart whole, window or not.
        let sample = match maintenance.take_sample().await {
            Ok(sample) => json!(sample),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let summary = json!({ "reason": window.skip_reason(), "window": window, "sample": sample });
        return Ok(Outcome { finish: Finish::Skipped, summary });
    }
    let hooks = MaintenanceHooks { progress: &NoProgress, events: ctx.events.as_ref(), cancel: &ctx.cancel };
    let report = maintenance.run(MaintenanceOptions::default(), Actor::Scheduler, hooks).await?;
    let finish = match report.outcome {
        MaintenanceOutcome::Completed | MaintenanceOutcome::Planned => Finish::Ok,
        MaintenanceOutcome::Cancelled => Finish::Cancelled,
        MaintenanceOutcome::Problems | MaintenanceOutcome::IntegrityFailed => Finish::Problem(report.summary()),
    };
    Ok(Outcome { finish, summary: report.run_summary() })
}

async fn verify(ctx: JobContext) -> Result<Outcome> {
    let all = ctx.backups().verify_all(Actor::Scheduler).await?;
    let failed: Vec<String> = all
        .results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("backup {} ({}): {}", r.id, r.file_name, r.problems.join("; ")))
        .collect();
    let summary = json!({
        "verified": all.results.iter().filter(|r| r.ok).count(),
        "failed": failed.len(),
        "skipped": all.skipped.iter().map(|(id, why)| json!({ "backup": id, "reason": why })).collect::<Vec<_>>(),
    });
    let finish = if failed.is_empty() { Finish::Ok } else { Finish::Problem(failed.join(" | ")) };
    Ok(Outcome { finish, summary })
}

async fn prune(ctx: JobContext) -> Result<Outcome> {
    let pruned = ctx.backups().prune(false, Actor::Scheduler).await?;
    Ok(Outcome::ok(json!({
        "deleted": pruned.len(),
        "files": pruned.iter().map(|p| p.file_name.clone()).collect::<Vec<_>>(),
    })))
}

async fn gdpr(ctx: JobContext) -> Result<Outcome> {
    let now = ctx.clock.now();
    let within = i64::from(ctx.config.gdpr.due_soon_days);
    let due = crate::ops::gdpr::requests_due(&ctx.store, now, within).await?;
    let tz = ctx.config.timezone;
    for request in &due {
        ctx.events.emit(crate::events::Event::RequestDue {
            request: request.id,
            kind: request.kind.to_string(),
            due: request.due_at.with_timezone(&tz).format("%Y-%m-%d").to_string(),
            overdue: request.overdue,
        });
    }
    Ok(Outcome::ok(json!({
        "due_soon": due.iter().filter(|r| !r.overdue).count(),
        "overdue": due.iter().filter(|r| r.overdue).count(),
        "requests": due.iter().map(|r| r.id).collect::<Vec<_>>(),
    })))
}
