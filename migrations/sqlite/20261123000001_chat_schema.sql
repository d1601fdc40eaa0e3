-- The canonical chat schema: the tables a chat service writes and chatkeep keeps in policy.
--
-- Timestamps are UTC text in one fixed shape, 'YYYY-MM-DDTHH:MM:SS.mmmZ', so they
-- sort and compare as strings, index well, and read naturally in `sqlite3`.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    display_name  TEXT,
    email         TEXT,
    phone         TEXT,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT,
    anonymized_at TEXT
);
CREATE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    external_id      TEXT NOT NULL UNIQUE,
    title            TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'channel', 'bot')),
    owner_id         INTEGER REFERENCES users (id),
    context          TEXT CHECK (context IS NULL OR json_valid(context)),
    retention_policy TEXT,
    legal_hold       INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1)),
    created_at       TEXT NOT NULL,
    last_activity_at TEXT,
    archived_at      TEXT,
    expired_at       TEXT
);
CREATE INDEX conversations_last_activity ON conversations (last_activity_at);
-- Expired (hidden, restorable) conversations: few, found fast by retention and statistics.
CREATE INDEX conversations_expired ON conversations (expired_at) WHERE expired_at IS NOT NULL;
CREATE INDEX conversations_owner ON conversations (owner_id);

CREATE TABLE participants (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    role            TEXT NOT NULL DEFAULT 'member',
    joined_at       TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX participants_user ON participants (user_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    sender_id       INTEGER REFERENCES users (id),
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'agent')),
    kind            TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'file', 'system')),
    body            TEXT,
    tokens_used     INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    reply_to_id     INTEGER REFERENCES messages (id),
    pinned          INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    expired_at      TEXT
);
-- Transcripts and exports walk a conversation in time order.
CREATE INDEX messages_conversation_created ON messages (conversation_id, created_at);
-- Range counts for statistics, monthly archives and date-range exports; carries
-- tokens_used so per-month figures never touch the table itself.
CREATE INDEX messages_created ON messages (created_at, tokens_used);
-- Expired (hidden) messages, by creation time: statistics subtract them, and
-- retention finds what is due for purge, without scanning live rows.
CREATE INDEX messages_expired ON messages (created_at, tokens_used, expired_at) WHERE expired_at IS NOT NULL;
-- Retention finds what is due without scanning.
CREATE INDEX messages_expires ON messages (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX messages_sender ON messages (sender_id);
-- Deleting a message checks for replies to it (a foreign key); without this, every delete would scan.
CREATE INDEX messages_reply_to ON messages (reply_to_id) WHERE reply_to_id IS NOT NULL;

CREATE TABLE message_reads (
    message_id INTEGER NOT NULL REFERENCES messages (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    read_at    TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;
CREATE INDEX message_reads_user ON message_reads (user_id);
