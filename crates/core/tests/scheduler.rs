#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! The scheduler on real SQLite files, with the clock injected: the run loop
//! sleeps by moving a fixed clock, so a day of schedule passes in moments.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chatkeep_core::config::{Config, ConfigInputs, Overrides, PlatformDirs};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::{CollectEvents, Event};
use chatkeep_core::ops::demo::{SeedOptions, seed_demo};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::scheduler::{BoxFuture, JobContext, JobName, Outcome, Scheduler, Sleeper};
use chatkeep_core::store::jobs::JobRun;
use chatkeep_core::store::sqlx;
use chatkeep_core::{Error, FixedClock, Store};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use common::TestDb;

/// Settings as a user would write them, through the environment; every job off unless named.
fn config(dir: &Path, vars: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("CHATKEEP_SCHEDULE_SNAPSHOT", "off"),
        ("CHATKEEP_SCHEDULE_ARCHIVE", "off"),
        ("CHATKEEP_SCHEDULE_RETENTION", "off"),
        ("CHATKEEP_SCHEDULE_MAINTENANCE", "off"),
        ("CHATKEEP_SCHEDULE_VERIFY", "off"),
        ("CHATKEEP_SCHEDULE_GDPR", "off"),
        ("CHATKEEP_NOTIFY_LOG", "false"),
    ]
    .into_iter()
    .chain(vars.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert("DATABASE_URL".into(), format!("sqlite://{}", dir.join("chatkeep.db").display()));
    env.insert("CHAT_BACKUP_DIRECTORY".into(), dir.join("backups").display().to_string());
    let lookup = move |name: &str| env.get(name).cloned();
    Config::resolve(ConfigInputs {
        explicit_file: None,
        env: &lookup,
        overrides: Overrides::default(),
        dirs: PlatformDirs { config_dir: None, data_dir: Some(dir.to_path_buf()) },
        system_timezone: Some("UTC".into()),
    })
    .unwrap()
}

/// Moves the clock instead of sleeping, and stops the scheduler once the clock passes `end`.
#[derive(Debug)]
struct StopAt {
    clock: Arc<FixedClock>,
    end: DateTime<Utc>,
    stop: Cancel,
}

impl Sleeper for StopAt {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        use chatkeep_core::Clock;
        self.clock.advance(chrono::Duration::from_std(duration).unwrap().max(chrono::Duration::seconds(1)));
        if self.clock.now() >= self.end {
            self.stop.cancel();
        }
        Box::pin(tokio::task::yield_now())
    }
}

struct Harness {
    clock: Arc<FixedClock>,
    events: Arc<CollectEvents>,
    stop: Cancel,
    scheduler: Scheduler,
}

fn harness(store: &Store, config: Config, clock: Arc<FixedClock>, end: DateTime<Utc>) -> Harness {
    let events = Arc::new(CollectEvents::default());
    let stop = Cancel::new();
    let ctx = JobContext {
        store: store.clone(),
        config: Arc::new(config),
        clock: clock.clone(),
        events: events.clone(),
        cancel: stop.clone(),
        passphrase: None,
    };
    let sleeper = Arc::new(StopAt { clock: clock.clone(), end, stop: stop.clone() });
    let scheduler = Scheduler::new(ctx, sleeper).unwrap();
    Harness { clock, events, stop, scheduler }
}

fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap().with_timezone(&Utc)
}

async fn runs(store: &Store, job: &str) -> Vec<JobRun> {
    let mut runs = store.job_runs(Some(job), 1_000).await.unwrap();
    runs.reverse();
    runs
}

fn slots(runs: &[JobRun], status: &str) -> Vec<String> {
    runs.iter().filter(|r| r.status == status).map(|r| r.scheduled_for.clone().unwrap_or_default()).collect()
}

async fn seed(db: &TestDb, until: DateTime<Utc>) {
    let clock = FixedClock::new(until);
    let options = SeedOptions { conversations: 60, messages: 600, months: 3, seed: 5, until };
    seed_demo(&db.store, &options, Actor::Cli, &clock, &NoProgress).await.unwrap();
}

