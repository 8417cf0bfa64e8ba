-- Analytics read assistant turns by finish reason and time (`/v1/analytics/*`).
CREATE INDEX IF NOT EXISTS messages_by_finish ON messages (finish_reason, created_at);
CREATE INDEX IF NOT EXISTS messages_by_created ON messages (created_at);
