//! `chatkeep import FILE.jsonl`: loads chat data in the canonical JSONL format
//! (see `docs/import-format.md` and [`crate::domain::record`]).
//!
//! Two passes over the file. The first parses and validates every line
//! without writing, and collects the problems by line number. Only a clean
//! file gets the second pass, which writes everything in one transaction;
//! a reference that cannot be resolved there rolls the whole import back.
//! Records are keyed by the chat service's ids, so importing a file twice
//! changes nothing the second time.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::chat::{Conversation, Message, MessageRead, Participant, User};
use crate::domain::policy::RetentionPolicy;
use crate::domain::record::{ConversationRecord, MessageRecord, ParticipantRecord, ReadRecord, Record, UserRecord};
use crate::error::{Error, Result};
use crate::ops::Progress;
use crate::store::{Entity, Store, Tx, Upserted};

/// Problems listed before an import gives up on a file.
const MAX_PROBLEMS: usize = 20;
const MAX_ID_LEN: usize = 256;
/// The longest line read; a longer one is refused by number without being read whole.
const MAX_LINE: usize = 16 << 20;
/// Problems quote values from the file; a quoted value is cut so a message stays readable.
const MAX_PROBLEM_CHARS: usize = 300;

pub use crate::error::{ImportError, LineProblem};

/// Rows written per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Tally {
    fn add(&mut self, outcome: Upserted) {
        match outcome {
            Upserted::Inserted => self.inserted += 1,
            Upserted::Updated => self.updated += 1,
            Upserted::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub file: PathBuf,
    pub records: u64,
    pub users: Tally,
    pub conversations: Tally,
    pub participants: Tally,
    pub messages: Tally,
    pub reads: Tally,
}

/// How an import treats what is already there.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Leave rows that exist untouched (restores); otherwise update them (imports).
    pub keep_existing: bool,
    /// A reply to a message that is not there loses its link instead of failing the import
    /// (an archive holds one month; the message replied to may be older).
    pub drop_missing_reply_to: bool,
    /// The audit action recorded.
    pub action: &'static str,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { keep_existing: false, drop_missing_reply_to: false, action: "import.file" }
    }
}

/// Imports a JSONL file: validates all of it, then writes all of it, or nothing.
pub async fn import_jsonl(
    store: &Store,
    path: &Path,
    actor: Actor,
    clock: &dyn Clock,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    import_jsonl_with(store, path, ImportOptions::default(), actor, clock, progress).await
}

/// [`import_jsonl`] with options.
pub async fn import_jsonl_with(
    store: &Store,
    path: &Path,
    options: ImportOptions,
    actor: Actor,
    clock: &dyn Clock,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read the import file {}", path.display()), e))?
        .len();
    progress.set_total(size * 2);

    // Pass 1: read-only validation of every line.
    let mut problems = Vec::new();
    let mut truncated = false;
    let mut records = 0u64;
    // The line each id was first seen on, by a hash of (type, id): a few bytes per record.
    let mut first_seen: HashMap<u64, u64> = HashMap::new();
    for_each_line(path, |line_no, offset, line| {
        progress.advance_to(offset);
        let checked = parse_line(line).and_then(|record| {
            validate(&record)?;
            repeated_id(&record, line_no, &mut first_seen)
        });
        match checked {
            Ok(()) => records += 1,
            Err(message) => {
                if problems.len() < MAX_PROBLEMS {
                    problems.push(LineProblem { line: line_no, message: shorten(&message) });
                } else {
                    truncated = true;
                    return false;
                }
            }
        }
        true
    })?;
    if !problems.is_empty() {
        return Err(ImportError { file: path.to_path_buf(), problems, truncated }.into());
    }

    // Pass 2: one transaction; any unresolved reference rolls everything back.
    let mut tx = store.begin().await?;
    let mut writer = Writer { options, ..Writer::default() };
    let mut failure: Option<(u64, String)> = None;
    let mut pending = Vec::new();
    // Lines are read synchronously and written in small groups, so the file is never held in memory.
    let mut lines = LineReader::open(path)?;
    while let Some((line_no, offset, line)) = lines.next_line()? {
        progress.advance_to(size + offset);
        pending.push((line_no, line));
        if pending.len() >= 512 {
            if let Err(problem) = writer.write_lines(&mut tx, &pending).await? {
                failure = Some(problem);
                break;
            }
            pending.clear();
        }
    }
    if failure.is_none()
        && !pending.is_empty()
        && let Err(problem) = writer.write_lines(&mut tx, &pending).await?
    {
        failure = Some(problem);
    }
    if let Some((line, message)) = failure {
        drop(tx);
        return Err(ImportError {
            file: path.to_path_buf(),
            problems: vec![LineProblem { line, message }],
            truncated: false,
        }
        .into());
    }

    let touched: Vec<i64> = writer.touched_conversations.iter().copied().collect();
    tx.refresh_last_activity(&touched).await?;
    writer.report.file = path.to_path_buf();
    writer.report.records = records;
    audit::append(
        &mut tx,
        clock.now(),
        AuditEntry::new(actor, options.action).target(path.display().to_string()).counts(&writer.report),
    )
    .await?;
    tx.commit().await?;
    progress.advance_to(size * 2);
    Ok(writer.report)
}

