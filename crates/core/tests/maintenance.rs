#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
//! Database maintenance on real SQLite files and a real PostgreSQL server: bloat found,
//! explained and removed; dry runs that change nothing; cadences on a mocked clock; a
//! corrupted file that is reported and never vacuumed; the scheduled job's window.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chatkeep_core::audit;
use chatkeep_core::config::{Config, ConfigInputs, MaintenanceSettings, Overrides, PlatformDirs};
use chatkeep_core::domain::Actor;
use chatkeep_core::events::{CollectEvents, Event, NoEvents};
use chatkeep_core::ops::maintenance::{
    Hooks, Maintenance, MaintenanceReport, Options, Outcome, Step, StepStatus, Task, storage_history,
};
use chatkeep_core::ops::{Cancel, NoProgress};
use chatkeep_core::scheduler::{Finish, JobContext, JobName};
use chatkeep_core::store::AuditFilter;
use chatkeep_core::store::sqlx;
use chatkeep_core::{FixedClock, Store};
use chrono::{Duration, TimeZone};
use chrono_tz::Tz;
use common::{AnyDb, TestDb};

/// Messages the bloat scenario writes, and how many it keeps.
const WRITTEN: i64 = 100_000;
const KEPT: i64 = 10_000;

fn settings() -> MaintenanceSettings {
    // The window binds the scheduled job only; these tests call the operation directly.
    MaintenanceSettings { window: None, ..MaintenanceSettings::default() }
}

async fn engines(test: &str) -> Vec<AnyDb> {
    let mut dbs = vec![AnyDb::sqlite().await];
    dbs.extend(AnyDb::postgres(test).await);
    dbs
}

async fn run(store: &Store, clock: &FixedClock, options: Options) -> MaintenanceReport {
    run_with(store, clock, options, &NoEvents).await
}

async fn run_with(
    store: &Store,
    clock: &FixedClock,
    options: Options,
    events: &dyn chatkeep_core::events::EventSink,
) -> MaintenanceReport {
    let settings = settings();
    let maintenance = Maintenance { store, settings: &settings, tz: Tz::UTC, clock };
    let hooks = Hooks { progress: &NoProgress, events, cancel: &Cancel::new() };
    maintenance.run(options, Actor::Cli, hooks).await.unwrap()
}

const DRY_RUN: Options = Options { dry_run: true, full_check: false, vacuum_full: false };

fn steps<'a>(report: &'a MaintenanceReport, matches: impl Fn(&Task) -> bool + 'a) -> Vec<&'a Step> {
    report.steps.iter().filter(|s| matches(&s.task)).collect()
}

fn is_vacuum(task: &Task) -> bool {
    matches!(task, Task::Vacuum { .. })
}

fn is_reindex(task: &Task) -> bool {
    matches!(task, Task::Reindex { .. })
}

/// Writes many messages and deletes most of them, through a plain connection as the chat
/// service would: the tables keep the space (SQLite's free pages, PostgreSQL's dead rows).
async fn make_bloat(db: &AnyDb) {
    match db {
        AnyDb::Sqlite(db) => {
            let mut raw = db.raw().await;
            for sql in [
                "INSERT INTO users (id, external_id, created_at) VALUES (1, 'u1', '2026-11-01T00:00:00.000Z')",
                "INSERT INTO conversations (id, external_id, kind, created_at)
                 VALUES (1, 'c1', 'direct', '2026-11-01T00:00:00.000Z')",
                &format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {WRITTEN})
                     INSERT INTO messages (id, external_id, conversation_id, sender_id, role, body, created_at)
                     SELECT i, 'm' || i, 1, 1, 'user', printf('%.200c', 'x') || i,
                            strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-01', '+' || i || ' seconds') FROM n"
                ),
                &format!("DELETE FROM messages WHERE id > {KEPT}"),
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut raw).await.unwrap();
            }
        }
        AnyDb::Postgres(pg, _) => {
            let mut raw = pg.raw().await;
            for sql in [
                "INSERT INTO users (id, external_id, created_at) VALUES (1, 'u1', '2026-11-01T00:00:00Z')",
                "INSERT INTO conversations (id, external_id, kind, created_at)
                 VALUES (1, 'c1', 'direct', '2026-11-01T00:00:00Z')",
                &format!(
                    "INSERT INTO messages (id, external_id, conversation_id, sender_id, role, body, created_at)
                     SELECT i, 'm' || i, 1, 1, 'user', repeat('x', 200) || i,
                            timestamptz '2026-11-01T00:00:00Z' + i * interval '1 second'
                     FROM generate_series(1, {WRITTEN}) AS i"
                ),
                // What autovacuum would have done by now: statistics for the planner (and the estimate).
                "ANALYZE messages",
                &format!("DELETE FROM messages WHERE id > {KEPT}"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut raw).await.unwrap();
            }
            // The statistics collector hears of the deleted rows within a second or so.
            for _ in 0..50 {
                let dead: i64 = sqlx::query_scalar(
                    "SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relname = 'messages'",
                )
                .fetch_one(&mut raw)
                .await
                .unwrap();
                if dead >= WRITTEN - KEPT {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            panic!("the statistics never showed the deleted rows as dead");
        }
    }
}

