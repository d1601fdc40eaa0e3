//! The decisions: from the measured figures, when each cadence task last ran, the
//! settings and the clock, what a run does and why. A pure function, so every rule can
//! be read (and tested) without a database.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::MaintenanceSettings;
use crate::store::maintenance::{DatabaseFigures, Task};

/// A VACUUM of the whole file that gives back less than this is not worth rewriting it.
pub const MIN_RECLAIM_BYTES: i64 = 1 << 20;
/// A table needs this many dead rows before its dead share counts (PostgreSQL's own
/// autovacuum works the same way): a tiny table with two dead rows is not bloated.
pub const MIN_DEAD_ROWS: i64 = 1_000;
/// Indexes smaller than this are never rebuilt for bloat: the estimate is rough on a few
/// pages, and the gain is nothing.
pub const MIN_INDEX_BYTES: i64 = 1 << 20;

/// Settings keys (the `settings` table) that remember the cadence tasks.
pub const FIRST_RUN: &str = "maintenance.first_run";
pub const LAST_REINDEX: &str = "maintenance.last_reindex";
pub const LAST_ANALYZE: &str = "maintenance.last_analyze";
pub const LAST_FULL_CHECK: &str = "maintenance.last_full_check";

/// When the cadence tasks last ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Marks {
    pub first_run: Option<DateTime<Utc>>,
    pub last_reindex: Option<DateTime<Utc>>,
    pub last_analyze: Option<DateTime<Utc>>,
    pub last_full_check: Option<DateTime<Utc>>,
}

impl Marks {
    pub fn from_pairs(pairs: &[(String, DateTime<Utc>)]) -> Marks {
        let find = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, at)| *at);
        Marks {
            first_run: find(FIRST_RUN),
            last_reindex: find(LAST_REINDEX),
            last_analyze: find(LAST_ANALYZE),
            last_full_check: find(LAST_FULL_CHECK),
        }
    }
}

/// What a step came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The plan runs it (a dry run stops here).
    Planned,
    /// The plan does not run it; the reason says why.
    NotNeeded,
    Done,
    Failed,
    /// Planned, but not run: the integrity check failed.
    Skipped,
    /// Planned, but not run: chatkeep was stopping.
    Cancelled,
}

/// One decision of the plan, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub task: Task,
    /// The statement as the engine runs it.
    pub statement: String,
    pub status: StepStatus,
    /// Why it runs, or why not.
    pub reason: String,
    /// What the engine said, or why it failed or was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

impl Step {
    pub fn runs(&self) -> bool {
        self.status == StepStatus::Planned
    }
}

/// Asked for on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    /// Report what would happen and why; change nothing.
    pub dry_run: bool,
    /// Run the full integrity check, whatever the cadence says.
    pub full_check: bool,
    /// Use VACUUM FULL on PostgreSQL tables over the threshold (exclusive lock);
    /// on SQLite, VACUUM even under the threshold.
    pub vacuum_full: bool,
}

/// Everything the plan decides from.
pub struct Inputs<'a> {
    pub figures: &'a DatabaseFigures,
    pub marks: Marks,
    pub settings: &'a MaintenanceSettings,
    pub options: Options,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    /// The engine's statement for a task (`Store::maintenance_statement`).
    pub statement: &'a (dyn Fn(&Task) -> String + Sync),
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("marks", &self.marks)
            .field("options", &self.options)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The integrity check a run starts with: full when asked or due, else quick.
pub fn integrity_step(inputs: &Inputs<'_>) -> Step {
    let (full, reason) = if inputs.options.full_check {
        (true, "full check asked for (--full)".to_string())
    } else {
        let cadence = cadence(
            inputs,
            Cadence {
                what: "full check",
                setting: "maintenance.full_check_frequency",
                days: inputs.settings.full_check_frequency,
                last: inputs.marks.last_full_check,
                first_time: FirstTime::StartsTheClock,
            },
        );
        match cadence {
            (true, why) => (true, why),
            (false, why) => (false, format!("quick check every run; full check: {why}")),
        }
    };
    step(inputs, Task::IntegrityCheck { full }, true, reason)
}

