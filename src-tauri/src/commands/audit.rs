use std::path::PathBuf;

use chatkeep_core::audit;
use chatkeep_core::store::AuditFilter;
use chatkeep_core::time::parse_date_or_instant;
use tauri::State;

use super::json;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

fn filter(
    state: &AppState,
    since: Option<String>,
    action: Option<String>,
    limit: Option<i64>,
) -> CommandResult<AuditFilter> {
    let since = since
        .filter(|s| !s.trim().is_empty())
        .map(|text| parse_date_or_instant("since", &text, state.config().timezone))
        .transpose()
        .map_err(|e| CommandError::new("invalid_input", e))?;
    Ok(AuditFilter { since, action: action.filter(|a| !a.trim().is_empty()), limit })
}

#[tauri::command]
pub async fn audit_list(
    state: State<'_, AppState>,
    since: Option<String>,
    action: Option<String>,
    limit: Option<i64>,
) -> CommandResult<serde_json::Value> {
    let filter = filter(&state, since, action, Some(limit.unwrap_or(200).clamp(1, 10_000)))?;
    json(audit::list(&state.store, &filter).await?)
}

#[tauri::command]
pub async fn audit_verify(state: State<'_, AppState>) -> CommandResult<serde_json::Value> {
    json(state.parts().backups().verify_audit_log().await?)
}

/// The whole log (or the filtered part) as CSV, hashes included.
#[tauri::command]
pub async fn audit_export(
    state: State<'_, AppState>,
    path: PathBuf,
    since: Option<String>,
    action: Option<String>,
) -> CommandResult<PathBuf> {
    let save = state.grants.take(&path)?;
    let filter = filter(&state, since, action, None)?;
    audit::export_csv(&state.store, &filter, &path, save.replace).await?;
    state.grants.wrote(&path);
    Ok(path)
}
