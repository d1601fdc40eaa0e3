#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! GDPR requests on real SQLite files: finding the person by each identifier, deadlines
//! (a request received on 31 January), access exports read back by Python's `zipfile`,
//! both erasure strategies with body scrubbing, legal holds, the certificate, and a
//! backup taken before an erasure that, restored, holds no trace of the person: checked
//! in the restored file's bytes and in a JSON dump of every table made by Python.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chatkeep_core::config::GdprSettings;
use chatkeep_core::domain::Actor;
use chatkeep_core::domain::gdpr::{BodyMode, ErasureStrategy, RequestKind, RequestStatus};
use chatkeep_core::domain::hold::HoldTarget;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::backup::{Backups, parse_month};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::gdpr::{self, NewRequestInput, Target, access, erase};
use chatkeep_core::ops::import::import_jsonl;
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::sqlx;
use chatkeep_core::{Error, FixedClock, audit};
use chrono::Duration;
use chrono_tz::Tz;
use common::{TestDb, at, backup_settings, clock};

/// Ana and Ben talk directly and in a group; Ana also asks a bot. Two people share an address.
const PEOPLE: &str = r#"{"type":"user","id":"u-ana","display_name":"Anatolia Quixley","email":"Ana.Quixley@Example.org","phone":"+49 30 1234567","created_at":"2026-01-05T09:00:00Z","last_seen_at":"2026-10-20T18:00:00Z"}
{"type":"user","id":"u-ben","display_name":"Benedikt Zorander","email":"ben.zorander@example.org","phone":"0044 20 7946 0958","created_at":"2026-02-01T09:00:00Z"}
{"type":"user","id":"u-twin-1","display_name":"Twin One","email":"shared@example.org","created_at":"2026-02-01T09:00:00Z"}
{"type":"user","id":"u-twin-2","display_name":"Twin Two","email":"Shared@Example.org","created_at":"2026-02-01T09:00:00Z"}
{"type":"conversation","id":"c-direct","kind":"direct","created_at":"2026-10-01T08:00:00Z"}
{"type":"conversation","id":"c-group","kind":"group","title":"Trip planning","owner":"u-ben","created_at":"2026-10-02T08:00:00Z"}
{"type":"conversation","id":"c-bot","kind":"bot","owner":"u-ana","created_at":"2026-10-03T08:00:00Z"}
{"type":"participant","conversation":"c-direct","user":"u-ana","joined_at":"2026-10-01T08:00:00Z"}
{"type":"participant","conversation":"c-direct","user":"u-ben","joined_at":"2026-10-01T08:00:00Z"}
{"type":"participant","conversation":"c-group","user":"u-ana","joined_at":"2026-10-02T08:00:00Z"}
{"type":"participant","conversation":"c-group","user":"u-ben","joined_at":"2026-10-02T08:00:00Z"}
{"type":"participant","conversation":"c-group","user":"u-twin-1","joined_at":"2026-10-02T08:00:00Z"}
{"type":"participant","conversation":"c-bot","user":"u-ana","joined_at":"2026-10-03T08:00:00Z"}
{"type":"message","id":"m-1","conversation":"c-direct","sender":"u-ana","role":"user","body":"Hi Ben! Write to ana.quixley@example.org or call +49 30 1234567 after 2026-10-05 18:00","created_at":"2026-10-01T09:00:00Z"}
{"type":"message","id":"m-2","conversation":"c-direct","sender":"u-ben","role":"user","body":"Will do, my mobile is 0044 20 7946 0958","reply_to":"m-1","created_at":"2026-10-01T09:05:00Z"}
{"type":"message","id":"m-3","conversation":"c-group","sender":"u-ana","role":"user","body":"Quixley family arrives Friday","created_at":"2026-10-02T09:00:00Z"}
{"type":"message","id":"m-4","conversation":"c-group","sender":"u-twin-1","role":"user","body":"Great","created_at":"2026-10-02T09:10:00Z"}
{"type":"message","id":"m-5","conversation":"c-bot","sender":"u-ana","role":"user","body":"How do I reset my password?","created_at":"2026-10-03T09:00:00Z"}
{"type":"message","id":"m-6","conversation":"c-bot","role":"assistant","body":"Use the link we sent.","created_at":"2026-10-03T09:00:05Z"}
{"type":"read","message":"m-2","user":"u-ana","read_at":"2026-10-01T09:06:00Z"}
{"type":"read","message":"m-1","user":"u-ben","read_at":"2026-10-01T09:04:00Z"}
{"type":"read","message":"m-4","user":"u-ana","read_at":"2026-10-02T09:11:00Z"}
"#;

