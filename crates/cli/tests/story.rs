#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! The user's story, through the real `chatkeep` binary: configure, seed,
//! import, read statistics, audit, and get clear errors for bad input. The
//! database is then read back with the `sqlite3` command-line tool.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("data/chatkeep/chatkeep.db")
    }

    /// `chatkeep ARGS` with a clean environment rooted in the sandbox.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatkeep"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("chatkeep runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "chatkeep {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        serde_json::from_str(&self.ok(&with_json)).expect("--json prints JSON")
    }
}

fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect(
        "the sqlite3 command-line tool is needed to read chatkeep's database back (the test command installs it)",
    );
    assert!(out.status.success(), "sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn an_admin_seeds_imports_reads_stats_and_audits() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("config/chatkeep")).unwrap();
    std::fs::write(
        sandbox.path("config/chatkeep/chatkeep.toml"),
        "timezone = \"Asia/Kuala_Lumpur\"\n[retention]\ndefault_days = 90\n",
    )
    .unwrap();

    // The platform config file is found and its values are attributed to it.
    let config = sandbox.json(&["config", "show"]);
    let settings = config["settings"].as_array().unwrap();
    let timezone = settings.iter().find(|s| s["key"] == "timezone").unwrap();
    assert_eq!(timezone["value"], "Asia/Kuala_Lumpur");
    assert_eq!(timezone["source"]["kind"], "file");
    let database = settings.iter().find(|s| s["key"] == "database_url").unwrap();
    assert_eq!(database["source"]["kind"], "default", "a new user needs no database setup");

    let seeded = sandbox.json(&["demo", "seed", "--conversations", "150", "--messages", "2500", "--months", "4"]);
    assert_eq!(seeded["messages"], 2500);
    assert!(sandbox.db().exists(), "the default database lives in the platform data folder");
    let again = sandbox.json(&["demo", "seed", "--conversations", "150", "--messages", "2500", "--months", "4"]);
    assert_eq!(again["already_present"], true, "seeding twice is harmless");

    let file = sandbox.path("more.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"type":"user","id":"ext-1","display_name":"Zoë","created_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"type":"conversation","id":"ext-c","kind":"direct","created_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"type":"message","id":"ext-m","conversation":"ext-c","sender":"ext-1","role":"user","body":"Hi, \"there\"","created_at":"2026-01-01T00:01:00Z"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let imported = sandbox.json(&["import", file.to_str().unwrap()]);
    assert_eq!(imported["messages"]["inserted"], 1);

    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["messages"]["total"], 2501);
    assert_eq!(stats["conversations"]["total"], 151);
    assert_eq!(stats["timezone"], "Asia/Kuala_Lumpur");
    let per_month_total: i64 =
        stats["per_month"].as_array().unwrap().iter().map(|m| m["messages"].as_i64().unwrap()).sum();
    assert_eq!(per_month_total, 2501, "the months add up to the total");

    // A third-party reader sees the same data, in a healthy file.
    let db = sandbox.db();
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM messages"), "2501");
    assert_eq!(sqlite3(&db, "SELECT body FROM messages WHERE external_id = 'ext-m'"), "Hi, \"there\"");
    let tokens = sqlite3(&db, "SELECT sum(tokens_used) FROM messages");
    assert_eq!(stats["messages"]["tokens_used"].to_string(), tokens);

    // A legal hold on a demo conversation, by the id the chat service knows.
    let held = sandbox.json(&["hold", "add", "--conversation", "demo-s1-c00000007", "--reason", "case 114"]);
    assert_eq!(held[0]["target"], serde_json::json!({"kind": "conversation", "id": "demo-s1-c00000007"}));
    let listed = sandbox.ok(&["hold", "list"]);
    assert!(listed.contains("demo-s1-c00000007") && listed.contains("case 114"), "{listed}");

    // Three operations, three audit rows, an intact chain.
    let audit = sandbox.json(&["audit", "list"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["hold.place", "import.file", "demo.seed"]);
    assert!(sandbox.ok(&["audit", "verify"]).contains("intact"));

    // Tampering with sqlite3 is caught, by row, with exit code 3.
    sqlite3(&db, "UPDATE audit_log SET target = 'nothing to see' WHERE id = 1");
    let out = sandbox.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(3), "a broken chain exits 3");
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN at row 1"));
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failing_exit_code() {
    let sandbox = Sandbox::new();
    // (environment, arguments, words the one-line error must contain)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
    let cases: &[Case] = &[
        (&[("CHAT_DATA_RETENTION_DAYS", "-3")], &["stats"], &["CHAT_DATA_RETENTION_DAYS", "-3", "from 1 to 36500"]),
        (&[("TIMEZONE", "Moon/Base")], &["stats"], &["TIMEZONE", "Moon/Base", "IANA"]),
        (&[("DATABASE_URL", "mysql://x/y")], &["stats"], &["DATABASE_URL", "mysql://x/y", "sqlite://PATH"]),
        (&[], &["demo", "seed", "--months", "0"], &["--months", "from 1 to 120"]),
        (&[], &["audit", "list", "--since", "last tuesday"], &["--since", "2026-03-01"]),
        (&[], &["import", "/nonexistent/file.jsonl"], &["/nonexistent/file.jsonl"]),
        (
            &[],
            &["hold", "add", "--conversation", "c-404", "--reason", "case"],
            &["conversation \"c-404\"", "not found"],
        ),
        (&[], &["hold", "release", "41"], &["legal hold #41"]),
        (&[], &["retention", "policy", "set", "--conversation", "c-1", "7 days"], &["\"7 days\"", "30d"]),
        (&[], &["retention", "policy", "set", "--conversation", "c-404", "7d"], &["conversation \"c-404\""]),
        (
            &[],
            &[
                "retention",
                "rule",
                "add",
                "--table",
                "sesions",
                "--timestamp-column",
                "at",
                "--days",
                "9",
                "--strategy",
                "hard",
            ],
            &["no table named \"sesions\""],
        ),
        (
            &[],
            &[
                "retention",
                "rule",
                "add",
                "--table",
                "t",
                "--timestamp-column",
                "at",
                "--days",
                "9",
                "--strategy",
                "shred",
            ],
            &["shred", "soft, hard or anonymize"],
        ),
        (&[], &["retention", "restore", "--since", "2020-01-01"], &["--since", "outside the grace window"]),
        (&[], &["retention", "restore", "--conversation", "c-404"], &["conversation \"c-404\""]),
        (&[("CHAT_RETENTION_BATCH_SIZE", "5")], &["retention", "run"], &["CHAT_RETENTION_BATCH_SIZE", "from 10"]),
        (&[], &["backup", "archive", "--month", "2099-01"], &["2099-01", "not over yet"]),
        (&[], &["backup", "archive", "--month", "2026-13"], &["--month", "2026-10"]),
        (&[], &["backup", "verify", "999"], &["backup #999", "not found"]),
        (&[], &["backup", "restore", "999", "--to", "x.db"], &["backup #999"]),
        (&[("CHATKEEP_BACKUP_PASSPHRASE", "")], &["backup", "snapshot"], &["passphrase is empty"]),
        (&[("CHAT_BACKUP_ENCRYPT", "true")], &["backup", "snapshot"], &["no passphrase", "CHATKEEP_BACKUP_PASSPHRASE"]),
        (&[], &["export", "--from", "2026-02-01", "--to", "2026-01-01"], &["--to", "not after --from"]),
        (
            &[],
            &["export", "--from", "2026-01-01", "--to", "2026-01-31", "--format", "xls"],
            &["\"xls\"", "csv, json, jsonl"],
        ),
        (&[], &["export", "--from", "2026-01-01", "--to", "2026-01-31", "--conversation", "c-404"], &["c-404"]),
    ];
    for (env, args, needles) in cases {
        let mut command = sandbox.command(args);
        for (key, value) in *env {
            command.env(key, value);
        }
        let out = command.output().unwrap();
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} with {env:?} should fail: {message}");
        assert_eq!(message.lines().count(), 1, "one line, no debug dump: {message}");
        assert!(message.starts_with("error: "), "{message}");
        for needle in *needles {
            assert!(message.contains(needle), "{args:?}: {message:?} should mention {needle:?}");
        }
    }

    let config = sandbox.path("chatkeep.toml");
    std::fs::write(&config, "[backup]\ndirectroy = \"/tmp\"\n").unwrap();
    let out = sandbox.run(&["--config", config.to_str().unwrap(), "stats"]);
    assert!(stderr(&out).contains("did you mean `backup.directory`"), "{}", stderr(&out));

    let bad = sandbox.path("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"user\",\"id\":\"u\",\"created_at\":\"2026-01-01T00:00:00Z\"}\n{\"type\":\"usr\"}\n",
    )
    .unwrap();
    let out = sandbox.run(&["import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2") && stderr(&out).contains("nothing was imported"), "{}", stderr(&out));
}

