//! Per-conversation retention policies, parsed in one place.

use std::fmt;
use std::str::FromStr;

/// How long a conversation's messages live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Expires once every participant has a read receipt for it.
    Instant,
    /// Expires `N` days after it was created (N ≥ 1).
    Days(u32),
    /// Never expires.
    Forever,
}

impl RetentionPolicy {
    pub const ACCEPTED: &'static str = "instant, forever, or a number of days written like 3d, 7d or 30d (1d or more)";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retention policy {given:?} is not valid: use {}", RetentionPolicy::ACCEPTED)]
pub struct PolicyParseError {
    pub given: String,
}

impl FromStr for RetentionPolicy {
    type Err = PolicyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || PolicyParseError { given: text.to_string() };
        match text {
            "instant" => Ok(RetentionPolicy::Instant),
            "forever" => Ok(RetentionPolicy::Forever),
            _ => {
                let digits = text.strip_suffix('d').ok_or_else(err)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                match digits.parse::<u32>() {
                    Ok(days) if (1..=36_500).contains(&days) => Ok(RetentionPolicy::Days(days)),
                    _ => Err(err()),
                }
            }
        }
    }
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionPolicy::Instant => f.write_str("instant"),
            RetentionPolicy::Days(days) => write!(f, "{days}d"),
            RetentionPolicy::Forever => f.write_str("forever"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_instant_forever_and_whole_days() {
        assert_eq!("instant".parse(), Ok(RetentionPolicy::Instant));
        assert_eq!("forever".parse(), Ok(RetentionPolicy::Forever));
        assert_eq!("3d".parse(), Ok(RetentionPolicy::Days(3)));
        assert_eq!("365d".parse(), Ok(RetentionPolicy::Days(365)));
    }

    #[test]
    fn rejects_everything_else_with_the_accepted_forms() {
        for bad in ["0d", "-3d", "7 days", "abc", "d", "7", "7D", " 7d", "+7d"] {
            let err = bad.parse::<RetentionPolicy>().expect_err(bad);
            assert!(err.to_string().contains("30d"), "message for {bad:?} should show the accepted forms: {err}");
        }
    }
}
