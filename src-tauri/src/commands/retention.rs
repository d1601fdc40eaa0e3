use chatkeep_core::domain::Actor;
use chatkeep_core::ops::hold::{hold_target, list_holds, place_hold, release_hold};
use chatkeep_core::ops::retention::{RunHooks, list_rules, policy_choice, policy_groups};
use tauri::{AppHandle, Runtime, State};

use super::{json, off_thread};
use crate::error::{CommandError, CommandResult};
use crate::progress::EmitProgress;
use crate::state::AppState;

type Json = CommandResult<serde_json::Value>;

#[tauri::command]
pub async fn retention_preview(state: State<'_, AppState>) -> Json {
    let parts = state.parts();
    off_thread(move || async move { json(parts.retention().preview().await?) }).await
}

/// A retention run now, as the desktop user, with progress and cancel.
#[tauri::command]
pub async fn retention_run<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Json {
    let cancel = state
        .start("retention")
        .ok_or_else(|| CommandError::new("busy", "a retention run is already going; wait for it or cancel it"))?;
    let parts = state.parts();
    let result = off_thread(move || async move {
        let progress = EmitProgress::new(&app, "retention");
        let hooks = RunHooks { progress: &progress, events: parts.events.as_ref(), cancel: &cancel };
        json(parts.retention().run(Actor::Desktop, hooks).await?)
    })
    .await;
    state.finish("retention");
    result
}

/// How many conversations follow each policy (`null` is the default).
#[tauri::command]
pub async fn policies_list(state: State<'_, AppState>) -> Json {
    json(policy_groups(&state.store).await?)
}

#[tauri::command]
pub async fn policy_set(state: State<'_, AppState>, conversation: String, policy: String) -> CommandResult<u64> {
    let policy = policy_choice(&policy)?;
    let parts = state.parts();
    off_thread(move || async move { Ok(parts.retention().set_policy(&conversation, policy, Actor::Desktop).await?) })
        .await
}

#[tauri::command]
pub async fn rules_list(state: State<'_, AppState>) -> Json {
    let config = state.config();
    json(list_rules(&state.store, &config.retention.rules).await?)
}

#[tauri::command]
pub async fn holds_list(state: State<'_, AppState>, all: bool) -> Json {
    json(list_holds(&state.store, all).await?)
}

#[tauri::command]
pub async fn hold_add(
    state: State<'_, AppState>,
    conversation: Option<String>,
    user: Option<String>,
    reason: String,
) -> Json {
    let target = hold_target(conversation.as_deref(), user.as_deref())?;
    json(place_hold(&state.store, target, &reason, Actor::Desktop, state.clock.as_ref()).await?)
}

#[tauri::command]
pub async fn hold_release(state: State<'_, AppState>, id: i64, reason: Option<String>) -> Json {
    json(release_hold(&state.store, id, reason.as_deref(), Actor::Desktop, state.clock.as_ref()).await?)
}
