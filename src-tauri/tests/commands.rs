#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! The dashboard's commands through Tauri's IPC (mock runtime, the app's real capability): the arguments the
//! dashboard sends, the JSON it gets back, and the `{code, message}` it shows on errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatkeep_core::config::{ConfigInputs, Overrides, PlatformDirs};
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::stats::storage_stats;
use chatkeep_core::{Clock, Config, FixedClock};
use chatkeep_desktop::AppState;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

struct Desk {
    _app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
}

fn config(dir: &Path) -> Config {
    let db = format!("sqlite://{}", dir.join("chatkeep.db").display());
    let env = move |name: &str| match name {
        "DATABASE_URL" => Some(db.clone()),
        _ => None,
    };
    Config::resolve(ConfigInputs {
        explicit_file: None,
        env: &env,
        overrides: Overrides::default(),
        dirs: PlatformDirs { config_dir: Some(dir.join("config")), data_dir: Some(dir.to_path_buf()) },
        system_timezone: Some("Europe/Berlin".into()),
    })
    .unwrap()
}

/// The app's commands and state on a fresh database, seeded with `messages` demo messages.
fn desk(messages: u64) -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let state = tauri::async_runtime::block_on(async {
        let state = AppState::open(config(dir.path()), clock.clone(), None).await.unwrap();
        if messages > 0 {
            let options =
                SeedOptions { conversations: messages / 10, messages, months: 6, seed: 7, until: clock.now() };
            seed_demo(&state.store, &options, Actor::Cli, clock.as_ref(), &NoProgress).await.unwrap();
        }
        state
    });
    let app = mock_builder()
        .invoke_handler(chatkeep_desktop::commands::handler())
        .manage(state)
        .build(tauri::generate_context!(test = true))
        .unwrap();
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Desk { _app: app, webview, dir, clock }
}