/// PostgreSQL checks its indexes where the amcheck extension is installed.
async fn install_amcheck(pg: &common::PgDb) {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck").execute(&mut pg.raw().await).await.unwrap();
}

async fn audit_rows(store: &Store) -> Vec<serde_json::Value> {
    let filter = AuditFilter { action: Some("maintenance".into()), ..AuditFilter::default() };
    audit::list(store, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|row| serde_json::from_str(&row.details).unwrap())
        .collect()
}

#[tokio::test]
async fn a_bloated_table_is_vacuumed_for_the_stated_reason_and_its_figures_drop() {
    for db in engines("bloated_table_is_vacuumed").await {
        let store = db.store();
        let engine = store.engine();
        if let AnyDb::Postgres(pg, _) = &db {
            install_amcheck(pg).await;
        }
        make_bloat(&db).await;
        let clock = common::clock();

        let report = run(store, &clock, Options::default()).await;
        assert_eq!(report.outcome, Outcome::Completed, "{engine}: {}", report.summary());
        assert_eq!(report.integrity.as_ref().unwrap().status, "passed", "{engine}: the check found nothing wrong");
        let vacuums = steps(&report, is_vacuum);
        let vacuum = vacuums.iter().find(|s| s.status == StepStatus::Done).unwrap_or_else(|| {
            panic!("{engine}: a VACUUM should have run: {:#?}", report.steps);
        });
        assert!(vacuum.reason.contains("over max_table_bloat 20%"), "{engine}: {}", vacuum.reason);

        let after = report.after.as_ref().expect("figures after the run");
        assert!(after.bytes < report.before.bytes, "{engine}: the database should shrink: {}", report.summary());
        let table = |figures: &chatkeep_core::ops::maintenance::DatabaseFigures| {
            figures.tables.iter().find(|t| t.table.name == "messages").cloned().unwrap()
        };
        let (before_messages, after_messages) = (table(&report.before), table(after));
        assert_eq!(after_messages.rows, KEPT, "{engine}: the kept rows are all there");
        assert!(after_messages.bytes <= before_messages.bytes, "{engine}: the messages table is no larger");
        match engine {
            "sqlite" => {
                let free = |f: &chatkeep_core::ops::maintenance::DatabaseFigures| f.free_pages.unwrap();
                assert!(
                    vacuum.reason.contains("of pages are free"),
                    "SQLite decides on the free pages: {}",
                    vacuum.reason
                );
                assert!(free(&report.before) * 2 > report.before.pages, "most pages were free before");
                assert_eq!(free(after), 0, "VACUUM leaves no free page");
                assert!(after.pages * 3 < report.before.pages, "the file lost the deleted rows' pages");
                let reindex = steps(&report, is_reindex);
                assert_eq!(reindex[0].status, StepStatus::NotNeeded, "VACUUM rebuilds the indexes anyway");
            }
            _ => {
                assert!(
                    vacuum.reason.contains("90.0% of its rows are dead (90,000 dead, 10,000 live)"),
                    "PostgreSQL decides on the dead rows: {}",
                    vacuum.reason
                );
                assert_eq!(vacuum.statement, "VACUUM (ANALYZE) \"public\".\"messages\"");
                assert!(before_messages.dead_rows.unwrap() >= WRITTEN - KEPT);
                assert!(after_messages.bytes < before_messages.bytes / 2, "the emptied end of the table is cut off");
                assert!(after_messages.dead_rows.unwrap() < 100, "VACUUM cleared the dead rows: {after_messages:?}");
                assert!(after_messages.bloat_percent < 1.0, "no dead share left: {after_messages:?}");
                let rebuilt: Vec<&Step> =
                    steps(&report, is_reindex).into_iter().filter(|s| s.status == StepStatus::Done).collect();
                assert!(
                    rebuilt.iter().any(|s| s.statement == "REINDEX INDEX CONCURRENTLY \"public\".\"messages_pkey\""),
                    "the bloated primary key index is rebuilt concurrently: {:#?}",
                    report.steps
                );
                assert!(rebuilt.iter().all(|s| s.reason.contains("over max_index_bloat 30%")));
                assert!(
                    after_messages.index_bytes < before_messages.index_bytes / 2,
                    "the rebuilt indexes are smaller: {} -> {}",
                    before_messages.index_bytes,
                    after_messages.index_bytes
                );
            }
        }

        // The audit log keeps the before and after figures.
        let rows = audit_rows(store).await;
        assert_eq!(rows.len(), 1, "{engine}: one audit row per run");
        let figures = &rows[0]["figures"];
        assert!(
            figures["before"]["bytes"].as_i64().unwrap() > figures["after"]["bytes"].as_i64().unwrap(),
            "{engine}: the audit row shows the drop: {figures}"
        );
        assert_eq!(figures["after"]["tables"]["messages"]["rows"], KEPT);

        // The day's storage sample is stored for the growth chart.
        let history = storage_history(store, Tz::UTC, &clock, 30).await.unwrap();
        assert_eq!(history.len(), 1, "{engine}: one sample for today");
        assert_eq!(history[0].messages, KEPT);
        assert_eq!(history[0].conversations, 1);
        assert_eq!(history[0].day, clock_day(&clock));
        assert_eq!(report.sample.as_ref(), Some(&history[0]));

        // A second run finds nothing heavy left to do.
        let again = run(store, &clock, Options::default()).await;
        assert!(
            again.steps.iter().all(|s| !s.task.is_heavy() || s.status == StepStatus::NotNeeded),
            "{engine}: nothing heavy on a second run: {:#?}",
            again.steps
        );
        assert_eq!(storage_history(store, Tz::UTC, &clock, 30).await.unwrap().len(), 1, "today's sample is replaced");
    }
}

