-- A cluster's Global Config (domain::config::global): every saved version of the JSON document
-- (restorable), the documents saved under a name, and the last failure each node's agent
-- reported when writing a version. The version a node holds is what its agent reports in its
-- facts.
CREATE TABLE global_config_versions (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    -- domain::config::global::Origin as JSON
    origin     TEXT NOT NULL,
    saved_by   TEXT NOT NULL,
    saved_at   INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, version)
);

CREATE TABLE global_config_saved (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    document   TEXT NOT NULL,
    saved_by   TEXT NOT NULL,
    saved_at   INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, name)
);

CREATE TABLE global_config_failures (
    cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    message    TEXT NOT NULL,
    failed_at  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, node_id)
);
