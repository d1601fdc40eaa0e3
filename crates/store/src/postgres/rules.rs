//! Table rules on PostgreSQL. The live schema comes from `pg_catalog`, for the
//! connection's current schema (the first on its `search_path`). PostgreSQL has no
//! rowid: a rule addresses rows by its table's single-column integer primary key,
//! and a table without one is refused by name when the rule is checked.
//!
//! How a row's age is compared depends on the timestamp column's type, as on SQLite
//! it depends on each value's type: `timestamptz`, `timestamp` (read as UTC) and
//! `date` compare as instants, numbers as Unix seconds, and text is read as
//! ISO 8601 (as SQLite's `julianday` reads it; other text is never old enough).

use sqlx::{PgConnection, PgPool};

use crate::rules::{CheckedRule, ColumnInfo, Ident, RowKey, RuleCutoff, RuleRow, TableInfo, rule};
use crate::{Result, StoreError};
use chatkeep_domain::rule::{RuleStrategy, TableRule};

pub(crate) async fn table_info(pool: &PgPool, table: &str) -> Result<Option<TableInfo>> {
    let found: Option<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.oid::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = $1 AND c.relkind IN ('r', 'p')",
    )
    .bind(table)
    .fetch_optional(pool)
    .await?;
    let Some((name, oid)) = found else {
        return Ok(None);
    };
    // Each column's type (a domain's base type), upper-cased, whether it is part of the
    // primary key, and whether it is keyed: in a unique index or a foreign key (either side).
    let columns: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT a.attname::text,
                upper(format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                                  CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)),
                coalesce(a.attnum = ANY (i.indkey), false),
                EXISTS (SELECT 1 FROM pg_index u WHERE u.indrelid = a.attrelid AND u.indisunique
                                                   AND a.attnum = ANY (u.indkey))
                OR EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'
                           AND ((f.conrelid = a.attrelid AND a.attnum = ANY (f.conkey))
                             OR (f.confrelid = a.attrelid AND a.attnum = ANY (f.confkey))))
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let primary: Vec<&(String, String, bool, bool)> = columns.iter().filter(|(_, _, pk, _)| *pk).collect();
    let key = match primary.as_slice() {
        [(column, declared_type, _, _)] if is_integer(declared_type) => {
            Ok(RowKey::Column(Ident::from_schema(column.clone())))
        }
        [(column, declared_type, _, _)] => Err(format!(
            "table {name} has the primary key {column}, of type {}; table rules address rows by a \
             single-column integer primary key (smallint, integer or bigint)",
            declared_type.to_lowercase()
        )),
        [] => Err(format!(
            "table {name} has no primary key; table rules address rows by a single-column integer primary key, \
             so add one (for example `ALTER TABLE {name} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`)"
        )),
        several => Err(format!(
            "table {name} has a primary key of {} columns ({}); table rules address rows by a \
             single-column integer primary key",
            several.len(),
            several.iter().map(|(c, _, _, _)| c.as_str()).collect::<Vec<_>>().join(", ")
        )),
    };
    Ok(Some(TableInfo {
        name: Ident::from_schema(name),
        key,
        columns: columns
            .into_iter()
            .map(|(name, declared_type, primary, keyed)| ColumnInfo {
                name: Ident::from_schema(name),
                declared_type,
                keyed: primary || keyed,
            })
            .collect(),
    }))
}

fn is_integer(declared_type: &str) -> bool {
    matches!(declared_type, "SMALLINT" | "INTEGER" | "BIGINT")
}

/// How a column's values stand for instants, by its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// `timestamptz`
    Zoned,
    /// `timestamp` without time zone: UTC, as SQLite reads text without an offset.
    Naive,
    Date,
    /// Unix seconds.
    Number,
    /// ISO 8601 text.
    Text,
    Boolean,
    Other,
}

fn time_kind(declared_type: &str) -> TimeKind {
    if declared_type.starts_with("TIMESTAMP") {
        if declared_type.ends_with("WITH TIME ZONE") { TimeKind::Zoned } else { TimeKind::Naive }
    } else if declared_type == "DATE" {
        TimeKind::Date
    } else if is_integer(declared_type)
        || declared_type == "REAL"
        || declared_type == "DOUBLE PRECISION"
        || declared_type.starts_with("NUMERIC")
    {
        TimeKind::Number
    } else if declared_type.ends_with("[]") {
        TimeKind::Other
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| declared_type.contains(t)) {
        TimeKind::Text
    } else if declared_type == "BOOLEAN" {
        TimeKind::Boolean
    } else {
        TimeKind::Other
    }
}

