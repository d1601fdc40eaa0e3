//! How long each dashboard page waits for its data: every command a page calls on
//! opening, through Tauri's IPC (mock runtime), against the database DATABASE_URL names.
//!
//! ```sh
//! chatkeep demo seed --conversations 100000 --messages 1000000 --months 12 --seed 1
//! DATABASE_URL=~/.local/share/chatkeep/chatkeep.db cargo run -p chatkeep-desktop --example page_timings
//! ```
//!
//! A page's cards load in parallel, so the page is ready when its slowest command is.

use std::time::{Duration, Instant};

use chatkeep_core::Config;
use chatkeep_core::config::Overrides;
use chatkeep_desktop::AppState;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

/// Each page, and the commands it calls when it opens.
const PAGES: &[(&str, &[&str])] = &[
    ("overview", &["app_info", "stats", "backups_list", "retention_preview", "jobs_list", "jobs_history"]),
    ("export", &["app_info"]),
    ("backups", &["backups_list"]),
    ("retention", &["retention_preview", "policies_list", "rules_list", "holds_list"]),
    ("jobs", &["jobs_list", "jobs_history"]),
    ("audit", &["audit_list"]),
    ("settings", &["settings_get"]),
    ("gdpr", &["gdpr_requests"]),
];

fn args(command: &str) -> Value {
    match command {
        "jobs_history" => json!({ "limit": 50 }),
        "audit_list" => json!({ "limit": 200 }),
        "gdpr_requests" => json!({ "all": false }),
        _ => json!({}),
    }
}

fn call(webview: &WebviewWindow<MockRuntime>, command: &str) -> Result<Duration, String> {
    let request = InvokeRequest {
        cmd: command.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().map_err(|e| format!("{e}"))?,
        body: InvokeBody::Json(args(command)),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    let started = Instant::now();
    get_ipc_response(webview, request).map_err(|e| format!("{command}: {e}"))?;
    Ok(started.elapsed())
}

fn main() -> Result<(), String> {
    let config = Config::load(None, Overrides::default()).map_err(|e| e.to_string())?;
    eprintln!("database: {}", config.database_url);
    let state = tauri::async_runtime::block_on(AppState::open(config, AppState::system_clock(), None))
        .map_err(|e| e.to_string())?;
    let app = mock_builder()
        .invoke_handler(chatkeep_desktop::commands::handler())
        .manage(state)
        .build(tauri::generate_context!(test = true))
        .map_err(|e| e.to_string())?;
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default()).build().map_err(|e| e.to_string())?;

    // One warm-up pass (the first open of a cold file reads it from disk), then three measured.
    for (_, commands) in PAGES {
        for command in *commands {
            call(&webview, command)?;
        }
    }
    println!("{:<10} {:>9}  slowest command (median of 3 runs)", "page", "ready ms");
    for (page, commands) in PAGES {
        let mut slowest = (Duration::ZERO, "");
        for command in *commands {
            let mut runs = [call(&webview, command)?, call(&webview, command)?, call(&webview, command)?];
            runs.sort();
            if runs[1] > slowest.0 {
                slowest = (runs[1], command);
            }
        }
        println!("{page:<10} {:>9.1}  {}", slowest.0.as_secs_f64() * 1000.0, slowest.1);
    }
    Ok(())
}
