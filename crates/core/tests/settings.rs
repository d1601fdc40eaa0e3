#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Settings changed from a shell: a change that deletes sooner or protects less is
//! written only once confirmed, and every change is audited with its old and new value.
mod common;

use chatkeep_core::config::Overrides;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::settings::{SaveOutcome, save_settings};
use chatkeep_core::store::AuditFilter;
use chatkeep_core::{Config, audit};
use common::{TestDb, clock};

fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn weakening_changes_wait_for_a_confirmation_that_names_their_consequence_and_are_audited() {
    let db = TestDb::new().await;
    let file = db.dir.path().join("chatkeep.toml");
    std::fs::write(&file, "[retention]\ndefault_days = 180\ngrace_period_days = 7\nrequire_verified_backup = true\n")
        .unwrap();
    let current = Config::load(Some(&file), Overrides::default()).unwrap();

    let weaker = values(&[
        ("retention.default_days", "30"),
        ("retention.grace_period_days", "0"),
        ("retention.require_verified_backup", "false"),
    ]);
    let (outcome, saved) =
        save_settings(&db.store, &current, &file, &weaker, false, Actor::Desktop, &clock()).await.unwrap();
    let SaveOutcome::Confirm(weakenings) = outcome else { panic!("asked first: {outcome:?}") };
    assert!(saved.is_none());
    let keys: Vec<&str> = weakenings.iter().map(|w| w.key).collect();
    assert_eq!(keys, ["retention.require_verified_backup", "retention.grace_period_days", "retention.default_days"]);
    assert!(weakenings[0].consequence.contains("no longer wait for a verified backup"), "{weakenings:?}");
    assert!(weakenings[2].consequence.contains("after 30 days instead of 180"), "{weakenings:?}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("default_days = 180"), "nothing written yet");
    assert!(
        audit::list(&db.store, &AuditFilter::default()).await.unwrap().iter().all(|r| r.action != "settings.change")
    );

    let (outcome, saved) =
        save_settings(&db.store, &current, &file, &weaker, true, Actor::Desktop, &clock()).await.unwrap();
    assert!(matches!(outcome, SaveOutcome::Saved(_)));
    assert_eq!(saved.unwrap().retention.default_days, 30);
    let rows =
        audit::list(&db.store, &AuditFilter { action: Some("settings.change".into()), ..AuditFilter::default() })
            .await
            .unwrap();
    let details: serde_json::Value = serde_json::from_str(&rows[0].details).unwrap();
    let change = details["changes"].as_array().unwrap().iter().find(|c| c["key"] == "retention.default_days").unwrap();
    assert_eq!((change["old"].as_str(), change["new"].as_str()), (Some("180"), Some("30")), "{details}");
    assert_eq!(details["weakened"].as_array().unwrap().len(), 3, "{details}");
    assert_eq!(rows[0].actor, "desktop");

    // Keeping data longer needs no confirmation, and is audited too.
    let current = Config::load(Some(&file), Overrides::default()).unwrap();
    let longer = values(&[("retention.default_days", "365")]);
    let (outcome, _) =
        save_settings(&db.store, &current, &file, &longer, false, Actor::Desktop, &clock()).await.unwrap();
    assert!(matches!(outcome, SaveOutcome::Saved(_)), "{outcome:?}");
    let rows =
        audit::list(&db.store, &AuditFilter { action: Some("settings.change".into()), ..AuditFilter::default() })
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
}
