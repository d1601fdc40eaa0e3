//! Retention throughput on PostgreSQL beside a bare `DELETE`, with a chat service writing.
//!
//! `bench/retention.sh --postgres` runs it (release build). The server is
//! `CHATKEEP_BENCH_PG_URL` (default the local one); the benchmark seeds a
//! database `chatkeep_bench_seeded` (kept, and reused by later runs), puts every
//! conversation on the default policy with the days chosen so that 40% of messages
//! are past it, and copies it (`CREATE DATABASE ... TEMPLATE`) for each contender.
//! While each runs, a second connection inserts a message every millisecond and
//! records how long each insert took:
//!
//! - bare: one transaction deleting every expired message (read receipts first,
//!   replies unlinked), as a hand-written cleanup would;
//! - chatkeep: `retention run` expiring those messages, then a second run
//!   (grace 0, a moment later) purging them, in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chatkeep_core::config::DatabaseUrl;
use chatkeep_core::domain::Actor;
use chatkeep_core::events::NoEvents;
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::retention::{Retention, RunHooks};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::store::sqlx;
use chatkeep_core::time::to_db;
use chatkeep_core::{FixedClock, Store};
use chrono::{Duration, TimeZone, Utc};
use sqlx::{Connection, PgConnection};

mod common;

use common::{Latency, Result, Samples};

const SEEDED: &str = "chatkeep_bench_seeded";

#[tokio::main]
async fn main() -> Result<()> {
    let messages: u64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let batch_size: u32 = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let admin = std::env::var("CHATKEEP_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let url_of = |db: &str| format!("{}/{db}", admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin));
    let until = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).single().ok_or("date")?;
    let mut server = PgConnection::connect(&admin).await?;

    let seeded_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(SEEDED)
        .fetch_one(&mut server)
        .await?;
    if seeded_exists {
        eprintln!("reusing database {SEEDED}");
    } else {
        eprintln!("seeding {messages} messages into {SEEDED}...");
        let store = Store::open(&DatabaseUrl::Postgres(url_of(SEEDED))).await?;
        let clock = FixedClock::new(until);
        let options = SeedOptions { conversations: messages / 10, messages, months: 12, seed: 1, until };
        seed_demo(&store, &options, Actor::Cli, &clock, &NoProgress).await?;
        store.close().await;
    }
    let mut conn = PgConnection::connect(&url_of(SEEDED)).await?;
    let messages = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages").fetch_one(&mut conn).await? as u64;
    sqlx::query("UPDATE conversations SET retention_policy = NULL WHERE retention_policy IS NOT NULL")
        .execute(&mut conn)
        .await?;
    let cutoff: String =
        sqlx::query_scalar("SELECT ck_ts(created_at) FROM messages ORDER BY created_at LIMIT 1 OFFSET $1")
            .bind((messages * 4 / 10) as i64)
            .fetch_one(&mut conn)
            .await?;
    let cutoff_at = chatkeep_core::time::from_db(&cutoff).ok_or("cutoff")?;
    let days = (until - cutoff_at).num_days() as u32;
    let cutoff = to_db(until - Duration::days(i64::from(days)));
    let past: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE created_at < $1::timestamptz")
        .bind(&cutoff)
        .fetch_one(&mut conn)
        .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    eprintln!(
        "{past} of {messages} messages are older than {days} days ({:.1}%)",
        past as f64 * 100.0 / messages as f64
    );

    // chatkeep: expire, then purge.
    let ours = copy(&mut server, SEEDED, "chatkeep_bench_ours").await?;
    let store = Store::open(&DatabaseUrl::Postgres(url_of(&ours))).await?;
    let settings = common::settings(days, batch_size);
    let clock = FixedClock::new(until);
    let retention = Retention { store: &store, settings: &settings, tz: chrono_tz::Tz::UTC, clock: &clock };
    let hooks = RunHooks { progress: &NoProgress, events: &NoEvents, cancel: &Cancel::new() };

    let writer = Writer::start(&url_of(&ours)).await?;
    let started = Instant::now();
    let expire = retention.run(Actor::Scheduler, hooks).await?;
    let expire_secs = started.elapsed().as_secs_f64();
    let expire_latency = writer.stop().await?;
    common::print_expire(&expire, expire_secs, &expire_latency);

    // Bare DELETE of the same rows, on a copy of the same data as the purge sees.
    store.close().await;
    let bare = copy(&mut server, &ours, "chatkeep_bench_bare").await?;
    let store = Store::open(&DatabaseUrl::Postgres(url_of(&ours))).await?;
    let retention = Retention { store: &store, settings: &settings, tz: chrono_tz::Tz::UTC, clock: &clock };
    let writer = Writer::start(&url_of(&bare)).await?;
    let mut conn = PgConnection::connect(&url_of(&bare)).await?;
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    sqlx::query("DELETE FROM message_reads WHERE message_id IN (SELECT id FROM messages WHERE expired_at IS NOT NULL)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE messages SET reply_to_id = NULL
         WHERE expired_at IS NULL AND reply_to_id IN (SELECT id FROM messages WHERE expired_at IS NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let deleted = sqlx::query("DELETE FROM messages WHERE created_at < $1::timestamptz AND expired_at IS NOT NULL")
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    let bare_secs = started.elapsed().as_secs_f64();
    let bare_latency = writer.stop().await?;
    conn.close().await?;
    let bare_rate = common::print_bare(deleted, bare_secs, &bare_latency);

    clock.advance(Duration::seconds(1));
    let writer = Writer::start(&url_of(&ours)).await?;
    let started = Instant::now();
    let purge = retention.run(Actor::Scheduler, hooks).await?;
    let purge_secs = started.elapsed().as_secs_f64();
    let purge_latency = writer.stop().await?;
    common::print_purge(&purge, purge_secs, &purge_latency, bare_rate, expire_secs);
    store.close().await;
    for db in [ours, bare] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
            .execute(&mut server)
            .await?;
    }
    Ok(())
}

/// A copy of a database on the same server (nobody may be connected to the template).
async fn copy(server: &mut PgConnection, from: &str, to: &str) -> Result<String> {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {to} WITH (FORCE)")))
        .execute(&mut *server)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {to} TEMPLATE {from}"))).execute(&mut *server).await?;
    Ok(to.to_string())
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The chat service: one message per transaction, back to back with 1 ms between, each insert timed.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<Samples>>,
}

impl Writer {
    async fn start(url: &str) -> Result<Writer> {
        let mut conn = PgConnection::connect(url).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (conversation, sender): (i64, i64) = sqlx::query_as(
                "SELECT conversation_id, sender_id FROM messages WHERE sender_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&mut conn)
            .await?;
            let mut samples = Samples::new();
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                sqlx::query(
                    "INSERT INTO messages (external_id, conversation_id, sender_id, role, body, created_at)
                     VALUES ($1, $2, $3, 'user', 'still chatting', now())",
                )
                .bind(format!("bench-writer-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
                .bind(conversation)
                .bind(sender)
                .execute(&mut conn)
                .await?;
                samples.record(started);
                tokio::time::sleep(StdDuration::from_millis(1)).await;
            }
            conn.close().await?;
            Ok(samples)
        });
        Ok(Writer { stop, task })
    }

    async fn stop(self) -> Result<Latency> {
        self.stop.store(true, Ordering::Relaxed);
        Ok(self.task.await??.latency())
    }
}
