use std::collections::BTreeMap;
use std::sync::Arc;

use chatkeep_core::config::PlatformDirs;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::settings;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Every setting with its value and where it came from (as `chatkeep config show --json`).
#[tauri::command]
pub async fn settings_get(state: State<'_, AppState>) -> CommandResult<serde_json::Value> {
    Ok(state.config().described())
}

/// Writes settings to `chatkeep.toml` after the core has checked them; a bad value
/// comes back as the core's message naming the setting, and nothing is written. A change
/// that deletes sooner or protects less comes back as `{confirm: [...]}` with what it
/// means, and is written only when sent again with `confirmed`. Every save is audited
/// with old and new values. Schedules and the database take effect at the next start.
#[tauri::command]
pub async fn settings_save(
    state: State<'_, AppState>,
    values: BTreeMap<String, String>,
    confirmed: Option<bool>,
) -> CommandResult<serde_json::Value> {
    let current = state.config();
    let file = match &current.file {
        Some(file) => file.clone(),
        None => PlatformDirs::detect().default_config_file().ok_or_else(|| {
            CommandError::new("config", "no config folder could be found for chatkeep.toml; set CHATKEEP_CONFIG")
        })?,
    };
    let values: Vec<(String, String)> = values.into_iter().collect();
    let (outcome, saved) = settings::save_settings(
        &state.store,
        &current,
        &file,
        &values,
        confirmed.unwrap_or(false),
        Actor::Desktop,
        state.clock.as_ref(),
    )
    .await?;
    if let Some(saved) = saved {
        *state.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(saved);
    }
    Ok(serde_json::to_value(outcome).unwrap_or_default())
}
