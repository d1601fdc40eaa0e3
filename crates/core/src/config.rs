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

use crate::domain::gdpr::BodyMode;
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

pub use chatkeep_store::DatabaseUrl;

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

#[derive(Debug, Clone, Serialize)]
pub struct RetentionSettings {
    /// Days a message lives under the default policy (`CHAT_DATA_RETENTION_DAYS`).
    pub default_days: u32,
    /// Whether retention runs change data (`CHAT_AUTO_DELETE_ENABLED`); false = report only.
    pub auto_delete_enabled: bool,
    /// Days between expiry and purge (`CHAT_AUTO_DELETE_GRACE_PERIOD_DAYS`). With 0,
    /// rows expired by one run are purged by the next.
    pub grace_period_days: u32,
    /// The most rows per write transaction, so the chat service never waits long for the
    /// database (on SQLite, batches take fewer when they would hold the write lock too long).
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

/// What the scheduler does when a job's time passed while chatkeep was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Record the miss, notify, and run the job once now.
    RunOnce,
    /// Record the miss and notify; wait for the next scheduled time.
    Skip,
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CatchUp::RunOnce => "run_once",
            CatchUp::Skip => "skip",
        })
    }
}

/// One job's schedule: a cron expression read in the configured time zone, or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSchedule {
    /// `None` when the job is switched off (`"off"`).
    pub cron: Option<String>,
    pub catch_up: CatchUp,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchedulerSettings {
    pub snapshot: JobSchedule,
    pub archive: JobSchedule,
    pub retention: JobSchedule,
    pub maintenance: JobSchedule,
    pub verify: JobSchedule,
    pub gdpr: JobSchedule,
    /// Attempts per run when a job fails for a passing reason (a busy database, an I/O hiccup).
    pub max_attempts: u32,
    /// The first retry's delay; each further retry waits twice as long, plus up to a quarter more at random.
    pub retry_delay_seconds: u32,
    /// A run that starts later than this after its time counts as missed (machine asleep, app closed).
    pub late_minutes: u32,
    /// How long a stopping daemon lets the current job finish its batch before it exits anyway.
    pub stop_timeout_seconds: u32,
}

/// The hours of the day (in the configured time zone) when the chat service is quiet:
/// the scheduled maintenance job runs only inside them. `start` is included, `end` is
/// not; a window may span midnight (`22:00-04:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
}

