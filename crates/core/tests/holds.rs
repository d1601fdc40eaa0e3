#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod common;

use chatkeep_core::Error;
use chatkeep_core::audit;
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::hold::HoldTarget;
use chatkeep_core::domain::policy::RetentionPolicy;
use chatkeep_core::ops::NoProgress;
use chatkeep_core::ops::hold::{hold_target, list_holds, place_hold, release_hold};
use chatkeep_core::ops::import::import_jsonl;
use chatkeep_core::ops::retention::policy_choice;
use chatkeep_core::store::sqlx;
use common::{TestDb, clock};

async fn with_people(db: &TestDb) {
    let path = db.dir.path().join("people.jsonl");
    std::fs::write(
        &path,
        [
            r#"{"type":"user","id":"u-ana","created_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"type":"conversation","id":"c-1","kind":"direct","created_at":"2026-01-01T00:00:00Z"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    import_jsonl(&db.store, &path, Actor::Cli, &clock(), &NoProgress).await.unwrap();
}

#[tokio::test]
async fn holds_are_placed_listed_and_released_with_history_and_audit() {
    let db = TestDb::new().await;
    with_people(&db).await;
    let on_conversation =
        place_hold(&db.store, HoldTarget::Conversation("c-1".into()), "  case 2026-114 ", Actor::Cli, &clock())
            .await
            .unwrap();
    assert_eq!(on_conversation.target, HoldTarget::Conversation("c-1".into()));
    assert_eq!(on_conversation.reason, "case 2026-114", "the reason is kept, trimmed");
    assert_eq!(on_conversation.placed_by, "cli");
    let on_user =
        place_hold(&db.store, HoldTarget::User("u-ana".into()), "subject access dispute", Actor::Desktop, &clock())
            .await
            .unwrap();
    assert!(on_conversation.is_active() && on_user.is_active());
    assert_eq!(list_holds(&db.store, false).await.unwrap().len(), 2);

    let released =
        release_hold(&db.store, on_conversation.id, Some("case closed"), Actor::Cli, &clock()).await.unwrap();
    assert!(!released.is_active());
    assert_eq!(released.release_reason.as_deref(), Some("case closed"));
    let active: Vec<i64> = list_holds(&db.store, false).await.unwrap().iter().map(|h| h.id).collect();
    assert_eq!(active, vec![on_user.id], "a released hold leaves the active list");
    assert_eq!(list_holds(&db.store, true).await.unwrap().len(), 2, "but stays in the history");

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'hold.%' ORDER BY id")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
    assert_eq!(actions, ["hold.place", "hold.place", "hold.release"]);
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn a_hold_on_something_missing_names_it_and_writes_nothing() {
    let db = TestDb::new().await;
    with_people(&db).await;
    let err = place_hold(&db.store, HoldTarget::Conversation("c-404".into()), "case", Actor::Cli, &clock())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    assert!(err.to_string().contains("conversation \"c-404\""), "{err}");
    let err = place_hold(&db.store, HoldTarget::User("nobody".into()), "case", Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains("user \"nobody\""), "{err}");
    assert_eq!(db.count("legal_holds").await, 0);
}

#[tokio::test]
async fn bad_reasons_double_holds_and_double_releases_are_refused() {
    let db = TestDb::new().await;
    with_people(&db).await;
    let target = || HoldTarget::Conversation("c-1".into());
    let err = place_hold(&db.store, target(), "   ", Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    let err = place_hold(&db.store, target(), &"x".repeat(1_001), Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains("longer than 1000"), "{err}");

    let hold = place_hold(&db.store, target(), "case", Actor::Cli, &clock()).await.unwrap();
    let err = place_hold(&db.store, target(), "again", Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains(&format!("already under legal hold #{}", hold.id)), "{err}");

    release_hold(&db.store, hold.id, None, Actor::Cli, &clock()).await.unwrap();
    let err = release_hold(&db.store, hold.id, None, Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains("already released"), "{err}");
    let err = release_hold(&db.store, 999, None, Actor::Cli, &clock()).await.unwrap_err();
    assert!(err.to_string().contains("legal hold #999"), "{err}");

    // Once released, the same conversation can be held again.
    place_hold(&db.store, target(), "new case", Actor::Cli, &clock()).await.unwrap();
    assert_eq!(db.count("legal_holds").await, 2);
    assert_eq!(db.count("audit_log").await, 1 + 3, "import, place, release, place: failures leave no audit row");
}

/// The CLI and the app read a hold's target and a conversation's policy through the same
/// functions, so they accept and refuse the same things.
#[test]
fn a_hold_target_is_one_id_and_a_policy_choice_may_be_default() {
    assert_eq!(hold_target(Some(" c-1 "), None).unwrap(), HoldTarget::Conversation("c-1".into()));
    assert_eq!(hold_target(Some(""), Some("u-ana")).unwrap(), HoldTarget::User("u-ana".into()));
    let both = hold_target(Some("c-1"), Some("u-ana")).unwrap_err();
    assert!(matches!(&both, Error::InvalidInput(m) if m.contains("not both")), "{both}");
    let neither = hold_target(Some("  "), None).unwrap_err();
    assert!(matches!(&neither, Error::InvalidInput(m) if m.contains("conversation id or the user id")), "{neither}");

    assert_eq!(policy_choice("default").unwrap(), None);
    assert_eq!(policy_choice(" ").unwrap(), None);
    assert_eq!(policy_choice(" 7d ").unwrap(), Some("7d".parse::<RetentionPolicy>().unwrap()));
    let bad = policy_choice("3days").unwrap_err();
    assert!(matches!(&bad, Error::InvalidInput(m) if m.contains("3days")), "{bad}");
}
