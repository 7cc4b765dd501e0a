-- The async-standby cluster volume of a two-node cluster (docs/volumes.md): which member's data
-- is live (the primary), the epoch of that choice (raised at each promotion, so that an old
-- primary that returns knows it lost the role), and the key the two nodes' sync channel is
-- keyed with (sealed by the vault, bound to the cluster).
CREATE TABLE standby_volumes (
    cluster_id      TEXT PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
    primary_node_id TEXT NOT NULL,
    epoch           INTEGER NOT NULL,
    sync_key        TEXT NOT NULL,
    changed_at      INTEGER NOT NULL
);
