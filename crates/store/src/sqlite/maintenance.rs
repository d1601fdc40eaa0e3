//! SQLite upkeep: `PRAGMA quick_check`/`integrity_check`, `VACUUM` of the whole file,
//! `REINDEX` one index at a time, `PRAGMA optimize`, `wal_checkpoint(TRUNCATE)`.
//! Sizes per table and index come from the `dbstat` virtual table.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use crate::db_time::{from_db, to_db};
use crate::maintenance::{
    DatabaseFigures, IndexFigures, IntegrityReport, Relation, SampleCounts, StorageSample, TableFigures, Task, Upkeep,
};
use crate::{Result, StoreError};

const UPKEEP: Upkeep =
    Upkeep { whole_database_vacuum: true, reindex_by_estimate: false, optimize: true, checkpoint: true };

/// Problems the integrity check reports at most.
const MAX_PROBLEMS: i64 = 100;

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) async fn figures(pool: &SqlitePool, detail: bool) -> Result<DatabaseFigures> {
    let mut conn = pool.acquire().await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await?;
    let free_pages: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&mut *conn).await?;
    let file: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(&mut *conn)
        .await?;
    let wal_bytes = file
        .filter(|f| !f.is_empty())
        .and_then(|f| std::fs::metadata(format!("{f}-wal")).ok())
        .map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX));
    let mut figures = DatabaseFigures {
        engine: "sqlite",
        bytes: page_size * pages,
        page_size,
        pages,
        free_pages: Some(free_pages),
        wal_bytes: Some(wal_bytes),
        tables: Vec::new(),
        indexes: Vec::new(),
        upkeep: UPKEEP,
    };
    if detail {
        (figures.tables, figures.indexes) = tables_and_indexes(&mut conn, page_size).await?;
    }
    Ok(figures)
}

