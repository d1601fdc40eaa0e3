//! The tray icon: Open dashboard, Back up now, Run retention now, Pause/Resume schedule, Quit;
//! its tooltip names the next scheduled job and the last backup's status.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

pub const TRAY_ID: &str = "chatkeep";

/// The tray's Pause/Resume item, kept so that its label follows the stored switch, which
/// the dashboard, the CLI or another chatkeep process may change too.
struct PauseItem<R: Runtime>(MenuItem<R>);

pub fn build(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open dashboard", true, None::<&str>)?;
    let backup = MenuItem::with_id(app, "backup", "Back up now", true, None::<&str>)?;
    let retention = MenuItem::with_id(app, "retention", "Run retention now", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause schedule", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit chatkeep", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&open, &separator, &backup, &retention, &pause, &separator, &quit])?;
    app.manage(PauseItem(pause.clone()));
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("chatkeep")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "open" => crate::show_main(app),
            "backup" => run_job(app, chatkeep_core::scheduler::JobName::Snapshot),
            "retention" => run_job(app, chatkeep_core::scheduler::JobName::Retention),
            "pause" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    let state = app.state::<AppState>();
                    let paused = state.scheduler.all_paused().await.unwrap_or(false);
                    let actor = chatkeep_core::domain::Actor::Desktop;
                    match state.scheduler.set_paused(None, !paused, actor).await {
                        Ok(()) => {
                            refresh_tooltip(&app).await;
                            let _ = tauri::Emitter::emit(&app, "jobs-changed", ());
                        }
                        Err(e) => tracing::error!(error = %e, "cannot pause or resume the schedule"),
                    }
                });
            }
            "quit" => crate::quit(app),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                crate::show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

fn run_job(app: &AppHandle, job: chatkeep_core::scheduler::JobName) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        if let Err(e) = state.scheduler.run_now(job).await {
            tracing::error!(job = %job, error = %e, "the job could not start");
            use tauri_plugin_notification::NotificationExt;
            let _ = app.notification().builder().title("chatkeep").body(e.to_string()).show();
        }
        refresh_tooltip(&app).await;
        let _ = tauri::Emitter::emit(&app, "jobs-changed", ());
    });
}

/// "Next: snapshot at 2026-11-24 01:00 CET · Last backup: verified 2 h ago".
pub async fn refresh_tooltip<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let mut parts = Vec::new();
    let paused = state.scheduler.all_paused().await.unwrap_or(false);
    if let Some(item) = app.try_state::<PauseItem<R>>() {
        let _ = item.0.set_text(if paused { "Resume schedule" } else { "Pause schedule" });
    }
    if paused {
        parts.push("Schedule paused".to_string());
    } else if let Ok(jobs) = state.scheduler.overview().await {
        let next = jobs
            .iter()
            .filter(|j| !j.paused)
            .filter_map(|j| Some((j.next_run.clone()?, j.next_run_local.clone()?, j.job)))
            .min();
        if let Some((_, local, job)) = next {
            parts.push(format!("Next: {job} at {local}"));
        }
    }
    if let Ok(runs) = state.store.job_runs(Some("snapshot"), 1).await {
        if let Some(run) = runs.first() {
            parts.push(format!("Last backup: {} {}", run.status, run.finished_at.as_deref().unwrap_or("")));
        } else {
            parts.push("No backup yet".into());
        }
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("chatkeep\n{}", parts.join("\n"))));
    }
}
