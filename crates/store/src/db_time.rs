//! How timestamps are stored: UTC text in one fixed shape (`2026-03-01T09:30:00.000Z`),
//! so that string order is time order on every engine that stores text.

use chrono::{DateTime, SecondsFormat, Utc};

/// The one shape timestamps are stored in.
pub fn to_db(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored timestamp (or any RFC 3339 instant) back as UTC.
pub fn from_db(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}