async fn tables_and_indexes(
    conn: &mut SqliteConnection,
    page_size: i64,
) -> Result<(Vec<TableFigures>, Vec<IndexFigures>)> {
    // One row per b-tree: its pages in bytes and the bytes unused inside them. `dbstat`
    // reads every page once; without it (a SQLite built without the virtual table) the
    // sizes stay unknown rather than failing the run.
    let btrees: Vec<(String, String, String, i64, i64)> = match sqlx::query_as(
        "SELECT s.type, s.name, s.tbl_name, coalesce(d.pgsize, 0), coalesce(d.unused, 0)
         FROM sqlite_schema AS s
         LEFT JOIN (SELECT name, pgsize, unused FROM dbstat WHERE aggregate = TRUE) AS d ON d.name = s.name
         WHERE s.type IN ('table', 'index') AND s.tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
           AND (s.type = 'index' OR s.sql NOT LIKE 'CREATE VIRTUAL%')
         ORDER BY s.tbl_name, s.type DESC, s.name",
    )
    .fetch_all(&mut *conn)
    .await
    {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.message().contains("no such table: dbstat") => {
            tracing::debug!("this SQLite has no dbstat table: sizes per table are not measured");
            sqlx::query_as(
                "SELECT type, name, tbl_name, 0, 0 FROM sqlite_schema
                 WHERE type IN ('table', 'index') AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                 ORDER BY tbl_name, type DESC, name",
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut tables = Vec::new();
    let mut indexes = Vec::new();
    for (kind, name, table, bytes, unused) in btrees {
        // A b-tree of one page is as small as it gets, however empty that page is.
        let bloat = if bytes > page_size { round1(unused as f64 * 100.0 / bytes as f64) } else { 0.0 };
        if kind == "table" {
            // Counting is cheap on SQLite (the smallest index is read) and exact.
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {}", quote(&name))))
                .fetch_one(&mut *conn)
                .await?;
            tables.push(TableFigures {
                table: Relation { schema: None, name },
                rows,
                bytes,
                index_bytes: 0,
                bloat_percent: bloat,
                dead_rows: None,
                may_vacuum: true,
                last_vacuum: None,
                last_analyze: None,
            });
        } else {
            if let Some(t) = tables.iter_mut().find(|t| t.table.name == table) {
                t.index_bytes += bytes;
            }
            indexes.push(IndexFigures {
                index: Relation { schema: None, name },
                table,
                bytes,
                bloat_percent: Some(bloat),
                valid: true,
            });
        }
    }
    Ok((tables, indexes))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(crate) async fn integrity_check(pool: &SqlitePool, full: bool) -> Result<IntegrityReport> {
    let (sql, method) = if full {
        (format!("PRAGMA integrity_check({MAX_PROBLEMS})"), "PRAGMA integrity_check")
    } else {
        (format!("PRAGMA quick_check({MAX_PROBLEMS})"), "PRAGMA quick_check")
    };
    let report = |status: &str, problems: Vec<String>| IntegrityReport {
        status: status.into(),
        method: method.into(),
        full,
        problems,
        note: None,
    };
    let lines: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await;
    match lines {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(report("passed", Vec::new())),
        // SQLite may put several problems in one row, one per line, under a header naming the schema.
        Ok(lines) => Ok(report(
            "failed",
            lines
                .iter()
                .flat_map(|l| l.lines())
                .filter(|l| !l.trim().is_empty() && !l.starts_with("*** in database"))
                .take(MAX_PROBLEMS as usize)
                .map(str::to_string)
                .collect(),
        )),
        // Damage bad enough to stop the check itself is a failed check, not a failed run.
        Err(sqlx::Error::Database(e)) if is_corruption(e.message(), e.code().as_deref()) => {
            Ok(report("failed", vec![e.message().to_string()]))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_corruption(message: &str, code: Option<&str>) -> bool {
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with or without an extended code.
    let primary = code.and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
    matches!(primary, Some(11 | 26)) || message.contains("malformed") || message.contains("not a database")
}

pub(crate) fn statement(task: &Task) -> String {
    match task {
        Task::IntegrityCheck { full: false } => "PRAGMA quick_check".into(),
        Task::IntegrityCheck { full: true } => "PRAGMA integrity_check".into(),
        Task::Vacuum { .. } => "VACUUM".into(),
        Task::Reindex { index: Some(index) } => format!("REINDEX {}", quote(&index.name)),
        Task::Reindex { index: None } => "REINDEX (each index in turn)".into(),
        Task::Analyze => "ANALYZE".into(),
        Task::Optimize => "PRAGMA optimize".into(),
        Task::Checkpoint => "PRAGMA wal_checkpoint(TRUNCATE)".into(),
    }
}

pub(crate) async fn run(pool: &SqlitePool, task: &Task) -> Result<Option<String>> {
    let mut conn = pool.acquire().await?;
    match task {
        Task::IntegrityCheck { .. } => Err(StoreError::invalid("the integrity check runs through integrity_check")),
        Task::Vacuum { .. } => {
            // VACUUM builds the new file in a temporary database first: on disk, not in
            // memory (connections keep temporary tables in memory), or a large database
            // would need its own size in RAM.
            sqlx::query("PRAGMA temp_store = FILE").execute(&mut *conn).await?;
            let result = sqlx::query("VACUUM").execute(&mut *conn).await;
            sqlx::query("PRAGMA temp_store = MEMORY").execute(&mut *conn).await?;
            result?;
            Ok(None)
        }
        Task::Reindex { index: Some(index) } => {
            sqlx::query(sqlx::AssertSqlSafe(format!("REINDEX {}", quote(&index.name)))).execute(&mut *conn).await?;
            Ok(None)
        }
        Task::Reindex { index: None } => {
            // One statement per index: each holds the write lock only while it rebuilds one
            // index, so the chat service's writes slip in between.
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                 ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await?;
            for name in &names {
                sqlx::query(sqlx::AssertSqlSafe(format!("REINDEX {}", quote(name)))).execute(&mut *conn).await?;
            }
            Ok(Some(format!("{} indexes rebuilt", names.len())))
        }
        Task::Analyze => {
            sqlx::query("ANALYZE").execute(&mut *conn).await?;
            Ok(None)
        }
        Task::Optimize => {
            // 0x10002: analyze every table whose statistics are missing or stale, not only those
            // this connection happened to query; SQLite limits how much of each table it reads.
            sqlx::query("PRAGMA optimize = 0x10002").execute(&mut *conn).await?;
            Ok(None)
        }
        Task::Checkpoint => {
            let (busy, log, copied): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
            Ok(Some(match (busy, log) {
                (0, -1) => "the database does not use a write-ahead log".into(),
                (0, _) => format!("{copied} of {log} log pages copied into the database file; the log was emptied"),
                _ => format!(
                    "a reader kept the log in use: {copied} of {log} pages copied; the rest follows at the next checkpoint"
                ),
            }))
        }
    }
}

pub(crate) async fn marks(pool: &SqlitePool) -> Result<Vec<(String, DateTime<Utc>)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE key >= 'maintenance.' AND key < 'maintenance/'")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(k, v)| from_db(&v).map(|at| (k, at))).collect())
}

pub(crate) async fn set_mark(conn: &mut SqliteConnection, key: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(to_db(at))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn sample_counts(pool: &SqlitePool) -> Result<SampleCounts> {
    // Live rows as `chatkeep stats` counts them: everything from an index, minus the
    // expired rows from their small partial indexes.
    let (messages, conversations, backup_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages) - (SELECT count(*) FROM messages WHERE expired_at IS NOT NULL),
                (SELECT count(*) FROM conversations)
                  - (SELECT count(*) FROM conversations WHERE expired_at IS NOT NULL),
                (SELECT coalesce(sum(size_bytes), 0) FROM backups WHERE status IN ('completed', 'verified'))",
    )
    .fetch_one(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await?;
    Ok(SampleCounts { database_bytes: page_size * pages, messages, conversations, backup_bytes })
}

pub(crate) async fn record_sample(pool: &SqlitePool, s: &StorageSample) -> Result<()> {
    sqlx::query(
        "INSERT INTO storage_samples (day, taken_at, database_bytes, messages, conversations, backup_bytes)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (day) DO UPDATE SET taken_at = excluded.taken_at, database_bytes = excluded.database_bytes,
             messages = excluded.messages, conversations = excluded.conversations,
             backup_bytes = excluded.backup_bytes",
    )
    .bind(s.day.format("%Y-%m-%d").to_string())
    .bind(&s.taken_at)
    .bind(s.database_bytes)
    .bind(s.messages)
    .bind(s.conversations)
    .bind(s.backup_bytes)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn samples(pool: &SqlitePool, from: NaiveDate, to: NaiveDate) -> Result<Vec<StorageSample>> {
    let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, taken_at, database_bytes, messages, conversations, backup_bytes FROM storage_samples
         WHERE day >= $1 AND day <= $2 ORDER BY day",
    )
    .bind(from.format("%Y-%m-%d").to_string())
    .bind(to.format("%Y-%m-%d").to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(day, taken_at, database_bytes, messages, conversations, backup_bytes)| {
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| StoreError::invalid(format!("unexpected storage sample day {day:?}: {e}")))?;
            Ok(StorageSample { day, taken_at, database_bytes, messages, conversations, backup_bytes })
        })
        .collect()
}