#[test]
fn every_command_has_help() {
    let sandbox = Sandbox::new();
    for args in [
        vec!["--help"],
        vec!["config", "--help"],
        vec!["config", "show", "--help"],
        vec!["import", "--help"],
        vec!["demo", "seed", "--help"],
        vec!["stats", "--help"],
        vec!["audit", "list", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["hold", "add", "--help"],
        vec!["hold", "list", "--help"],
        vec!["hold", "release", "--help"],
        vec!["retention", "--help"],
        vec!["retention", "preview", "--help"],
        vec!["retention", "run", "--help"],
        vec!["retention", "restore", "--help"],
        vec!["retention", "policy", "set", "--help"],
        vec!["retention", "rule", "add", "--help"],
        vec!["backup", "--help"],
        vec!["backup", "snapshot", "--help"],
        vec!["backup", "archive", "--help"],
        vec!["backup", "list", "--help"],
        vec!["backup", "verify", "--help"],
        vec!["backup", "restore", "--help"],
        vec!["backup", "prune", "--help"],
        vec!["backup", "save", "--help"],
        vec!["export", "--help"],
        vec!["jobs", "--help"],
        vec!["jobs", "list", "--help"],
        vec!["jobs", "run", "--help"],
        vec!["jobs", "history", "--help"],
        vec!["jobs", "pause", "--help"],
        vec!["jobs", "resume", "--help"],
        vec!["daemon", "--help"],
        vec!["gdpr", "--help"],
        vec!["gdpr", "find", "--help"],
        vec!["gdpr", "request", "new", "--help"],
        vec!["gdpr", "request", "list", "--help"],
        vec!["gdpr", "request", "show", "--help"],
        vec!["gdpr", "request", "start", "--help"],
        vec!["gdpr", "request", "extend", "--help"],
        vec!["gdpr", "request", "reject", "--help"],
        vec!["gdpr", "export", "--help"],
        vec!["gdpr", "erase", "--help"],
    ] {
        let out = sandbox.ok(&args);
        assert!(out.contains("Usage:"), "{args:?} should print usage: {out}");
    }
}

#[test]
fn an_import_killed_half_way_leaves_all_or_nothing() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["stats"]); // creates and migrates the database
    let file = sandbox.path("big.jsonl");
    let mut lines = vec![
        r#"{"type":"user","id":"u","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
        r#"{"type":"conversation","id":"c","kind":"direct","created_at":"2026-01-01T00:00:00Z"}"#.to_string(),
    ];
    let messages = 60_000;
    for n in 0..messages {
        lines.push(format!(
            r#"{{"type":"message","id":"m{n}","conversation":"c","sender":"u","role":"user","body":"message {n}, with a comma","created_at":"2026-01-01T00:00:00Z"}}"#
        ));
    }
    std::fs::write(&file, lines.join("\n")).unwrap();

    let mut child = sandbox.command(&["import", file.to_str().unwrap()]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = child.kill(); // SIGKILL: no chance to clean up
    let _ = child.wait();

    let db = sandbox.db();
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok", "a killed import must not corrupt the database");
    let stored: i64 = sqlite3(&db, "SELECT count(*) FROM messages").parse().unwrap();
    assert!(stored == 0 || stored == messages, "all or nothing, but {stored} of {messages} messages were stored");
    let audit_rows: i64 = sqlite3(&db, "SELECT count(*) FROM audit_log").parse().unwrap();
    assert_eq!(audit_rows, i64::from(stored == messages), "the audit row commits with the import, or not at all");
    assert!(sandbox.ok(&["audit", "verify"]).contains("intact"));
}

