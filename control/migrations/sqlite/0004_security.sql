-- Node identity, key use limits and account states (security hardening).
-- A revoked node token is refused until the node enrols again.
ALTER TABLE nodes ADD COLUMN token_revoked_at INTEGER;
-- Until then an Administrator allows this machine to enrol again with a key (otherwise a machine
-- id that is already enrolled needs its current node token).
ALTER TABLE nodes ADD COLUMN reenrol_until INTEGER;
-- How many nodes a key may enrol; NULL is no limit.
ALTER TABLE enrolment_keys ADD COLUMN max_uses INTEGER;
-- A disabled user cannot sign in and has no sessions.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
