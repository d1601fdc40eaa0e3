//! Configuration, from one source: `chatkeep.toml`, overridden by the
//! environment variables chat services already use, overridden by flags.
//!
//! Every setting is declared once in [`SETTINGS`] with its TOML key, its
//! environment variable, its default and what it accepts; [`Config::load`]
//! resolves each one, remembers where its value came from (for
//! `chatkeep config show`), and stops at the first bad value with a message
//! naming the key, the value and what is accepted.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::rule::TableRule;

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Source {
    Default,
    /// The system (time zone detection).
    System,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::System => f.write_str("system"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {key} = {value:?} (from {origin}): expected {accepted}")]
    Invalid { key: String, value: String, origin: Source, accepted: String },
    #[error("unknown setting `{key}` in {path}{hint}; accepted keys: {accepted}", hint = suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey { key: String, path: PathBuf, suggestion: Option<String>, accepted: String },
    #[error("invalid [[retention.rules]] in {path}: {reason}")]
    BadRule { path: PathBuf, reason: String },
    #[error("cannot read the config file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("the config file {path} is not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("no platform folders could be found for the default {what}; set {hint} (or HOME) explicitly")]
    NoPlatformDirs { what: &'static str, hint: &'static str },
}

/// Which engine a database URL names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// An in-memory SQLite database (tests only; gone when chatkeep exits).
    SqliteMemory,
    /// A PostgreSQL server URL.
    Postgres(String),
}

impl DatabaseUrl {
    const ACCEPTED: &'static str =
        "sqlite://PATH (a database file), sqlite::memory:, or postgres://USER@HOST[:PORT]/DATABASE";

    /// Parses `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, or `postgres(ql)://...`.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if text == "sqlite::memory:" || text == "sqlite://:memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            // Query parameters (?mode=...) are chatkeep's to choose; refuse them rather than ignore them.
            if path.is_empty() || path.contains('?') {
                return Err(Self::ACCEPTED.into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = url::Url::parse(text).map_err(|_| Self::ACCEPTED.to_string())?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(Self::ACCEPTED.into());
            }
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        Err(Self::ACCEPTED.into())
    }

