use sqlx::{SqliteConnection, SqlitePool};

use crate::rules::{CheckedRule, ColumnInfo, Ident, RowKey, RuleCutoff, RuleRow, TableInfo, rule};
use crate::{Result, StoreError};
use chatkeep_domain::rule::{RuleStrategy, TableRule};

use super::retention::ids_json;

pub(crate) async fn table_info(pool: &SqlitePool, table: &str) -> Result<Option<TableInfo>> {
    let found: Option<(String, i64)> =
        sqlx::query_as("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = $1")
            .bind(table)
            .fetch_optional(pool)
            .await?;
    let Some((name, without_rowid)) = found else {
        return Ok(None);
    };
    // Each column, and whether it is keyed: in the primary key, a unique index, or a
    // foreign key of this table or of another table that refers to this one.
    let columns: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT c.name, upper(c.type),
                c.pk > 0
                OR EXISTS (SELECT 1 FROM pragma_index_list($1) il JOIN pragma_index_info(il.name) ii
                           WHERE il.\"unique\" AND ii.name = c.name)
                OR EXISTS (SELECT 1 FROM pragma_foreign_key_list($1) fk WHERE fk.\"from\" = c.name)
                OR EXISTS (SELECT 1 FROM pragma_table_list tl, pragma_foreign_key_list(tl.name) fk
                           WHERE tl.schema = 'main' AND tl.type = 'table' AND fk.\"table\" = $1
                             AND fk.\"to\" = c.name)
         FROM pragma_table_info($1) c ORDER BY c.cid",
    )
    .bind(&name)
    .fetch_all(pool)
    .await?;
    let key = if without_rowid == 0 {
        Ok(RowKey::Rowid)
    } else {
        Err(format!("table {name} is WITHOUT ROWID; table rules need a rowid table"))
    };
    Ok(Some(TableInfo {
        name: Ident::from_schema(name),
        key,
        columns: columns
            .into_iter()
            .map(|(name, declared_type, keyed)| ColumnInfo { name: Ident::from_schema(name), declared_type, keyed })
            .collect(),
    }))
}

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<TableRule>> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT id, table_name, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled
         FROM retention_rules ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(rule).collect()
}

/// Stores a rule; `None` when there already is one for the same table and column.
pub(crate) async fn insert(conn: &mut SqliteConnection, rule: &TableRule, now: &str) -> Result<Option<i64>> {
    let columns = (!rule.columns.is_empty()).then(|| serde_json::to_string(&rule.columns).unwrap_or_default());
    Ok(sqlx::query_scalar(
        "INSERT INTO retention_rules (table_name, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled,
                                      created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (table_name, timestamp_column) DO NOTHING
         RETURNING id",
    )
    .bind(&rule.table)
    .bind(&rule.timestamp_column)
    .bind(rule.days)
    .bind(rule.strategy.as_str())
    .bind(columns)
    .bind(rule.gdpr_sensitive)
    .bind(rule.enabled)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

pub(crate) async fn delete(conn: &mut SqliteConnection, id: i64) -> Result<Option<TableRule>> {
    let row: Option<RuleRow> = sqlx::query_as(
        "DELETE FROM retention_rules WHERE id = $1
         RETURNING id, table_name, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(rule).transpose()
}

/// The rows a rule changes: old enough (text timestamps by calendar, numbers as
/// Unix seconds), not yet changed, and not a held user.
fn pending_condition(rule: &CheckedRule) -> String {
    let ts = rule.timestamp_column.quoted();
    let mut condition = format!(
        "((typeof({ts}) IN ('integer', 'real') AND {ts} < $2)
          OR (typeof({ts}) = 'text' AND julianday({ts}) < julianday($1)))"
    );
    match rule.rule.strategy {
        RuleStrategy::Hard => {}
        RuleStrategy::Soft => {
            let marker = rule.columns[0].quoted();
            condition.push_str(&format!(" AND {marker} IS NULL"));
        }
        RuleStrategy::Anonymize => {
            let changed: Vec<String> = rule
                .columns
                .iter()
                .map(|c| format!("({0} IS NOT NULL AND {0} NOT GLOB 'anon-*')", c.quoted()))
                .collect();
            condition.push_str(&format!(" AND ({})", changed.join(" OR ")));
        }
    }
    if rule.skip_held_users {
        condition.push_str(
            " AND rowid NOT IN (SELECT user_id FROM legal_holds WHERE released_at IS NULL AND user_id IS NOT NULL
                                UNION SELECT p.user_id FROM participants p JOIN conversations c ON c.id = p.conversation_id
                                      WHERE c.legal_hold = 1
                                UNION SELECT p.user_id FROM participants p JOIN legal_holds h
                                      ON h.conversation_id = p.conversation_id AND h.released_at IS NULL)",
        );
    }
    condition
}

pub(crate) async fn pending(pool: &SqlitePool, rule: &CheckedRule, cutoff: &RuleCutoff) -> Result<i64> {
    let sql = format!("SELECT count(*) FROM {} WHERE {}", rule.table.quoted(), pending_condition(rule));
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&cutoff.iso).bind(cutoff.unix).fetch_one(pool).await?)
}

