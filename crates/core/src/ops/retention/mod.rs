//! `chatkeep retention`: data is deleted when its policy says so, never
//! earlier, never by surprise, and never beyond recovery before the grace
//! period ends.
//!
//! Rows move `live -> expired -> purged`. A run first keeps `expires_at` in
//! step with the policies, then works out a [`plan`] (what expires, what
//! purges, what a hold or a missing backup blocks) and executes it in short
//! batches: each batch is one transaction that re-checks its rows (a hold
//! placed a moment ago still wins), so a crash or cancel leaves a consistent
//! database and the next run carries on. `preview` reports the same plan
//! without executing it.

mod plan;
mod report;
pub mod rules;

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

pub use report::{Outcome, ReportMode, RestoreReport, RetentionReport};
pub use rules::{ListedRule, add_rule, list_rules, remove_rule};

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::RetentionSettings;
use crate::domain::Actor;
use crate::domain::policy::RetentionPolicy;
use crate::domain::rule::RuleStrategy;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::ops::{Cancel, Progress};
use crate::store::retention::RestoreScope;
use crate::store::{BatchWriter, Entity, Store, Tx};
use crate::time::to_db;

use plan::{Item, Plan};

/// A conversation's policy as a user writes it: `default` (or nothing) for the configured
/// default, else a policy (`7d`, `instant`, `forever`). Both shells read it through here.
pub fn policy_choice(text: &str) -> Result<Option<RetentionPolicy>> {
    match text.trim() {
        "default" | "" => Ok(None),
        text => Ok(Some(text.parse::<RetentionPolicy>().map_err(|e| Error::invalid(e.to_string()))?)),
    }
}

/// Where the `expires_at` upkeep got to: the default it was computed with and the last message id done.
const EXPIRES_SYNC_KEY: &str = "retention.expires_sync";
/// Message ids per `expires_at` update: cheap rows, so more per batch than the deletion stages.
const SYNC_BATCH_FACTOR: i64 = 1;

/// Everything retention needs: the database, the settings, the zone months and dates are read in, and the clock.
#[derive(Clone, Copy)]
pub struct Retention<'a> {
    pub store: &'a Store,
    pub settings: &'a RetentionSettings,
    pub tz: Tz,
    pub clock: &'a dyn Clock,
}

/// The shell's hooks into a run.
#[derive(Clone, Copy)]
pub struct RunHooks<'a> {
    pub progress: &'a dyn Progress,
    pub events: &'a dyn EventSink,
    pub cancel: &'a Cancel,
}

impl std::fmt::Debug for Retention<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention").field("settings", self.settings).field("tz", &self.tz).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RunHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHooks").field("cancel", self.cancel).finish_non_exhaustive()
    }
}