/// What must never be found again once Ana is erased.
// Traces long enough that a hex hash or a pseudonym cannot hold them by chance.
const ANA_TRACES: &[&str] = &["Anatolia", "Quixley", "quixley", "u-ana", "30 1234567", "301234567"];
const BEN_TRACES: &[&str] = &["Zorander", "zorander", "u-ben", "7946 0958", "79460958"];

async fn people() -> (TestDb, FixedClock) {
    let db = TestDb::new().await;
    let clock = clock();
    let options =
        SeedOptions { conversations: 40, messages: 400, months: 2, seed: 5, until: at(2026, 11, 20, 0, 0, 0) };
    seed_demo(&db.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
    // A long message spills into overflow pages, which a deletion frees whole: with SQLite's
    // secure_delete only FAST, their old content would stay in the file's free pages.
    let long = serde_json::json!({
        "type": "message", "id": "m-7", "conversation": "c-group", "sender": "u-ana", "role": "user",
        "body": format!("Quixley packing list: {}", "tent, stove, Quixley map; ".repeat(800)),
        "created_at": "2026-10-02T10:00:00Z",
    });
    let file = db.dir.path().join("people.jsonl");
    std::fs::write(&file, format!("{PEOPLE}{long}\n")).unwrap();
    import_jsonl(&db.store, &file, Actor::Cli, &clock, &NoProgress).await.unwrap();
    (db, clock)
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed to read chatkeep's output back (scripts/ensure-deps.sh): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn sqlite3(db: &Path, sql: &str) -> String {
    run("sqlite3", &[db.to_str().unwrap(), sql])
}

/// Every table of a SQLite file as JSON, written by Python's own sqlite3 and json modules.
fn json_dump(db: &Path) -> String {
    let script = "import json, sqlite3, sys\n\
                  con = sqlite3.connect(sys.argv[1])\n\
                  tables = [r[0] for r in con.execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\")]\n\
                  print(json.dumps({t: [list(r) for r in con.execute('SELECT * FROM \"%s\"' % t)] for t in tables}, ensure_ascii=False, default=str))";
    run("python3", &["-c", script, db.to_str().unwrap()])
}

fn file_bytes_hold(path: &Path, needle: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The database file and its write-ahead log, as bytes on disk.
fn database_files(db: &Path) -> Vec<PathBuf> {
    vec![db.to_path_buf(), PathBuf::from(format!("{}-wal", db.display()))]
}

fn settings() -> GdprSettings {
    GdprSettings::default()
}

async fn erase_person(
    db: &TestDb,
    clock: &FixedClock,
    subject: &str,
    strategy: ErasureStrategy,
    settings: &GdprSettings,
) -> chatkeep_core::Result<erase::ErasureReport> {
    common::erase_person(&db.store, clock, subject, strategy, settings).await
}

#[tokio::test]
async fn each_identifier_finds_the_one_person_with_their_counts() {
    let (db, _clock) = people().await;
    let ana_id: i64 = sqlite3(&db.path, "SELECT id FROM users WHERE external_id = 'u-ana'").parse().unwrap();
    for (text, key) in [
        ("u-ana", "external_id"),
        ("ext:u-ana", "external_id"),
        ("  ANA.Quixley@example.ORG ", "email"),
        ("email:ana.quixley@example.org", "email"),
        ("+49 (30) 123-4567", "phone"),
        ("0049 30 1234567", "phone"),
        ("phone:+4930 1234567", "phone"),
        (&format!("id:{ana_id}"), "user_id"),
    ] {
        let found = gdpr::find_subject(&db.store, text).await.unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(found.person.external_id, "u-ana", "{text}");
        assert_eq!(found.matched_by, [key], "{text} matched by {key}");
        assert_eq!(found.counts.messages, 4, "{text}: Ana wrote four messages");
        assert_eq!(found.counts.message_reads, 2);
        assert_eq!(found.counts.conversations, 3);
        assert_eq!(found.counts.conversations_owned, 1);
        assert!(found.blockers.is_empty());
    }
    // A stored 00 prefix matches a typed +.
    assert_eq!(gdpr::find_subject(&db.store, "+44 20 7946 0958").await.unwrap().person.external_id, "u-ben");

    let err = gdpr::find_subject(&db.store, "nobody@example.org").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("no person matches \"nobody@example.org\""), "{err}");
    assert!(err.to_string().contains("email:ADDRESS"), "the message says how else to name them: {err}");

    let err = gdpr::find_subject(&db.store, "shared@example.org").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ambiguous") && text.contains("u-twin-1") && text.contains("u-twin-2"), "{text}");
    assert!(text.contains("id:N or ext:ID"), "{text}");
    let err = gdpr::find_subject(&db.store, "phone:12").await.unwrap_err();
    assert!(err.to_string().contains("7 to 15 digits"), "{err}");
}

#[tokio::test]
async fn deadlines_are_one_calendar_month_and_month_end_requests_are_due_on_the_last_day() {
    let utc = Tz::UTC;
    let due = |y, m, d| gdpr::due_at(at(y, m, d, 15, 30, 0), 1, utc).to_rfc3339();
    assert_eq!(due(2027, 1, 31), "2027-02-28T23:59:59.999+00:00", "31 January: due on the last day of February");
    assert_eq!(due(2028, 1, 31), "2028-02-29T23:59:59.999+00:00", "in a leap year, the 29th");
    assert_eq!(due(2026, 3, 31), "2026-04-30T23:59:59.999+00:00");
    assert_eq!(due(2026, 11, 23), "2026-12-23T23:59:59.999+00:00");
    // In Berlin the deadline ends at local midnight.
    let berlin = gdpr::due_at(at(2027, 1, 31, 12, 0, 0), 1, Tz::Europe__Berlin);
    assert_eq!(berlin.to_rfc3339(), "2027-02-28T22:59:59.999+00:00");

    let (db, clock) = people().await;
    clock.set(at(2027, 2, 10, 12, 0, 0));
    let settings = settings();
    let new = |received: &'static str| NewRequestInput {
        kind: RequestKind::Access,
        subject: "u-ana",
        received: Some(received),
        notes: None,
    };
    let request = gdpr::new_request(&db.store, &new("2027-01-31"), &settings, utc, Actor::Cli, &clock).await.unwrap();
    assert_eq!(request.due_at, "2027-02-28T23:59:59.999Z");
    assert_eq!(request.status, RequestStatus::Open);
    assert_eq!(request.matched_by.as_deref(), Some("external_id"));
    let err = gdpr::new_request(&db.store, &new("2027-03-01"), &settings, utc, Actor::Cli, &clock).await.unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");

    // Due within 7 days of 2027-02-22, then overdue.
    clock.set(at(2027, 2, 22, 9, 0, 0));
    let due = gdpr::requests_due(&db.store, clock_now(&clock), 7).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].kind, due[0].overdue), (request.id, RequestKind::Access, false));
    assert!(gdpr::requests_due(&db.store, clock_now(&clock), 3).await.unwrap().is_empty(), "not within 3 days");
    let overdue = gdpr::requests_due(&db.store, at(2027, 3, 1, 0, 0, 0), 7).await.unwrap();
    assert!(overdue[0].overdue, "past the deadline");

    // Extended by two months (the most the law allows), with a reason; a third is refused.
    let extended =
        gdpr::extend_request(&db.store, request.id, 2, "complex request", &settings, utc, Actor::Cli, &clock)
            .await
            .unwrap();
    assert_eq!(extended.due_at, "2027-04-30T23:59:59.999Z", "31 January + 3 months");
    assert_eq!(extended.extended_reason.as_deref(), Some("complex request"));
    let err =
        gdpr::extend_request(&db.store, request.id, 1, "more", &settings, utc, Actor::Cli, &clock).await.unwrap_err();
    assert!(err.to_string().contains("two further months"), "{err}");
    let err =
        gdpr::extend_request(&db.store, request.id, 1, " ", &settings, utc, Actor::Cli, &clock).await.unwrap_err();
    assert!(err.to_string().contains("--reason"), "{err}");

    // Status flow: open -> in_progress -> rejected; a finished request cannot be extended or rejected again.
    let started = gdpr::start_request(&db.store, request.id, Actor::Cli, &clock).await.unwrap();
    assert_eq!(started.status, RequestStatus::InProgress);
    let rejected =
        gdpr::reject_request(&db.store, request.id, "identity not confirmed", Actor::Cli, &clock).await.unwrap();
    assert_eq!(rejected.status, RequestStatus::Rejected);
    assert_eq!(rejected.rejected_reason.as_deref(), Some("identity not confirmed"));
    let err =
        gdpr::extend_request(&db.store, request.id, 1, "late", &settings, utc, Actor::Cli, &clock).await.unwrap_err();
    assert!(err.to_string().contains("already rejected"), "{err}");
    assert_eq!(gdpr::show_request(&db.store, request.id).await.unwrap().due_at, "2027-04-30T23:59:59.999Z");
    assert!(gdpr::requests_due(&db.store, at(2027, 6, 1, 0, 0, 0), 7).await.unwrap().is_empty(), "done is not due");
    assert!(gdpr::list_requests(&db.store, false).await.unwrap().is_empty());
    assert_eq!(gdpr::list_requests(&db.store, true).await.unwrap().len(), 1);
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