/// The upkeep after the integrity check, in the order it runs: VACUUM, REINDEX,
/// statistics, checkpoint.
pub fn upkeep_steps(inputs: &Inputs<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    vacuum_steps(inputs, &mut steps);
    reindex_steps(inputs, &mut steps);
    let upkeep = inputs.figures.upkeep;
    if upkeep.optimize {
        steps.push(step(
            inputs,
            Task::Optimize,
            true,
            "every run: refreshes the statistics of the tables that changed enough to need it".into(),
        ));
    } else {
        let (due, reason) = cadence(
            inputs,
            Cadence {
                what: "ANALYZE",
                setting: "maintenance.analyze_frequency",
                days: inputs.settings.analyze_frequency,
                last: inputs.marks.last_analyze,
                first_time: FirstTime::DueNow,
            },
        );
        steps.push(step(inputs, Task::Analyze, due, reason));
    }
    if upkeep.checkpoint {
        let wal = inputs.figures.wal_bytes.unwrap_or(0);
        steps.push(step(
            inputs,
            Task::Checkpoint,
            true,
            format!(
                "every run: copies the write-ahead log ({}) into the database file and empties it",
                human_bytes(wal)
            ),
        ));
    }
    steps
}

fn vacuum_steps(inputs: &Inputs<'_>, steps: &mut Vec<Step>) {
    let figures = inputs.figures;
    let max = inputs.settings.max_table_bloat;
    let full = inputs.options.vacuum_full;
    if figures.upkeep.whole_database_vacuum {
        let free = figures.free_pages.unwrap_or(0);
        let pages = figures.pages.max(1);
        let percent = free as f64 * 100.0 / pages as f64;
        let reclaim = free * figures.page_size;
        let shown = format!(
            "{percent:.1}% of pages are free ({} of {} pages, {})",
            thousands(free),
            thousands(figures.pages),
            human_bytes(reclaim)
        );
        let (runs, reason) = if full {
            (true, format!("asked for (--vacuum-full): VACUUM rebuilds the whole file; {shown}"))
        } else if percent > f64::from(max) && reclaim >= MIN_RECLAIM_BYTES {
            (true, format!("{shown}, over max_table_bloat {max}%"))
        } else if percent > f64::from(max) {
            (
                false,
                format!(
                    "{shown}: over max_table_bloat {max}%, but under {} to give back, not worth rewriting the file",
                    human_bytes(MIN_RECLAIM_BYTES)
                ),
            )
        } else {
            (false, format!("{shown}, within max_table_bloat {max}%"))
        };
        steps.push(step(inputs, Task::Vacuum { table: None, full: false }, runs, reason));
        return;
    }

    if figures.tables.is_empty() {
        steps.push(step(
            inputs,
            Task::Vacuum { table: None, full: false },
            false,
            "no table figures were measured".into(),
        ));
        return;
    }
    let mut any = false;
    for table in &figures.tables {
        let dead = table.dead_rows.unwrap_or(0);
        if table.bloat_percent <= f64::from(max) || dead < MIN_DEAD_ROWS {
            continue;
        }
        any = true;
        let shown = format!(
            "{:.1}% of its rows are dead ({} dead, {} live), over max_table_bloat {max}%",
            table.bloat_percent,
            thousands(dead),
            thousands(table.rows)
        );
        let task = Task::Vacuum { table: Some(table.table.clone()), full };
        if !table.may_vacuum {
            let reason =
                format!("{shown}; not run: chatkeep's database user does not own {}, ask its owner", table.table);
            steps.push(step(inputs, task, false, reason));
        } else if full {
            let reason = format!(
                "{shown}; FULL asked for (--vacuum-full): the table is rewritten under an exclusive lock, \
                 so the chat service waits for it"
            );
            steps.push(step(inputs, task, true, reason));
        } else {
            steps.push(step(inputs, task, true, shown));
        }
    }
    if !any {
        let highest = figures
            .tables
            .iter()
            .filter(|t| t.dead_rows.unwrap_or(0) >= MIN_DEAD_ROWS)
            .max_by(|a, b| a.bloat_percent.total_cmp(&b.bloat_percent));
        let reason = match highest {
            None => format!("no table has {} dead rows or more", thousands(MIN_DEAD_ROWS)),
            Some(t) => format!(
                "no table has more than max_table_bloat {max}% dead rows; highest: {} with {:.1}% ({} dead)",
                t.table,
                t.bloat_percent,
                thousands(t.dead_rows.unwrap_or(0))
            ),
        };
        steps.push(step(inputs, Task::Vacuum { table: None, full: false }, false, reason));
    }
}