pub(crate) async fn rows(
    pool: &SqlitePool,
    rule: &CheckedRule,
    cutoff: &RuleCutoff,
    limit: u32,
) -> Result<Vec<(i64, Vec<Option<String>>)>> {
    let values = match rule.rule.strategy {
        RuleStrategy::Anonymize => {
            let cast: Vec<String> = rule.columns.iter().map(|c| format!("CAST({} AS TEXT)", c.quoted())).collect();
            format!("json_array({})", cast.join(", "))
        }
        _ => "'[]'".to_string(),
    };
    let sql = format!(
        "SELECT rowid, {values} FROM {} WHERE {} ORDER BY rowid LIMIT $3",
        rule.table.quoted(),
        pending_condition(rule)
    );
    let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&cutoff.iso)
        .bind(cutoff.unix)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|(rowid, values)| {
            let values: Vec<Option<String>> = serde_json::from_str(&values).map_err(|e| {
                StoreError::invalid(format!("{}: row {rowid} could not be read ({e})", rule.table.name()))
            })?;
            Ok((rowid, values))
        })
        .collect()
}

pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    rule: &CheckedRule,
    cutoff: &RuleCutoff,
    rows: &[(i64, Vec<Option<String>>)],
    now: &str,
) -> Result<u64> {
    let table = rule.table.quoted();
    let condition = pending_condition(rule);
    match rule.rule.strategy {
        RuleStrategy::Hard | RuleStrategy::Soft => {
            let ids: Vec<i64> = rows.iter().map(|(rowid, _)| *rowid).collect();
            let sql = match rule.rule.strategy {
                RuleStrategy::Hard => {
                    format!("DELETE FROM {table} WHERE rowid IN (SELECT value FROM json_each($3)) AND {condition}")
                }
                _ => format!(
                    "UPDATE {table} SET {} = $4 WHERE rowid IN (SELECT value FROM json_each($3)) AND {condition}",
                    rule.columns[0].quoted()
                ),
            };
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&cutoff.iso)
                .bind(cutoff.unix)
                .bind(ids_json(&ids))
                .bind(now)
                .execute(conn)
                .await?
                .rows_affected())
        }
        RuleStrategy::Anonymize => {
            let sets: Vec<String> =
                rule.columns.iter().enumerate().map(|(n, c)| format!("{} = ${}", c.quoted(), n + 4)).collect();
            let sql = format!("UPDATE {table} SET {} WHERE rowid = $3 AND {condition}", sets.join(", "));
            let mut changed = 0;
            for (rowid, values) in rows {
                let mut query =
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(&cutoff.iso).bind(cutoff.unix).bind(*rowid);
                for value in values {
                    query = query.bind(value.clone());
                }
                changed += query.execute(&mut *conn).await?.rows_affected();
            }
            Ok(changed)
        }
    }
}
