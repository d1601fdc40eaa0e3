#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chatkeep_core::Config;
use chatkeep_core::config::{ConfigError, ConfigInputs, DatabaseUrl, Overrides, PlatformDirs, Source};

struct Setup {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
    file: Option<PathBuf>,
    overrides: Overrides,
}

impl Setup {
    fn new() -> Setup {
        Setup { dir: tempfile::tempdir().unwrap(), env: HashMap::new(), file: None, overrides: Overrides::default() }
    }

    fn env(mut self, key: &str, value: &str) -> Setup {
        self.env.insert(key.into(), value.into());
        self
    }

    fn file(mut self, text: &str) -> Setup {
        let path = self.dir.path().join("chatkeep.toml");
        std::fs::write(&path, text).unwrap();
        self.file = Some(path);
        self
    }

    fn dirs(&self) -> PlatformDirs {
        PlatformDirs { config_dir: Some(self.dir.path().join("config")), data_dir: Some(self.dir.path().join("data")) }
    }

    fn load(&self) -> Result<Config, ConfigError> {
        let env = |name: &str| self.env.get(name).cloned();
        Config::resolve(ConfigInputs {
            explicit_file: self.file.as_deref(),
            env: &env,
            overrides: self.overrides.clone(),
            dirs: self.dirs(),
            system_timezone: Some("Europe/Berlin".into()),
        })
    }

    fn error(&self) -> String {
        self.load().expect_err("this configuration should be refused").to_string()
    }
}

fn source_of(config: &Config, key: &str) -> Source {
    config.entries().iter().find(|e| e.key == key).unwrap_or_else(|| panic!("{key} listed")).source.clone()
}

#[test]
fn defaults_need_no_setup() {
    let setup = Setup::new();
    let config = setup.load().unwrap();
    assert_eq!(config.database_url, DatabaseUrl::Sqlite(setup.dir.path().join("data/chatkeep.db")));
    assert_eq!(config.retention.default_days, 180);
    assert!(config.retention.auto_delete_enabled);
    assert_eq!(config.retention.grace_period_days, 7);
    assert!(config.backup.enabled);
    assert_eq!(config.backup.directory, setup.dir.path().join("data/backups"));
    assert_eq!(config.backup.notification_email, None);
    assert_eq!(config.timezone.name(), "Europe/Berlin", "the system zone is the default");
    assert_eq!(source_of(&config, "timezone"), Source::System);
    assert_eq!(source_of(&config, "retention.default_days"), Source::Default);
}

#[test]
fn the_file_sets_values_and_the_environment_overrides_it() {
    let setup = Setup::new()
        .file(
            r#"
timezone = "Asia/Kuala_Lumpur"
[retention]
default_days = 90
grace_period_days = 14
[backup]
directory = "/srv/backups"
notification_email = "ops@example.com"
"#,
        )
        .env("CHAT_DATA_RETENTION_DAYS", "30")
        .env("CHAT_AUTO_DELETE_ENABLED", "false");
    let config = setup.load().unwrap();
    let file = setup.file.clone().unwrap();
    assert_eq!(config.timezone.name(), "Asia/Kuala_Lumpur");
    assert_eq!(source_of(&config, "timezone"), Source::File(file.clone()));
    assert_eq!(config.retention.default_days, 30, "the environment wins over the file");
    assert_eq!(source_of(&config, "retention.default_days"), Source::Env("CHAT_DATA_RETENTION_DAYS".into()));
    assert_eq!(config.retention.grace_period_days, 14, "the file wins over the default");
    assert!(!config.retention.auto_delete_enabled);
    assert_eq!(config.backup.directory, Path::new("/srv/backups"));
    assert_eq!(config.backup.notification_email.as_deref(), Some("ops@example.com"));
    assert_eq!(config.file.as_deref(), Some(file.as_path()));
}

