//! Reading a PostgreSQL schema from the catalogs (`pg_attribute`, `pg_index`, `pg_constraint`).

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::schema::{Column, ColumnKind, ForeignKey, Table};
use crate::{DatabaseUrl, Result, StoreError};

pub(crate) async fn inspect(url: &DatabaseUrl, schema: Option<&str>) -> Result<Vec<Table>> {
    let DatabaseUrl::Postgres(text) = url else {
        return Err(StoreError::invalid("not a PostgreSQL URL"));
    };
    let options = PgConnectOptions::from_str(text).map_err(|source| super::open_error(url, source))?;
    let mut conn = options.connect().await.map_err(|source| super::open_error(url, source))?;
    // Nothing is written: a read-only transaction says so to the server as well.
    let mut tx = conn.begin_with("BEGIN READ ONLY").await?;
    let schema: String =
        sqlx::query_scalar("SELECT coalesce($1, current_schema())::text").bind(schema).fetch_one(&mut *tx).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut *tx)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let relation = "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relname = $2)";
        let raw: Vec<(String, String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text, NOT a.attnotnull
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = {relation} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )))
        .bind(&schema)
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let columns = raw
            .into_iter()
            .map(|(column, declared, type_name, nullable)| Column {
                name: column,
                declared,
                kind: kind_of(&type_name),
                nullable,
            })
            .collect();
        let listed: Vec<(bool, bool, Vec<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT i.indisunique, i.indisprimary,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          ORDER BY k.ord)
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = {relation} ORDER BY ic.relname"
        )))
        .bind(&schema)
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let (mut primary_key, mut unique, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
        for (is_unique, is_primary, columns) in listed {
            if columns.is_empty() {
                continue;
            }
            if is_primary {
                primary_key = columns.clone();
            } else if is_unique {
                unique.push(columns.clone());
            }
            indexes.push(columns);
        }
        let keys: Vec<(Vec<String>, String, Vec<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
                    parent.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
             FROM pg_constraint con JOIN pg_class parent ON parent.oid = con.confrelid
             WHERE con.contype = 'f' AND con.conrelid = {relation} ORDER BY con.conname"
        )))
        .bind(&schema)
        .bind(&name)
        .fetch_all(&mut *tx)
        .await?;
        let foreign_keys = keys
            .into_iter()
            .map(|(columns, references_table, references_columns)| ForeignKey {
                columns,
                references_table,
                references_columns,
            })
            .collect();
        tables.push(Table { name, columns, primary_key, unique, indexes, foreign_keys });
    }
    tx.rollback().await?;
    let _ = conn.close().await;
    Ok(tables)
}

fn kind_of(type_name: &str) -> ColumnKind {
    match type_name {
        "int2" | "int4" | "int8" => ColumnKind::Integer,
        "float4" | "float8" | "numeric" => ColumnKind::Real,
        "text" | "varchar" | "bpchar" | "name" | "citext" => ColumnKind::Text,
        "bool" => ColumnKind::Boolean,
        "timestamp" | "date" => ColumnKind::Timestamp,
        "timestamptz" => ColumnKind::TimestampTz,
        "json" | "jsonb" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        "bytea" => ColumnKind::Bytes,
        _ => ColumnKind::Other,
    }
}