impl Desk {
    /// What the dashboard's `invoke(cmd, args)` resolves with, or the error it rejects with.
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.webview, request).map(|body| body.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args).unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// The `{code, message}` a command rejected with.
    fn err(&self, cmd: &str, args: Value) -> (String, String) {
        let e = self.call(cmd, args).expect_err(cmd);
        (e["code"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string())
    }

    fn state(&self) -> tauri::State<'_, AppState> {
        tauri::Manager::state::<AppState>(&self.webview)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn stats_and_app_info_are_the_cores_figures() {
    let desk = desk(2_000);
    let stats = desk.ok("stats", json!({}));
    let state = desk.state();
    let core =
        tauri::async_runtime::block_on(storage_stats(&state.store, chrono_tz::Europe::Berlin, desk.clock.as_ref()))
            .unwrap();
    assert_eq!(stats["messages"]["total"], 2_000);
    assert_eq!(stats, serde_json::to_value(&core).unwrap());

    let info = desk.ok("app_info", json!({}));
    assert_eq!(info["hasData"], true);
    assert_eq!(info["timezone"], "Europe/Berlin");
    assert_eq!(info["engine"], "sqlite");
}

#[test]
fn bad_arguments_come_back_as_the_cores_message_and_change_nothing() {
    let desk = desk(0);
    let (code, message) = desk.err("backup_archive", json!({ "month": "2026-13" }));
    assert_eq!(code, "invalid_input");
    assert!(message.contains("2026-13"), "{message}");
    assert_eq!(desk.ok("backups_list", json!({}))["backups"], json!([]));

    let (_, message) = desk.err("jobs_run", json!({ "job": "backupp" }));
    assert!(message.contains("backupp") && message.contains("snapshot"), "names the job and what exists: {message}");

    let (_, message) = desk.err("settings_save", json!({ "values": { "retention.default_days": "-3" } }));
    assert!(message.contains("retention.default_days"), "{message}");
    assert!(!desk.path("config/chatkeep.toml").exists(), "a refused setting writes no file");

    // A change that deletes sooner comes back to be confirmed, with what it means; nothing is written.
    let asked = desk.ok("settings_save", json!({ "values": { "retention.default_days": "30" } }));
    let weakening = &asked["confirm"][0];
    assert_eq!(weakening["key"], "retention.default_days", "{asked}");
    assert!(weakening["consequence"].as_str().unwrap().contains("after 30 days instead of 180"), "{asked}");
    assert!(!desk.path("config/chatkeep.toml").exists(), "nothing written before the confirmation");

    // Nothing running: a cancel is a no-op that says so.
    assert_eq!(desk.ok("cancel", json!({ "operation": "export" })), false);
}

#[test]
fn a_csv_export_writes_the_file_the_dialog_named_with_every_message_in_range() {
    let desk = desk(2_000);
    let options = json!({ "from": "2026-09-01", "to": "2026-11-23", "format": "csv", "includeMessages": true });
    let name = desk.ok("export_file_name", json!({ "options": options }));
    assert_eq!(name, "chat-export_2026-09-01_2026-11-23.csv");
    let out = desk.path(name.as_str().unwrap());
    desk.state().grants.grant(&out); // as the save dialog does when it returns `out`
    let report = desk.ok("export_run", json!({ "options": options, "path": out }));
    let rows = csv::Reader::from_path(&out).unwrap().records().count();
    assert!(rows > 0);
    assert_eq!(report["messages"], rows, "{report}");
    assert!(!desk.state().cancel("export"), "the export's cancel switch is gone when it ends");
}

#[test]
fn files_are_written_only_where_the_save_dialog_said_and_folders_shown_only_where_chatkeep_wrote() {
    let desk = desk(500);
    let made = desk.ok("backup_snapshot", json!({}));
    let victim = desk.path("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let options = json!({ "from": "2026-09-01", "to": "2026-11-23", "format": "csv", "includeMessages": true });
    // A path the web view made up, never returned by the dialog: refused by every writer.
    for (cmd, args) in [
        ("export_run", json!({ "options": options, "path": victim })),
        ("audit_export", json!({ "path": victim })),
        ("backup_save_copy", json!({ "id": made["id"], "to": victim })),
        ("backup_restore", json!({ "id": made["id"], "to": desk.path("restored.db") })),
        ("gdpr_export", json!({ "target": { "subject": "id:1" }, "to": desk.path("access.zip") })),
    ] {
        let (code, message) = desk.err(cmd, args);
        assert_eq!(code, "not_granted", "{cmd}: {message}");
        assert!(message.contains("Save dialog"), "{cmd}: {message}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(!desk.path("restored.db").exists() && !desk.path("access.zip").exists());

    // A dialog that returned an existing file asked to replace it: the copy replaces it, once.
    desk.state().grants.grant(&victim);
    desk.ok("backup_save_copy", json!({ "id": made["id"], "to": victim }));
    assert!(std::fs::read(&victim).unwrap().starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "a zstd backup now");
    let (code, _) = desk.err("backup_save_copy", json!({ "id": made["id"], "to": victim }));
    assert_eq!(code, "not_granted", "a grant is used once");

    // Show in folder: only where chatkeep wrote (the grants' own test covers the allowed side;
    // opening a file manager has no place in a test run).
    let (code, _) = desk.err("show_in_folder", json!({ "path": "/etc/passwd" }));
    assert_eq!(code, "not_granted");
}

#[test]
fn a_snapshot_from_the_dashboard_is_listed_verified() {
    let desk = desk(500);
    let made = desk.ok("backup_snapshot", json!({}));
    let list = desk.ok("backups_list", json!({}))["backups"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], made["id"]);
    assert_eq!(list[0]["status"], "verified", "{list}");
    let verified = desk.ok("backup_verify", json!({ "id": made["id"] }));
    assert_eq!(verified["ok"], true, "{verified}");
}

#[test]
fn the_gdpr_page_finds_records_exports_and_erases_through_the_core() {
    let desk = desk(1_000);
    let person = desk.ok("gdpr_find", json!({ "subject": "id:1" }));
    let external = person["person"]["external_id"].as_str().unwrap().to_string();
    let messages = person["counts"]["messages"].as_i64().unwrap();
    assert!(messages > 0, "{person}");
    assert_eq!(desk.ok("gdpr_find", json!({ "subject": external }))["person"]["id"], 1);
    let (code, message) = desk.err("gdpr_find", json!({ "subject": "nobody-at-all" }));
    assert_eq!(code, "invalid_input", "{message}");
    assert!(message.contains("no person matches \"nobody-at-all\""), "{message}");

    // Access: recorded, exported to the path the save dialog gave, and marked done.
    let access =
        desk.ok("gdpr_request_new", json!({ "kind": "access", "subject": external, "received": "2026-11-20" }));
    assert_eq!(access["status"], "open");
    assert_eq!(access["due_at"].as_str().unwrap()[..10], *"2026-12-20", "{access}");
    let target = json!({ "request": access["id"] });
    let name = desk.ok("gdpr_export_file_name", json!({ "target": target }));
    let zip = desk.path(name.as_str().unwrap());
    desk.state().grants.grant(&zip);
    let report = desk.ok("gdpr_export", json!({ "target": target, "to": zip }));
    assert_eq!(report["messages"], messages);
    assert!(zip.is_file());
    assert_eq!(desk.ok("gdpr_request_show", json!({ "id": access["id"] }))["status"], "done");
    desk.state().grants.grant(&zip);
    let (_, message) = desk.err("gdpr_export", json!({ "target": { "subject": external }, "to": zip }));
    assert!(message.contains("already exists"), "never over an existing file: {message}");

    // Erasure: refused for someone other than the person confirmed, then done with a certificate.
    let erasure = desk.ok("gdpr_request_new", json!({ "kind": "erasure", "subject": external }));
    let target = json!({ "request": erasure["id"] });
    let (_, message) = desk.err("gdpr_erase", json!({ "target": target, "strategy": "delete", "confirmedUser": 2 }));
    assert!(message.contains("not the confirmed user #2"), "{message}");
    assert_eq!(desk.ok("gdpr_find", json!({ "subject": "id:1" }))["counts"]["messages"], messages, "nothing changed");

    let erased = desk.ok("gdpr_erase", json!({ "target": target, "strategy": "delete", "confirmedUser": 1 }));
    let checks = erased["certificate"]["checks"].as_array().unwrap();
    assert!(!checks.is_empty() && checks.iter().all(|c| c["result"] == 0), "{erased}");
    let shown = desk.ok("gdpr_request_show", json!({ "id": erasure["id"] }));
    assert_eq!(shown["status"], "done");
    assert_eq!(shown["certificate"]["checks"], erased["certificate"]["checks"]);
    let (_, message) = desk.err("gdpr_find", json!({ "subject": external }));
    assert!(message.contains("no person matches"), "they are gone: {message}");
    let (_, message) =
        desk.err("gdpr_request_extend", json!({ "id": erasure["id"], "months": 1, "reason": "more time" }));
    assert!(message.contains("done"), "a finished request is not extended: {message}");
}
