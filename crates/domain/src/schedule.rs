//! Cron expressions read in a time zone, with daylight-saving changes handled
//! the way people expect: a time the clock skips (02:30 on a spring-forward
//! day) runs once, at the first instant after the jump; a time the clock
//! passes twice (02:30 on a fall-back day) runs once, the first time.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed cron expression and the zone its wall-clock times are read in.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
    tz: Tz,
}

/// Occurrences looked at in one go at most: a schedule of every second left
/// alone for a year is not walked to the end.
pub const MAX_OCCURRENCES: usize = 10_000;

impl Schedule {
    fn parser() -> CronParser {
        CronParser::builder().seconds(Seconds::Optional).build()
    }

    /// Checks an expression's syntax; the error says what is wrong with it.
    pub fn check(text: &str) -> Result<(), String> {
        Schedule::parser().parse(text.trim()).map(|_| ()).map_err(|e| e.to_string())
    }

    pub fn parse(text: &str, tz: Tz) -> Result<Schedule, String> {
        let cron =
            Schedule::parser().parse(text.trim()).map_err(|e| format!("invalid cron expression {text:?}: {e}"))?;
        Ok(Schedule { cron, text: text.trim().to_string(), tz })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        // Two wall-clock times in a skipped hour resolve to the same instant; never go backwards or repeat.
        if next.with_timezone(&Utc) <= after {
            return self.next_after(after + chrono::Duration::seconds(1));
        }
        Some(next.with_timezone(&Utc))
    }

    /// Occurrences in `(after, until]`, oldest first, at most [`MAX_OCCURRENCES`]
    /// (the newest ones are kept when there are more).
    pub fn between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut found = std::collections::VecDeque::new();
        let mut cursor = after;
        while let Some(next) = self.next_after(cursor) {
            if next > until {
                break;
            }
            if found.len() == MAX_OCCURRENCES {
                found.pop_front();
            }
            found.push_back(next);
            cursor = next;
        }
        found.into()
    }

    /// A plain-words reading of the expression ("At 01:00").
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

impl FromStr for Schedule {
    type Err = String;

    /// Parses in UTC; use [`Schedule::parse`] for another zone.
    fn from_str(text: &str) -> Result<Schedule, String> {
        Schedule::parse(text, Tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn spring_forward_runs_once_right_after_the_jump() {
        // Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let schedule = Schedule::parse("30 2 * * *", berlin).unwrap();
        let runs = schedule.between(utc("2026-03-27T12:00:00Z"), utc("2026-03-30T12:00:00Z"));
        let local: Vec<String> = runs.iter().map(|r| r.with_timezone(&berlin).to_rfc3339()).collect();
        assert_eq!(
            local,
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
            "one run a day, the skipped one at the first instant after the gap"
        );
    }

    #[test]
    fn fall_back_runs_once_the_first_time() {
        // Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let schedule = Schedule::parse("30 2 * * *", berlin).unwrap();
        let runs = schedule.between(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"));
        let local: Vec<String> = runs.iter().map(|r| r.with_timezone(&berlin).to_rfc3339()).collect();
        assert_eq!(local, ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]);
    }

    #[test]
    fn monthly_in_a_zone_ahead_of_utc() {
        let kl: Tz = "Asia/Kuala_Lumpur".parse().unwrap();
        let schedule = Schedule::parse("0 2 1 * *", kl).unwrap();
        let next = schedule.next_after(kl.with_ymd_and_hms(2026, 1, 31, 23, 59, 0).unwrap().with_timezone(&Utc));
        assert_eq!(next.unwrap().with_timezone(&kl).to_rfc3339(), "2026-02-01T02:00:00+08:00");
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in ["", "61 * * * *", "* * *", "0 25 * * *", "every day"] {
            assert!(Schedule::check(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Schedule::check("*/5 * * * * *").is_ok(), "six fields: seconds first");
    }
}
