use std::path::PathBuf;
use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::Cancel;
use chatkeep_core::ops::backup::{
    Backups, Listing, RestoreReport, parse_month, passphrase, previous_month, restore_target,
};
use chatkeep_core::store::backups::BackupRow;
use clap::{ArgGroup, Args, Subcommand};

use super::{human_bytes, thousands};
use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up the whole database now (a consistent copy, compressed, verified).
    Snapshot,
    /// Archive one calendar month's conversations (default: last month), verified.
    Archive {
        /// The month, written like 2026-10 (in the configured time zone).
        #[arg(long)]
        month: Option<String>,
    },
    /// The backup catalog, with missing files and unknown files flagged.
    List,
    /// Re-read backups and check them against their manifests.
    Verify(VerifyArgs),
    /// Restore a backup into a new database file, or merge an archive into the live one.
    Restore(RestoreArgs),
    /// Remove backups beyond the kept generations (never the newest verified of a kind).
    Prune {
        /// Only list what would go, and why.
        #[arg(long)]
        dry_run: bool,
    },
    /// Save a copy of a backup somewhere else (checked against its checksum).
    Save {
        /// The backup's number, as shown by `backup list`.
        id: i64,
        /// A file name, or a folder to put it in.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        overwrite: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).multiple(false)))]
pub struct VerifyArgs {
    /// The backup's number.
    #[arg(group = "which")]
    id: Option<i64>,
    /// Every backup with a file.
    #[arg(long, group = "which")]
    all: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("where").required(true).multiple(false)))]
pub struct RestoreArgs {
    /// The backup's number.
    id: i64,
    /// A new database to restore into (never the live one): a file, or on PostgreSQL
    /// postgres://USER@HOST/NEW_DATABASE (created; an existing one must be empty).
    #[arg(long, group = "where", value_name = "NEW.db|postgres://HOST/NEW")]
    to: Option<PathBuf>,
    /// Merge an archive's rows back into the live database (existing rows are left as they are).
    #[arg(long, group = "where")]
    into_live: bool,
    /// With --into-live: only this conversation.
    #[arg(long, value_name = "ID", requires = "into_live")]
    conversation: Option<String>,
}

pub async fn run(ctx: &Context, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let passphrase = passphrase(&ctx.config.backup)?;
    let store = ctx.store().await?;
    let backups = Backups::new(&store, &ctx.config, &ctx.clock, passphrase.as_ref(), &NoEvents);
    let result = dispatch(ctx, &backups, command).await;
    store.close().await;
    result
}

