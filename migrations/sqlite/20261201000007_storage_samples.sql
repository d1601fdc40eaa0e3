-- Growth over time: one sample of the storage figures per day (the configured
-- time zone's date), written by each maintenance run, for the dashboard's charts.
-- A later sample on the same day replaces the earlier one.
CREATE TABLE storage_samples (
    day            TEXT PRIMARY KEY,  -- YYYY-MM-DD
    taken_at       TEXT NOT NULL,
    database_bytes INTEGER NOT NULL,
    messages       INTEGER NOT NULL,  -- live (not expired), as `chatkeep stats` counts them
    conversations  INTEGER NOT NULL,
    backup_bytes   INTEGER NOT NULL   -- completed and verified backups in the catalog
) WITHOUT ROWID;
