-- Clusters, members, virtual IPs and persisted workflows (PostgreSQL; mirrors ../sqlite/0002_clusters.sql).
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
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE cluster_members (
    node_id       TEXT PRIMARY KEY REFERENCES nodes(id),
    cluster_id    TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    role          TEXT NOT NULL,
    labels        TEXT NOT NULL,
    interface     TEXT NOT NULL,
    vip           BIGINT NOT NULL,
    swarm_node_id TEXT,
    address       TEXT
);
CREATE INDEX cluster_members_cluster ON cluster_members(cluster_id, position);

CREATE TABLE vips (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    address    TEXT NOT NULL,
    interface  TEXT,
    peers      TEXT NOT NULL,
    vrid       BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (cluster_id, position)
);

CREATE TABLE workflows (
    id         TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    steps      TEXT NOT NULL,
    current    BIGINT NOT NULL,
    error      TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX workflows_cluster ON workflows(cluster_id, created_at);
CREATE INDEX workflows_status ON workflows(status);
