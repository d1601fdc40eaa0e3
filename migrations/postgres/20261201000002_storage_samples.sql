-- Growth over time: one sample of the storage figures per day (the configured
-- time zone's date), written by each maintenance run, for the dashboard's charts.
-- A later sample on the same day replaces the earlier one.
CREATE TABLE storage_samples (
    day            date PRIMARY KEY,
    taken_at       timestamptz NOT NULL,
    database_bytes bigint NOT NULL,
    messages       bigint NOT NULL,  -- live (not expired), as `chatkeep stats` counts them
    conversations  bigint NOT NULL,
    backup_bytes   bigint NOT NULL   -- completed and verified backups in the catalog
);
