use tauri::State;

use super::json;
use crate::error::CommandResult;
use crate::state::AppState;

/// GDPR requests with their deadlines (open ones, or all).
#[tauri::command]
pub async fn gdpr_requests(state: State<'_, AppState>, all: bool) -> CommandResult<serde_json::Value> {
    json(chatkeep_core::ops::gdpr::list_requests(&state.store, all).await?)
}
