-- Which process is writing an in-progress backup (so a crashed run can be
-- told from a running one), and the manifest of each finished backup.
ALTER TABLE backups ADD COLUMN owner_pid INTEGER;
ALTER TABLE backups ADD COLUMN manifest TEXT CHECK (manifest IS NULL OR json_valid(manifest));
