// Every call from the dashboard to the chatkeep desktop shell goes through this module.
// Shapes follow the core's JSON (the same as `chatkeep ... --json`); field names are the
// core's own, snake_case, except for the few commands the shell defines itself.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import * as autostart from "@tauri-apps/plugin-autostart";

/** What every failed command rejects with; `message` is shown to the user as it is. */
export interface CommandError {
  code: string;
  message: string;
}

export function isCommandError(value: unknown): value is CommandError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { message?: unknown }).message === "string" &&
    typeof (value as { code?: unknown }).code === "string"
  );
}

/** The message to show for anything a call rejected with. */
export function errorMessage(error: unknown): string {
  if (isCommandError(error)) return error.message;
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return "something went wrong";
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  return invoke<T>(command, args);
}

// ---------------------------------------------------------------- app and stats

export interface AppInfo {
  version: string;
  database: string;
  engine: string;
  timezone: string;
  configFile: string | null;
  hasData: boolean;
}

export interface MonthStats {
  /** `YYYY-MM` in the configured time zone. */
  month: string;
  messages: number;
  tokens_used: number;
}

export interface StorageStats {
  generated_at: string;
  timezone: string;
  engine: string;
  conversations: { total: number; active: number; old: number };
  messages: { total: number; last_30_days: number; tokens_used: number };
  per_month: MonthStats[];
  database: { bytes: number; page_size: number; pages: number; free_pages: number; wal_bytes: number };
}

export interface DemoSeedReport {
  already_present: boolean;
  conversations: number;
  messages: number;
  participants: number;
  reads: number;
  users: number;
  seconds: number;
}

export const appInfo = () => call<AppInfo>("app_info");
export const stats = () => call<StorageStats>("stats");
export const loadDemo = () => call<DemoSeedReport>("load_demo");

// ---------------------------------------------------------------- files

/** The native save dialog; `null` when the user cancelled. */
export const pickSavePath = (defaultName: string) => call<string | null>("pick_save_path", { defaultName });
export const showInFolder = (path: string) => call<null>("show_in_folder", { path });

export type Operation = "export" | "retention";
export const cancel = (operation: Operation) => call<unknown>("cancel", { operation });

// ---------------------------------------------------------------- export

export type ExportFormat = "csv" | "json" | "jsonl" | "pdf";
export const EXPORT_FORMATS: ExportFormat[] = ["csv", "json", "jsonl", "pdf"];

export interface ExportOptions {
  /** `YYYY-MM-DD`, inclusive, in the configured time zone. */
  from: string;
  to: string;
  format: ExportFormat;
  includeMessages: boolean;
  conversations: string[];
  user: string | null;
  kinds: string[];
  includeExpired: boolean;
  bom: boolean;
  /** CSV cells exactly as stored, even those a spreadsheet would run as a formula. */
  rawCsv: boolean;
}

export interface ExportReport {
  path: string;
  format: ExportFormat;
  from: string;
  to: string;
  conversations: number;
  messages: number;
  bytes: number;
  sha256: string;
  cancelled: boolean;
}

export const exportFileName = (options: ExportOptions) => call<string>("export_file_name", { options });
export const exportRun = (options: ExportOptions, path: string) => call<ExportReport>("export_run", { options, path });

// ---------------------------------------------------------------- backups

export type BackupKind = "snapshot" | "archive";
export type BackupStatus = "in_progress" | "completed" | "verified" | "failed";

export interface Backup {
  id: number;
  kind: BackupKind;
  manual: boolean;
  range_start: string | null;
  range_end: string | null;
  year: number | null;
  month: number | null;
  file_name: string;
  size_bytes: number | null;
  sha256: string | null;
  /** A JSON object of table name to row count, as text. */
  row_counts: string | null;
  encrypted: boolean;
  status: BackupStatus;
  error: string | null;
  created_at: string;
  verified_at: string | null;
  /** Only in the list: whether the file is still in the backup folder. */
  file_present?: boolean;
}