#[test]
fn the_database_flag_wins_over_the_environment() {
    let mut setup = Setup::new().env("DATABASE_URL", "sqlite:///from/env.db");
    assert_eq!(setup.load().unwrap().database_url, DatabaseUrl::Sqlite("/from/env.db".into()));
    setup.overrides.database_url = Some("sqlite:///from/flag.db".into());
    let config = setup.load().unwrap();
    assert_eq!(config.database_url, DatabaseUrl::Sqlite("/from/flag.db".into()));
    assert_eq!(source_of(&config, "database_url"), Source::Flag("--database".into()));
}

#[test]
fn negative_days_name_the_variable_the_value_and_the_range() {
    let message = Setup::new().env("CHAT_DATA_RETENTION_DAYS", "-3").error();
    assert!(message.contains("CHAT_DATA_RETENTION_DAYS"), "{message}");
    assert!(message.contains("\"-3\""), "{message}");
    assert!(message.contains("from 1 to 36500"), "{message}");
}

#[test]
fn an_unknown_time_zone_is_refused_with_examples() {
    let message = Setup::new().env("TIMEZONE", "Mars/Olympus").error();
    assert!(message.contains("TIMEZONE") && message.contains("Mars/Olympus"), "{message}");
    assert!(message.contains("Asia/Kuala_Lumpur"), "the message should show an accepted example: {message}");
}

#[test]
fn an_unparsable_database_url_lists_the_accepted_forms() {
    for bad in ["mysql://localhost/chat", "chat.db", "postgres://", "sqlite:"] {
        let message = Setup::new().env("DATABASE_URL", bad).error();
        assert!(message.contains("DATABASE_URL") && message.contains(bad), "{message}");
        assert!(message.contains("sqlite://PATH"), "{message}");
    }
}

#[test]
fn an_unknown_key_in_the_file_is_named_with_a_suggestion() {
    let setup = Setup::new().file("[retention]\ndefualt_days = 30\n");
    let message = setup.error();
    assert!(message.contains("retention.defualt_days"), "{message}");
    assert!(message.contains("did you mean `retention.default_days`"), "{message}");
    assert!(message.contains(&setup.file.clone().unwrap().display().to_string()), "the file is named: {message}");
}

#[test]
fn bad_values_in_the_file_name_the_toml_key() {
    let message = Setup::new().file("[retention]\ngrace_period_days = -1\n").error();
    assert!(message.contains("retention.grace_period_days") && message.contains("from 0 to 3650"), "{message}");
    let message = Setup::new().file("[backup]\nenabled = \"sometimes\"\n").error();
    assert!(message.contains("backup.enabled") && message.contains("true or false"), "{message}");
    let message = Setup::new().env("CHAT_BACKUP_NOTIFICATION_EMAIL", "not an address").error();
    assert!(message.contains("CHAT_BACKUP_NOTIFICATION_EMAIL") && message.contains("email address"), "{message}");
}

#[test]
fn a_broken_or_missing_file_is_reported_not_ignored() {
    let message = Setup::new().file("timezone = \"UTC\n").error();
    assert!(message.contains("not valid TOML"), "{message}");

    let mut setup = Setup::new();
    setup.file = Some(setup.dir.path().join("missing.toml"));
    let message = setup.error();
    assert!(message.contains("cannot read the config file") && message.contains("missing.toml"), "{message}");
}

#[test]
fn the_platform_file_is_read_when_present_and_optional_when_not() {
    let setup = Setup::new();
    assert!(setup.load().unwrap().file.is_none(), "no file is fine");
    let config_dir = setup.dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("chatkeep.toml"), "[retention]\ndefault_days = 45\n").unwrap();
    assert_eq!(setup.load().unwrap().retention.default_days, 45);
}

#[test]
fn a_postgres_password_is_never_shown() {
    let config = Setup::new().env("DATABASE_URL", "postgres://chat:s3cret@db.internal:5432/chat").load().unwrap();
    let shown = &config.entries().iter().find(|e| e.key == "database_url").unwrap().value;
    assert!(!shown.contains("s3cret") && shown.contains("db.internal"), "{shown}");
}