impl MaintenanceWindow {
    pub fn contains(&self, time: chrono::NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Option<MaintenanceWindow> {
        let (start, end) = text.trim().split_once('-')?;
        let time = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").ok();
        let window = MaintenanceWindow { start: time(start)?, end: time(end)? };
        (window.start != window.end).then_some(window)
    }
}

impl fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

impl Serialize for MaintenanceWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceSettings {
    /// When the scheduled job may run; `None` (`any`) = whenever its schedule says.
    pub window: Option<MaintenanceWindow>,
    /// Percent of wasted space that makes a VACUUM worth it: free pages of the SQLite
    /// file, dead rows of a PostgreSQL table.
    pub max_table_bloat: u32,
    /// Percent of a PostgreSQL index estimated to be bloat that makes a REINDEX worth it.
    pub max_index_bloat: u32,
    /// Days between REINDEX runs on SQLite (0 = never).
    pub reindex_frequency: u32,
    /// Days between database-wide ANALYZE runs on PostgreSQL (0 = never).
    pub analyze_frequency: u32,
    /// Days between full integrity checks; the other runs do the quick check (0 = never full).
    pub full_check_frequency: u32,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        MaintenanceSettings {
            window: Some(MaintenanceWindow {
                start: chrono::NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default(),
                end: chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap_or_default(),
            }),
            max_table_bloat: 20,
            max_index_bloat: 30,
            reindex_frequency: 30,
            analyze_frequency: 7,
            full_check_frequency: 7,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifySettings {
    /// Write every notification to the log (stderr for the daemon).
    pub log: bool,
    /// A URL to POST each notification to as JSON (with a Slack-compatible `text`).
    pub webhook_url: Option<String>,
    /// Telegram Bot API: the bot's token (secret; never printed) and the chat to post to.
    #[serde(skip)]
    pub telegram_bot_token: Option<String>,
    pub telegram_chat_id: Option<String>,
    /// The Bot API's address (a proxy or a test server may stand in for it).
    pub telegram_api_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GdprSettings {
    /// Calendar months from receipt to a request's deadline (Art. 12(3): one month).
    pub deadline_months: u32,
    /// How many days ahead the "request due soon" notice looks.
    pub due_soon_days: u32,
    /// Access exports include the other participants' messages in the person's conversations.
    pub include_other_participants: bool,
    /// What `anonymize` does with the person's message bodies.
    pub anonymize_bodies: BodyMode,
    /// `anonymize` scrubs email addresses and phone numbers from the bodies it keeps.
    pub scrub_bodies: bool,
    /// An erasure also replaces the person's email address and phone number where other
    /// people's messages quote them (otherwise it counts them on the certificate).
    pub scrub_mentions: bool,
}

impl Default for GdprSettings {
    fn default() -> Self {
        GdprSettings {
            deadline_months: 1,
            due_soon_days: 7,
            include_other_participants: false,
            anonymize_bodies: BodyMode::Keep,
            scrub_bodies: true,
            scrub_mentions: false,
        }
    }
}

/// The effective configuration, with the origin of every value.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub timezone: Tz,
    pub retention: RetentionSettings,
    pub backup: BackupSettings,
    pub export: ExportSettings,
    pub scheduler: SchedulerSettings,
    pub maintenance: MaintenanceSettings,
    pub notify: NotifySettings,
    pub gdpr: GdprSettings,
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

const CRON_ACCEPTED: &str = "a cron expression read in the configured time zone: five fields (minute hour \
day-of-month month day-of-week, such as \"0 1 * * *\"), or six with seconds first; or \"off\"";
const CATCH_UP_ACCEPTED: &str = "run_once (run a missed job once when chatkeep starts) or skip";

macro_rules! job_specs {
    ($($cron:ident, $catch:ident, $job:literal, $env:literal;)*) => {
        $(
            const $cron: SettingSpec =
                SettingSpec { key: concat!("scheduler.", $job), env: concat!("CHATKEEP_SCHEDULE_", $env), accepted: CRON_ACCEPTED };
            const $catch: SettingSpec = SettingSpec {
                key: concat!("scheduler.", $job, "_catch_up"),
                env: concat!("CHATKEEP_SCHEDULE_", $env, "_CATCH_UP"),
                accepted: CATCH_UP_ACCEPTED,
            };
        )*
    };
}

job_specs! {
    SCHEDULE_SNAPSHOT, CATCH_UP_SNAPSHOT, "snapshot", "SNAPSHOT";
    SCHEDULE_ARCHIVE, CATCH_UP_ARCHIVE, "archive", "ARCHIVE";
    SCHEDULE_RETENTION, CATCH_UP_RETENTION, "retention", "RETENTION";
    SCHEDULE_MAINTENANCE, CATCH_UP_MAINTENANCE, "maintenance", "MAINTENANCE";
    SCHEDULE_VERIFY, CATCH_UP_VERIFY, "verify", "VERIFY";
    SCHEDULE_GDPR, CATCH_UP_GDPR, "gdpr", "GDPR";
}

const SCHEDULER_ATTEMPTS: SettingSpec = SettingSpec {
    key: "scheduler.max_attempts",
    env: "CHATKEEP_SCHEDULER_MAX_ATTEMPTS",
    accepted: "a whole number of attempts from 1 to 10",
};
const SCHEDULER_RETRY_DELAY: SettingSpec = SettingSpec {
    key: "scheduler.retry_delay_seconds",
    env: "CHATKEEP_SCHEDULER_RETRY_DELAY_SECONDS",
    accepted: "a whole number of seconds from 1 to 3600",
};
const SCHEDULER_LATE: SettingSpec = SettingSpec {
    key: "scheduler.late_minutes",
    env: "CHATKEEP_SCHEDULER_LATE_MINUTES",
    accepted: "a whole number of minutes from 1 to 1440",
};
const SCHEDULER_STOP_TIMEOUT: SettingSpec = SettingSpec {
    key: "scheduler.stop_timeout_seconds",
    env: "CHATKEEP_SCHEDULER_STOP_TIMEOUT_SECONDS",
    accepted: "a whole number of seconds from 1 to 3600",
};

const MAINTENANCE_WINDOW: SettingSpec = SettingSpec {
    key: "maintenance.window",
    env: "CHATKEEP_MAINTENANCE_WINDOW",
    accepted: "hours in the configured time zone as HH:MM-HH:MM (such as 01:00-06:00, or 22:00-04:00 across \
midnight), or \"any\"",
};
const MAINTENANCE_TABLE_BLOAT: SettingSpec = SettingSpec {
    key: "maintenance.max_table_bloat",
    env: "CHATKEEP_MAINTENANCE_MAX_TABLE_BLOAT",
    accepted: "a whole percentage from 1 to 99",
};
const MAINTENANCE_INDEX_BLOAT: SettingSpec = SettingSpec {
    key: "maintenance.max_index_bloat",
    env: "CHATKEEP_MAINTENANCE_MAX_INDEX_BLOAT",
    accepted: "a whole percentage from 1 to 99",
};
const MAINTENANCE_REINDEX_DAYS: SettingSpec = SettingSpec {
    key: "maintenance.reindex_frequency",
    env: "CHATKEEP_MAINTENANCE_REINDEX_FREQUENCY",
    accepted: "a whole number of days from 0 (never) to 3650",
};
const MAINTENANCE_ANALYZE_DAYS: SettingSpec = SettingSpec {
    key: "maintenance.analyze_frequency",
    env: "CHATKEEP_MAINTENANCE_ANALYZE_FREQUENCY",
    accepted: "a whole number of days from 0 (never) to 3650",
};
const MAINTENANCE_FULL_CHECK_DAYS: SettingSpec = SettingSpec {
    key: "maintenance.full_check_frequency",
    env: "CHATKEEP_MAINTENANCE_FULL_CHECK_FREQUENCY",
    accepted: "a whole number of days from 0 (never) to 3650",
};

const NOTIFY_LOG: SettingSpec =
    SettingSpec { key: "notify.log", env: "CHATKEEP_NOTIFY_LOG", accepted: "true or false" };
const NOTIFY_WEBHOOK: SettingSpec = SettingSpec {
    key: "notify.webhook_url",
    env: "CHATKEEP_WEBHOOK_URL",
    accepted: "an http:// or https:// URL (a Slack incoming webhook, or any endpoint taking JSON)",
};
const NOTIFY_TELEGRAM_TOKEN: SettingSpec = SettingSpec {
    key: "notify.telegram_bot_token",
    env: "CHATKEEP_TELEGRAM_BOT_TOKEN",
    accepted: "a Telegram bot token such as 123456:ABC-DEF (from @BotFather)",
};
const NOTIFY_TELEGRAM_CHAT: SettingSpec = SettingSpec {
    key: "notify.telegram_chat_id",
    env: "CHATKEEP_TELEGRAM_CHAT_ID",
    accepted: "a Telegram chat id such as -1001234567890 or @channelname",
};
const NOTIFY_TELEGRAM_API: SettingSpec = SettingSpec {
    key: "notify.telegram_api_url",
    env: "CHATKEEP_TELEGRAM_API_URL",
    accepted: "an http:// or https:// URL (default https://api.telegram.org)",
};
const GDPR_DEADLINE_MONTHS: SettingSpec = SettingSpec {
    key: "gdpr.deadline_months",
    env: "CHAT_GDPR_DEADLINE_MONTHS",
    accepted: "a whole number of calendar months from 1 to 3",
};
const GDPR_DUE_SOON_DAYS: SettingSpec = SettingSpec {
    key: "gdpr.due_soon_days",
    env: "CHAT_GDPR_DUE_SOON_DAYS",
    accepted: "a whole number of days from 0 to 90",
};
const GDPR_OTHERS: SettingSpec = SettingSpec {
    key: "gdpr.include_other_participants",
    env: "CHAT_GDPR_INCLUDE_OTHER_PARTICIPANTS",
    accepted: "true or false",
};
const GDPR_BODIES: SettingSpec =
    SettingSpec { key: "gdpr.anonymize_bodies", env: "CHAT_GDPR_ANONYMIZE_BODIES", accepted: "keep or redact" };
const GDPR_SCRUB: SettingSpec =
    SettingSpec { key: "gdpr.scrub_bodies", env: "CHAT_GDPR_SCRUB_BODIES", accepted: "true or false" };
const GDPR_SCRUB_MENTIONS: SettingSpec =
    SettingSpec { key: "gdpr.scrub_mentions", env: "CHAT_GDPR_SCRUB_MENTIONS", accepted: "true or false" };

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
    &SCHEDULE_SNAPSHOT,
    &CATCH_UP_SNAPSHOT,
    &SCHEDULE_ARCHIVE,
    &CATCH_UP_ARCHIVE,
    &SCHEDULE_RETENTION,
    &CATCH_UP_RETENTION,
    &SCHEDULE_MAINTENANCE,
    &CATCH_UP_MAINTENANCE,
    &SCHEDULE_VERIFY,
    &CATCH_UP_VERIFY,
    &SCHEDULE_GDPR,
    &CATCH_UP_GDPR,
    &SCHEDULER_ATTEMPTS,
    &SCHEDULER_RETRY_DELAY,
    &SCHEDULER_LATE,
    &SCHEDULER_STOP_TIMEOUT,
    &MAINTENANCE_WINDOW,
    &MAINTENANCE_TABLE_BLOAT,
    &MAINTENANCE_INDEX_BLOAT,
    &MAINTENANCE_REINDEX_DAYS,
    &MAINTENANCE_ANALYZE_DAYS,
    &MAINTENANCE_FULL_CHECK_DAYS,
    &NOTIFY_LOG,
    &NOTIFY_WEBHOOK,
    &NOTIFY_TELEGRAM_TOKEN,
    &NOTIFY_TELEGRAM_CHAT,
    &NOTIFY_TELEGRAM_API,
    &GDPR_DEADLINE_MONTHS,
    &GDPR_DUE_SOON_DAYS,
    &GDPR_OTHERS,
    &GDPR_BODIES,
    &GDPR_SCRUB,
    &GDPR_SCRUB_MENTIONS,
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

        let scheduler = SchedulerSettings {
            snapshot: resolver.job(&SCHEDULE_SNAPSHOT, &CATCH_UP_SNAPSHOT, "0 1 * * *")?,
            archive: resolver.job(&SCHEDULE_ARCHIVE, &CATCH_UP_ARCHIVE, "0 2 1 * *")?,
            retention: resolver.job(&SCHEDULE_RETENTION, &CATCH_UP_RETENTION, "0 3 * * *")?,
            maintenance: resolver.job(&SCHEDULE_MAINTENANCE, &CATCH_UP_MAINTENANCE, "30 3 * * *")?,
            verify: resolver.job(&SCHEDULE_VERIFY, &CATCH_UP_VERIFY, "0 4 * * 0")?,
            gdpr: resolver.job(&SCHEDULE_GDPR, &CATCH_UP_GDPR, "0 8 * * *")?,
            max_attempts: resolver.resolve_required(&SCHEDULER_ATTEMPTS, 3, |t| parse_days(t, 1, 10))?,
            retry_delay_seconds: resolver.resolve_required(&SCHEDULER_RETRY_DELAY, 30, |t| parse_days(t, 1, 3_600))?,
            late_minutes: resolver.resolve_required(&SCHEDULER_LATE, 15, |t| parse_days(t, 1, 1_440))?,
            stop_timeout_seconds: resolver
                .resolve_required(&SCHEDULER_STOP_TIMEOUT, 30, |t| parse_days(t, 1, 3_600))?,
        };

        let defaults = MaintenanceSettings::default();
        let maintenance = MaintenanceSettings {
            window: resolver
                .resolve(&MAINTENANCE_WINDOW, Some(defaults.window), parse_window, |w| {
                    w.map_or_else(|| "any".to_string(), |w| w.to_string())
                })?
                .flatten(),
            max_table_bloat: resolver.resolve_required(
                &MAINTENANCE_TABLE_BLOAT,
                defaults.max_table_bloat,
                parse_percent,
            )?,
            max_index_bloat: resolver.resolve_required(
                &MAINTENANCE_INDEX_BLOAT,
                defaults.max_index_bloat,
                parse_percent,
            )?,
            reindex_frequency: resolver.resolve_required(
                &MAINTENANCE_REINDEX_DAYS,
                defaults.reindex_frequency,
                |t| parse_days(t, 0, 3_650),
            )?,
            analyze_frequency: resolver.resolve_required(
                &MAINTENANCE_ANALYZE_DAYS,
                defaults.analyze_frequency,
                |t| parse_days(t, 0, 3_650),
            )?,
            full_check_frequency: resolver.resolve_required(
                &MAINTENANCE_FULL_CHECK_DAYS,
                defaults.full_check_frequency,
                |t| parse_days(t, 0, 3_650),
            )?,
        };

        let notify = NotifySettings {
            log: resolver.resolve_required(&NOTIFY_LOG, true, parse_bool)?,
            webhook_url: resolver.resolve(&NOTIFY_WEBHOOK, None, parse_http_url, |url| masked_url(url))?,
            telegram_bot_token: resolver
                .resolve(&NOTIFY_TELEGRAM_TOKEN, None, parse_telegram_token, |_| "(set; not shown)".to_string())?,
            telegram_chat_id: resolver.resolve(&NOTIFY_TELEGRAM_CHAT, None, parse_telegram_chat, Clone::clone)?,
            telegram_api_url: resolver
                .resolve(
                    &NOTIFY_TELEGRAM_API,
                    Some("https://api.telegram.org".to_string()),
                    parse_http_url,
                    Clone::clone,
                )?
                .unwrap_or_default(),
        };
        if notify.telegram_bot_token.is_some() != notify.telegram_chat_id.is_some() {
            let (missing, present) = if notify.telegram_bot_token.is_some() {
                (&NOTIFY_TELEGRAM_CHAT, &NOTIFY_TELEGRAM_TOKEN)
            } else {
                (&NOTIFY_TELEGRAM_TOKEN, &NOTIFY_TELEGRAM_CHAT)
            };
            return Err(ConfigError::Invalid {
                key: missing.key.into(),
                value: String::new(),
                origin: Source::Default,
                accepted: format!("{} (needed because {} is set)", missing.accepted, present.key),
            });
        }

        let gdpr = GdprSettings {
            deadline_months: resolver.resolve_required(&GDPR_DEADLINE_MONTHS, 1, |t| parse_days(t, 1, 3))?,
            due_soon_days: resolver.resolve_required(&GDPR_DUE_SOON_DAYS, 7, |t| parse_days(t, 0, 90))?,
            include_other_participants: resolver.resolve_required(&GDPR_OTHERS, false, parse_bool)?,
            anonymize_bodies: resolver.resolve_required(&GDPR_BODIES, BodyMode::Keep, |t| BodyMode::parse(t).ok())?,
            scrub_bodies: resolver.resolve_required(&GDPR_SCRUB, true, parse_bool)?,
            scrub_mentions: resolver.resolve_required(&GDPR_SCRUB_MENTIONS, false, parse_bool)?,
        };

        Ok(Config {
            database_url,
            timezone,
            retention,
            backup,
            export,
            scheduler,
            maintenance,
            notify,
            gdpr,
            file: file_path,
            entries: resolver.entries,
        })
    }

    /// Each setting with its effective value and origin, in a stable order.
    pub fn entries(&self) -> &[SettingEntry] {
        &self.entries
    }

    /// The file read and every setting with its origin: what `config show --json` prints
    /// and the desktop's settings page reads.
    pub fn described(&self) -> serde_json::Value {
        serde_json::json!({ "file": self.file, "settings": self.entries })
    }

    /// Writes settings into a `chatkeep.toml` (keeping its comments and layout) after
    /// checking the result loads: a bad value is refused with the usual message and
    /// the file is left as it was. A setting an environment variable overrides is
    /// refused too, since writing it to the file would change nothing.
    pub fn save_settings(file: &Path, values: &[(String, String)]) -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Config::save_settings_with(file, values, &env)
    }

