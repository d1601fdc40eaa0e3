//! CSV: one row per message (or per conversation with `--no-messages`), CRLF, an optional BOM,
//! formula-like cells neutralized unless raw cells were asked for.

use std::io::Write;

use super::*;

/// Writes the export; `Ok(false)` when cancelled.
pub(super) async fn write(w: Writing<'_>, out: &mut impl Write) -> Result<bool> {
    let Writing { store, plan, tz, progress, cancel, pages, sizes, .. } = w;
    let mut done = 0u64;
    if plan.bom {
        out.write_all("\u{feff}".as_bytes()).map_err(io)?;
    }
    let mut csv = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(out);
    if plan.include_messages {
        csv.write_record(MESSAGE_COLUMNS).map_err(csv_error)?;
    } else {
        csv.write_record(CONVERSATION_COLUMNS).map_err(csv_error)?;
    }
    let mut incoming = prefetch(store, plan, pages, sizes);
    while let Some(page) = incoming.recv().await {
        let page = page?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        if plan.include_messages {
            let messages = page.messages.messages()?;
            for m in &messages {
                let local = local_time(&m.created_at, tz);
                let tokens = m.tokens_used.to_string();
                csv.write_record(
                    cells(
                        plan.raw_csv,
                        [
                            m.conversation.as_ref(),
                            m.title.as_deref().unwrap_or(""),
                            m.kind.as_ref(),
                            m.id.as_ref(),
                            m.created_at.as_ref(),
                            local.as_str(),
                            m.sender.as_deref().unwrap_or(""),
                            m.sender_name.as_deref().unwrap_or(""),
                            m.role.as_ref(),
                            m.message_kind.as_ref(),
                            m.body.as_deref().unwrap_or(""),
                            tokens.as_str(),
                            m.reply_to.as_deref().unwrap_or(""),
                            if m.pinned { "true" } else { "false" },
                            m.expired_at.as_deref().unwrap_or(""),
                        ],
                    )
                    .iter()
                    .map(|cell| cell.as_bytes()),
                )
                .map_err(csv_error)?;
            }
            done += messages.len() as u64;
        } else {
            for c in &page.rows {
                let (participants, messages, tokens) =
                    (c.participants.join(" "), c.messages.to_string(), c.tokens_used.to_string());
                csv.write_record(
                    cells(
                        plan.raw_csv,
                        [
                            c.conversation.as_str(),
                            c.title.as_deref().unwrap_or(""),
                            c.kind.as_str(),
                            c.owner.as_deref().unwrap_or(""),
                            c.created_at.as_str(),
                            c.last_activity_at.as_deref().unwrap_or(""),
                            participants.as_str(),
                            messages.as_str(),
                            tokens.as_str(),
                            c.first_message_at.as_deref().unwrap_or(""),
                            c.last_message_at.as_deref().unwrap_or(""),
                        ],
                    )
                    .iter()
                    .map(|cell| cell.as_bytes()),
                )
                .map_err(csv_error)?;
                done += 1;
            }
        }
        progress.advance_to(done);
    }
    csv.flush().map_err(io)?;
    Ok(true)
}

/// The CSV columns, one row per message (documented in docs/exports.md).
pub const MESSAGE_COLUMNS: [&str; 15] = [
    "conversation_id",
    "conversation_title",
    "conversation_kind",
    "message_id",
    "created_at",
    "created_at_local",
    "sender_id",
    "sender_name",
    "role",
    "kind",
    "body",
    "tokens_used",
    "reply_to",
    "pinned",
    "expired_at",
];

/// The CSV columns with `--no-messages`, one row per conversation.
pub const CONVERSATION_COLUMNS: [&str; 11] = [
    "conversation_id",
    "title",
    "kind",
    "owner_id",
    "created_at",
    "last_activity_at",
    "participants",
    "messages",
    "tokens_used",
    "first_message_at",
    "last_message_at",
];

/// A CSV cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage
/// return first) gets a leading `'`, as OWASP advises for CSV injection; others are
/// kept as they are. JSON and JSONL keep every value exact.
pub fn neutralize_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => std::borrow::Cow::Owned(format!("'{cell}")),
        _ => std::borrow::Cow::Borrowed(cell),
    }
}

/// A record's cells, neutralised unless `raw`.
pub(super) fn cells<'a, const N: usize>(raw: bool, record: [&'a str; N]) -> [std::borrow::Cow<'a, str>; N] {
    record.map(|cell| if raw { std::borrow::Cow::Borrowed(cell) } else { neutralize_formula(cell) })
}

pub(super) fn csv_error(e: ::csv::Error) -> Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => io(e),
        other => Error::invalid(format!("cannot write a CSV row: {other:?}")),
    }
}
