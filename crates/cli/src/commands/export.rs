use std::path::PathBuf;
use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::Cancel;
use chatkeep_core::ops::export::{ExportRequest, export, plan};
use clap::Args;

use super::{human_bytes, thousands};
use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// First day (YYYY-MM-DD, local) or an RFC 3339 instant.
    #[arg(long)]
    from: String,
    /// Last day, included (YYYY-MM-DD), or an RFC 3339 instant (excluded).
    #[arg(long)]
    to: String,
    /// csv, json, jsonl or pdf.
    #[arg(long, default_value = "csv")]
    format: String,
    /// The file to write, or a folder (default: chat-export_FROM_TO.FORMAT here).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// One row per conversation, without message bodies.
    #[arg(long)]
    no_messages: bool,
    /// Only these conversations (repeat for more).
    #[arg(long, value_name = "ID")]
    conversation: Vec<String>,
    /// Only conversations this user takes part in.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// Only conversations of this kind: direct, group, channel, bot (repeat for more).
    #[arg(long, value_name = "KIND")]
    kind: Vec<String>,
    /// Include expired (hidden, not yet purged) rows.
    #[arg(long)]
    include_expired: bool,
    /// Start a CSV file with a byte-order mark (for spreadsheet programs).
    #[arg(long)]
    bom: bool,
    /// Write CSV cells exactly as stored, even those a spreadsheet would run as a formula
    /// (by default a cell starting with = + - @ gets a leading ').
    #[arg(long)]
    raw_csv: bool,
    /// Replace the file if it exists (never a link, a folder or a device).
    #[arg(long)]
    overwrite: bool,
}

pub async fn run(ctx: &Context, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.lean_store().await?;
    let request = ExportRequest {
        from: args.from,
        to: args.to,
        format: args.format,
        include_messages: !args.no_messages,
        conversations: args.conversation,
        participant: args.user,
        kinds: args.kind,
        include_expired: args.include_expired,
        bom: args.bom,
        raw_csv: args.raw_csv,
        out: args.out,
        overwrite: args.overwrite,
    };
    let result = async {
        let plan = plan(&store, &request, ctx.config.timezone, &ctx.config.export).await?;
        let cancel = Cancel::new();
        let on_interrupt = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                say_err!("Stopping; the partial file will be removed...");
                on_interrupt.cancel();
            }
        });
        let bar = Bar::new("export", ctx.json, false);
        let report = export(&store, &plan, ctx.config.timezone, Actor::Cli, &ctx.clock, &bar, &cancel).await;
        bar.finish();
        report
    }
    .await;
    store.close().await;
    let report = result?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else if report.cancelled {
        say!("Export cancelled; nothing was kept.");
    } else {
        say!(
            "Exported {} conversations, {} messages to {} ({}).",
            thousands(report.conversations as i64),
            thousands(report.messages as i64),
            report.path.display(),
            human_bytes(report.bytes as i64)
        );
    }
    Ok(if report.cancelled { ExitCode::from(130) } else { ExitCode::SUCCESS })
}