#[test]
fn an_admin_previews_runs_and_restores_retention() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "300", "--messages", "4000", "--months", "12"]);
    let db = sandbox.db();
    let preview = sandbox.json(&["retention", "preview"]);
    assert_eq!(preview["mode"], "preview");
    let planned = preview["expired"]["messages"].as_u64().unwrap();
    assert!(planned > 500, "a year of demo data has messages past 180 days: {preview}");
    assert_eq!(
        sqlite3(&db, "SELECT count(*) FROM messages WHERE expired_at IS NOT NULL"),
        "0",
        "a preview changes nothing"
    );

    let run = sandbox.json(&["retention", "run"]);
    assert_eq!(run["expired"], preview["expired"], "the run does what the preview said");
    assert_eq!(run["purged"]["messages"], 0, "nothing is purged inside the grace period");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM messages WHERE expired_at IS NOT NULL"), planned.to_string());
    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["messages"]["total"].as_u64().unwrap(), 4000 - planned, "expired messages leave the statistics");

    // Restore one conversation, in grace.
    let conversation = sqlite3(
        &db,
        "SELECT c.external_id FROM conversations c JOIN messages m ON m.conversation_id = c.id WHERE m.expired_at IS NOT NULL LIMIT 1",
    );
    let text = sandbox.ok(&["retention", "restore", "--conversation", &conversation]);
    assert!(text.contains("Restored") && text.contains("expires them again"), "{text}");

    // Policy changes are validated and recompute expiry dates.
    let out = sandbox.ok(&["retention", "policy", "set", "--conversation", &conversation, "forever"]);
    assert!(out.contains("now follows forever"), "{out}");
    assert_eq!(
        sqlite3(
            &db,
            &format!(
                "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.external_id = '{conversation}' AND m.expires_at IS NOT NULL"
            )
        ),
        "0"
    );

    // A table rule on the chat service's own extra table.
    sqlite3(
        &db,
        "CREATE TABLE app_sessions (id INTEGER PRIMARY KEY, token TEXT, created_at TEXT); INSERT INTO app_sessions VALUES (1, 'a', '2020-01-01T00:00:00Z'), (2, 'b', '2999-01-01T00:00:00Z');",
    );
    let added = sandbox.ok(&[
        "retention",
        "rule",
        "add",
        "--table",
        "app_sessions",
        "--timestamp-column",
        "created_at",
        "--days",
        "30",
        "--strategy",
        "hard",
    ]);
    assert!(added.contains("Added rule #1"), "{added}");
    assert!(sandbox.ok(&["retention", "rule", "list"]).contains("app_sessions.created_at older than 30d: hard"));
    let run = sandbox.json(&["retention", "run"]);
    assert_eq!(run["rules"][0]["rows"], 1);
    assert_eq!(sqlite3(&db, "SELECT group_concat(id) FROM app_sessions"), "2");
    sandbox.ok(&["retention", "rule", "remove", "1"]);

    let actions = sqlite3(&db, "SELECT group_concat(DISTINCT action) FROM audit_log WHERE action LIKE 'retention.%'");
    for action in [
        "retention.start",
        "retention.run",
        "retention.restore",
        "retention.policy",
        "retention.rule_add",
        "retention.rule_remove",
    ] {
        assert!(actions.contains(action), "{action} should be audited: {actions}");
    }
    assert!(sandbox.ok(&["audit", "verify"]).contains("intact"));

    // Auto-delete off: report only.
    let mut command = sandbox.command(&["retention", "run"]);
    command.env("CHAT_AUTO_DELETE_ENABLED", "false");
    let out = command.output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing was changed"));
}

