-- 0009_parked_order: an endpoint's parked deliveries go out in message
-- order (oldest message first), as on SQLite, whose store keeps no index of
-- parked deliveries any more (its 0007): deliveries_parked is keyed by
-- (endpoint_id, msg_id) instead of (endpoint_id, updated_at). The new index
-- is built first, on every partition: reads go on, writes to deliveries
-- wait while each partition is read once (like 0008); only then is the
-- old one dropped, which locks the table for a moment before the commit.
CREATE INDEX deliveries_parked_msg ON deliveries (endpoint_id, msg_id) WHERE status = 1 AND next_attempt_at IS NULL;
DROP INDEX deliveries_parked;
ALTER INDEX deliveries_parked_msg RENAME TO deliveries_parked;