fn reindex_steps(inputs: &Inputs<'_>, steps: &mut Vec<Step>) {
    let figures = inputs.figures;
    if !figures.upkeep.reindex_by_estimate {
        let vacuum_runs = steps.iter().any(|s| matches!(s.task, Task::Vacuum { .. }) && s.runs());
        if vacuum_runs {
            steps.push(step(
                inputs,
                Task::Reindex { index: None },
                false,
                "VACUUM rebuilds every index; it counts as this cadence's REINDEX".into(),
            ));
            return;
        }
        let (due, reason) = cadence(
            inputs,
            Cadence {
                what: "REINDEX",
                setting: "maintenance.reindex_frequency",
                days: inputs.settings.reindex_frequency,
                last: inputs.marks.last_reindex,
                first_time: FirstTime::StartsTheClock,
            },
        );
        steps.push(step(inputs, Task::Reindex { index: None }, due, reason));
        return;
    }

    let max = inputs.settings.max_index_bloat;
    let rewritten: Vec<String> = steps
        .iter()
        .filter(|s| s.runs())
        .filter_map(|s| match &s.task {
            Task::Vacuum { table: Some(t), full: true } => Some(t.name.clone()),
            _ => None,
        })
        .collect();
    let mut any = false;
    for index in &figures.indexes {
        let Some(bloat) = index.bloat_percent else { continue };
        if !index.valid || bloat <= f64::from(max) || index.bytes < MIN_INDEX_BYTES {
            continue;
        }
        any = true;
        let shown = format!(
            "an estimated {bloat:.1}% of its {} is bloat, over max_index_bloat {max}%",
            human_bytes(index.bytes)
        );
        let task = Task::Reindex { index: Some(index.index.clone()) };
        if rewritten.contains(&index.table) {
            steps.push(step(inputs, task, false, format!("{shown}; VACUUM FULL of {} rebuilds it", index.table)));
        } else {
            steps.push(step(inputs, task, true, shown));
        }
    }
    if !any {
        let highest = figures
            .indexes
            .iter()
            .filter(|i| i.bytes >= MIN_INDEX_BYTES)
            .filter_map(|i| i.bloat_percent.map(|b| (i, b)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or_else(
                || "no estimate for any index of that size".to_string(),
                |(i, b)| format!("highest estimate: {} with {b:.1}%", i.index),
            );
        let reason = format!(
            "no index over {} is estimated above max_index_bloat {max}%; {highest}",
            human_bytes(MIN_INDEX_BYTES)
        );
        steps.push(step(inputs, Task::Reindex { index: None }, false, reason));
    }
}

/// What a cadence task with no record does on its first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstTime {
    /// Runs now (cheap tasks: a database never analyzed has nothing to plan with).
    DueNow,
    /// The clock starts with maintenance's first run: installing chatkeep on a large
    /// database does not begin with a REINDEX or a full check.
    StartsTheClock,
}

struct Cadence {
    what: &'static str,
    setting: &'static str,
    days: u32,
    last: Option<DateTime<Utc>>,
    first_time: FirstTime,
}

/// Whether a cadence task is due, and why. Days are counted as calendar days in the
/// configured zone, so a daily run at 03:30 is never a few seconds short of "a day later".
fn cadence(inputs: &Inputs<'_>, c: Cadence) -> (bool, String) {
    let (what, setting, days) = (c.what, c.setting, c.days);
    if days == 0 {
        return (false, format!("{setting} is 0: never"));
    }
    let today = local_date(inputs.now, inputs.tz);
    let every = format!("{setting} {days} days");
    let (since, counted_from) = match (c.last, inputs.marks.first_run) {
        (Some(last), _) => (local_date(last, inputs.tz), format!("last {what} on")),
        (None, Some(first)) => (local_date(first, inputs.tz), format!("no {what} yet since maintenance first ran on")),
        (None, None) => {
            return match c.first_time {
                FirstTime::DueNow => (true, format!("no {what} recorded yet ({every})")),
                FirstTime::StartsTheClock => {
                    let first = today + Duration::days(i64::from(days));
                    (false, format!("counted from this first maintenance run: first {what} due on {first} ({every})"))
                }
            };
        }
    };
    let due_on = since + Duration::days(i64::from(days));
    let ago = (today - since).num_days();
    if today >= due_on {
        (true, format!("{counted_from} {since}, {ago} days ago ({every})"))
    } else {
        (false, format!("{counted_from} {since}; next due on {due_on} ({every})"))
    }
}

fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

fn step(inputs: &Inputs<'_>, task: Task, runs: bool, reason: String) -> Step {
    Step {
        statement: (inputs.statement)(&task),
        task,
        status: if runs { StepStatus::Planned } else { StepStatus::NotNeeded },
        reason,
        detail: None,
        ms: None,
    }
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
