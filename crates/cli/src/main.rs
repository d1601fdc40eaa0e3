//! `chatkeep`: every chatkeep operation from a terminal or a script.
//!
//! Each subcommand parses its arguments, calls one core function and prints
//! the result (as text, or JSON with `--json`). Errors print as one line;
//! `--verbose` adds their causes. Exit codes: 0 success, 1 failure, 2 bad
//! usage, 3 a check found a problem (for example `audit verify`).

#[macro_use]
mod terminal;
mod commands;
mod context;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::Context;

#[derive(Debug, Parser)]
#[command(
    name = "chatkeep",
    version,
    about = "Keep a chat service's data in policy: retention, backups, exports, GDPR requests and database upkeep.",
    propagate_version = true
)]
struct Cli {
    /// Config file to read (default: the platform config folder's chatkeep.toml, if present).
    #[arg(long, global = true, env = "CHATKEEP_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    /// Database URL, overriding DATABASE_URL and the config file (sqlite://PATH or postgres://...).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Show the causes of errors and debug logs.
    #[arg(long, short, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the effective configuration and where each value came from.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Import chat data from a canonical JSONL file (see docs/import-format.md).
    Import(commands::import::ImportArgs),
    /// Demo data to try chatkeep on.
    #[command(subcommand)]
    Demo(commands::demo::DemoCommand),
    /// Export a date range to CSV, JSON, JSONL or PDF.
    Export(commands::export::ExportArgs),
    /// Legal holds: what they cover is never expired or purged.
    #[command(subcommand)]
    Hold(commands::hold::HoldCommand),
    /// Backups: snapshots and monthly archives, verify, restore, prune.
    #[command(subcommand)]
    Backup(commands::backup::BackupCommand),
    /// Retention: preview and run expiry and purge, restore, policies, table rules.
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// Storage statistics: conversations, messages, tokens, database size.
    Stats,
    /// Database upkeep: integrity check, VACUUM, REINDEX, statistics; --dry-run shows what and why.
    Maintain(commands::maintain::MaintainArgs),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Scheduled jobs: list, history, run now, pause and resume.
    #[command(subcommand)]
    Jobs(commands::jobs::JobsCommand),
    /// Run the scheduler headless until SIGTERM or SIGINT (or once, with --once).
    Daemon(commands::daemon::DaemonArgs),
    /// GDPR requests: find a person, track requests and deadlines, export their data, erase them.
    #[command(subcommand)]
    Gdpr(commands::gdpr::GdprCommand),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    init_logging(cli.verbose, matches!(cli.command, Command::Daemon(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verbose = cli.verbose;
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            say_err!("error: {error}");
            if verbose {
                for cause in error.chain().skip(1) {
                    say_err!("  caused by: {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context::new(cli.config.as_deref(), cli.database.clone(), cli.json)?;
    match cli.command {
        Command::Config(command) => commands::config::run(&ctx, command),
        Command::Import(args) => commands::import::run(&ctx, args).await,
        Command::Demo(command) => commands::demo::run(&ctx, command).await,
        Command::Export(args) => commands::export::run(&ctx, args).await,
        Command::Hold(command) => commands::hold::run(&ctx, command).await,
        Command::Backup(command) => commands::backup::run(&ctx, command).await,
        Command::Retention(command) => commands::retention::run(&ctx, command).await,
        Command::Stats => commands::stats::run(&ctx).await,
        Command::Maintain(args) => commands::maintain::run(&ctx, args).await,
        Command::Audit(command) => commands::audit::run(&ctx, command).await,
        Command::Jobs(command) => commands::jobs::run(&ctx, command).await,
        Command::Daemon(args) => commands::daemon::run(&ctx, args).await,
        Command::Gdpr(command) => commands::gdpr::run(&ctx, command).await,
    }
}

/// `chatkeep ... | head` should end quietly when `head` has read enough, as
/// other command-line tools do, instead of panicking on a closed pipe.
/// The one place chatkeep uses `unsafe` (the workspace denies it elsewhere).
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; it only
    // resets SIGPIPE to its default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr. The daemon logs what it does (info) by default, as
/// `key=value` fields, or one JSON object per line with `CHATKEEP_LOG_FORMAT=json`.
fn init_logging(verbose: bool, daemon: bool) {
    let default = match (verbose, daemon) {
        (true, _) => "chatkeep=debug,chatkeep_core=debug,info",
        (false, true) => "info,sqlx=warn",
        (false, false) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHATKEEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if std::env::var("CHATKEEP_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
