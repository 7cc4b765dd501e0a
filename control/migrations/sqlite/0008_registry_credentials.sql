-- Registry credentials of clusters (passwords sealed with the panel's key) and what a
-- docker login on each member node said.
CREATE TABLE registry_credentials (
    id         TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    -- host[:port], as images name it.
    registry   TEXT NOT NULL,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (cluster_id, registry)
);

CREATE TABLE credential_checks (
    credential_id TEXT NOT NULL REFERENCES registry_credentials(id) ON DELETE CASCADE,
    node_id       TEXT NOT NULL,
    -- pending | valid | invalid
    status        TEXT NOT NULL,
    message       TEXT NOT NULL,
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (credential_id, node_id)
);