impl Retention<'_> {
    /// What a run would do now, changing nothing.
    pub async fn preview(&self) -> Result<RetentionReport> {
        let now = self.now();
        let plan = plan::build(self.store, self.settings, &self.settings.rules, self.tz, now).await?;
        Ok(report::from_plan(ReportMode::Preview, &plan, self.settings, self.tz, now))
    }

    /// Runs retention. With auto-delete disabled, reports what it would do and changes nothing.
    pub async fn run(&self, actor: Actor, hooks: RunHooks<'_>) -> Result<RetentionReport> {
        let now = self.now();
        if !self.settings.auto_delete_enabled {
            let plan = plan::build(self.store, self.settings, &self.settings.rules, self.tz, now).await?;
            let report = report::from_plan(ReportMode::ReportOnly, &plan, self.settings, self.tz, now);
            self.audit(actor, now, "retention.report_only", &report).await?;
            self.emit_notices(&report, hooks.events);
            return Ok(report);
        }

        let started = Instant::now();
        let synced = self.sync_expires_at(hooks).await?;
        let mut done = Done::default();
        done.stage_ms.insert("expires_at_upkeep".into(), started.elapsed().as_millis() as u64);
        let started = Instant::now();
        let plan = plan::build(self.store, self.settings, &self.settings.rules, self.tz, now).await?;
        done.stage_ms.insert("plan".into(), started.elapsed().as_millis() as u64);
        let planned = report::from_plan(ReportMode::Preview, &plan, self.settings, self.tz, now);
        self.audit(actor, now, "retention.start", &planned).await?;

        let outcome = match self.execute(&plan, &mut done, hooks).await {
            Ok(outcome) => {
                let started = Instant::now();
                if done.removed_or_overwrote_rows() && self.empty_wal().await {
                    done.stage_ms.insert("wal_truncate".into(), started.elapsed().as_millis() as u64);
                }
                outcome
            }
            Err(error) => {
                // Record what the committed batches did before the error ends the run.
                let report = report::from_done(&plan, &done, self.settings, self.tz, now, Outcome::Failed);
                let _ = self.audit(actor, self.clock.now(), "retention.run", &report).await;
                hooks.events.emit(Event::RetentionFinished { summary: format!("failed: {error}"), cancelled: false });
                return Err(error);
            }
        };
        let mut report = report::from_done(&plan, &done, self.settings, self.tz, now, outcome);
        report.expires_at_updated = synced;
        report.stage_ms = std::mem::take(&mut done.stage_ms);
        self.audit(actor, self.clock.now(), "retention.run", &report).await?;
        self.emit_notices(&report, hooks.events);
        hooks.events.emit(Event::RetentionFinished {
            summary: report.summary(),
            cancelled: report.outcome == Outcome::Cancelled,
        });
        Ok(report)
    }

    /// Empties SQLite's write-ahead log after rows were purged or overwritten, so that earlier
    /// versions of them do not stay in its old frames; false where there is no such log.
    /// The run's work is committed by then: a failure here is logged, not returned.
    async fn empty_wal(&self) -> bool {
        match self.store.truncate_wal(WAL_TRUNCATE_WAIT).await {
            Ok(None) => return false,
            Ok(Some(true)) => {}
            Ok(Some(false)) => tracing::info!(
                "another connection kept the write-ahead log from being emptied after the run; later checkpoints overwrite it"
            ),
            Err(error) => tracing::warn!(%error, "emptying the write-ahead log after the run failed"),
        }
        true
    }

    fn now(&self) -> DateTime<Utc> {
        crate::time::truncate_to_millis(self.clock.now())
    }

    async fn audit(&self, actor: Actor, at: DateTime<Utc>, action: &str, report: &RetentionReport) -> Result<()> {
        let mut tx = self.store.begin().await?;
        audit::append(
            &mut tx,
            at,
            AuditEntry::new(actor, action)
                .details(serde_json::json!({
                    "mode": report.mode,
                    "outcome": report.outcome,
                    "default_days": self.settings.default_days,
                    "grace_period_days": self.settings.grace_period_days,
                    "require_verified_backup": self.settings.require_verified_backup,
                    "blocked_months": report.blocked.months.iter().map(|m| &m.month).collect::<Vec<_>>(),
                }))
                .counts(report.counts()),
        )
        .await?;
        Ok(tx.commit().await?)
    }

    fn emit_notices(&self, report: &RetentionReport, events: &dyn EventSink) {
        for month in &report.blocked.months {
            events.emit(Event::PurgeBlocked {
                month: month.month.clone(),
                messages: month.messages,
                reason: month.reason.clone(),
            });
        }
        let notice_day = (self.now() + Duration::days(i64::from(self.settings.notice_days))).with_timezone(&self.tz);
        if let Some(day) = report.upcoming.days.iter().find(|d| d.date == notice_day.date_naive()) {
            events.emit(Event::DeletionNotice {
                messages: day.messages,
                expires_on: day.date,
                purged_from: day.purged_from,
            });
        }
    }

    async fn execute(&self, plan: &Plan, done: &mut Done, hooks: RunHooks<'_>) -> Result<Outcome> {
        let total = plan.expire_messages.len()
            + plan.expire_conversations.len()
            + plan.purge_messages.len()
            + plan.purge_conversations.len()
            + plan.mark_inactive.len()
            + plan.close.len()
            + plan.rules.iter().map(|r| r.pending.max(0) as usize).sum::<usize>();
        hooks.progress.set_total(total as u64);
        let mut batches = Batches {
            writer: self.store.batch_writer().await?,
            size: self.settings.batch_size as usize,
            rows: self.settings.batch_size.max(1) as usize,
            hooks,
            done: 0,
            watcher: self.store.watcher().await?,
        };
        let now = plan.now.as_str();
        let grace = plan.grace_cutoff.as_str();
        let require_backup = self.settings.require_verified_backup;

        let steps: [(&[Item], Step); 6] = [
            (&plan.expire_messages, Step::ExpireMessages),
            (&plan.expire_conversations, Step::ExpireConversations),
            (&plan.purge_messages, Step::PurgeMessages),
            (&plan.purge_conversations, Step::PurgeConversations),
            (&plan.close, Step::Close),
            (&plan.mark_inactive, Step::MarkInactive),
        ];
        for (items, step) in steps {
            let started = Instant::now();
            let purging = step == Step::PurgeMessages && !items.is_empty();
            if purging {
                batches.writer.message_purge(true).await?;
            }
            let finished = batches
                .run(items, async |tx: &mut Tx<'_>, chunk: &[Item]| {
                    let ids: Vec<i64> = chunk.iter().map(|i| i.id).collect();
                    Ok(match step {
                        Step::ExpireMessages => StepDone::Ids(tx.expire_messages(&ids, now, &plan.cutoffs).await?),
                        Step::ExpireConversations => StepDone::Ids(tx.expire_conversations(&ids, now).await?),
                        Step::PurgeMessages => {
                            StepDone::Messages(tx.purge_messages(&ids, now, grace, require_backup).await?)
                        }
                        Step::PurgeConversations => {
                            let (ids, n) = tx.purge_conversations(&ids, now, grace, require_backup).await?;
                            StepDone::Conversations(ids, n)
                        }
                        Step::Close | Step::MarkInactive => StepDone::Ids(tx.mark_inactive(&ids, now).await?),
                    })
                })
                .await?;
            if purging {
                batches.writer.message_purge(false).await?;
            }
            for result in finished.results {
                done.record(step, result);
            }
            done.stage_ms.insert(step.name().into(), started.elapsed().as_millis() as u64);
            if finished.cancelled {
                return Ok(Outcome::Cancelled);
            }
        }

        if plan.rules.iter().any(|r| r.checked.rule.strategy == RuleStrategy::Anonymize) {
            done.salt = Some(rules::salt(self.store, self.clock).await?);
        }
        for (index, planned) in plan.rules.iter().enumerate() {
            let mut changed = 0u64;
            loop {
                if hooks.cancel.is_cancelled() {
                    done.rules.push((index, changed));
                    return Ok(Outcome::Cancelled);
                }
                let mut rows = self.store.rule_rows(&planned.checked, &planned.cutoff, batches.rows as u32).await?;
                if rows.is_empty() {
                    break;
                }
                if let Some(salt) = &done.salt {
                    for (_, values) in &mut rows {
                        for value in values.iter_mut() {
                            *value = value.as_deref().map(|v| {
                                if v.starts_with(rules::PSEUDONYM_PREFIX) {
                                    v.to_string()
                                } else {
                                    rules::pseudonym(salt, v)
                                }
                            });
                        }
                    }
                }
                let mut tx = batches.writer.begin().await?;
                let started = Instant::now();
                let n = tx.apply_rule(&planned.checked, &planned.cutoff, &rows, now).await?;
                tx.commit().await?;
                changed += n;
                batches.after_batch(rows.len(), started.elapsed()).await?;
                if n == 0 {
                    break; // Rows changed under us; never spin.
                }
            }
            done.rules.push((index, changed));
        }
        Ok(Outcome::Completed)
    }

    /// Keeps `expires_at` consistent with the policies: new messages get theirs,
    /// and a changed default recomputes every message under it, in batches, resumably.
    async fn sync_expires_at(&self, hooks: RunHooks<'_>) -> Result<u64> {
        let state = self.store.setting(EXPIRES_SYNC_KEY).await?;
        let state: Option<(u32, i64)> = state.and_then(|s| serde_json::from_str(&s).ok());
        let after = match state {
            Some((days, through)) if days == self.settings.default_days => through,
            _ => i64::MIN,
        };
        let (low, high) = self.store.message_id_bounds(None).await?;
        self.recompute_expires_at(None, after.max(low), high, Some(hooks.cancel)).await
    }

    /// Recomputes `expires_at` for message ids in `(from, to]` (of one conversation, or all),
    /// in batches that step aside for the chat service. For all messages, the progress is
    /// saved after each batch so that an interrupted run resumes where it stopped.
    async fn recompute_expires_at(
        &self,
        conversation: Option<i64>,
        from: i64,
        to: i64,
        cancel: Option<&Cancel>,
    ) -> Result<u64> {
        let policies = self.policy_modifiers().await?;
        let step = i64::from(self.settings.batch_size) * SYNC_BATCH_FACTOR;
        let mut cursor = from;
        let mut updated = 0;
        let mut watcher = self.store.watcher().await?;
        while cursor < to {
            if cancel.is_some_and(Cancel::is_cancelled) {
                break;
            }
            let upto = (cursor + step).min(to);
            let mut tx = self.store.begin().await?;
            let started = Instant::now();
            updated += tx.set_expires_at(&policies, cursor, upto, conversation).await?;
            if conversation.is_none() {
                let state = serde_json::json!([self.settings.default_days, upto]).to_string();
                tx.set_setting(EXPIRES_SYNC_KEY, &state, self.clock.now()).await?;
            }
            tx.commit().await?;
            step_aside(&mut watcher, started.elapsed()).await?;
            cursor = upto;
        }
        Ok(updated)
    }

    /// Policy text ("" for the default) -> the date modifier for its `expires_at`.
    async fn policy_modifiers(&self) -> Result<String> {
        let mut map = serde_json::Map::new();
        map.insert(String::new(), format!("+{} days", self.settings.default_days).into());
        for (policy, _) in self.store.policy_groups().await? {
            if let Some(text) = policy
                && let Ok(RetentionPolicy::Days(days)) = text.parse::<RetentionPolicy>()
            {
                map.insert(text, format!("+{days} days").into());
            }
        }
        Ok(serde_json::Value::Object(map).to_string())
    }

    /// `chatkeep retention policy set`: sets one conversation's policy and recomputes its messages' `expires_at`.
    pub async fn set_policy(&self, conversation: &str, policy: Option<RetentionPolicy>, actor: Actor) -> Result<u64> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let id = tx
            .find_id(Entity::Conversation, conversation)
            .await?
            .ok_or_else(|| Error::NotFound(format!("conversation {conversation:?}")))?;
        let text = policy.map(|p| p.to_string());
        tx.set_retention_policy(id, text.as_deref()).await?;
        audit::append(
            &mut tx,
            now,
            AuditEntry::new(actor, "retention.policy")
                .target(format!("conversation {conversation:?}"))
                .details(serde_json::json!({ "policy": text.as_deref().unwrap_or("default") })),
        )
        .await?;
        tx.commit().await?;

        let (low, high) = self.store.message_id_bounds(Some(id)).await?;
        self.recompute_expires_at(Some(id), low, high, None).await
    }

    /// `chatkeep retention restore`: brings expired rows back while they are in grace.
    /// `since` restores rows that expired at or after it; it must lie inside the grace window.
    pub async fn restore(
        &self,
        conversation: Option<&str>,
        since: Option<DateTime<Utc>>,
        actor: Actor,
    ) -> Result<RestoreReport> {
        let now = self.now();
        let window_start = now - Duration::days(i64::from(self.settings.grace_period_days));
        if let Some(since) = since
            && since < window_start
        {
            return Err(Error::invalid(format!(
                "--since {} is outside the grace window: rows that expired before {} may already be purged; \
                 restore from a backup instead, or use a date from {} on",
                to_db(since),
                to_db(window_start),
                window_start.with_timezone(&self.tz).date_naive()
            )));
        }
        let conversation_id = match conversation {
            Some(external) => Some(
                self.store
                    .find_id(Entity::Conversation, external)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("conversation {external:?}")))?,
            ),
            None => None,
        };
        // A conversation restore takes everything of it still here, however long ago it expired.
        let since_db = match since {
            Some(since) => to_db(since),
            None => String::new(),
        };
        let scope = RestoreScope { conversation: conversation_id, expired_since: &since_db };
        let (pending, earliest) = self.store.expired_in_scope(scope).await?;
        let mut messages = 0;
        let mut watcher = self.store.watcher().await?;
        loop {
            let mut tx = self.store.begin().await?;
            let started = Instant::now();
            let n = tx.restore_messages(scope, self.settings.batch_size).await?;
            tx.commit().await?;
            messages += n;
            if n == 0 {
                break;
            }
            step_aside(&mut watcher, started.elapsed()).await?;
        }
        drop(watcher);
        let mut tx = self.store.begin().await?;
        let conversations = tx.restore_conversations(scope).await?;
        let report = RestoreReport {
            conversation: conversation.map(str::to_string),
            since: since.map(to_db),
            messages,
            conversations,
            earliest_expiry: earliest.filter(|_| pending > 0),
            still_past_policy: messages > 0,
        };
        audit::append(
            &mut tx,
            now,
            AuditEntry::new(actor, "retention.restore")
                .target(match conversation {
                    Some(c) => format!("conversation {c:?}"),
                    None => format!("expired since {since_db}"),
                })
                .counts(serde_json::json!({ "messages": messages, "conversations": conversations })),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ExpireMessages,
    ExpireConversations,
    PurgeMessages,
    PurgeConversations,
    Close,
    MarkInactive,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::ExpireMessages => "expire_messages",
            Step::ExpireConversations => "expire_conversations",
            Step::PurgeMessages => "purge_messages",
            Step::PurgeConversations => "purge_conversations",
            Step::Close => "close_bot_sessions",
            // Reports have always called this stage by the column it sets (`archived_at`).
            Step::MarkInactive => "archive_conversations",
        }
    }
}

