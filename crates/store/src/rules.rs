//! Table rules' storage: the `retention_rules` rows, the live schema they are
//! checked against, and the batched statements that apply them.
//!
//! Table and column names reach SQL only as [`Ident`]s, and an `Ident` can
//! only be made from a name the live schema itself reported.

use super::{Store, Tx};
use crate::{Result, StoreError};
use chatkeep_domain::rule::{RuleStrategy, TableRule};

/// A table or column name taken from the live schema, quoted when written into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    pub(crate) fn from_schema(name: String) -> Ident {
        Ident(name)
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The name as an SQL identifier: double-quoted, inner quotes doubled.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: Ident,
    /// The declared type, upper-cased (may be empty).
    pub declared_type: String,
    /// Part of the primary key, of a unique index or constraint, or of a foreign key
    /// (either side): a value that identifies or links rows, which no rule may rewrite.
    pub keyed: bool,
}

/// How a rule addresses one row of its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    /// SQLite's rowid.
    Rowid,
    /// A single-column integer primary key (PostgreSQL, which has no rowid).
    Column(Ident),
}

#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: Ident,
    /// How rules address its rows, or why they cannot (a sentence naming the table).
    pub key: std::result::Result<RowKey, String>,
    pub columns: Vec<ColumnInfo>,
}

impl TableInfo {
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name.name() == name)
    }
}

/// A rule whose names were found in the live schema.
#[derive(Debug, Clone)]
pub struct CheckedRule {
    pub rule: TableRule,
    pub table: Ident,
    pub key: RowKey,
    pub timestamp_column: Ident,
    /// The timestamp column's declared type, upper-cased: how its values compare with the cutoff.
    pub timestamp_type: String,
    /// The marker column (`soft`) or the columns to overwrite (`anonymize`).
    pub columns: Vec<Ident>,
    /// The declared types of `columns`, upper-cased, in the same order.
    pub column_types: Vec<String>,
    /// Rows of `users` under a legal hold are left alone.
    pub skip_held_users: bool,
}

/// Rows older than a rule's cutoff: the same instant as ISO 8601 text and as Unix seconds,
/// so text and numeric timestamp columns compare correctly.
#[derive(Debug, Clone)]
pub struct RuleCutoff {
    pub iso: String,
    pub unix: i64,
}

impl Store {
    /// The table's columns, or `None` if no such table exists.
    pub async fn table_info(&self, table: &str) -> Result<Option<TableInfo>> {
        on_engine!(self, Store(pool) => rules::table_info(pool, table).await)
    }

    /// Rules stored in `retention_rules`, by id.
    pub async fn table_rules(&self) -> Result<Vec<TableRule>> {
        on_engine!(self, Store(pool) => rules::list(pool).await)
    }

    /// How many rows a rule would change now.
    pub async fn rule_pending(&self, rule: &CheckedRule, cutoff: &RuleCutoff) -> Result<i64> {
        on_engine!(self, Store(pool) => rules::pending(pool, rule, cutoff).await)
    }

    /// Up to `limit` rows a rule would change: the row's key and (for `anonymize`) the current values.
    pub async fn rule_rows(
        &self,
        rule: &CheckedRule,
        cutoff: &RuleCutoff,
        limit: u32,
    ) -> Result<Vec<(i64, Vec<Option<String>>)>> {
        on_engine!(self, Store(pool) => rules::rows(pool, rule, cutoff, limit).await)
    }
}

impl Tx<'_> {
    /// Stores a rule; `None` when one for the same table and column already exists.
    pub async fn insert_rule(&mut self, rule: &TableRule, now: &str) -> Result<Option<i64>> {
        on_engine!(self, Tx(tx) => rules::insert(tx, rule, now).await)
    }

    pub async fn delete_rule(&mut self, id: i64) -> Result<Option<TableRule>> {
        on_engine!(self, Tx(tx) => rules::delete(tx, id).await)
    }

    /// Applies a rule to a batch of rows (re-checking age and holds); `values`
    /// carries the new column values for `anonymize`. Returns rows changed.
    pub async fn apply_rule(
        &mut self,
        rule: &CheckedRule,
        cutoff: &RuleCutoff,
        rows: &[(i64, Vec<Option<String>>)],
        now: &str,
    ) -> Result<u64> {
        on_engine!(self, Tx(tx) => rules::apply(tx, rule, cutoff, rows, now).await)
    }
}

// ---- shared by both engines ----

/// A `retention_rules` row: id, table, timestamp column, days, strategy, columns (JSON text),
/// GDPR-sensitive, enabled.
pub(super) type RuleRow = (i64, String, String, i64, String, Option<String>, bool, bool);

pub(super) fn rule(
    (id, table, timestamp_column, days, strategy, columns, gdpr_sensitive, enabled): RuleRow,
) -> Result<TableRule> {
    let strategy = strategy.parse::<RuleStrategy>().map_err(StoreError::invalid)?;
    let columns = match columns {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::invalid(format!("retention rule #{id}: its columns are not a JSON list ({e})")))?,
        None => Vec::new(),
    };
    Ok(TableRule {
        id: Some(id),
        table,
        timestamp_column,
        days: u32::try_from(days).unwrap_or(0),
        strategy,
        columns,
        gdpr_sensitive,
        enabled,
    })
}
