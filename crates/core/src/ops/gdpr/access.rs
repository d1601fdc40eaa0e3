//! Access and portability (Art. 15/20): one zip with everything about one person.
//!
//! - `data.json`: machine-readable: their user row, the conversations they are in, their
//!   messages (everyone's in those conversations only when `gdpr.include_other_participants`
//!   is on: the others' messages are other people's data), their read receipts, their
//!   requests and the legal holds placed on them.
//! - `summary.html`: the same for a person to read, in the configured time zone.
//! - `manifest.json`: the format, what was included, and each file's size and SHA-256.
//!
//! The zip is written beside its destination under a temporary name and renamed into
//! place only when complete; an answered request records its path and SHA-256.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Subject, Target, pending_request, resolve_target};
use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::GdprSettings;
use crate::domain::Actor;
use crate::domain::gdpr::{DsrRequest, RequestKind};
use crate::domain::hold::HoldTarget;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::time::{self, to_db};

pub const FORMAT: &str = "chatkeep-access-export";
pub const FORMAT_VERSION: u32 = 1;

/// What an access export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReport {
    /// The request it answered, if it answered one.
    pub request: Option<DsrRequest>,
    pub file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub conversations: usize,
    pub messages: usize,
    pub read_receipts: usize,
    pub include_other_participants: bool,
}

#[derive(Debug, Serialize)]
struct ManifestFile {
    name: &'static str,
    bytes: u64,
    sha256: String,
}

/// Checks that `out` can be written (a new file in an existing, writable folder) before
/// anything is read; returns its folder.
fn check_destination(out: &Path) -> Result<PathBuf> {
    let shown = out.display();
    if out.exists() {
        return Err(Error::invalid(format!(
            "{shown} already exists: choose a new file name (an access export never replaces a file)"
        )));
    }
    let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    if !folder.is_dir() {
        return Err(Error::invalid(format!(
            "cannot write {shown}: the folder {} does not exist; choose --out in an existing folder",
            folder.display()
        )));
    }
    tempfile::Builder::new()
        .prefix(".chatkeep-access-")
        .tempfile_in(&folder)
        .map_err(|e| Error::invalid(format!("cannot write {shown}: {e}; choose --out in a folder you can write to")))?;
    Ok(folder)
}

