use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::domain::policy::RetentionPolicy;
use chatkeep_core::domain::rule::{RuleStrategy, TableRule};
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::Cancel;
use chatkeep_core::ops::retention::{
    Outcome, ReportMode, RestoreReport, Retention, RetentionReport, RunHooks, add_rule, list_rules, parse_since,
    policy_choice, policy_groups, remove_rule,
};
use clap::{ArgGroup, Args, Subcommand};

use super::thousands;
use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show what a run would do now (expire, purge, archive, rules), and what is blocked; changes nothing.
    Preview {
        /// List every conversation involved, not only the ten largest.
        #[arg(long)]
        all: bool,
    },
    /// Expire what outlived its policy, purge what is past the grace period, archive idle conversations.
    Run {
        /// The most rows per transaction (default from retention.batch_size); on SQLite, fewer
        /// when a batch would hold the write lock longer than about 14 ms.
        #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u32).range(10..=100_000))]
        batch_size: Option<u32>,
    },
    /// Bring expired rows back while they are still in the grace period.
    Restore(RestoreArgs),
    /// Per-conversation retention policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Table rules: retention for tables beyond messages.
    #[command(subcommand)]
    Rule(RuleCommand),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).multiple(false)))]
pub struct RestoreArgs {
    /// Restore every expired message of this conversation (its id in the chat service).
    #[arg(long, group = "scope", value_name = "ID")]
    conversation: Option<String>,
    /// Restore everything that expired on or after this date (YYYY-MM-DD, local) or instant (RFC 3339).
    #[arg(long, group = "scope", value_name = "DATE")]
    since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set a conversation's policy: instant, Nd (3d, 7d, 30d, ...), forever, or default.
    Set {
        /// The conversation's id in the chat service.
        #[arg(long, value_name = "ID")]
        conversation: String,
        /// instant | Nd | forever | default
        policy: String,
    },
    /// How many conversations follow each policy.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add a rule: rows of TABLE older than DAYS (by COLUMN) are soft-deleted, deleted or anonymized.
    Add {
        #[arg(long)]
        table: String,
        /// The column holding each row's time (ISO 8601 text or Unix seconds).
        #[arg(long, value_name = "COLUMN")]
        timestamp_column: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        days: u32,
        /// soft (set a marker column), hard (delete), or anonymize (overwrite --columns with pseudonyms).
        #[arg(long)]
        strategy: String,
        /// Columns to anonymize, or the marker column for soft (comma-separated).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// The rule touches personal data (listed in GDPR reports).
        #[arg(long)]
        gdpr_sensitive: bool,
    },
    /// List rules from the database and the config file, each checked against the schema.
    List,
    /// Remove a rule by its number.
    Remove { id: i64 },
}

pub async fn run(ctx: &Context, command: RetentionCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let result = dispatch(ctx, &store, command).await;
    store.close().await;
    result
}