    pub fn engine_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) | DatabaseUrl::SqliteMemory => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::SqliteMemory => f.write_str("sqlite::memory:"),
            DatabaseUrl::Postgres(url) => {
                // Never print a password.
                match url::Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some("****"));
                        write!(f, "{parsed}")
                    }
                    _ => f.write_str(url),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionSettings {
    /// Days a message lives under the default policy (`CHAT_DATA_RETENTION_DAYS`).
    pub default_days: u32,
    /// Whether retention runs change data (`CHAT_AUTO_DELETE_ENABLED`); false = report only.
    pub auto_delete_enabled: bool,
    /// Days between expiry and purge (`CHAT_AUTO_DELETE_GRACE_PERIOD_DAYS`). With 0,
    /// rows expired by one run are purged by the next.
    pub grace_period_days: u32,
    /// Rows per write transaction, so the chat service never waits long for the database.
    pub batch_size: u32,
    /// Purge only months a verified monthly archive covers.
    pub require_verified_backup: bool,
    /// Conversations with no message for this many days are marked archived.
    pub archive_after_days: u32,
    /// Bot sessions idle this many hours are closed (marked archived).
    pub bot_idle_hours: u32,
    /// How many days ahead the "messages will be deleted on DATE" notice looks.
    pub notice_days: u32,
    /// `[[retention.rules]]` from chatkeep.toml (checked against the schema when a run uses them).
    pub rules: Vec<TableRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupSettings {
    pub enabled: bool,
    pub directory: PathBuf,
    pub notification_email: Option<String>,
    /// Encrypt new backups with the passphrase (age format).
    pub encrypt: bool,
    /// A file holding the passphrase (its first line). `CHATKEEP_BACKUP_PASSPHRASE` wins over it.
    pub passphrase_file: Option<PathBuf>,
    /// Daily snapshots to keep.
    pub keep_daily: u32,
    /// Weekly generations to keep among older snapshots (the newest of each week).
    pub keep_weekly: u32,
    /// Monthly archives to keep.
    pub keep_monthly: u32,
    /// Tables left out of snapshots.
    pub exclude_tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSettings {
    /// The longest date range one export may cover, in days.
    pub max_range_days: u32,
}

/// The effective configuration, with the origin of every value.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub timezone: Tz,
    pub retention: RetentionSettings,
    pub backup: BackupSettings,
    pub export: ExportSettings,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    entries: Vec<SettingEntry>,
}

/// One line of `chatkeep config show`.
#[derive(Debug, Clone, Serialize)]
pub struct SettingEntry {
    pub key: &'static str,
    pub env: &'static str,
    pub value: String,
    pub source: Source,
}

/// Everything a setting needs to be resolved and explained.
struct SettingSpec {
    key: &'static str,
    env: &'static str,
    accepted: &'static str,
}

const DATABASE_URL: SettingSpec =
    SettingSpec { key: "database_url", env: "DATABASE_URL", accepted: DatabaseUrl::ACCEPTED };
const TIMEZONE: SettingSpec = SettingSpec {
    key: "timezone",
    env: "TIMEZONE",
    accepted: "an IANA time zone name such as UTC, Europe/Berlin or Asia/Kuala_Lumpur",
};
const RETENTION_DAYS: SettingSpec = SettingSpec {
    key: "retention.default_days",
    env: "CHAT_DATA_RETENTION_DAYS",
    accepted: "a whole number of days from 1 to 36500",
};
const AUTO_DELETE: SettingSpec =
    SettingSpec { key: "retention.auto_delete_enabled", env: "CHAT_AUTO_DELETE_ENABLED", accepted: "true or false" };
const GRACE_DAYS: SettingSpec = SettingSpec {
    key: "retention.grace_period_days",
    env: "CHAT_AUTO_DELETE_GRACE_PERIOD_DAYS",
    accepted: "a whole number of days from 0 to 3650",
};
const BATCH_SIZE: SettingSpec = SettingSpec {
    key: "retention.batch_size",
    env: "CHAT_RETENTION_BATCH_SIZE",
    accepted: "a whole number of rows from 10 to 100000",
};
const REQUIRE_BACKUP: SettingSpec = SettingSpec {
    key: "retention.require_verified_backup",
    env: "CHAT_RETENTION_REQUIRE_VERIFIED_BACKUP",
    accepted: "true or false",
};
const ARCHIVE_DAYS: SettingSpec = SettingSpec {
    key: "retention.archive_after_days",
    env: "CHAT_ARCHIVE_AFTER_DAYS",
    accepted: "a whole number of days from 1 to 36500",
};
const BOT_IDLE_HOURS: SettingSpec = SettingSpec {
    key: "retention.bot_idle_hours",
    env: "CHAT_BOT_SESSION_IDLE_HOURS",
    accepted: "a whole number of hours from 1 to 87600",
};
const NOTICE_DAYS: SettingSpec = SettingSpec {
    key: "retention.notice_days",
    env: "CHAT_DELETION_NOTICE_DAYS",
    accepted: "a whole number of days from 0 to 365",
};
/// `[[retention.rules]]`: an array of tables, read by its own parser.
const RULES_KEY: &str = "retention.rules";
const BACKUP_ENABLED: SettingSpec =
    SettingSpec { key: "backup.enabled", env: "CHAT_BACKUP_ENABLED", accepted: "true or false" };
const BACKUP_DIRECTORY: SettingSpec =
    SettingSpec { key: "backup.directory", env: "CHAT_BACKUP_DIRECTORY", accepted: "a folder path" };
const BACKUP_EMAIL: SettingSpec = SettingSpec {
    key: "backup.notification_email",
    env: "CHAT_BACKUP_NOTIFICATION_EMAIL",
    accepted: "an email address such as ops@example.com",
};

const BACKUP_ENCRYPT: SettingSpec =
    SettingSpec { key: "backup.encrypt", env: "CHAT_BACKUP_ENCRYPT", accepted: "true or false" };
const BACKUP_PASSPHRASE_FILE: SettingSpec = SettingSpec {
    key: "backup.passphrase_file",
    env: "CHAT_BACKUP_PASSPHRASE_FILE",
    accepted: "the path of a file whose first line is the passphrase",
};
const BACKUP_KEEP_DAILY: SettingSpec = SettingSpec {
    key: "backup.keep_daily",
    env: "CHAT_BACKUP_KEEP_DAILY",
    accepted: "a whole number of snapshots from 1 to 3650",
};
const BACKUP_KEEP_WEEKLY: SettingSpec = SettingSpec {
    key: "backup.keep_weekly",
    env: "CHAT_BACKUP_KEEP_WEEKLY",
    accepted: "a whole number of weeks from 0 to 520",
};
const BACKUP_KEEP_MONTHLY: SettingSpec = SettingSpec {
    key: "backup.keep_monthly",
    env: "CHAT_BACKUP_KEEP_MONTHLY",
    accepted: "a whole number of monthly archives from 1 to 1200",
};
const BACKUP_EXCLUDE: SettingSpec = SettingSpec {
    key: "backup.exclude_tables",
    env: "CHAT_BACKUP_EXCLUDE_TABLES",
    accepted: "table names separated by commas (app_sessions,job_runs)",
};

const EXPORT_MAX_DAYS: SettingSpec = SettingSpec {
    key: "export.max_range_days",
    env: "CHAT_EXPORT_MAX_RANGE_DAYS",
    accepted: "a whole number of days from 1 to 36500",
};

/// Every setting chatkeep reads, in the order `config show` prints them.
const SETTINGS: &[&SettingSpec] = &[
    &DATABASE_URL,
    &TIMEZONE,
    &RETENTION_DAYS,
    &AUTO_DELETE,
    &GRACE_DAYS,
    &BATCH_SIZE,
    &REQUIRE_BACKUP,
    &ARCHIVE_DAYS,
    &BOT_IDLE_HOURS,
    &NOTICE_DAYS,
    &BACKUP_ENABLED,
    &BACKUP_DIRECTORY,
    &BACKUP_EMAIL,
    &BACKUP_ENCRYPT,
    &BACKUP_PASSPHRASE_FILE,
    &BACKUP_KEEP_DAILY,
    &BACKUP_KEEP_WEEKLY,
    &BACKUP_KEEP_MONTHLY,
    &BACKUP_EXCLUDE,
    &EXPORT_MAX_DAYS,
];

/// Overrides given on the command line; they win over file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database_url: Option<String>,
}