#[tokio::test]
async fn the_monthly_archive_fires_once_on_the_first_at_two_in_kuala_lumpur() {
    let db = TestDb::new().await;
    let kl: Tz = "Asia/Kuala_Lumpur".parse().unwrap();
    seed(&db, local(kl, 2026, 1, 31, 12, 0)).await;
    let config =
        config(db.dir.path(), &[("TIMEZONE", "Asia/Kuala_Lumpur"), ("CHATKEEP_SCHEDULE_ARCHIVE", "0 2 1 * *")]);
    let clock = Arc::new(FixedClock::new(local(kl, 2026, 1, 31, 23, 59)));
    let h = harness(&db.store, config, clock, local(kl, 2026, 2, 2, 12, 0));

    h.scheduler.run_until_stopped().await.unwrap();

    let archive = runs(&db.store, "archive").await;
    assert_eq!(archive.len(), 1, "one run in two and a half days: {archive:#?}");
    assert_eq!(archive[0].status, "ok", "{archive:#?}");
    assert_eq!(archive[0].trigger, "schedule");
    assert_eq!(archive[0].scheduled_for.as_deref(), Some("2026-01-31T18:00:00.000Z"), "02:00 in UTC+8");
    let started = chatkeep_core::time::from_db(archive[0].started_at.as_deref().unwrap()).unwrap();
    assert!(started - local(kl, 2026, 2, 1, 2, 0) < chrono::Duration::seconds(5), "on time: {started}");
    let summary: serde_json::Value = serde_json::from_str(archive[0].summary.as_deref().unwrap()).unwrap();
    assert_eq!(summary["month"], "2026-01", "the month that just ended");
    let verified: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM backups WHERE kind = 'archive' AND year = 2026 AND month = 1 AND status = 'verified'",
    )
    .fetch_one(&mut db.raw().await)
    .await
    .unwrap();
    assert_eq!(verified, 1);
    let prune = runs(&db.store, "prune").await;
    assert_eq!(prune.len(), 1, "pruning follows the backup");
    assert_eq!(prune[0].status, "ok");
    assert!(h.events.take().iter().all(|e| !matches!(e, Event::JobMissed { .. } | Event::JobFailed { .. })));
}

#[tokio::test]
async fn a_process_closed_from_the_30th_to_the_3rd_catches_up_once() {
    let db = TestDb::new().await;
    let kl: Tz = "Asia/Kuala_Lumpur".parse().unwrap();
    seed(&db, local(kl, 2026, 1, 29, 0, 0)).await;
    let vars = [
        ("TIMEZONE", "Asia/Kuala_Lumpur"),
        ("CHATKEEP_SCHEDULE_SNAPSHOT", "0 1 * * *"),
        ("CHATKEEP_SCHEDULE_ARCHIVE", "0 2 1 * *"),
        ("CHATKEEP_SCHEDULE_MAINTENANCE", "30 3 * * *"),
        ("CHATKEEP_SCHEDULE_MAINTENANCE_CATCH_UP", "skip"),
    ];
    // First life: the 29th at noon to the 30th at noon.
    let clock = Arc::new(FixedClock::new(local(kl, 2026, 1, 29, 12, 0)));
    let first = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), local(kl, 2026, 1, 30, 12, 0));
    first.scheduler.run_until_stopped().await.unwrap();
    assert_eq!(slots(&runs(&db.store, "snapshot").await, "ok"), ["2026-01-29T17:00:00.000Z"], "the 30th, 01:00");
    drop(first);

    // Closed until the 3rd at 09:00; then a new process starts.
    clock.set(local(kl, 2026, 2, 3, 9, 0));
    let second = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), local(kl, 2026, 2, 3, 9, 1));
    second.scheduler.run_until_stopped().await.unwrap();

    let snapshot = runs(&db.store, "snapshot").await;
    assert_eq!(
        slots(&snapshot, "missed"),
        [
            "2026-01-30T17:00:00.000Z",
            "2026-01-31T17:00:00.000Z",
            "2026-02-01T17:00:00.000Z",
            "2026-02-02T17:00:00.000Z"
        ],
        "the 31st, 1st, 2nd and 3rd at 01:00 were missed"
    );
    let caught_up: Vec<&JobRun> = snapshot.iter().filter(|r| r.trigger == "catch_up").collect();
    assert_eq!(caught_up.len(), 1, "caught up once, not four times: {snapshot:#?}");
    assert_eq!(caught_up[0].status, "ok");
    assert_eq!(caught_up[0].scheduled_for.as_deref(), Some("2026-02-02T17:00:00.000Z"));

    let archive = runs(&db.store, "archive").await;
    assert_eq!(slots(&archive, "missed"), ["2026-01-31T18:00:00.000Z"]);
    assert_eq!(archive.iter().filter(|r| r.trigger == "catch_up" && r.status == "ok").count(), 1);

    let maintenance = runs(&db.store, "maintenance").await;
    assert_eq!(slots(&maintenance, "missed").len(), 4, "recorded, though its catch-up is skip");
    assert!(maintenance.iter().all(|r| r.trigger != "catch_up"), "skip: no catch-up run");

    let missed: Vec<Event> =
        second.events.take().into_iter().filter(|e| matches!(e, Event::JobMissed { .. })).collect();
    assert_eq!(missed.len(), 3, "one notice per job: {missed:?}");
    assert!(missed.contains(&Event::JobMissed {
        job: "snapshot".into(),
        missed: 4,
        first: "2026-01-31 01:00 +08".into(),
        last: "2026-02-03 01:00 +08".into(),
        caught_up: true,
    }));
    assert!(missed.iter().any(|e| matches!(e, Event::JobMissed { job, caught_up: false, .. } if job == "maintenance")));

    // A third start finds nothing new to catch up.
    let third = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), local(kl, 2026, 2, 3, 9, 2));
    third.scheduler.run_until_stopped().await.unwrap();
    assert_eq!(runs(&db.store, "snapshot").await.len(), snapshot.len());
    assert!(third.events.take().is_empty());

    // `jobs list` shows the misses.
    let overview = third.scheduler.overview().await.unwrap();
    let snap = overview.iter().find(|j| j.job == JobName::Snapshot).unwrap();
    assert_eq!(snap.missed_last_7_days, 4);
    assert_eq!(snap.last_run.as_ref().unwrap().trigger, "catch_up");
}

