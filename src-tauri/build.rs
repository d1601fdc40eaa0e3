//! The app's own commands are declared here, so the window's capability can list each one
//! and nothing else can be called.

const COMMANDS: &[&str] = &[
    "app_info",
    "stats",
    "load_demo",
    "pick_save_path",
    "show_in_folder",
    "cancel",
    "export_file_name",
    "export_run",
    "backups_list",
    "backup_snapshot",
    "backup_archive",
    "backup_verify",
    "backup_restore",
    "backup_save_copy",
    "backup_prune_preview",
    "retention_preview",
    "retention_run",
    "policies_list",
    "policy_set",
    "rules_list",
    "holds_list",
    "hold_add",
    "hold_release",
    "jobs_list",
    "jobs_history",
    "jobs_run",
    "jobs_pause",
    "jobs_resume",
    "audit_list",
    "audit_verify",
    "audit_export",
    "settings_get",
    "settings_save",
    "gdpr_requests",
    "gdpr_request_show",
    "gdpr_find",
    "gdpr_request_new",
    "gdpr_request_start",
    "gdpr_request_extend",
    "gdpr_request_reject",
    "gdpr_export_file_name",
    "gdpr_export",
    "gdpr_erase",
];

fn main() {
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
