-- GDPR requests: how a request ended (reason, extension, certificate), and an
-- erasure ledger that names nobody.

-- The old ledger table is dropped below: its freed pages are overwritten with zeros.
PRAGMA secure_delete = ON;

-- Which identifier found the person (external_id, email, phone, user_id), when the
-- deadline was extended, why a request was rejected, how an erasure was done, and
-- its completion certificate: the checks that showed no personal rows were left.
ALTER TABLE dsr_requests ADD COLUMN matched_by TEXT;
ALTER TABLE dsr_requests ADD COLUMN extended_at TEXT;
ALTER TABLE dsr_requests ADD COLUMN rejected_reason TEXT;
ALTER TABLE dsr_requests ADD COLUMN erasure_strategy TEXT CHECK (erasure_strategy IS NULL OR erasure_strategy IN ('delete', 'anonymize'));
ALTER TABLE dsr_requests ADD COLUMN certificate TEXT CHECK (certificate IS NULL OR json_valid(certificate));
CREATE INDEX dsr_requests_subject_user ON dsr_requests (subject_user_id) WHERE subject_user_id IS NOT NULL;

-- The ledger kept the erased person's external id in clear, which is itself personal
-- data. It now keeps a keyed hash of it (HMAC-SHA256 with a key kept in `settings`),
-- enough to recognise the person in a restored backup and useless to anyone without
-- the key. Rows written before this migration carry 'unkeyed:<external id>' until
-- chatkeep next reads the ledger, which hashes them in place.
CREATE TABLE erasure_ledger_new (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER REFERENCES dsr_requests (id) ON DELETE SET NULL,
    subject_key TEXT NOT NULL,
    strategy    TEXT NOT NULL CHECK (strategy IN ('delete', 'anonymize')),
    pseudonym   TEXT,
    -- anonymize only: message bodies kept (and scrubbed) or redacted.
    bodies      TEXT CHECK (bodies IS NULL OR bodies IN ('keep', 'redact')),
    scrub       INTEGER NOT NULL DEFAULT 0 CHECK (scrub IN (0, 1)),
    erased_at   TEXT NOT NULL
);

INSERT INTO erasure_ledger_new (id, request_id, subject_key, strategy, pseudonym, erased_at)
SELECT id, request_id, 'unkeyed:' || user_external_id, strategy, pseudonym, erased_at FROM erasure_ledger;

DROP TABLE erasure_ledger;
ALTER TABLE erasure_ledger_new RENAME TO erasure_ledger;
CREATE INDEX erasure_ledger_subject ON erasure_ledger (subject_key);

PRAGMA secure_delete = FAST;
