//! SQL written once for both engines.
//!
//! `both_engines! { ... }` compiles the functions inside twice, as the submodules
//! `sqlite` and `postgres` of the noun that holds them, each with its engine's
//! database and connection types (`Db`, `Conn`, `Pool`), its module (`engine`) and its words for the few places where the
//! two dialects differ. The queries are string literals either way (`concat!`),
//! so each engine's SQL is fixed at compile time, as if written by hand.
//!
//! | in the query      | SQLite           | PostgreSQL                  |
//! |-------------------|------------------|-----------------------------|
//! | `ts!(N)`          | `$N`             | `$N::timestamptz`           |
//! | `json!(N)`        | `$N`             | `$N::json`                  |
//! | `text!(N)`        | `$N`             | `$N::text` (a NULL's type)  |
//! | `ts_of!("col")`   | `col`            | `ck_ts(col)` (stored shape) |
//! | `text_of!("col")` | `col`            | `col::text`                 |
//!
//! Where more than these words differ, the engine's own file (`sqlite/NOUN.rs`,
//! `postgres/NOUN.rs`) holds its version, and re-exports the shared ones.

macro_rules! both_engines {
    ($($item:item)*) => {
        pub(crate) mod sqlite {
            #![allow(unused_imports, unused_macros, dead_code)]
            use super::*;
            use crate::sqlite as engine;
            type Db = sqlx::Sqlite;
            type Conn = sqlx::SqliteConnection;
            type Pool = sqlx::SqlitePool;
            macro_rules! ts { ($n:literal) => { concat!("$", $n) }; }
            macro_rules! json { ($n:literal) => { concat!("$", $n) }; }
            macro_rules! text { ($n:literal) => { concat!("$", $n) }; }
            macro_rules! ts_of { ($e:literal) => { $e }; }
            macro_rules! text_of { ($e:literal) => { $e }; }
            $($item)*
        }
        pub(crate) mod postgres {
            #![allow(unused_imports, unused_macros, dead_code)]
            use super::*;
            use crate::postgres as engine;
            type Db = sqlx::Postgres;
            type Conn = sqlx::PgConnection;
            type Pool = sqlx::PgPool;
            macro_rules! ts { ($n:literal) => { concat!("$", $n, "::timestamptz") }; }
            macro_rules! json { ($n:literal) => { concat!("$", $n, "::json") }; }
            macro_rules! text { ($n:literal) => { concat!("$", $n, "::text") }; }
            macro_rules! ts_of { ($e:literal) => { concat!("ck_ts(", $e, ")") }; }
            macro_rules! text_of { ($e:literal) => { concat!($e, "::text") }; }
            $($item)*
        }
    };
}
