-- Docent's store, portable between SQLite and PostgreSQL (the server talks to both
-- through sqlx's Any driver): TEXT ids and JSON, BIGINT epoch milliseconds.

CREATE TABLE IF NOT EXISTS conversations (
    id          TEXT PRIMARY KEY,
    bot_id      TEXT NOT NULL,
    user_id     TEXT,
    state       TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_bot ON conversations (bot_id, created_at, id);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations (user_id, created_at, id);

CREATE TABLE IF NOT EXISTS messages (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    role             TEXT NOT NULL,
    content          TEXT NOT NULL,
    status           TEXT NOT NULL,
    finish_reason    TEXT,
    sources          TEXT NOT NULL,
    citations        TEXT NOT NULL,
    usage            TEXT NOT NULL,
    timings          TEXT NOT NULL,
    request_id       TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);

CREATE TABLE IF NOT EXISTS message_events (
    message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    event_id    BIGINT NOT NULL,
    event       TEXT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (message_id, event_id)
);

CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    bots          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    origins       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
