//! What a retention preview or run reports: the same shape for both, so a
//! preview can be compared with the run that follows it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::Done;
use super::plan::{Item, Plan, UPCOMING_DAYS};
use crate::config::RetentionSettings;
use crate::time::{Month, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    /// Nothing was changed; this is what a run would do now.
    Preview,
    /// A run with auto-delete disabled: nothing was changed.
    ReportOnly,
    /// A run that changed the database.
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    /// Stopped between batches; the next run carries on.
    Cancelled,
    /// A batch failed; the batches before it are done, and the next run carries on.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    pub default_days: u32,
    pub grace_period_days: u32,
    pub require_verified_backup: bool,
    pub batch_size: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Expired {
    pub messages: u64,
    pub conversations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub messages: u64,
    pub reads: u64,
    pub conversations: u64,
    pub participants: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Archived {
    /// Conversations with no message for `archive_after_days`.
    pub inactive_conversations: u64,
    /// Bot sessions idle for `bot_idle_hours`.
    pub bot_sessions_closed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRow {
    pub id: Option<i64>,
    pub table: String,
    pub timestamp_column: String,
    pub days: u32,
    pub strategy: String,
    pub gdpr_sensitive: bool,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthRow {
    pub month: String,
    pub expire_messages: u64,
    pub purge_messages: u64,
    pub blocked_messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationRow {
    pub conversation: String,
    pub title: Option<String>,
    pub policy: String,
    pub expire_messages: u64,
    pub purge_messages: u64,
    pub conversation_expires: bool,
    pub conversation_purged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpcomingDay {
    pub date: NaiveDate,
    pub messages: u64,
    /// The first day they can be purged (after the grace period).
    pub purged_from: NaiveDate,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Upcoming {
    pub next_7_days: u64,
    pub next_30_days: u64,
    pub days: Vec<UpcomingDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedMonth {
    pub month: String,
    pub messages: u64,
    pub conversations: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockedSummary {
    /// Conversations under a legal hold (any kind).
    pub held_conversations: u64,
    /// Messages in held conversations that would otherwise expire or purge now.
    pub held_messages: u64,
    pub months: Vec<BlockedMonth>,
}

/// What a preview would do or a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub mode: ReportMode,
    pub outcome: Outcome,
    pub at: String,
    pub policy: PolicySummary,
    pub expired: Expired,
    pub purged: Purged,
    pub archived: Archived,
    pub rules: Vec<RuleRow>,
    pub by_month: Vec<MonthRow>,
    pub by_conversation: Vec<ConversationRow>,
    pub upcoming: Upcoming,
    pub blocked: BlockedSummary,
    pub problems: Vec<String>,
    /// Messages whose `expires_at` was brought in step with their policy (runs only).
    pub expires_at_updated: u64,
    /// Milliseconds each stage of a run took (runs only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_ms: BTreeMap<String, u64>,
}

impl RetentionReport {
    /// One line a person can read.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} messages and {} conversations expired; {} messages and {} conversations purged",
            self.expired.messages, self.expired.conversations, self.purged.messages, self.purged.conversations
        );
        if !self.blocked.months.is_empty() {
            let months: Vec<&str> = self.blocked.months.iter().map(|m| m.month.as_str()).collect();
            line.push_str(&format!("; purge blocked for {} (no verified backup)", months.join(", ")));
        }
        line
    }

    /// The counts per stage, as recorded in the audit log.
    pub fn counts(&self) -> serde_json::Value {
        serde_json::json!({
            "expired_messages": self.expired.messages,
            "expired_conversations": self.expired.conversations,
            "purged_messages": self.purged.messages,
            "purged_reads": self.purged.reads,
            "purged_conversations": self.purged.conversations,
            "purged_participants": self.purged.participants,
            "archived_conversations": self.archived.inactive_conversations,
            "closed_bot_sessions": self.archived.bot_sessions_closed,
            "rule_rows": self.rules.iter().map(|r| r.rows).sum::<u64>(),
            "held_messages": self.blocked.held_messages,
            "blocked_messages": self.blocked.months.iter().map(|m| m.messages).sum::<u64>(),
        })
    }
}

/// What one retention restore brought back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    pub conversation: Option<String>,
    pub since: Option<String>,
    pub messages: u64,
    pub conversations: u64,
    pub earliest_expiry: Option<String>,
    /// The restored rows are still past their policy: the next run expires them
    /// again unless the policy changes or a hold covers them.
    pub still_past_policy: bool,
}

/// The ids a report counts, per stage: the plan's (preview) or the ones actually changed (run).
struct Counted<'a> {
    expire_messages: Vec<&'a Item>,
    purge_messages: Vec<&'a Item>,
    expire_conversations: HashSet<i64>,
    purge_conversations: HashSet<i64>,
}

pub(super) fn from_plan(
    mode: ReportMode,
    plan: &Plan,
    settings: &RetentionSettings,
    tz: Tz,
    now: DateTime<Utc>,
) -> RetentionReport {
    let counted = Counted {
        expire_messages: plan.expire_messages.iter().collect(),
        purge_messages: plan.purge_messages.iter().collect(),
        expire_conversations: plan.expire_conversations.iter().map(|i| i.id).collect(),
        purge_conversations: plan.purge_conversations.iter().map(|i| i.id).collect(),
    };
    let rules = plan.rules.iter().map(|r| r.pending.max(0) as u64).collect::<Vec<_>>();
    build(
        mode,
        Outcome::Completed,
        plan,
        &counted,
        settings,
        tz,
        now,
        Tallies {
            reads: plan.purge_reads,
            participants: plan.purge_participants,
            archived: plan.mark_inactive.len() as u64,
            closed: plan.close.len() as u64,
            rules,
        },
    )
}

pub(super) fn from_done(
    plan: &Plan,
    done: &Done,
    settings: &RetentionSettings,
    tz: Tz,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> RetentionReport {
    let counted = Counted {
        expire_messages: plan.expire_messages.iter().filter(|i| done.expired_messages.contains(&i.id)).collect(),
        purge_messages: plan.purge_messages.iter().filter(|i| done.purged_messages.contains(&i.id)).collect(),
        expire_conversations: done.expired_conversations.clone(),
        purge_conversations: done.purged_conversations.clone(),
    };
    let mut rules = vec![0; plan.rules.len()];
    for &(index, rows) in &done.rules {
        rules[index] = rows;
    }
    build(
        ReportMode::Run,
        outcome,
        plan,
        &counted,
        settings,
        tz,
        now,
        Tallies {
            reads: done.purged_reads,
            participants: done.purged_participants,
            archived: done.archived,
            closed: done.closed,
            rules,
        },
    )
}

struct Tallies {
    reads: u64,
    participants: u64,
    archived: u64,
    closed: u64,
    rules: Vec<u64>,
}

#[allow(clippy::too_many_arguments)]
fn build(
    mode: ReportMode,
    outcome: Outcome,
    plan: &Plan,
    counted: &Counted<'_>,
    settings: &RetentionSettings,
    tz: Tz,
    now: DateTime<Utc>,
    tallies: Tallies,
) -> RetentionReport {
    let mut months: BTreeMap<Month, MonthRow> = BTreeMap::new();
    for item in &counted.expire_messages {
        entry(&mut months, item.month).expire_messages += 1;
    }
    for item in &counted.purge_messages {
        entry(&mut months, item.month).purge_messages += 1;
    }
    for (month, blocked) in &plan.blocked_months {
        entry(&mut months, *month).blocked_messages += blocked.messages;
    }

    let mut conversations: HashMap<i64, (u64, u64)> = HashMap::new();
    for item in &counted.expire_messages {
        conversations.entry(item.conversation_id).or_default().0 += 1;
    }
    for item in &counted.purge_messages {
        conversations.entry(item.conversation_id).or_default().1 += 1;
    }
    for id in counted.expire_conversations.iter().chain(&counted.purge_conversations) {
        conversations.entry(*id).or_default();
    }
    let mut by_conversation: Vec<ConversationRow> = conversations
        .into_iter()
        .map(|(id, (expire, purge))| {
            let label = plan.labels.get(&id);
            ConversationRow {
                conversation: label.map(|l| l.external_id.clone()).unwrap_or_else(|| format!("#{id}")),
                title: label.and_then(|l| l.title.clone()),
                policy: label
                    .and_then(|l| l.policy.clone())
                    .unwrap_or_else(|| format!("default {}d", settings.default_days)),
                expire_messages: expire,
                purge_messages: purge,
                conversation_expires: counted.expire_conversations.contains(&id),
                conversation_purged: counted.purge_conversations.contains(&id),
            }
        })
        .collect();
    by_conversation.sort_by(|a, b| {
        (b.expire_messages + b.purge_messages)
            .cmp(&(a.expire_messages + a.purge_messages))
            .then_with(|| a.conversation.cmp(&b.conversation))
    });

    let grace = Duration::days(i64::from(settings.grace_period_days));
    let today = now.with_timezone(&tz).date_naive();
    let days: Vec<UpcomingDay> = plan
        .upcoming
        .iter()
        .map(|(date, messages)| UpcomingDay { date: *date, messages: *messages, purged_from: *date + grace })
        .collect();
    let within = |n: i64| days.iter().filter(|d| d.date < today + Duration::days(n)).map(|d| d.messages).sum();
    let upcoming = Upcoming { next_7_days: within(7), next_30_days: within(UPCOMING_DAYS), days };

    let blocked = BlockedSummary {
        held_conversations: plan.held_conversations,
        held_messages: plan.held_messages,
        months: plan
            .blocked_months
            .iter()
            .map(|(month, b)| BlockedMonth {
                month: month.to_string(),
                messages: b.messages,
                conversations: b.conversations,
                reason: format!(
                    "has no verified monthly archive; run `chatkeep backup archive --month {month}` and verify it, \
                     or set retention.require_verified_backup = false"
                ),
            })
            .collect(),
    };

    RetentionReport {
        mode,
        outcome,
        at: to_db(now),
        policy: PolicySummary {
            default_days: settings.default_days,
            grace_period_days: settings.grace_period_days,
            require_verified_backup: settings.require_verified_backup,
            batch_size: settings.batch_size,
        },
        expired: Expired {
            messages: counted.expire_messages.len() as u64,
            conversations: counted.expire_conversations.len() as u64,
        },
        purged: Purged {
            messages: counted.purge_messages.len() as u64,
            reads: tallies.reads,
            conversations: counted.purge_conversations.len() as u64,
            participants: tallies.participants,
        },
        archived: Archived { inactive_conversations: tallies.archived, bot_sessions_closed: tallies.closed },
        rules: plan
            .rules
            .iter()
            .zip(tallies.rules)
            .map(|(planned, rows)| {
                let rule = &planned.checked.rule;
                RuleRow {
                    id: rule.id,
                    table: rule.table.clone(),
                    timestamp_column: rule.timestamp_column.clone(),
                    days: rule.days,
                    strategy: rule.strategy.to_string(),
                    gdpr_sensitive: rule.gdpr_sensitive,
                    rows,
                }
            })
            .collect(),
        by_month: months.into_values().collect(),
        by_conversation,
        upcoming,
        blocked,
        problems: plan.problems.clone(),
        expires_at_updated: 0,
        stage_ms: BTreeMap::new(),
    }
}

fn entry(months: &mut BTreeMap<Month, MonthRow>, month: Month) -> &mut MonthRow {
    months.entry(month).or_insert_with(|| MonthRow {
        month: month.to_string(),
        expire_messages: 0,
        purge_messages: 0,
        blocked_messages: 0,
    })
}
