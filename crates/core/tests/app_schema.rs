#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! A chat service's own schema, read the way chatkeep will read it before working on
//! the service's tables: the Laravel chatbot and the Prisma session shapes on SQLite
//! and PostgreSQL, each created with the service's own SQL. Reading changes nothing.
mod common;

use chatkeep_core::config::DatabaseUrl;
use chatkeep_core::store::schema::{AppSchema, ColumnKind, ForeignKey, inspect};
use chatkeep_core::store::sqlx;
use common::{PgDb, run_tool};

const LARAVEL_SQLITE: &str = r#"
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL,
                    email VARCHAR(255) NOT NULL UNIQUE, created_at DATETIME, updated_at DATETIME);
CREATE TABLE chatbot_conversations (id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL, session_id VARCHAR(255) NOT NULL,
                    context TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE chatbot_messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
                    conversation_id INTEGER NOT NULL REFERENCES chatbot_conversations(id) ON DELETE CASCADE,
                    role VARCHAR(255) NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
                    message TEXT NOT NULL, tokens_used INTEGER, created_at DATETIME);
CREATE INDEX chatbot_messages_conversation_id_created_at_index ON chatbot_messages (conversation_id, created_at);
CREATE INDEX chatbot_messages_created_at_index ON chatbot_messages (created_at);
CREATE INDEX chatbot_conversations_user_id_created_at_index ON chatbot_conversations (user_id, created_at);
"#;

const LARAVEL_POSTGRES: &str = r#"
CREATE TABLE users (id bigserial PRIMARY KEY, name varchar(255) NOT NULL, email varchar(255) NOT NULL UNIQUE,
                    created_at timestamp(0) without time zone, updated_at timestamp(0) without time zone);
CREATE TABLE chatbot_conversations (id bigserial PRIMARY KEY,
                    user_id bigint REFERENCES users(id) ON DELETE SET NULL, session_id varchar(255) NOT NULL,
                    context json, created_at timestamp(0), updated_at timestamp(0));
CREATE TABLE chatbot_messages (id bigserial PRIMARY KEY,
                    conversation_id bigint NOT NULL REFERENCES chatbot_conversations(id) ON DELETE CASCADE,
                    role varchar(255) NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
                    message text NOT NULL, tokens_used integer, created_at timestamp(0));
CREATE INDEX chatbot_messages_conversation_id_created_at_index ON chatbot_messages (conversation_id, created_at);
CREATE INDEX chatbot_messages_created_at_index ON chatbot_messages (created_at);
CREATE INDEX chatbot_conversations_user_id_created_at_index ON chatbot_conversations (user_id, created_at);
"#;

