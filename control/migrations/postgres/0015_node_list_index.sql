-- The node list pages by name (the search text stays out of the index: a btree entry is limited
-- in size, and the text grows with a node's addresses).
CREATE INDEX nodes_by_name ON nodes (hostname, id);