enum StepDone {
    Ids(Vec<i64>),
    Messages(crate::store::retention::PurgedMessages),
    Conversations(Vec<i64>, u64),
}

/// What a run actually changed, by id, so its report says exactly what happened.
#[derive(Default)]
struct Done {
    expired_messages: HashSet<i64>,
    expired_conversations: HashSet<i64>,
    purged_messages: HashSet<i64>,
    purged_reads: u64,
    purged_conversations: HashSet<i64>,
    purged_participants: u64,
    closed: u64,
    archived: u64,
    /// (index into the plan's rules, rows changed)
    rules: Vec<(usize, u64)>,
    salt: Option<String>,
    stage_ms: std::collections::BTreeMap<String, u64>,
}

impl Done {
    /// Whether any row was deleted or overwritten (purges, table rules).
    fn removed_or_overwrote_rows(&self) -> bool {
        !self.purged_messages.is_empty()
            || !self.purged_conversations.is_empty()
            || self.rules.iter().any(|&(_, changed)| changed > 0)
    }

    fn record(&mut self, step: Step, result: StepDone) {
        match (step, result) {
            (Step::ExpireMessages, StepDone::Ids(ids)) => self.expired_messages.extend(ids),
            (Step::ExpireConversations, StepDone::Ids(ids)) => self.expired_conversations.extend(ids),
            (Step::PurgeMessages, StepDone::Messages(purged)) => {
                self.purged_reads += purged.reads;
                self.purged_messages.extend(purged.ids);
            }
            (Step::PurgeConversations, StepDone::Conversations(ids, participants)) => {
                self.purged_participants += participants;
                self.purged_conversations.extend(ids);
            }
            (Step::Close, StepDone::Ids(ids)) => self.closed += ids.len() as u64,
            (Step::MarkInactive, StepDone::Ids(ids)) => self.archived += ids.len() as u64,
            _ => {}
        }
    }
}

