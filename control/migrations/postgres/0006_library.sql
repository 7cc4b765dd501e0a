-- The library: apps and AI models with their versions (a version is a compose file).
CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- The name in lower case: names are unique regardless of case.
    name_key     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    model_format TEXT,
    description  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE app_versions (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    compose    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, version)
);