    pub fn save_settings_with(
        file: &Path,
        values: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::apply_settings(file, values, env, true)
    }

    /// The settings `values` would give, checked as [`save_settings`](Self::save_settings)
    /// checks them, without writing anything.
    pub fn preview_settings(file: &Path, values: &[(String, String)]) -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        Config::apply_settings(file, values, &env, false)
    }

    fn apply_settings(
        file: &Path,
        values: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
        persist: bool,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ConfigError::Unreadable { path: file.to_path_buf(), reason: e.to_string() }),
        };
        let mut doc = text
            .parse::<toml_edit::DocumentMut>()
            .map_err(|e| ConfigError::Syntax { path: file.to_path_buf(), reason: e.message().to_string() })?;
        for (key, value) in values {
            let Some(spec) = SETTINGS.iter().find(|s| s.key == key.as_str()) else {
                let accepted: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    path: file.to_path_buf(),
                    suggestion: None,
                    accepted: accepted.join(", "),
                });
            };
            if env(spec.env).is_some() {
                return Err(ConfigError::Invalid {
                    key: spec.key.into(),
                    value: value.clone(),
                    origin: Source::Env(spec.env.into()),
                    accepted: format!(
                        "a change in the environment variable {} instead: it overrides chatkeep.toml",
                        spec.env
                    ),
                });
            }
            let item = toml_value(value);
            match spec.key.split_once('.') {
                Some((section, name)) => {
                    if !doc.contains_table(section) {
                        doc.insert(section, toml_edit::Item::Table(toml_edit::Table::new()));
                    }
                    doc[section][name] = item;
                }
                None => doc[spec.key] = item,
            }
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ConfigError::Unreadable { path: dir.to_path_buf(), reason: e.to_string() })?;
        }
        // Written like every file chatkeep saves (privately, it can hold tokens; never through
        // a link), checked from its temporary name, then renamed into place.
        let unwritable =
            |e: crate::output::OutputError| ConfigError::Unreadable { path: file.to_path_buf(), reason: e.to_string() };
        let (mut handle, pending) = crate::output::create(file, true).map_err(unwritable)?;
        let staged = pending.path().to_path_buf();
        std::io::Write::write_all(&mut handle, doc.to_string().as_bytes())
            .map_err(|e| ConfigError::Unreadable { path: staged.clone(), reason: e.to_string() })?;
        let checked = Config::resolve(ConfigInputs {
            explicit_file: Some(&staged),
            env,
            overrides: Overrides::default(),
            dirs: PlatformDirs::detect(),
            system_timezone: iana_time_zone::get_timezone().ok(),
        });
        let config = match checked {
            Ok(config) => config,
            // Dropping `pending` removes the temporary file.
            Err(error) => return Err(error.with_path(&staged, file)),
        };
        if !persist {
            return Ok(config);
        }
        pending.finish(handle).map_err(unwritable)?;
        Config::load(Some(file), Overrides::default()).or(Ok(config))
    }
}

