//! Table rules: retention for data beyond messages (any table with a timestamp column).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a rule does to rows older than its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStrategy {
    /// Sets a marker column (`expired_at`, `deleted_at`, or the rule's first listed column) to now.
    Soft,
    /// Deletes the rows.
    Hard,
    /// Overwrites the listed columns with stable pseudonyms (the same value always maps to the same pseudonym).
    Anonymize,
}

impl RuleStrategy {
    pub const ACCEPTED: &'static str = "soft, hard or anonymize";

    pub fn as_str(self) -> &'static str {
        match self {
            RuleStrategy::Soft => "soft",
            RuleStrategy::Hard => "hard",
            RuleStrategy::Anonymize => "anonymize",
        }
    }
}

impl fmt::Display for RuleStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleStrategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "soft" => Ok(RuleStrategy::Soft),
            "hard" => Ok(RuleStrategy::Hard),
            "anonymize" => Ok(RuleStrategy::Anonymize),
            _ => Err(format!("rule strategy {text:?} is not valid: use {}", RuleStrategy::ACCEPTED)),
        }
    }
}

/// Where a rule was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// A row in `retention_rules` (`chatkeep retention rule add`).
    Database,
    /// A `[[retention.rules]]` entry in chatkeep.toml.
    Config,
}

/// One table rule, as declared. Names are checked against the live schema before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// The `retention_rules` id; absent for rules from the config file.
    #[serde(skip_deserializing)]
    pub id: Option<i64>,
    pub table: String,
    /// The column holding each row's age: ISO 8601 text or Unix seconds.
    pub timestamp_column: String,
    pub days: u32,
    pub strategy: RuleStrategy,
    /// Columns to anonymize, or the marker column for `soft`.
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub gdpr_sensitive: bool,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl TableRule {
    /// Shape checks that need no database: days, and columns for the strategies that need them.
    pub fn check_shape(&self) -> Result<(), String> {
        let name = format!("rule for {}.{}", self.table, self.timestamp_column);
        if self.table.trim().is_empty() || self.timestamp_column.trim().is_empty() {
            return Err("a table rule needs a table and a timestamp column".into());
        }
        if !(1..=36_500).contains(&self.days) {
            return Err(format!("{name}: days must be from 1 to 36500, not {}", self.days));
        }
        if self.strategy == RuleStrategy::Anonymize && self.columns.is_empty() {
            return Err(format!(
                "{name}: the anonymize strategy needs the columns to overwrite (columns = [\"email\"])"
            ));
        }
        if self.strategy == RuleStrategy::Hard && !self.columns.is_empty() {
            return Err(format!("{name}: the hard strategy deletes whole rows; remove the columns list"));
        }
        if self.strategy == RuleStrategy::Soft && self.columns.len() > 1 {
            return Err(format!("{name}: the soft strategy takes at most one marker column"));
        }
        Ok(())
    }
}