#[test]
fn a_purge_killed_half_way_loses_nothing_outside_its_set_and_the_next_run_finishes() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "1500", "--messages", "40000", "--months", "12"]);
    let db = sandbox.db();
    sandbox.ok(&["retention", "run"]);
    // Pretend the first run was a month ago, so everything it expired is past grace.
    sqlite3(
        &db,
        "UPDATE messages SET expired_at = '2026-01-01T00:00:00.000Z' WHERE expired_at IS NOT NULL;
                  UPDATE conversations SET expired_at = '2026-01-01T00:00:00.000Z' WHERE expired_at IS NOT NULL;",
    );
    let no_backups = [("CHAT_RETENTION_REQUIRE_VERIFIED_BACKUP", "false")];
    let mut preview = sandbox.command(&["retention", "preview", "--json"]);
    preview.envs(no_backups);
    let preview: serde_json::Value = serde_json::from_slice(&preview.output().unwrap().stdout).unwrap();
    let to_purge = preview["purged"]["messages"].as_u64().unwrap();
    assert!(to_purge > 5_000, "{preview}");
    let before: u64 = sqlite3(&db, "SELECT count(*) FROM messages").parse().unwrap();
    let live = sqlite3(&db, "SELECT count(*), sum(id) FROM messages WHERE expired_at IS NULL");

    let mut child = sandbox.command(&["retention", "run", "--batch-size", "10"]).envs(no_backups).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now: u64 = sqlite3(&db, "SELECT count(*) FROM messages").parse().unwrap();
        if now < before - 200 {
            break; // well into the purge
        }
        assert!(std::time::Instant::now() < deadline, "the purge never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill(); // SIGKILL, mid-purge
    let _ = child.wait();

    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite3(&db, "PRAGMA foreign_key_check"), "", "no orphan rows");
    let after: u64 = sqlite3(&db, "SELECT count(*) FROM messages").parse().unwrap();
    assert!(
        after < before && after > before - to_purge,
        "killed half way: {after} of {before} left, {to_purge} to purge"
    );
    assert_eq!(
        sqlite3(&db, "SELECT count(*), sum(id) FROM messages WHERE expired_at IS NULL"),
        live,
        "no live message is gone"
    );
    assert_eq!(
        sqlite3(
            &db,
            "SELECT count(*) FROM message_reads r LEFT JOIN messages m ON m.id = r.message_id WHERE m.id IS NULL"
        ),
        "0"
    );

    let mut again = sandbox.command(&["retention", "run", "--json"]);
    again.envs(no_backups);
    let finished: serde_json::Value = serde_json::from_slice(&again.output().unwrap().stdout).unwrap();
    assert_eq!(finished["outcome"], "completed");
    assert_eq!(
        finished["purged"]["messages"].as_u64().unwrap(),
        after - (before - to_purge),
        "the second run finishes the job"
    );
    let left: u64 = sqlite3(&db, "SELECT count(*) FROM messages").parse().unwrap();
    assert_eq!(left, before - to_purge, "exactly the planned set is gone");
    assert!(sandbox.ok(&["audit", "verify"]).contains("intact"));
}

#[test]
fn an_admin_backs_up_verifies_restores_and_prunes() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "200", "--messages", "3000", "--months", "6"]);
    let snapshot = sandbox.json(&["backup", "snapshot"]);
    assert_eq!(snapshot["status"], "verified");
    let archive = sandbox.json(&["backup", "archive", "--month", &last_month()]);
    assert_eq!(archive["kind"], "archive");
    let listing = sandbox.json(&["backup", "list"]);
    assert_eq!(listing["backups"].as_array().unwrap().len(), 2);
    assert!(sandbox.ok(&["backup", "verify", "--all"]).contains("verified"));

    let restored = sandbox.path("restored.db");
    let id = snapshot["id"].as_i64().unwrap().to_string();
    sandbox.ok(&["backup", "restore", &id, "--to", restored.to_str().unwrap()]);
    assert_eq!(sqlite3(&restored, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite3(&restored, "SELECT count(*) FROM messages"), "3000");
    let out = sandbox.run(&["backup", "restore", &id, "--into-live"]);
    assert!(stderr(&out).contains("snapshot") && stderr(&out).contains("new file"), "{}", stderr(&out));

    let archive_id = archive["id"].as_i64().unwrap().to_string();
    let merged = sandbox.json(&["backup", "restore", &archive_id, "--into-live"]);
    assert_eq!(merged["import"]["messages"]["inserted"], 0, "nothing was missing, so nothing changed");

    let copy = sandbox.path("copy.tar.zst");
    sandbox.ok(&["backup", "save", &id, "--to", copy.to_str().unwrap()]);
    let out = sandbox.run(&["backup", "save", &id, "--to", copy.to_str().unwrap()]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(sandbox.ok(&["backup", "prune", "--dry-run"]).contains("Nothing to prune"));

    let actions =
        sqlite3(&sandbox.db(), "SELECT group_concat(DISTINCT action) FROM audit_log WHERE action LIKE 'backup.%'");
    for action in ["backup.create", "backup.verify", "backup.restore"] {
        assert!(actions.contains(action), "{action} should be audited: {actions}");
    }
}

fn last_month() -> String {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let (year, month) = if now.month() == 1 { (now.year() - 1, 12) } else { (now.year(), now.month() - 1) };
    format!("{year:04}-{month:02}")
}

#[test]
fn a_backup_killed_half_way_is_marked_failed_and_the_next_one_succeeds() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "3000", "--messages", "60000", "--months", "6"]);
    let db = sandbox.db();
    let mut child = sandbox.command(&["backup", "snapshot"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if sqlite3(&db, "SELECT count(*) FROM backups WHERE status = 'in_progress'") == "1" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the backup never started");
        assert!(child.try_wait().unwrap().is_none(), "the backup finished before it could be killed");
    }
    let _ = child.kill(); // SIGKILL mid-backup
    let _ = child.wait();
    let backups = sandbox.path("data/chatkeep/backups");
    let complete: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("chatkeep-"))
        .collect();
    assert!(complete.is_empty(), "a killed backup leaves no file that looks complete: {complete:?}");

    let second = sandbox.json(&["backup", "snapshot"]);
    assert_eq!(second["status"], "verified");
    let first = sqlite3(&db, "SELECT status || ': ' || error FROM backups ORDER BY id LIMIT 1");
    assert!(first.starts_with("failed: interrupted"), "{first}");
    let leftovers: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "scratch and partial files are cleaned up: {leftovers:?}");
}