/// Runs a step's ids through short transactions, one batch each, with progress and cancel between batches.
struct Batches<'a> {
    writer: BatchWriter,
    /// The most rows a batch takes (the configured batch size).
    size: usize,
    /// Rows the next batch takes: fewer than `size` while batches of `size` would hold
    /// the write lock longer than [`LOCK_TARGET`].
    rows: usize,
    hooks: RunHooks<'a>,
    done: u64,
    watcher: Option<crate::store::Watcher>,
}

struct Finished<T> {
    results: Vec<T>,
    cancelled: bool,
}

impl Batches<'_> {
    async fn run<T>(
        &mut self,
        ids: &[Item],
        mut apply: impl AsyncFnMut(&mut Tx<'_>, &[Item]) -> Result<T>,
    ) -> Result<Finished<T>> {
        let mut results = Vec::new();
        let mut rest = ids;
        let outcome = async {
            while !rest.is_empty() {
                if self.hooks.cancel.is_cancelled() {
                    return Ok(true);
                }
                let (chunk, after) = rest.split_at(self.rows.min(rest.len()));
                let mut tx = self.writer.begin().await?;
                let started = Instant::now();
                let result = apply(&mut tx, chunk).await?;
                tx.commit().await?;
                results.push(result);
                rest = after;
                self.after_batch(chunk.len(), started.elapsed()).await?;
            }
            Ok::<bool, Error>(false)
        }
        .await;
        Ok(Finished { results, cancelled: outcome? })
    }

    /// After a batch of `rows` rows that held the write lock for `held`: reports progress,
    /// sizes the next batch (when other writers may be waiting on this one) and steps aside.
    async fn after_batch(&mut self, rows: usize, held: std::time::Duration) -> Result<()> {
        self.done += rows as u64;
        self.hooks.progress.advance_to(self.done);
        if self.watcher.is_some() {
            self.rows = next_batch_rows(self.rows, self.size, held);
        }
        step_aside(&mut self.watcher, held).await
    }
}