/// A change that deletes sooner or protects less, with what it means, so that a shell
/// can ask before saving it and the audit log can say what was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weakening {
    pub key: &'static str,
    pub old: String,
    pub new: String,
    pub consequence: String,
}

impl Config {
    /// What going from these settings to `next` weakens (empty when nothing does).
    pub fn weakenings(&self, next: &Config) -> Vec<Weakening> {
        let (was, now) = (&self.retention, &next.retention);
        let mut found = Vec::new();
        let mut push = |key: &'static str, old: String, new: String, consequence: String| {
            found.push(Weakening { key, old, new, consequence });
        };
        if next.database_url != self.database_url {
            push(
                DATABASE_URL.key,
                self.database_url.to_string(),
                next.database_url.to_string(),
                "from its next start chatkeep works on another database: backups, retention and requests act there, \
                 and this database's schedule stops"
                    .into(),
            );
        }
        if was.require_verified_backup && !now.require_verified_backup {
            push(
                REQUIRE_BACKUP.key,
                "true".into(),
                "false".into(),
                "purges will no longer wait for a verified backup of their month: a month can be deleted \
                 that no backup holds"
                    .into(),
            );
        }
        if now.grace_period_days < was.grace_period_days {
            push(
                GRACE_DAYS.key,
                was.grace_period_days.to_string(),
                now.grace_period_days.to_string(),
                format!(
                    "expired messages are purged for good {} days after they expire instead of {}: less time to restore them",
                    now.grace_period_days, was.grace_period_days
                ),
            );
        }
        if now.default_days < was.default_days {
            push(
                RETENTION_DAYS.key,
                was.default_days.to_string(),
                now.default_days.to_string(),
                format!(
                    "messages under the default policy expire after {} days instead of {}: the next run expires \
                     every message older than that",
                    now.default_days, was.default_days
                ),
            );
        }
        if !was.auto_delete_enabled && now.auto_delete_enabled {
            push(
                AUTO_DELETE.key,
                "false".into(),
                "true".into(),
                "retention runs will expire and purge messages instead of only reporting what they would do".into(),
            );
        }
        found
    }
}

