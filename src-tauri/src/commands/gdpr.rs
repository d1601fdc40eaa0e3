use std::path::PathBuf;

use chatkeep_core::Error;
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::gdpr::{ErasureStrategy, RequestKind};
use chatkeep_core::ops::gdpr::{self, NewRequestInput, Target, access, erase};
use serde::Deserialize;
use tauri::State;

use super::{json, off_thread};
use crate::error::CommandResult;
use crate::state::AppState;

type Json = CommandResult<serde_json::Value>;

/// Who an export or erasure is for: a recorded request, or a person named directly
/// (an erasure then records a request for itself).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GdprTarget {
    request: Option<i64>,
    subject: Option<String>,
}

impl GdprTarget {
    fn target(&self) -> CommandResult<Target<'_>> {
        match (self.request, self.subject.as_deref().map(str::trim)) {
            (Some(id), _) => Ok(Target::Request(id)),
            (None, Some(subject)) if !subject.is_empty() => Ok(Target::Subject(subject)),
            _ => Err(Error::invalid(format!("name a request or a person ({})", gdpr::SUBJECT_FORMS)).into()),
        }
    }
}

/// GDPR requests with their deadlines (open ones, or all).
#[tauri::command]
pub async fn gdpr_requests(state: State<'_, AppState>, all: bool) -> Json {
    json(gdpr::list_requests(&state.store, all).await?)
}

/// One request, with its completion certificate if it has one.
#[tauri::command]
pub async fn gdpr_request_show(state: State<'_, AppState>, id: i64) -> Json {
    json(gdpr::show_request(&state.store, id).await?)
}

/// The one person `subject` names, with what matched and what is stored about them.
#[tauri::command]
pub async fn gdpr_find(state: State<'_, AppState>, subject: String) -> Json {
    json(gdpr::find_subject(&state.store, &subject).await?)
}

/// Records a request; due `gdpr.deadline_months` after it was received.
#[tauri::command]
pub async fn gdpr_request_new(
    state: State<'_, AppState>,
    kind: String,
    subject: String,
    received: Option<String>,
    notes: Option<String>,
) -> Json {
    let kind = RequestKind::parse(&kind).map_err(Error::invalid)?;
    let config = state.config();
    let received = received.filter(|r| !r.trim().is_empty());
    let notes = notes.filter(|n| !n.trim().is_empty());
    let input = NewRequestInput { kind, subject: &subject, received: received.as_deref(), notes: notes.as_deref() };
    json(
        gdpr::new_request(&state.store, &input, &config.gdpr, config.timezone, Actor::Desktop, state.clock.as_ref())
            .await?,
    )
}

#[tauri::command]
pub async fn gdpr_request_start(state: State<'_, AppState>, id: i64) -> Json {
    json(gdpr::start_request(&state.store, id, Actor::Desktop, state.clock.as_ref()).await?)
}

#[tauri::command]
pub async fn gdpr_request_extend(state: State<'_, AppState>, id: i64, months: u32, reason: String) -> Json {
    let config = state.config();
    let clock = state.clock.as_ref();
    json(
        gdpr::extend_request(&state.store, id, months, &reason, &config.gdpr, config.timezone, Actor::Desktop, clock)
            .await?,
    )
}

#[tauri::command]
pub async fn gdpr_request_reject(state: State<'_, AppState>, id: i64, reason: String) -> Json {
    json(gdpr::reject_request(&state.store, id, &reason, Actor::Desktop, state.clock.as_ref()).await?)
}

/// The access export's default file name for a request or a person.
#[tauri::command]
pub async fn gdpr_export_file_name(state: State<'_, AppState>, target: GdprTarget) -> CommandResult<String> {
    let day = state.clock.now().with_timezone(&state.config().timezone).date_naive();
    Ok(match target.request {
        Some(id) => format!("chatkeep-access-request-{id}_{day}.zip"),
        None => format!("chatkeep-access_{day}.zip"),
    })
}

/// Writes the access export zip to `to` (a new file); answering a request marks it done.
#[tauri::command]
pub async fn gdpr_export(state: State<'_, AppState>, target: GdprTarget, to: PathBuf) -> Json {
    // An access export never replaces a file, whatever the dialog said.
    state.grants.take(&to)?;
    let parts = state.parts();
    let written = to.clone();
    let result = off_thread(move || async move {
        let config = &parts.config;
        let report = access::export_access(
            &parts.store,
            target.target()?,
            &to,
            &config.gdpr,
            config.timezone,
            Actor::Desktop,
            parts.clock.as_ref(),
        )
        .await?;
        json(report)
    })
    .await;
    if result.is_ok() {
        state.grants.wrote(&written);
    }
    result
}

/// Erases the person `target` names, if they are still `confirmed_user` (the id the
/// dashboard showed in its confirmation), by `strategy`: `delete` or `anonymize`.
#[tauri::command]
pub async fn gdpr_erase(state: State<'_, AppState>, target: GdprTarget, strategy: String, confirmed_user: i64) -> Json {
    let strategy = ErasureStrategy::parse(&strategy).map_err(Error::invalid)?;
    let parts = state.parts();
    off_thread(move || async move {
        let config = &parts.config;
        let clock = parts.clock.as_ref();
        let target = target.target()?;
        json(
            erase::erase(
                &parts.store,
                target,
                strategy,
                confirmed_user,
                &config.gdpr,
                &config.backup,
                config.timezone,
                Actor::Desktop,
                clock,
            )
            .await?,
        )
    })
    .await
}
