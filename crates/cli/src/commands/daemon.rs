//! `chatkeep daemon`: the scheduler, headless, until SIGTERM or SIGINT.

use std::process::ExitCode;
use std::time::Duration;

use chatkeep_core::ops::Cancel;
use clap::Args;

use crate::context::Context;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Run whatever is due (and catch up what was missed), then exit: for driving chatkeep from system cron.
    #[arg(long)]
    once: bool,
}

pub async fn run(ctx: &Context, args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store_creating().await?;
    let (scheduler, notifiers) = super::jobs::scheduler(ctx, store.clone(), Cancel::new())?;
    tracing::info!(
        holder = scheduler.holder(),
        database = %ctx.config.database_url,
        timezone = ctx.config.timezone.name(),
        once = args.once,
        "chatkeep daemon starting"
    );
    let code = if args.once {
        let interrupted = scheduler.start().await?;
        let report = scheduler.tick().await?;
        tracing::info!(
            runs = report.runs.len(),
            missed = report.missed,
            skipped = report.skipped,
            interrupted = interrupted.len(),
            "chatkeep daemon --once done"
        );
        if ctx.json {
            ctx.print_json(&report)?;
        }
        ExitCode::SUCCESS
    } else {
        let limit = Duration::from_secs(u64::from(ctx.config.scheduler.stop_timeout_seconds));
        let running = scheduler.run_until_stopped();
        tokio::pin!(running);
        tokio::select! {
            result = &mut running => {
                result?;
                ExitCode::SUCCESS
            }
            signal = stop_signal() => {
                tracing::info!(signal, limit_seconds = limit.as_secs(), "stopping: the current job stops at its next safe point");
                scheduler.stop();
                match tokio::time::timeout(limit, &mut running).await {
                    Ok(result) => {
                        result?;
                        tracing::info!("chatkeep daemon stopped cleanly");
                        ExitCode::SUCCESS
                    }
                    Err(_) => {
                        tracing::error!(
                            limit_seconds = limit.as_secs(),
                            "the current job did not stop in time; exiting anyway (its run is marked interrupted at the next start)"
                        );
                        ExitCode::FAILURE
                    }
                }
            }
        }
    };
    if !notifiers.flush(Duration::from_secs(10)) {
        tracing::warn!("some notifications were still being delivered at exit");
    }
    store.close().await;
    Ok(code)
}

/// Waits for SIGTERM or SIGINT (Ctrl-C); names the one that came.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
