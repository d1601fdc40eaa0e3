//! Core events become desktop notifications and a `notification` event for the dashboard.

use chatkeep_core::events::{Event, EventSink};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use tauri_plugin_notification::NotificationExt;

#[derive(Debug, Clone, Serialize)]
struct Shown {
    event: String,
    text: String,
}

/// Shows each event as a system notification and tells the dashboard.
pub struct DesktopNotifier {
    pub app: AppHandle,
}

impl std::fmt::Debug for DesktopNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopNotifier").finish_non_exhaustive()
    }
}

impl EventSink for DesktopNotifier {
    fn emit(&self, event: Event) {
        let kind = serde_json::to_value(&event)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default();
        let text = event.to_string();
        if let Err(e) = self.app.notification().builder().title("chatkeep").body(&text).show() {
            tracing::warn!(error = %e, "cannot show a desktop notification");
        }
        let _ = self.app.emit("notification", Shown { event: kind, text });
        let _ = self.app.emit("jobs-changed", ());
    }
}
