//! PostgreSQL upkeep: dead rows per table from `pg_stat_user_tables` (VACUUM (ANALYZE)
//! table by table), a size estimate of each B-tree index against its real size
//! (REINDEX INDEX CONCURRENTLY), a database-wide ANALYZE, and `amcheck` index checks
//! when that extension is installed.
//!
//! Every statement runs on a pooled connection outside any transaction, through the
//! simple query protocol (VACUUM and the concurrent REINDEX refuse transaction blocks).
//! Identifiers come from the catalogs and are quoted; nothing a user typed reaches SQL.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use crate::db_time::{from_db, to_db};
use crate::maintenance::{
    DatabaseFigures, IndexFigures, IntegrityReport, Relation, SampleCounts, StorageSample, TableFigures, Task, Upkeep,
};
use crate::{Result, StoreError};

const UPKEEP: Upkeep =
    Upkeep { whole_database_vacuum: false, reindex_by_estimate: true, optimize: false, checkpoint: false };

/// Problems the integrity check reports at most.
const MAX_PROBLEMS: usize = 100;

/// How long VACUUM FULL waits for its exclusive lock before giving up: while it waits,
/// every query on the table queues behind it.
const VACUUM_FULL_LOCK_TIMEOUT: &str = "10s";

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn qualified(relation: &Relation) -> String {
    match &relation.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&relation.name)),
        None => quote(&relation.name),
    }
}

pub(crate) async fn figures(pool: &PgPool, detail: bool) -> Result<DatabaseFigures> {
    let (bytes, page_size): (i64, i64) =
        sqlx::query_as("SELECT pg_database_size(current_database()), current_setting('block_size')::bigint")
            .fetch_one(pool)
            .await?;
    let mut figures = DatabaseFigures {
        engine: "postgres",
        bytes,
        page_size,
        pages: bytes / page_size.max(1),
        free_pages: None,
        wal_bytes: None,
        tables: Vec::new(),
        indexes: Vec::new(),
        upkeep: UPKEEP,
    };
    if detail {
        figures.tables = tables(pool).await?;
        figures.indexes = indexes(pool).await?;
    }
    Ok(figures)
}

type TableRow = (String, String, i64, i64, i64, i64, bool, Option<String>, Option<String>);

async fn tables(pool: &PgPool) -> Result<Vec<TableFigures>> {
    // Live and dead rows are the statistics collector's running counts: current to within
    // a second or so, without reading the tables.
    let rows: Vec<TableRow> = sqlx::query_as(
        "SELECT t.schemaname::text, t.relname::text, t.n_live_tup, t.n_dead_tup,
                pg_table_size(t.relid), pg_indexes_size(t.relid),
                pg_has_role(c.relowner, 'USAGE'),
                ck_ts(greatest(t.last_vacuum, t.last_autovacuum)),
                ck_ts(greatest(t.last_analyze, t.last_autoanalyze))
         FROM pg_stat_user_tables AS t
         JOIN pg_class AS c ON c.oid = t.relid
         WHERE t.schemaname = ANY (current_schemas(false))
         ORDER BY t.schemaname, t.relname",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, live, dead, bytes, index_bytes, owned, last_vacuum, last_analyze)| {
            let all = live + dead;
            let bloat = if all > 0 { round1(dead as f64 * 100.0 / all as f64) } else { 0.0 };
            TableFigures {
                table: Relation { schema: Some(schema), name },
                rows: live,
                bytes,
                index_bytes,
                bloat_percent: bloat,
                dead_rows: Some(dead),
                may_vacuum: owned,
                last_vacuum,
                last_analyze,
            }
        })
        .collect())
}

