-- The workflow engine: one row per step (the activity view's timeline), a lease that says which
-- panel process drives a workflow, and the steps of existing workflows moved into rows.
ALTER TABLE workflows ADD COLUMN lease_holder TEXT;
ALTER TABLE workflows ADD COLUMN lease_until INTEGER;

CREATE TABLE workflow_steps (
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    -- The capability's step (JSON), e.g. {"op":"join","node_id":"…"}.
    step        TEXT NOT NULL,
    title       TEXT NOT NULL,
    node_id     TEXT,
    -- Whether an interrupted step may simply run again ('safe') or needs an operator ('ask').
    rerun       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER,
    finished_at INTEGER,
    error       TEXT,
    PRIMARY KEY (workflow_id, position)
);

INSERT INTO workflow_steps (workflow_id, position, step, title, node_id, rerun, status, error)
SELECT w.id, CAST(j.key AS INTEGER), json_extract(j.value, '$.op'), json_extract(j.value, '$.title'),
       json_extract(j.value, '$.op.node_id'), 'safe', json_extract(j.value, '$.state'),
       json_extract(j.value, '$.error')
FROM workflows w, json_each(w.steps) j;

ALTER TABLE workflows DROP COLUMN steps;
