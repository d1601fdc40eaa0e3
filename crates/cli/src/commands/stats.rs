use std::process::ExitCode;

use chatkeep_core::ops::stats::{ACTIVE_DAYS, OLD_DAYS, storage_stats};

use super::{human_bytes, thousands};
use crate::context::Context;

pub async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let stats = storage_stats(&store, ctx.config.timezone, &ctx.clock).await?;
    store.close().await;
    if ctx.json {
        ctx.print_json(&stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = &stats.conversations;
    let m = &stats.messages;
    let db = &stats.database;
    say!(
        "Conversations  {} total, {} active (message in {ACTIVE_DAYS} days), {} old (none in {OLD_DAYS} days)",
        thousands(c.total),
        thousands(c.active),
        thousands(c.old)
    );
    say!("Messages       {} total, {} in the last 30 days", thousands(m.total), thousands(m.last_30_days));
    say!("Tokens used    {}", thousands(m.tokens_used));
    if db.one_file {
        say!(
            "Database       {} ({}, {} pages of {} B, {} free), write-ahead log {}",
            human_bytes(db.bytes),
            stats.engine,
            thousands(db.pages),
            db.page_size,
            thousands(db.free_pages),
            human_bytes(db.wal_bytes)
        );
    } else {
        say!("Database       {} ({})", human_bytes(db.bytes), stats.engine);
    }
    if !stats.per_month.is_empty() {
        say!("\nPer month ({}):", stats.timezone);
        for month in &stats.per_month {
            say!(
                "  {}  {:>12} messages  {:>14} tokens",
                month.month,
                thousands(month.messages),
                thousands(month.tokens_used)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
