//! The plan: everything one retention run would do, worked out from the
//! database as it is now, without changing it. `preview` reports a plan;
//! `run` executes one. Because both come from here, they agree exactly.
//!
//! Each selection already accounts for what the run itself does before it:
//! a conversation is planned to expire when its messages are planned to, and
//! a conversation is planned to purge only when every message left in it is.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::rules;
use crate::config::RetentionSettings;
use crate::domain::policy::RetentionPolicy;
use crate::error::Result;
use crate::store::Store;
use crate::store::retention::{Candidate, ConversationLabel, PolicyCutoff};
use crate::store::rules::{CheckedRule, RuleCutoff};
use crate::time::{Month, from_db, to_db};

/// A row the plan acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub id: i64,
    pub conversation_id: i64,
    pub month: Month,
}

/// A month whose rows may not be purged yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blocked {
    pub messages: u64,
    pub conversations: u64,
}

#[derive(Debug)]
pub(crate) struct PlannedRule {
    pub checked: CheckedRule,
    pub cutoff: RuleCutoff,
    pub pending: i64,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub now: String,
    pub grace_cutoff: String,
    /// The day-count policies and their cutoffs, re-checked by each expiry batch.
    pub cutoffs: Vec<PolicyCutoff>,
    pub expire_messages: Vec<Item>,
    pub expire_conversations: Vec<Item>,
    pub purge_messages: Vec<Item>,
    pub purge_conversations: Vec<Item>,
    /// Read receipts and participant rows that go with the purged messages and conversations.
    pub purge_reads: u64,
    pub purge_participants: u64,
    /// Conversations idle for `archive_after_days`: marked inactive (their `archived_at` is set,
    /// nothing is deleted). Not to be confused with the monthly archive, a backup.
    pub mark_inactive: Vec<Item>,
    pub close: Vec<Item>,
    pub rules: Vec<PlannedRule>,
    /// Conversations under a hold, and how many of their messages retention would otherwise change.
    pub held_conversations: u64,
    pub held_messages: u64,
    pub blocked_months: BTreeMap<Month, Blocked>,
    /// Messages expiring on each of the coming days (by local date), held ones left out.
    pub upcoming: BTreeMap<NaiveDate, u64>,
    pub problems: Vec<String>,
    pub labels: HashMap<i64, ConversationLabel>,
}

/// How far ahead the plan lists upcoming expiries.
pub(crate) const UPCOMING_DAYS: i64 = 30;