export interface BackupList {
  directory: string;
  backups: Backup[];
  /** Files in the folder the catalog does not know. */
  unknown_files: string[];
}

export interface BackupVerification {
  id: number;
  file_name: string;
  ok: boolean;
  problems: string[];
  row_counts: Record<string, number> | null;
}

export interface RestoreReport {
  backup: number;
  kind: BackupKind;
  to: string | null;
  row_counts: Record<string, number>;
  erased_again: number;
}

export interface PruneItem {
  id: number;
  file_name: string;
  kind: BackupKind;
  created_at: string;
  reason: string;
}

export const backupsList = () => call<BackupList>("backups_list");
export const backupSnapshot = () => call<Backup>("backup_snapshot");
/** `month` is `YYYY-MM`. */
export const backupArchive = (month: string) => call<Backup>("backup_archive", { month });
export const backupVerify = (id: number) => call<BackupVerification>("backup_verify", { id });
export const backupRestore = (id: number, to: string) => call<RestoreReport>("backup_restore", { id, to });
export const backupSaveCopy = (id: number, to: string) => call<string>("backup_save_copy", { id, to });
export const backupPrunePreview = () => call<PruneItem[]>("backup_prune_preview");

// ---------------------------------------------------------------- retention

export interface RuleRow {
  id: number | null;
  table: string;
  timestamp_column: string;
  days: number;
  strategy: string;
  gdpr_sensitive: boolean;
  rows: number;
}

export interface RetentionMonthRow {
  month: string;
  expire_messages: number;
  purge_messages: number;
  blocked_messages: number;
}

export interface RetentionConversationRow {
  conversation: string;
  title: string | null;
  policy: string;
  expire_messages: number;
  purge_messages: number;
  conversation_expires: boolean;
  conversation_purged: boolean;
}

export interface UpcomingDay {
  date: string;
  messages: number;
  /** The first day they can be purged, after the grace period. */
  purged_from: string;
}

export interface BlockedMonth {
  month: string;
  messages: number;
  conversations: number;
  reason: string;
}

export interface RetentionReport {
  mode: "preview" | "report_only" | "run";
  outcome: "completed" | "cancelled" | "failed";
  at: string;
  policy: { default_days: number; grace_period_days: number; require_verified_backup: boolean; batch_size: number };
  expired: { messages: number; conversations: number };
  purged: { messages: number; reads: number; conversations: number; participants: number };
  archived: { inactive_conversations: number; bot_sessions_closed: number };
  rules: RuleRow[];
  by_month: RetentionMonthRow[];
  by_conversation: RetentionConversationRow[];
  upcoming: { next_7_days: number; next_30_days: number; days: UpcomingDay[] };
  blocked: { held_conversations: number; held_messages: number; months: BlockedMonth[] };
  problems: string[];
  expires_at_updated: number;
  stage_ms?: Record<string, number>;
}

export interface PolicyGroup {
  /** `null` is the default policy. */
  policy: string | null;
  conversations: number;
}

export type HoldTarget = { kind: "conversation"; id: string } | { kind: "user"; id: string };

export interface Hold {
  id: number;
  target: HoldTarget;
  reason: string;
  placed_by: string;
  created_at: string;
  released_at: string | null;
  release_reason: string | null;
}

export const retentionPreview = () => call<RetentionReport>("retention_preview");
export const retentionRun = () => call<RetentionReport>("retention_run");
export const policiesList = () => call<PolicyGroup[]>("policies_list");
/** `policy` as the CLI takes it: `7d`, `instant`, `forever`, or `default`. */
export const policySet = (conversation: string, policy: string) => call<unknown>("policy_set", { conversation, policy });
export const rulesList = () => call<RuleRow[]>("rules_list");
export const holdsList = (all: boolean) => call<Hold[]>("holds_list", { all });
export const holdAdd = (conversation: string | null, user: string | null, reason: string) =>
  call<Hold>("hold_add", { conversation, user, reason });
export const holdRelease = (id: number, reason: string) => call<Hold>("hold_release", { id, reason });

