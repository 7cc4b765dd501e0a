-- A cluster's Global Secrets (domain::config::secrets): the value of each, sealed with the
-- panel's master key (context "secret:<cluster id>:<name>"), and its version, which names the
-- Swarm secret that carries it (name_vN).
CREATE TABLE global_secrets (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    value      TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, name)
);
