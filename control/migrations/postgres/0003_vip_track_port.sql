-- A VIP may require a locally answering TCP port (a healthy host-mode published task).
ALTER TABLE vips ADD COLUMN track_port BIGINT;
