-- The scheduler: how a run was started and by which process, leases that keep
-- a job to one run at a time across processes, and per-job state (pause).

-- `schedule` (its time came), `catch_up` (run late, after a miss) or `manual` (jobs run NAME).
ALTER TABLE job_runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'schedule'
    CHECK (trigger IN ('schedule', 'catch_up', 'manual'));
-- The process that ran it (`pid@host/random`), to tell an interrupted run from a live one.
ALTER TABLE job_runs ADD COLUMN holder TEXT;
CREATE INDEX job_runs_started ON job_runs (started_at);

-- One row per job while a process runs it. A lease that is not renewed expires,
-- so a crashed process never blocks a job for longer than the lease.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- Per job (and `*` for the whole schedule): paused or not, and since when the
-- schedule has been watched (a new database has missed nothing before that).
CREATE TABLE job_state (
    job           TEXT PRIMARY KEY,
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at     TEXT,
    watched_since TEXT NOT NULL
);