#[tokio::test]
async fn daylight_saving_days_in_berlin_run_a_two_thirty_job_once() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let vars = [("TIMEZONE", "Europe/Berlin"), ("CHATKEEP_SCHEDULE_MAINTENANCE", "30 2 * * *")];
    for (from, to, expected) in [
        // Spring forward: 02:30 does not exist on the 29th; it runs at 03:00 CEST, once.
        ((3, 28, 12), (3, 30, 12), ["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]),
        // Fall back: 02:30 happens twice on 25 October; it runs the first time only.
        ((10, 24, 12), (10, 26, 12), ["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]),
    ] {
        let db = TestDb::new().await;
        let clock = Arc::new(FixedClock::new(local(berlin, 2026, from.0, from.1, from.2, 0)));
        let h = harness(&db.store, config(db.dir.path(), &vars), clock, local(berlin, 2026, to.0, to.1, to.2, 0));
        h.scheduler.run_until_stopped().await.unwrap();
        let done: Vec<String> = runs(&db.store, "maintenance")
            .await
            .into_iter()
            .map(|r| {
                assert_eq!(r.status, "ok", "maintenance runs inside its 01:00-06:00 window: {r:?}");
                r.scheduled_for.unwrap()
            })
            .collect();
        assert_eq!(done, expected);
    }
}

#[tokio::test]
async fn a_failing_job_retries_with_backoff_then_records_failed_and_notifies() {
    let db = TestDb::new().await;
    let vars = [("CHATKEEP_SCHEDULE_RETENTION", "0 3 * * *"), ("CHATKEEP_SCHEDULER_MAX_ATTEMPTS", "3")];
    let start = common::at(2026, 5, 1, 2, 59, 0);
    let clock = Arc::new(FixedClock::new(start));
    let mut h = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), common::at(2026, 5, 1, 3, 30, 0));
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    h.scheduler.replace_body(
        JobName::Retention,
        Arc::new(move |_ctx| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(Error::io("cannot write the report", std::io::Error::from(std::io::ErrorKind::TimedOut)))
            })
        }),
    );
    h.scheduler.run_until_stopped().await.unwrap();

    assert_eq!(attempts.load(Ordering::SeqCst), 3, "tried three times");
    let retention = runs(&db.store, "retention").await;
    assert_eq!(retention.len(), 1, "one run row for the three attempts");
    let run = &retention[0];
    assert_eq!((run.status.as_str(), run.attempt), ("failed", 3));
    assert!(run.error.as_deref().unwrap().contains("cannot write the report"), "{run:?}");
    let (started, finished) = (
        chatkeep_core::time::from_db(run.started_at.as_deref().unwrap()).unwrap(),
        chatkeep_core::time::from_db(run.finished_at.as_deref().unwrap()).unwrap(),
    );
    let waited = (finished - started).num_seconds();
    assert!((90..=113).contains(&waited), "30 s then 60 s, each with up to a quarter of jitter: {waited} s");
    let failed: Vec<Event> = h.events.take().into_iter().filter(|e| matches!(e, Event::JobFailed { .. })).collect();
    assert_eq!(failed.len(), 1);
    assert!(matches!(&failed[0], Event::JobFailed { job, attempts: 3, .. } if job == "retention"));
    let _ = h.clock;
    let _ = h.stop;
}

