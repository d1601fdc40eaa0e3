//! PDF: a transcript a person reads (cover page, then each conversation with its messages),
//! laid out with the document builder in `pdf.rs`.

use std::io::Write;

use super::pdf::{Pdf, Style};
use super::*;

/// Writes the export; `Ok(false)` when cancelled.
pub(super) async fn write(w: Writing<'_>, out: &mut impl Write) -> Result<bool> {
    let Writing { store, plan, tz, clock, conversations, total_messages, progress, cancel, pages, sizes } = w;
    let mut done = 0u64;
    let mut doc = Pdf::new("chatkeep export", &mut *out, &plan.path)?;
    doc.paragraph("Chat export", Style::Title, 0.0)?;
    doc.gap(10.0);
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let lines = [
        format!("Range: {} to {} ({})", local(plan.from), local(plan.to), tz.name()),
        format!("Conversations: {}", conversations.len()),
        format!("Messages: {}", if plan.include_messages { total_messages } else { 0 }),
        format!("Filters: {}", plan.filters),
        format!("Generated: {} by chatkeep {}", to_db(clock.now()), crate::VERSION),
    ];
    for line in lines {
        doc.paragraph(&line, Style::Body, 0.0)?;
    }
    let mut incoming = prefetch(store, plan, pages, sizes);
    let mut first = true;
    while let Some(page) = incoming.recv().await {
        let page = page?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        let messages = if plan.include_messages { page.messages.messages()? } else { Vec::new() };
        let mut next = 0;
        for c in &page.rows {
            if first {
                doc.new_page()?;
                first = false;
            } else {
                doc.gap(14.0);
            }
            let title = c.title.as_deref().unwrap_or("(untitled)");
            doc.paragraph(&format!("{title} — {} ({})", c.conversation, c.kind), Style::Heading, 0.0)?;
            doc.paragraph(&format!("Participants: {}", c.participants.join(", ")), Style::Meta, 0.0)?;
            doc.paragraph(
                &format!(
                    "{} {} in range, {} to {}",
                    c.messages,
                    if c.messages == 1 { "message" } else { "messages" },
                    c.first_message_at.as_deref().unwrap_or("-"),
                    c.last_message_at.as_deref().unwrap_or("-")
                ),
                Style::Meta,
                0.0,
            )?;
            let start = next;
            while next < messages.len() && messages[next].conversation_id == c.conversation_id {
                next += 1;
            }
            for m in &messages[start..next] {
                doc.gap(4.0);
                let sender = m.sender_name.as_deref().or(m.sender.as_deref()).unwrap_or("system");
                doc.paragraph(&format!("{}  {sender} ({})", local_time(&m.created_at, tz), m.role), Style::Meta, 0.0)?;
                doc.paragraph(m.body.as_deref().unwrap_or(""), Style::Body, 10.0)?;
            }
            done += if plan.include_messages { (next - start) as u64 } else { 1 };
        }
        progress.advance_to(done);
    }
    doc.finish()?;
    Ok(true)
}
