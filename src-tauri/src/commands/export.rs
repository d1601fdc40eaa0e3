use std::path::PathBuf;

use chatkeep_core::domain::Actor;
use chatkeep_core::ops::export::{ExportRequest, export, plan};
use chatkeep_core::store::Memory;
use serde::Deserialize;
use tauri::{AppHandle, Runtime, State};

use super::{json, off_thread};
use crate::error::{CommandError, CommandResult};
use crate::progress::EmitProgress;
use crate::state::AppState;

/// The export form, as the dashboard sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportOptions {
    from: String,
    to: String,
    format: String,
    include_messages: bool,
    #[serde(default)]
    conversations: Vec<String>,
    user: Option<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    include_expired: bool,
    #[serde(default)]
    bom: bool,
    /// CSV cells exactly as stored, formulas included.
    #[serde(default)]
    raw_csv: bool,
}

impl ExportOptions {
    fn request(self, out: Option<PathBuf>, overwrite: bool) -> ExportRequest {
        ExportRequest {
            from: self.from,
            to: self.to,
            format: self.format,
            include_messages: self.include_messages,
            conversations: self.conversations,
            participant: self.user.filter(|u| !u.trim().is_empty()),
            kinds: self.kinds,
            include_expired: self.include_expired,
            bom: self.bom,
            raw_csv: self.raw_csv,
            overwrite,
            out,
        }
    }
}

/// The file name an export of these options gets (`chat-export_2026-01-01_2026-01-31.csv`);
/// also checks the options, so the save dialog never opens for an export that cannot run.
#[tauri::command]
pub async fn export_file_name(state: State<'_, AppState>, options: ExportOptions) -> CommandResult<String> {
    let config = state.config();
    // A name-only plan writes nothing; the dialog that follows asks about replacing a file.
    let planned = plan(&state.store, &options.request(None, true), config.timezone, &config.export).await?;
    Ok(planned.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default())
}

#[tauri::command]
pub async fn export_run<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    options: ExportOptions,
    path: PathBuf,
) -> CommandResult<serde_json::Value> {
    let save = state.grants.take(&path)?;
    let cancel = state
        .start("export")
        .ok_or_else(|| CommandError::new("busy", "an export is already running; wait for it or cancel it"))?;
    let config = state.config();
    let clock = state.clock.clone();
    let result = off_thread(move || async move {
        // A store with a small cache: memory stays flat however large the range.
        let store = chatkeep_core::Store::open_with(&config.database_url, Memory::Lean).await?;
        let report = async {
            let request = options.request(Some(path), save.replace);
            let planned = plan(&store, &request, config.timezone, &config.export).await?;
            let progress = EmitProgress::new(&app, "export");
            export(&store, &planned, config.timezone, Actor::Desktop, clock.as_ref(), &progress, &cancel).await
        }
        .await;
        store.close().await;
        json(report?)
    })
    .await;
    state.finish("export");
    if let Some(path) = result.as_ref().ok().and_then(|r| r["path"].as_str()) {
        state.grants.wrote(std::path::Path::new(path));
    }
    result
}
