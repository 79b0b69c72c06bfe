-- 0002_portal: what the consumer portal and the operator console need. It
-- follows internal/store/sqlite/migrations/0002_portal.sql.

-- Hourly attempt counters per endpoint, so that a page shows an endpoint's
-- success rate and its last 24 hours or 7 days without counting attempts.
-- CompleteDeliveries adds each batch's attempts to them in its own
-- transaction. hour is the start of the hour.
CREATE TABLE endpoint_stats (
    endpoint_id text COLLATE "C" NOT NULL,
    hour        timestamptz NOT NULL,
    success     bigint      NOT NULL DEFAULT 0,
    fail        bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, hour)
);

-- Retention of the counters.
CREATE INDEX endpoint_stats_hour ON endpoint_stats (hour);

-- The counters go with their endpoint (as deliveries and attempts do, by
-- trigger: they are written on the hot path).
CREATE FUNCTION herald_endpoint_stats_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM endpoint_stats WHERE endpoint_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER endpoints_stats_cascade AFTER DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION herald_endpoint_stats_cascade();

-- An endpoint's failed attempts, newest first: the portal's "show me what
-- failed" without walking the successes. Partial, so that only failed
-- attempts (the few, on a healthy endpoint) pay for it.
CREATE INDEX attempts_endpoint_failed ON attempts (endpoint_id, id) WHERE status = 2;

-- The failing endpoints of every application (the console), without a scan
-- of the healthy ones.
CREATE INDEX endpoints_failing ON endpoints (id) WHERE failing_since IS NOT NULL OR disabled;

-- Browser sessions of the portal and the console are tokens too (hashed,
-- with an expiry; an app-scoped one for the portal), marked so that the
-- API never accepts one as a bearer token and never lists one.
ALTER TABLE tokens ADD COLUMN session boolean NOT NULL DEFAULT false;

-- Expired tokens and sessions are deleted by retention.
CREATE INDEX tokens_expiry ON tokens (expires_at) WHERE expires_at IS NOT NULL;
