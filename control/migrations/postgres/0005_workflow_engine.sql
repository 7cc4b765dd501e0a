-- The workflow engine: one row per step (the activity view's timeline), a lease that says which
-- panel process drives a workflow, and the steps of existing workflows moved into rows.
ALTER TABLE workflows ADD COLUMN lease_holder TEXT;
ALTER TABLE workflows ADD COLUMN lease_until BIGINT;

CREATE TABLE workflow_steps (
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    -- The capability's step (JSON), e.g. {"op":"join","node_id":"…"}.
    step        TEXT NOT NULL,
    title       TEXT NOT NULL,
    node_id     TEXT,
    -- Whether an interrupted step may simply run again ('safe') or needs an operator ('ask').
    rerun       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    started_at  BIGINT,
    finished_at BIGINT,
    error       TEXT,
    PRIMARY KEY (workflow_id, position)
);

INSERT INTO workflow_steps (workflow_id, position, step, title, node_id, rerun, status, error)
SELECT w.id, e.ord - 1, (e.value -> 'op')::text, e.value ->> 'title', e.value -> 'op' ->> 'node_id',
       'safe', e.value ->> 'state', e.value ->> 'error'
FROM workflows w, jsonb_array_elements(w.steps::jsonb) WITH ORDINALITY AS e(value, ord);

ALTER TABLE workflows DROP COLUMN steps;
