use std::path::PathBuf;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::backup::parse_month;
use chatkeep_core::ops::{Cancel, NoProgress};
use tauri::{AppHandle, Runtime, State};

use super::{json, off_thread};
use crate::error::CommandResult;
use crate::progress::EmitProgress;
use crate::state::AppState;

type Json = CommandResult<serde_json::Value>;

#[tauri::command]
pub async fn backups_list(state: State<'_, AppState>) -> Json {
    let parts = state.parts();
    off_thread(move || async move { json(parts.backups().list().await?) }).await
}

#[tauri::command]
pub async fn backup_snapshot<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Json {
    let parts = state.parts();
    off_thread(move || async move {
        let progress = EmitProgress::new(&app, "backup");
        json(parts.backups().snapshot(true, Actor::Desktop, &progress, &Cancel::new()).await?)
    })
    .await
}

#[tauri::command]
pub async fn backup_archive<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, month: String) -> Json {
    let month = parse_month(&month)?;
    let parts = state.parts();
    off_thread(move || async move {
        let progress = EmitProgress::new(&app, "backup");
        json(parts.backups().archive(month, true, Actor::Desktop, &progress, &Cancel::new()).await?)
    })
    .await
}

#[tauri::command]
pub async fn backup_verify(state: State<'_, AppState>, id: i64) -> Json {
    let parts = state.parts();
    off_thread(move || async move { json(parts.backups().verify(id, Actor::Desktop).await?) }).await
}

/// Restores into a new file; never over an existing file or the live database.
#[tauri::command]
pub async fn backup_restore(state: State<'_, AppState>, id: i64, to: PathBuf) -> Json {
    // A restore never writes over a file, whatever the dialog said.
    state.grants.take(&to)?;
    let parts = state.parts();
    let written = to.clone();
    let result =
        off_thread(
            move || async move { json(parts.backups().restore_to(id, &to, Actor::Desktop, &NoProgress).await?) },
        )
        .await;
    if result.is_ok() {
        state.grants.wrote(&written);
    }
    result
}

/// Copies a backup to where the save dialog said; replaces a file only if the dialog asked.
#[tauri::command]
pub async fn backup_save_copy(state: State<'_, AppState>, id: i64, to: PathBuf) -> CommandResult<PathBuf> {
    let save = state.grants.take(&to)?;
    let parts = state.parts();
    let saved = off_thread(move || async move { Ok(parts.backups().save_copy(id, &to, save.replace).await?) }).await?;
    state.grants.wrote(&saved);
    Ok(saved)
}

#[tauri::command]
pub async fn backup_prune_preview(state: State<'_, AppState>) -> Json {
    let parts = state.parts();
    off_thread(move || async move { json(parts.backups().prune(true, Actor::Desktop).await?) }).await
}
