-- 0001_init: Herald's whole schema, for PostgreSQL. It follows the SQLite
-- schema (internal/store/sqlite/migrations/0001_init.sql) table for table;
-- the differences are PostgreSQL's types and its concurrency.
--
-- Conventions:
--   * Times are timestamptz (microseconds, like store.Truncate). NULL means
--     "none" (a zero time.Time) where a column is nullable.
--   * Ids, uids and names are text COLLATE "C": ids are base62 and
--     time-sortable, and keyset pagination compares them as Go compares
--     strings, byte by byte. The database's default collation (en_US and
--     the like) would sort 'a' before 'B'.
--   * Lists of strings are text[]: NULL means nil (for endpoints: all event
--     types / every channel), '{}' a list that is empty. Maps and JSON
--     documents are jsonb. Payloads are bytea: they are delivered byte for
--     byte, which jsonb (it re-serialises) would not keep.
--   * Optional uids and event ids are NULL when absent, so that UNIQUE
--     constraints ignore them.
--   * Everything that belongs to an app hangs off it with ON DELETE
--     CASCADE, and every foreign key has an index that starts with it, so a
--     cascade never scans a table.

-- Applications: the tenants.
CREATE TABLE apps (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,
    uid           text COLLATE "C" UNIQUE,
    name          text        NOT NULL,
    throttle_rate integer     NOT NULL DEFAULT 0,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Endpoints: where an app's messages go.
CREATE TABLE endpoints (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,
    app_id        text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    uid           text COLLATE "C",
    url           text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    disabled      boolean     NOT NULL DEFAULT false,
    event_types   text[],                         -- NULL: all
    channels      text[],                         -- NULL: any
    throttle_rate integer     NOT NULL DEFAULT 0,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    headers       jsonb       NOT NULL DEFAULT '{}',
    secret        text        NOT NULL,           -- sealed by the caller
    old_secrets   jsonb,                          -- [{secret, expiresAt}]
    failing_since timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Listing an app's endpoints by id, and the cascade from apps.
CREATE INDEX endpoints_app ON endpoints (app_id, id);
-- A uid is unique within its app.
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

-- Event types are global and keyed by name.
CREATE TABLE event_types (
    name         text COLLATE "C" NOT NULL PRIMARY KEY,
    description  text        NOT NULL DEFAULT '',
    archived     boolean     NOT NULL DEFAULT false,
    deprecated   boolean     NOT NULL DEFAULT false,
    feature_flag text        NOT NULL DEFAULT '',
    schemas      jsonb,                           -- NULL: none
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Messages: what an app sent. Every query that reaches a message knows its
-- app, so the primary key (app_id, id) serves lookups, lists, uniqueness and
-- the cascade from apps.
CREATE TABLE messages (
    id                 text COLLATE "C" NOT NULL,
    app_id             text COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    event_type         text COLLATE "C" NOT NULL,
    event_id           text COLLATE "C",
    channels           text[],                    -- NULL: none
    payload            bytea,                     -- NULL once expunged
    payload_expires_at timestamptz,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- A duplicate eventId within an app is a conflict.
CREATE UNIQUE INDEX messages_app_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
-- Retention: only rows that still have a payload are indexed.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at) WHERE payload IS NOT NULL;

-- Deliveries: the queue. One row per message and endpoint.
--
-- status: 0 success, 1 pending, 2 fail, 4 skipped (store.DeliveryStatus).
-- next_attempt_at: when a pending delivery is due, or when its lease ends;
-- NULL once finished. lease: the token of the worker holding it, 0 if none.
CREATE TABLE deliveries (
    msg_id           text COLLATE "C" NOT NULL,
    endpoint_id      text COLLATE "C" NOT NULL,
    app_id           text COLLATE "C" NOT NULL,
    status           smallint    NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    lease            bigint      NOT NULL DEFAULT 0,
    manual           boolean     NOT NULL DEFAULT false,
    last_attempt_at  timestamptz,
    last_status_code integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
);

-- An endpoint's deliveries in message order (endpoint messages, recover,
-- stats), and the cascade from endpoints.
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);
-- The two claim queues, as partial indexes so that each claim is a range
-- scan over due rows only and first attempts never queue behind retries.
-- The WHERE clauses must stay identical to the claim queries'.
CREATE INDEX deliveries_due_first ON deliveries (next_attempt_at)
    WHERE status = 1 AND attempts = 0 AND NOT manual;
CREATE INDEX deliveries_due_retry ON deliveries (next_attempt_at)
    WHERE status = 1 AND (attempts > 0 OR manual);

-- Attempts: every HTTP request made. Attempts are found by message or by
-- endpoint, never by id alone: (msg_id, id) is the key.
CREATE TABLE attempts (
    id           text COLLATE "C" NOT NULL,
    app_id       text COLLATE "C" NOT NULL,
    msg_id       text COLLATE "C" NOT NULL,
    endpoint_id  text COLLATE "C" NOT NULL,
    url          text        NOT NULL,
    status       smallint    NOT NULL,
    status_code  integer     NOT NULL,
    response     text        NOT NULL DEFAULT '',
    duration_ms  bigint      NOT NULL,
    trigger_type smallint    NOT NULL,
    event_type   text COLLATE "C" NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (msg_id, id)
);

-- Attempts by endpoint, newest first: the index whose absence made an
-- anchor's attempt log unusable at volume.
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

-- Deliveries and attempts are written on the hot path, where a foreign key
-- would check (and share-lock) a parent row for every row written. The
-- driver instead locks the app's endpoints once per batch (FOR KEY SHARE)
-- while it writes deliveries, and these triggers do the cascades. Rows
-- deleted by the apps cascade fire them too.
CREATE FUNCTION herald_messages_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE msg_id = OLD.id;
    DELETE FROM attempts WHERE msg_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_cascade AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION herald_messages_cascade();

CREATE FUNCTION herald_endpoints_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE endpoint_id = OLD.id;
    DELETE FROM attempts WHERE endpoint_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER endpoints_cascade AFTER DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION herald_endpoints_cascade();

-- Background tasks (paged work such as recovering an endpoint).
CREATE TABLE tasks (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    kind        text        NOT NULL,
    app_id      text COLLATE "C" REFERENCES apps (id) ON DELETE CASCADE,
    endpoint_id text COLLATE "C" REFERENCES endpoints (id) ON DELETE CASCADE,
    params      jsonb,
    cursor      text COLLATE "C" NOT NULL DEFAULT '',
    status      text        NOT NULL,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE INDEX tasks_running ON tasks (id) WHERE status = 'running';
CREATE INDEX tasks_app ON tasks (app_id);
CREATE INDEX tasks_endpoint ON tasks (endpoint_id);

-- API tokens: only a hash of the secret is kept. Portal tokens (app_id set)
-- go with their app.
CREATE TABLE tokens (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    hash       bytea       NOT NULL UNIQUE,
    app_id     text COLLATE "C" REFERENCES apps (id) ON DELETE CASCADE,
    name       text        NOT NULL DEFAULT '',
    expires_at timestamptz,
    created_at timestamptz NOT NULL
);

CREATE INDEX tokens_app ON tokens (app_id);

-- Idempotency records: the first response under an Idempotency-Key.
CREATE TABLE idempotency (
    key          text COLLATE "C" NOT NULL PRIMARY KEY,
    fingerprint  text        NOT NULL,
    done         boolean     NOT NULL DEFAULT false,
    status_code  integer     NOT NULL DEFAULT 0,
    body         bytea,
    locked_until timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE INDEX idempotency_expiry ON idempotency (expires_at);

-- Installation-wide settings.
CREATE TABLE settings (
    key   text COLLATE "C" NOT NULL PRIMARY KEY,
    value text NOT NULL
);

-- Replicas: every herald serve sharing the database writes a heartbeat
-- here, so that each can tell how many share the per-endpoint in-flight caps
-- and throttle rates.
CREATE TABLE replicas (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
