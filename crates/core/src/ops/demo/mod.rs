//! `chatkeep demo seed`: a deterministic, realistic data set to try chatkeep on.
//!
//! The same options (seed, sizes, and end instant) always produce the same
//! rows. Conversations of every kind, participants, replies, read receipts, a
//! mix of retention policies, token counts, and bodies in several scripts are
//! spread over the requested months, up to `until`. Everything is written in
//! one transaction with multi-row inserts, so a failed seed leaves nothing.

mod phrases;

use chrono::{DateTime, Duration, Months, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::chat::{
    Conversation, ConversationKind, Message, MessageKind, MessageRead, MessageRole, Participant, User,
};
use crate::error::{Error, Result};
use crate::ops::Progress;
use crate::store::{ChatBatch, Store};
use crate::time::truncate_to_millis;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub conversations: u64,
    pub messages: u64,
    /// Months of history, ending at `until`.
    pub months: u32,
    pub seed: u64,
    /// The newest instant any row may carry.
    pub until: DateTime<Utc>,
}

impl SeedOptions {
    pub fn validate(&self) -> Result<()> {
        if !(1..=10_000_000).contains(&self.conversations) {
            return Err(Error::invalid(format!(
                "--conversations must be from 1 to 10000000, got {}",
                self.conversations
            )));
        }
        if self.messages > 100_000_000 {
            return Err(Error::invalid(format!("--messages must be from 0 to 100000000, got {}", self.messages)));
        }
        if !(1..=120).contains(&self.months) {
            return Err(Error::invalid(format!("--months must be from 1 to 120, got {}", self.months)));
        }
        Ok(())
    }

    /// The prefix of every external id this seed writes.
    pub fn id_prefix(&self) -> String {
        format!("demo-s{}-", self.seed)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    /// Demo data for this seed was already present; nothing was written.
    pub already_present: bool,
    pub users: u64,
    pub conversations: u64,
    pub participants: u64,
    pub messages: u64,
    pub reads: u64,
}

/// Rows buffered before they are written.
const FLUSH_ROWS: usize = 40_000;

pub async fn seed_demo(
    store: &Store,
    options: &SeedOptions,
    actor: Actor,
    clock: &dyn Clock,
    progress: &dyn Progress,
) -> Result<SeedReport> {
    options.validate()?;
    let prefix = options.id_prefix();
    let existing = store.count_conversations_with_prefix(&prefix).await?;
    if existing > 0 {
        return Ok(SeedReport { already_present: true, conversations: existing as u64, ..SeedReport::default() });
    }

    progress.set_total(options.messages);
    let base = store.max_ids().await?;
    let mut tx = store.begin().await?;
    let mut report = SeedReport::default();

    // Rows are generated on a second thread while the database writes the previous batch.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<ChatBatch>(2);
    let generator_options = options.clone();
    let generating = tokio::task::spawn_blocking(move || {
        let mut generator = Generator::new(generator_options, base.user, base.conversation, base.message);
        let mut batch = ChatBatch::default();
        generator.users(&mut batch);
        generator.plan_conversation_starts();
        for index in 0..generator.options.conversations {
            generator.conversation(index, &mut batch);
            if batch.row_count() >= FLUSH_ROWS && sender.blocking_send(std::mem::take(&mut batch)).is_err() {
                return; // The writer stopped (an error); it reports why.
            }
        }
        let _ = sender.blocking_send(batch);
    });
    while let Some(batch) = batches.recv().await {
        tally(&mut report, &batch);
        tx.insert_batch(&batch).await?;
        progress.advance_to(report.messages);
    }
    generating.await.map_err(|e| Error::invalid(format!("demo data generation failed: {e}")))?;
    audit::append(
        &mut tx,
        clock.now(),
        AuditEntry::new(actor, "demo.seed")
            .target(format!("seed {}", options.seed))
            .details(serde_json::json!({
                "months": options.months,
                "until": crate::time::to_db(options.until),
            }))
            .counts(&report),
    )
    .await?;
    tx.commit().await?;
    progress.advance_to(options.messages);
    Ok(report)
}

fn tally(report: &mut SeedReport, batch: &ChatBatch) {
    report.users += batch.users.len() as u64;
    report.conversations += batch.conversations.len() as u64;
    report.participants += batch.participants.len() as u64;
    report.messages += batch.messages.len() as u64;
    report.reads += batch.reads.len() as u64;
}

/// Who is in the demo world.
#[derive(Debug)]
struct Cast {
    humans: Vec<i64>,
    agents: Vec<i64>,
    bots: Vec<i64>,
}

struct Generator {
    options: SeedOptions,
    rng: ChaCha8Rng,
    prefix: String,
    start: DateTime<Utc>,
    user_base: i64,
    conversation_base: i64,
    next_message_id: i64,
    cast: Cast,
    /// Conversation start times, oldest first: rows arrive in time order, as a
    /// real service writes them, which keeps index inserts near the end of each index.
    starts: Vec<DateTime<Utc>>,
    messages_left: u64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn pick<'t, T>(rng: &mut ChaCha8Rng, items: &'t [T]) -> &'t T {
    &items[rng.random_range(0..items.len())]
}