/// After a batch that held the write lock for `held`, leaves the lock free until
/// another connection has committed (a waiting writer got its turn), or until a writer
/// that began waiting when the batch took the lock has retried once more.
///
/// SQLite's default busy handler (what a chat service's `busy_timeout` sets) retries
/// after 1, 3, 8, 18, 33, 53, 78... ms of waiting. A pause shorter than the time to the
/// next of those would end before the waiting writer looks again, and the next batch
/// would make it wait a whole retry step longer.
async fn step_aside(watcher: &mut Option<crate::store::Watcher>, held: std::time::Duration) -> Result<()> {
    let limit = (next_busy_retry(held) - held + PAUSE_MARGIN).min(PAUSE_MAX);
    let Some(watcher) = watcher else {
        tokio::time::sleep(PAUSE_MIN).await;
        return Ok(());
    };
    let started = Instant::now();
    let version = watcher.version().await?;
    while started.elapsed() < limit {
        tokio::time::sleep(PAUSE_MIN).await;
        if watcher.version().await? != version {
            break; // A waiting writer got in.
        }
    }
    Ok(())
}

/// When a writer that began waiting `waited` ago next retries, under SQLite's default
/// busy handler: its sleeps are 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms.
fn next_busy_retry(waited: std::time::Duration) -> std::time::Duration {
    const SLEEPS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
    let mut at = std::time::Duration::ZERO;
    for sleep in SLEEPS_MS.iter().chain(std::iter::repeat(&100)) {
        at += std::time::Duration::from_millis(*sleep);
        if at >= waited {
            return at;
        }
    }
    unreachable!("the retries go on for ever")
}