/// Where to look for things when no setting says.
#[derive(Debug, Clone)]
pub struct PlatformDirs {
    pub config_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

impl PlatformDirs {
    /// The platform's folders for chatkeep (for example `~/.config/chatkeep`
    /// and `~/.local/share/chatkeep` on Linux).
    pub fn detect() -> PlatformDirs {
        match directories::ProjectDirs::from("", "", "chatkeep") {
            Some(dirs) => PlatformDirs {
                config_dir: Some(dirs.config_dir().to_path_buf()),
                data_dir: Some(dirs.data_dir().to_path_buf()),
            },
            None => PlatformDirs { config_dir: None, data_dir: None },
        }
    }

    pub fn default_config_file(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|dir| dir.join("chatkeep.toml"))
    }
}

/// Everything [`Config::resolve`] reads, gathered so tests can supply their own.
pub struct ConfigInputs<'a> {
    /// `--config PATH`: must exist. Without it the platform file is read if present.
    pub explicit_file: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub overrides: Overrides,
    pub dirs: PlatformDirs,
    /// The system's time zone name, if it could be detected.
    pub system_timezone: Option<String>,
}

impl fmt::Debug for ConfigInputs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigInputs")
            .field("explicit_file", &self.explicit_file)
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads the configuration for this process: `--config` (or the platform
    /// file), then the process environment, then command-line overrides.
    pub fn load(explicit_file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Config::resolve(ConfigInputs {
            explicit_file,
            env: &env,
            overrides,
            dirs: PlatformDirs::detect(),
            system_timezone: iana_time_zone::get_timezone().ok(),
        })
    }

    /// Resolves every setting from the given inputs.
    pub fn resolve(inputs: ConfigInputs<'_>) -> Result<Config, ConfigError> {
        let (file_path, table) = read_file(&inputs)?;
        let mut resolver = Resolver { file_path: file_path.clone(), table, env: inputs.env, entries: Vec::new() };
        resolver.reject_unknown_keys()?;

        let database_url = match inputs.overrides.database_url.as_deref() {
            Some(text) => {
                let source = Source::Flag("--database".into());
                let url = DatabaseUrl::parse(text).map_err(|_| invalid(&DATABASE_URL, text, &source))?;
                resolver.record(&DATABASE_URL, url.to_string(), source);
                url
            }
            None => {
                let default = inputs.dirs.data_dir.as_ref().map(|dir| DatabaseUrl::Sqlite(dir.join("chatkeep.db")));
                resolver
                    .resolve(&DATABASE_URL, default, |t| DatabaseUrl::parse(t).ok(), |url| url.to_string())?
                    .ok_or(ConfigError::NoPlatformDirs { what: "database file", hint: "DATABASE_URL" })?
            }
        };

        let timezone = match resolver.raw(&TIMEZONE)? {
            Some((text, source)) => {
                let tz = parse_timezone(&text).ok_or_else(|| invalid(&TIMEZONE, &text, &source))?;
                resolver.record(&TIMEZONE, tz.name().to_string(), source);
                tz
            }
            None => {
                let (tz, source) = match inputs.system_timezone.as_deref().map(parse_timezone) {
                    Some(Some(tz)) => (tz, Source::System),
                    // A system zone chrono-tz does not know, or none at all: UTC, said so.
                    _ => (Tz::UTC, Source::Default),
                };
                resolver.record(&TIMEZONE, tz.name().to_string(), source);
                tz
            }
        };

        let retention = RetentionSettings {
            default_days: resolver.resolve_required(&RETENTION_DAYS, 180, |t| parse_days(t, 1, 36_500))?,
            auto_delete_enabled: resolver.resolve_required(&AUTO_DELETE, true, parse_bool)?,
            grace_period_days: resolver.resolve_required(&GRACE_DAYS, 7, |t| parse_days(t, 0, 3_650))?,
            batch_size: resolver.resolve_required(&BATCH_SIZE, 1_000, |t| parse_days(t, 10, 100_000))?,
            require_verified_backup: resolver.resolve_required(&REQUIRE_BACKUP, true, parse_bool)?,
            archive_after_days: resolver.resolve_required(&ARCHIVE_DAYS, 90, |t| parse_days(t, 1, 36_500))?,
            bot_idle_hours: resolver.resolve_required(&BOT_IDLE_HOURS, 24, |t| parse_days(t, 1, 87_600))?,
            notice_days: resolver.resolve_required(&NOTICE_DAYS, 3, |t| parse_days(t, 0, 365))?,
            rules: resolver.rules()?,
        };

        let default_backup_dir = inputs.dirs.data_dir.as_ref().map(|dir| dir.join("backups"));
        let backup = BackupSettings {
            enabled: resolver.resolve_required(&BACKUP_ENABLED, true, parse_bool)?,
            directory: resolver
                .resolve(&BACKUP_DIRECTORY, default_backup_dir, parse_path, |p| p.display().to_string())?
                .ok_or(ConfigError::NoPlatformDirs { what: "backup folder", hint: "CHAT_BACKUP_DIRECTORY" })?,
            notification_email: resolver.resolve(&BACKUP_EMAIL, None, parse_email, Clone::clone)?,
            encrypt: resolver.resolve_required(&BACKUP_ENCRYPT, false, parse_bool)?,
            passphrase_file: resolver
                .resolve(&BACKUP_PASSPHRASE_FILE, None, parse_path, |p| p.display().to_string())?,
            keep_daily: resolver.resolve_required(&BACKUP_KEEP_DAILY, 30, |t| parse_days(t, 1, 3_650))?,
            keep_weekly: resolver.resolve_required(&BACKUP_KEEP_WEEKLY, 0, |t| parse_days(t, 0, 520))?,
            keep_monthly: resolver.resolve_required(&BACKUP_KEEP_MONTHLY, 24, |t| parse_days(t, 1, 1_200))?,
            exclude_tables: resolver
                .resolve(&BACKUP_EXCLUDE, Some(Vec::new()), parse_names, |v| {
                    if v.is_empty() { "(none)".to_string() } else { v.join(",") }
                })?
                .unwrap_or_default(),
        };

        let export = ExportSettings {
            max_range_days: resolver.resolve_required(&EXPORT_MAX_DAYS, 3_660, |t| parse_days(t, 1, 36_500))?,
        };

        Ok(Config { database_url, timezone, retention, backup, export, file: file_path, entries: resolver.entries })
    }

    /// Each setting with its effective value and origin, in a stable order.
    pub fn entries(&self) -> &[SettingEntry] {
        &self.entries
    }
}

