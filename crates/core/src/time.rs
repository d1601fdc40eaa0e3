//! Timestamps and calendar arithmetic in the configured time zone.
//!
//! Stored timestamps are UTC text in one fixed shape (`2026-03-01T09:30:00.000Z`)
//! so that string order is time order on every engine that stores text. User
//! input is either an RFC 3339 instant or a calendar date, read as local
//! midnight in the configured zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use chatkeep_store::db_time::{from_db, to_db};

/// Truncates an instant to the stored precision (milliseconds).
pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// Parses an RFC 3339 instant given by a user, naming `what` in the error.
pub fn parse_instant(what: &str, text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| truncate_to_millis(t.with_timezone(&Utc))).map_err(|_| {
        format!("{what}: expected an RFC 3339 timestamp with a zone, such as 2026-03-01T09:30:00Z, got {text:?}")
    })
}

/// Parses a date (`2026-03-01`, local midnight in `tz`) or an RFC 3339 instant.
pub fn parse_date_or_instant(what: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(start_of_day(date, tz));
    }
    parse_instant(what, text).map_err(|_| {
        format!(
            "{what}: expected a date such as 2026-03-01 or an RFC 3339 timestamp such as 2026-03-01T09:30:00Z, got {text:?}"
        )
    })
}

/// The first instant of `date` in `tz`. On a day whose midnight falls in a DST
/// gap, that is the first instant that exists.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    // DST gaps are at most a few hours; step forward until the local time exists.
    for _ in 0..(24 * 4) {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// The first instant of the calendar month (`year`, `month`) in `tz`.
pub fn start_of_month(year: i32, month: u32, tz: Tz) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    start_of_day(date, tz)
}

/// A calendar month: (year, month 1..=12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// The month that contains `at` in `tz`.
    pub fn containing(at: DateTime<Utc>, tz: Tz) -> Month {
        let local = at.with_timezone(&tz);
        Month { year: local.year(), month: local.month() }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { year: self.year, month: self.month - 1 }
        }
    }

    /// The half-open UTC range [start, end) this month covers in `tz`.
    pub fn range(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = self.next();
        (start_of_month(self.year, self.month, tz), start_of_month(next.year, next.month, tz))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_as_time() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + Duration::milliseconds(1);
        assert_eq!(to_db(a), "2026-01-02T03:04:05.000Z");
        assert!(to_db(a) < to_db(b), "text order must follow time order");
        assert_eq!(from_db(&to_db(b)), Some(b));
    }

    #[test]
    fn a_month_in_kuala_lumpur_starts_at_local_midnight() {
        let tz: Tz = "Asia/Kuala_Lumpur".parse().unwrap();
        let (start, end) = Month { year: 2026, month: 2 }.range(tz);
        assert_eq!(to_db(start), "2026-01-31T16:00:00.000Z");
        assert_eq!(to_db(end), "2026-02-28T16:00:00.000Z");
    }

    #[test]
    fn a_day_starting_in_a_dst_gap_begins_at_the_first_real_instant() {
        // Santiago skips 00:00-01:00 local on its spring-forward day.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = start_of_day(date, tz);
        assert_eq!(start.with_timezone(&tz).format("%H:%M").to_string(), "01:00");
    }
}
