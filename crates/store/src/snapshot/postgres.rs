//! PostgreSQL snapshots: `pg_dump --format=custom` of the whole database, checked
//! and restored with `pg_restore`.
//!
//! The dump runs inside a snapshot that chatkeep's own read-only transaction
//! exports (`pg_export_snapshot`), and that transaction counts and checksums every
//! table meanwhile: the manifest describes exactly the rows in the dump while the
//! chat service keeps writing. Verification restores the dump into a scratch
//! database on the same server and compares; a whole restore goes into a new
//! database under a scratch name, renamed only once it is complete and the erasure
//! ledger has been re-applied.
//!
//! Connection details reach the tools through libpq's environment (`PGHOST`,
//! `PGPASSWORD`...), never on a command line other users of the machine can read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use super::Expected;
use crate::{DatabaseUrl, Result, Store, StoreError};

/// The dump's name inside a backup.
pub(super) const ENTRY: &str = "chatkeep.dump";
/// A folder holding `pg_dump` and `pg_restore`; when set, the only place searched.
pub const TOOLS_ENV: &str = "CHATKEEP_PG_BIN";
/// The checksum of a table without rows (or whose rows a snapshot leaves out).
const EMPTY_CHECKSUM: &str = "0";

/// The client tools found for one operation: `pg_dump` and `pg_restore` from one folder.
#[derive(Debug, Clone)]
pub struct Tools {
    pub pg_dump: PathBuf,
    pub pg_restore: PathBuf,
    /// What the tool says of itself, e.g. `pg_dump (PostgreSQL) 16.4`.
    pub version: String,
}

/// Which tool an operation runs (the one the error messages name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tool {
    Dump,
    Restore,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Dump => "pg_dump",
            Tool::Restore => "pg_restore",
        }
    }
}

/// What a table held when it was dumped (or restored): rows and an order-independent checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub rows: u64,
    pub checksum: String,
}

/// The server's major version (15 for 15.4).
pub(super) async fn server_major(conn: impl sqlx::PgExecutor<'_>) -> Result<u32> {
    let number: String = sqlx::query_scalar("SHOW server_version_num").fetch_one(conn).await?;
    Ok(number.trim().parse::<u32>().map(|n| n / 10_000).unwrap_or(0))
}

/// The major version in a tool's `--version` line (`pg_dump (PostgreSQL) 16.4 (Debian 16.4-1)` -> 16).
pub(super) fn parse_major(version: &str) -> Option<u32> {
    let after = version.split_once(')').map_or(version, |(_, rest)| rest).trim_start();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Finds `pg_dump` and `pg_restore` of major version `major` or newer, in one folder:
/// only `CHATKEEP_PG_BIN` when it is set, else PATH, then the folders PostgreSQL
/// packages install into (`/usr/lib/postgresql/<N>/bin` newest first, ...).
/// `needed_by` says why that version is needed (`the PostgreSQL 16 server`).
/// Blocking: it asks candidates for their version.
pub(super) fn locate(tool: Tool, major: u32, needed_by: &str) -> Result<Tools> {
    let (dirs, looked, overridden) = match std::env::var_os(TOOLS_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let looked = format!("{} ({TOOLS_ENV})", dir.display());
            (vec![dir], looked, true)
        }
        None => (default_dirs(), "PATH, /usr/lib/postgresql/*/bin and the other usual install folders".into(), false),
    };
    let install = format!(
        "install the PostgreSQL {major} client tools (Debian/Ubuntu: apt install postgresql-client-{major}) \
         or set {TOOLS_ENV} to the folder that holds pg_dump and pg_restore"
    );
    let mut too_old: Option<(PathBuf, String)> = None;
    let mut alone: Option<PathBuf> = None;
    for dir in dirs {
        let main = dir.join(executable(tool.name()));
        if !main.is_file() || (!overridden && is_debian_wrapper(&main)) {
            continue;
        }
        let Some(version) = version_of(&main) else { continue };
        if parse_major(&version).unwrap_or(0) < major {
            too_old.get_or_insert((main, version));
            continue;
        }
        let other = match tool {
            Tool::Dump => "pg_restore",
            Tool::Restore => "pg_dump",
        };
        let partner = dir.join(executable(other));
        if !partner.is_file() {
            alone.get_or_insert(dir);
            continue;
        }
        let (pg_dump, pg_restore) = match tool {
            Tool::Dump => (main, partner),
            Tool::Restore => (partner, main),
        };
        return Ok(Tools { pg_dump, pg_restore, version });
    }
    let name = tool.name();
    Err(StoreError::invalid(match (too_old, alone) {
        (_, Some(dir)) => format!(
            "{name} is in {} but its companion ({}) is not: {install}",
            dir.display(),
            if tool == Tool::Dump { "pg_restore" } else { "pg_dump" }
        ),
        (Some((path, version)), None) => format!(
            "{name} is too old: {} says \"{version}\", and {needed_by} needs {name} {major} or newer: {install}",
            path.display()
        ),
        (None, None) => format!(
            "{name} was not found (looked in {looked}): PostgreSQL snapshots are made and restored with \
             pg_dump and pg_restore; {install}"
        ),
    }))
}

