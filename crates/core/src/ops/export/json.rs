//! JSON: one document, `{"export": {...}, "conversations": [...]}`, streamed page by page.

use std::io::Write;

use super::*;

/// Writes the export; `Ok(false)` when cancelled.
pub(super) async fn write(w: Writing<'_>, out: &mut impl Write) -> Result<bool> {
    let Writing { store, plan, tz, clock, conversations, total_messages, progress, cancel, pages, sizes } = w;
    let mut done = 0u64;
    let meta = serde_json::json!({
        "format": "json",
        "from": to_db(plan.from),
        "to": to_db(plan.to),
        "timezone": tz.name(),
        "filters": plan.filters,
        "generated_at": to_db(clock.now()),
        "app_version": crate::VERSION,
        "counts": {
            "conversations": conversations.len(),
            "messages": if plan.include_messages { total_messages } else { 0 },
        },
    });
    out.write_all(b"{\"export\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &meta).map_err(json_error)?;
    out.write_all(b",\"conversations\":[").map_err(io)?;
    let mut first = true;
    let mut incoming = prefetch(store, plan, pages, sizes);
    while let Some(page) = incoming.recv().await {
        let page = page?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        let rows = &page.rows;
        let messages = if plan.include_messages { page.messages.messages()? } else { Vec::new() };
        let mut next = 0;
        for c in rows {
            let start = next;
            while next < messages.len() && messages[next].conversation_id == c.conversation_id {
                next += 1;
            }
            if !first {
                out.write_all(b",\n").map_err(io)?;
            }
            first = false;
            let conversation = JsonConversation::new(c, plan.include_messages.then(|| &messages[start..next]));
            serde_json::to_writer(&mut *out, &conversation).map_err(json_error)?;
            done += if plan.include_messages { (next - start) as u64 } else { 1 };
        }
        progress.advance_to(done);
    }
    out.write_all(b"]}\n").map_err(io)?;
    Ok(true)
}

#[derive(Serialize)]
struct JsonConversation<'a> {
    id: &'a str,
    title: Option<&'a str>,
    kind: &'a str,
    owner: Option<&'a str>,
    created_at: &'a str,
    participants: &'a [String],
    messages_in_range: i64,
    tokens_used: i64,
    first_message_at: Option<&'a str>,
    last_message_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<JsonMessage<'a>>>,
}

#[derive(Serialize)]
struct JsonMessage<'a> {
    id: &'a str,
    created_at: &'a str,
    sender: Option<&'a str>,
    sender_name: Option<&'a str>,
    role: &'a str,
    kind: &'a str,
    body: Option<&'a str>,
    tokens_used: i64,
    reply_to: Option<&'a str>,
    pinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_at: Option<&'a str>,
}

impl<'a> JsonConversation<'a> {
    fn new(c: &'a ExportConversation, messages: Option<&'a [ExportMessage<'a>]>) -> Self {
        JsonConversation {
            id: &c.conversation,
            title: c.title.as_deref(),
            kind: &c.kind,
            owner: c.owner.as_deref(),
            created_at: &c.created_at,
            participants: &c.participants,
            messages_in_range: c.messages,
            tokens_used: c.tokens_used,
            first_message_at: c.first_message_at.as_deref(),
            last_message_at: c.last_message_at.as_deref(),
            messages: messages.map(|ms| {
                ms.iter()
                    .map(|m| JsonMessage {
                        id: &m.id,
                        created_at: &m.created_at,
                        sender: m.sender.as_deref(),
                        sender_name: m.sender_name.as_deref(),
                        role: &m.role,
                        kind: &m.message_kind,
                        body: m.body.as_deref(),
                        tokens_used: m.tokens_used,
                        reply_to: m.reply_to.as_deref(),
                        pinned: m.pinned,
                        expired_at: m.expired_at.as_deref(),
                    })
                    .collect()
            }),
        }
    }
}
