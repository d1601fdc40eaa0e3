//! Reading a SQLite database's own schema (`sqlite_schema` and the table-valued pragmas).

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::schema::{Column, ColumnKind, ForeignKey, Table};
use crate::{DatabaseUrl, Result, StoreError};

pub(crate) async fn inspect(url: &DatabaseUrl) -> Result<Vec<Table>> {
    let DatabaseUrl::Sqlite(path) = url else {
        return Err(StoreError::invalid("an in-memory database has no schema of a chat service to read"));
    };
    if !path.is_file() {
        return Err(StoreError::invalid(format!(
            "{} does not exist: name the chat service's database file",
            path.display()
        )));
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|source| super::open_error(url, source))?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let raw: Vec<(String, String, bool, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&mut conn)
                .await?;
        let mut keyed: Vec<(i64, String)> = raw.iter().filter(|c| c.3 > 0).map(|c| (c.3, c.0.clone())).collect();
        keyed.sort();
        let primary_key: Vec<String> = keyed.into_iter().map(|(_, c)| c).collect();
        let columns = raw
            .into_iter()
            .map(|(column, declared, not_null, pk)| Column {
                kind: kind_of(&declared),
                name: column,
                declared,
                // A lone INTEGER PRIMARY KEY is the rowid: never null, whatever it declares.
                nullable: !not_null && pk == 0,
            })
            .collect();
        let listed: Vec<(String, bool, String)> =
            sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list($1) ORDER BY name")
                .bind(&name)
                .fetch_all(&mut conn)
                .await?;
        let (mut indexes, mut unique) = (Vec::new(), Vec::new());
        for (index, is_unique, origin) in listed {
            let columns: Vec<Option<String>> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut conn)
                    .await?;
            // An expression in an index has no column name; the columns before it still lead.
            let columns: Vec<String> = columns.into_iter().map_while(|c| c).collect();
            if columns.is_empty() {
                continue;
            }
            if is_unique && origin != "pk" {
                unique.push(columns.clone());
            }
            indexes.push(columns);
        }
        let links: Vec<(i64, String, String, Option<String>)> =
            sqlx::query_as("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list($1) ORDER BY id, seq")
                .bind(&name)
                .fetch_all(&mut conn)
                .await?;
        let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
        for (id, parent, from, to) in links {
            match foreign_keys.last_mut() {
                Some((last, key)) if *last == id => {
                    key.columns.push(from);
                    key.references_columns.extend(to);
                }
                _ => foreign_keys.push((
                    id,
                    ForeignKey {
                        columns: vec![from],
                        references_table: parent,
                        references_columns: to.into_iter().collect(),
                    },
                )),
            }
        }
        tables.push(Table {
            name,
            columns,
            primary_key,
            unique,
            indexes,
            foreign_keys: foreign_keys.into_iter().map(|(_, k)| k).collect(),
        });
    }
    let _ = sqlx::Connection::close(conn).await;
    // A foreign key that names no parent columns refers to the parent's primary key.
    let keys: Vec<(String, Vec<String>)> = tables.iter().map(|t| (t.name.clone(), t.primary_key.clone())).collect();
    for key in tables.iter_mut().flat_map(|t| t.foreign_keys.iter_mut()) {
        if key.references_columns.is_empty()
            && let Some((_, pk)) = keys.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key.references_table))
        {
            key.references_columns = pk.clone();
        }
    }
    Ok(tables)
}

/// A declared type read the way SQLite's affinity rules read it, with the names
/// applications use for dates, JSON and UUIDs told apart.
fn kind_of(declared: &str) -> ColumnKind {
    let t = declared.to_ascii_uppercase();
    if t.contains("BOOL") {
        ColumnKind::Boolean
    } else if t.contains("DATE") || t.contains("TIME") {
        ColumnKind::Timestamp
    } else if t.contains("JSON") {
        ColumnKind::Json
    } else if t.contains("UUID") {
        ColumnKind::Uuid
    } else if t.contains("INT") {
        ColumnKind::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        ColumnKind::Text
    } else if t.contains("BLOB") {
        ColumnKind::Bytes
    } else if t.contains("REAL")
        || t.contains("FLOA")
        || t.contains("DOUB")
        || t.contains("NUMERIC")
        || t.contains("DECIMAL")
    {
        ColumnKind::Real
    } else {
        ColumnKind::Other
    }
}