// ---------------------------------------------------------------- jobs

export type JobRunStatus = "running" | "ok" | "failed" | "skipped" | "missed" | "cancelled";

export interface JobRun {
  id: number;
  job: string;
  scheduled_for: string | null;
  started_at: string;
  finished_at: string | null;
  status: JobRunStatus;
  attempt: number;
  /** A JSON object, as text. */
  summary: string | null;
  error: string | null;
  trigger: string;
  holder: string | null;
}

export interface Job {
  job: string;
  about: string;
  schedule: string;
  schedule_text: string;
  timezone: string;
  catch_up: string;
  paused: boolean;
  next_run: string | null;
  next_run_local: string | null;
  last_run: JobRun | null;
  failing: JobRun | null;
  missed_last_7_days: number;
  last_missed: JobRun | null;
}

export interface JobsOverview {
  schedule_paused: boolean;
  jobs: Job[];
}

export const jobsList = () => call<JobsOverview>("jobs_list");
export const jobsHistory = (job: string | null, limit: number) => call<JobRun[]>("jobs_history", { job, limit });
export const jobsRun = (job: string) => call<JobRun[]>("jobs_run", { job });
/** `null` pauses or resumes the whole schedule. */
export const jobsPause = (job: string | null) => call<null>("jobs_pause", { job });
export const jobsResume = (job: string | null) => call<null>("jobs_resume", { job });

// ---------------------------------------------------------------- audit

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  /** JSON objects, as text. */
  details: string | null;
  counts: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditVerification {
  rows_checked: number;
  /** Where the chain stops holding, or null when it is intact. */
  first_break: { row_id: number; reason: string } | null;
  /** The head a backup's manifest recorded, which the log was compared with. */
  anchor?: { anchor: { row: number; hash: string }; from: string };
}

export const auditList = (since: string | null, action: string | null, limit: number) =>
  call<AuditEntry[]>("audit_list", { since, action, limit });
export const auditVerify = () => call<AuditVerification>("audit_verify");
export const auditExport = (path: string, since: string | null, action: string | null) =>
  call<string>("audit_export", { path, since, action });

// ---------------------------------------------------------------- settings

export type SettingSource =
  | { kind: "default" }
  | { kind: "system" }
  | { kind: "file"; name: string }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string };

export interface Setting {
  key: string;
  env: string | null;
  value: string;
  source: SettingSource;
}

export interface Settings {
  file: string | null;
  settings: Setting[];
}

export const settingsGet = () => call<Settings>("settings_get");
/** Rejects with the core's message naming the bad key; nothing is written then. */
/** A change that deletes sooner or protects less, with what it means. */
export interface Weakening {
  key: string;
  old: string;
  new: string;
  consequence: string;
}
/** Saved, or (nothing written) the changes to confirm first. */
export type SettingsSaved = { saved: Settings } | { confirm: Weakening[] };
export const settingsSave = (values: Record<string, string>, confirmed = false) =>
  call<SettingsSaved>("settings_save", { values, confirmed });
/** Whether the app starts (in the tray) when the user logs in; off unless they turn it on. */
export const startAtLogin = () => autostart.isEnabled();
export const setStartAtLogin = (on: boolean) => (on ? autostart.enable() : autostart.disable());

// ---------------------------------------------------------------- GDPR

export interface GdprRequest {
  id: number;
  kind: "access" | "erasure";
  subject: string;
  subject_user_id: number | null;
  matched_by: string | null;
  received_at: string;
  due_at: string;
  status: "open" | "in_progress" | "done" | "rejected";
  extended_reason: string | null;
  extended_at: string | null;
  rejected_reason: string | null;
  completed_at: string | null;
  artifact_path: string | null;
  artifact_sha256: string | null;
  erasure_strategy: "delete" | "anonymize" | null;
  notes: string | null;
  /** An erasure's completion certificate, once done. */
  certificate?: Certificate | null;
}

