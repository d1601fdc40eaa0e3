//! Scrubbing email addresses and phone numbers out of message bodies an anonymization keeps.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub const EMAIL_MARK: &str = "[email removed]";
pub const PHONE_MARK: &str = "[phone removed]";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b")
        .expect("the email pattern compiles")
});

/// A number written with an international prefix (`+49 30 1234567`, `0049-30-1234567`:
/// 7 to 15 digits), or a long local one (9 to 15 digits: `030 1234 5678`). Dates and
/// times (`2026-11-23`, `2026-11-23 10:30`) are left alone: see [`looks_like_a_date`].
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\b00)\d(?:[ ./()-]{0,2}\d){6,14}\b|\b\d(?:[ ./()-]{0,2}\d){8,14}\b")
        .expect("the phone pattern compiles")
});

/// A calendar date at the start of a match (`2026-11-23`, `2026/1/5`): a year, a month, a day.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])\b")
        .expect("the date pattern compiles")
});

fn looks_like_a_date(found: &str) -> bool {
    DATE.is_match(found)
}

/// What a scrub removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubCounts {
    /// Bodies that changed.
    pub messages: u64,
    pub emails: u64,
    pub phones: u64,
}

impl ScrubCounts {
    pub fn add(&mut self, other: ScrubCounts) {
        self.messages += other.messages;
        self.emails += other.emails;
        self.phones += other.phones;
    }
}

/// The body with every email address and phone number replaced by a marker, and how many of
/// each; `None` when nothing was found.
pub fn scrub(body: &str) -> Option<(String, ScrubCounts)> {
    let mut counts = ScrubCounts::default();
    let without_emails = EMAIL.replace_all(body, |_: &regex::Captures<'_>| {
        counts.emails += 1;
        EMAIL_MARK
    });
    let without_phones = PHONE.replace_all(&without_emails, |c: &regex::Captures<'_>| {
        let found = &c[0];
        if looks_like_a_date(found) {
            found.to_string()
        } else {
            counts.phones += 1;
            PHONE_MARK.to_string()
        }
    });
    if counts.emails + counts.phones == 0 {
        return None;
    }
    counts.messages = 1;
    Some((without_phones.into_owned(), counts))
}

/// Whether a body still holds an email address or phone number (the certificate's check).
pub fn has_contact_details(body: &str) -> bool {
    scrub(body).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_are_replaced_and_counted_but_dates_stay() {
        let (out, counts) = scrub(
            "Mail Ana.Lima@Example.org or call +49 30 1234567, 0049-30-7654321 or 030 1234 5678 on 2026-11-23 10:30",
        )
        .unwrap();
        assert_eq!(
            out,
            "Mail [email removed] or call [phone removed], [phone removed] or [phone removed] on 2026-11-23 10:30"
        );
        assert_eq!(counts, ScrubCounts { messages: 1, emails: 1, phones: 3 });
        assert!(scrub("order 12345 shipped on 2026-11-23").is_none(), "short numbers and dates are not phones");
    }
}
