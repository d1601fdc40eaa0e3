//! Retention throughput beside a bare `DELETE`, with a chat service writing.
//!
//! `bench/retention.sh` runs it (release build). It seeds the demo data set
//! (1M messages by default), puts every conversation on the default policy
//! with the retention days chosen so that 40% of messages are past it, and
//! copies the file. Then, on each copy, while a second connection inserts a
//! message every millisecond and records how long each insert waited:
//!
//! - bare: one transaction deleting every message older than the cutoff
//!   (read receipts first, replies unlinked), as a hand-written cleanup would;
//! - chatkeep: `retention run` expiring those messages, then a second run
//!   (grace 0, a moment later) purging them, in batches.
//!
//! It prints rows/s for each, the ratio, the writer's p50/p99 latency and how
//! large the WAL file grew. With `CHATKEEP_BENCH_SEEDED=/some/file.db`, the seeded
//! data set is kept in that file and reused by later runs.

use std::path::{Path, PathBuf};
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
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

mod common;

use common::{Latency, Result, Samples};

#[tokio::main]
async fn main() -> Result<()> {
    let messages: u64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let batch_size: u32 = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    let until = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).single().ok_or("date")?;
    // Seeding a million messages takes longer than the measurement; a kept file lets
    // repeated runs compare on the very same data.
    let seeded = match std::env::var_os("CHATKEEP_BENCH_SEEDED") {
        Some(path) => PathBuf::from(path),
        None => dir.path().join("seeded.db"),
    };
    let store = if seeded.exists() {
        eprintln!("reusing {}", seeded.display());
        Store::open(&DatabaseUrl::Sqlite(seeded.clone())).await?
    } else {
        eprintln!("seeding {messages} messages...");
        let store = Store::open(&DatabaseUrl::Sqlite(seeded.clone())).await?;
        let clock = FixedClock::new(until);
        let options = SeedOptions { conversations: messages / 10, messages, months: 12, seed: 1, until };
        seed_demo(&store, &options, Actor::Cli, &clock, &NoProgress).await?;
        store
    };
    let mut conn = connect(&seeded).await?;
    let messages = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages").fetch_one(&mut conn).await? as u64;
    sqlx::query("UPDATE conversations SET retention_policy = NULL").execute(&mut conn).await?;
    let cutoff: String = sqlx::query_scalar("SELECT created_at FROM messages ORDER BY created_at LIMIT 1 OFFSET $1")
        .bind((messages * 4 / 10) as i64)
        .fetch_one(&mut conn)
        .await?;
    let cutoff_at = chatkeep_core::time::from_db(&cutoff).ok_or("cutoff")?;
    let days = (until - cutoff_at).num_days() as u32;
    let cutoff = to_db(until - Duration::days(i64::from(days)));
    let past: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE created_at < $1")
        .bind(&cutoff)
        .fetch_one(&mut conn)
        .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    store.close().await;
    eprintln!(
        "{past} of {messages} messages are older than {days} days ({:.1}%)",
        past as f64 * 100.0 / messages as f64
    );

    // chatkeep: expire, then purge.
    let ours = copy(&seeded, &dir.path().join("chatkeep.db"))?;
    let store = Store::open(&DatabaseUrl::Sqlite(ours.clone())).await?;
    let settings = common::settings(days, batch_size);
    let clock = FixedClock::new(until);
    let retention = Retention { store: &store, settings: &settings, tz: chrono_tz::Tz::UTC, clock: &clock };
    let hooks = RunHooks { progress: &NoProgress, events: &NoEvents, cancel: &Cancel::new() };

    let writer = Writer::start(&ours).await?;
    let started = Instant::now();
    let expire = retention.run(Actor::Scheduler, hooks).await?;
    let expire_secs = started.elapsed().as_secs_f64();
    let expire_latency = writer.stop().await?;
    common::print_expire(&expire, expire_secs, &expire_latency);

    // Bare DELETE of the same rows, on a copy of the same data as the purge sees.
    let mut conn = connect(&ours).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    let bare = copy(&ours, &dir.path().join("bare.db"))?;
    let writer = Writer::start(&bare).await?;
    let mut conn = connect(&bare).await?;
    let started = Instant::now();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?; // Deferred, it could lose the upgrade to the writer.
    sqlx::query("DELETE FROM message_reads WHERE message_id IN (SELECT id FROM messages WHERE expired_at IS NOT NULL)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE messages SET reply_to_id = NULL
         WHERE expired_at IS NULL AND reply_to_id IN (SELECT id FROM messages WHERE expired_at IS NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let deleted = sqlx::query("DELETE FROM messages WHERE created_at < $1 AND expired_at IS NOT NULL")
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    let bare_secs = started.elapsed().as_secs_f64();
    let bare_latency = writer.stop().await?;
    let bare_rate = common::print_bare(deleted, bare_secs, &bare_latency);

    clock.advance(Duration::seconds(1));
    let writer = Writer::start(&ours).await?;
    let started = Instant::now();
    let purge = retention.run(Actor::Scheduler, hooks).await?;
    let purge_secs = started.elapsed().as_secs_f64();
    let purge_latency = writer.stop().await?;
    common::print_purge(&purge, purge_secs, &purge_latency, bare_rate, expire_secs);
    println!("WAL after the purge run: {:.0} MiB", wal_bytes(&ours) as f64 / 1048576.0);
    store.close().await;
    Ok(())
}

async fn connect(path: &Path) -> Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(StdDuration::from_secs(15))
        .foreign_keys(true)
        .connect()
        .await?)
}

/// The size of a database's write-ahead log (0 when it has none).
fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(format!("{}-wal", db.display())).map(|m| m.len()).unwrap_or(0)
}

fn copy(from: &Path, to: &Path) -> Result<PathBuf> {
    std::fs::copy(from, to)?;
    Ok(to.to_path_buf())
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The chat service: one message per transaction, back to back with 1 ms between, each insert timed.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<Samples>>,
}

impl Writer {
    async fn start(path: &Path) -> Result<Writer> {
        let mut conn = connect(path).await?;
        let db = path.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (conversation, sender): (i64, i64) = sqlx::query_as(
                "SELECT conversation_id, sender_id FROM messages WHERE sender_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&mut conn)
            .await?;
            // Each insert is timed from when it starts; the writer then thinks for 1 ms.
            let mut samples = Samples::new();
            let mut wal_peak = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                sqlx::query(
                    "INSERT INTO messages (external_id, conversation_id, sender_id, role, body, created_at)
                     VALUES ($1, $2, $3, 'user', 'still chatting', strftime('%Y-%m-%dT%H:%M:%fZ'))",
                )
                .bind(format!("bench-writer-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
                .bind(conversation)
                .bind(sender)
                .execute(&mut conn)
                .await?;
                samples.record(started);
                wal_peak = wal_peak.max(wal_bytes(&db));
                tokio::time::sleep(StdDuration::from_millis(1)).await;
            }
            samples.wal_peak = Some(wal_peak);
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
