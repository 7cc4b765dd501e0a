-- Flotilla panel schema, version 1 (PostgreSQL). Times are Unix milliseconds (BIGINT), ids are UUID
-- text. Mirrors ../sqlite/0001_init.sql; every integer is BIGINT so that both backends read as i64.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE enrolment_keys (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    machine_id    TEXT NOT NULL UNIQUE,
    hostname      TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    enrolled_at   BIGINT NOT NULL,
    enrolled_with TEXT,
    last_seen_at  BIGINT,
    facts         TEXT
);

CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