/// Rows for the next batch after one of `rows` rows held the write lock for `held`:
/// fewer while batches overrun [`LOCK_TARGET`], back up to `most` when they are quick.
fn next_batch_rows(rows: usize, most: usize, held: std::time::Duration) -> usize {
    let fits = rows as f64 * LOCK_TARGET.as_secs_f64() / held.as_secs_f64().max(1e-6);
    // Grow slowly, shrink at once: one slow batch costs a writer a retry step.
    let next = if fits < rows as f64 { fits } else { (rows as f64 * 1.25).min(fits) };
    (next as usize).clamp(MIN_BATCH_ROWS.min(most), most.max(1))
}

/// How long emptying the write-ahead log after a run may wait for the chat service's connections.
const WAL_TRUNCATE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a batch should hold SQLite's write lock at most: a writer that starts
/// waiting as it begins then gets in at its retry after 18 ms.
const LOCK_TARGET: std::time::Duration = std::time::Duration::from_millis(14);
const MIN_BATCH_ROWS: usize = 50;
/// A pause runs this much past the waiting writer's expected retry.
const PAUSE_MARGIN: std::time::Duration = std::time::Duration::from_millis(2);
const PAUSE_MIN: std::time::Duration = std::time::Duration::from_millis(1);
const PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(60);