fn clock_day(clock: &FixedClock) -> chrono::NaiveDate {
    use chatkeep_core::Clock;
    clock.now().date_naive()
}

#[tokio::test]
async fn a_dry_run_says_what_would_happen_and_why_and_changes_nothing() {
    for db in engines("dry_run_changes_nothing").await {
        let store = db.store();
        let engine = store.engine();
        make_bloat(&db).await;
        let clock = common::clock();
        let before = store.maintenance_figures(true).await.unwrap();

        let report = run(store, &clock, DRY_RUN).await;
        assert_eq!(report.outcome, Outcome::Planned);
        assert!(report.integrity.is_none(), "a dry run plans the check, it does not run it");
        assert!(report.after.is_none());
        let vacuum = steps(&report, is_vacuum).into_iter().find(|s| s.status == StepStatus::Planned);
        let vacuum = vacuum.unwrap_or_else(|| panic!("{engine}: the plan should VACUUM: {:#?}", report.steps));
        assert!(vacuum.reason.contains("over max_table_bloat 20%"), "{engine}: {}", vacuum.reason);
        assert!(report.summary().starts_with("would run: "), "{}", report.summary());
        assert!(report.steps.iter().all(|s| s.ms.is_none() && !matches!(s.status, StepStatus::Done)));

        let after = store.maintenance_figures(true).await.unwrap();
        assert_eq!(after.pages, before.pages, "{engine}: the file is as it was");
        assert_eq!(after.free_pages, before.free_pages, "{engine}: the free pages are as they were");
        let dead = |f: &chatkeep_core::ops::maintenance::DatabaseFigures| {
            f.tables.iter().find(|t| t.table.name == "messages").and_then(|t| t.dead_rows)
        };
        assert_eq!(dead(&after), dead(&before), "{engine}: the dead rows are still there");
        assert!(audit_rows(store).await.is_empty(), "{engine}: a dry run writes no audit row");
        assert!(store.maintenance_marks().await.unwrap().is_empty(), "{engine}: nor any cadence mark");
        assert!(storage_history(store, Tz::UTC, &clock, 30).await.unwrap().is_empty(), "{engine}: nor a sample");
    }
}