#[test]
fn a_full_disk_fails_the_backup_cleanly() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "500", "--messages", "20000", "--months", "3"]);
    // A 2 MiB file-size limit stands in for a full disk: writes past it fail with an error.
    let mut command = sandbox.command(&[]);
    let binary = env!("CARGO_BIN_EXE_chatkeep");
    command.args(["-c", &format!("trap '' XFSZ; ulimit -f 2048; exec {binary} backup snapshot")]);
    let mut shell = Command::new("bash");
    shell.args(command.get_args());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            shell.env(key, value);
        }
    }
    let out = shell.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "one line: {}", stderr(&out));
    let status = sqlite3(&sandbox.db(), "SELECT status FROM backups");
    assert_eq!(status, "failed", "no catalog row is left looking complete");
    let backups = sandbox.path("data/chatkeep/backups");
    let files: Vec<String> =
        std::fs::read_dir(&backups).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(files.is_empty(), "nothing half-written is left: {files:?}");
}

#[test]
fn an_admin_exports_a_month_to_csv_json_and_jsonl() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "200", "--messages", "3000", "--months", "6"]);
    let month = last_month();
    let from = format!("{month}-01");
    let to = format!("{month}-28");
    for format in ["csv", "json", "jsonl", "pdf"] {
        let out = sandbox.path(&format!("export.{format}"));
        let report =
            sandbox.json(&["export", "--from", &from, "--to", &to, "--format", format, "--out", out.to_str().unwrap()]);
        assert!(report["messages"].as_u64().unwrap() > 0, "{report}");
        assert!(out.exists());
    }
    assert!(std::fs::read(sandbox.path("export.pdf")).unwrap().starts_with(b"%PDF-"));
    // The same file again: refused unless --overwrite, which replaces it.
    let csv = sandbox.path("export.csv");
    let again = ["export", "--from", &from, "--to", &to, "--out", csv.to_str().unwrap()];
    let out = sandbox.run(&again);
    assert!(!out.status.success() && stderr(&out).contains("--overwrite"), "{}", stderr(&out));
    sandbox.ok(&[&again[..], &["--overwrite"]].concat());
    let messages = sandbox.path("export.jsonl");
    let fresh = Sandbox::new();
    let imported = fresh.json(&["import", messages.to_str().unwrap()]);
    assert!(
        imported["messages"]["inserted"].as_u64().unwrap() > 0,
        "an export imports into another chatkeep: {imported}"
    );
    assert!(sqlite3(&sandbox.db(), "SELECT group_concat(DISTINCT action) FROM audit_log").contains("export.file"));
}

/// Collects the JSON bodies POSTed to it, answering 200; for webhook notifications.
fn webhook_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((_, value)) =
                        header.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
            }
        }
    });
    (url, bodies)
}

#[test]
fn names_and_reasons_from_the_data_are_shown_never_obeyed_by_the_terminal() {
    let sandbox = Sandbox::new();
    let data = sandbox.path("people.jsonl");
    let records = [
        serde_json::json!({"type": "user", "id": "u-mallory", "display_name": "\u{1b}[2J\u{1b}[31mMallory\u{202e}gnp.exe",
                           "email": "mallory@example.org", "created_at": "2026-01-01T00:00:00Z"}),
        serde_json::json!({"type": "conversation", "id": "c-1", "kind": "direct", "title": "\u{7}ring\u{9b}31m",
                           "created_at": "2026-01-01T00:00:00Z"}),
    ];
    let text: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&data, text.join("\n")).unwrap();
    sandbox.ok(&["import", data.to_str().unwrap()]);
    sandbox.ok(&["hold", "add", "--conversation", "c-1", "--reason", "case \u{1b}]0;pwned\u{7}"]);
    let outputs = [
        sandbox.ok(&["gdpr", "find", "mallory@example.org"]),
        sandbox.ok(&["hold", "list"]),
        sandbox.ok(&["audit", "list"]),
    ];
    for out in &outputs {
        assert!(
            !out.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "raw control characters: {out:?}"
        );
    }
    assert!(outputs[0].contains("\\u{1b}[2J\\u{1b}[31mMallory\\u{202e}gnp.exe"), "written out: {}", outputs[0]);
    assert!(outputs[1].contains("case \\u{1b}]0;pwned\\u{7}"), "{}", outputs[1]);
    // An error quoting a value does the same.
    let out = sandbox.run(&["gdpr", "find", "nobody\u{1b}[2J"]);
    assert!(!out.status.success() && stderr(&out).contains("nobody\\u{1b}[2J"), "{}", stderr(&out));
}