export interface PersonCounts {
  messages: number;
  message_reads: number;
  conversations: number;
  conversations_owned: number;
  active_holds: number;
  requests: number;
}

/** The one person a lookup found, with what matched and what is stored about them. */
export interface Subject {
  person: {
    id: number;
    external_id: string;
    display_name: string | null;
    email: string | null;
    phone: string | null;
    created_at: string;
    last_seen_at: string | null;
    anonymized_at: string | null;
  };
  matched_by: string[];
  counts: PersonCounts;
  /** Active holds that forbid erasing them. */
  blockers: { hold: number | null; what: string; reason: string }[];
}

export interface CertificateCheck {
  what: string;
  query: string;
  result: number;
}

export interface Certificate {
  request: number;
  strategy: "delete" | "anonymize";
  erased_at: string;
  ledger_entry: number;
  pseudonym: string | null;
  bodies: string | null;
  before: PersonCounts;
  /** Counts by kind, some nested (`{deleted: {messages: 3}}`). */
  rows: Record<string, unknown>;
  scrubbed: Record<string, number> | null;
  checks: CertificateCheck[];
  residue: { secure_delete: string; wal_checkpoint: string | null };
  /** What the erasure could not reach (absent on certificates of older erasures). */
  survives?: Survives;
  note: string;
}

export interface Survives {
  backups: { id: number; file: string; kind: string; created_at: string; kept_until: string }[];
  exports: { at: string; what: string; path: string }[];
  more_exports: number;
  mentions: number;
  mentions_scrubbed: number;
}

export interface AccessReport {
  request: GdprRequest | null;
  file: string;
  bytes: number;
  sha256: string;
  conversations: number;
  messages: number;
  read_receipts: number;
  include_other_participants: boolean;
}

export interface ErasureReport {
  request: GdprRequest;
  certificate: Certificate;
}

/** A recorded request, or a person named directly. */
export type GdprTarget = { request: number } | { subject: string };

export const gdprRequests = (all: boolean) => call<GdprRequest[]>("gdpr_requests", { all });
export const gdprRequestShow = (id: number) => call<GdprRequest>("gdpr_request_show", { id });
/** Rejects with the core's message for an unknown or ambiguous person. */
export const gdprFind = (subject: string) => call<Subject>("gdpr_find", { subject });
export const gdprRequestNew = (kind: "access" | "erasure", subject: string, received: string | null, notes: string | null) =>
  call<GdprRequest>("gdpr_request_new", { kind, subject, received, notes });
export const gdprRequestStart = (id: number) => call<GdprRequest>("gdpr_request_start", { id });
export const gdprRequestExtend = (id: number, months: number, reason: string) =>
  call<GdprRequest>("gdpr_request_extend", { id, months, reason });
export const gdprRequestReject = (id: number, reason: string) => call<GdprRequest>("gdpr_request_reject", { id, reason });
export const gdprExportFileName = (target: GdprTarget) => call<string>("gdpr_export_file_name", { target });
export const gdprExport = (target: GdprTarget, to: string) => call<AccessReport>("gdpr_export", { target, to });
/** `confirmedUser` is the person's id the confirmation showed; the erasure stops if the target now finds someone else. */
export const gdprErase = (target: GdprTarget, strategy: "delete" | "anonymize", confirmedUser: number) =>
  call<ErasureReport>("gdpr_erase", { target, strategy, confirmedUser });

// ---------------------------------------------------------------- events

export interface ProgressEvent {
  operation: string;
  done: number;
  total: number;
}

export interface NotificationEvent {
  event: string;
  text: string;
}

export const onProgress = (handler: (event: ProgressEvent) => void): Promise<UnlistenFn> =>
  listen<ProgressEvent>("progress", (e) => handler(e.payload));
export const onNotification = (handler: (event: NotificationEvent) => void): Promise<UnlistenFn> =>
  listen<NotificationEvent>("notification", (e) => handler(e.payload));
export const onJobsChanged = (handler: () => void): Promise<UnlistenFn> => listen("jobs-changed", () => handler());
