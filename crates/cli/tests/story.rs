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
