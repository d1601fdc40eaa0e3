//! `chatkeep export`: any date range to CSV, JSON, JSONL or PDF, streamed.
//!
//! Rows come from the database a page of conversations at a time, in
//! (conversation, created_at) order, so memory stays flat however large the
//! range. The file is written under a temporary name beside its destination
//! and renamed when complete; a cancelled or failed export leaves nothing.
//! See `docs/exports.md` for the columns and shapes.
//!
//! This file plans an export and feeds the pages; each format has its writer
//! beside it (`csv.rs`, `json.rs`, `jsonl.rs`, and `transcript.rs` for the PDF,
//! laid out with the document builder in `pdf.rs`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::ExportSettings;
use crate::domain::Actor;
use crate::domain::chat::ConversationKind;
use crate::error::{Error, Result};
use crate::ops::{Cancel, Progress};
use crate::store::export::{ExportConversation, ExportMessage, ExportScope, MessagePage};
use crate::store::{Entity, Store};
use crate::time::{parse_date_or_instant, start_of_day, to_db};

mod csv;
mod json;
mod jsonl;
mod pdf;
mod transcript;

pub use csv::{CONVERSATION_COLUMNS, MESSAGE_COLUMNS, neutralize_formula};
pub use pdf::TEXT_WIDTH as PDF_TEXT_WIDTH;

/// Messages per page fetched from the database (a page holds whole conversations).
const PAGE_MESSAGES: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Json,
    Jsonl,
    Pdf,
}

impl Format {
    pub const ACCEPTED: &'static str = "csv, json, jsonl or pdf";

    pub fn parse(text: &str) -> Result<Format> {
        match text.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "jsonl" => Ok(Format::Jsonl),
            "pdf" => Ok(Format::Pdf),
            _ => Err(Error::invalid(format!("export format {text:?} is not known: use {}", Format::ACCEPTED))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Pdf => "pdf",
        }
    }
}

/// What the user asked for, as given.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    /// A date (`2026-01-01`, the whole day, local) or an RFC 3339 instant.
    pub from: String,
    /// A date (included, to its end) or an RFC 3339 instant (excluded).
    pub to: String,
    pub format: String,
    pub include_messages: bool,
    /// Conversation ids in the chat service.
    pub conversations: Vec<String>,
    /// A participant: user id in the chat service.
    pub participant: Option<String>,
    pub kinds: Vec<String>,
    pub include_expired: bool,
    /// A byte-order mark at the start of a CSV file, for spreadsheet programs.
    pub bom: bool,
    /// CSV cells exactly as stored, even those a spreadsheet would run as a formula
    /// (by default such cells get a leading `'`; see [`neutralize_formula`]).
    pub raw_csv: bool,
    /// Where to write; a folder gets the generated name; none = the generated name here.
    pub out: Option<PathBuf>,
    /// Replace an existing file of that name (the CLI's `--overwrite`; the save dialog's own confirmation).
    pub overwrite: bool,
}

/// The request, checked.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub format: Format,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub scope: ExportScope,
    pub include_messages: bool,
    pub bom: bool,
    pub raw_csv: bool,
    pub path: PathBuf,
    pub overwrite: bool,
    pub filters: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    pub format: Format,
    pub from: String,
    pub to: String,
    pub conversations: u64,
    pub messages: u64,
    pub bytes: u64,
    pub sha256: String,
    pub cancelled: bool,
}

