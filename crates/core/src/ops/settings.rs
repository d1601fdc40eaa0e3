//! Changing settings from a shell: checked by the core, confirmed first when a change
//! deletes sooner or protects less, and audited with the old and new values.

use std::path::Path;

use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::{Config, Weakening};
use crate::domain::Actor;
use crate::error::Result;
use crate::store::Store;

/// How a save ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveOutcome {
    /// Written; the settings as they now are (what `config show --json` prints).
    Saved(serde_json::Value),
    /// Nothing written: these changes weaken protection and were not confirmed.
    Confirm(Vec<Weakening>),
}

/// Writes `values` into `file` over `current`. Changes that [weaken](Config::weakenings)
/// protection are written only with `confirmed`; every save is audited with each changed
/// setting's old and new value as `config show` shows them (secrets masked).
pub async fn save_settings(
    store: &Store,
    current: &Config,
    file: &Path,
    values: &[(String, String)],
    confirmed: bool,
    actor: Actor,
    clock: &dyn Clock,
) -> Result<(SaveOutcome, Option<Config>)> {
    let next = Config::preview_settings(file, values)?;
    // Only what this save changes: `current` may have come from other sources (a flag).
    let mut weakenings = current.weakenings(&next);
    weakenings.retain(|w| values.iter().any(|(key, _)| key == w.key));
    if !weakenings.is_empty() && !confirmed {
        return Ok((SaveOutcome::Confirm(weakenings), None));
    }
    let saved = Config::save_settings(file, values)?;
    let shown = |config: &Config, key: &str| {
        config.entries().iter().find(|e| e.key == key).map(|e| e.value.clone()).unwrap_or_default()
    };
    let changes: Vec<serde_json::Value> = values
        .iter()
        .map(|(key, _)| serde_json::json!({ "key": key, "old": shown(current, key), "new": shown(&saved, key) }))
        .collect();
    let mut tx = store.begin().await?;
    audit::append(
        &mut tx,
        clock.now(),
        AuditEntry::new(actor, "settings.change").target(file.display().to_string()).details(serde_json::json!({
            "changes": changes,
            "weakened": weakenings.iter().map(|w| w.key).collect::<Vec<_>>(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok((SaveOutcome::Saved(saved.described()), Some(saved)))
}