/// A webhook endpoint that refuses every notification (404), so chatkeep logs the failure at once.
fn refusing_webhook() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = (&stream).write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    format!("http://{address}")
}

#[test]
fn a_webhook_urls_secret_path_is_never_printed() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "20", "--messages", "200", "--months", "1"]);
    let base = refusing_webhook();
    let hook = format!("{base}/services/T0CHATKEEP/B0CHATKEEP/xoxSeCrEt4711");
    let secret = "xoxSeCrEt4711";
    let with_hook = |args: &[&str]| sandbox.command(args).env("CHATKEEP_WEBHOOK_URL", &hook).output().unwrap();

    for args in [&["config", "show"][..], &["config", "show", "--json"]] {
        let out = with_hook(args);
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!shown.contains(secret) && !shown.contains("T0CHATKEEP"), "config {args:?} masks the path: {shown}");
        assert!(shown.contains(&format!("{base}/****")), "the host stays visible: {shown}");
    }
    // A notification the endpoint refuses is logged with the host only.
    let out = with_hook(&["jobs", "run", "snapshot"]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("could not be delivered") && log.contains(&format!("{base}/****")), "{log}");
    assert!(!log.contains(secret) && !log.contains("T0CHATKEEP"), "the log masks the path: {log}");
    // An invalid URL is refused without quoting its secret.
    let out = sandbox.command(&["stats"]).env("CHATKEEP_WEBHOOK_URL", "ftp://host/xoxSeCrEt4711").output().unwrap();
    assert!(!out.status.success() && !stderr(&out).contains(secret), "{}", stderr(&out));
}

#[test]
fn the_daemon_runs_its_schedule_stops_cleanly_and_catches_up_after_downtime() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["demo", "seed", "--conversations", "200", "--messages", "2000", "--months", "2"]);
    let db = sandbox.db();
    let (hook, bodies) = webhook_server();
    let schedule = |command: &mut Command| {
        command
            .env("CHATKEEP_SCHEDULE_SNAPSHOT", "*/3 * * * * *")
            .env("CHATKEEP_SCHEDULE_ARCHIVE", "off")
            .env("CHATKEEP_SCHEDULE_RETENTION", "off")
            .env("CHATKEEP_SCHEDULE_MAINTENANCE", "off")
            .env("CHATKEEP_SCHEDULE_VERIFY", "off")
            .env("CHATKEEP_SCHEDULE_GDPR", "off")
            .env("CHATKEEP_WEBHOOK_URL", &hook);
    };

    let mut daemon = sandbox.command(&["daemon"]);
    schedule(&mut daemon);
    let child = daemon.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sqlite3(&db, "SELECT count(*) FROM job_runs WHERE job = 'snapshot' AND status = 'ok'") == "0" {
        assert!(std::time::Instant::now() < deadline, "no snapshot run was recorded within a minute");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a clean exit on SIGTERM: {log}");
    assert!(log.contains("SIGTERM") && log.contains("stopped cleanly"), "{log}");
    assert!(log.contains("job started") && log.contains("job=\"snapshot\""), "structured log lines: {log}");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM job_runs WHERE status = 'running'"), "0", "nothing left running");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM job_leases"), "0", "leases released");

    // Downtime: the history says the daemon last ran three days ago, with a daily 01:00 snapshot.
    let shift = "strftime('%Y-%m-%dT%H:%M:%fZ', scheduled_for, '-3 days')";
    sqlite3(&db, &format!("UPDATE job_runs SET scheduled_for = {shift} WHERE scheduled_for IS NOT NULL"));
    sqlite3(&db, "UPDATE job_state SET watched_since = strftime('%Y-%m-%dT%H:%M:%fZ', watched_since, '-3 days')");
    let before: i64 = sqlite3(&db, "SELECT max(id) FROM job_runs").parse().unwrap();
    let mut once = sandbox.command(&["daemon", "--once"]);
    schedule(&mut once);
    once.env("CHATKEEP_SCHEDULE_SNAPSHOT", "0 1 * * *").env("CHATKEEP_SCHEDULER_LATE_MINUTES", "1");
    let out = once.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let missed: i64 =
        sqlite3(&db, "SELECT count(*) FROM job_runs WHERE job = 'snapshot' AND status = 'missed'").parse().unwrap();
    assert!((2..=3).contains(&missed), "the daily 01:00 of the days it was down, recorded as missed: {missed}");
    let ran = sqlite3(
        &db,
        &format!("SELECT trigger FROM job_runs WHERE id > {before} AND job = 'snapshot' AND status = 'ok'"),
    );
    // Caught up once (or, within a minute after 01:00, run on time; the older days stay missed).
    assert!(ran == "catch_up" || ran == "schedule", "one run: {ran:?}");
    let list = sandbox.run(&["jobs", "list"]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains(&format!("missed {missed} times in the last 7 days")), "{list}");
    let notified = bodies.lock().unwrap().clone();
    assert!(
        notified.iter().any(|b| b["event"] == "job_missed" && b["job"] == "snapshot" && b["caught_up"] == true),
        "the miss reached the webhook: {notified:?}"
    );
    assert!(notified.iter().any(|b| b["event"] == "backup_done"), "{notified:?}");
    // A job's notifications carry the audit log's head, a record of the chain outside the database.
    let done = notified.iter().rev().find(|b| b["event"] == "backup_done").unwrap();
    let head_row = done["audit_head"]["row"].as_i64().unwrap_or(0);
    let logged = sqlite3(&db, &format!("SELECT hash FROM audit_log WHERE id = {head_row}"));
    assert!(head_row > 0 && done["audit_head"]["hash"] == logged.as_str(), "{done}");

    let history = sandbox.json(&["jobs", "history", "snapshot", "--limit", "3"]);
    assert_eq!(history.as_array().unwrap().len(), 3);
}

