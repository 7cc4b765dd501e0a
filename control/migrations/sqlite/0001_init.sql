-- Flotilla panel schema, version 1. Times are Unix milliseconds (INTEGER), ids are UUID text.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE enrolment_keys (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    machine_id    TEXT NOT NULL UNIQUE,
    hostname      TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    enrolled_at   INTEGER NOT NULL,
    enrolled_with TEXT,
    last_seen_at  INTEGER,
    facts         TEXT
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