pub(crate) async fn build(
    store: &Store,
    settings: &RetentionSettings,
    config_rules: &[crate::domain::rule::TableRule],
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let now_db = to_db(now);
    let grace_cutoff = to_db(now - Duration::days(i64::from(settings.grace_period_days)));
    let default_cutoff = now - Duration::days(i64::from(settings.default_days));
    let month_of = |c: &Candidate| Month::containing(from_db(&c.created_at).unwrap_or(now), tz);
    let item = |c: &Candidate| Item { id: c.id, conversation_id: c.conversation_id, month: month_of(c) };

    // Which conversations follow which policy.
    let mut problems = Vec::new();
    let mut cutoffs = Vec::new();
    let mut day_policies = Vec::new();
    let mut has_instant = false;
    for (policy, conversations) in store.policy_groups().await? {
        let parsed = match &policy {
            None => Ok(RetentionPolicy::Days(settings.default_days)),
            // An empty policy is the default, as for NULL.
            Some(text) if text.trim().is_empty() => Ok(RetentionPolicy::Days(settings.default_days)),
            Some(text) => text.parse::<RetentionPolicy>(),
        };
        match parsed {
            Ok(RetentionPolicy::Days(days)) => {
                let cutoff = now - Duration::days(i64::from(days));
                cutoffs.push(PolicyCutoff { policy: policy.clone(), cutoff: to_db(cutoff) });
                day_policies.push((policy, days));
            }
            Ok(RetentionPolicy::Instant) => has_instant = true,
            Ok(RetentionPolicy::Forever) => {}
            Err(_) => problems.push(format!(
                "{conversations} conversation(s) have the retention policy {:?}, which is not valid; they are kept \
                 until it is fixed with `chatkeep retention policy set` (accepted: {})",
                policy.unwrap_or_default(),
                RetentionPolicy::ACCEPTED
            )),
        }
    }
    let held: HashSet<i64> = store.held_conversations().await?.into_iter().collect();
    let mut held_messages = 0u64;
    let mut keep_unheld = |candidates: Vec<Candidate>| -> Vec<Candidate> {
        let before = candidates.len();
        let kept: Vec<Candidate> = candidates.into_iter().filter(|c| !held.contains(&c.conversation_id)).collect();
        held_messages += (before - kept.len()) as u64;
        kept
    };

    // Stage 1: live -> expired.
    let mut expiring = store.aged_messages(&cutoffs).await?;
    if has_instant {
        expiring.extend(store.read_messages().await?);
    }
    let mut expire_messages: Vec<Item> = keep_unheld(expiring).iter().map(item).collect();
    expire_messages.sort_unstable_by_key(|i| i.id);

    // Stage 2: expired -> purged, once past grace, in months a verified archive covers.
    // Coverage is by the instants an archive holds, not by its month label (a changed time
    // zone moves month edges); purge batches check it again.
    let ranges: Vec<(String, String)> =
        if settings.require_verified_backup { store.verified_archive_ranges().await? } else { Vec::new() };
    let covered = |created_at: &str| {
        !settings.require_verified_backup
            || ranges.iter().any(|(start, end)| created_at >= start.as_str() && created_at < end.as_str())
    };
    let mut blocked_months: BTreeMap<Month, Blocked> = BTreeMap::new();
    let mut purge_messages = Vec::new();
    for candidate in keep_unheld(store.purgeable_messages(&now_db, &grace_cutoff).await?) {
        let item = item(&candidate);
        if covered(&candidate.created_at) {
            purge_messages.push(item);
        } else {
            blocked_months.entry(item.month).or_default().messages += 1;
        }
    }
    purge_messages.sort_unstable_by_key(|i| i.id);

    let instant_cutoff = to_db(default_cutoff);
    let mut expire_conversations: Vec<Item> = store
        .aged_conversations(&cutoffs, &instant_cutoff)
        .await?
        .iter()
        .filter(|c| !held.contains(&c.id))
        .map(item)
        .collect();
    expire_conversations.sort_unstable_by_key(|i| i.id);

    let mut purging_per_conversation: HashMap<i64, i64> = HashMap::new();
    for m in &purge_messages {
        *purging_per_conversation.entry(m.conversation_id).or_default() += 1;
    }
    let mut purge_conversations = Vec::new();
    for (candidate, messages_left) in store.purgeable_conversations(&now_db, &grace_cutoff).await? {
        if held.contains(&candidate.id) {
            continue;
        }
        let item = item(&candidate);
        if purging_per_conversation.get(&candidate.id).copied().unwrap_or(0) != messages_left {
            continue; // Something in it stays (blocked, or live again).
        }
        if covered(&candidate.created_at) {
            purge_conversations.push(item);
        } else {
            blocked_months.entry(item.month).or_default().conversations += 1;
        }
    }
    purge_conversations.sort_unstable_by_key(|i| i.id);

    let message_ids: Vec<i64> = purge_messages.iter().map(|i| i.id).collect();
    let conversation_ids: Vec<i64> = purge_conversations.iter().map(|i| i.id).collect();
    let purge_reads = store.count_reads_of(&message_ids).await?;
    let purge_participants = store.count_participants_of(&conversation_ids).await?;

    // Housekeeping: close idle bot sessions, archive inactive conversations.
    let expiring_conversations: HashSet<i64> = expire_conversations.iter().map(|i| i.id).collect();
    let bot_cutoff = to_db(now - Duration::hours(i64::from(settings.bot_idle_hours)));
    let close: Vec<Item> = store
        .idle_conversations(&bot_cutoff, true)
        .await?
        .iter()
        .filter(|c| !expiring_conversations.contains(&c.id))
        .map(item)
        .collect();
    let closing: HashSet<i64> = close.iter().map(|i| i.id).collect();
    let inactive_cutoff = to_db(now - Duration::days(i64::from(settings.archive_after_days)));
    let mark_inactive: Vec<Item> = store
        .idle_conversations(&inactive_cutoff, false)
        .await?
        .iter()
        .filter(|c| !expiring_conversations.contains(&c.id) && !closing.contains(&c.id))
        .map(item)
        .collect();

    // Table rules.
    let mut planned_rules = Vec::new();
    for rule in rules::active_rules(store, config_rules).await? {
        // A rule that no longer fits the schema is reported and skipped; it never stops message retention.
        let checked = match rules::check(store, &rule).await {
            Ok(checked) => checked,
            Err(crate::error::Error::InvalidInput(message)) => {
                problems.push(format!("{message}; the rule was skipped"));
                continue;
            }
            Err(other) => return Err(other),
        };
        let cutoff = rules::cutoff(&rule, now);
        let pending = store.rule_pending(&checked, &cutoff).await?;
        planned_rules.push(PlannedRule { checked, cutoff, pending });
    }

    // What expires in the coming days, by local date.
    let horizon = Duration::days(UPCOMING_DAYS);
    let windows: Vec<(Option<String>, String, String)> = day_policies
        .iter()
        .map(|(policy, days)| {
            let age = Duration::days(i64::from(*days));
            (policy.clone(), to_db(now - age), to_db(now - age + horizon))
        })
        .collect();
    let days_of: HashMap<Option<String>, u32> = day_policies.iter().cloned().collect();
    let mut upcoming: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    if !windows.is_empty() {
        for (conversation, created_at, policy) in store.messages_created_between(&windows).await? {
            if held.contains(&conversation) {
                continue;
            }
            let (Some(created), Some(days)) = (from_db(&created_at), days_of.get(&policy)) else { continue };
            let expires = created + Duration::days(i64::from(*days));
            *upcoming.entry(expires.with_timezone(&tz).date_naive()).or_default() += 1;
        }
    }

    let mut involved: Vec<i64> = expire_messages
        .iter()
        .chain(&purge_messages)
        .map(|i| i.conversation_id)
        .chain(expire_conversations.iter().chain(&purge_conversations).map(|i| i.id))
        .collect();
    involved.sort_unstable();
    involved.dedup();
    let labels = store.conversation_labels(&involved).await?.into_iter().map(|l| (l.id, l)).collect();

    Ok(Plan {
        now: now_db,
        grace_cutoff,
        cutoffs,
        expire_messages,
        expire_conversations,
        purge_messages,
        purge_conversations,
        purge_reads,
        purge_participants,
        mark_inactive,
        close,
        rules: planned_rules,
        held_conversations: held.len() as u64,
        held_messages,
        blocked_months,
        upcoming,
        problems,
        labels,
    })
}