#[test]
fn jobs_commands_name_the_job_and_the_fix() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["jobs", "run", "backups"]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(error.contains("unknown job \"backups\"") && error.contains("snapshot, archive, retention"), "{error}");
    let out = sandbox.command(&["jobs", "list"]).env("CHATKEEP_SCHEDULE_VERIFY", "0 4 * * Sundays").output().unwrap();
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(error.contains("CHATKEEP_SCHEDULE_VERIFY") && error.contains("cron expression"), "{error}");
    sandbox.ok(&["jobs", "pause"]);
    let list = sandbox.ok(&["jobs", "list"]);
    assert!(list.contains("The whole schedule is PAUSED"), "{list}");
    sandbox.ok(&["jobs", "resume"]);
    let list = sandbox.json(&["jobs", "list"]);
    assert_eq!(list["schedule_paused"], false);
    assert_eq!(list["jobs"].as_array().unwrap().len(), 7);
}

/// Three people beside the demo data; two share an email address.
const GDPR_PEOPLE: &str = r#"{"type":"user","id":"u-ana","display_name":"Anatolia Quixley","email":"Ana.Quixley@Example.org","phone":"+49 30 1234567","created_at":"2026-01-05T09:00:00Z"}
{"type":"user","id":"u-ben","display_name":"Benedikt Zorander","email":"ben.zorander@example.org","created_at":"2026-02-01T09:00:00Z"}
{"type":"user","id":"u-twin-1","display_name":"Twin One","email":"shared@example.org","created_at":"2026-02-01T09:00:00Z"}
{"type":"user","id":"u-twin-2","display_name":"Twin Two","email":"shared@example.org","created_at":"2026-02-01T09:00:00Z"}
{"type":"conversation","id":"c-ab","kind":"direct","created_at":"2026-10-01T08:00:00Z"}
{"type":"participant","conversation":"c-ab","user":"u-ana","joined_at":"2026-10-01T08:00:00Z"}
{"type":"participant","conversation":"c-ab","user":"u-ben","joined_at":"2026-10-01T08:00:00Z"}
{"type":"message","id":"m-1","conversation":"c-ab","sender":"u-ana","role":"user","body":"Call me on +49 30 1234567","created_at":"2026-10-01T09:00:00Z"}
{"type":"message","id":"m-2","conversation":"c-ab","sender":"u-ben","role":"user","body":"Zorander here, will do","created_at":"2026-10-01T09:05:00Z"}
{"type":"read","message":"m-2","user":"u-ana","read_at":"2026-10-01T09:06:00Z"}
"#;

/// Reads an access export with Python's zipfile and checks the manifest's checksums.
const READ_ACCESS_ZIP: &str = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
manifest = json.loads(z.read("manifest.json"))
for f in manifest["files"]:
    assert hashlib.sha256(z.read(f["name"])).hexdigest() == f["sha256"], f["name"]
data = json.loads(z.read("data.json"))
print(json.dumps({"names": z.namelist(), "email": data["person"]["email"], "messages": [m["body"] for m in data["messages"]]}))
"#;