/// ISO 8601 as SQLite's date functions accept it: a date, optionally a time to the
/// minute, second or fraction, optionally `Z` or an offset. Ranges are checked here
/// so that building the instant below can never fail on a row's text.
const ISO_TEXT: &str = r"^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?:(?:T| +)([01]\d|2[0-4]):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?)?\s*(?:[Zz]|([+-])(0\d|1[0-4]):([0-5]\d))?\s*$";

/// The instant an ISO 8601 text column holds, or NULL when it holds none. Days past a
/// month's end roll over into the next month, as in SQLite; hours are added as
/// durations so the server's time zone plays no part.
fn text_instant(column: &str) -> String {
    format!(
        "(SELECT make_timestamptz(greatest(g[1]::int, 1), g[2]::int, 1, 0, 0, 0, 'UTC')
                 + make_interval(hours => (g[3]::int - 1) * 24 + coalesce(g[4]::int, 0),
                                 mins => coalesce(g[5]::int, 0)
                                         - CASE g[7] WHEN '-' THEN -1 ELSE 1 END
                                           * (coalesce(g[8]::int, 0) * 60 + coalesce(g[9]::int, 0)),
                                 secs => coalesce(g[6]::float8, 0))
          FROM regexp_match({column}, '{ISO_TEXT}') AS x(g))"
    )
}

/// The rows a rule changes (the table aliased `r`): old enough, not yet changed, and
/// not a held user. `$1` is the cutoff instant, `$2` the same in Unix seconds.
fn pending_condition(rule: &CheckedRule) -> Result<String> {
    let ts = format!("r.{}", rule.timestamp_column.quoted());
    let mut condition = match time_kind(&rule.timestamp_type) {
        TimeKind::Zoned => format!("{ts} < $1::timestamptz"),
        TimeKind::Naive | TimeKind::Date => format!("{ts} < ($1::timestamptz AT TIME ZONE 'UTC')"),
        TimeKind::Number => format!("{ts} < $2"),
        TimeKind::Text => format!("{} < $1::timestamptz", text_instant(&ts)),
        TimeKind::Boolean | TimeKind::Other => "FALSE".to_string(),
    };
    match rule.rule.strategy {
        RuleStrategy::Hard => {}
        RuleStrategy::Soft => {
            let marker = rule.columns[0].quoted();
            condition.push_str(&format!(" AND r.{marker} IS NULL"));
        }
        RuleStrategy::Anonymize => {
            let changed: Vec<String> = rule
                .columns
                .iter()
                .map(|c| format!("(r.{0} IS NOT NULL AND NOT starts_with(r.{0}::text, 'anon-'))", c.quoted()))
                .collect();
            condition.push_str(&format!(" AND ({})", changed.join(" OR ")));
        }
    }
    if rule.skip_held_users {
        condition.push_str(&format!(
            " AND r.{} NOT IN (SELECT user_id FROM legal_holds WHERE released_at IS NULL AND user_id IS NOT NULL
                                UNION SELECT p.user_id FROM participants p JOIN conversations c ON c.id = p.conversation_id
                                      WHERE c.legal_hold
                                UNION SELECT p.user_id FROM participants p JOIN legal_holds h
                                      ON h.conversation_id = p.conversation_id AND h.released_at IS NULL)",
            key(rule)?
        ));
    }
    Ok(condition)
}

/// The rule's key column, quoted (`table_info` never reports a rowid here).
fn key(rule: &CheckedRule) -> Result<String> {
    match &rule.key {
        RowKey::Column(column) => Ok(column.quoted()),
        RowKey::Rowid => Err(StoreError::invalid(format!(
            "table {} has no rowid on PostgreSQL; table rules address rows by its primary key",
            rule.table.name()
        ))),
    }
}

/// The value a `soft` rule writes into its marker column (`$4` is now), by the marker's type.
fn marker_value(declared_type: &str) -> &'static str {
    match time_kind(declared_type) {
        TimeKind::Zoned => "$4::timestamptz",
        TimeKind::Naive => "($4::timestamptz AT TIME ZONE 'UTC')",
        TimeKind::Date => "($4::timestamptz AT TIME ZONE 'UTC')::date",
        TimeKind::Number => "extract(epoch FROM $4::timestamptz)",
        TimeKind::Boolean => "TRUE",
        TimeKind::Text | TimeKind::Other => "$4",
    }
}

const RULE_COLUMNS: &str =
    "id, table_name, timestamp_column, days::bigint, strategy, columns::text, gdpr_sensitive, enabled";

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<TableRule>> {
    let rows: Vec<RuleRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RULE_COLUMNS} FROM retention_rules ORDER BY id")))
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(rule).collect()
}

