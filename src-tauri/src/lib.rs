//! chatkeep-desktop: the Tauri shell. It parses what the dashboard asks, calls
//! one core function, and turns results, progress and events into Tauri
//! responses, events and notifications. The scheduler runs in the background
//! while the app sits in the tray; closing the window only hides it.

pub mod commands;
mod error;
pub mod grants;
mod notify;
mod progress;
mod state;
mod tray;

use std::sync::Arc;
use std::time::Duration;

use chatkeep_core::Config;
use chatkeep_core::config::Overrides;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

pub use error::{CommandError, CommandResult};
pub use state::AppState;

/// Starts the app; returns when it quits.
pub fn run() {
    init_logging();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| show_main(app)))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, None))
        .invoke_handler(commands::handler())
        .setup(|app| {
            setup(app.handle()).inspect_err(|message| {
                rfd::MessageDialog::new()
                    .set_title("chatkeep cannot start")
                    .set_description(message)
                    .set_level(rfd::MessageLevel::Error)
                    .show();
            })?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps chatkeep (and its schedule) running in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("chatkeep: cannot start the desktop app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        if let RunEvent::ExitRequested { api, code: None, .. } = event {
            // The last window closing is not a reason to quit: the tray keeps the app.
            api.prevent_exit();
        }
    });
}

/// Opens the configured database (the embedded default on first run), starts the scheduler
/// with catch-up of missed runs, and builds the tray.
fn setup(app: &AppHandle) -> Result<(), String> {
    let config = Config::load(None, Overrides::default()).map_err(|e| e.to_string())?;
    let desktop = Arc::new(notify::DesktopNotifier { app: app.clone() });
    let state = tauri::async_runtime::block_on(AppState::open(config, AppState::system_clock(), Some(desktop)))
        .map_err(|e| e.to_string())?;
    let scheduler = state.scheduler.clone();
    app.manage(state);
    let handle = app.clone();
    let task = tauri::async_runtime::spawn(async move {
        if let Err(e) = scheduler.run_until_stopped().await {
            tracing::error!(error = %e, "the scheduler stopped");
        }
        drop(handle);
    });
    *app.state::<AppState>().scheduler_task.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
    tray::build(app).map_err(|e| e.to_string())?;
    let tooltip = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tray::refresh_tooltip(&tooltip).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
    Ok(())
}

/// Shows, unminimizes and focuses the dashboard.
pub fn show_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Stops the scheduler (the running job stops at its next batch, within the
/// configured limit), then exits.
pub fn quit(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        state.scheduler.stop();
        for operation in ["export", "retention"] {
            state.cancel(operation);
        }
        let limit = Duration::from_secs(u64::from(state.config().scheduler.stop_timeout_seconds));
        let task = state.scheduler_task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let started = tokio::time::Instant::now();
        let loop_ended = match task {
            Some(task) => tokio::time::timeout(limit, task).await.is_ok(),
            None => true,
        };
        // A job started from the tray or the dashboard runs outside the loop: wait for it too.
        let left = limit.saturating_sub(started.elapsed());
        if !loop_ended || !state.scheduler.wait_idle(left).await {
            tracing::error!("the running job did not stop in time; quitting anyway");
        }
        state.notifiers.flush(Duration::from_secs(5));
        state.store.close().await;
        app.exit(0);
    });
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHATKEEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tao=warn,wry=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