async fn dispatch(ctx: &Context, store: &chatkeep_core::Store, command: RetentionCommand) -> anyhow::Result<ExitCode> {
    let mut settings = ctx.config.retention.clone();
    if let RetentionCommand::Run { batch_size: Some(size) } = &command {
        settings.batch_size = *size;
    }
    let retention = Retention { store, settings: &settings, tz: ctx.config.timezone, clock: &ctx.clock };
    match command {
        RetentionCommand::Preview { all } => {
            let report = retention.preview().await?;
            show(ctx, &report, all)?;
        }
        RetentionCommand::Run { .. } => {
            let cancel = Cancel::new();
            let on_interrupt = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    say_err!("Stopping after the current batch (the next run carries on)...");
                    on_interrupt.cancel();
                }
            });
            let bar = Bar::new("retention", ctx.json, false);
            let report =
                retention.run(Actor::Cli, RunHooks { progress: &bar, events: &NoEvents, cancel: &cancel }).await;
            bar.finish();
            let report = report?;
            show(ctx, &report, false)?;
            if report.outcome == Outcome::Cancelled {
                return Ok(ExitCode::from(130));
            }
        }
        RetentionCommand::Restore(args) => {
            let since = args.since.as_deref().map(|s| parse_since(s, ctx.config.timezone)).transpose()?;
            let report = retention.restore(args.conversation.as_deref(), since, Actor::Cli).await?;
            show_restore(ctx, &report)?;
        }
        RetentionCommand::Policy(PolicyCommand::Set { conversation, policy }) => {
            let policy = policy_choice(&policy)?;
            let updated = retention.set_policy(&conversation, policy, Actor::Cli).await?;
            let shown = policy.map_or_else(|| format!("the default ({}d)", settings.default_days), |p| p.to_string());
            if ctx.json {
                ctx.print_json(
                    &serde_json::json!({"conversation": conversation, "policy": shown, "expires_at_updated": updated}),
                )?;
            } else {
                say!(
                    "Conversation {conversation:?} now follows {shown}; {} messages' expiry dates recomputed.",
                    thousands(updated as i64)
                );
            }
        }
        RetentionCommand::Policy(PolicyCommand::List) => {
            let groups = policy_groups(store).await?;
            if ctx.json {
                ctx.print_json(&groups)?;
            } else {
                for group in groups {
                    let name = match group.policy {
                        None => format!("default ({}d)", settings.default_days),
                        Some(text) if text.parse::<RetentionPolicy>().is_err() => format!("{text:?} (not valid: kept)"),
                        Some(text) => text,
                    };
                    say!("{:>12}  {name}", thousands(group.conversations));
                }
            }
        }
        RetentionCommand::Rule(command) => rule(ctx, store, &settings.rules, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn rule(
    ctx: &Context,
    store: &chatkeep_core::Store,
    config_rules: &[TableRule],
    command: RuleCommand,
) -> anyhow::Result<()> {
    match command {
        RuleCommand::Add { table, timestamp_column, days, strategy, columns, gdpr_sensitive } => {
            let strategy: RuleStrategy = strategy.parse().map_err(anyhow::Error::msg)?;
            let rule =
                TableRule { id: None, table, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled: true };
            let stored = add_rule(store, rule, Actor::Cli, &ctx.clock).await?;
            if ctx.json {
                ctx.print_json(&stored)?;
            } else {
                say!("Added rule #{}: {}", stored.id.unwrap_or_default(), describe(&stored));
            }
        }
        RuleCommand::List => {
            let rules = list_rules(store, config_rules).await?;
            if ctx.json {
                ctx.print_json(&rules)?;
            } else if rules.is_empty() {
                say!("No table rules.");
            } else {
                for listed in rules {
                    let number = listed.rule.id.map_or_else(|| "config".to_string(), |id| format!("#{id}"));
                    let state = match (&listed.problem, listed.rule.enabled) {
                        (Some(problem), _) => format!("  (cannot run: {problem})"),
                        (None, false) => "  (disabled)".to_string(),
                        (None, true) => String::new(),
                    };
                    say!("{number:>7}  {}{state}", describe(&listed.rule));
                }
            }
        }
        RuleCommand::Remove { id } => {
            let removed = remove_rule(store, id, Actor::Cli, &ctx.clock).await?;
            if ctx.json {
                ctx.print_json(&removed)?;
            } else {
                say!("Removed rule #{id}: {}", describe(&removed));
            }
        }
    }
    Ok(())
}

fn describe(rule: &TableRule) -> String {
    let columns = if rule.columns.is_empty() { String::new() } else { format!(" [{}]", rule.columns.join(", ")) };
    let personal = if rule.gdpr_sensitive { ", personal data" } else { "" };
    format!("{}.{} older than {}d: {}{columns}{personal}", rule.table, rule.timestamp_column, rule.days, rule.strategy)
}

fn show(ctx: &Context, report: &RetentionReport, all: bool) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(report);
    }
    let n = |v: u64| thousands(v as i64);
    let backups =
        if report.policy.require_verified_backup { "verified backups required" } else { "backups not required" };
    let heading = match (report.mode, report.outcome) {
        (ReportMode::Preview, _) => "Retention preview (nothing changed)",
        (ReportMode::ReportOnly, _) => {
            "Auto-delete is disabled (retention.auto_delete_enabled / CHAT_AUTO_DELETE_ENABLED): nothing was \
             changed. A run would do this"
        }
        (ReportMode::Run, Outcome::Completed) => "Retention run finished",
        (ReportMode::Run, Outcome::Cancelled) => "Retention run cancelled; the next run carries on. Done so far",
        (ReportMode::Run, Outcome::Failed) => "Retention run failed; the next run carries on. Done so far",
    };
    say!(
        "{heading} at {} (default {}d, grace {}d, {backups}):",
        report.at,
        report.policy.default_days,
        report.policy.grace_period_days
    );
    let verb = |now: &'static str, past: &'static str| if report.mode == ReportMode::Run { past } else { now };
    say!(
        "  {:<9} {:>12} messages, {} conversations",
        verb("expire", "expired"),
        n(report.expired.messages),
        n(report.expired.conversations)
    );
    say!(
        "  {:<9} {:>12} messages ({} read receipts), {} conversations ({} participant rows)",
        verb("purge", "purged"),
        n(report.purged.messages),
        n(report.purged.reads),
        n(report.purged.conversations),
        n(report.purged.participants)
    );
    say!(
        "  {:<9} {:>12} inactive conversations; {} idle bot sessions closed",
        verb("archive", "archived"),
        n(report.archived.inactive_conversations),
        n(report.archived.bot_sessions_closed)
    );
    for rule in &report.rules {
        say!(
            "  {:<9} {:>12} rows of {}.{} ({}, {}d)",
            "rule",
            n(rule.rows),
            rule.table,
            rule.timestamp_column,
            rule.strategy,
            rule.days
        );
    }
    if report.expires_at_updated > 0 {
        say!("  {:<9} {:>12} messages' expiry dates brought up to date", "upkeep", n(report.expires_at_updated));
    }
    if report.blocked.held_messages > 0 || report.blocked.held_conversations > 0 {
        say!(
            "  {:<9} {:>12} messages kept by legal holds ({} conversations under hold)",
            "held",
            n(report.blocked.held_messages),
            n(report.blocked.held_conversations)
        );
    }
    if let Some(first) = report.blocked.months.first() {
        let months: Vec<String> =
            report.blocked.months.iter().map(|m| format!("{} ({})", m.month, n(m.messages))).collect();
        let messages: u64 = report.blocked.months.iter().map(|m| m.messages).sum();
        say!(
            "  {:<9} {:>12} messages not purged: no verified monthly archive covers {}",
            "blocked",
            n(messages),
            months.join(", ")
        );
        say!(
            "  {:<9} {:>12} {}",
            "",
            "",
            first.reason.replacen(&first.month, "MONTH", 1).replacen(
                "has no verified monthly archive; ",
                "to unblock: ",
                1
            )
        );
    }
    for problem in &report.problems {
        say!("  problem: {problem}");
    }

    if !report.by_month.is_empty() {
        say!("\n  {:<9} {:>12} {:>12} {:>12}", "month", "expire", "purge", "blocked");
        for row in &report.by_month {
            say!(
                "  {:<9} {:>12} {:>12} {:>12}",
                row.month,
                n(row.expire_messages),
                n(row.purge_messages),
                n(row.blocked_messages)
            );
        }
    }
    if !report.by_conversation.is_empty() {
        let shown = if all { report.by_conversation.len() } else { report.by_conversation.len().min(10) };
        say!(
            "\n  conversations ({} involved{}):",
            n(report.by_conversation.len() as u64),
            if shown < report.by_conversation.len() { ", largest first; --all lists every one" } else { "" }
        );
        for row in &report.by_conversation[..shown] {
            let mut notes = Vec::new();
            if row.conversation_expires {
                notes.push("conversation expires");
            }
            if row.conversation_purged {
                notes.push("conversation purged");
            }
            say!(
                "    {:<24} {:<14} expire {:>7}  purge {:>7}  {}{}",
                row.conversation,
                row.policy,
                n(row.expire_messages),
                n(row.purge_messages),
                row.title.as_deref().map(|t| format!("{t:?}")).unwrap_or_default(),
                if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) }
            );
        }
    }
    if report.mode != ReportMode::Run || report.upcoming.next_30_days > 0 {
        say!(
            "\n  coming up: {} messages expire in the next 7 days, {} in the next 30",
            n(report.upcoming.next_7_days),
            n(report.upcoming.next_30_days)
        );
        for day in report.upcoming.days.iter().take(7) {
            say!("    {}  {:>9} messages (purged from {})", day.date, n(day.messages), day.purged_from);
        }
    }
    Ok(())
}

fn show_restore(ctx: &Context, report: &RestoreReport) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(report);
    }
    if report.messages == 0 && report.conversations == 0 {
        say!("Nothing to restore: no expired rows are left in that scope (purged rows come back only from a backup).");
        return Ok(());
    }
    say!(
        "Restored {} messages and {} conversations.",
        thousands(report.messages as i64),
        thousands(report.conversations as i64)
    );
    if report.still_past_policy {
        say!(
            "They are still past their retention policy: the next run expires them again unless you change the \
             policy (`chatkeep retention policy set`) or place a hold (`chatkeep hold add`)."
        );
    }
    Ok(())
}
