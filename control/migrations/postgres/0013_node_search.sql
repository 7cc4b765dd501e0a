-- What a search of the node list looks through (domain::node::NodeView::search_text), kept with
-- the node so the list is searched in the database. Until a node next reports its facts (agents do
-- on every connection) it is found by name and id.
ALTER TABLE nodes ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE nodes SET search = lower(hostname || ' ' || id);