/// An id that an earlier line of the same file already gave to a record of the same type.
fn repeated_id(record: &Record, line_no: u64, first_seen: &mut HashMap<u64, u64>) -> Result<(), String> {
    use std::hash::{Hash, Hasher};
    let id = match record {
        Record::User(r) => &r.id,
        Record::Conversation(r) => &r.id,
        Record::Message(r) => &r.id,
        Record::Participant(_) | Record::Read(_) => return Ok(()),
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (record.type_name(), id).hash(&mut hasher);
    match first_seen.entry(hasher.finish()) {
        std::collections::hash_map::Entry::Occupied(earlier) => Err(format!(
            "id: the {} {id:?} is already on line {}; each record appears once in a file",
            record.type_name(),
            earlier.get()
        )),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(line_no);
            Ok(())
        }
    }
}

/// A problem message with any long value it quotes cut in the middle.
fn shorten(message: &str) -> String {
    let count = message.chars().count();
    if count <= MAX_PROBLEM_CHARS {
        return message.to_string();
    }
    let head: String = message.chars().take(MAX_PROBLEM_CHARS / 2).collect();
    let tail: String = message.chars().skip(count - MAX_PROBLEM_CHARS / 3).collect();
    format!("{head} … ({} characters cut) … {tail}", count - head.chars().count() - tail.chars().count())
}

fn parse_line(line: &str) -> Result<Record, String> {
    serde_json::from_str::<Record>(line).map_err(|e| {
        // Valid JSON that is not an object gets its own answer (checked only on failure).
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line)
            && !value.is_object()
        {
            let kind = match value {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "true or false",
                _ => "null",
            };
            return format!(
                "the line is JSON but {kind}, not an object: each line is one record, such as \
                 {{\"type\":\"message\",\"id\":\"m-1\",...}}"
            );
        }
        let text = e.to_string();
        // serde_json appends " at line 1 column N"; the line number is ours to give.
        match text.rsplit_once(" at line ") {
            Some((message, position)) => {
                let column = position.rsplit(' ').next().unwrap_or("");
                format!("{message} (column {column})")
            }
            None => text,
        }
    })
}

/// A record whose fields are checked and parsed; references still by the chat service's ids.
#[derive(Debug)]
enum Valid {
    User(User),
    Conversation(Conversation, Option<String>),
    Participant(ParticipantRecord, DateTime<Utc>),
    Message(Message, MessageRecord),
    Read(ReadRecord, DateTime<Utc>),
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(format!("{field}: must be 1 to {MAX_ID_LEN} characters without control characters, got {id:?}"));
    }
    Ok(())
}