#[tokio::test]
async fn a_failure_that_will_not_pass_is_not_retried() {
    let db = TestDb::new().await;
    seed(&db, common::at(2026, 5, 1, 0, 0, 0)).await;
    // The backup folder's path is a file: a real, lasting failure.
    std::fs::write(db.dir.path().join("backups"), b"not a folder").unwrap();
    let vars = [("CHATKEEP_SCHEDULE_SNAPSHOT", "0 1 * * *")];
    let clock = Arc::new(FixedClock::new(common::at(2026, 5, 1, 0, 59, 0)));
    let h = harness(&db.store, config(db.dir.path(), &vars), clock, common::at(2026, 5, 1, 1, 5, 0));
    h.scheduler.run_until_stopped().await.unwrap();
    let snapshot = runs(&db.store, "snapshot").await;
    assert_eq!(snapshot.len(), 1);
    assert_eq!((snapshot[0].status.as_str(), snapshot[0].attempt), ("failed", 1), "{snapshot:?}");
    assert!(runs(&db.store, "prune").await.is_empty(), "no pruning after a failed backup");
    assert!(
        h.events.take().iter().any(|e| matches!(e, Event::JobFailed { job, attempts: 1, .. } if job == "snapshot"))
    );
}

#[tokio::test]
async fn two_schedulers_on_one_database_never_run_the_same_job_at_once() {
    let db = TestDb::new().await;
    seed(&db, common::at(2026, 5, 1, 0, 0, 0)).await;
    let other = Store::open(&chatkeep_core::config::DatabaseUrl::Sqlite(db.path.clone())).await.unwrap();
    let vars = [("CHATKEEP_SCHEDULE_SNAPSHOT", "0 1 * * *")];
    let due = common::at(2026, 5, 1, 1, 0, 0);
    let clock = Arc::new(FixedClock::new(due));
    let a = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), due);
    let b = harness(&other, config(db.dir.path(), &vars), clock.clone(), due);
    assert_ne!(a.scheduler.holder(), b.scheduler.holder());
    // Both started before 01:00 and both look at 01:00 at the same moment.
    clock.set(due - chrono::Duration::hours(1));
    a.scheduler.start().await.unwrap();
    b.scheduler.start().await.unwrap();
    clock.set(due);
    let (ra, rb) = tokio::join!(a.scheduler.tick(), b.scheduler.tick());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let snapshot = runs(&db.store, "snapshot").await;
    assert_eq!(snapshot.len(), 1, "one run for 01:00 between the two: {snapshot:#?}");
    assert_eq!(snapshot[0].status, "ok");
    assert_eq!(ra.runs.len() + rb.runs.len(), 2, "the snapshot and its pruning, by one of them");
    let files = std::fs::read_dir(db.dir.path().join("backups"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tar.zst"))
        .count();
    assert_eq!(files, 1, "one snapshot file");

    // A manual run while another process holds the job is refused with who holds it.
    let lease: Option<String> =
        other.take_job_lease("snapshot", "4242@elsewhere/0", due, due + chrono::Duration::minutes(2)).await.unwrap();
    assert!(lease.is_none());
    let refused = a.scheduler.run_now(JobName::Snapshot).await.unwrap_err().to_string();
    assert!(refused.contains("job snapshot is running now") && refused.contains("4242@elsewhere"), "{refused}");
    // The lease expires on its own if its process died: then the job may run again.
    clock.set(due + chrono::Duration::minutes(3));
    let manual = a.scheduler.run_now(JobName::Snapshot).await.unwrap();
    assert_eq!(manual[0].status, "ok");
    assert_eq!(manual[0].trigger, "manual");
}

#[tokio::test]
async fn a_run_left_running_by_a_killed_process_is_marked_interrupted_at_start() {
    let db = TestDb::new().await;
    let now = common::at(2026, 5, 1, 1, 0, 0);
    let id = db
        .store
        .insert_job_run(chatkeep_core::store::jobs::NewRun {
            job: "retention",
            scheduled_for: Some(now),
            started_at: now,
            trigger: "schedule",
            holder: "999@gone/1",
        })
        .await
        .unwrap();
    let clock = Arc::new(FixedClock::new(now + chrono::Duration::minutes(10)));
    let h = harness(&db.store, config(db.dir.path(), &[]), clock, now);
    let interrupted = h.scheduler.start().await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].id, id);
    let run = &runs(&db.store, "retention").await[0];
    assert_eq!(run.status, "failed");
    assert!(run.error.as_deref().unwrap().starts_with("interrupted"), "{run:?}");
    assert!(h.events.take().iter().any(|e| matches!(e, Event::JobFailed { job, .. } if job == "retention")));
}

