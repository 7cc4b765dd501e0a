-- Clusters, their members and virtual IPs, and the persisted workflows that build and remove them.
CREATE TABLE clusters (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL UNIQUE,
    definition    TEXT NOT NULL,
    phase         TEXT NOT NULL,
    swarm_id      TEXT,
    worker_token  TEXT,
    manager_token TEXT,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE cluster_members (
    node_id       TEXT PRIMARY KEY REFERENCES nodes(id),
    cluster_id    TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    role          TEXT NOT NULL,
    labels        TEXT NOT NULL,
    interface     TEXT NOT NULL,
    vip           INTEGER NOT NULL,
    swarm_node_id TEXT,
    address       TEXT
);
CREATE INDEX cluster_members_cluster ON cluster_members(cluster_id, position);

CREATE TABLE vips (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    address    TEXT NOT NULL,
    interface  TEXT,
    peers      TEXT NOT NULL,
    vrid       INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (cluster_id, position)
);

CREATE TABLE workflows (
    id         TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    steps      TEXT NOT NULL,
    current    INTEGER NOT NULL,
    error      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX workflows_cluster ON workflows(cluster_id, created_at);
CREATE INDEX workflows_status ON workflows(status);