/// Writes the access export for the person `target` names to `out` (a new `.zip` file).
/// Answering a request marks it done with the file's path and SHA-256.
pub async fn export_access(
    store: &Store,
    target: Target<'_>,
    out: &Path,
    settings: &GdprSettings,
    tz: Tz,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<AccessReport> {
    let folder = check_destination(out)?;
    let (request, subject) = resolve_target(store, target, RequestKind::Access).await?;
    let now = clock.now();
    let others = settings.include_other_participants;
    let user = subject.person.id;

    // Read before the transaction: an in-memory database has a single connection.
    let holds: Vec<_> = store
        .holds(true)
        .await?
        .into_iter()
        .filter(|h| h.target == HoldTarget::User(subject.person.external_id.clone()))
        .collect();
    let mut tx = store.begin().await?;
    if let Some(request) = &request {
        pending_request(&mut tx, request.id, "answered").await?;
    }
    let rows = tx.access_rows(user, others).await?;
    let requests = tx.requests_of(user).await?;
    let data = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_at": to_db(now),
        "timezone": tz.name(),
        "scope": {
            "other_participants_messages": others,
            "note": if others {
                "All messages of the conversations this person takes part in."
            } else {
                "This person's own messages, and metadata of the conversations they take part in; other participants' messages are left out because they are other people's data."
            },
        },
        "person": subject.person,
        "counts": subject.counts,
        "conversations": rows.conversations,
        "messages": rows.messages,
        "read_receipts": rows.reads,
        "requests": requests,
        "legal_holds": holds,
    });
    let data_json =
        serde_json::to_vec_pretty(&data).map_err(|e| Error::Check(format!("cannot encode the export: {e}")))?;
    let summary = summary_html(&subject, &data, tz);
    let files: Vec<(&'static str, &[u8])> = vec![("data.json", &data_json), ("summary.html", summary.as_bytes())];
    let manifest = serde_json::json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "app_version": crate::VERSION,
        "created_at": to_db(now),
        "request": request.as_ref().map(|r| r.id),
        "subject": subject.person.external_id,
        "include_other_participants": others,
        "files": files.iter().map(|(name, bytes)| ManifestFile {
            name,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        }).collect::<Vec<_>>(),
    });
    let manifest_json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Check(format!("cannot encode the manifest: {e}")))?;

    let zip = build_zip(&[("manifest.json", &manifest_json), files[0], files[1]])?;
    let sha256 = hex::encode(Sha256::digest(&zip));
    let mut staged = tempfile::Builder::new()
        .prefix(".chatkeep-access-")
        .tempfile_in(&folder)
        .map_err(|e| Error::invalid(format!("cannot write {}: {e}", out.display())))?;
    staged
        .write_all(&zip)
        .and_then(|_| staged.as_file().sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
    restrict(staged.path());
    let file = staged
        .persist_noclobber(out)
        .map_err(|e| Error::invalid(format!("cannot write {}: {}; choose a new file name", out.display(), e.error)))?;
    drop(file);
    let path = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());

    let written = async {
        if let Some(request) = &request {
            tx.complete_access(request.id, &to_db(now), &path.display().to_string(), &sha256).await?;
        }
        audit::append(
            &mut tx,
            now,
            AuditEntry::new(actor, "gdpr.export")
                .target(request.as_ref().map_or("access export".to_string(), |r| format!("request #{}", r.id)))
                .details(serde_json::json!({ "sha256": sha256, "include_other_participants": others }))
                .counts(serde_json::json!({
                    "conversations": rows.conversations.len(), "messages": rows.messages.len(),
                    "read_receipts": rows.reads.len(),
                })),
        )
        .await?;
        let answered = match &request {
            Some(r) => tx.request(r.id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok::<_, Error>(answered)
    }
    .await;
    let answered = match written {
        Ok(answered) => answered,
        Err(e) => {
            // The request stays open: no file without its record.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    Ok(AccessReport {
        request: answered,
        file: path,
        bytes: zip.len() as u64,
        sha256,
        conversations: rows.conversations.len(),
        messages: rows.messages.len(),
        read_receipts: rows.reads.len(),
        include_other_participants: others,
    })
}

fn build_zip(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let encode = |e: zip::result::ZipError| Error::Check(format!("cannot build the zip: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    for (name, bytes) in files {
        writer.start_file(*name, options).map_err(encode)?;
        writer.write_all(bytes).map_err(|e| Error::io("cannot build the zip", e))?;
    }
    Ok(writer.finish().map_err(encode)?.into_inner())
}

/// An export holds personal data: readable by its owner only.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A stored timestamp in local time (`2026-03-01 10:30`), or the text as it is.
fn local(value: &serde_json::Value, tz: Tz) -> String {
    let Some(text) = value.as_str() else { return String::new() };
    time::from_db(text).map_or_else(|| text.to_string(), |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The human-readable summary: who, what is stored, and each conversation with the messages.
fn summary_html(subject: &Subject, data: &serde_json::Value, tz: Tz) -> String {
    let p = &subject.person;
    let mut html = String::new();
    let name = p.display_name.clone().unwrap_or_else(|| p.external_id.clone());
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your data: {}</title>\n\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         .meta{{color:#555}}.msg{{margin:.4em 0}}</style></head><body>\n",
        escape(&name)
    ));
    html.push_str(&format!("<h1>Data held about {}</h1>\n", escape(&name)));
    html.push_str(&format!(
        "<p class=\"meta\">Generated {} ({}). The file data.json holds the same data in machine-readable form.</p>\n",
        local(&data["generated_at"], tz),
        escape(tz.name())
    ));
    html.push_str(&format!("<p>{}</p>\n", escape(data["scope"]["note"].as_str().unwrap_or_default())));
    html.push_str("<h2>Profile</h2>\n<table>\n");
    let fields = [
        ("Id in the chat service", Some(p.external_id.clone())),
        ("Name", p.display_name.clone()),
        ("Email", p.email.clone()),
        ("Phone", p.phone.clone()),
        ("Created", Some(local(&serde_json::json!(p.created_at), tz))),
        ("Last seen", p.last_seen_at.as_ref().map(|t| local(&serde_json::json!(t), tz))),
    ];
    for (label, value) in fields {
        html.push_str(&format!(
            "<tr><th>{label}</th><td>{}</td></tr>\n",
            escape(value.as_deref().unwrap_or("(not stored)"))
        ));
    }
    html.push_str("</table>\n<h2>What is stored</h2>\n<table>\n");
    let counts = [
        ("Conversations", data["conversations"].as_array().map_or(0, Vec::len)),
        ("Your messages", subject.counts.messages as usize),
        ("Read receipts", data["read_receipts"].as_array().map_or(0, Vec::len)),
        ("Requests", data["requests"].as_array().map_or(0, Vec::len)),
        ("Legal holds", data["legal_holds"].as_array().map_or(0, Vec::len)),
    ];
    for (label, n) in counts {
        html.push_str(&format!("<tr><th>{label}</th><td>{n}</td></tr>\n"));
    }
    html.push_str("</table>\n<h2>Conversations</h2>\n");
    let empty = Vec::new();
    let messages = data["messages"].as_array().unwrap_or(&empty);
    for c in data["conversations"].as_array().unwrap_or(&empty) {
        let id = c["id"].as_str().unwrap_or_default();
        let title = c["title"].as_str().map_or_else(|| format!("{} conversation", text(&c["kind"])), str::to_string);
        html.push_str(&format!(
            "<h3>{}</h3>\n<p class=\"meta\">{} · id {} · started {} · {} messages in all</p>\n",
            escape(&title),
            escape(&text(&c["kind"])),
            escape(id),
            local(&c["created_at"], tz),
            text(&c["messages_total"])
        ));
        for m in messages.iter().filter(|m| m["conversation"] == id) {
            let who = if m["from_subject"] == true { "You".to_string() } else { text(&m["sender"]) };
            html.push_str(&format!(
                "<div class=\"msg\"><span class=\"meta\">{} · {}</span><br>{}</div>\n",
                local(&m["created_at"], tz),
                escape(&who),
                escape(&text(&m["body"]))
            ));
        }
    }
    html.push_str("</body></html>\n");
    html
}