#[tokio::test]
async fn pause_persists_across_a_restart_and_paused_times_are_skipped_not_caught_up() {
    let db = TestDb::new().await;
    let vars = [("CHATKEEP_SCHEDULE_MAINTENANCE", "0 4 * * *")];
    let clock = Arc::new(FixedClock::new(common::at(2026, 6, 1, 0, 0, 0)));
    let first = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), common::at(2026, 6, 1, 0, 0, 0));
    first.scheduler.start().await.unwrap();
    first.scheduler.set_paused(Some(JobName::Maintenance), true, Actor::Cli).await.unwrap();
    drop(first);

    // A new process, two days later.
    clock.set(common::at(2026, 6, 3, 12, 0, 0));
    let second = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), common::at(2026, 6, 3, 12, 1, 0));
    let overview = second.scheduler.overview().await.unwrap();
    assert!(overview.iter().find(|j| j.job == JobName::Maintenance).unwrap().paused, "still paused");
    second.scheduler.run_until_stopped().await.unwrap();
    let maintenance = runs(&db.store, "maintenance").await;
    assert_eq!(slots(&maintenance, "skipped").len(), 3, "the 1st, 2nd and 3rd at 04:00: {maintenance:#?}");
    assert!(maintenance.iter().all(|r| r.error.as_deref().unwrap_or("").starts_with("paused")));
    assert!(second.events.take().is_empty(), "paused times are not misses");

    second.scheduler.set_paused(Some(JobName::Maintenance), false, Actor::Cli).await.unwrap();
    let third = harness(&db.store, config(db.dir.path(), &vars), clock.clone(), common::at(2026, 6, 4, 5, 0, 0));
    third.scheduler.run_until_stopped().await.unwrap();
    let after: Vec<JobRun> = runs(&db.store, "maintenance").await.into_iter().skip(3).collect();
    assert_eq!(after.len(), 1, "the 4th at 04:00 runs; nothing from the paused days: {after:#?}");
    assert_eq!(after[0].scheduled_for.as_deref(), Some("2026-06-04T04:00:00.000Z"));

    // The whole schedule's switch is stored too.
    third.scheduler.set_paused(None, true, Actor::Cli).await.unwrap();
    let fourth = harness(&db.store, config(db.dir.path(), &vars), clock, common::at(2026, 6, 4, 5, 0, 0));
    assert!(fourth.scheduler.all_paused().await.unwrap());
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'jobs.%' ORDER BY id")
            .fetch_all(&mut db.raw().await)
            .await
            .unwrap();
    assert_eq!(actions, ["jobs.pause", "jobs.resume", "jobs.pause"]);
}