#[tokio::test]
async fn a_fresh_database_decides_nothing_heavy() {
    for db in engines("fresh_database_nothing_heavy").await {
        let store = db.store();
        let engine = store.engine();
        let clock = common::clock();
        if let AnyDb::Postgres(pg, _) = &db {
            // Without the amcheck extension there is nothing to check with, and the run says so.
            let report = run(store, &clock, Options::default()).await;
            let integrity = report.integrity.as_ref().unwrap();
            assert_eq!(integrity.status, "unavailable", "{integrity:?}");
            assert!(integrity.note.as_deref().unwrap_or("").contains("CREATE EXTENSION amcheck"), "{integrity:?}");
            let check = &report.steps[0];
            assert_eq!(
                (check.status, check.statement.as_str()),
                (StepStatus::NotNeeded, "no check (amcheck is not installed)")
            );
            assert_eq!(report.outcome, Outcome::Completed);
            install_amcheck(pg).await;
        }
        for options in [DRY_RUN, Options::default()] {
            let report = run(store, &clock, options).await;
            let heavy: Vec<&Step> =
                report.steps.iter().filter(|s| s.task.is_heavy() && s.status != StepStatus::NotNeeded).collect();
            assert!(heavy.is_empty(), "{engine}: nothing heavy on a fresh database: {heavy:#?}");
            assert!(
                report.steps.iter().all(|s| s.status != StepStatus::Failed),
                "{engine}: every step works: {:#?}",
                report.steps
            );
        }
        let report = run(store, &clock, Options::default()).await;
        assert_eq!(report.outcome, Outcome::Completed, "{engine}: {}", report.summary());
        let integrity = report.integrity.as_ref().unwrap();
        assert_eq!(integrity.status, "passed", "{engine}: {integrity:?}");
        assert!(!integrity.full, "the quick check by default");
        if engine == "postgres" {
            assert!(integrity.method.starts_with("amcheck bt_index_check on "), "{}", integrity.method);
        }
    }
}

