-- chatkeep's own bookkeeping, kept beside the chat data it governs.

-- Key/value settings changed at run time (from the desktop app or the CLI),
-- and small internal markers such as the audit chain's head.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- The backup catalog: one row per backup file chatkeep wrote.
CREATE TABLE backups (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('archive', 'snapshot')),
    manual        INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
    range_start   TEXT,
    range_end     TEXT,
    year          INTEGER,
    month         INTEGER CHECK (month IS NULL OR month BETWEEN 1 AND 12),
    file_name     TEXT NOT NULL,
    size_bytes    INTEGER,
    sha256        TEXT,
    row_counts    TEXT CHECK (row_counts IS NULL OR json_valid(row_counts)),
    encrypted     INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
    status        TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'verified', 'failed')),
    error         TEXT,
    created_at    TEXT NOT NULL,
    verified_at   TEXT
);
CREATE INDEX backups_kind_month ON backups (kind, year, month);
CREATE INDEX backups_created ON backups (created_at);

-- Every scheduled, caught-up or manual run of a job.
CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY,
    job           TEXT NOT NULL,
    scheduled_for TEXT,
    started_at    TEXT,
    finished_at   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'missed', 'cancelled')),
    attempt       INTEGER NOT NULL DEFAULT 1,
    summary       TEXT CHECK (summary IS NULL OR json_valid(summary)),
    error         TEXT
);
CREATE INDEX job_runs_job_scheduled ON job_runs (job, scheduled_for);

-- The tamper-evident audit log: each row's hash covers its fields and the previous row's hash.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL CHECK (actor IN ('desktop', 'scheduler', 'cli', 'api')),
    action    TEXT NOT NULL,
    target    TEXT,
    details   TEXT NOT NULL CHECK (json_valid(details)),
    counts    TEXT NOT NULL CHECK (json_valid(counts)),
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);

-- Data-subject requests (GDPR access and erasure) with their deadlines.
CREATE TABLE dsr_requests (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('access', 'erasure')),
    subject         TEXT NOT NULL,
    subject_user_id INTEGER REFERENCES users (id),
    received_at     TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    extended_reason TEXT,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'rejected')),
    completed_at    TEXT,
    artifact_path   TEXT,
    artifact_sha256 TEXT,
    notes           TEXT
);
CREATE INDEX dsr_requests_status_due ON dsr_requests (status, due_at);

-- Who was erased, and how: re-applied after every restore so erased people never come back.
CREATE TABLE erasure_ledger (
    id               INTEGER PRIMARY KEY,
    request_id       INTEGER REFERENCES dsr_requests (id),
    user_external_id TEXT NOT NULL,
    strategy         TEXT NOT NULL CHECK (strategy IN ('delete', 'anonymize')),
    pseudonym        TEXT,
    erased_at        TEXT NOT NULL
);
CREATE INDEX erasure_ledger_user ON erasure_ledger (user_external_id);

-- Legal holds: nothing they cover expires or is purged.
-- A hold on a user covers every conversation they take part in.
CREATE TABLE legal_holds (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER REFERENCES conversations (id),
    user_id         INTEGER REFERENCES users (id),
    reason          TEXT NOT NULL,
    placed_by       TEXT NOT NULL CHECK (placed_by IN ('desktop', 'scheduler', 'cli', 'api')),
    created_at      TEXT NOT NULL,
    released_at     TEXT,
    release_reason  TEXT,
    CHECK ((conversation_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX legal_holds_conversation ON legal_holds (conversation_id) WHERE released_at IS NULL;
CREATE INDEX legal_holds_user ON legal_holds (user_id) WHERE released_at IS NULL;

-- Generic retention rules for tables beyond messages.
CREATE TABLE retention_rules (
    id               INTEGER PRIMARY KEY,
    table_name       TEXT NOT NULL,
    timestamp_column TEXT NOT NULL,
    days             INTEGER NOT NULL CHECK (days >= 1),
    strategy         TEXT NOT NULL CHECK (strategy IN ('soft', 'hard', 'anonymize')),
    columns          TEXT CHECK (columns IS NULL OR json_valid(columns)),
    gdpr_sensitive   INTEGER NOT NULL DEFAULT 0 CHECK (gdpr_sensitive IN (0, 1)),
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at       TEXT NOT NULL,
    UNIQUE (table_name, timestamp_column)
);