fn clock_now(clock: &FixedClock) -> chrono::DateTime<chrono::Utc> {
    chatkeep_core::Clock::now(clock)
}

/// Checks an access export with Python's zipfile, json and hashlib; prints data.json.
const READ_ZIP: &str = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "a damaged member"
names = z.namelist()
assert names == ["manifest.json", "data.json", "summary.html"], names
manifest = json.loads(z.read("manifest.json"))
assert manifest["format"] == "chatkeep-access-export", manifest
for f in manifest["files"]:
    data = z.read(f["name"])
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
    assert len(data) == f["bytes"], f["name"]
summary = z.read("summary.html").decode("utf-8")
assert "Anatolia Quixley" in summary and "Quixley family arrives Friday" in summary
print(z.read("data.json").decode("utf-8"))
"#;

#[tokio::test]
async fn an_access_export_is_a_zip_that_python_reads_with_checksums_that_match() {
    let (db, clock) = people().await;
    let settings = settings();
    let input =
        NewRequestInput { kind: RequestKind::Access, subject: "ana.quixley@example.org", received: None, notes: None };
    let request = gdpr::new_request(&db.store, &input, &settings, Tz::UTC, Actor::Cli, &clock).await.unwrap();
    let out = db.dir.path().join("ana.zip");
    let report =
        access::export_access(&db.store, Target::Request(request.id), &out, &settings, Tz::UTC, Actor::Cli, &clock)
            .await
            .unwrap();
    assert_eq!((report.conversations, report.messages, report.read_receipts), (3, 4, 2));
    let done = report.request.unwrap();
    assert_eq!(done.status, RequestStatus::Done);
    assert_eq!(
        done.artifact_sha256.as_deref(),
        Some(run("sha256sum", &[out.to_str().unwrap()]).split(' ').next().unwrap())
    );
    assert_eq!(done.artifact_path.as_deref(), Some(std::fs::canonicalize(&out).unwrap().to_str().unwrap()));

    let data: serde_json::Value =
        serde_json::from_str(&run("python3", &["-c", READ_ZIP, out.to_str().unwrap()])).unwrap();
    assert_eq!(data["person"]["email"], "Ana.Quixley@Example.org");
    let bodies: Vec<&str> = data["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies.len(), 4);
    assert!(!bodies.iter().any(|b| b.contains("mobile")), "Ben's message is his data, left out by default");
    assert!(data["messages"].as_array().unwrap().iter().all(|m| m["from_subject"] == true));
    let titles: Vec<&serde_json::Value> =
        data["conversations"].as_array().unwrap().iter().map(|c| &c["title"]).collect();
    assert!(titles.contains(&&serde_json::json!("Trip planning")), "conversation metadata is there: {titles:?}");
    assert_eq!(data["read_receipts"].as_array().unwrap().len(), 2);
    assert_eq!(data["requests"][0]["id"], request.id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
    }

    // Configured to include the other participants' messages.
    let with_others = GdprSettings { include_other_participants: true, ..settings.clone() };
    let out2 = db.dir.path().join("ana-all.zip");
    let report =
        access::export_access(&db.store, Target::Subject("u-ana"), &out2, &with_others, Tz::UTC, Actor::Cli, &clock)
            .await
            .unwrap();
    assert_eq!(report.messages, 7, "every message of her three conversations");
    assert!(report.request.is_none());

    // Refused before anything is read or written: an existing file, a missing folder, a done request.
    let err = access::export_access(&db.store, Target::Subject("u-ana"), &out, &settings, Tz::UTC, Actor::Cli, &clock)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let missing = db.dir.path().join("no/such/folder/x.zip");
    let err =
        access::export_access(&db.store, Target::Subject("u-ana"), &missing, &settings, Tz::UTC, Actor::Cli, &clock)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = access::export_access(
        &db.store,
        Target::Request(request.id),
        &db.dir.path().join("again.zip"),
        &settings,
        Tz::UTC,
        Actor::Cli,
        &clock,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already done"), "{err}");
    assert!(!db.dir.path().join("again.zip").exists());
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn delete_removes_every_row_of_the_person_and_their_bytes_from_the_file() {
    let (db, clock) = people().await;
    let messages_before: i64 = sqlite3(&db.path, "SELECT count(*) FROM messages").parse().unwrap();
    let report =
        erase_person(&db, &clock, "ana.quixley@example.org", ErasureStrategy::Delete, &settings()).await.unwrap();
    let certificate = &report.certificate;
    assert!(certificate.all_zero(), "{:#?}", certificate.checks);
    assert!(certificate.checks.len() >= 10, "{:#?}", certificate.checks);
    assert!(certificate.checks.iter().any(|c| c.query == "SELECT count(*) FROM messages WHERE sender_id = $1"));
    assert!(certificate.residue.secure_delete.contains("secure_delete = ON"));
    assert!(certificate.residue.wal_checkpoint.as_deref().unwrap().contains("emptied"), "{:?}", certificate.residue);
    assert_eq!(certificate.before.messages, 4);
    assert_eq!(certificate.rows["deleted"]["messages"], 4);
    assert_eq!(
        certificate.rows["deleted"]["conversations_deleted"], 1,
        "the bot conversation had only her and the bot"
    );
    assert_eq!(certificate.rows["deleted"]["messages_of_emptied_conversations"], 1, "the bot's reply to her");
    let request = &report.request;
    assert_eq!((request.kind, request.status), (RequestKind::Erasure, RequestStatus::Done));
    assert_eq!(request.erasure_strategy, Some(ErasureStrategy::Delete));
    assert!(request.subject.starts_with("erased person (ledger #"), "{}", request.subject);
    let saved = gdpr::show_request(&db.store, request.id).await.unwrap();
    assert_eq!(saved.certificate.as_ref().unwrap()["checks"].as_array().unwrap().len(), certificate.checks.len());

    // Read back with sqlite3: the rest of the data is whole.
    let left = |sql: &str| sqlite3(&db.path, sql);
    assert_eq!(left("SELECT count(*) FROM users WHERE external_id = 'u-ana'"), "0");
    assert_eq!(
        left("SELECT count(*) FROM messages").parse::<i64>().unwrap(),
        messages_before - 5,
        "her 4 and the bot's reply"
    );
    assert_eq!(left("SELECT count(*) FROM conversations WHERE external_id = 'c-bot'"), "0");
    assert_eq!(left("SELECT body FROM messages WHERE external_id = 'm-2'"), "Will do, my mobile is 0044 20 7946 0958");
    assert_eq!(left("SELECT reply_to_id IS NULL FROM messages WHERE external_id = 'm-2'"), "1");
    assert_eq!(
        left(
            "SELECT count(*) FROM participants p JOIN conversations c ON c.id = p.conversation_id WHERE c.external_id = 'c-group'"
        ),
        "2"
    );
    assert_eq!(left("SELECT count(*) FROM erasure_ledger"), "1");
    assert_eq!(left("SELECT length(subject_key) FROM erasure_ledger"), "64", "a keyed hash");
    assert_eq!(left("PRAGMA foreign_key_check"), "");
    assert_eq!(left("PRAGMA integrity_check"), "ok");

    // Nothing of her in the file's bytes (free pages included) or the write-ahead log.
    for file in database_files(&db.path) {
        for trace in ANA_TRACES {
            assert!(!file_bytes_hold(&file, trace), "{trace:?} is still in {}", file.display());
        }
    }
    let audit_rows = left(
        "SELECT group_concat(action || ' ' || coalesce(target, '') || ' ' || details, ' | ') FROM audit_log WHERE action LIKE 'gdpr.%'",
    );
    assert!(audit_rows.contains("gdpr.erase request #"), "{audit_rows}");
    assert!(audit::verify(&db.store).await.unwrap().is_intact());

    // Done is done.
    let err = erase::erase(
        &db.store,
        Target::Request(request.id),
        ErasureStrategy::Delete,
        1,
        &settings(),
        &backup_settings(db.dir.path()),
        Tz::UTC,
        Actor::Cli,
        &clock,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already done"), "{err}");
}

#[tokio::test]
async fn anonymize_keeps_the_activity_under_a_stable_pseudonym_and_scrubs_or_redacts_bodies() {
    let (db, clock) = people().await;
    let report = erase_person(&db, &clock, "u-ana", ErasureStrategy::Anonymize, &settings()).await.unwrap();
    let c = &report.certificate;
    assert!(c.all_zero(), "{:#?}", c.checks);
    let pseudonym = c.pseudonym.clone().unwrap();
    assert!(pseudonym.starts_with("anon-") && pseudonym.len() == 21, "{pseudonym}");
    assert_eq!(c.bodies, Some(BodyMode::Keep));
    let scrubbed = c.scrubbed.unwrap();
    assert_eq!((scrubbed.messages, scrubbed.emails, scrubbed.phones), (1, 1, 1), "one email and one phone in m-1");
    assert!(c.checks.iter().any(|k| k.what.contains("still holding an email address or phone number")));
    let row = sqlite3(
        &db.path,
        &format!(
            "SELECT external_id, display_name, email IS NULL, phone IS NULL, anonymized_at IS NOT NULL FROM users WHERE external_id = '{pseudonym}'"
        ),
    );
    assert_eq!(row, format!("{pseudonym}|{pseudonym}|1|1|1"));
    let body = sqlite3(&db.path, "SELECT body FROM messages WHERE external_id = 'm-1'");
    assert_eq!(body, "Hi Ben! Write to [email removed] or call [phone removed] after 2026-10-05 18:00", "dates stay");
    assert_eq!(
        sqlite3(
            &db.path,
            &format!(
                "SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.external_id = '{pseudonym}'"
            )
        ),
        "4",
        "her messages stay, pseudonymous"
    );
    assert_eq!(
        sqlite3(
            &db.path,
            "SELECT count(*) FROM message_reads r JOIN users u ON u.id = r.user_id WHERE u.anonymized_at IS NOT NULL"
        ),
        "2"
    );

    // Bodies redacted, by configuration.
    let redact = GdprSettings { anonymize_bodies: BodyMode::Redact, ..settings() };
    let report = erase_person(&db, &clock, "ext:u-ben", ErasureStrategy::Anonymize, &redact).await.unwrap();
    assert!(report.certificate.all_zero(), "{:#?}", report.certificate.checks);
    assert!(report.certificate.checks.iter().any(|k| k.what == "their message bodies not redacted"));
    assert_eq!(sqlite3(&db.path, "SELECT body FROM messages WHERE external_id = 'm-2'"), "[redacted]");
    assert_eq!(report.certificate.rows["bodies_redacted"], 1);
    for trace in BEN_TRACES {
        for file in database_files(&db.path) {
            assert!(!file_bytes_hold(&file, trace), "{trace:?} is still in {}", file.display());
        }
    }
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn a_legal_hold_blocks_erasure_with_a_clear_message_and_changes_nothing() {
    let (db, clock) = people().await;
    let hold = chatkeep_core::ops::hold::place_hold(
        &db.store,
        HoldTarget::User("u-ana".into()),
        "case 114",
        Actor::Cli,
        &clock,
    )
    .await
    .unwrap();
    let audit_rows = db.count("audit_log").await;
    let err = erase_person(&db, &clock, "u-ana", ErasureStrategy::Delete, &settings()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidInput(_)), "{text}");
    assert!(text.contains(&format!("hold #{} on user \"u-ana\" (case 114)", hold.id)), "{text}");
    assert!(text.contains("Nothing was changed") && text.contains("chatkeep hold release"), "{text}");
    assert_eq!(db.count("dsr_requests").await, 0, "no request was recorded");
    assert_eq!(db.count("erasure_ledger").await, 0);
    assert_eq!(db.count("audit_log").await, audit_rows);
    assert_eq!(
        sqlite3(
            &db.path,
            "SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.external_id = 'u-ana'"
        ),
        "4"
    );

    // A hold on a conversation she is in blocks too, and so does the chat service's own flag.
    chatkeep_core::ops::hold::release_hold(&db.store, hold.id, Some("closed"), Actor::Cli, &clock).await.unwrap();
    chatkeep_core::ops::hold::place_hold(
        &db.store,
        HoldTarget::Conversation("c-group".into()),
        "case 115",
        Actor::Cli,
        &clock,
    )
    .await
    .unwrap();
    let err = erase_person(&db, &clock, "u-twin-1", ErasureStrategy::Anonymize, &settings()).await.unwrap_err();
    assert!(err.to_string().contains("conversation \"c-group\" (case 115)"), "{err}");
    sqlx::query("UPDATE conversations SET legal_hold = 1 WHERE external_id = 'c-direct'")
        .execute(&mut db.raw().await)
        .await
        .unwrap();
    let err = erase_person(&db, &clock, "u-ben", ErasureStrategy::Delete, &settings()).await.unwrap_err();
    assert!(err.to_string().contains("conversation \"c-direct\" (marked legal_hold by the chat service)"), "{err}");
    assert_eq!(db.count("dsr_requests").await, 0);
}

#[tokio::test]
async fn a_backup_taken_before_an_erasure_restores_with_no_trace_of_the_person() {
    let (db, clock) = people().await;
    let backup_settings = backup_settings(db.dir.path());
    let backups = Backups {
        store: &db.store,
        settings: &backup_settings,
        tz: Tz::UTC,
        clock: &clock,
        passphrase: None,
        events: &NoEvents,
    };
    let archive =
        backups.archive(parse_month("2026-10").unwrap(), true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    let snapshot = backups.snapshot(true, Actor::Cli, &NoProgress, &Cancel::new()).await.unwrap();
    clock.advance(Duration::hours(1));

    // Ana deleted, Ben anonymized with bodies redacted, after both backups.
    erase_person(&db, &clock, "u-ana", ErasureStrategy::Delete, &settings()).await.unwrap();
    let redact = GdprSettings { anonymize_bodies: BodyMode::Redact, ..settings() };
    let ben = erase_person(&db, &clock, "u-ben", ErasureStrategy::Anonymize, &redact).await.unwrap();
    let pseudonym = ben.certificate.pseudonym.unwrap();
    let traces: Vec<&str> = ANA_TRACES.iter().chain(BEN_TRACES).copied().collect();

    // The snapshot brings both back and the replay erases both again; the archive's import
    // leaves the deleted person out altogether, and the anonymized one is anonymized again.
    for (id, name, erased_again) in [(snapshot.id, "from-snapshot.db", 2), (archive.id, "from-archive.db", 1)] {
        let to = db.dir.path().join(name);
        let restored = backups.restore_to(id, &to, Actor::Cli, &NoProgress).await.unwrap();
        assert_eq!(restored.erased_again, erased_again, "{name}");
        let dump = json_dump(&to);
        for trace in &traces {
            assert!(!dump.contains(trace), "{name}: {trace:?} is in a JSON dump of the restored database");
            for file in database_files(&to) {
                assert!(!file_bytes_hold(&file, trace), "{name}: {trace:?} is in the bytes of {}", file.display());
            }
        }
        assert_eq!(sqlite3(&to, "SELECT count(*) FROM erasure_ledger"), "2", "{name}: the ledger came along");
        assert_eq!(
            sqlite3(
                &to,
                &format!(
                    "SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.external_id = '{pseudonym}'"
                )
            ),
            "1",
            "{name}: Ben's message stays, pseudonymous"
        );
        assert_eq!(sqlite3(&to, "SELECT body FROM messages WHERE external_id = 'm-2'"), "[redacted]");
        assert_eq!(sqlite3(&to, "PRAGMA foreign_key_check"), "");

        // A restore of the restored database re-applies nothing new: the ledger position is respected.
        let again = chatkeep_core::Store::open(&chatkeep_core::config::DatabaseUrl::Sqlite(to.clone())).await.unwrap();
        let ledger = gdpr::load_ledger(&db.store, &clock).await.unwrap();
        let (people, rows) =
            gdpr::reapply_erasure_ledger(&again, &ledger, ledger.position(), Actor::Cli, &clock).await.unwrap();
        assert_eq!((people, rows), (0, 0), "{name}: entries at or before the position are not applied again");
        again.close().await;
    }

    // A live merge of the archive does not bring them back either.
    let merged = backups.restore_into_live(archive.id, None, Actor::Cli, &NoProgress).await.unwrap();
    assert!(merged.erased_again <= 1, "Ben's original row came back with the archive and was folded in again");
    let dump = json_dump(&db.path);
    for trace in &traces {
        assert!(!dump.contains(trace), "live after merge: {trace:?}");
    }
    assert_eq!(sqlite3(&db.path, "SELECT count(*) FROM users WHERE anonymized_at IS NOT NULL"), "1");
    assert_eq!(sqlite3(&db.path, "PRAGMA foreign_key_check"), "");
    assert!(audit::verify(&db.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn a_ledger_written_before_keyed_hashes_is_hashed_and_its_clear_ids_leave_the_file() {
    use sqlx::ConnectOptions;
    // A database as chatkeep left it before this schema: migrations up to the backup catalog.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() <= "20261123000004_z" {
            std::fs::copy(entry.path(), old.join(entry.file_name())).unwrap();
        }
    }
    let path = dir.path().join("old.db");
    let mut conn =
        sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).connect().await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&mut conn).await.unwrap();
    sqlx::query(
        "INSERT INTO users (external_id, display_name, created_at) VALUES ('u-legacy-4711', 'Legacy Person', '2026-01-01T00:00:00.000Z');
         INSERT INTO erasure_ledger (user_external_id, strategy, erased_at) VALUES ('u-legacy-4711', 'delete', '2026-11-01T00:00:00.000Z');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    let store = chatkeep_core::Store::open(&chatkeep_core::config::DatabaseUrl::Sqlite(path.clone())).await.unwrap();
    assert_eq!(sqlite3(&path, "SELECT subject_key FROM erasure_ledger"), "unkeyed:u-legacy-4711", "migrated as it was");
    let clock = clock();
    let ledger = gdpr::load_ledger(&store, &clock).await.unwrap();
    assert_eq!(ledger.entries.len(), 1);
    assert!(ledger.deletes("u-legacy-4711"), "the entry still recognises the person");
    assert!(!ledger.deletes("u-someone-else"));
    assert_eq!(sqlite3(&path, "SELECT length(subject_key) FROM erasure_ledger"), "64");
    // The replay erases the person the old row named.
    let (people, _) = gdpr::reapply_erasure_ledger(&store, &ledger, 0, Actor::Cli, &clock).await.unwrap();
    assert_eq!(people, 1);
    store.checkpoint_wal().await.unwrap();
    store.close().await;
    for file in database_files(&path) {
        assert!(!file_bytes_hold(&file, "u-legacy-4711"), "the clear id is not left in {}", file.display());
    }
}