#[test]
fn retention_settings_and_table_rules_come_from_the_file() {
    let setup = Setup::new()
        .file(
            r#"
[retention]
batch_size = 500
require_verified_backup = false

[[retention.rules]]
table = "app_sessions"
timestamp_column = "created_at"
days = 30
strategy = "hard"

[[retention.rules]]
table = "users"
timestamp_column = "last_seen_at"
days = 730
strategy = "anonymize"
columns = ["email", "phone"]
gdpr_sensitive = true
"#,
        )
        .env("CHAT_BOT_SESSION_IDLE_HOURS", "12");
    let config = setup.load().unwrap();
    assert_eq!(config.retention.batch_size, 500);
    assert!(!config.retention.require_verified_backup);
    assert_eq!(config.retention.bot_idle_hours, 12);
    assert_eq!(config.retention.archive_after_days, 90);
    assert_eq!(config.retention.rules.len(), 2);
    assert_eq!(config.retention.rules[1].columns, ["email", "phone"]);
    assert!(config.retention.rules[1].gdpr_sensitive);
    assert!(config.entries().iter().any(|e| e.key == "retention.rules" && e.value.contains("app_sessions.created_at")));
}

#[test]
fn bad_table_rules_in_the_file_say_which_rule_and_why() {
    let cases = [
        ("table = \"t\"\ntimestamp_column = \"at\"\ndays = 30\nstrategy = \"shred\"", "rule #1"),
        ("table = \"t\"\ntimestamp_column = \"at\"\ndays = 0\nstrategy = \"hard\"", "days must be from 1"),
        ("table = \"t\"\ntimestamp_column = \"at\"\ndays = 3\nstrategy = \"anonymize\"", "needs the columns"),
        ("table = \"t\"\ntimestamp_column = \"at\"\ndays = 3\nstrategy = \"hard\"\ncolum = [\"a\"]", "colum"),
    ];
    for (rule, expected) in cases {
        let error = Setup::new().file(&format!("[[retention.rules]]\n{rule}\n")).error();
        assert!(error.contains("[[retention.rules]]") && error.contains(expected), "{expected:?} in: {error}");
    }
    let error = Setup::new().env("CHAT_RETENTION_BATCH_SIZE", "5").error();
    assert!(error.contains("CHAT_RETENTION_BATCH_SIZE") && error.contains("from 10"), "{error}");
}

#[test]
fn gdpr_settings_come_from_the_gdpr_table_and_the_environment() {
    use chatkeep_core::domain::gdpr::BodyMode;
    let config = Setup::new().load().unwrap();
    assert_eq!(config.gdpr.deadline_months, 1, "one calendar month by default");
    assert_eq!(config.gdpr.due_soon_days, 7);
    assert!(!config.gdpr.include_other_participants, "others' messages are their data");
    assert_eq!(config.gdpr.anonymize_bodies, BodyMode::Keep);
    assert!(config.gdpr.scrub_bodies);

    let setup = Setup::new()
        .file("[gdpr]\ndeadline_months = 2\ninclude_other_participants = true\nanonymize_bodies = \"redact\"\n")
        .env("CHAT_GDPR_SCRUB_BODIES", "false");
    let config = setup.load().unwrap();
    assert_eq!(config.gdpr.deadline_months, 2);
    assert!(config.gdpr.include_other_participants);
    assert_eq!(config.gdpr.anonymize_bodies, BodyMode::Redact);
    assert!(!config.gdpr.scrub_bodies);
    assert_eq!(source_of(&config, "gdpr.scrub_bodies"), Source::Env("CHAT_GDPR_SCRUB_BODIES".into()));

    let error = Setup::new().file("[gdpr]\nanonymize_bodies = \"shred\"\n").error();
    assert!(error.contains("gdpr.anonymize_bodies") && error.contains("keep or redact"), "{error}");
    let error = Setup::new().env("CHAT_GDPR_DEADLINE_MONTHS", "4").error();
    assert!(error.contains("CHAT_GDPR_DEADLINE_MONTHS") && error.contains("from 1 to 3"), "{error}");
    let error = Setup::new().file("[gdpr]\ndeadline_days = 30\n").error();
    assert!(error.contains("gdpr.deadline_days") && error.contains("did you mean `gdpr.deadline_months`"), "{error}");
}