#[tokio::test]
async fn cadence_tasks_follow_their_frequency_on_a_mocked_clock() {
    // SQLite rebuilds its indexes every reindex_frequency days (30); PostgreSQL rebuilds
    // indexes by their estimated bloat and analyzes every analyze_frequency days (7). Both
    // check everything every full_check_frequency days (7). Cadences count from the first run.
    for db in engines("cadence_mocked_clock").await {
        let store = db.store();
        let engine = store.engine();
        if let AnyDb::Postgres(pg, _) = &db {
            install_amcheck(pg).await;
        }
        let start = common::at(2026, 1, 10, 3, 30, 0);
        let clock = FixedClock::new(start);
        let cadence_task = |task: &Task| match engine {
            "sqlite" => matches!(task, Task::Reindex { index: None }),
            _ => matches!(task, Task::Analyze),
        };
        let (frequency, first_time) =
            if engine == "sqlite" { (30, StepStatus::NotNeeded) } else { (7, StepStatus::Done) };
        let cadence_step = |report: &MaintenanceReport| steps(report, cadence_task)[0].clone();
        let check = |report: &MaintenanceReport| steps(report, |t| matches!(t, Task::IntegrityCheck { .. }))[0].clone();

        let first = run(store, &clock, Options::default()).await;
        assert_eq!(cadence_step(&first).status, first_time, "{engine}: first run: {:#?}", first.steps);
        if engine == "sqlite" {
            let reason = cadence_step(&first).reason;
            assert!(
                reason.contains("first REINDEX due on 2026-02-09 (maintenance.reindex_frequency 30 days)"),
                "{reason}"
            );
        }
        assert_eq!(check(&first).task, Task::IntegrityCheck { full: false }, "{engine}: the full check's clock starts");

        for day in 1..frequency {
            clock.set(start + Duration::days(day));
            let step = cadence_step(&run(store, &clock, DRY_RUN).await);
            assert_eq!(step.status, StepStatus::NotNeeded, "{engine}: day {day}: {}", step.reason);
            assert!(step.reason.contains("next due on"), "{engine}: day {day}: {}", step.reason);
        }

        clock.set(start + Duration::days(frequency));
        let step = cadence_step(&run(store, &clock, DRY_RUN).await);
        assert_eq!(step.status, StepStatus::Planned, "{engine}: due on day {frequency}: {}", step.reason);
        assert!(step.reason.contains(&format!("{frequency} days ago")), "{}", step.reason);
        let due = run(store, &clock, Options::default()).await;
        assert_eq!(cadence_step(&due).status, StepStatus::Done, "{engine}: {:#?}", due.steps);
        assert_eq!(check(&due).task, Task::IntegrityCheck { full: true }, "{engine}: a week on, the full check");
        assert_eq!(check(&due).status, StepStatus::Done);
        assert!(steps(&due, |t| matches!(t, Task::Reindex { index: Some(_) })).is_empty() || engine == "postgres");

        clock.set(start + Duration::days(frequency + 1));
        let next = run(store, &clock, DRY_RUN).await;
        assert_eq!(cadence_step(&next).status, StepStatus::NotNeeded, "{engine}: {}", cadence_step(&next).reason);
        let expected_next = (start + Duration::days(2 * frequency)).date_naive().to_string();
        assert!(cadence_step(&next).reason.contains(&expected_next), "{}", cadence_step(&next).reason);
        assert_eq!(check(&next).task, Task::IntegrityCheck { full: false }, "{engine}: quick again the next day");
        let asked = run(store, &clock, Options { full_check: true, ..DRY_RUN }).await;
        assert_eq!(check(&asked).task, Task::IntegrityCheck { full: true }, "{engine}: --full asks for it");
        assert_eq!(check(&asked).reason, "full check asked for (--full)");
        if engine == "postgres" {
            assert!(
                steps(&next, is_reindex).iter().all(|s| s.status == StepStatus::NotNeeded),
                "PostgreSQL rebuilds no index of a fresh database, whatever the date"
            );
        }
    }
}

