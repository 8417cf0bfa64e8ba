-- Leads, feedback on answers, and the responses remembered for `Idempotency-Key`.
-- Portable like 0001/0002: TEXT, BIGINT epoch milliseconds, no backend-only types.

-- A visitor's contact details (validated by the API: email and/or phone). A lead
-- outlives its conversation: deleting the conversation clears the link only.
CREATE TABLE IF NOT EXISTS leads (
    id               TEXT PRIMARY KEY,
    bot_id           TEXT NOT NULL,
    conversation_id  TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    name             TEXT,
    email            TEXT,
    phone            TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_by_bot ON leads (bot_id, created_at, id);
CREATE INDEX IF NOT EXISTS leads_by_conversation ON leads (conversation_id);

-- One rating per answer: later feedback on the same message replaces the earlier.
CREATE TABLE IF NOT EXISTS message_feedback (
    message_id       TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL,
    bot_id           TEXT NOT NULL,
    rating           TEXT NOT NULL,
    comment          TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS message_feedback_by_conversation ON message_feedback (conversation_id);
CREATE INDEX IF NOT EXISTS message_feedback_by_bot ON message_feedback (bot_id, updated_at);

-- The response a POST gave for a caller's `Idempotency-Key` on a route, with the hash
-- of its request, written in the transaction of the creation itself; kept 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    caller        TEXT NOT NULL,
    route         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (caller, route, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