async fn dispatch(ctx: &Context, backups: &Backups<'_>, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let cancel = Cancel::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            say_err!("Stopping; nothing half-written will be kept...");
            on_interrupt.cancel();
        }
    });
    match command {
        BackupCommand::Snapshot => {
            let bar = Bar::new("snapshot", ctx.json, false);
            let row = backups.snapshot(true, Actor::Cli, &bar, &cancel).await;
            bar.finish();
            show_created(ctx, &row?)?;
        }
        BackupCommand::Archive { month } => {
            let month = match month {
                Some(text) => parse_month(&text)?,
                None => previous_month(chatkeep_core::Clock::now(&ctx.clock), ctx.config.timezone),
            };
            let bar = Bar::new("archive", ctx.json, false);
            let row = backups.archive(month, true, Actor::Cli, &bar, &cancel).await;
            bar.finish();
            show_created(ctx, &row?)?;
        }
        BackupCommand::List => {
            let listing = backups.list().await?;
            if ctx.json {
                ctx.print_json(&listing)?;
            } else {
                show_listing(&listing);
            }
        }
        BackupCommand::Verify(args) => {
            let (results, skipped) = match args.id {
                Some(id) => (vec![backups.verify(id, Actor::Cli).await?], Vec::new()),
                None => {
                    let all = backups.verify_all(Actor::Cli).await?;
                    (all.results, all.skipped)
                }
            };
            for (id, message) in &skipped {
                say_err!("#{id} skipped: {message}");
            }
            let failed = results.iter().filter(|r| !r.ok).count();
            if ctx.json {
                ctx.print_json(&results)?;
            } else if results.is_empty() {
                say!("No backups to verify.");
            } else {
                for r in &results {
                    if r.ok {
                        let rows: u64 = r.row_counts.values().sum();
                        say!("#{:<4} {}  verified ({} rows)", r.id, r.file_name, thousands(rows as i64));
                    } else {
                        say!("#{:<4} {}  FAILED: {}", r.id, r.file_name, r.problems.join("; "));
                    }
                }
            }
            if failed > 0 {
                return Ok(ExitCode::from(3));
            }
        }
        BackupCommand::Restore(args) => {
            let bar = Bar::new("restore", ctx.json, false);
            let report = match (&args.to, args.into_live) {
                (Some(to), _) => {
                    let target = restore_target(to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
                    backups.restore_to_database(args.id, &target, Actor::Cli, &bar).await
                }
                (None, _) => backups.restore_into_live(args.id, args.conversation.as_deref(), Actor::Cli, &bar).await,
            };
            bar.finish();
            show_restore(ctx, &report?)?;
        }
        BackupCommand::Prune { dry_run } => {
            let items = backups.prune(dry_run, Actor::Cli).await?;
            if ctx.json {
                ctx.print_json(&items)?;
            } else if items.is_empty() {
                say!("Nothing to prune.");
            } else {
                let verb = if dry_run { "would remove" } else { "removed" };
                for item in &items {
                    say!("{verb} #{} {} ({}): {}", item.id, item.file_name, item.created_at, item.reason);
                }
            }
        }
        BackupCommand::Save { id, to, overwrite } => {
            let saved = backups.save_copy(id, &to, overwrite).await?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({ "backup": id, "saved": saved }))?;
            } else {
                say!("Saved backup #{id} to {}", saved.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_created(ctx: &Context, row: &BackupRow) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(row);
    }
    say!(
        "Backup #{} {}: {} ({}{}), verified.",
        row.id,
        row.kind,
        row.file_name,
        human_bytes(row.size_bytes.unwrap_or(0)),
        if row.encrypted { ", encrypted" } else { "" }
    );
    if let Some(counts) = &row.row_counts {
        say!("  rows: {counts}");
    }
    Ok(())
}

fn show_listing(listing: &Listing) {
    say!("Backups in {}:", listing.directory.display());
    if listing.backups.is_empty() {
        say!("  none yet (chatkeep backup snapshot | archive --month YYYY-MM)");
    }
    for b in &listing.backups {
        let row = &b.backup;
        let what = match (row.kind.as_str(), row.year, row.month) {
            ("archive", Some(y), Some(m)) => format!("archive {y:04}-{m:02}"),
            (kind, _, _) => kind.to_string(),
        };
        let mut state = row.status.clone();
        if let Some(error) = &row.error {
            state.push_str(&format!(": {error}"));
        }
        if !b.file_present {
            state.push_str(" (FILE MISSING)");
        }
        say!(
            "  #{:<4} {:<16} {}  {:>10}{}  {}  {}",
            row.id,
            what,
            row.created_at,
            human_bytes(row.size_bytes.unwrap_or(0)),
            if row.encrypted { " age" } else { "    " },
            row.file_name,
            state
        );
    }
    for name in &listing.unknown_files {
        say!("  (not in the catalog) {name}");
    }
}

fn show_restore(ctx: &Context, report: &RestoreReport) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(report);
    }
    match (&report.to, &report.to_database) {
        (Some(to), _) => say!("Restored backup #{} into {}.", report.backup, to.display()),
        (None, Some(database)) => say!("Restored backup #{} into {database}.", report.backup),
        (None, None) => say!("Merged backup #{} into the live database.", report.backup),
    }
    if let Some(import) = &report.import {
        say!(
            "  messages: {} restored, {} already there; conversations: {} restored, {} already there",
            thousands(import.messages.inserted as i64),
            thousands(import.messages.unchanged as i64),
            thousands(import.conversations.inserted as i64),
            thousands(import.conversations.unchanged as i64)
        );
    }
    if report.erased_again > 0 {
        let (who, were) = if report.erased_again == 1 { ("person", "was") } else { ("people", "were") };
        say!("  {} {who} erased since the backup was made {were} erased again.", report.erased_again);
    }
    Ok(())
}