/// Parses a `--since` value for restore: a date (local midnight) or an RFC 3339 instant.
pub fn parse_since(text: &str, tz: Tz) -> Result<DateTime<Utc>> {
    crate::time::parse_date_or_instant("--since", text, tz).map_err(Error::invalid)
}

/// How many conversations follow one policy (`None`: the default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyGroup {
    pub policy: Option<String>,
    pub conversations: i64,
}

/// Every policy in use, with its conversation count (`retention policy list`, the desktop's policy table).
pub async fn policy_groups(store: &Store) -> Result<Vec<PolicyGroup>> {
    let groups = store.policy_groups().await?;
    Ok(groups.into_iter().map(|(policy, conversations)| PolicyGroup { policy, conversations }).collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_pause_reaches_the_waiting_writers_next_retry() {
        let ms = Duration::from_millis;
        assert_eq!(next_busy_retry(ms(0)), ms(1));
        assert_eq!(next_busy_retry(ms(8)), ms(8));
        assert_eq!(next_busy_retry(Duration::from_micros(8_001)), ms(18));
        assert_eq!(next_busy_retry(ms(14)), ms(18));
        assert_eq!(next_busy_retry(ms(40)), ms(53));
        assert_eq!(next_busy_retry(ms(229)), ms(328), "after 228 ms the handler sleeps 100 ms at a time");
    }

    #[test]
    fn batches_shrink_at_once_to_fit_the_lock_target_and_grow_back_slowly() {
        let ms = Duration::from_millis;
        // Twice the target: half the rows next time.
        assert!((499..=500).contains(&next_batch_rows(1_000, 1_000, LOCK_TARGET * 2)));
        // Quick batches grow by a quarter at most, and never past the configured size.
        assert_eq!(next_batch_rows(500, 1_000, ms(1)), 625);
        assert_eq!(next_batch_rows(900, 1_000, ms(1)), 1_000);
        // A very slow batch still leaves a batch worth running; a tiny configured size is kept.
        assert_eq!(next_batch_rows(1_000, 1_000, ms(10_000)), MIN_BATCH_ROWS);
        assert_eq!(next_batch_rows(2, 2, ms(10_000)), 2);
        assert_eq!(next_batch_rows(1, 0, ms(1)), 1);
    }
}
