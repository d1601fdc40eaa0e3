//! Webhook delivery on a thread of its own: events queue up, each is POSTed
//! with a few retries (growing pauses), and a failure is logged, never raised.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use crate::events::{Event, EventSink};

/// Where a webhook posts.
#[derive(Clone)]
pub enum Target {
    /// Any endpoint that takes JSON: the event's fields plus a Slack-compatible `text`.
    Json { url: String },
    /// Telegram Bot API `sendMessage` to one chat.
    Telegram { api_url: String, token: String, chat_id: String },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A webhook URL carries its secret in the path: never in logs.
            Target::Json { url } => f.debug_struct("Json").field("url", &crate::config::masked_url(url)).finish(),
            // The token is a secret: never in logs.
            Target::Telegram { api_url, chat_id, .. } => {
                f.debug_struct("Telegram").field("api_url", api_url).field("chat_id", chat_id).finish_non_exhaustive()
            }
        }
    }
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Json { url } => url.clone(),
            Target::Telegram { api_url, token, .. } => {
                format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/'))
            }
        }
    }

    /// Where it goes, for log lines (no secrets).
    fn describe(&self) -> String {
        match self {
            Target::Json { url } => crate::config::masked_url(url),
            Target::Telegram { chat_id, .. } => format!("Telegram chat {chat_id}"),
        }
    }

    fn body(
        &self,
        event: &Event,
        at: chrono::DateTime<chrono::Utc>,
        head: Option<&crate::audit::AuditAnchor>,
    ) -> serde_json::Value {
        let text = format!("chatkeep: {event}");
        match self {
            Target::Json { .. } => {
                let mut body = serde_json::to_value(event).unwrap_or_default();
                if let Some(fields) = body.as_object_mut() {
                    fields.insert("source".into(), "chatkeep".into());
                    fields.insert("at".into(), crate::time::to_db(at).into());
                    fields.insert("text".into(), text.into());
                    if let Some(head) = head {
                        fields.insert("audit_head".into(), serde_json::to_value(head).unwrap_or_default());
                    }
                }
                body
            }
            Target::Telegram { chat_id, .. } => {
                let text = match head {
                    Some(head) => format!("{text}\n(audit log head: row {}, {})", head.row, head.hash),
                    None => text,
                };
                serde_json::json!({ "chat_id": chat_id, "text": text })
            }
        }
    }
}

enum Message {
    Deliver(Event, Option<crate::audit::AuditAnchor>),
    Flush(Sender<()>),
}

/// Delivery settings; the defaults suit real endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Tries per event before it is given up (and logged).
    pub attempts: u32,
    /// Pause after the first failure; doubled after each further one.
    pub first_pause: Duration,
    /// Time allowed for one request, connection included.
    pub timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery { attempts: 4, first_pause: Duration::from_secs(2), timeout: Duration::from_secs(10) }
    }
}

/// A webhook notifier. Cloning is not needed: share it in an `Arc`.
pub struct Webhook {
    target: Target,
    queue: std::sync::Mutex<Sender<Message>>,
    /// The audit log's head as the current job started, sent with each notification.
    audit_head: std::sync::Mutex<Option<crate::audit::AuditAnchor>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn start(target: Target) -> Webhook {
        Webhook::start_with(target, Delivery::default())
    }

    pub fn start_with(target: Target, delivery: Delivery) -> Webhook {
        let (sender, receiver) = mpsc::channel();
        let worker_target = target.clone();
        std::thread::Builder::new()
            .name("chatkeep-webhook".into())
            .spawn(move || deliver_all(&worker_target, delivery, &receiver))
            .map_err(
                |e| tracing::error!(error = %e, "cannot start the webhook thread; notifications will only be logged"),
            )
            .ok();
        Webhook { target, queue: std::sync::Mutex::new(sender), audit_head: std::sync::Mutex::new(None) }
    }

    /// Waits until everything queued before this call is delivered or given up; false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        if self.send(Message::Flush(done)).is_err() {
            return true;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    fn send(&self, message: Message) -> Result<(), ()> {
        let queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.send(message).map_err(|_| ())
    }
}

impl EventSink for Webhook {
    fn emit(&self, event: Event) {
        let head = self.audit_head.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if self.send(Message::Deliver(event, head)).is_err() {
            tracing::warn!(target = %self.target.describe(), "the webhook thread has stopped; a notification was not sent");
        }
    }

    fn note_audit_head(&self, head: &crate::audit::AuditAnchor) {
        *self.audit_head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(head.clone());
    }
}

fn deliver_all(target: &Target, delivery: Delivery, queue: &Receiver<Message>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(delivery.timeout))
        .user_agent(concat!("chatkeep/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    loop {
        match queue.recv_timeout(Duration::from_secs(3600)) {
            Ok(Message::Deliver(event, head)) => deliver(&agent, target, delivery, &event, head.as_ref()),
            Ok(Message::Flush(done)) => {
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn deliver(
    agent: &ureq::Agent,
    target: &Target,
    delivery: Delivery,
    event: &Event,
    head: Option<&crate::audit::AuditAnchor>,
) {
    let body = target.body(event, chrono::Utc::now(), head).to_string();
    let url = target.url();
    let mut pause = delivery.first_pause;
    for attempt in 1..=delivery.attempts.max(1) {
        let result = agent.post(&url).header("Content-Type", "application/json").send(body.as_str());
        match result {
            Ok(_) => {
                tracing::debug!(target = %target.describe(), attempt, "notification delivered");
                return;
            }
            Err(error) => {
                // A 4xx other than 429 will not get better by asking again.
                let permanent =
                    matches!(error, ureq::Error::StatusCode(code) if (400..500).contains(&code) && code != 429);
                let error = redact(&error.to_string(), target);
                if permanent || attempt == delivery.attempts.max(1) {
                    tracing::warn!(
                        target = %target.describe(),
                        attempts = attempt,
                        %error,
                        "a notification could not be delivered; it is in the log only"
                    );
                    return;
                }
                tracing::debug!(target = %target.describe(), attempt, %error, "notification delivery failed; retrying");
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
        }
    }
}

/// Error texts may quote the URL, which carries the secret (a webhook's path, a Telegram bot token).
fn redact(text: &str, target: &Target) -> String {
    match target {
        Target::Telegram { token, .. } if !token.is_empty() => text.replace(token.as_str(), "****"),
        Target::Json { url } => {
            let secret = url::Url::parse(url).ok().map(|u| {
                let mut tail = u.path().to_string();
                if let Some(query) = u.query() {
                    tail = format!("{tail}?{query}");
                }
                tail
            });
            let text = text.replace(url.as_str(), &crate::config::masked_url(url));
            match secret.filter(|s| !s.trim_start_matches('/').is_empty()) {
                Some(secret) => text.replace(&secret, "/****"),
                None => text,
            }
        }
        _ => text.to_string(),
    }
}
