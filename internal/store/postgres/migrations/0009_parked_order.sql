-- 0009_parked_order: an endpoint's parked deliveries go out in message
-- order (oldest message first), as on SQLite, whose store keeps no index of
-- parked deliveries any more (its 0007): deliveries_parked is keyed by
-- (endpoint_id, msg_id) instead of (endpoint_id, updated_at). Made on the
-- partitioned table, it is made on every partition; like 0008, building it
-- reads each partition once while writes to deliveries wait.
DROP INDEX deliveries_parked;
CREATE INDEX deliveries_parked ON deliveries (endpoint_id, msg_id) WHERE status = 1 AND next_attempt_at IS NULL;
