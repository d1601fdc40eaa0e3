//! What both retention benchmarks share: the settings they run under, the writer's
//! latency figures, and the lines they print.

use std::time::Instant;

use chatkeep_core::config::RetentionSettings;
use chatkeep_core::ops::retention::RetentionReport;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Every conversation on the default policy of `days`, nothing held back by a backup, no
/// archiving or closing to muddle the figures, and a grace period of 0: what one run
/// expires, the next purges.
pub fn settings(days: u32, batch_size: u32) -> RetentionSettings {
    RetentionSettings {
        default_days: days,
        auto_delete_enabled: true,
        grace_period_days: 0,
        batch_size,
        require_verified_backup: false,
        archive_after_days: 36_500,
        bot_idle_hours: 87_600,
        notice_days: 3,
        rules: Vec::new(),
    }
}

/// How long each of the writer's inserts took, and the longest gap between two of them.
#[derive(Debug)]
pub struct Samples {
    latencies: Vec<f64>,
    last: Instant,
    stall: f64,
    /// The largest the WAL file grew, in bytes (SQLite only).
    pub wal_peak: Option<u64>,
}

impl Samples {
    pub fn new() -> Samples {
        Samples { latencies: Vec::new(), last: Instant::now(), stall: 0.0, wal_peak: None }
    }

    /// Records an insert that began at `started` and has just finished.
    pub fn record(&mut self, started: Instant) {
        self.latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        self.stall = self.stall.max(self.last.elapsed().as_secs_f64() * 1000.0);
        self.last = Instant::now();
    }

    pub fn latency(mut self) -> Latency {
        self.latencies.sort_by(f64::total_cmp);
        let at =
            |q: f64| self.latencies.get(((self.latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0);
        Latency {
            inserts: self.latencies.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
            stall: self.stall,
            wal_peak: self.wal_peak.map(|b| b as f64 / 1_048_576.0),
        }
    }
}

#[derive(Debug)]
pub struct Latency {
    inserts: usize,
    p50: f64,
    p99: f64,
    max: f64,
    /// The longest gap between two completed inserts.
    stall: f64,
    /// MiB.
    wal_peak: Option<f64>,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} inserts, p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms, longest stall {:.0} ms",
            self.inserts, self.p50, self.p99, self.max, self.stall
        )?;
        match self.wal_peak {
            Some(mib) => write!(f, ", WAL peak {mib:.0} MiB"),
            None => Ok(()),
        }
    }
}

pub fn print_expire(report: &RetentionReport, secs: f64, writer: &Latency) {
    println!(
        "chatkeep expire  {:>9} rows in {secs:>6.2} s = {:>8.0} rows/s; writer {writer}; stages {:?}",
        report.expired.messages,
        report.expired.messages as f64 / secs,
        report.stage_ms
    );
}

/// Prints the bare delete's line and returns its rows per second.
pub fn print_bare(deleted: u64, secs: f64, writer: &Latency) -> f64 {
    let rate = deleted as f64 / secs;
    println!("bare DELETE      {deleted:>9} rows in {secs:>6.2} s = {rate:>8.0} rows/s; writer {writer}");
    rate
}

pub fn print_purge(report: &RetentionReport, secs: f64, writer: &Latency, bare_rate: f64, expire_secs: f64) {
    let purged = report.purged.messages as f64;
    let stage = report.stage_ms.get("purge_messages").copied().unwrap_or(0) as f64 / 1000.0;
    println!(
        "chatkeep purge   {purged:>9} rows in {secs:>6.2} s = {:>8.0} rows/s (purge stage alone {stage:.2} s = {:.0} rows/s); \
         writer {writer}; stages {:?}",
        purged / secs,
        purged / stage.max(0.001),
        report.stage_ms
    );
    println!(
        "ratio to bare DELETE: purge run {:.2}x, purge stage {:.2}x, expire + purge {:.2}x",
        (purged / secs) / bare_rate,
        (purged / stage.max(0.001)) / bare_rate,
        (purged / (expire_secs + secs)) / bare_rate
    );
}
