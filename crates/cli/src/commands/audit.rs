use std::process::ExitCode;

use chatkeep_core::audit;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::backup;
use chatkeep_core::store::AuditFilter;
use chatkeep_core::time::parse_date_or_instant;
use clap::{Args, Subcommand};

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit rows, newest first.
    List(ListArgs),
    /// Check the hash chain; exits 3 and names the first broken row if the log was altered.
    Verify,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only rows at or after this date (local midnight) or RFC 3339 instant.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only this action (`import.file`) or area (`import`).
    #[arg(long)]
    action: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: i64,
}

pub async fn run(ctx: &Context, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::List(args) => {
            let since = args
                .since
                .as_deref()
                .map(|text| parse_date_or_instant("--since", text, ctx.config.timezone))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let filter = AuditFilter { since, action: args.action, limit: Some(args.limit) };
            let store = ctx.store().await?;
            let rows = audit::list(&store, &filter).await?;
            store.close().await;
            if ctx.json {
                ctx.print_json(&rows)?;
            } else if rows.is_empty() {
                say!("No audit rows match.");
            } else {
                for row in rows {
                    say!(
                        "#{:<6} {}  {:<9} {:<16} {}  {}",
                        row.id,
                        row.at,
                        row.actor,
                        row.action,
                        row.target.as_deref().unwrap_or("-"),
                        row.counts
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let store = ctx.store().await?;
            let passphrase = backup::passphrase(&ctx.config.backup)?;
            let backups = backup::Backups::new(&store, &ctx.config, &ctx.clock, passphrase.as_ref(), &NoEvents);
            let report = backups.verify_audit_log().await?;
            store.close().await;
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                match &report.first_break {
                    None => {
                        say!(
                            "Audit log intact: {} {} checked.",
                            report.rows_checked,
                            if report.rows_checked == 1 { "row" } else { "rows" }
                        );
                        match &report.anchor {
                            Some(source) => {
                                say!("It holds row {} as {} recorded it.", source.anchor.row, source.from)
                            }
                            None => say!("No backup records its head yet, so only the chain itself was checked."),
                        }
                    }
                    Some(broken) => say!(
                        "Audit log BROKEN at row {}: {} ({} rows before it check out).",
                        broken.row_id,
                        broken.reason,
                        report.rows_checked
                    ),
                }
            }
            Ok(if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
    }
}