impl Generator {
    fn new(options: SeedOptions, user_base: i64, conversation_base: i64, message_base: i64) -> Self {
        let until = truncate_to_millis(options.until);
        let start = until
            .checked_sub_months(Months::new(options.months))
            .unwrap_or(until - Duration::days(30 * i64::from(options.months)));
        Generator {
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            prefix: options.id_prefix(),
            start,
            user_base,
            conversation_base,
            next_message_id: message_base + 1,
            cast: Cast { humans: Vec::new(), agents: Vec::new(), bots: Vec::new() },
            starts: Vec::new(),
            messages_left: options.messages,
            options,
        }
    }

    fn plan_conversation_starts(&mut self) {
        let (from, to) = (self.start, self.until() - Duration::hours(1));
        let mut starts: Vec<DateTime<Utc>> =
            (0..self.options.conversations).map(|_| self.instant_between(from, to)).collect();
        starts.sort_unstable();
        self.starts = starts;
    }

    fn until(&self) -> DateTime<Utc> {
        truncate_to_millis(self.options.until)
    }

    /// A random instant in [from, to), at millisecond precision.
    fn instant_between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let span = (to - from).num_milliseconds().max(1);
        from + Duration::milliseconds(self.rng.random_range(0..span))
    }

    fn users(&mut self, batch: &mut ChatBatch) {
        let humans = (self.options.conversations / 4).clamp(20, 50_000) as i64;
        let agents = (humans / 50).max(2);
        let bots = 3;
        let total = humans + agents + bots;
        for n in 1..=total {
            let id = self.user_base + n;
            let (display_name, email, phone) = if n <= humans {
                let first = *pick(&mut self.rng, phrases::FIRST_NAMES);
                let last = *pick(&mut self.rng, phrases::LAST_NAMES);
                let email = self.rng.random_bool(0.8).then(|| format!("user{n}.s{}@example.com", self.options.seed));
                let phone = self.rng.random_bool(0.5).then(|| {
                    format!(
                        "+{} {:03} {:04} {:03}",
                        self.rng.random_range(1..99),
                        self.rng.random_range(100..999),
                        self.rng.random_range(0..9999),
                        self.rng.random_range(0..999)
                    )
                });
                self.cast.humans.push(id);
                (format!("{first} {last}"), email, phone)
            } else if n <= humans + agents {
                self.cast.agents.push(id);
                (format!("Agent {}", n - humans), Some(format!("agent{n}@support.example.com")), None)
            } else {
                self.cast.bots.push(id);
                (format!("Helpdesk bot {}", n - humans - agents), None, None)
            };
            let created_at = self.instant_between(self.start - Duration::days(365), self.start);
            let last_seen_at = Some(self.instant_between(self.start, self.until()));
            batch.users.push(User {
                id,
                external_id: format!("{}u{n:06}", self.prefix),
                display_name: Some(display_name),
                email,
                phone,
                created_at,
                last_seen_at,
            });
        }
    }

    /// How many messages conversation `index` gets: exponential around the
    /// remaining mean, at least one while enough remain, all that remain at the end.
    fn message_count(&mut self, index: u64) -> u64 {
        let remaining_conversations = self.options.conversations - index;
        if remaining_conversations == 1 {
            return self.messages_left;
        }
        let mean = self.messages_left as f64 / remaining_conversations as f64;
        let draw = (mean * -(1.0 - self.rng.random::<f64>()).ln()).round() as u64;
        let floor = u64::from(self.messages_left >= remaining_conversations);
        let ceiling = self.messages_left.saturating_sub((remaining_conversations - 1) * floor);
        draw.clamp(floor, ceiling.max(floor))
    }

    fn conversation(&mut self, index: u64, batch: &mut ChatBatch) {
        let id = self.conversation_base + index as i64 + 1;
        let until = self.until();
        let roll = self.rng.random::<f64>();
        let kind = match roll {
            r if r < 0.40 => ConversationKind::Direct,
            r if r < 0.75 => ConversationKind::Bot,
            r if r < 0.93 => ConversationKind::Group,
            _ => ConversationKind::Channel,
        };
        let mut members: Vec<i64> = Vec::new();
        match kind {
            ConversationKind::Direct => {
                members.push(*pick(&mut self.rng, &self.cast.humans));
                members.push(*pick(&mut self.rng, &self.cast.agents));
            }
            ConversationKind::Bot => {
                members.push(*pick(&mut self.rng, &self.cast.humans));
                members.push(*pick(&mut self.rng, &self.cast.bots));
            }
            ConversationKind::Group | ConversationKind::Channel => {
                let size = if kind == ConversationKind::Group {
                    self.rng.random_range(3..=6)
                } else {
                    self.rng.random_range(5..=12)
                };
                while members.len() < size {
                    let candidate = *pick(&mut self.rng, &self.cast.humans);
                    if !members.contains(&candidate) {
                        members.push(candidate);
                    }
                }
            }
        }
        let owner_id = members[0];

        let created_at = self.starts[index as usize];
        // Most chats are short; a few run for weeks.
        let lifetime_hours = (-(1.0 - self.rng.random::<f64>()).ln() * 72.0).max(0.05);
        let lifetime = Duration::milliseconds((lifetime_hours * 3_600_000.0) as i64);
        let ends_at = (created_at + lifetime).min(until);

        let policy_roll = self.rng.random::<f64>();
        let retention_policy = match policy_roll {
            r if r < 0.60 => None,
            r if r < 0.68 => Some("instant"),
            r if r < 0.73 => Some("3d"),
            r if r < 0.83 => Some("7d"),
            r if r < 0.93 => Some("30d"),
            _ => Some("forever"),
        };
        let title = match kind {
            ConversationKind::Direct => None,
            _ => Some(format!("{} #{}", pick(&mut self.rng, phrases::TOPICS), index + 1)),
        };
        let context = (kind == ConversationKind::Bot).then(|| {
            serde_json::json!({
                "assistant": "helpdesk-bot",
                "locale": pick(&mut self.rng, phrases::LOCALES),
                "source": if self.rng.random_bool(0.7) { "web" } else { "mobile" },
            })
            .to_string()
        });

        let count = self.message_count(index);
        self.messages_left -= count;
        let step_ms = ((ends_at - created_at).num_milliseconds() / (count as i64 + 1)).max(1);
        let first_message_id = self.next_message_id;
        let mut at = created_at;
        let mut last_activity = None;
        for n in 0..count {
            at = (at + Duration::milliseconds(self.rng.random_range(1..=step_ms * 2))).min(until);
            let message_id = self.next_message_id;
            self.next_message_id += 1;
            let (role, kind_of_message, sender_id) = self.speaker(kind, &members, n);
            let (body, tokens_used) = self.body(role, kind_of_message, sender_id);
            let reply_to_id = (message_id > first_message_id && self.rng.random_bool(0.1))
                .then(|| self.rng.random_range(first_message_id..message_id));
            batch.messages.push(Message {
                id: message_id,
                external_id: format!("{}m{message_id:09}", self.prefix),
                conversation_id: id,
                sender_id,
                role,
                kind: kind_of_message,
                body: Some(body),
                tokens_used,
                reply_to_id,
                pinned: self.rng.random_bool(0.01),
                created_at: at,
            });
            // Read receipts from the other people in the conversation.
            for &reader in &members {
                if Some(reader) == sender_id || self.cast.bots.contains(&reader) {
                    continue;
                }
                if self.rng.random_bool(0.75) {
                    let read_at = at + Duration::milliseconds(self.rng.random_range(2_000..7_200_000));
                    if read_at <= until {
                        batch.reads.push(MessageRead { message_id, user_id: reader, read_at });
                    }
                }
            }
            last_activity = Some(at);
        }

        for (position, &user_id) in members.iter().enumerate() {
            batch.participants.push(Participant {
                conversation_id: id,
                user_id,
                role: match (position, kind) {
                    (_, ConversationKind::Bot) if self.cast.bots.contains(&user_id) => "bot".into(),
                    (_, ConversationKind::Direct) if self.cast.agents.contains(&user_id) => "agent".into(),
                    (0, _) => "owner".into(),
                    _ => "member".into(),
                },
                joined_at: created_at,
            });
        }
        batch.conversations.push(Conversation {
            id,
            external_id: format!("{}c{:08}", self.prefix, index + 1),
            title,
            kind,
            owner_id: Some(owner_id),
            context,
            retention_policy: retention_policy.map(str::to_string),
            legal_hold: self.rng.random_bool(0.003),
            created_at,
            last_activity_at: last_activity,
            archived_at: None,
        });
    }

    /// Who speaks the `n`th message of a conversation.
    fn speaker(&mut self, kind: ConversationKind, members: &[i64], n: u64) -> (MessageRole, MessageKind, Option<i64>) {
        if n > 0 && self.rng.random_bool(0.02) {
            return (MessageRole::System, MessageKind::System, None);
        }
        let file = self.rng.random_bool(0.03);
        let message_kind = if file { MessageKind::File } else { MessageKind::Text };
        match kind {
            ConversationKind::Bot if n % 2 == 1 => (MessageRole::Assistant, MessageKind::Text, Some(members[1])),
            ConversationKind::Bot => (MessageRole::User, message_kind, Some(members[0])),
            ConversationKind::Direct if n % 2 == 1 => (MessageRole::Agent, message_kind, Some(members[1])),
            _ => (MessageRole::User, message_kind, Some(*pick(&mut self.rng, members))),
        }
    }

    fn body(&mut self, role: MessageRole, kind: MessageKind, sender_id: Option<i64>) -> (String, i64) {
        match (role, kind) {
            (MessageRole::System, _) => {
                let who = sender_id.unwrap_or(0);
                (format!("Conversation updated by system (ref {who})."), 0)
            }
            (_, MessageKind::File) => (format!("📎 {}", pick(&mut self.rng, phrases::FILE_NAMES)), 0),
            (MessageRole::Assistant, _) => {
                let mut body = String::from(*pick(&mut self.rng, phrases::ASSISTANT_SENTENCES));
                if self.rng.random_bool(0.3) {
                    body.push_str("\n\n");
                    body.push_str(pick::<&str>(&mut self.rng, phrases::ASSISTANT_SENTENCES));
                }
                let tokens = body.chars().count() as i64 / 3 + self.rng.random_range(40..400);
                (body, tokens)
            }
            _ => {
                let sentences = self.rng.random_range(1..=3);
                let mut body = String::new();
                for i in 0..sentences {
                    if i > 0 {
                        body.push_str(if self.rng.random_bool(0.2) { "\n" } else { " " });
                    }
                    body.push_str(pick::<&str>(&mut self.rng, phrases::SENTENCES));
                }
                let tokens = if role == MessageRole::User { body.chars().count() as i64 / 4 + 1 } else { 0 };
                (body, tokens)
            }
        }
    }
}
