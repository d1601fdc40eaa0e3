//! `chatkeep jobs`: the schedule, run history, pause/resume, and running a job now.

use std::process::ExitCode;
use std::sync::Arc;

use chatkeep_core::domain::Actor;
use chatkeep_core::notify::Notifiers;
use chatkeep_core::ops::Cancel;
use chatkeep_core::scheduler::{JobContext, JobName, JobStatus, Scheduler, TokioSleeper};
use chatkeep_core::store::jobs::JobRun;
use chatkeep_core::{Clock, Store};
use clap::Subcommand;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Every job: its schedule, next run (local time), last run, and any failed or missed run.
    List,
    /// Run a job now, recorded like a scheduled run (trigger `manual`).
    Run {
        /// snapshot, archive, retention, maintenance, verify, prune or gdpr.
        job: String,
    },
    /// Past runs, newest first: all jobs, or one.
    History {
        job: Option<String>,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Pause one job, or the whole schedule (no job named). Paused times are recorded as skipped.
    Pause { job: Option<String> },
    /// Resume one job, or the whole schedule.
    Resume { job: Option<String> },
}

/// The scheduler over the configured jobs, its notifiers, for this process.
pub fn scheduler(ctx: &Context, store: Store, cancel: Cancel) -> anyhow::Result<(Scheduler, Arc<Notifiers>)> {
    let notifiers = Arc::new(Notifiers::from_settings(&ctx.config.notify));
    let clock: Arc<dyn Clock> = Arc::new(ctx.clock);
    let job_context =
        JobContext { cancel, ..JobContext::new(store, Arc::new(ctx.config.clone()), clock, notifiers.clone())? };
    Ok((Scheduler::new(job_context, Arc::new(TokioSleeper))?, notifiers))
}

pub async fn run(ctx: &Context, command: JobsCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let (scheduler, notifiers) = scheduler(ctx, store.clone(), Cancel::new())?;
    let code = match command {
        JobsCommand::List => {
            let jobs = scheduler.overview().await?;
            let all_paused = scheduler.all_paused().await?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({ "schedule_paused": all_paused, "jobs": jobs }))?;
            } else {
                print_overview(&jobs, all_paused, ctx.config.timezone);
            }
            ExitCode::SUCCESS
        }
        JobsCommand::Run { job } => {
            let name = JobName::parse(&job)?;
            scheduler.start().await?;
            let runs = scheduler.run_now(name).await?;
            if ctx.json {
                ctx.print_json(&runs)?;
            } else {
                print_runs(&runs);
            }
            if runs.iter().any(|r| r.status == "failed") { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        JobsCommand::History { job, limit } => {
            let name = job.as_deref().map(JobName::parse).transpose()?;
            let runs = store.job_runs(name.map(JobName::as_str), i64::from(limit.max(1))).await?;
            if ctx.json {
                ctx.print_json(&runs)?;
            } else if runs.is_empty() {
                say!("No runs recorded yet.");
            } else {
                print_runs(&runs);
            }
            ExitCode::SUCCESS
        }
        JobsCommand::Pause { job } => pause(ctx, &scheduler, job, true).await?,
        JobsCommand::Resume { job } => pause(ctx, &scheduler, job, false).await?,
    };
    notifiers.flush(std::time::Duration::from_secs(15));
    store.close().await;
    Ok(code)
}

async fn pause(ctx: &Context, scheduler: &Scheduler, job: Option<String>, paused: bool) -> anyhow::Result<ExitCode> {
    let name = job.as_deref().map(JobName::parse).transpose()?;
    scheduler.set_paused(name, paused, Actor::Cli).await?;
    let what = name.map_or("the whole schedule".to_string(), |n| format!("job {n}"));
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "job": name, "paused": paused }))?;
    } else if paused {
        say!("Paused {what}. Its times are recorded as skipped until `chatkeep jobs resume`.");
    } else {
        say!("Resumed {what}.");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_overview(jobs: &[JobStatus], all_paused: bool, timezone: chrono_tz::Tz) {
    if all_paused {
        say!("The whole schedule is PAUSED (chatkeep jobs resume).\n");
    }
    say!("{:<12} {:<14} {:<24} {:<22} LAST RUN", "JOB", "SCHEDULE", "WHEN", "NEXT RUN");
    for job in jobs {
        let schedule = job.schedule.clone().unwrap_or_else(|| "-".into());
        let next =
            if job.paused { "paused".to_string() } else { job.next_run_local.clone().unwrap_or_else(|| "-".into()) };
        let last = job.last_run.as_ref().map_or("never".to_string(), describe_run);
        say!("{:<12} {:<14} {:<24} {:<22} {last}", job.job.as_str(), schedule, shorten(&job.schedule_text, 24), next);
        if let Some(failed) = &job.failing {
            say!("{:<12} ! failing: {}", "", describe_run(failed));
        }
        if let Some(missed) = &job.last_missed {
            let when = missed.scheduled_for.as_deref().and_then(chatkeep_core::time::from_db).map_or_else(
                || "-".to_string(),
                |t| t.with_timezone(&timezone).format("%Y-%m-%d %H:%M %Z").to_string(),
            );
            let times = if job.missed_last_7_days == 1 {
                "once".to_string()
            } else {
                format!("{} times", job.missed_last_7_days)
            };
            say!(
                "{:<12} ! missed {times} in the last 7 days (latest {when}); see chatkeep jobs history {}",
                "",
                job.job
            );
        }
    }
    if let Some(job) = jobs.first() {
        say!(
            "\nTimes are in {}. Missed runs are caught up once at start unless a job's catch-up is `skip`.",
            job.timezone
        );
    }
}

fn describe_run(run: &JobRun) -> String {
    let when = run.started_at.as_deref().or(run.scheduled_for.as_deref()).unwrap_or("-");
    let mut text = format!("{} {when}", run.status);
    if run.trigger != "schedule" {
        text.push_str(&format!(" ({})", run.trigger.replace('_', "-")));
    }
    if let Some(error) = &run.error {
        text.push_str(&format!(": {error}"));
    }
    text
}

fn print_runs(runs: &[JobRun]) {
    say!("{:<6} {:<12} {:<10} {:<9} {:<25} {:<25} DETAILS", "RUN", "JOB", "STATUS", "TRIGGER", "SCHEDULED", "FINISHED");
    for run in runs {
        let details = match (&run.error, &run.summary) {
            (Some(error), _) => error.clone(),
            (None, Some(summary)) => summary.clone(),
            (None, None) => String::new(),
        };
        say!(
            "{:<6} {:<12} {:<10} {:<9} {:<25} {:<25} {}",
            run.id,
            run.job,
            run.status,
            run.trigger.replace('_', "-"),
            run.scheduled_for.as_deref().unwrap_or("-"),
            run.finished_at.as_deref().unwrap_or("-"),
            details
        );
    }
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}
