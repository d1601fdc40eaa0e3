use chatkeep_core::domain::Actor;
use chatkeep_core::scheduler::JobName;
use tauri::{AppHandle, Emitter, Runtime, State};

use super::json;
use crate::error::CommandResult;
use crate::state::AppState;

type Json = CommandResult<serde_json::Value>;

#[tauri::command]
pub async fn jobs_list(state: State<'_, AppState>) -> Json {
    let jobs = state.scheduler.overview().await?;
    let paused = state.scheduler.all_paused().await?;
    json(serde_json::json!({ "schedule_paused": paused, "jobs": jobs }))
}

#[tauri::command]
pub async fn jobs_history(state: State<'_, AppState>, job: Option<String>, limit: Option<i64>) -> Json {
    let name = job.as_deref().filter(|j| !j.is_empty()).map(JobName::parse).transpose()?;
    json(state.store.job_runs(name.map(JobName::as_str), limit.unwrap_or(50).clamp(1, 1_000)).await?)
}

/// Runs a job now, recorded like a scheduled run; refused while it is running elsewhere.
#[tauri::command]
pub async fn jobs_run<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, job: String) -> Json {
    let name = JobName::parse(&job)?;
    let scheduler = state.scheduler.clone();
    let runs = super::off_thread(move || async move { Ok(scheduler.run_now(name).await?) }).await?;
    let _ = app.emit("jobs-changed", ());
    json(runs)
}

#[tauri::command]
pub async fn jobs_pause<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    job: Option<String>,
) -> CommandResult<()> {
    pause(app, state, job, true).await
}

#[tauri::command]
pub async fn jobs_resume<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    job: Option<String>,
) -> CommandResult<()> {
    pause(app, state, job, false).await
}

async fn pause<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    job: Option<String>,
    paused: bool,
) -> CommandResult<()> {
    let name = job.as_deref().filter(|j| !j.is_empty()).map(JobName::parse).transpose()?;
    state.scheduler.set_paused(name, paused, Actor::Desktop).await?;
    crate::tray::refresh_tooltip(&app).await;
    let _ = app.emit("jobs-changed", ());
    Ok(())
}