/// A setting's text as the TOML type it reads most naturally as.
fn toml_value(text: &str) -> toml_edit::Item {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return toml_edit::value(n);
    }
    match text {
        "true" => toml_edit::value(true),
        "false" => toml_edit::value(false),
        _ => toml_edit::value(text),
    }
}

impl ConfigError {
    /// The same error, naming `to` where it named `from` (a staged file by its real name).
    fn with_path(self, from: &Path, to: &Path) -> ConfigError {
        let swap = |p: PathBuf| if p == from { to.to_path_buf() } else { p };
        match self {
            ConfigError::Invalid { key, value, origin: Source::File(p), accepted } => {
                ConfigError::Invalid { key, value, origin: Source::File(swap(p)), accepted }
            }
            ConfigError::UnknownKey { key, path, suggestion, accepted } => {
                ConfigError::UnknownKey { key, path: swap(path), suggestion, accepted }
            }
            ConfigError::BadRule { path, reason } => ConfigError::BadRule { path: swap(path), reason },
            ConfigError::Unreadable { path, reason } => ConfigError::Unreadable { path: swap(path), reason },
            ConfigError::Syntax { path, reason } => ConfigError::Syntax { path: swap(path), reason },
            other => other,
        }
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

    /// A job's cron expression (checked here, so a typo stops chatkeep at start) and its catch-up policy.
    fn job(
        &mut self,
        cron: &'static SettingSpec,
        catch_up: &'static SettingSpec,
        default: &str,
    ) -> Result<JobSchedule, ConfigError> {
        let text = self.resolve(cron, Some(Some(default.to_string())), parse_cron, |c| {
            c.clone().unwrap_or_else(|| "off".into())
        })?;
        let catch_up = self.resolve_required(catch_up, CatchUp::RunOnce, |t| match t.trim() {
            "run_once" => Some(CatchUp::RunOnce),
            "skip" => Some(CatchUp::Skip),
            _ => None,
        })?;
        Ok(JobSchedule { cron: text.flatten(), catch_up })
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
    // A secret stays masked even when it is the value being refused.
    let value = match spec.key {
        key if key == NOTIFY_WEBHOOK.key => masked_url(value),
        key if key == NOTIFY_TELEGRAM_TOKEN.key => "(not shown)".to_string(),
        _ => value.to_string(),
    };
    ConfigError::Invalid { key, value, origin: source.clone(), accepted: spec.accepted.to_string() }
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

fn parse_percent(text: &str) -> Option<u32> {
    parse_days(text.trim().trim_end_matches('%'), 1, 99)
}

/// A window (`Some`), or `any` (`None`).
fn parse_window(text: &str) -> Option<Option<MaintenanceWindow>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("any") {
        return Some(None);
    }
    MaintenanceWindow::parse(text).map(Some)
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

/// A cron expression (`Some`), or `off` (`None`).
fn parse_cron(text: &str) -> Option<Option<String>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    crate::domain::schedule::Schedule::check(text).ok().map(|()| Some(text.to_string()))
}

/// A URL as chatkeep prints it: scheme, host and port only. Webhook URLs carry their
/// secret in the path or the query (Slack's `https://hooks.slack.com/services/T0/B0/XyZ`),
/// so everything after the host is masked, and so is a password.
pub fn masked_url(text: &str) -> String {
    match url::Url::parse(text.trim()) {
        Ok(url) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let user = if url.username().is_empty() && url.password().is_none() { "" } else { "****@" };
            let rest =
                if url.path().trim_start_matches('/').is_empty() && url.query().is_none() { "" } else { "/****" };
            format!("{}://{user}{}{port}{rest}", url.scheme(), url.host_str().unwrap_or(""))
        }
        Err(_) => "(not shown: not a valid URL)".to_string(),
    }
}

fn parse_http_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then(|| text.trim().to_string())
}

fn parse_telegram_token(text: &str) -> Option<String> {
    let text = text.trim();
    let (id, secret) = text.split_once(':')?;
    let plausible = !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && !secret.is_empty()
        && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plausible.then(|| text.to_string())
}

fn parse_telegram_chat(text: &str) -> Option<String> {
    let text = text.trim();
    let numeric = text.strip_prefix('-').unwrap_or(text);
    let plausible = (!numeric.is_empty() && numeric.chars().all(|c| c.is_ascii_digit()))
        || text.strip_prefix('@').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'));
    plausible.then(|| text.to_string())
}

fn parse_email(text: &str) -> Option<String> {
    let text = text.trim();
    let (local, domain) = text.split_once('@')?;
    let plausible =
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !text.contains(char::is_whitespace);
    plausible.then(|| text.to_string())
}
