//! `chatkeep maintain`: keeps the database healthy, and records how it grows.
//!
//! A run checks integrity first (quick by default, full on a cadence or when asked),
//! then measures (sizes, wasted space per table, index bloat) and [`plan`]s: each
//! upkeep step with the reason it runs or does not. It executes the plan one statement
//! at a time outside any transaction, measures again, and records the before and after
//! figures in the audit log (the scheduler's run history gets them too). A database that
//! fails its integrity check is never rewritten: the run stops, says so loudly (an
//! [`Event::IntegrityCheckFailed`] notification) and changes nothing.
//!
//! A dry run measures and plans and changes nothing. The scheduled job runs only inside
//! the low-traffic window (`maintenance.window`); outside it, it records why it skipped.
//! Every run (and a skipped scheduled one) stores the day's [`StorageSample`] for the
//! dashboard's growth charts ([`storage_history`]).

pub mod plan;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;

pub use plan::{Marks, Options, Step, StepStatus};

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::config::MaintenanceSettings;
use crate::domain::Actor;
use crate::error::Result;
use crate::events::{Event, EventSink};
use crate::ops::{Cancel, Progress};
use crate::store::Store;
pub use crate::store::maintenance::{DatabaseFigures, IntegrityReport, StorageSample, Task};
use crate::time::{to_db, truncate_to_millis};

/// Everything maintenance needs: the database, the settings, the zone its window and days are read in, and the clock.
#[derive(Clone, Copy)]
pub struct Maintenance<'a> {
    pub store: &'a Store,
    pub settings: &'a MaintenanceSettings,
    pub tz: Tz,
    pub clock: &'a dyn Clock,
}

impl std::fmt::Debug for Maintenance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance").field("settings", self.settings).field("tz", &self.tz).finish_non_exhaustive()
    }
}

/// The shell's hooks into a run.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// Steps done of steps planned.
    pub progress: &'a dyn Progress,
    pub events: &'a dyn EventSink,
    /// Checked between steps; a statement that has started runs to its end.
    pub cancel: &'a Cancel,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("cancel", self.cancel).finish_non_exhaustive()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A dry run: the plan only.
    Planned,
    Completed,
    /// Some steps failed; the others ran.
    Problems,
    /// The integrity check failed: nothing was changed.
    IntegrityFailed,
    Cancelled,
}

/// Whether now is inside the low-traffic window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowCheck {
    /// `01:00-06:00`, or `any`.
    pub window: String,
    pub timezone: String,
    /// The local time it was checked at (`HH:MM`).
    pub local_time: String,
    pub inside: bool,
}

impl WindowCheck {
    /// Why a scheduled run did not start.
    pub fn skip_reason(&self) -> String {
        format!(
            "outside the maintenance window {} ({}): it is {} there; the next scheduled time inside it runs \
             (maintenance.window)",
            self.window, self.timezone, self.local_time
        )
    }
}

/// What a run (or a dry run) found, decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceReport {
    pub engine: &'static str,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub started_at: String,
    pub finished_at: String,
    pub window: WindowCheck,
    /// `None` in a dry run (the check is planned, not run).
    pub integrity: Option<IntegrityReport>,
    /// The integrity check first, then the upkeep, in the order they run.
    pub steps: Vec<Step>,
    pub before: DatabaseFigures,
    /// Measured after the run; `None` in a dry run or when the integrity check failed.
    pub after: Option<DatabaseFigures>,
    /// The day's storage sample, once stored.
    pub sample: Option<StorageSample>,
    pub settings: MaintenanceSettings,
    pub notes: Vec<String>,
}

impl MaintenanceReport {
    /// One line a person can read.
    pub fn summary(&self) -> String {
        let done: Vec<&str> =
            self.steps.iter().filter(|s| s.status == StepStatus::Done).map(|s| s.statement.as_str()).collect();
        let planned: Vec<&str> =
            self.steps.iter().filter(|s| s.status == StepStatus::Planned).map(|s| s.statement.as_str()).collect();
        let failed: Vec<&str> =
            self.steps.iter().filter(|s| s.status == StepStatus::Failed).map(|s| s.statement.as_str()).collect();
        let size = match &self.after {
            Some(after) => {
                format!("{} -> {}", plan::human_bytes(self.before.bytes), plan::human_bytes(after.bytes))
            }
            None => plan::human_bytes(self.before.bytes),
        };
        match self.outcome {
            Outcome::Planned => format!("would run: {}; database {size}", list(&planned)),
            Outcome::IntegrityFailed => {
                let check = self.integrity.as_ref().map_or("integrity check", |i| i.method.as_str());
                format!("{check} FAILED; nothing was changed (database {size})")
            }
            Outcome::Completed => format!("done: {}; database {size}", list(&done)),
            Outcome::Problems => format!("done: {}; FAILED: {}; database {size}", list(&done), failed.join(", ")),
            Outcome::Cancelled => format!("cancelled after: {}; database {size}", list(&done)),
        }
    }

