use std::path::PathBuf;
use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::import::{Tally, import_jsonl};
use clap::Args;

use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSONL file: one user, conversation, participant, message or read record per line.
    pub file: PathBuf,
}

pub async fn run(ctx: &Context, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store_creating().await?;
    let bar = Bar::new("importing", ctx.json, true);
    let result = import_jsonl(&store, &args.file, Actor::Cli, &ctx.clock, &bar).await;
    bar.finish();
    store.close().await;
    let report = result?;
    if ctx.json {
        ctx.print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!("Imported {} records from {}", report.records, report.file.display());
    let line = |name: &str, t: &Tally| {
        say!("  {name:<13} {:>9} new  {:>9} updated  {:>9} unchanged", t.inserted, t.updated, t.unchanged)
    };
    line("users", &report.users);
    line("conversations", &report.conversations);
    line("participants", &report.participants);
    line("messages", &report.messages);
    line("reads", &report.reads);
    Ok(ExitCode::SUCCESS)
}
