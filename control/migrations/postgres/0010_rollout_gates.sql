-- A cluster's own rollout gates (domain::firmware::gates): checks that must pass after each node
-- of a firmware rollout serves again. `spec` is the check as JSON (GateCheck).
CREATE TABLE rollout_gates (
    id           TEXT PRIMARY KEY,
    cluster_id   TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (cluster_id, name)
);