#[tokio::test]
async fn quitting_waits_for_a_job_started_by_hand_to_stop_at_its_safe_point() {
    let db = TestDb::new().await;
    let clock = Arc::new(FixedClock::new(common::at(2026, 6, 1, 12, 0, 0)));
    let mut h = harness(&db.store, config(db.dir.path(), &[]), clock.clone(), common::at(2026, 6, 1, 12, 0, 0));
    // A snapshot that takes a while: it works in steps and stops at the first one after a stop.
    h.scheduler.replace_body(
        JobName::Snapshot,
        Arc::new(|ctx: JobContext| {
            Box::pin(async move {
                while !ctx.cancel.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // As a backup does: it gives up at its next phase with an error.
                Err::<Outcome, _>(Error::invalid("the backup was cancelled; nothing was kept"))
            })
        }),
    );
    let events = h.events.clone();
    let scheduler = Arc::new(h.scheduler);
    let by_hand = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move { scheduler.run_now(JobName::Snapshot).await })
    };
    while runs(&db.store, "snapshot").await.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!scheduler.wait_idle(Duration::from_millis(100)).await, "the job is still running before the stop");

    scheduler.stop();
    assert!(scheduler.wait_idle(Duration::from_secs(10)).await, "the job stopped within the limit");
    let snapshot = runs(&db.store, "snapshot").await;
    assert_eq!(snapshot.len(), 1, "{snapshot:#?}");
    assert_eq!(snapshot[0].status, "cancelled", "recorded as stopped at a safe point, not left running or failed");
    assert!(!events.take().iter().any(|e| matches!(e, Event::JobFailed { .. })), "a stop is not notified as a failure");
    by_hand.await.unwrap().unwrap();
}

#[test]
fn bad_schedules_are_refused_with_the_key_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("CHATKEEP_SCHEDULE_SNAPSHOT", "every night"),
        ("CHATKEEP_SCHEDULE_ARCHIVE", "0 25 1 * *"),
        ("CHATKEEP_SCHEDULE_RETENTION_CATCH_UP", "sometimes"),
    ] {
        let env = |name: &str| (name == var).then(|| value.to_string());
        let error = Config::resolve(ConfigInputs {
            explicit_file: None,
            env: &env,
            overrides: Overrides::default(),
            dirs: PlatformDirs { config_dir: None, data_dir: Some(dir.path().to_path_buf()) },
            system_timezone: None,
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains(var) && error.contains(value), "{error}");
        assert!(error.contains("cron expression") || error.contains("run_once"), "{error}");
    }
}

#[tokio::test]
async fn the_daily_gdpr_check_notifies_requests_due_soon_and_overdue() {
    use chatkeep_core::domain::gdpr::RequestKind;
    use chatkeep_core::ops::gdpr::{NewRequestInput, new_request};
    let db = TestDb::new().await;
    seed(&db, common::at(2026, 5, 1, 0, 0, 0)).await;
    let people: Vec<String> = sqlx::query_scalar("SELECT external_id FROM users ORDER BY id LIMIT 3")
        .fetch_all(&mut db.raw().await)
        .await
        .unwrap();
    let config = config(db.dir.path(), &[("CHATKEEP_SCHEDULE_GDPR", "0 8 * * *")]);
    let clock = Arc::new(FixedClock::new(common::at(2026, 6, 10, 7, 0, 0)));
    // Received 3 May (overdue on 10 June), 5 June (due 5 July: not soon) and 12 May (due 12 June: soon).
    for (person, received) in people.iter().zip(["2026-05-03", "2026-06-05", "2026-05-12"]) {
        let input =
            NewRequestInput { kind: RequestKind::Erasure, subject: person, received: Some(received), notes: None };
        new_request(&db.store, &input, &config.gdpr, Tz::UTC, Actor::Cli, clock.as_ref()).await.unwrap();
    }
    let h = harness(&db.store, config, clock, common::at(2026, 6, 10, 9, 0, 0));
    h.scheduler.run_until_stopped().await.unwrap();
    let due: Vec<Event> = h.events.take().into_iter().filter(|e| matches!(e, Event::RequestDue { .. })).collect();
    assert_eq!(
        due,
        [
            Event::RequestDue { request: 1, kind: "erasure".into(), due: "2026-06-03".into(), overdue: true },
            Event::RequestDue { request: 3, kind: "erasure".into(), due: "2026-06-12".into(), overdue: false },
        ]
    );
    let run = &runs(&db.store, "gdpr").await[0];
    assert_eq!(run.status, "ok");
    let summary: serde_json::Value = serde_json::from_str(run.summary.as_deref().unwrap()).unwrap();
    assert_eq!((summary["overdue"].as_u64(), summary["due_soon"].as_u64()), (Some(1), Some(1)));
}
