//! Table rules: checked against the live schema before any SQL is built,
//! and the stable pseudonyms `anonymize` writes.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditEntry};
use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::rule::{RuleOrigin, RuleStrategy, TableRule};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::rules::{CheckedRule, ColumnInfo, RuleCutoff};
use crate::time::to_db;

/// Tables chatkeep keeps for itself: rules may never touch them.
const OWN_TABLES: &[&str] = &[
    "settings",
    "backups",
    "audit_log",
    "dsr_requests",
    "erasure_ledger",
    "legal_holds",
    "retention_rules",
    "job_runs",
    "job_leases",
    "job_state",
    "storage_samples",
];
/// Chat tables governed by retention policies, holds and grace, not by table rules.
const POLICY_TABLES: &[&str] = &["messages", "conversations", "participants", "message_reads"];
/// The pseudonym prefix; values that already carry it are left alone.
pub const PSEUDONYM_PREFIX: &str = "anon-";
const SALT_KEY: &str = "pseudonym.salt";

/// Enabled rules from the database and from the config file.
pub(crate) async fn active_rules(store: &Store, config_rules: &[TableRule]) -> Result<Vec<TableRule>> {
    let mut rules = store.table_rules().await?;
    rules.extend(config_rules.iter().cloned());
    rules.retain(|r| r.enabled);
    Ok(rules)
}

/// Checks a rule's table and columns against the live schema.
pub async fn check(store: &Store, rule: &TableRule) -> Result<CheckedRule> {
    rule.check_shape().map_err(Error::invalid)?;
    let name = rule_name(rule);
    if rule.table.starts_with("sqlite_") || rule.table.starts_with("_sqlx") || OWN_TABLES.contains(&rule.table.as_str())
    {
        return Err(Error::invalid(format!("{name}: {} is chatkeep's own table; rules cannot change it", rule.table)));
    }
    if POLICY_TABLES.contains(&rule.table.as_str()) {
        return Err(Error::invalid(format!(
            "{name}: {} is governed by retention policies (with holds and a grace period); \
             use `chatkeep retention policy set` instead of a table rule",
            rule.table
        )));
    }
    if rule.table == "users" && rule.strategy == RuleStrategy::Hard {
        return Err(Error::invalid(format!(
            "{name}: users cannot be hard-deleted by a rule (their messages refer to them); \
             use anonymize, or an erasure request"
        )));
    }
    let table = store
        .table_info(&rule.table)
        .await?
        .ok_or_else(|| Error::invalid(format!("{name}: there is no table named {:?} in the database", rule.table)))?;
    let key = table.key.clone().map_err(|why| Error::invalid(format!("{name}: {why}")))?;
    let column = |wanted: &str| {
        table.column(wanted).cloned().ok_or_else(|| {
            let known: Vec<&str> = table.columns.iter().map(|c| c.name.name()).collect();
            Error::invalid(format!(
                "{name}: table {} has no column {wanted:?} (its columns: {})",
                rule.table,
                known.join(", ")
            ))
        })
    };
    let timestamp = column(&rule.timestamp_column)?;
    let columns: Vec<ColumnInfo> = match rule.strategy {
        RuleStrategy::Hard => Vec::new(),
        RuleStrategy::Soft => {
            let marker = match rule.columns.first() {
                Some(wanted) => column(wanted)?,
                None => {
                    ["expired_at", "deleted_at"].iter().find_map(|n| table.column(n).cloned()).ok_or_else(|| {
                        Error::invalid(format!(
                            "{name}: the soft strategy needs a marker column; table {} has neither expired_at \
                             nor deleted_at, so name one with columns = [\"...\"]",
                            rule.table
                        ))
                    })?
                }
            };
            vec![marker]
        }
        RuleStrategy::Anonymize => {
            let mut checked = Vec::new();
            for wanted in &rule.columns {
                let info = column(wanted)?;
                let textual = info.declared_type.is_empty()
                    || ["CHAR", "CLOB", "TEXT"].iter().any(|t| info.declared_type.contains(t));
                if !textual {
                    return Err(Error::invalid(format!(
                        "{name}: column {wanted} is {}; anonymize writes text pseudonyms, so it only takes text columns",
                        info.declared_type
                    )));
                }
                if wanted == &rule.timestamp_column {
                    return Err(Error::invalid(format!("{name}: the timestamp column cannot also be anonymized")));
                }
                // A key rewritten to a pseudonym breaks what identifies or links rows: an
                // archive merge would bring the people back in clear beside their pseudonyms,
                // and every later run would fail on the unique constraint.
                if info.keyed {
                    return Err(Error::invalid(format!(
                        "{name}: column {wanted} is a key (primary key, unique, or a foreign key) of {}; \
                         anonymize only columns that describe a row, never those that identify or link it \
                         (to remove a person, use an erasure request)",
                        rule.table
                    )));
                }
                checked.push(info);
            }
            checked
        }
    };
    Ok(CheckedRule {
        rule: rule.clone(),
        table: table.name,
        key,
        timestamp_column: timestamp.name,
        timestamp_type: timestamp.declared_type,
        column_types: columns.iter().map(|c| c.declared_type.clone()).collect(),
        columns: columns.into_iter().map(|c| c.name).collect(),
        skip_held_users: rule.table == "users",
    })
}