    /// Before and after figures, compact: what the audit row and the run history keep.
    pub fn figures(&self) -> serde_json::Value {
        json!({ "before": compact(&self.before), "after": self.after.as_ref().map(compact) })
    }

    /// The run as the scheduler's history records it.
    pub fn run_summary(&self) -> serde_json::Value {
        json!({
            "outcome": self.outcome,
            "summary": self.summary(),
            "integrity": self.integrity.as_ref().map(|i| json!({ "status": i.status, "method": i.method })),
            "steps": self.steps.iter().map(|s| json!({ "statement": s.statement, "status": s.status })).collect::<Vec<_>>(),
            "figures": self.figures(),
            "sample": self.sample,
        })
    }

    fn counts(&self) -> serde_json::Value {
        let count = |status: StepStatus| self.steps.iter().filter(|s| s.status == status).count();
        json!({
            "steps_done": count(StepStatus::Done),
            "steps_failed": count(StepStatus::Failed),
            "bytes_before": self.before.bytes,
            "bytes_after": self.after.as_ref().map(|a| a.bytes),
        })
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() { "nothing".into() } else { items.join(", ") }
}

/// The figures that matter for a later look: sizes and wasted space per table and index.
fn compact(figures: &DatabaseFigures) -> serde_json::Value {
    let tables: serde_json::Map<String, serde_json::Value> = figures
        .tables
        .iter()
        .map(|t| {
            let mut entry = json!({
                "rows": t.rows, "bytes": t.bytes, "index_bytes": t.index_bytes, "bloat_percent": t.bloat_percent,
            });
            if let Some(dead) = t.dead_rows {
                entry["dead_rows"] = dead.into();
            }
            (t.table.name.clone(), entry)
        })
        .collect();
    let indexes: serde_json::Map<String, serde_json::Value> = figures
        .indexes
        .iter()
        .map(|i| (i.index.name.clone(), json!({ "bytes": i.bytes, "bloat_percent": i.bloat_percent })))
        .collect();
    json!({
        "bytes": figures.bytes,
        "pages": figures.pages,
        "free_pages": figures.free_pages,
        "wal_bytes": figures.wal_bytes,
        "tables": tables,
        "indexes": indexes,
    })
}

impl Maintenance<'_> {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_millis(self.clock.now())
    }

    /// Whether now is inside `maintenance.window`.
    pub fn window(&self) -> WindowCheck {
        let local = self.clock.now().with_timezone(&self.tz);
        let time = local.time();
        WindowCheck {
            window: self.settings.window.map_or_else(|| "any".to_string(), |w| w.to_string()),
            timezone: self.tz.name().to_string(),
            local_time: local.format("%H:%M").to_string(),
            inside: self.settings.window.is_none_or(|w| w.contains(time)),
        }
    }

    /// When the cadence tasks last ran.
    pub async fn marks(&self) -> Result<Marks> {
        Ok(Marks::from_pairs(&self.store.maintenance_marks().await?))
    }

    /// Runs maintenance (or, with `options.dry_run`, reports what it would do and why,
    /// changing nothing). Runs whenever asked: the window binds the scheduled job only.
    pub async fn run(&self, options: Options, actor: Actor, hooks: Hooks<'_>) -> Result<MaintenanceReport> {
        let started_at = self.now();
        let marks = self.marks().await?;
        let statement = |task: &Task| self.store.maintenance_statement(task);
        let window = self.window();

        if options.dry_run {
            let (before, notes) = self.measure().await?;
            let steps = {
                let inputs = self.inputs(&before, marks, options, started_at, &statement);
                let mut steps = vec![plan::integrity_step(&inputs)];
                steps.extend(plan::upkeep_steps(&inputs));
                steps
            };
            return Ok(self.report(options, Outcome::Planned, started_at, window, None, steps, before, None, notes));
        }

        // The check comes first, before anything reads the tables: damage shows here as a
        // failed check, not as a confusing error half way through a measurement.
        let first = self.store.maintenance_figures(false).await?;
        let mut check = plan::integrity_step(&self.inputs(&first, marks, options, started_at, &statement));
        let full = matches!(check.task, Task::IntegrityCheck { full: true });
        let clock = Instant::now();
        let integrity = self.store.integrity_check(full).await?;
        check.ms = Some(elapsed_ms(clock));
        check.detail = Some(integrity_detail(&integrity));

        if integrity.failed() {
            check.statement = integrity.method.clone();
            check.status = StepStatus::Failed;
            let mut steps = vec![check];
            for mut step in plan::upkeep_steps(&self.inputs(&first, marks, options, started_at, &statement)) {
                if step.runs() {
                    step.status = StepStatus::Skipped;
                    step.detail = Some(
                        "not run: the integrity check failed, and upkeep never rewrites a damaged database; \
                         restore from a verified backup (chatkeep backup restore)"
                            .into(),
                    );
                }
                steps.push(step);
            }
            hooks.events.emit(Event::IntegrityCheckFailed {
                check: integrity.method.clone(),
                problems: integrity.problems.len() as u64,
                first: integrity.problems.first().cloned().unwrap_or_else(|| "no detail given".into()),
            });
            tracing::error!(check = %integrity.method, problems = ?integrity.problems, "database integrity check failed");
            let report = self.report(
                options,
                Outcome::IntegrityFailed,
                started_at,
                window,
                Some(integrity),
                steps,
                first,
                None,
                Vec::new(),
            );
            self.record(actor, &report, marks).await?;
            return Ok(report);
        }
        // The statement as it ran ("amcheck bt_index_check on 12 indexes").
        check.statement = integrity.method.clone();
        check.status = if integrity.status == "unavailable" { StepStatus::NotNeeded } else { StepStatus::Done };

        let (before, notes) = self.measure().await?;
        let mut steps = vec![check];
        steps.extend(plan::upkeep_steps(&self.inputs(&before, marks, options, started_at, &statement)));
        let total = steps.iter().filter(|s| s.runs()).count() as u64 + 1;
        hooks.progress.set_total(total);
        hooks.progress.advance_to(1);

        let mut done = 1;
        let mut outcome = Outcome::Completed;
        for step in steps.iter_mut().filter(|s| s.runs()) {
            if hooks.cancel.is_cancelled() {
                step.status = StepStatus::Cancelled;
                step.detail = Some("not run: chatkeep was stopping".into());
                outcome = Outcome::Cancelled;
                continue;
            }
            let clock = Instant::now();
            match self.store.run_maintenance_task(&step.task).await {
                Ok(detail) => {
                    step.status = StepStatus::Done;
                    step.detail = detail;
                }
                Err(error) => {
                    tracing::warn!(statement = %step.statement, error = ?error, "maintenance step failed");
                    step.status = StepStatus::Failed;
                    step.detail = Some(error.to_string());
                    if outcome == Outcome::Completed {
                        outcome = Outcome::Problems;
                    }
                }
            }
            step.ms = Some(elapsed_ms(clock));
            done += 1;
            hooks.progress.advance_to(done);
        }

        let (after, mut after_notes) = self.measure().await?;
        let mut notes = notes;
        notes.append(&mut after_notes);
        let mut report =
            self.report(options, outcome, started_at, window, Some(integrity), steps, before, Some(after), notes);
        self.record(actor, &report, marks).await?;
        match self.take_sample().await {
            Ok(sample) => report.sample = Some(sample),
            Err(e) => report.notes.push(format!("the day's storage sample was not stored: {e}")),
        }
        Ok(report)
    }

    fn inputs<'b>(
        &'b self,
        figures: &'b DatabaseFigures,
        marks: Marks,
        options: Options,
        now: DateTime<Utc>,
        statement: &'b (dyn Fn(&Task) -> String + Sync),
    ) -> plan::Inputs<'b> {
        plan::Inputs { figures, marks, settings: self.settings, options, now, tz: self.tz, statement }
    }

    /// All the figures; if the tables cannot be read, the database-wide ones and why.
    async fn measure(&self) -> Result<(DatabaseFigures, Vec<String>)> {
        match self.store.maintenance_figures(true).await {
            Ok(figures) => Ok((figures, Vec::new())),
            Err(e) => {
                tracing::warn!(error = ?e, "cannot measure the tables");
                let figures = self.store.maintenance_figures(false).await?;
                Ok((figures, vec![format!("per-table figures could not be measured: {e}")]))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        options: Options,
        outcome: Outcome,
        started_at: DateTime<Utc>,
        window: WindowCheck,
        integrity: Option<IntegrityReport>,
        steps: Vec<Step>,
        before: DatabaseFigures,
        after: Option<DatabaseFigures>,
        mut notes: Vec<String>,
    ) -> MaintenanceReport {
        if !window.inside {
            let what = if options.dry_run { "a run now would be" } else { "run" };
            notes.push(format!(
                "{what} outside the maintenance window {} ({}, now {}): the chat service may be busy \
                 (the scheduled job waits for the window)",
                window.window, window.timezone, window.local_time
            ));
        }
        for index in before.indexes.iter().filter(|i| !i.valid) {
            notes.push(format!(
                "index {} is invalid (a concurrent build that failed): it slows writes and serves no query; drop it",
                index.index
            ));
        }
        MaintenanceReport {
            engine: before.engine,
            dry_run: options.dry_run,
            outcome,
            started_at: to_db(started_at),
            finished_at: to_db(self.now()),
            window,
            integrity,
            steps,
            before,
            after,
            sample: None,
            settings: self.settings.clone(),
            notes,
        }
    }

    /// The audit row and the cadence marks, in one transaction.
    async fn record(&self, actor: Actor, report: &MaintenanceReport, marks: Marks) -> Result<()> {
        let started = crate::time::from_db(&report.started_at).unwrap_or_else(|| self.now());
        let done =
            |is: &dyn Fn(&Task) -> bool| report.steps.iter().any(|s| s.status == StepStatus::Done && is(&s.task));
        let whole_file_vacuumed =
            report.before.upkeep.whole_database_vacuum && done(&|t| matches!(t, Task::Vacuum { .. }));
        let mut updates: Vec<(&str, DateTime<Utc>)> = Vec::new();
        if marks.first_run.is_none() {
            updates.push((plan::FIRST_RUN, started));
        }
        if done(&|t| matches!(t, Task::Reindex { index: None })) || whole_file_vacuumed {
            updates.push((plan::LAST_REINDEX, started));
        }
        if done(&|t| matches!(t, Task::Analyze)) {
            updates.push((plan::LAST_ANALYZE, started));
        }
        if done(&|t| matches!(t, Task::IntegrityCheck { full: true })) {
            updates.push((plan::LAST_FULL_CHECK, started));
        }

        let s = self.settings;
        let mut tx = self.store.begin().await?;
        for (key, at) in updates {
            tx.set_maintenance_mark(key, at).await?;
        }
        audit::append(
            &mut tx,
            self.now(),
            AuditEntry::new(actor, "maintenance.run")
                .target(report.engine)
                .details(json!({
                    "outcome": report.outcome,
                    "summary": report.summary(),
                    "window": report.window,
                    "integrity": report.integrity,
                    "steps": report.steps.iter().map(|s| json!({
                        "statement": s.statement, "status": s.status, "reason": s.reason, "detail": s.detail, "ms": s.ms,
                    })).collect::<Vec<_>>(),
                    "settings": {
                        "max_table_bloat": s.max_table_bloat,
                        "max_index_bloat": s.max_index_bloat,
                        "reindex_frequency": s.reindex_frequency,
                        "analyze_frequency": s.analyze_frequency,
                        "full_check_frequency": s.full_check_frequency,
                    },
                    "figures": report.figures(),
                }))
                .counts(report.counts()),
        )
        .await?;
        Ok(tx.commit().await?)
    }

    /// Stores today's storage sample (today in the configured zone), replacing an earlier one.
    pub async fn take_sample(&self) -> Result<StorageSample> {
        let now = self.now();
        let counts = self.store.sample_counts().await?;
        let sample = StorageSample {
            day: now.with_timezone(&self.tz).date_naive(),
            taken_at: to_db(now),
            database_bytes: counts.database_bytes,
            messages: counts.messages,
            conversations: counts.conversations,
            backup_bytes: counts.backup_bytes,
        };
        self.store.record_storage_sample(&sample).await?;
        Ok(sample)
    }
}

/// The daily samples of the last `days` days (today included, in the configured zone),
/// oldest first: the dashboard's growth chart.
pub async fn storage_history(store: &Store, tz: Tz, clock: &dyn Clock, days: u32) -> Result<Vec<StorageSample>> {
    let today = clock.now().with_timezone(&tz).date_naive();
    let from = today - Duration::days(i64::from(days.max(1)) - 1);
    Ok(store.storage_samples(from, today).await?)
}

fn integrity_detail(report: &IntegrityReport) -> String {
    let mut text = format!("{}: {}", report.method, report.status);
    match report.problems.as_slice() {
        [] => {}
        [only] => text.push_str(&format!(" ({only})")),
        [first, ..] => text.push_str(&format!(" ({} problems; first: {first})", report.problems.len())),
    }
    if let Some(note) = &report.note {
        text.push_str(&format!("; {note}"));
    }
    text
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
