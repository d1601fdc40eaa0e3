//! `chatkeep stats`: storage statistics, every figure answered from an index.
//!
//! Expired rows (retention's hidden stage) are left out, as everywhere else
//! users look at their data.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::Result;
use crate::store::{ConversationCounts, FileSize, Store};
use crate::time::{Month, to_db};

/// A conversation with a message in this many days is active.
pub const ACTIVE_DAYS: i64 = 30;
/// A conversation with no message in this many days is old.
pub const OLD_DAYS: i64 = 90;

#[derive(Debug, Clone, Serialize)]
pub struct StorageStats {
    pub generated_at: String,
    pub timezone: String,
    pub engine: &'static str,
    pub conversations: ConversationCounts,
    pub messages: MessageStats,
    pub per_month: Vec<MonthStats>,
    pub database: FileSize,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MessageStats {
    pub total: i64,
    pub last_30_days: i64,
    pub tokens_used: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthStats {
    /// `YYYY-MM` in the configured time zone.
    pub month: String,
    pub messages: i64,
    pub tokens_used: i64,
}

pub async fn storage_stats(store: &Store, tz: Tz, clock: &dyn Clock) -> Result<StorageStats> {
    let now = clock.now();
    let conversations =
        store.conversation_counts(now - Duration::days(ACTIVE_DAYS), now - Duration::days(OLD_DAYS)).await?;

    let mut months = Vec::new();
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let bounds = store.message_time_bounds().await?;
    if let Some((first, last)) = bounds {
        let mut month = Month::containing(first, tz);
        let last_month = Month::containing(last, tz);
        while month <= last_month {
            months.push(month);
            ranges.push(month.range(tz));
            month = month.next();
        }
    }
    // The last 30 days, open-ended so that messages stamped slightly ahead of this clock count too.
    let recent_end = bounds.map_or(now, |(_, last)| last.max(now)) + Duration::milliseconds(1);
    ranges.push((now - Duration::days(30), recent_end));

    let tallies = store.message_tallies(&ranges).await?;
    let (recent, monthly) = tallies.split_last().map_or((Default::default(), &[][..]), |(r, m)| (*r, m));
    let per_month: Vec<MonthStats> = months
        .iter()
        .zip(monthly)
        .map(|(month, tally)| MonthStats {
            month: month.to_string(),
            messages: tally.messages,
            tokens_used: tally.tokens,
        })
        .collect();
    let messages = MessageStats {
        total: per_month.iter().map(|m| m.messages).sum(),
        last_30_days: recent.messages,
        tokens_used: per_month.iter().map(|m| m.tokens_used).sum(),
    };
    // Months that hold messages, not every month between the first and the last.
    let per_month: Vec<MonthStats> = per_month.into_iter().filter(|m| m.messages > 0).collect();

    Ok(StorageStats {
        generated_at: to_db(now),
        timezone: tz.name().to_string(),
        engine: store.engine(),
        conversations,
        messages,
        per_month,
        database: store.file_size().await?,
    })
}