fn read_file(inputs: &ConfigInputs<'_>) -> Result<(Option<PathBuf>, toml::Table), ConfigError> {
    let (path, must_exist) = match inputs.explicit_file {
        Some(path) => (path.to_path_buf(), true),
        None => match inputs.dirs.default_config_file() {
            Some(path) => (path, false),
            None => return Ok((None, toml::Table::new())),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok((None, toml::Table::new()));
        }
        Err(e) => {
            return Err(ConfigError::Unreadable { path, reason: e.to_string() });
        }
    };
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax { path: path.clone(), reason: e.message().to_string() })?;
    Ok((Some(path), table))
}

struct Resolver<'a> {
    file_path: Option<PathBuf>,
    table: toml::Table,
    env: &'a dyn Fn(&str) -> Option<String>,
    entries: Vec<SettingEntry>,
}

impl Resolver<'_> {
    /// The value in the file at a dotted key, as text.
    fn file_value(&self, key: &str) -> Option<String> {
        let mut parts = key.split('.');
        let first = parts.next()?;
        let mut value = self.table.get(first)?;
        for part in parts {
            value = value.as_table()?.get(part)?;
        }
        Some(match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn reject_unknown_keys(&self) -> Result<(), ConfigError> {
        let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).chain([RULES_KEY]).collect();
        let mut found = Vec::new();
        flatten_keys(&self.table, "", &mut found);
        let sections: Vec<&str> = known.iter().filter_map(|k| k.split_once('.').map(|(s, _)| s)).collect();
        for key in found {
            // A known key, or a section that is itself a table of known keys.
            if known.contains(&key.as_str()) {
                continue;
            }
            let path = self.file_path.clone().unwrap_or_default();
            let is_section_scalar = sections.contains(&key.as_str());
            let suggestion = known
                .iter()
                .map(|k| (strsim::jaro_winkler(k, &key), *k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| k.to_string());
            return Err(ConfigError::UnknownKey {
                key: if is_section_scalar { format!("{key} (should be a [{key}] table)") } else { key },
                path,
                suggestion,
                accepted: known.join(", "),
            });
        }
        Ok(())
    }

    /// The raw text of a setting from the environment or the file, with its source.
    fn raw(&self, spec: &SettingSpec) -> Result<Option<(String, Source)>, ConfigError> {
        if let Some(value) = (self.env)(spec.env) {
            return Ok(Some((value, Source::Env(spec.env.into()))));
        }
        Ok(self.file_value(spec.key).map(|value| (value, Source::File(self.file_path.clone().unwrap_or_default()))))
    }

    fn record(&mut self, spec: &'static SettingSpec, value: String, source: Source) {
        self.entries.push(SettingEntry { key: spec.key, env: spec.env, value, source });
    }

    fn resolve<T>(
        &mut self,
        spec: &'static SettingSpec,
        default: Option<T>,
        parse: impl Fn(&str) -> Option<T>,
        show: impl Fn(&T) -> String,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(spec)? {
            Some((text, source)) => {
                let value = parse(&text).ok_or_else(|| invalid(spec, &text, &source))?;
                self.record(spec, show(&value), source);
                Ok(Some(value))
            }
            None => {
                let shown = default.as_ref().map(&show).unwrap_or_else(|| "(not set)".into());
                self.record(spec, shown, Source::Default);
                Ok(default)
            }
        }
    }

    /// `[[retention.rules]]`, each checked for shape; the live schema is checked when a run uses them.
    fn rules(&mut self) -> Result<Vec<TableRule>, ConfigError> {
        let path = self.file_path.clone().unwrap_or_default();
        let Some(value) = self.table.get("retention").and_then(|r| r.as_table()).and_then(|r| r.get("rules")) else {
            return Ok(Vec::new());
        };
        let bad = |reason: String| ConfigError::BadRule { path: path.clone(), reason };
        let entries = value.as_array().ok_or_else(|| {
            bad("an array of tables: [[retention.rules]] with table, timestamp_column, days, strategy".into())
        })?;
        let mut rules = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let rule: TableRule = entry.clone().try_into().map_err(|e: toml::de::Error| {
                bad(format!(
                    "rule #{}: {} (fields: table, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled)",
                    n + 1,
                    e.message()
                ))
            })?;
            rule.check_shape().map_err(|e| bad(format!("rule #{}: {e}", n + 1)))?;
            rules.push(rule);
        }
        if !rules.is_empty() {
            let shown = rules.iter().map(|r| format!("{}.{} {}d {}", r.table, r.timestamp_column, r.days, r.strategy));
            self.entries.push(SettingEntry {
                key: RULES_KEY,
                env: "",
                value: shown.collect::<Vec<_>>().join("; "),
                source: Source::File(path),
            });
        }
        Ok(rules)
    }

    fn resolve_required<T: fmt::Display>(
        &mut self,
        spec: &'static SettingSpec,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let value = self.resolve(spec, Some(default), parse, |v| v.to_string())?;
        Ok(value.expect("a default was given"))
    }
}