async fn indexes(pool: &PgPool) -> Result<Vec<IndexFigures>> {
    // The size a freshly built B-tree would have: its entries (the index's row estimate,
    // less the share of the table's rows that are dead, since VACUUM takes those out but
    // leaves their pages), each a 4-byte line pointer plus an 8-byte tuple header and the
    // columns' average widths (from pg_stats, or the type's fixed length), padded to 8
    // bytes, on 8 KB pages less their 40 bytes of headers, filled to the fill factor,
    // plus the meta page. Bloat is the share of the real size beyond that. No estimate
    // for other access methods, expression columns, or columns without statistics.
    let rows: Vec<(String, String, String, i64, bool, Option<f64>)> = sqlx::query_as(
        "WITH idx AS (
             SELECT n.nspname::text AS schema, c.relname::text AS name, t.relname::text AS table_name,
                    i.indexrelid, i.indrelid, i.indkey::int2[] AS keys, i.indisvalid AS valid,
                    am.amname = 'btree' AS btree, c.reltuples::float8 AS entries,
                    pg_relation_size(i.indexrelid) AS bytes,
                    coalesce((SELECT o.option_value::int FROM pg_options_to_table(c.reloptions) AS o
                              WHERE o.option_name = 'fillfactor'), 90) AS fillfactor,
                    coalesce(s.n_live_tup::float8 / nullif(s.n_live_tup + s.n_dead_tup, 0), 1) AS live_fraction
             FROM pg_index AS i
             JOIN pg_class AS c ON c.oid = i.indexrelid
             JOIN pg_class AS t ON t.oid = i.indrelid
             JOIN pg_namespace AS n ON n.oid = c.relnamespace
             JOIN pg_am AS am ON am.oid = c.relam
             LEFT JOIN pg_stat_user_tables AS s ON s.relid = i.indrelid
             WHERE n.nspname = ANY (current_schemas(false)) AND t.relkind IN ('r', 'm')
         ),
         widths AS (
             SELECT idx.indexrelid,
                    sum(coalesce(st.avg_width, CASE WHEN a.attlen > 0 THEN a.attlen END))::float8 AS data_width,
                    bool_or(coalesce(st.avg_width, CASE WHEN a.attlen > 0 THEN a.attlen END) IS NULL) AS unknown,
                    bool_or(coalesce(st.null_frac, 0) > 0) AS nullable
             FROM idx
             CROSS JOIN LATERAL unnest(idx.keys) AS k(attnum)
             LEFT JOIN pg_attribute AS a ON a.attrelid = idx.indrelid AND a.attnum = k.attnum
             LEFT JOIN pg_stats AS st ON st.schemaname = idx.schema AND st.tablename = idx.table_name
                                     AND st.attname = a.attname AND NOT st.inherited
             GROUP BY idx.indexrelid
         ),
         block AS (SELECT current_setting('block_size')::float8 AS size)
         SELECT idx.schema, idx.name, idx.table_name, idx.bytes, idx.valid,
                CASE WHEN idx.btree AND NOT w.unknown AND idx.entries >= 0 AND idx.bytes > 0 THEN
                    greatest(0, 100 * (1 - (1 + ceil(idx.entries * idx.live_fraction
                            * (4 + 8 * ceil((8 + CASE WHEN w.nullable THEN 8 ELSE 0 END + w.data_width) / 8))
                            / ((block.size - 40) * idx.fillfactor / 100)))
                        / (idx.bytes / block.size)))
                END
         FROM idx JOIN widths AS w USING (indexrelid) CROSS JOIN block
         ORDER BY idx.schema, idx.table_name, idx.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, table, bytes, valid, bloat)| IndexFigures {
            index: Relation { schema: Some(schema), name },
            table,
            bytes,
            bloat_percent: bloat.map(round1),
            valid,
        })
        .collect())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(crate) async fn integrity_check(pool: &PgPool, full: bool) -> Result<IntegrityReport> {
    let amcheck: Option<String> = sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'amcheck'")
        .fetch_optional(pool)
        .await?;
    if amcheck.is_none() {
        let checksums: Option<String> =
            sqlx::query_scalar("SELECT current_setting('data_checksums', true)").fetch_one(pool).await?;
        let checksums = match checksums.as_deref() {
            Some("on") => "the server verifies page checksums as it reads",
            _ => "page checksums are off on this server",
        };
        return Ok(IntegrityReport {
            status: "unavailable".into(),
            method: "no check (amcheck is not installed)".into(),
            full,
            problems: Vec::new(),
            note: Some(format!(
                "not checked: {checksums}; for index checks, install the amcheck extension \
                 (CREATE EXTENSION amcheck) and maintenance runs it"
            )),
        });
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname)
         FROM pg_index AS i
         JOIN pg_class AS c ON c.oid = i.indexrelid
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         JOIN pg_am AS am ON am.oid = c.relam
         WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready
           AND n.nspname = ANY (current_schemas(false))
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let mut problems = Vec::new();
    let mut unchecked = Vec::new();
    for index in &indexes {
        // bt_index_check takes only the lock reads take; with heapallindexed it also checks
        // that every row of the table is in the index.
        let checked = sqlx::query("SELECT bt_index_check($1::regclass, $2)").bind(index).bind(full).execute(pool).await;
        match checked {
            Ok(_) => {}
            // Class XX: data or index corrupted. Anything else (no permission to run amcheck,
            // a lock timeout) leaves the index unchecked, not broken.
            Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("XX")) => {
                if problems.len() < MAX_PROBLEMS {
                    problems.push(format!("index {index}: {}", e.message()));
                }
            }
            Err(sqlx::Error::Database(e)) => unchecked.push(format!("{index} ({})", e.message())),
            Err(e) => return Err(e.into()),
        }
    }
    let what = if full { "bt_index_check with heapallindexed" } else { "bt_index_check" };
    let status = if !problems.is_empty() {
        "failed"
    } else if !indexes.is_empty() && unchecked.len() == indexes.len() {
        "unavailable"
    } else {
        "passed"
    };
    let note = (!unchecked.is_empty()).then(|| {
        let first = unchecked.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        format!("{} of {} indexes could not be checked: {first}", unchecked.len(), indexes.len())
    });
    Ok(IntegrityReport {
        status: status.into(),
        method: format!("amcheck {what} on {} indexes", indexes.len()),
        full,
        problems,
        note,
    })
}