fn rule_name(rule: &TableRule) -> String {
    match rule.id {
        Some(id) => format!("retention rule #{id} ({}.{})", rule.table, rule.timestamp_column),
        None => format!("retention rule for {}.{} (from the config file)", rule.table, rule.timestamp_column),
    }
}

pub(crate) fn cutoff(rule: &TableRule, now: DateTime<Utc>) -> RuleCutoff {
    let at = now - Duration::days(i64::from(rule.days));
    RuleCutoff { iso: to_db(at), unix: at.timestamp() }
}

/// The stable pseudonym for a value: the same value always gets the same
/// pseudonym in this database, and it cannot be turned back without the salt.
pub fn pseudonym(salt: &str, value: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(salt.as_bytes());
    hash.update([0u8]);
    hash.update(value.as_bytes());
    format!("{PSEUDONYM_PREFIX}{}", &hex::encode(hash.finalize())[..16])
}

/// This database's pseudonym salt, created on first use.
pub(crate) async fn salt(store: &Store, clock: &dyn Clock) -> Result<String> {
    if let Some(salt) = store.setting(SALT_KEY).await? {
        return Ok(salt);
    }
    let mut tx = store.begin().await?;
    // Another process may have created it since we looked.
    if let Some(salt) = tx.setting(SALT_KEY).await? {
        return Ok(salt);
    }
    let salt = hex::encode(rand::random::<[u8; 32]>());
    tx.set_setting(SALT_KEY, &salt, clock.now()).await?;
    tx.commit().await?;
    Ok(salt)
}

/// A rule as listed: where it came from, and whether it still matches the schema.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListedRule {
    #[serde(flatten)]
    pub rule: TableRule,
    pub origin: RuleOrigin,
    /// Why the rule cannot run against the current schema, if it cannot.
    pub problem: Option<String>,
}

/// `chatkeep retention rule add`: checked against the schema, stored, audited.
pub async fn add_rule(store: &Store, rule: TableRule, actor: Actor, clock: &dyn Clock) -> Result<TableRule> {
    check(store, &rule).await?;
    let now = clock.now();
    let mut tx = store.begin().await?;
    let id = tx.insert_rule(&rule, &to_db(now)).await?.ok_or_else(|| {
        Error::invalid(format!(
            "there is already a rule for {}.{}; remove it first (`chatkeep retention rule list`)",
            rule.table, rule.timestamp_column
        ))
    })?;
    let stored = TableRule { id: Some(id), ..rule };
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "retention.rule_add")
            .target(format!("{}.{}", stored.table, stored.timestamp_column))
            .details(serde_json::to_value(&stored).unwrap_or_default()),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// `chatkeep retention rule remove ID`.
pub async fn remove_rule(store: &Store, id: i64, actor: Actor, clock: &dyn Clock) -> Result<TableRule> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let removed = tx
        .delete_rule(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("retention rule #{id} (see `chatkeep retention rule list`)")))?;
    audit::append(
        &mut tx,
        now,
        AuditEntry::new(actor, "retention.rule_remove")
            .target(format!("{}.{}", removed.table, removed.timestamp_column))
            .details(serde_json::to_value(&removed).unwrap_or_default()),
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// Every rule, from the database and the config file, each checked against the schema.
pub async fn list_rules(store: &Store, config_rules: &[TableRule]) -> Result<Vec<ListedRule>> {
    let mut listed = Vec::new();
    let stored = store.table_rules().await?.into_iter().map(|r| (r, RuleOrigin::Database));
    for (rule, origin) in stored.chain(config_rules.iter().cloned().map(|r| (r, RuleOrigin::Config))) {
        let problem = match check(store, &rule).await {
            Ok(_) => None,
            Err(Error::InvalidInput(message)) => Some(message),
            Err(other) => return Err(other),
        };
        listed.push(ListedRule { rule, origin, problem });
    }
    Ok(listed)
}
