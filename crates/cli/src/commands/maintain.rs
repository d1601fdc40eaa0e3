//! `chatkeep maintain`: database upkeep now, or (`--dry-run`) what it would do and why.

use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::notify::Notifiers;
use chatkeep_core::ops::Cancel;
use chatkeep_core::ops::maintenance::{
    DatabaseFigures, Hooks, Maintenance, MaintenanceReport, Options, Outcome, StepStatus,
};
use clap::Args;

use super::{human_bytes, thousands};
use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// Show what a run would do and why; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run the full integrity check (reads everything) instead of the quick one.
    #[arg(long)]
    full: bool,
    /// PostgreSQL: VACUUM FULL the tables over maintenance.max_table_bloat (rewrites each under an
    /// exclusive lock: the chat service waits). SQLite: VACUUM even under the threshold.
    #[arg(long)]
    vacuum_full: bool,
}

pub async fn run(ctx: &Context, args: MaintainArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let notifiers = Notifiers::from_settings(&ctx.config.notify);
    let maintenance =
        Maintenance { store: &store, settings: &ctx.config.maintenance, tz: ctx.config.timezone, clock: &ctx.clock };
    let window = maintenance.window();
    if !window.inside && !args.dry_run && !ctx.json {
        say_err!(
            "Note: it is {} in {}, outside the maintenance window {} (maintenance.window); running as asked.",
            window.local_time,
            window.timezone,
            window.window
        );
    }
    let cancel = Cancel::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            say_err!("Stopping after the current step (a statement that has started runs to its end)...");
            on_interrupt.cancel();
        }
    });
    let options = Options { dry_run: args.dry_run, full_check: args.full, vacuum_full: args.vacuum_full };
    let bar = Bar::new("maintain", ctx.json || args.dry_run, false);
    let report =
        maintenance.run(options, Actor::Cli, Hooks { progress: &bar, events: &notifiers, cancel: &cancel }).await;
    bar.finish();
    notifiers.flush(std::time::Duration::from_secs(15));
    store.close().await;
    let report = report?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        show(&report);
    }
    Ok(match report.outcome {
        Outcome::Planned | Outcome::Completed => ExitCode::SUCCESS,
        Outcome::IntegrityFailed => ExitCode::from(3),
        Outcome::Problems => ExitCode::FAILURE,
        Outcome::Cancelled => ExitCode::from(130),
    })
}

fn show(report: &MaintenanceReport) {
    let title = if report.dry_run { "Maintenance plan (dry run: nothing is changed)" } else { "Maintenance" };
    say!("{title}: {} database, {}", report.engine, human_bytes(report.before.bytes));
    say!();
    for step in &report.steps {
        let mark = match step.status {
            StepStatus::Planned => "WOULD RUN",
            StepStatus::NotNeeded => "not needed",
            StepStatus::Done => "done",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "SKIPPED",
            StepStatus::Cancelled => "cancelled",
        };
        let took = step.ms.map(|ms| format!(" ({:.1} s)", ms as f64 / 1000.0)).unwrap_or_default();
        say!("  {mark:<10} {}{took}", step.statement);
        say!("  {:<10} why: {}", "", step.reason);
        if let Some(detail) = &step.detail {
            say!("  {:<10} {detail}", "");
        }
    }
    if let Some(integrity) = &report.integrity
        && integrity.failed()
    {
        say!("\nThe integrity check FAILED ({}):", integrity.method);
        for problem in integrity.problems.iter().take(10) {
            say!("  {problem}");
        }
        if integrity.problems.len() > 10 {
            say!("  ... and {} more", integrity.problems.len() - 10);
        }
        say!("Nothing was changed. Restore from a verified backup (chatkeep backup list / restore).");
    }
    say!();
    figures("Before", &report.before);
    if let Some(after) = &report.after {
        figures("After", after);
    }
    if let Some(sample) = &report.sample {
        say!(
            "\nStored the storage sample for {}: {} messages, {} conversations, database {}, backups {}.",
            sample.day,
            thousands(sample.messages),
            thousands(sample.conversations),
            human_bytes(sample.database_bytes),
            human_bytes(sample.backup_bytes)
        );
    }
    for note in &report.notes {
        say!("Note: {note}");
    }
    if !report.dry_run {
        say!("\n{}", report.summary());
    }
}

fn figures(label: &str, figures: &DatabaseFigures) {
    let mut line = format!("{label}: {}", human_bytes(figures.bytes));
    if let Some(free) = figures.free_pages {
        line.push_str(&format!(", {} of {} pages free", thousands(free), thousands(figures.pages)));
    }
    if let Some(wal) = figures.wal_bytes {
        line.push_str(&format!(", write-ahead log {}", human_bytes(wal)));
    }
    say!("{line}");
    let mut tables: Vec<_> = figures.tables.iter().collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.bytes + t.index_bytes));
    if tables.is_empty() {
        return;
    }
    say!("  {:<24} {:>12} {:>11} {:>11} {:>7}", "TABLE", "ROWS", "SIZE", "INDEXES", "WASTE");
    for table in tables.iter().take(10) {
        say!(
            "  {:<24} {:>12} {:>11} {:>11} {:>6.1}%",
            table.table.name,
            thousands(table.rows),
            human_bytes(table.bytes),
            human_bytes(table.index_bytes),
            table.bloat_percent
        );
    }
}
