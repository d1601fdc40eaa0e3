-- Retention needs a hold's history to outlive what it covered: once a
-- released hold's conversation is purged, the row keeps the chat service's
-- id of its target and its foreign key becomes NULL.
CREATE TABLE legal_holds_new (
    id                 INTEGER PRIMARY KEY,
    target_kind        TEXT NOT NULL CHECK (target_kind IN ('conversation', 'user')),
    target_external_id TEXT NOT NULL,
    conversation_id    INTEGER REFERENCES conversations (id) ON DELETE SET NULL,
    user_id            INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reason             TEXT NOT NULL,
    placed_by          TEXT NOT NULL CHECK (placed_by IN ('desktop', 'scheduler', 'cli', 'api')),
    created_at         TEXT NOT NULL,
    released_at        TEXT,
    release_reason     TEXT,
    CHECK (conversation_id IS NULL OR user_id IS NULL),
    -- An active hold always points at a live row.
    CHECK (released_at IS NOT NULL OR conversation_id IS NOT NULL OR user_id IS NOT NULL)
);

INSERT INTO legal_holds_new (id, target_kind, target_external_id, conversation_id, user_id, reason, placed_by,
                             created_at, released_at, release_reason)
SELECT h.id,
       CASE WHEN h.conversation_id IS NOT NULL THEN 'conversation' ELSE 'user' END,
       coalesce(c.external_id, u.external_id),
       h.conversation_id, h.user_id, h.reason, h.placed_by, h.created_at, h.released_at, h.release_reason
FROM legal_holds h
LEFT JOIN conversations c ON c.id = h.conversation_id
LEFT JOIN users u ON u.id = h.user_id;

DROP TABLE legal_holds;
ALTER TABLE legal_holds_new RENAME TO legal_holds;
CREATE INDEX legal_holds_conversation ON legal_holds (conversation_id) WHERE released_at IS NULL;
CREATE INDEX legal_holds_user ON legal_holds (user_id) WHERE released_at IS NULL;
-- Purging a conversation sets released holds' references to NULL; this finds them without a scan.
CREATE INDEX legal_holds_any_conversation ON legal_holds (conversation_id) WHERE conversation_id IS NOT NULL;
