use std::collections::BTreeMap;
use std::sync::Arc;

use chatkeep_core::Config;
use chatkeep_core::config::PlatformDirs;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Every setting with its value and where it came from (as `chatkeep config show --json`).
#[tauri::command]
pub async fn settings_get(state: State<'_, AppState>) -> CommandResult<serde_json::Value> {
    Ok(state.config().described())
}

/// Writes settings to `chatkeep.toml` after the core has checked them; a bad value
/// comes back as the core's message naming the setting, and nothing is written.
/// Schedules and the database take effect at the next start.
#[tauri::command]
pub async fn settings_save(
    state: State<'_, AppState>,
    values: BTreeMap<String, String>,
) -> CommandResult<serde_json::Value> {
    let current = state.config();
    let file = match &current.file {
        Some(file) => file.clone(),
        None => PlatformDirs::detect().default_config_file().ok_or_else(|| {
            CommandError::new("config", "no config folder could be found for chatkeep.toml; set CHATKEEP_CONFIG")
        })?,
    };
    let values: Vec<(String, String)> = values.into_iter().collect();
    let saved = Config::save_settings(&file, &values)?;
    let shown = saved.described();
    *state.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(saved);
    Ok(shown)
}
