-- 0007_parked_endpoints: parked deliveries (0006) are found without an
-- index of their own. deliveries_parked, keyed by endpoint, put each
-- parked delivery on its endpoint's page of a second index: beside ten
-- hanging endpoints every commit wrote ten more pages, each a WAL frame and
-- a system call, and a healthy endpoint's p99 doubled (BENCHMARKS.md,
-- "Parked deliveries"). Instead, parked_endpoints notes, per endpoint that
-- has parked deliveries, the lowest message id among them; a claim reads
-- the endpoint's deliveries in message order (deliveries_endpoint) from
-- there. The note is lowered when a delivery is parked, and moved on or
-- removed by the claims. One small table: one page for every endpoint.
CREATE TABLE parked_endpoints (
    endpoint_id TEXT NOT NULL PRIMARY KEY,
    from_msg_id TEXT NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO parked_endpoints (endpoint_id, from_msg_id)
    SELECT endpoint_id, min(msg_id) FROM deliveries INDEXED BY deliveries_parked
    WHERE status = 1 AND next_attempt_at IS NULL
    GROUP BY endpoint_id;

DROP INDEX deliveries_parked;
