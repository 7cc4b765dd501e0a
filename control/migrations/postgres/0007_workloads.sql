-- Apps and models installed on clusters (one Swarm stack each).
CREATE TABLE workloads (
    id         TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    -- The stack name: services are <name>_<service>.
    name       TEXT NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps(id),
    version_id TEXT NOT NULL REFERENCES app_versions(id),
    phase      TEXT NOT NULL,
    -- Scaled to zero by an operator.
    stopped    BIGINT NOT NULL DEFAULT 0,
    -- The wizard's choices per service (JSON).
    choices    TEXT NOT NULL,
    -- The app secrets' values, sealed with the panel's key (JSON inside).
    secrets    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (cluster_id, name)
);