/// Checks a request against the database before any file is created.
pub async fn plan(store: &Store, request: &ExportRequest, tz: Tz, settings: &ExportSettings) -> Result<ExportPlan> {
    let format = Format::parse(&request.format)?;
    let from = parse_date_or_instant("--from", &request.from, tz).map_err(Error::invalid)?;
    let to = match NaiveDate::parse_from_str(request.to.trim(), "%Y-%m-%d") {
        // A date is included to its end: the range stops at the next local midnight.
        Ok(date) => start_of_day(date + Duration::days(1), tz),
        Err(_) => parse_date_or_instant("--to", &request.to, tz).map_err(Error::invalid)?,
    };
    if to <= from {
        return Err(Error::invalid(format!(
            "--to {} is not after --from {}: the range is empty",
            request.to.trim(),
            request.from.trim()
        )));
    }
    let days = (to - from).num_days();
    if days > i64::from(settings.max_range_days) {
        return Err(Error::invalid(format!(
            "the range covers {days} days, more than export.max_range_days ({}); export it in parts or raise the setting",
            settings.max_range_days
        )));
    }
    let mut conversations = Vec::new();
    for id in &request.conversations {
        let found = store
            .find_id(Entity::Conversation, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("conversation {id:?} (--conversation)")))?;
        conversations.push(found);
    }
    let participant = match &request.participant {
        Some(id) => Some(
            store.find_id(Entity::User, id).await?.ok_or_else(|| Error::NotFound(format!("user {id:?} (--user)")))?,
        ),
        None => None,
    };
    let mut kinds = Vec::new();
    for kind in &request.kinds {
        let parsed = ConversationKind::parse(kind.trim()).ok_or_else(|| {
            Error::invalid(format!("conversation kind {kind:?} is not known: use direct, group, channel or bot"))
        })?;
        kinds.push(parsed.as_str().to_string());
    }
    let name = format!(
        "chat-export_{}_{}.{}",
        from.with_timezone(&tz).date_naive(),
        (to - Duration::milliseconds(1)).with_timezone(&tz).date_naive(),
        format.extension()
    );
    let path = match &request.out {
        Some(out) if out.is_dir() => out.join(name),
        Some(out) => out.clone(),
        None => PathBuf::from(name),
    };
    crate::output::check_target(&path, request.overwrite)?;
    let filters = serde_json::json!({
        "conversations": request.conversations,
        "user": request.participant,
        "kinds": kinds,
        "include_expired": request.include_expired,
        "include_messages": request.include_messages,
    });
    Ok(ExportPlan {
        format,
        from,
        to,
        scope: ExportScope {
            from: to_db(from),
            to: to_db(to),
            conversations,
            participant,
            kinds,
            include_expired: request.include_expired,
        },
        include_messages: request.include_messages,
        bom: request.bom,
        raw_csv: request.raw_csv,
        path,
        overwrite: request.overwrite,
        filters,
    })
}