/// The one way a bad value is reported: under the name the user wrote it by
/// (the environment variable or the TOML key), with the value and what is accepted.
fn invalid(spec: &SettingSpec, value: &str, source: &Source) -> ConfigError {
    let key = match source {
        Source::Env(name) => name.clone(),
        _ => spec.key.to_string(),
    };
    ConfigError::Invalid { key, value: value.to_string(), origin: source.clone(), accepted: spec.accepted.to_string() }
}

fn flatten_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let full = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) if prefix.is_empty() && !inner.is_empty() => flatten_keys(inner, &full, out),
            _ => out.push(full),
        }
    }
}

fn parse_timezone(text: &str) -> Option<Tz> {
    text.trim().parse::<Tz>().ok()
}

fn parse_days(text: &str, min: u32, max: u32) -> Option<u32> {
    text.trim().parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_path(text: &str) -> Option<PathBuf> {
    let text = text.trim();
    (!text.is_empty()).then(|| PathBuf::from(text))
}

fn parse_names(text: &str) -> Option<Vec<String>> {
    let text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let names: Vec<String> =
        text.split(',').map(|n| n.trim().trim_matches('"').to_string()).filter(|n| !n.is_empty()).collect();
    names.iter().all(|n| n.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(names)
}

fn parse_email(text: &str) -> Option<String> {
    let text = text.trim();
    let (local, domain) = text.split_once('@')?;
    let plausible =
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !text.contains(char::is_whitespace);
    plausible.then(|| text.to_string())
}
