//! Thin commands over core functions, one module per dashboard area. Each parses
//! its arguments, calls the core, and returns its result or a `{code, message}` error.

pub mod app;
pub mod audit;
pub mod backups;
pub mod export;
pub mod gdpr;
pub mod jobs;
pub mod retention;
pub mod settings;

use std::future::Future;

use crate::error::{CommandError, CommandResult};

/// Every command the dashboard may call.
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app::app_info,
        app::stats,
        app::load_demo,
        app::pick_save_path,
        app::show_in_folder,
        app::cancel,
        export::export_file_name,
        export::export_run,
        backups::backups_list,
        backups::backup_snapshot,
        backups::backup_archive,
        backups::backup_verify,
        backups::backup_restore,
        backups::backup_save_copy,
        backups::backup_prune_preview,
        retention::retention_preview,
        retention::retention_run,
        retention::policies_list,
        retention::policy_set,
        retention::rules_list,
        retention::holds_list,
        retention::hold_add,
        retention::hold_release,
        jobs::jobs_list,
        jobs::jobs_history,
        jobs::jobs_run,
        jobs::jobs_pause,
        jobs::jobs_resume,
        audit::audit_list,
        audit::audit_verify,
        audit::audit_export,
        settings::settings_get,
        settings::settings_save,
        gdpr::gdpr_requests,
        gdpr::gdpr_request_show,
        gdpr::gdpr_find,
        gdpr::gdpr_request_new,
        gdpr::gdpr_request_start,
        gdpr::gdpr_request_extend,
        gdpr::gdpr_request_reject,
        gdpr::gdpr_export_file_name,
        gdpr::gdpr_export,
        gdpr::gdpr_erase,
    ]
}

/// Runs a core future on a blocking thread of the runtime. Some core futures are
/// Send but rustc cannot prove it through their borrows (rust-lang/rust#110338),
/// and Tauri's async commands need Send futures.
pub async fn off_thread<T, F>(work: impl FnOnce() -> F + Send + 'static) -> CommandResult<T>
where
    F: Future<Output = CommandResult<T>>,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work()))
        .await
        .map_err(|e| CommandError::new("app", format!("the operation stopped unexpectedly: {e}")))?
}

/// Any serializable value as JSON for the dashboard.
pub fn json(value: impl serde::Serialize) -> CommandResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| CommandError::new("app", e.to_string()))
}