/// Writes the export. A cancel stops between pages and removes the partial file.
#[allow(clippy::too_many_arguments)]
pub async fn export(
    store: &Store,
    plan: &ExportPlan,
    tz: Tz,
    actor: Actor,
    clock: &dyn Clock,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<ExportReport> {
    let conversations = store.export_conversations(&plan.scope).await?;
    let total_messages: i64 = conversations.iter().map(|(_, n)| n).sum();
    progress.set_total(if plan.include_messages { total_messages as u64 } else { conversations.len() as u64 });

    let (file, pending) = crate::output::create(&plan.path, plan.overwrite)?;
    let mut out = crate::ops::backup::HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let written = write_all(store, plan, tz, clock, &conversations, total_messages, &mut out, progress, cancel).await;
    let cancelled = matches!(written, Ok(false));
    let finished = written.and_then(|_| {
        let (buffered, sha256, bytes) = out.finish();
        let file = buffered.into_inner().map_err(|e| Error::io("cannot write the export file", e.into_error()))?;
        Ok((sha256, bytes, file))
    });
    let (sha256, bytes) = match finished {
        Ok((sha256, bytes, file)) if !cancelled => {
            pending.finish(file)?;
            (sha256, bytes)
        }
        // Failed or cancelled: dropping `pending` removes the partial file.
        Err(e) => return Err(e),
        Ok(_) => {
            return Ok(ExportReport {
                path: plan.path.clone(),
                format: plan.format,
                from: to_db(plan.from),
                to: to_db(plan.to),
                conversations: 0,
                messages: 0,
                bytes: 0,
                sha256: String::new(),
                cancelled: true,
            });
        }
    };
    let report = ExportReport {
        path: plan.path.clone(),
        format: plan.format,
        from: to_db(plan.from),
        to: to_db(plan.to),
        conversations: conversations.len() as u64,
        messages: if plan.include_messages { total_messages as u64 } else { 0 },
        bytes,
        sha256,
        cancelled: false,
    };
    let mut tx = store.begin().await?;
    audit::append(
        &mut tx,
        clock.now(),
        AuditEntry::new(actor, "export.file")
            .target(plan.path.display().to_string())
            .details(serde_json::json!({
                "format": plan.format, "from": report.from, "to": report.to, "filters": plan.filters,
                "sha256": report.sha256,
            }))
            .counts(serde_json::json!({
                "conversations": report.conversations, "messages": report.messages, "bytes": report.bytes,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// Groups conversations into pages of about `PAGE_MESSAGES` messages (a bigger conversation is a page of its own).
fn pages(conversations: &[(i64, i64)]) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut size = 0;
    for &(id, n) in conversations {
        if !page.is_empty() && size + n > PAGE_MESSAGES {
            pages.push(std::mem::take(&mut page));
            size = 0;
        }
        page.push(id);
        size += n;
    }
    if !page.is_empty() {
        pages.push(page);
    }
    pages
}

/// One page of rows, fetched ahead of the writer.
#[derive(Default)]
struct Page {
    rows: Vec<ExportConversation>,
    /// The page's messages, read in the writer (strings borrow from it).
    messages: MessagePage,
    records: String,
    /// Messages the page covers (for progress).
    size: u64,
}

/// Fetches pages on a task of its own, two ahead of the writer, so the database
/// and the file writing use both cores. Dropping the receiver stops it.
fn prefetch(
    store: &Store,
    plan: &ExportPlan,
    pages: Vec<Vec<i64>>,
    sizes: Vec<u64>,
) -> tokio::sync::mpsc::Receiver<Result<Page>> {
    let (send, receive) = tokio::sync::mpsc::channel(2);
    let store = store.clone();
    let scope = plan.scope.clone();
    let (format, include_messages) = (plan.format, plan.include_messages);
    tokio::spawn(async move {
        if format == Format::Csv && include_messages && store.streams_exports() {
            let streamed = store
                .export_message_stream(&scope, PAGE_MESSAGES as usize, |messages| {
                    let send = send.clone();
                    Box::pin(async move {
                        let size = messages.rows().unwrap_or(0) as u64;
                        send.send(Ok(Page { size, messages, ..Page::default() })).await.is_ok()
                    })
                })
                .await;
            if let Err(e) = streamed {
                let _ = send.send(Err(e.into())).await;
            }
            return;
        }
        for (ids, size) in pages.into_iter().zip(sizes) {
            let page = async {
                let mut page = Page { size, ..Page::default() };
                if format == Format::Jsonl {
                    page.records = store.export_records(&scope, &ids).await?;
                } else {
                    if matches!(format, Format::Json | Format::Pdf) || !include_messages {
                        page.rows = store.export_conversation_rows(&scope, &ids).await?;
                    }
                    if include_messages {
                        page.messages = store.export_messages(&scope, &ids).await?;
                    }
                }
                Ok::<_, Error>(page)
            }
            .await;
            let failed = page.is_err();
            if send.send(page).await.is_err() || failed {
                break;
            }
        }
    });
    receive
}

fn io(e: std::io::Error) -> Error {
    Error::io("cannot write the export file", e)
}

/// What every format's writer gets: the plan, the conversations in range, and where to report.
pub(super) struct Writing<'a> {
    pub(super) store: &'a Store,
    pub(super) plan: &'a ExportPlan,
    pub(super) tz: Tz,
    pub(super) clock: &'a dyn Clock,
    pub(super) conversations: &'a [(i64, i64)],
    pub(super) total_messages: i64,
    pub(super) progress: &'a dyn Progress,
    pub(super) cancel: &'a Cancel,
    /// Conversation ids in pages, and each page's size in progress units.
    pub(super) pages: Vec<Vec<i64>>,
    pub(super) sizes: Vec<u64>,
}

/// Returns `Ok(false)` when cancelled.
#[allow(clippy::too_many_arguments)]
async fn write_all(
    store: &Store,
    plan: &ExportPlan,
    tz: Tz,
    clock: &dyn Clock,
    conversations: &[(i64, i64)],
    total_messages: i64,
    out: &mut impl Write,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<bool> {
    let pages = pages(conversations);
    let sizes: Vec<u64> = {
        let count: std::collections::HashMap<i64, i64> = conversations.iter().copied().collect();
        pages.iter().map(|p| p.iter().map(|id| count.get(id).copied().unwrap_or(0) as u64).sum()).collect()
    };
    let w = Writing { store, plan, tz, clock, conversations, total_messages, progress, cancel, pages, sizes };
    match plan.format {
        Format::Csv => csv::write(w, out).await,
        Format::Json => json::write(w, out).await,
        Format::Jsonl => jsonl::write(w, out).await,
        Format::Pdf => transcript::write(w, out).await,
    }
}

fn local_time(stored: &str, tz: Tz) -> String {
    use chrono::{Datelike, Timelike};
    crate::time::from_db(stored)
        .map(|t| {
            let t = t.with_timezone(&tz);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

fn json_error(e: serde_json::Error) -> Error {
    Error::io("cannot write the export file", std::io::Error::other(e))
}