#[test]
fn an_admin_answers_access_and_erasure_requests_and_bad_input_changes_nothing() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("config/chatkeep")).unwrap();
    std::fs::write(
        sandbox.path("config/chatkeep/chatkeep.toml"),
        "timezone = \"UTC\"\n[gdpr]\ndeadline_months = 1\nanonymize_bodies = \"keep\"\n",
    )
    .unwrap();
    sandbox.ok(&["demo", "seed", "--conversations", "60", "--messages", "600", "--months", "2"]);
    let people = sandbox.path("people.jsonl");
    std::fs::write(&people, GDPR_PEOPLE).unwrap();
    sandbox.ok(&["import", people.to_str().unwrap()]);
    let config = sandbox.json(&["config", "show"]);
    let keys: Vec<&str> = config["settings"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert!(keys.contains(&"gdpr.deadline_months") && keys.contains(&"gdpr.include_other_participants"), "{keys:?}");

    // Find shows what matched and the counts before anything is done.
    let found = sandbox.ok(&["gdpr", "find", "ANA.quixley@example.org"]);
    assert!(found.contains("\"u-ana\" Anatolia Quixley") && found.contains("matched by email"), "{found}");
    let found = sandbox.json(&["gdpr", "find", "+49 30 123 4567"]);
    assert_eq!(found["person"]["external_id"], "u-ana");
    assert_eq!(found["counts"]["messages"], 1);

    // An access request received on 31 January is due on the last day of February.
    let request = sandbox.json(&["gdpr", "request", "new", "access", "u-ana", "--received", "2026-01-31"]);
    assert_eq!(request[0]["due_at"], "2026-02-28T23:59:59.999Z");
    let id = request[0]["id"].to_string();
    let listed = sandbox.ok(&["gdpr", "request", "list"]);
    assert!(listed.contains("OVERDUE"), "{listed}");
    let zip = sandbox.path("ana.zip");
    let exported = sandbox.json(&["gdpr", "export", "--request", &id, "--out", zip.to_str().unwrap()]);
    assert_eq!(exported["request"]["status"], "done");
    let read = Command::new("python3").args(["-c", READ_ACCESS_ZIP, zip.to_str().unwrap()]).output().unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let read: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(read["names"], serde_json::json!(["manifest.json", "data.json", "summary.html"]));
    assert_eq!(read["email"], "Ana.Quixley@Example.org");
    assert_eq!(read["messages"], serde_json::json!(["Call me on +49 30 1234567"]), "only her own message");
    let db = sandbox.db();
    let stored_sha = sqlite3(&db, &format!("SELECT artifact_sha256 FROM dsr_requests WHERE id = {id}"));
    assert_eq!(stored_sha, exported["sha256"].as_str().unwrap());

    // Bad input: one line, exit 2, and nothing changes.
    sandbox.ok(&["hold", "add", "--user", "u-twin-1", "--reason", "case 7"]);
    let state = || {
        sqlite3(
            &db,
            "SELECT (SELECT count(*) FROM dsr_requests), (SELECT count(*) FROM audit_log), (SELECT count(*) FROM users),
                    (SELECT count(*) FROM messages), (SELECT count(*) FROM erasure_ledger),
                    (SELECT group_concat(status || due_at) FROM dsr_requests)",
        )
    };
    let before = state();
    let unwritable = sandbox.path("no/such/folder/x.zip");
    let cases: &[(&[&str], &[&str])] = &[
        (&["gdpr", "find", "nobody@example.org"], &["no person matches \"nobody@example.org\"", "email:ADDRESS"]),
        (&["gdpr", "request", "new", "access", "nobody@example.org"], &["no person matches"]),
        (&["gdpr", "find", "shared@example.org"], &["ambiguous", "u-twin-1", "u-twin-2", "id:N or ext:ID"]),
        (&["gdpr", "erase", "shared@example.org", "--strategy", "delete", "--yes"], &["ambiguous"]),
        (
            &["gdpr", "erase", "u-twin-1", "--strategy", "delete", "--yes"],
            &["under legal hold", "hold #1 on user \"u-twin-1\" (case 7)", "chatkeep hold release"],
        ),
        (&["gdpr", "erase", "u-ben", "--strategy", "shred", "--yes"], &["\"shred\"", "delete, anonymize"]),
        (&["gdpr", "export", "u-ana", "--out", unwritable.to_str().unwrap()], &["does not exist", "--out"]),
        (&["gdpr", "export", "u-ana", "--out", zip.to_str().unwrap()], &["already exists"]),
        (&["gdpr", "request", "extend", &id, "--reason", "busy"], &[&format!("request #{id} is already done")]),
        (&["gdpr", "request", "reject", "99", "--reason", "x"], &["request #99", "not found"]),
        (&["gdpr", "export", "--request", &id, "--out", "again.zip"], &["already done"]),
        (&["gdpr", "erase", "u-ben", "--strategy", "delete"], &["needs confirmation", "--yes"]),
    ];
    for (args, needles) in cases {
        let out = sandbox.command(args).stdin(std::process::Stdio::null()).output().unwrap();
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
        for needle in *needles {
            assert!(message.contains(needle), "{args:?}: {message:?} should mention {needle:?}");
        }
        assert_eq!(state(), before, "{args:?} changed nothing");
    }
    assert!(!unwritable.exists() && !sandbox.path("again.zip").exists());

    // Erasure by request: Ben is deleted, with a certificate whose checks are all 0.
    let request = sandbox.json(&["gdpr", "request", "new", "erasure", "ben.zorander@example.org"]);
    let id = request[0]["id"].to_string();
    let erased = sandbox.json(&["gdpr", "erase", "--request", &id, "--strategy", "delete", "--yes"]);
    let checks = erased["certificate"]["checks"].as_array().unwrap();
    assert!(checks.len() >= 10 && checks.iter().all(|c| c["result"] == 0), "{checks:?}");
    assert_eq!(erased["request"]["status"], "done");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM users WHERE external_id = 'u-ben'"), "0");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM messages WHERE external_id = 'm-2'"), "0");
    let shown = sandbox.ok(&["gdpr", "request", "show", &id]);
    assert!(shown.contains("All checks are 0") && shown.contains("secure_delete = ON"), "{shown}");
    let bytes = std::fs::read(&db).unwrap();
    assert!(!bytes.windows(8).any(|w| w == b"Zorander"), "his name is not in the file's bytes");

    // Anonymized by name, with the phone number in her message scrubbed.
    let erased = sandbox.json(&["gdpr", "erase", "u-ana", "--strategy", "anonymize", "--yes"]);
    assert_eq!(erased["certificate"]["scrubbed"]["phones"], 1);
    assert_eq!(sqlite3(&db, "SELECT body FROM messages WHERE external_id = 'm-1'"), "Call me on [phone removed]");
    let actions = sqlite3(
        &db,
        "SELECT group_concat(action, ' ') FROM (SELECT action FROM audit_log WHERE action LIKE 'gdpr.%' ORDER BY id)",
    );
    assert_eq!(
        actions, "gdpr.request gdpr.export gdpr.request gdpr.erase gdpr.erase",
        "an erasure by name records its request itself"
    );
    assert!(sandbox.ok(&["audit", "verify"]).contains("intact"));
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok");
}
