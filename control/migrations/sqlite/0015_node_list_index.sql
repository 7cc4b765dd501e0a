-- The node list pages by name: this index holds what the list searches, counts and sorts by
-- (name, id, search text, last seen), so neither a count nor a page reads the nodes' facts.
CREATE INDEX nodes_by_name ON nodes (hostname, id, search, last_seen_at);