/// Runs [`locate`] on a blocking thread.
pub(super) async fn locate_async(tool: Tool, major: u32, needed_by: String) -> Result<Tools> {
    tokio::task::spawn_blocking(move || locate(tool, major, &needed_by))
        .await
        .map_err(|e| StoreError::Check(format!("the tool search stopped: {e}")))?
}

/// The tools that can restore a dump written by `dump_tool` into a server of `server_major`.
pub(super) async fn locate_for_restore(server_major: u32, dump_tool: Option<&str>) -> Result<Tools> {
    let written_by = dump_tool.and_then(parse_major).unwrap_or(0);
    let (major, needed_by) = if written_by > server_major {
        (written_by, format!("this backup (written by {})", dump_tool.unwrap_or("pg_dump")))
    } else {
        (server_major, format!("the PostgreSQL {server_major} server"))
    };
    locate_async(Tool::Restore, major, needed_by).await
}

fn executable(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Debian's `/usr/bin/pg_dump` is `pg_wrapper`, which picks a version per call by its own
/// rules; the versioned folders behind it are searched directly instead.
fn is_debian_wrapper(path: &Path) -> bool {
    path.canonicalize().is_ok_and(|real| real.file_name().is_some_and(|n| n == "pg_wrapper"))
}

fn version_of(path: &Path) -> Option<String> {
    let out = Command::new(path).arg("--version").stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// PATH, then versioned install folders, newest version first.
fn default_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(versioned(Path::new("/usr/lib/postgresql"), "", "bin")); // Debian, Ubuntu
    dirs.extend(versioned(Path::new("/usr"), "pgsql-", "bin")); // RHEL, Fedora (PGDG)
    dirs.extend(versioned(Path::new("/opt/homebrew/opt"), "postgresql@", "bin")); // Homebrew, Apple silicon
    dirs.extend(versioned(Path::new("/usr/local/opt"), "postgresql@", "bin")); // Homebrew, Intel
    dirs.extend(versioned(Path::new("/Applications/Postgres.app/Contents/Versions"), "", "bin"));
    dirs.extend(versioned(Path::new(r"C:\Program Files\PostgreSQL"), "", "bin"));
    dirs
}

/// `parent/<prefix><N>/<inside>` for every numbered entry, highest N first.
fn versioned(parent: &Path, prefix: &str, inside: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Vec::new() };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            let number: String = name.strip_prefix(prefix)?.chars().take_while(char::is_ascii_digit).collect();
            Some((number.parse().ok()?, entry.path().join(inside)))
        })
        .collect();
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// libpq's environment for connecting to `database` the way `options` does.
fn libpq_env(options: &PgConnectOptions, database: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGHOST", options.get_socket().map_or_else(|| options.get_host().to_string(), |s| s.display().to_string())),
        ("PGPORT", options.get_port().to_string()),
        ("PGUSER", options.get_username().to_string()),
        ("PGDATABASE", database.to_string()),
        ("PGAPPNAME", "chatkeep".to_string()),
        ("PGCONNECT_TIMEOUT", "30".to_string()),
        (
            "PGSSLMODE",
            match options.get_ssl_mode() {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            }
            .to_string(),
        ),
    ];
    if let Some(startup) = options.get_options() {
        env.push(("PGOPTIONS", startup.to_string()));
    }
    // The password (from the URL or ~/.pgpass) and certificate files are only readable back
    // through the options' URL form.
    let url = options.to_url_lossy();
    if let Some(password) = url.password() {
        env.push(("PGPASSWORD", percent_decode(password)));
    }
    for (key, value) in url.query_pairs() {
        let name = match &*key {
            "sslrootcert" => "PGSSLROOTCERT",
            "sslcert" => "PGSSLCERT",
            "sslkey" => "PGSSLKEY",
            _ => continue,
        };
        env.push((name, value.to_string()));
    }
    env
}

