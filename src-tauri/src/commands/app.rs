use std::path::PathBuf;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::stats::storage_stats;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use super::{json, off_thread};
use crate::error::{CommandError, CommandResult};
use crate::progress::EmitProgress;
use crate::state::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    version: &'static str,
    database: String,
    engine: &'static str,
    timezone: String,
    config_file: Option<PathBuf>,
    has_data: bool,
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> CommandResult<AppInfo> {
    let config = state.config();
    let stats = storage_stats(&state.store, config.timezone, state.clock.as_ref()).await?;
    Ok(AppInfo {
        version: chatkeep_core::VERSION,
        database: config.database_url.to_string(),
        engine: state.store.engine(),
        timezone: config.timezone.name().to_string(),
        config_file: config.file.clone(),
        has_data: stats.conversations.total > 0,
    })
}

#[tauri::command]
pub async fn stats(state: State<'_, AppState>) -> CommandResult<serde_json::Value> {
    let config = state.config();
    json(storage_stats(&state.store, config.timezone, state.clock.as_ref()).await?)
}

/// The demo set (the CLI's `demo seed` defaults), so a new user sees a living dashboard.
#[tauri::command]
pub async fn load_demo<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> CommandResult<serde_json::Value> {
    let options = SeedOptions { conversations: 2_000, messages: 20_000, months: 12, seed: 1, until: state.clock.now() };
    options.validate()?;
    let (store, clock) = (state.store.clone(), state.clock.clone());
    off_thread(move || async move {
        let progress = EmitProgress::new(&app, "demo");
        json(seed_demo(&store, &options, Actor::Desktop, clock.as_ref(), &progress).await?)
    })
    .await
}

/// The native save dialog, starting with `default_name`. `None` when the user cancels.
/// The path it returns is the one the next file-writing command may write (see [`crate::grants`]).
#[tauri::command]
pub async fn pick_save_path(state: State<'_, AppState>, default_name: String) -> CommandResult<Option<PathBuf>> {
    let chosen = match test_save_dir() {
        Some(dir) => Some(dir.join(&default_name)),
        None => {
            let dialog = rfd::AsyncFileDialog::new().set_file_name(&default_name).set_title("Save as");
            let dialog = match dirs_home() {
                Some(home) => dialog.set_directory(home),
                None => dialog,
            };
            dialog.save_file().await.map(|file| file.path().to_path_buf())
        }
    };
    if let Some(path) = &chosen {
        state.grants.grant(path);
    }
    Ok(chosen)
}

/// For the end-to-end tests only, and only in builds made for them (feature `test-hooks`):
/// with `CHATKEEP_DESKTOP_SAVE_DIR` set, no dialog is shown and the file goes into that
/// folder under its default name. Native dialogs cannot be driven through WebDriver.
#[cfg(feature = "test-hooks")]
fn test_save_dir() -> Option<PathBuf> {
    std::env::var_os("CHATKEEP_DESKTOP_SAVE_DIR").map(PathBuf::from)
}

#[cfg(not(feature = "test-hooks"))]
fn test_save_dir() -> Option<PathBuf> {
    None
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Opens the system file manager at the folder of a file chatkeep wrote (or the backup folder).
#[tauri::command]
pub async fn show_in_folder(state: State<'_, AppState>, path: PathBuf) -> CommandResult<()> {
    let folder = path.parent().map(PathBuf::from).unwrap_or_else(|| path.clone());
    if !state.grants.may_open(&folder, &state.config().backup.directory) {
        return Err(CommandError::new(
            "not_granted",
            format!("{} is not a folder chatkeep wrote to; only those can be shown", folder.display()),
        ));
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(&folder)
        .spawn()
        .map(|_| ())
        .map_err(|e| CommandError::new("io", format!("cannot open {}: {e}", folder.display())))
}

/// Asks a running export or retention run to stop at its next safe point.
#[tauri::command]
pub async fn cancel(state: State<'_, AppState>, operation: String) -> CommandResult<bool> {
    Ok(state.cancel(&operation))
}