#[tokio::test]
async fn a_corrupted_sqlite_file_fails_its_integrity_check_loudly_and_is_never_vacuumed() {
    let db = AnyDb::sqlite().await;
    make_bloat(&db).await;
    let AnyDb::Sqlite(db) = db else { unreachable!() };
    let (root, page_size): (i64, i64) = {
        let mut raw = db.raw().await;
        let root = sqlx::query_scalar("SELECT rootpage FROM sqlite_schema WHERE name = 'messages'")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        let page_size = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut raw).await.unwrap();
        (root, page_size)
    };
    db.store.close().await;

    // A copy with the messages table's root page scrambled, as a failing disk would leave it.
    let copy = db.dir.path().join("damaged.db");
    std::fs::copy(&db.path, &copy).unwrap();
    flip_bytes(&copy, (root - 1) * page_size, 16);
    let store = Store::open(&chatkeep_core::config::DatabaseUrl::Sqlite(copy.clone())).await.unwrap();
    let pages_before = store.maintenance_figures(false).await.unwrap();

    let events = CollectEvents::default();
    let clock = common::clock();
    for full_check in [false, true] {
        let report = run_with(&store, &clock, Options { full_check, ..Options::default() }, &events).await;
        assert_eq!(report.outcome, Outcome::IntegrityFailed, "{}", report.summary());
        let integrity = report.integrity.as_ref().unwrap();
        assert!(integrity.failed() && !integrity.problems.is_empty(), "{integrity:?}");
        assert!(integrity.problems.iter().all(|p| !p.contains('\n')), "one problem per line: {integrity:?}");
        assert!(report.summary().contains("FAILED; nothing was changed"), "{}", report.summary());
        let vacuum = steps(&report, is_vacuum)[0];
        assert!(vacuum.reason.contains("of pages are free"), "the free pages still call for VACUUM: {}", vacuum.reason);
        assert_eq!(vacuum.status, StepStatus::Skipped, "but a damaged database is never vacuumed");
        assert!(vacuum.detail.as_deref().unwrap_or("").contains("integrity check failed"));
        assert!(report.steps.iter().all(|s| s.status != StepStatus::Done), "nothing ran: {:#?}", report.steps);
        assert!(report.sample.is_none());
        let emitted = events.take();
        assert!(
            matches!(emitted.as_slice(), [Event::IntegrityCheckFailed { problems, first, .. }]
                if *problems == integrity.problems.len() as u64 && first.contains("btreeInitPage")),
            "one loud notification: {emitted:?}"
        );
    }
    let pages_after = store.maintenance_figures(false).await.unwrap();
    assert_eq!(pages_after.pages, pages_before.pages, "the file was not rewritten");
    // The audit rows took a few free pages; a VACUUM would have left none.
    assert!(pages_after.free_pages.unwrap() > pages_before.free_pages.unwrap() - 100);
    let rows = audit_rows(&store).await;
    assert_eq!(rows.len(), 2, "each failed check is in the audit log");
    assert_eq!(rows[0]["outcome"], "integrity_failed");

    // The scheduled job records the run as failed (a problem found, not retried).
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &copy, &[("CHATKEEP_MAINTENANCE_WINDOW", "any")]);
    let outcome = JobName::Maintenance.body()(job_context(&store, config, clock)).await.unwrap();
    assert!(
        matches!(&outcome.finish, Finish::Problem(p) if p.contains("FAILED")),
        "the job reports the problem: {outcome:?}"
    );
    store.close().await;
}

fn flip_bytes(path: &Path, offset: i64, len: usize) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut bytes = vec![0u8; len];
    file.seek(SeekFrom::Start(offset as u64)).unwrap();
    file.read_exact(&mut bytes).unwrap();
    for b in &mut bytes {
        *b ^= 0xff;
    }
    file.seek(SeekFrom::Start(offset as u64)).unwrap();
    file.write_all(&bytes).unwrap();
}