/// Variables of chatkeep's own environment that would point libpq somewhere else.
const UNSET: [&str; 4] = ["PGHOSTADDR", "PGSERVICE", "PGSERVICEFILE", "PGREQUIRESSL"];

fn command(program: &Path, options: &PgConnectOptions, database: &str) -> Command {
    let mut command = Command::new(program);
    for name in UNSET {
        command.env_remove(name);
    }
    command.envs(libpq_env(options, database)).stdin(Stdio::null());
    command
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An identifier quoted for SQL (names come from the catalog or from chatkeep).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `dbname='...'` for `pg_restore --dbname`: a database name that looks like a URL or
/// holds `=` would otherwise be read as connection parameters.
fn dbname_conninfo(name: &str) -> String {
    format!("dbname='{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The last lines a tool wrote to stderr, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

/// Rows and checksums of every table of the current schema, inside the caller's transaction.
/// The checksum is the sum of each row's text form's MD5 (its first 64 bits), so it does not
/// depend on row order; text forms are made deterministic for the transaction first.
async fn fingerprints(conn: &mut PgConnection, excluded: &[String]) -> Result<BTreeMap<String, Fingerprint>> {
    sqlx::query(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
                set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true),
                set_config('bytea_output', 'hex', true)",
    )
    .execute(&mut *conn)
    .await?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
            .fetch_all(&mut *conn)
            .await?;
    let mut found = BTreeMap::new();
    for table in tables {
        if excluded.contains(&table) {
            found.insert(table, Fingerprint { rows: 0, checksum: EMPTY_CHECKSUM.into() });
            continue;
        }
        let sql = format!(
            "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0)::text
             FROM {} AS t",
            quote(&table)
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
        found.insert(table, Fingerprint { rows: u64::try_from(rows).unwrap_or(0), checksum });
    }
    Ok(found)
}

/// What [`dump`] made.
pub(super) struct Dumped {
    pub path: PathBuf,
    pub tables: BTreeMap<String, Fingerprint>,
}

/// Kills a child process if the caller gives up on it (an error, a cancel, a dropped future).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `pg_dump --format=custom` of the database `pool` reads, into `scratch`, with the tables'
/// fingerprints taken from the same snapshot. Rows of `exclude` are left out (their tables stay).
pub(super) async fn dump(
    pool: &PgPool,
    tools: &Tools,
    scratch: &Path,
    exclude: &[String],
    cancelled: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Dumped> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    let (snapshot, schema, database): (String, String, String) =
        sqlx::query_as("SELECT pg_export_snapshot(), current_schema()::text, current_database()::text")
            .fetch_one(&mut *tx)
            .await?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()")
            .fetch_all(&mut *tx)
            .await?;
    if let Some(unknown) = exclude.iter().find(|t| !tables.contains(t)) {
        return Err(StoreError::invalid(format!(
            "backup.exclude_tables names {unknown:?}, which is not a table in the database"
        )));
    }
    let path = scratch.join(ENTRY);
    let log_path = scratch.join("pg_dump.log");
    let log = std::fs::File::create(&log_path).map_err(|e| StoreError::io("cannot write to the scratch folder", e))?;
    let mut pg_dump = command(&tools.pg_dump, &pool.connect_options(), &database);
    // Compression is the container's (zstd); the dump itself stays plain.
    pg_dump
        .args(["--format=custom", "--compress=0", "--no-password", "--lock-wait-timeout=120s"])
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", path.display()))
        .args(exclude.iter().map(|t| format!("--exclude-table-data={}.{}", quote(&schema), quote(t))))
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    let child = pg_dump.spawn().map_err(|e| StoreError::io(format!("cannot run {}", tools.pg_dump.display()), e))?;
    let mut running = Running(child);
    // While pg_dump reads the snapshot, the same snapshot is counted and checksummed here.
    let fingerprints = fingerprints(&mut tx, exclude).await?;
    let status = loop {
        match running.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if cancelled() => {
                return Err(StoreError::invalid("the backup was cancelled; nothing was kept"));
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(StoreError::io("cannot wait for pg_dump", e)),
        }
    };
    // The exporting transaction must outlive pg_dump's import of its snapshot.
    tx.rollback().await?;
    if !status.success() {
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(StoreError::Check(format!("pg_dump failed ({status}): {}", tail(&said))));
    }
    let listed = list(tools, &path).await?;
    let with_data = listed.lines().filter(|l| l.contains(" TABLE DATA ")).count();
    let expected = tables.iter().filter(|t| !exclude.contains(t)).count();
    if with_data < expected {
        return Err(StoreError::Check(format!(
            "the dump lists data for {with_data} tables, but the database has {expected} to back up"
        )));
    }
    Ok(Dumped { path, tables: fingerprints })
}

/// `pg_restore --list`: reads a dump's table of contents (a quick check that it is whole).
async fn list(tools: &Tools, dump: &Path) -> Result<String> {
    let (program, dump) = (tools.pg_restore.clone(), dump.to_path_buf());
    let out = tokio::task::spawn_blocking(move || Command::new(&program).arg("--list").arg(&dump).output())
        .await
        .map_err(|e| StoreError::Check(format!("pg_restore stopped: {e}")))?
        .map_err(|e| StoreError::io(format!("cannot run {}", tools.pg_restore.display()), e))?;
    if !out.status.success() {
        return Err(StoreError::Check(format!(
            "pg_restore cannot read the dump: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How [`restore`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restore {
    /// In parallel: into a scratch database, dropped if anything fails.
    Parallel,
    /// All or nothing (one transaction): into a database chatkeep did not create.
    Atomic,
}

/// `pg_restore` of `dump` into the (empty) database `database` on the server of `options`.
async fn restore(tools: &Tools, options: &PgConnectOptions, database: &str, dump: &Path, how: Restore) -> Result<()> {
    let mut pg_restore = command(&tools.pg_restore, options, database);
    // Objects belong to the restoring user; grants of the source server may name roles this one lacks.
    pg_restore
        .args(["--no-owner", "--no-privileges", "--exit-on-error", "--no-password"])
        .arg(format!("--dbname={}", dbname_conninfo(database)));
    match how {
        Restore::Atomic => pg_restore.arg("--single-transaction"),
        Restore::Parallel => {
            let jobs = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
            pg_restore.arg(format!("--jobs={jobs}"))
        }
    };
    pg_restore.arg(dump).stdout(Stdio::null()).stderr(Stdio::piped());
    let program = tools.pg_restore.clone();
    let out = tokio::task::spawn_blocking(move || pg_restore.output())
        .await
        .map_err(|e| StoreError::Check(format!("pg_restore stopped: {e}")))?
        .map_err(|e| StoreError::io(format!("cannot run {}", program.display()), e))?;
    if !out.status.success() {
        return Err(StoreError::Check(format!(
            "pg_restore could not restore the snapshot: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(())
}

/// Fingerprints of a whole database (a restored copy), read in one snapshot. Tables a
/// snapshot left out were restored empty, which is what their fingerprint says.
async fn fingerprints_of(options: &PgConnectOptions) -> Result<BTreeMap<String, Fingerprint>> {
    let mut conn = PgConnection::connect_with(options).await?;
    let mut tx = conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    let found = fingerprints(&mut tx, &[]).await?;
    tx.rollback().await?;
    let _ = conn.close().await;
    Ok(found)
}

/// Compares a restored copy with what was recorded of the dump; returns the rows per table.
fn compare(expected: &Expected<'_>, found: &BTreeMap<String, Fingerprint>) -> Result<BTreeMap<String, u64>> {
    let mut problems = Vec::new();
    for (table, rows) in expected.rows {
        match found.get(table) {
            None => problems.push(format!("table {table} is missing from the restored copy")),
            Some(f) if f.rows != *rows => {
                problems.push(format!("{table}: {} rows restored, the manifest says {rows}", f.rows));
            }
            Some(f) if expected.checksums.get(table).is_some_and(|sum| *sum != f.checksum) => {
                problems.push(format!("{table}: the restored rows differ from the ones dumped (checksum)"));
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(StoreError::Check(format!(
            "the restored snapshot does not match its manifest: {}",
            problems.join("; ")
        )));
    }
    Ok(found.iter().map(|(table, f)| (table.clone(), f.rows)).collect())
}

/// A database name of chatkeep's own for scratch work, stamped with when it was made and by
/// which process (`chatkeep_verify_1796083200_4242_9f3a01c2`).
fn scratch_name(purpose: &str) -> String {
    format!("chatkeep_{purpose}_{}_{}_{:08x}", unix_now(), std::process::id(), rand::random::<u32>())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// When a scratch database was made, from its name; `None` for any other name.
fn scratch_made(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("chatkeep_verify_").or_else(|| name.strip_prefix("chatkeep_restore_"))?;
    let mut parts = rest.split('_');
    let made = parts.next()?.parse().ok()?;
    let (pid, random) = (parts.next()?, parts.next()?);
    let valid = pid.parse::<u32>().is_ok() && random.len() == 8 && parts.next().is_none();
    valid.then_some(made)
}

/// A scratch database older than this, with nobody connected, was left by a chatkeep
/// process that was killed in mid-verify or mid-restore.
const SCRATCH_ABANDONED_AFTER_SECS: i64 = 24 * 60 * 60;

/// Drops the scratch databases interrupted verifies and restores left on this server: each is
/// a full copy of the chat data, people erased since included, so none may linger.
async fn sweep_abandoned(conn: &mut PgConnection) -> Result<Vec<String>> {
    let idle: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database d
         WHERE (datname LIKE 'chatkeep\\_verify\\_%' OR datname LIKE 'chatkeep\\_restore\\_%')
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = unix_now();
    let mut dropped = Vec::new();
    for name in idle {
        if scratch_made(&name).is_some_and(|made| now - made > SCRATCH_ABANDONED_AFTER_SECS) {
            // No FORCE: should anyone have connected since the check above, the drop refuses.
            let sql = format!("DROP DATABASE IF EXISTS {}", quote(&name));
            match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await {
                Ok(_) => {
                    tracing::warn!(database = %name, "dropped a scratch database an interrupted verify or restore left behind");
                    dropped.push(name);
                }
                Err(e) => tracing::warn!(database = %name, error = %e, "could not drop an abandoned scratch database"),
            }
        }
    }
    Ok(dropped)
}

/// [`sweep_abandoned`] as housekeeping: a failure is logged and never fails the verify or restore.
async fn sweep(conn: &mut PgConnection) {
    if let Err(e) = sweep_abandoned(conn).await {
        tracing::warn!(error = %e, "could not look for abandoned scratch databases");
    }
}

fn is_code(error: &sqlx::Error, code: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}

async fn create_database(conn: &mut PgConnection, name: &str, purpose: &str) -> Result<()> {
    let user: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut *conn).await?;
    match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {}", quote(name)))).execute(&mut *conn).await {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "42501") => Err(StoreError::invalid(format!(
            "the PostgreSQL user {user} may not create databases, and {purpose} needs one: \
             grant it CREATEDB (ALTER ROLE \"{user}\" CREATEDB)"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn drop_database(conn: &mut PgConnection, name: &str, server_major: u32) {
    // WITH (FORCE) (PostgreSQL 13+) ends sessions a killed pg_restore may have left behind.
    let force = if server_major >= 13 { " WITH (FORCE)" } else { "" };
    let sql = format!("DROP DATABASE IF EXISTS {}{force}", quote(name));
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await {
        tracing::warn!(database = name, error = %e, "could not drop a scratch database; drop it by hand");
    }
}

/// Restores the dump into a scratch database on the live server, compares every table
/// with the manifest, and drops the scratch database. Returns the rows per table.
pub(super) async fn check_in_scratch(
    pool: &PgPool,
    dump: &Path,
    expected: &Expected<'_>,
) -> Result<BTreeMap<String, u64>> {
    let mut admin = pool.acquire().await?;
    let server = server_major(&mut *admin).await?;
    let tools = locate_for_restore(server, expected.dump_tool).await?;
    sweep(&mut admin).await;
    let name = scratch_name("verify");
    create_database(&mut admin, &name, "checking a PostgreSQL snapshot (it is restored into a scratch database)")
        .await?;
    let options = pool.connect_options().as_ref().clone().database(&name);
    let checked = async {
        restore(&tools, &options, &name, dump, Restore::Parallel).await?;
        compare(expected, &fingerprints_of(&options).await?)
    }
    .await;
    drop_database(&mut admin, &name, server).await;
    checked
}

/// A new database a whole restore goes into, named by the user (`postgres://HOST/NEW`).
/// When it does not exist yet, the work happens in a scratch database on the same server
/// that takes the name only at the end ([`NewDatabase::finish`]); an existing empty
/// database is written directly, and emptied again if the restore fails.
pub struct NewDatabase {
    url: url::Url,
    options: PgConnectOptions,
    name: String,
    admin: PgConnection,
    server_major: u32,
    exists: bool,
    work: Option<String>,
}

impl std::fmt::Debug for NewDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDatabase").field("name", &self.name).field("work", &self.work).finish_non_exhaustive()
    }
}

impl NewDatabase {
    /// Checks the target: a database name, not the live database, and new or empty.
    /// Creates nothing yet.
    pub(super) async fn open(text: &str, live: &Store) -> Result<NewDatabase> {
        let shown = DatabaseUrl::Postgres(text.to_string()).to_string();
        let bad_url = || {
            StoreError::invalid(format!(
                "{shown} is not a PostgreSQL URL to restore into: use postgres://USER@HOST[:PORT]/NEW_DATABASE"
            ))
        };
        let url = url::Url::parse(text).map_err(|_| bad_url())?;
        let options = PgConnectOptions::from_str(text).map_err(|_| bad_url())?;
        let name = options.get_database().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(StoreError::invalid(format!(
                "{shown} names no database: give the new database's name (postgres://HOST/NEW_DATABASE)"
            )));
        }
        if let Store::Postgres(pool) = live {
            let live = pool.connect_options();
            if live.get_database() == Some(name.as_str())
                && live.get_port() == options.get_port()
                && live.get_host() == options.get_host()
                && live.get_socket() == options.get_socket()
            {
                return Err(StoreError::invalid("that is the live database: restore into a new database"));
            }
        }
        let mut admin = None;
        let mut failure = None;
        for maintenance in ["postgres", "template1"] {
            match PgConnection::connect_with(&options.clone().database(maintenance)).await {
                Ok(conn) => {
                    admin = Some(conn);
                    break;
                }
                Err(e) => failure = Some(e),
            }
        }
        let Some(mut admin) = admin else {
            let message = format!("cannot reach the PostgreSQL server of {shown} to restore into it");
            return Err(match failure {
                Some(source) => StoreError::Database { message, source },
                None => StoreError::invalid(message),
            });
        };
        let server_major = server_major(&mut admin).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
        if exists {
            let mut conn = PgConnection::connect_with(&options).await?;
            let relations: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
            )
            .fetch_one(&mut conn)
            .await?;
            let _ = conn.close().await;
            if relations > 0 {
                return Err(StoreError::invalid(format!(
                    "the database {name} already exists and is not empty: restore into a new database \
                     (chatkeep never restores over a database)"
                )));
            }
        }
        Ok(NewDatabase { url, options, name, admin, server_major, exists, work: None })
    }

    /// The database's URL as the user wrote it, password hidden.
    pub fn shown(&self) -> String {
        DatabaseUrl::Postgres(self.url.to_string()).to_string()
    }

    /// Creates the scratch database (when the target is new). From here on, end with
    /// [`finish`](Self::finish) or [`abandon`](Self::abandon).
    pub async fn begin(&mut self) -> Result<()> {
        if !self.exists {
            sweep(&mut self.admin).await;
            let work = scratch_name("restore");
            create_database(&mut self.admin, &work, "restoring into a new database").await?;
            self.work = Some(work);
        }
        Ok(())
    }

    fn work_name(&self) -> &str {
        self.work.as_deref().unwrap_or(&self.name)
    }

    /// The URL of the database being written (the scratch one until [`finish`](Self::finish)).
    pub fn work_url(&self) -> DatabaseUrl {
        let mut url = self.url.clone();
        url.set_path(&format!("/{}", self.work_name()));
        DatabaseUrl::Postgres(url.to_string())
    }

    /// The client tools that restore a dump written by `dump_tool` into this server; found
    /// before anything is created on it.
    pub async fn tools_for(&self, dump_tool: Option<&str>) -> Result<Tools> {
        locate_for_restore(self.server_major, dump_tool).await
    }

    /// Restores a dump into the database being written and checks it against what was recorded of it.
    pub async fn restore_dump(
        &self,
        tools: &Tools,
        dump: &Path,
        expected: &Expected<'_>,
    ) -> Result<BTreeMap<String, u64>> {
        let how = if self.work.is_some() { Restore::Parallel } else { Restore::Atomic };
        let options = self.options.clone().database(self.work_name());
        restore(tools, &options, self.work_name(), dump, how).await?;
        compare(expected, &fingerprints_of(&options).await?)
    }

    /// Gives the finished scratch database the user's name.
    pub async fn finish(mut self) -> Result<()> {
        let Some(work) = self.work.clone() else { return Ok(()) };
        let sql = format!("ALTER DATABASE {} RENAME TO {}", quote(&work), quote(&self.name));
        // Sessions of the restore may take a moment to end on the server.
        let mut attempts = 0;
        loop {
            match sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut self.admin).await {
                Ok(_) => break,
                Err(e) if is_code(&e, "55006") && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    let appeared = is_code(&e, "42P04");
                    self.abandon().await;
                    return Err(if appeared {
                        StoreError::invalid("the target database appeared while restoring; nothing was overwritten")
                    } else {
                        e.into()
                    });
                }
            }
        }
        let _ = self.admin.close().await;
        Ok(())
    }

    /// Undoes the restore: drops the scratch database, or empties the existing target again.
    pub async fn abandon(mut self) {
        if let Some(work) = self.work.take() {
            drop_database(&mut self.admin, &work, self.server_major).await;
        } else if self.exists {
            // It held no tables before: everything in it now is the failed restore's.
            let cleaned = async {
                let mut conn = PgConnection::connect_with(&self.options).await?;
                let relations: Vec<String> = sqlx::query_scalar(
                    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                       AND c.relkind IN ('r', 'p', 'f')",
                )
                .fetch_all(&mut conn)
                .await?;
                if !relations.is_empty() {
                    let sql = format!("DROP TABLE IF EXISTS {} CASCADE", relations.join(", "));
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
                }
                sqlx::query("DROP FUNCTION IF EXISTS ck_ts(timestamptz)").execute(&mut conn).await?;
                let _ = conn.close().await;
                Ok::<(), StoreError>(())
            }
            .await;
            if let Err(e) = cleaned {
                tracing::warn!(database = %self.name, error = %e, "could not empty the database after a failed restore");
            }
        }
        let _ = self.admin.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_carry_when_they_were_made_and_nothing_else_is_taken_for_one() {
        let name = scratch_name("verify");
        let made = scratch_made(&name).expect("a scratch name is recognised");
        assert!((unix_now() - made).abs() < 5, "{name}");
        assert_eq!(scratch_made("chatkeep_restore_1700000000_42_9f3a01c2"), Some(1_700_000_000));
        // A user's database that merely looks alike, and names from before the stamp, are never swept.
        for other in [
            "chatkeep_verify_42_9f3a01c2",
            "chatkeep_verify_1700000000_42_9f3a01c2_copy",
            "chatkeep_restore_1700000000_x_9f3a01c2",
            "chatkeep_production",
            "chatkeep_verify_",
        ] {
            assert_eq!(scratch_made(other), None, "{other}");
        }
    }
}
