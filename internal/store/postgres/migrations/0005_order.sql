-- 0005_order: scheduled messages (deliverAt), message tags, and FIFO
-- endpoints, as in internal/store/sqlite/migrations/0005_order.sql. The
-- rules are store.Sequence and store.Message.DueAt; these columns keep their
-- state.
--
-- Every column added is nullable or has a constant default: ADD COLUMN
-- changes the catalog only, and a release without it keeps working on this
-- schema.

-- A message's tags (NULL: none), the time its deliveries are first due when
-- it was scheduled (NULL: at once), its ordering key (NULL: none) and when
-- its schedule was cancelled (NULL: it was not).
ALTER TABLE messages
    ADD COLUMN tags         text[],
    ADD COLUMN deliver_at   timestamptz,
    ADD COLUMN ordering_key text COLLATE "C",
    ADD COLUMN canceled_at  timestamptz;

-- The tag filter of the message lists: one row per message and tag, written
-- with the message, so that a page of an app's messages with a tag is a
-- range scan in id order however rare the tag is.
CREATE TABLE message_tags (
    app_id text COLLATE "C" NOT NULL,
    tag    text COLLATE "C" NOT NULL,
    msg_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, tag, msg_id)
);

-- An endpoint's ordering (store.Ordering): 0 none, 1 FIFO.
ALTER TABLE endpoints ADD COLUMN ordering smallint NOT NULL DEFAULT 0;

-- A delivery of a FIFO sequence: its message's ordering key ('' for none)
-- and its number in the sequence (seq, 0 when it is in none). status 5 is
-- blocked (waiting for the head of its sequence), 6 canceled.
ALTER TABLE deliveries
    ADD COLUMN ordering_key text COLLATE "C",
    ADD COLUMN seq          bigint NOT NULL DEFAULT 0;

-- The next delivery of a sequence: the blocked one with the lowest seq.
-- Partial: only blocked deliveries (the few waiting) are indexed. Blocked
-- deliveries always have a seq; the predicate says so, so that a statement
-- that looks a delivery up by its key and checks that it is blocked
-- (status = 5, without seq) is never planned over this index's rows.
CREATE INDEX deliveries_blocked ON deliveries (endpoint_id, ordering_key, seq) WHERE status = 5 AND seq > 0;

-- The sequences that are not idle (store.Sequence): the message id of the
-- head's delivery and the last seq given. Every join and advance holds its
-- row locked (INSERT ... ON CONFLICT DO UPDATE, or SELECT ... FOR UPDATE, in
-- (endpoint_id, ordering_key) order) until it commits, so that two replicas
-- never make two heads of one sequence, nor miss a delivery that joins while
-- the head finishes. A sequence that becomes idle is deleted.
CREATE TABLE fifo_sequences (
    endpoint_id  text COLLATE "C" NOT NULL,
    ordering_key text COLLATE "C" NOT NULL,
    head         text COLLATE "C" NOT NULL,
    last_seq     bigint NOT NULL,
    PRIMARY KEY (endpoint_id, ordering_key)
);

-- Tags go with their message, and sequences with their endpoint, by the
-- cascade triggers of 0001, which take them first (a sequence's row is
-- locked before its deliveries everywhere else too).
CREATE OR REPLACE FUNCTION herald_messages_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.tags IS NOT NULL THEN
        DELETE FROM message_tags WHERE app_id = OLD.app_id AND tag = ANY(OLD.tags) AND msg_id = OLD.id;
    END IF;
    DELETE FROM deliveries WHERE msg_id = OLD.id;
    DELETE FROM attempts WHERE msg_id = OLD.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION herald_endpoints_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM fifo_sequences WHERE endpoint_id = OLD.id;
    DELETE FROM deliveries WHERE endpoint_id = OLD.id;
    DELETE FROM attempts WHERE endpoint_id = OLD.id;
    RETURN NULL;
END $$;