/// Stores a rule; `None` when there already is one for the same table and column.
pub(crate) async fn insert(conn: &mut PgConnection, rule: &TableRule, now: &str) -> Result<Option<i64>> {
    let columns = (!rule.columns.is_empty()).then(|| serde_json::to_string(&rule.columns).unwrap_or_default());
    Ok(sqlx::query_scalar(
        "INSERT INTO retention_rules (table_name, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled,
                                      created_at)
         VALUES ($1, $2, $3, $4, $5::json, $6, $7, $8::timestamptz)
         ON CONFLICT (table_name, timestamp_column) DO NOTHING
         RETURNING id",
    )
    .bind(&rule.table)
    .bind(&rule.timestamp_column)
    .bind(i64::from(rule.days))
    .bind(rule.strategy.as_str())
    .bind(columns)
    .bind(rule.gdpr_sensitive)
    .bind(rule.enabled)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

pub(crate) async fn delete(conn: &mut PgConnection, id: i64) -> Result<Option<TableRule>> {
    let row: Option<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM retention_rules WHERE id = $1 RETURNING {RULE_COLUMNS}"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(rule).transpose()
}

pub(crate) async fn pending(pool: &PgPool, rule: &CheckedRule, cutoff: &RuleCutoff) -> Result<i64> {
    let sql = format!("SELECT count(*) FROM {} r WHERE {}", rule.table.quoted(), pending_condition(rule)?);
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&cutoff.iso).bind(cutoff.unix).fetch_one(pool).await?)
}

pub(crate) async fn rows(
    pool: &PgPool,
    rule: &CheckedRule,
    cutoff: &RuleCutoff,
    limit: u32,
) -> Result<Vec<(i64, Vec<Option<String>>)>> {
    let values = match rule.rule.strategy {
        RuleStrategy::Anonymize => {
            let cast: Vec<String> = rule.columns.iter().map(|c| format!("r.{}::text", c.quoted())).collect();
            format!("ARRAY[{}]", cast.join(", "))
        }
        _ => "'{}'::text[]".to_string(),
    };
    let key = key(rule)?;
    let sql = format!(
        "SELECT r.{key}::bigint, {values} FROM {} r WHERE {} ORDER BY r.{key} LIMIT $3",
        rule.table.quoted(),
        pending_condition(rule)?
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&cutoff.iso)
        .bind(cutoff.unix)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?)
}

/// Applies a rule to a batch of rows in one statement, re-checking each row's age and holds.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    rule: &CheckedRule,
    cutoff: &RuleCutoff,
    rows: &[(i64, Vec<Option<String>>)],
    now: &str,
) -> Result<u64> {
    let table = rule.table.quoted();
    let key = key(rule)?;
    let condition = pending_condition(rule)?;
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let query = match rule.rule.strategy {
        RuleStrategy::Hard => {
            let sql = format!("DELETE FROM {table} r WHERE r.{key} = ANY($3) AND {condition}");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&cutoff.iso).bind(cutoff.unix).bind(ids)
        }
        RuleStrategy::Soft => {
            let sql = format!(
                "UPDATE {table} r SET {} = {} WHERE r.{key} = ANY($3) AND {condition}",
                rule.columns[0].quoted(),
                marker_value(&rule.column_types[0])
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&cutoff.iso).bind(cutoff.unix).bind(ids).bind(now)
        }
        RuleStrategy::Anonymize => {
            // The new values travel as one text array per column, zipped back to rows by unnest.
            let sets: Vec<String> =
                rule.columns.iter().enumerate().map(|(n, c)| format!("{} = v.ck_value_{n}", c.quoted())).collect();
            let arrays: Vec<String> = (0..rule.columns.len()).map(|n| format!("${}::text[]", n + 4)).collect();
            let names: Vec<String> = (0..rule.columns.len()).map(|n| format!("ck_value_{n}")).collect();
            let sql = format!(
                "UPDATE {table} r SET {}
                 FROM unnest($3::bigint[], {}) AS v(ck_row_key, {})
                 WHERE r.{key} = v.ck_row_key AND {condition}",
                sets.join(", "),
                arrays.join(", "),
                names.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&cutoff.iso).bind(cutoff.unix).bind(ids);
            for n in 0..rule.columns.len() {
                let column: Vec<Option<String>> =
                    rows.iter().map(|(_, values)| values.get(n).cloned().flatten()).collect();
                query = query.bind(column);
            }
            query
        }
    };
    Ok(query.execute(conn).await?.rows_affected())
}