/// The years backups, archives and retention handle: data outside them could never be
/// archived, so never purged, and would stay for ever.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// An RFC 3339 instant inside [`YEARS`].
fn parse_instant(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    use chrono::Datelike;
    let at = crate::time::parse_instant(field, text)?;
    if !YEARS.contains(&at.year()) {
        return Err(format!(
            "{field}: {} is outside the years chatkeep can back up, archive and purge ({} to {}); fix the timestamp in the file",
            text.trim(),
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(at)
}

fn optional_instant(field: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    value.as_deref().map(|text| parse_instant(field, text)).transpose()
}

fn validate(record: &Record) -> Result<Valid, String> {
    Ok(match record {
        Record::User(UserRecord { id, display_name, email, phone, created_at, last_seen_at }) => {
            check_id("id", id)?;
            if let Some(email) = email
                && (!email.contains('@') || email.chars().any(char::is_whitespace))
            {
                return Err(format!("email: {email:?} is not an email address"));
            }
            Valid::User(User {
                id: 0,
                external_id: id.clone(),
                display_name: display_name.clone(),
                email: email.clone(),
                phone: phone.clone(),
                created_at: parse_instant("created_at", created_at)?,
                last_seen_at: optional_instant("last_seen_at", last_seen_at)?,
            })
        }
        Record::Conversation(ConversationRecord {
            id,
            title,
            kind,
            owner,
            context,
            retention_policy,
            legal_hold,
            created_at,
            last_activity_at,
            archived_at,
        }) => {
            check_id("id", id)?;
            if let Some(owner) = owner {
                check_id("owner", owner)?;
            }
            if let Some(policy) = retention_policy {
                policy.parse::<RetentionPolicy>().map_err(|e| format!("retention_policy: {e}"))?;
            }
            if context.as_ref().is_some_and(|c| !c.is_object()) {
                return Err("context: must be a JSON object".into());
            }
            let conversation = Conversation {
                id: 0,
                external_id: id.clone(),
                title: title.clone(),
                kind: *kind,
                owner_id: None,
                context: context.as_ref().map(|c| c.to_string()),
                retention_policy: retention_policy.clone(),
                legal_hold: *legal_hold,
                created_at: parse_instant("created_at", created_at)?,
                last_activity_at: optional_instant("last_activity_at", last_activity_at)?,
                archived_at: optional_instant("archived_at", archived_at)?,
            };
            Valid::Conversation(conversation, owner.clone())
        }
        Record::Participant(p) => {
            check_id("conversation", &p.conversation)?;
            check_id("user", &p.user)?;
            if p.role.is_empty() || p.role.len() > 64 {
                return Err(format!("role: must be 1 to 64 characters, got {:?}", p.role));
            }
            let joined_at = parse_instant("joined_at", &p.joined_at)?;
            Valid::Participant(p.clone(), joined_at)
        }
        Record::Message(m) => {
            check_id("id", &m.id)?;
            check_id("conversation", &m.conversation)?;
            if let Some(sender) = &m.sender {
                check_id("sender", sender)?;
            }
            if let Some(reply_to) = &m.reply_to {
                check_id("reply_to", reply_to)?;
                if reply_to == &m.id {
                    return Err("reply_to: a message cannot reply to itself".into());
                }
            }
            let message = Message {
                id: 0,
                external_id: m.id.clone(),
                conversation_id: 0,
                sender_id: None,
                role: m.role,
                kind: m.kind,
                body: m.body.clone(),
                tokens_used: i64::from(m.tokens_used),
                reply_to_id: None,
                pinned: m.pinned,
                created_at: parse_instant("created_at", &m.created_at)?,
            };
            Valid::Message(message, m.clone())
        }
        Record::Read(r) => {
            check_id("message", &r.message)?;
            check_id("user", &r.user)?;
            let read_at = parse_instant("read_at", &r.read_at)?;
            Valid::Read(r.clone(), read_at)
        }
    })
}

/// Resolves references and upserts records inside the import's transaction.
#[derive(Debug, Default)]
struct Writer {
    options: ImportOptions,
    users: HashMap<String, i64>,
    conversations: HashMap<String, i64>,
    touched_conversations: HashSet<i64>,
    report: ImportReport,
}

impl Writer {
    /// Writes validated lines; the inner error is a line problem that must abort the import.
    async fn write_lines(&mut self, tx: &mut Tx<'_>, lines: &[(u64, String)]) -> Result<Result<(), (u64, String)>> {
        for (line_no, line) in lines {
            // Pass 1 accepted every line, so these cannot fail; keep the message all the same.
            let valid = match parse_line(line).and_then(|r| validate(&r)) {
                Ok(valid) => valid,
                Err(message) => return Ok(Err((*line_no, message))),
            };
            if let Err(message) = self.write(tx, valid).await? {
                return Ok(Err((*line_no, message)));
            }
        }
        Ok(Ok(()))
    }

    /// The internal id for a chat-service id: from this import's cache, else the database.
    /// Users and conversations are cached (few); messages are looked up (many).
    async fn resolve(&mut self, tx: &mut Tx<'_>, kind: Entity, field: &str, id: &str) -> Result<Result<i64, String>> {
        let cache = match kind {
            Entity::User => Some(&mut self.users),
            Entity::Conversation => Some(&mut self.conversations),
            Entity::Message => None,
        };
        if let Some(found) = cache.as_ref().and_then(|c| c.get(id)) {
            return Ok(Ok(*found));
        }
        Ok(match tx.find_id(kind, id).await? {
            Some(found) => {
                if let Some(cache) = cache {
                    cache.insert(id.to_string(), found);
                }
                Ok(found)
            }
            None => Err(format!(
                "{field}: no {} with id {id:?}; it must appear on an earlier line or already be in the database",
                kind.noun()
            )),
        })
    }

    async fn write(&mut self, tx: &mut Tx<'_>, valid: Valid) -> Result<Result<(), String>> {
        macro_rules! resolve {
            ($kind:expr, $field:expr, $id:expr) => {
                match self.resolve(tx, $kind, $field, $id).await? {
                    Ok(id) => id,
                    Err(message) => return Ok(Err(message)),
                }
            };
        }
        if self.options.keep_existing {
            let existing = match &valid {
                Valid::User(u) => Some((Entity::User, u.external_id.clone())),
                Valid::Conversation(c, _) => Some((Entity::Conversation, c.external_id.clone())),
                Valid::Message(m, _) => Some((Entity::Message, m.external_id.clone())),
                Valid::Participant(..) | Valid::Read(..) => None,
            };
            if let Some((kind, external_id)) = existing
                && let Some(id) = tx.find_id(kind, &external_id).await?
            {
                match kind {
                    Entity::User => {
                        self.users.insert(external_id, id);
                        self.report.users.add(Upserted::Unchanged);
                    }
                    Entity::Conversation => {
                        self.conversations.insert(external_id, id);
                        self.report.conversations.add(Upserted::Unchanged);
                    }
                    Entity::Message => self.report.messages.add(Upserted::Unchanged),
                }
                return Ok(Ok(()));
            }
        }
        match valid {
            Valid::User(user) => {
                let (id, outcome) = tx.upsert_user(&user).await?;
                self.users.insert(user.external_id, id);
                self.report.users.add(outcome);
            }
            Valid::Conversation(mut conversation, owner) => {
                if let Some(owner) = owner {
                    conversation.owner_id = Some(resolve!(Entity::User, "owner", &owner));
                }
                let (id, outcome) = tx.upsert_conversation(&conversation).await?;
                self.conversations.insert(conversation.external_id, id);
                self.report.conversations.add(outcome);
            }
            Valid::Participant(p, joined_at) => {
                let participant = Participant {
                    conversation_id: resolve!(Entity::Conversation, "conversation", &p.conversation),
                    user_id: resolve!(Entity::User, "user", &p.user),
                    role: p.role,
                    joined_at,
                };
                let outcome = tx.upsert_participant(&participant, self.options.keep_existing).await?;
                self.report.participants.add(outcome);
            }
            Valid::Message(mut message, record) => {
                message.conversation_id = resolve!(Entity::Conversation, "conversation", &record.conversation);
                if let Some(sender) = &record.sender {
                    message.sender_id = Some(resolve!(Entity::User, "sender", sender));
                }
                if let Some(reply_to) = &record.reply_to {
                    message.reply_to_id = match self.resolve(tx, Entity::Message, "reply_to", reply_to).await? {
                        Ok(id) => Some(id),
                        Err(_) if self.options.drop_missing_reply_to => None,
                        Err(message) => return Ok(Err(message)),
                    };
                }
                let (_, outcome) = tx.upsert_message(&message).await?;
                self.touched_conversations.insert(message.conversation_id);
                self.report.messages.add(outcome);
            }
            Valid::Read(r, read_at) => {
                let read = MessageRead {
                    message_id: resolve!(Entity::Message, "message", &r.message),
                    user_id: resolve!(Entity::User, "user", &r.user),
                    read_at,
                };
                let outcome = tx.upsert_read(&read, self.options.keep_existing).await?;
                self.report.reads.add(outcome);
            }
        }
        Ok(Ok(()))
    }
}

/// Reads a file's non-blank lines with their 1-based numbers and the byte offset after each.
struct LineReader {
    reader: BufReader<File>,
    path: PathBuf,
    line_no: u64,
    offset: u64,
    buffer: Vec<u8>,
}

impl LineReader {
    fn open(path: &Path) -> Result<LineReader> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("cannot open the import file {}", path.display()), e))?;
        Ok(LineReader {
            reader: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            line_no: 0,
            offset: 0,
            buffer: Vec::new(),
        })
    }

    fn next_line(&mut self) -> Result<Option<(u64, u64, String)>> {
        loop {
            self.buffer.clear();
            // At most one byte past the cap: a longer line is refused without being read whole.
            let read = std::io::Read::take(&mut self.reader, MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| Error::io(format!("cannot read the import file {}", self.path.display()), e))?;
            if read == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            self.offset += read as u64;
            if self.buffer.len() > MAX_LINE && self.buffer.last() != Some(&b'\n') {
                let message = format!("the line is longer than {} MiB; no record is that large", MAX_LINE >> 20);
                return Err(ImportError {
                    file: self.path.clone(),
                    problems: vec![LineProblem { line: self.line_no, message }],
                    truncated: false,
                }
                .into());
            }
            let text = match std::str::from_utf8(&self.buffer) {
                // A byte-order mark (some editors write one) is not part of the first record.
                Ok(text) if self.line_no == 1 => text.trim_start_matches('\u{feff}').trim_end_matches(['\n', '\r']),
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(_) => {
                    return Err(ImportError {
                        file: self.path.clone(),
                        problems: vec![LineProblem { line: self.line_no, message: "not valid UTF-8 text".into() }],
                        truncated: false,
                    }
                    .into());
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Ok(Some((self.line_no, self.offset, text.to_string())));
        }
    }
}

/// Calls `f(line_no, offset, line)` for each non-blank line until it returns false.
fn for_each_line(path: &Path, mut f: impl FnMut(u64, u64, &str) -> bool) -> Result<()> {
    let mut reader = LineReader::open(path)?;
    while let Some((line_no, offset, line)) = reader.next_line()? {
        if !f(line_no, offset, &line) {
            break;
        }
    }
    Ok(())
}