pub(crate) fn statement(task: &Task) -> String {
    match task {
        Task::IntegrityCheck { full: false } => "amcheck bt_index_check (where amcheck is installed)".into(),
        Task::IntegrityCheck { full: true } => {
            "amcheck bt_index_check with heapallindexed (where amcheck is installed)".into()
        }
        Task::Vacuum { table: Some(table), full: false } => format!("VACUUM (ANALYZE) {}", qualified(table)),
        Task::Vacuum { table: Some(table), full: true } => format!("VACUUM (FULL, ANALYZE) {}", qualified(table)),
        Task::Vacuum { table: None, full: false } => "VACUUM (ANALYZE)".into(),
        Task::Vacuum { table: None, full: true } => "VACUUM (FULL, ANALYZE)".into(),
        Task::Reindex { index: Some(index) } => format!("REINDEX INDEX CONCURRENTLY {}", qualified(index)),
        Task::Reindex { index: None } => "REINDEX INDEX CONCURRENTLY".into(),
        Task::Analyze => "ANALYZE".into(),
        Task::Optimize | Task::Checkpoint => "(nothing: PostgreSQL does this itself)".into(),
    }
}

pub(crate) async fn run(pool: &PgPool, task: &Task) -> Result<Option<String>> {
    let mut conn = pool.acquire().await?;
    match task {
        Task::IntegrityCheck { .. } => Err(StoreError::invalid("the integrity check runs through integrity_check")),
        Task::Vacuum { table, full } => {
            let sql = statement(task);
            if *full {
                // VACUUM FULL rewrites the table under an exclusive lock; waiting for that lock
                // behind a long transaction would hold up every query on the table meanwhile.
                simple(&mut conn, &format!("SET lock_timeout = '{VACUUM_FULL_LOCK_TIMEOUT}'")).await?;
                let result = simple(&mut conn, &sql).await;
                simple(&mut conn, "RESET lock_timeout").await?;
                result?;
            } else {
                simple(&mut conn, &sql).await?;
            }
            Ok(table.is_none().then(|| "every table chatkeep's user owns".to_string()))
        }
        Task::Reindex { index: Some(index) } => match simple(&mut conn, &statement(task)).await {
            Ok(()) => Ok(None),
            Err(error) => {
                drop_failed_rebuilds(&mut conn, index).await;
                Err(error)
            }
        },
        // Rebuilding every index of a large database is never worth it here: indexes are
        // rebuilt one by one, where the estimate finds bloat.
        Task::Reindex { index: None } => {
            Err(StoreError::invalid("on PostgreSQL, maintenance rebuilds the indexes it names, one at a time"))
        }
        Task::Analyze => {
            simple(&mut conn, "ANALYZE").await?;
            Ok(None)
        }
        Task::Optimize | Task::Checkpoint => Ok(Some("PostgreSQL does this itself".into())),
    }
}

