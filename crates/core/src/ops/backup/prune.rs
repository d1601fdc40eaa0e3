//! Pruning: old backups go by the configured generations, never the last verified one of a kind.

use super::*;

impl<'a> Backups<'a> {
    /// What pruning removes: snapshots beyond `keep_daily` newest days (plus `keep_weekly`
    /// weekly generations), archives beyond `keep_monthly` newest months; never the newest
    /// verified backup of a kind. With `dry_run`, only lists.
    pub async fn prune(&self, dry_run: bool, actor: Actor) -> Result<Vec<PruneItem>> {
        let rows = self.store.backups().await?; // newest first
        let mut going = Vec::new();
        for kind in ["snapshot", "archive"] {
            let of_kind: Vec<&BackupRow> = rows
                .iter()
                .filter(|r| r.kind == kind && matches!(r.status.as_str(), "verified" | "completed"))
                .collect();
            let newest_verified = of_kind.iter().find(|r| r.status == "verified").map(|r| r.id);
            let mut kept_days: Vec<String> = Vec::new();
            let mut kept_weeks: Vec<String> = Vec::new();
            let mut kept_months: Vec<(i32, u32)> = Vec::new();
            for row in of_kind {
                let created = crate::time::from_db(&row.created_at).unwrap_or_else(Utc::now).with_timezone(&self.tz);
                let by_rule = if kind == "snapshot" {
                    let day = created.date_naive().to_string();
                    let week = format!("{}-W{:02}", created.iso_week().year(), created.iso_week().week());
                    if kept_days.contains(&day) {
                        None
                    } else if (kept_days.len() as u32) < self.settings.keep_daily {
                        kept_days.push(day);
                        Some("daily")
                    } else if !kept_weeks.contains(&week) && (kept_weeks.len() as u32) < self.settings.keep_weekly {
                        kept_weeks.push(week);
                        Some("weekly")
                    } else {
                        None
                    }
                } else {
                    let month = (row.year.unwrap_or(0), row.month.unwrap_or(0));
                    if !kept_months.contains(&month) && (kept_months.len() as u32) < self.settings.keep_monthly {
                        kept_months.push(month);
                        Some("monthly")
                    } else {
                        None
                    }
                };
                // The newest verified backup of a kind is never pruned, whatever the rules say.
                let keep_reason = by_rule.or((Some(row.id) == newest_verified).then_some("the newest verified"));
                if keep_reason.is_none() {
                    let reason = if kind == "snapshot" {
                        format!(
                            "older than the {} newest daily snapshots{}",
                            self.settings.keep_daily,
                            if self.settings.keep_weekly > 0 {
                                format!(" and {} weekly generations", self.settings.keep_weekly)
                            } else {
                                String::new()
                            }
                        )
                    } else {
                        format!("older than the {} newest monthly archives", self.settings.keep_monthly)
                    };
                    going.push(PruneItem {
                        id: row.id,
                        file_name: row.file_name.clone(),
                        kind: kind.into(),
                        created_at: row.created_at.clone(),
                        reason,
                    });
                }
            }
        }
        if dry_run || going.is_empty() {
            return Ok(going);
        }
        for item in &going {
            let path = self.directory().join(&item.file_name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
            }
            let mut tx = self.store.begin().await?;
            tx.delete_backup(item.id).await?;
            audit::append(
                &mut tx,
                self.clock.now(),
                AuditEntry::new(actor, "backup.prune")
                    .target(item.file_name.clone())
                    .details(serde_json::json!({ "backup": item.id, "reason": item.reason })),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(going)
    }
}
