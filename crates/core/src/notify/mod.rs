//! Notifications: where the core's [`Event`]s go. The desktop app adds its own
//! notifier (system notifications); the core brings a log notifier and a
//! webhook (generic JSON with a Slack-compatible `text`, or Telegram's Bot API).
//!
//! A notifier is an [`EventSink`](crate::events::EventSink): it must return at
//! once, so a slow or failing endpoint never holds up, or fails, the job that
//! reports through it.

mod webhook;

use std::sync::Arc;
use std::time::Duration;

use crate::config::NotifySettings;
pub use crate::events::EventSink as Notifier;
use crate::events::{Event, EventSink};
pub use webhook::{Delivery, Target, Webhook};

/// Writes each event to the log (tracing, target `chatkeep::notify`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

impl EventSink for LogNotifier {
    fn emit(&self, event: Event) {
        let kind = serde_json::to_value(&event)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default();
        match event {
            Event::BackupFailed { .. }
            | Event::JobFailed { .. }
            | Event::JobMissed { .. }
            | Event::IntegrityCheckFailed { .. } => {
                tracing::warn!(target: "chatkeep::notify", event = %kind, "{event}");
            }
            _ => tracing::info!(target: "chatkeep::notify", event = %kind, "{event}"),
        }
    }
}

/// Every configured notifier at once.
#[derive(Default)]
pub struct Notifiers {
    sinks: Vec<Arc<dyn EventSink>>,
    webhooks: Vec<Arc<Webhook>>,
}

impl std::fmt::Debug for Notifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifiers").field("sinks", &self.sinks.len()).field("webhooks", &self.webhooks).finish()
    }
}

impl Notifiers {
    /// The notifiers the settings ask for: the log, a webhook, Telegram.
    pub fn from_settings(settings: &NotifySettings) -> Notifiers {
        let mut notifiers = Notifiers::default();
        if settings.log {
            notifiers.add(Arc::new(LogNotifier));
        }
        if let Some(url) = &settings.webhook_url {
            notifiers.add_webhook(Webhook::start(Target::Json { url: url.clone() }));
        }
        if let (Some(token), Some(chat_id)) = (&settings.telegram_bot_token, &settings.telegram_chat_id) {
            notifiers.add_webhook(Webhook::start(Target::Telegram {
                api_url: settings.telegram_api_url.clone(),
                token: token.clone(),
                chat_id: chat_id.clone(),
            }));
        }
        notifiers
    }

    /// Adds a notifier (the desktop app adds its system notifications here).
    pub fn add(&mut self, sink: Arc<dyn EventSink>) {
        self.sinks.push(sink);
    }

    pub fn add_webhook(&mut self, webhook: Webhook) {
        let webhook = Arc::new(webhook);
        self.sinks.push(webhook.clone());
        self.webhooks.push(webhook);
    }

    /// Waits (at most `timeout`) until every webhook has delivered or given up on what it was sent.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.webhooks.iter().all(|w| w.flush(deadline.saturating_duration_since(std::time::Instant::now())))
    }
}

impl EventSink for Notifiers {
    fn emit(&self, event: Event) {
        for sink in &self.sinks {
            sink.emit(event.clone());
        }
    }

    fn note_audit_head(&self, head: &crate::audit::AuditAnchor) {
        for sink in &self.sinks {
            sink.note_audit_head(head);
        }
    }
}
