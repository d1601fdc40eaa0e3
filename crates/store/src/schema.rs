//! A chat service's own schema, as chatkeep reads it before it works on the service's
//! tables: each table's columns (with the engine's declared type and a kind chatkeep can
//! reason about), primary key, unique column sets, indexes and foreign keys.
//!
//! Reading opens its own read-only connection and runs no migration: the database may
//! belong to the chat service alone, and chatkeep never changes it to look at it.

use serde::Serialize;

use crate::{DatabaseUrl, Result};

/// The tables of one database (on PostgreSQL, of one schema), by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSchema {
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key's columns, in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// Column sets a unique constraint or index holds to (the primary key not repeated).
    pub unique: Vec<Vec<String>>,
    /// Every index's leading columns, in index order (unique ones included).
    pub indexes: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// The type as the engine declares it (`varchar(255)`, `timestamp(3) without time zone`, `TEXT`).
    pub declared: String,
    pub kind: ColumnKind,
    pub nullable: bool,
}

/// What a column holds, as far as chatkeep needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Integer,
    Real,
    Text,
    Boolean,
    /// A date and time without a zone (PostgreSQL `timestamp`; SQLite `DATETIME` and kin).
    Timestamp,
    /// An instant (PostgreSQL `timestamptz`).
    TimestampTz,
    Json,
    Uuid,
    Bytes,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub references_table: String,
    pub references_columns: Vec<String>,
}

impl AppSchema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Reads the schema of the database `url` names; on PostgreSQL, of `schema` (the
/// connection's current schema when `None`).
pub async fn inspect(url: &DatabaseUrl, schema: Option<&str>) -> Result<AppSchema> {
    let mut tables = match url {
        DatabaseUrl::Sqlite(_) | DatabaseUrl::SqliteMemory => crate::sqlite::schema::inspect(url).await?,
        DatabaseUrl::Postgres(_) => crate::postgres::schema::inspect(url, schema).await?,
    };
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(AppSchema { tables })
}
