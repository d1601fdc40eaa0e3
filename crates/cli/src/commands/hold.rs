use std::process::ExitCode;

use chatkeep_core::domain::Actor;
use chatkeep_core::domain::hold::LegalHold;
use chatkeep_core::ops::hold::{hold_target, list_holds, place_hold, release_hold};
use clap::{ArgGroup, Args, Subcommand};

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold on a conversation, or on a user (all their conversations).
    Add(AddArgs),
    /// List active holds (with --all, released ones too).
    List {
        /// Include released holds.
        #[arg(long)]
        all: bool,
    },
    /// Release a hold by its number; it stays in `hold list --all`.
    Release {
        /// The hold's number, as shown by `hold list`.
        id: i64,
        /// Why it is released.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).multiple(false)))]
pub struct AddArgs {
    /// The conversation's id in the chat service.
    #[arg(long, group = "target", value_name = "ID")]
    conversation: Option<String>,
    /// The user's id in the chat service.
    #[arg(long, group = "target", value_name = "ID")]
    user: Option<String>,
    /// Why the data must be kept (a case number, a request).
    #[arg(long)]
    reason: String,
}

pub async fn run(ctx: &Context, command: HoldCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let result = match command {
        HoldCommand::Add(args) => {
            let target = hold_target(args.conversation.as_deref(), args.user.as_deref())?;
            place_hold(&store, target, &args.reason, Actor::Cli, &ctx.clock).await.map(|h| vec![h])
        }
        HoldCommand::List { all } => list_holds(&store, all).await,
        HoldCommand::Release { id, reason } => {
            release_hold(&store, id, reason.as_deref(), Actor::Cli, &ctx.clock).await.map(|h| vec![h])
        }
    };
    store.close().await;
    let holds = result?;
    if ctx.json {
        ctx.print_json(&holds)?;
    } else if holds.is_empty() {
        say!("No legal holds.");
    } else {
        for hold in &holds {
            print_hold(hold);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_hold(hold: &LegalHold) {
    let state = match &hold.released_at {
        None => "active".to_string(),
        Some(at) => format!("released {at}"),
    };
    say!(
        "#{:<4} {}  {}  placed {} by {}  ({state})",
        hold.id,
        hold.target,
        hold.reason,
        hold.created_at,
        hold.placed_by
    );
    if let Some(reason) = &hold.release_reason {
        say!("      released because: {reason}");
    }
}