/// One statement through the simple query protocol, outside any transaction block.
async fn simple(conn: &mut PgConnection, sql: &str) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut *conn).await?;
    Ok(())
}

/// A concurrent REINDEX that fails leaves its half-built copy behind (`<name>_ccnew`,
/// marked invalid): it would slow every write to the table, so it goes.
async fn drop_failed_rebuilds(conn: &mut PgConnection, index: &Relation) {
    let leftovers: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname)
         FROM pg_index AS i
         JOIN pg_class AS c ON c.oid = i.indexrelid
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE NOT i.indisvalid AND n.nspname = $1 AND left(c.relname, length($2) + 6) = $2 || '_ccnew'",
    )
    .bind(index.schema.as_deref().unwrap_or("public"))
    .bind(&index.name)
    .fetch_all(&mut *conn)
    .await;
    for leftover in leftovers.unwrap_or_default() {
        if let Err(e) = simple(conn, &format!("DROP INDEX CONCURRENTLY IF EXISTS {leftover}")).await {
            tracing::warn!(index = %leftover, error = %e, "cannot drop the copy a failed REINDEX left behind");
        }
    }
}

pub(crate) async fn marks(pool: &PgPool) -> Result<Vec<(String, DateTime<Utc>)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings WHERE starts_with(key, 'maintenance.')")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(k, v)| from_db(&v).map(|at| (k, at))).collect())
}

pub(crate) async fn set_mark(conn: &mut PgConnection, key: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $2::timestamptz)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(to_db(at))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn sample_counts(pool: &PgPool) -> Result<SampleCounts> {
    // Live rows as `chatkeep stats` counts them (expired ones are hidden).
    let (messages, conversations, backup_bytes, database_bytes): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages WHERE expired_at IS NULL),
                (SELECT count(*) FROM conversations WHERE expired_at IS NULL),
                (SELECT coalesce(sum(size_bytes), 0)::bigint FROM backups WHERE status IN ('completed', 'verified')),
                pg_database_size(current_database())",
    )
    .fetch_one(pool)
    .await?;
    Ok(SampleCounts { database_bytes, messages, conversations, backup_bytes })
}

pub(crate) async fn record_sample(pool: &PgPool, s: &StorageSample) -> Result<()> {
    sqlx::query(
        "INSERT INTO storage_samples (day, taken_at, database_bytes, messages, conversations, backup_bytes)
         VALUES ($1, $2::timestamptz, $3, $4, $5, $6)
         ON CONFLICT (day) DO UPDATE SET taken_at = excluded.taken_at, database_bytes = excluded.database_bytes,
             messages = excluded.messages, conversations = excluded.conversations,
             backup_bytes = excluded.backup_bytes",
    )
    .bind(s.day)
    .bind(&s.taken_at)
    .bind(s.database_bytes)
    .bind(s.messages)
    .bind(s.conversations)
    .bind(s.backup_bytes)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn samples(pool: &PgPool, from: NaiveDate, to: NaiveDate) -> Result<Vec<StorageSample>> {
    let rows: Vec<(NaiveDate, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, ck_ts(taken_at), database_bytes, messages, conversations, backup_bytes FROM storage_samples
         WHERE day BETWEEN $1 AND $2 ORDER BY day",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, taken_at, database_bytes, messages, conversations, backup_bytes)| StorageSample {
            day,
            taken_at,
            database_bytes,
            messages,
            conversations,
            backup_bytes,
        })
        .collect())
}