/// Settings as a user would write them, through the environment.
fn config(dir: &Path, database: &Path, vars: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("DATABASE_URL".into(), format!("sqlite://{}", database.display()));
    env.insert("CHAT_BACKUP_DIRECTORY".into(), dir.join("backups").display().to_string());
    env.insert("CHATKEEP_NOTIFY_LOG".into(), "false".into());
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

fn job_context(store: &Store, config: Config, clock: FixedClock) -> JobContext {
    JobContext {
        store: store.clone(),
        config: Arc::new(config),
        clock: Arc::new(clock),
        events: Arc::new(CollectEvents::default()),
        cancel: Cancel::new(),
        passphrase: None,
    }
}

#[tokio::test]
async fn the_scheduled_job_keeps_to_the_low_traffic_window_but_always_samples() {
    let db = TestDb::new().await;
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let config = config(db.dir.path(), &db.path, &[("TIMEZONE", "Europe/Berlin")]);
    assert_eq!(config.maintenance.window.unwrap().to_string(), "01:00-06:00", "the default window");

    // Noon in Berlin: outside 01:00-06:00.
    let noon = berlin.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap().with_timezone(&chrono::Utc);
    let outcome =
        JobName::Maintenance.body()(job_context(&db.store, config.clone(), FixedClock::new(noon))).await.unwrap();
    assert_eq!(outcome.finish, Finish::Skipped);
    let reason = outcome.summary["reason"].as_str().unwrap();
    assert!(
        reason.contains("outside the maintenance window 01:00-06:00 (Europe/Berlin): it is 12:00 there"),
        "{reason}"
    );
    assert_eq!(outcome.summary["sample"]["day"], "2026-11-23", "the day's sample is taken anyway");
    assert!(audit_rows(&db.store).await.is_empty(), "nothing ran");

    // 03:30 in Berlin: inside; the run's figures go into the run history.
    let night = berlin.with_ymd_and_hms(2026, 11, 24, 3, 30, 0).unwrap().with_timezone(&chrono::Utc);
    let outcome =
        JobName::Maintenance.body()(job_context(&db.store, config.clone(), FixedClock::new(night))).await.unwrap();
    assert_eq!(outcome.finish, Finish::Ok, "{outcome:?}");
    assert_eq!(outcome.summary["outcome"], "completed");
    assert!(outcome.summary["figures"]["before"]["bytes"].as_i64().unwrap() > 0);
    assert!(outcome.summary["figures"]["after"]["tables"]["messages"].is_object(), "{}", outcome.summary);
    let rows = audit_rows(&db.store).await;
    assert_eq!(rows.len(), 1, "the scheduled run is audited");
    let history = storage_history(&db.store, berlin, &FixedClock::new(night), 7).await.unwrap();
    let days: Vec<String> = history.iter().map(|s| s.day.to_string()).collect();
    assert_eq!(days, ["2026-11-23", "2026-11-24"], "one sample per day for the chart");

    // A window across midnight.
    let late = config_with_window(&db, "22:00-04:00");
    let at = |h| berlin.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap().with_timezone(&chrono::Utc);
    for (hour, inside) in [(23, true), (2, true), (4, false), (12, false)] {
        let outcome =
            JobName::Maintenance.body()(job_context(&db.store, late.clone(), FixedClock::new(at(hour)))).await.unwrap();
        assert_eq!(outcome.finish != Finish::Skipped, inside, "{hour}:00 inside 22:00-04:00 is {inside}");
    }
}

fn config_with_window(db: &TestDb, window: &str) -> Config {
    config(db.dir.path(), &db.path, &[("TIMEZONE", "Europe/Berlin"), ("CHATKEEP_MAINTENANCE_WINDOW", window)])
}

#[test]
fn maintenance_settings_are_checked_and_named_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkeep.db");
    let resolve = |vars: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("DATABASE_URL".into(), format!("sqlite://{}", db.display()));
        let lookup = move |name: &str| env.get(name).cloned();
        Config::resolve(ConfigInputs {
            explicit_file: None,
            env: &lookup,
            overrides: Overrides::default(),
            dirs: PlatformDirs { config_dir: None, data_dir: Some(dir.path().to_path_buf()) },
            system_timezone: Some("UTC".into()),
        })
    };
    let defaults = resolve(&[]).unwrap().maintenance;
    assert_eq!(
        (defaults.max_table_bloat, defaults.max_index_bloat, defaults.reindex_frequency, defaults.analyze_frequency),
        (20, 30, 30, 7)
    );
    let set = resolve(&[
        ("CHATKEEP_MAINTENANCE_WINDOW", "any"),
        ("CHATKEEP_MAINTENANCE_MAX_TABLE_BLOAT", "35%"),
        ("CHATKEEP_MAINTENANCE_REINDEX_FREQUENCY", "0"),
    ])
    .unwrap()
    .maintenance;
    assert_eq!((set.window, set.max_table_bloat, set.reindex_frequency), (None, 35, 0));

    for (var, value) in [
        ("CHATKEEP_MAINTENANCE_WINDOW", "25:00-06:00"),
        ("CHATKEEP_MAINTENANCE_WINDOW", "03:00-03:00"),
        ("CHATKEEP_MAINTENANCE_MAX_TABLE_BLOAT", "0"),
        ("CHATKEEP_MAINTENANCE_MAX_INDEX_BLOAT", "150"),
        ("CHATKEEP_MAINTENANCE_ANALYZE_FREQUENCY", "-1"),
    ] {
        let error = resolve(&[(var, value)]).unwrap_err().to_string();
        assert!(error.contains(var) && error.contains(value), "the error names {var} and {value:?}: {error}");
    }
}