const PRISMA_SQLITE: &str = r#"
CREATE TABLE "User" ("id" TEXT NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "ChatSession" ("id" TEXT NOT NULL PRIMARY KEY, "userId" TEXT NOT NULL, "title" TEXT,
    "messages" TEXT NOT NULL, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "ChatSession_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE);
CREATE INDEX "ChatSession_userId_idx" ON "ChatSession"("userId");
"#;

const PRISMA_POSTGRES: &str = r#"
CREATE TABLE "User" ("id" TEXT NOT NULL, "email" TEXT NOT NULL, "name" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "ChatSession" ("id" TEXT NOT NULL, "userId" TEXT NOT NULL, "title" TEXT, "messages" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "ChatSession_pkey" PRIMARY KEY ("id"));
CREATE INDEX "ChatSession_userId_idx" ON "ChatSession"("userId");
ALTER TABLE "ChatSession" ADD CONSTRAINT "ChatSession_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id")
    ON DELETE RESTRICT ON UPDATE CASCADE;
"#;

/// The app's database on each engine, made with its own SQL: a SQLite file always,
/// a PostgreSQL database when a server answers. Returns (engine, URL, the server database).
async fn apps(test: &str, sqlite_sql: &str, postgres_sql: &str) -> Vec<(&'static str, DatabaseUrl, Option<PgDb>)> {
    let dir = tempfile::tempdir().unwrap().keep();
    let file = dir.join("app.db");
    run_tool("sqlite3", &[file.to_str().unwrap(), sqlite_sql], &dir);
    let mut apps = vec![("sqlite", DatabaseUrl::Sqlite(file), None)];
    if let Some(db) = PgDb::new(test).await {
        db.create_empty().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(postgres_sql.to_string())).execute(&mut db.raw().await).await.unwrap();
        apps.push(("postgres", db.url.clone(), Some(db)));
    }
    apps
}

fn fk(columns: &[&str], table: &str, references: &[&str]) -> ForeignKey {
    ForeignKey {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        references_table: table.into(),
        references_columns: references.iter().map(|c| c.to_string()).collect(),
    }
}

fn names(schema: &AppSchema) -> Vec<&str> {
    schema.tables.iter().map(|t| t.name.as_str()).collect()
}

fn v(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

#[tokio::test]
async fn a_laravel_chatbot_schema_reads_the_same_on_both_engines() {
    for (e, url, _db) in apps("laravel_schema", LARAVEL_SQLITE, LARAVEL_POSTGRES).await {
        let schema = inspect(&url, None).await.unwrap();
        let sqlite_own: Vec<&str> = names(&schema).into_iter().filter(|n| *n != "sqlite_sequence").collect();
        assert_eq!(sqlite_own, ["chatbot_conversations", "chatbot_messages", "users"], "{e}");

        let users = schema.table("users").unwrap();
        assert_eq!(users.primary_key, v(&["id"]), "{e}");
        assert!(users.unique.contains(&v(&["email"])), "{e}: {:?}", users.unique);
        let kinds: Vec<(&str, ColumnKind, bool)> =
            users.columns.iter().map(|c| (c.name.as_str(), c.kind, c.nullable)).collect();
        assert_eq!(
            kinds,
            [
                ("id", ColumnKind::Integer, false),
                ("name", ColumnKind::Text, false),
                ("email", ColumnKind::Text, false),
                ("created_at", ColumnKind::Timestamp, true),
                ("updated_at", ColumnKind::Timestamp, true),
            ],
            "{e}"
        );

        let conversations = schema.table("chatbot_conversations").unwrap();
        assert_eq!(conversations.foreign_keys, [fk(&["user_id"], "users", &["id"])], "{e}");
        assert!(conversations.indexes.contains(&v(&["user_id", "created_at"])), "{e}");
        let context = conversations.column("context").unwrap().kind;
        assert_eq!(context, if e == "postgres" { ColumnKind::Json } else { ColumnKind::Text }, "{e}");

        let messages = schema.table("chatbot_messages").unwrap();
        assert_eq!(messages.foreign_keys, [fk(&["conversation_id"], "chatbot_conversations", &["id"])], "{e}");
        assert!(messages.indexes.contains(&v(&["conversation_id", "created_at"])), "{e}: {:?}", messages.indexes);
        assert!(messages.indexes.contains(&v(&["created_at"])), "{e}");
        assert_eq!(messages.column("tokens_used").map(|c| (c.kind, c.nullable)), Some((ColumnKind::Integer, true)));
    }
}

#[tokio::test]
async fn a_prisma_schema_with_quoted_camel_case_names_reads_the_same_on_both_engines() {
    for (e, url, _db) in apps("prisma_schema", PRISMA_SQLITE, PRISMA_POSTGRES).await {
        let schema = inspect(&url, None).await.unwrap();
        assert_eq!(names(&schema), ["ChatSession", "User"], "{e}");
        let user = schema.table("User").unwrap();
        assert_eq!(user.primary_key, v(&["id"]), "{e}");
        assert_eq!(user.column("id").unwrap().kind, ColumnKind::Text, "{e}: cuid keys are text");
        assert!(user.unique.contains(&v(&["email"])), "{e}");
        let session = schema.table("ChatSession").unwrap();
        assert_eq!(session.foreign_keys, [fk(&["userId"], "User", &["id"])], "{e}");
        assert!(session.indexes.contains(&v(&["userId"])), "{e}");
        assert_eq!(session.column("createdAt").unwrap().kind, ColumnKind::Timestamp, "{e}");
        let messages = session.column("messages").unwrap().kind;
        assert_eq!(messages, if e == "postgres" { ColumnKind::Json } else { ColumnKind::Text }, "{e}");
    }
}

#[tokio::test]
async fn reading_a_schema_changes_nothing_and_a_missing_file_is_named() {
    for (e, url, db) in apps("schema_untouched", LARAVEL_SQLITE, LARAVEL_POSTGRES).await {
        let before = dump(&url, db.as_ref());
        inspect(&url, None).await.unwrap();
        assert_eq!(dump(&url, db.as_ref()), before, "{e}: the app's schema and rows are as they were");
        let schema = inspect(&url, None).await.unwrap();
        assert!(schema.table("_sqlx_migrations").is_none(), "{e}: chatkeep created nothing of its own");
    }
    let missing = DatabaseUrl::Sqlite("/nonexistent/app.db".into());
    let err = inspect(&missing, None).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/app.db does not exist"), "{err}");
}

/// The whole database as its own tools print it.
fn dump(url: &DatabaseUrl, db: Option<&PgDb>) -> String {
    match (url, db) {
        (DatabaseUrl::Sqlite(path), _) => {
            run_tool("sqlite3", &[path.to_str().unwrap(), ".dump"], std::path::Path::new("."))
        }
        // pg_dump fences its output with a random key per run (`\restrict KEY`): not the schema.
        (_, Some(db)) => run_tool(&newest_pg_dump(), &["--schema-only", &db.url_text()], std::path::Path::new("."))
            .lines()
            .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => unreachable!(),
    }
}

/// The newest `pg_dump` installed (it must be at least as new as the server).
fn newest_pg_dump() -> String {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin/pg_dump")).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.components().rev().nth(2).and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok()).unwrap_or(0)
    });
    found.pop().map_or_else(|| "pg_dump".to_string(), |p| p.display().to_string())
}
