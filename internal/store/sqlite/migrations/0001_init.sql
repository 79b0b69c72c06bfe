-- 0001_init: Herald's whole schema.
--
-- Conventions:
--   * Times are INTEGER unix microseconds, UTC. NULL means "none" (a zero
--     time.Time) where a column is nullable.
--   * Ids are the TEXT ids of package ids: time-sortable, so ORDER BY id is
--     creation order and keyset pagination needs no other column.
--   * Maps and lists are JSON TEXT. A NULL list means "nil" (for endpoints:
--     all event types / every channel), '[]' a list that is empty.
--   * Optional uids and event ids are NULL when absent, so that UNIQUE
--     constraints ignore them.
--   * Tables are STRICT: a value of the wrong type is an error, not a
--     silent conversion.
--   * Everything that belongs to an app hangs off it with ON DELETE
--     CASCADE, and every foreign key has an index that starts with it, so a
--     cascade never scans a table.

-- Applications: the tenants.
CREATE TABLE apps (
    id            TEXT    NOT NULL PRIMARY KEY,
    uid           TEXT    UNIQUE,
    name          TEXT    NOT NULL,
    throttle_rate INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Endpoints: where an app's messages go.
CREATE TABLE endpoints (
    id            TEXT    NOT NULL PRIMARY KEY,
    app_id        TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    event_types   TEXT,                          -- JSON list; NULL: all
    channels      TEXT,                          -- JSON list; NULL: any
    throttle_rate INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    headers       TEXT    NOT NULL DEFAULT '{}',
    secret        TEXT    NOT NULL,              -- sealed by the caller
    old_secrets   TEXT,                          -- JSON [{secret, expiresAt}]
    failing_since INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Listing an app's endpoints by id, and the cascade from apps.
CREATE INDEX endpoints_app ON endpoints (app_id, id);
-- A uid is unique within its app.
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

-- Event types are global and keyed by name.
CREATE TABLE event_types (
    name         TEXT    NOT NULL PRIMARY KEY,
    description  TEXT    NOT NULL DEFAULT '',
    archived     INTEGER NOT NULL DEFAULT 0,
    deprecated   INTEGER NOT NULL DEFAULT 0,
    feature_flag TEXT    NOT NULL DEFAULT '',
    schemas      TEXT,                           -- JSON; NULL: none
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Messages: what an app sent. A rowid table, because rows carry payloads
-- (WITHOUT ROWID suits small rows only). Every query that reaches a message
-- knows its app, so the one index on (app_id, id) serves lookups, lists and
-- uniqueness: a message costs three b-tree inserts, not four.
CREATE TABLE messages (
    id                 TEXT    NOT NULL,
    app_id             TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    event_type         TEXT    NOT NULL,
    event_id           TEXT,
    channels           TEXT,                     -- JSON list; NULL: none
    payload            BLOB,                     -- NULL once expunged
    payload_expires_at INTEGER,
    created_at         INTEGER NOT NULL
) STRICT;

-- Looking up, listing and paging an app's messages, and the cascade from
-- apps.
CREATE UNIQUE INDEX messages_app ON messages (app_id, id);
-- A duplicate eventId within an app is a conflict.
CREATE UNIQUE INDEX messages_app_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
-- Retention: only rows that still have a payload are indexed.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at) WHERE payload IS NOT NULL;

-- Deliveries: the queue. One row per message and endpoint; small rows,
-- keyed by (msg_id, endpoint_id), hence WITHOUT ROWID (one b-tree fewer to
-- write per delivery than a rowid table with a unique index).
--
-- status: 0 success, 1 pending, 2 fail, 4 skipped (store.DeliveryStatus).
-- next_attempt_at: when a pending delivery is due, or when its lease ends;
-- NULL once finished. lease: the token of the worker holding it, 0 if none.
CREATE TABLE deliveries (
    msg_id           TEXT    NOT NULL,
    endpoint_id      TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    status           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    lease            INTEGER NOT NULL DEFAULT 0,
    manual           INTEGER NOT NULL DEFAULT 0,
    last_attempt_at  INTEGER,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
) STRICT, WITHOUT ROWID;

-- An endpoint's deliveries in message order (endpoint messages, recover,
-- stats), and the cascade from endpoints.
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);
-- The two claim queues, as partial indexes so that each claim is a range
-- scan over due rows only and first attempts never queue behind retries.
-- The WHERE clauses must stay identical to the claim queries'.
CREATE INDEX deliveries_due_first ON deliveries (next_attempt_at)
    WHERE status = 1 AND attempts = 0 AND manual = 0;
CREATE INDEX deliveries_due_retry ON deliveries (next_attempt_at)
    WHERE status = 1 AND (attempts > 0 OR manual = 1);

-- Attempts: every HTTP request made. Rows carry response bodies, so this is
-- a rowid table. Attempts are found by message or by endpoint, never by id
-- alone, so the id needs no index of its own: (msg_id, id) is unique.
CREATE TABLE attempts (
    id           TEXT    NOT NULL,
    app_id       TEXT    NOT NULL,
    msg_id       TEXT    NOT NULL,
    endpoint_id  TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    status_code  INTEGER NOT NULL,
    response     TEXT    NOT NULL DEFAULT '',
    duration_ms  INTEGER NOT NULL,
    trigger_type INTEGER NOT NULL,
    event_type   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

-- Attempts of a message (and their identity).
CREATE UNIQUE INDEX attempts_msg ON attempts (msg_id, id);
-- Attempts by endpoint, newest first: the index whose absence made an
-- anchor's attempt log unusable at volume.
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

-- Deliveries and attempts are written on the hot path, where foreign key
-- checks would cost two parent lookups per row; the code that writes them
-- already holds the parents (in the same transaction), so they have no
-- foreign keys and these triggers do the cascades instead. Rows deleted by
-- the apps cascade fire them too.
CREATE TRIGGER messages_cascade AFTER DELETE ON messages BEGIN
    DELETE FROM deliveries WHERE msg_id = old.id;
    DELETE FROM attempts WHERE msg_id = old.id;
END;

CREATE TRIGGER endpoints_cascade AFTER DELETE ON endpoints BEGIN
    DELETE FROM deliveries WHERE endpoint_id = old.id;
    DELETE FROM attempts WHERE endpoint_id = old.id;
END;

-- Background tasks (paged work such as recovering an endpoint).
CREATE TABLE tasks (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    app_id      TEXT    REFERENCES apps (id) ON DELETE CASCADE,
    endpoint_id TEXT    REFERENCES endpoints (id) ON DELETE CASCADE,
    params      TEXT,
    cursor      TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX tasks_running ON tasks (id) WHERE status = 'running';
CREATE INDEX tasks_app ON tasks (app_id);
CREATE INDEX tasks_endpoint ON tasks (endpoint_id);

-- API tokens: only a hash of the secret is kept. Portal tokens (app_id set)
-- go with their app.
CREATE TABLE tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    hash       BLOB    NOT NULL UNIQUE,
    app_id     TEXT    REFERENCES apps (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL DEFAULT '',
    expires_at INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX tokens_app ON tokens (app_id);

-- Idempotency records: the first response under an Idempotency-Key.
CREATE TABLE idempotency (
    key          TEXT    NOT NULL PRIMARY KEY,
    fingerprint  TEXT    NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0,
    status_code  INTEGER NOT NULL DEFAULT 0,
    body         BLOB,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX idempotency_expiry ON idempotency (expires_at);

-- Installation-wide settings.
CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
