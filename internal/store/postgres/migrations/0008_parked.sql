-- 0008_parked: parked deliveries (store package doc): pending, due, and
-- waiting for room at their endpoint, with a NULL next_attempt_at, so that
-- the claims that walk the due-time indexes never walk past them. This
-- index is how they are found: which endpoints have some (a loose scan, one
-- probe per endpoint and partition), and each endpoint's parked longest first
-- (updated_at: when it was parked). It
-- holds parked deliveries only, so a delivery that is never parked never
-- writes it. Made on the partitioned table, it is made on every partition,
-- and on every partition made later.
CREATE INDEX deliveries_parked ON deliveries (endpoint_id, updated_at) WHERE status = 1 AND next_attempt_at IS NULL;
