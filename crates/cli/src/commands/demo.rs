use std::process::ExitCode;
use std::time::Instant;

use chatkeep_core::Clock;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::time::parse_date_or_instant;
use clap::{Args, Subcommand};

use super::thousands;
use crate::context::Context;
use crate::progress::Bar;

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Fill the database with a deterministic, realistic demo data set.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Conversations to create.
    #[arg(long, default_value_t = 2_000)]
    conversations: u64,
    /// Messages to create, spread over the conversations.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Months of history, ending at --until.
    #[arg(long, default_value_t = 12)]
    months: u32,
    /// Random seed: the same seed and options give the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Newest instant in the data: a date (local midnight) or an RFC 3339 timestamp. Default: now.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
}

pub async fn run(ctx: &Context, command: DemoCommand) -> anyhow::Result<ExitCode> {
    let DemoCommand::Seed(args) = command;
    let until = match args.until.as_deref() {
        Some(text) => parse_date_or_instant("--until", text, ctx.config.timezone).map_err(anyhow::Error::msg)?,
        None => ctx.clock.now(),
    };
    let options = SeedOptions {
        conversations: args.conversations,
        messages: args.messages,
        months: args.months,
        seed: args.seed,
        until,
    };
    // Refuse bad sizes before opening the store, so a typo never creates a database file.
    options.validate()?;
    let store = ctx.store_creating().await?;
    let bar = Bar::new("seeding", ctx.json, false);
    let started = Instant::now();
    let result = seed_demo(&store, &options, Actor::Cli, &ctx.clock, &bar).await;
    bar.finish();
    store.close().await;
    let report = result?;
    let seconds = started.elapsed().as_secs_f64();
    if ctx.json {
        let mut value = serde_json::to_value(&report)?;
        value["seconds"] = serde_json::json!(seconds);
        ctx.print_json(&value)?;
    } else if report.already_present {
        say!(
            "Demo data for seed {} is already in {} ({} conversations); nothing to do. Use another --seed to add more.",
            options.seed,
            ctx.config.database_url,
            thousands(report.conversations as i64)
        );
    } else {
        say!(
            "Seeded {} conversations, {} messages, {} read receipts, {} participants and {} users in {seconds:.1} s",
            thousands(report.conversations as i64),
            thousands(report.messages as i64),
            thousands(report.reads as i64),
            thousands(report.participants as i64),
            thousands(report.users as i64),
        );
        say!("Database: {}", ctx.config.database_url);
    }
    Ok(ExitCode::SUCCESS)
}
