-- Panel replicas sharing one PostgreSQL (docs/replicas.md). A single panel on SQLite keeps these
-- tables empty; they exist there too so that both backends have the same migration versions.

-- Every running replica, and when it last said it was alive (every 2 s).
CREATE TABLE panel_replicas (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    beat_at BIGINT NOT NULL
);

-- Which replica holds each connected agent's session (written by that replica on connect,
-- disconnect and when the node turns silent or speaks again).
CREATE TABLE node_presence (
    node_id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    conn BIGINT NOT NULL,
    silent INTEGER NOT NULL DEFAULT 0,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX node_presence_replica ON node_presence (replica);

-- What connected agents observe (swarm report, VIP states), for the replicas that do not hold
-- their session. JSON of domain::swarm::SwarmSnapshot and of a list of VIP observations.
CREATE TABLE node_observed (
    node_id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    swarm TEXT,
    vips TEXT,
    vips_at BIGINT NOT NULL DEFAULT 0
);

-- A command for an agent whose session another replica holds, and its answer. Bodies are
-- sealed with the panel's master key (commands may carry secrets); rows live seconds.
CREATE TABLE agent_commands (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    replica TEXT NOT NULL,
    origin TEXT NOT NULL,
    body TEXT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE agent_results (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
