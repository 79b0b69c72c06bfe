-- 0005_order: scheduled messages (deliverAt), message tags, and FIFO
-- endpoints (Herald extensions of the Svix API, but tags). The rules are
-- store.Sequence and store.Message.DueAt; these columns keep their state.
--
-- Every column added is nullable or has a constant default: adding it
-- rewrites nothing, and a release without it keeps working on this schema.

-- A message's tags (JSON list; NULL: none), the time its deliveries are
-- first due when it was scheduled (NULL: at once), its ordering key (NULL:
-- none) and when its schedule was cancelled (NULL: it was not).
ALTER TABLE messages ADD COLUMN tags TEXT;
ALTER TABLE messages ADD COLUMN deliver_at INTEGER;
ALTER TABLE messages ADD COLUMN ordering_key TEXT;
ALTER TABLE messages ADD COLUMN canceled_at INTEGER;

-- The tag filter of the message lists: one row per message and tag, written
-- with the message, so that a page of an app's messages with a tag is a
-- range scan in id order however rare the tag is.
CREATE TABLE message_tags (
    app_id TEXT NOT NULL,
    tag    TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    PRIMARY KEY (app_id, tag, msg_id)
) STRICT, WITHOUT ROWID;

-- Tags go with their message (by trigger, as deliveries and attempts do).
CREATE TRIGGER messages_tags_cascade AFTER DELETE ON messages WHEN old.tags IS NOT NULL BEGIN
    DELETE FROM message_tags WHERE app_id = old.app_id AND tag IN (SELECT value FROM json_each(old.tags)) AND msg_id = old.id;
END;

-- An endpoint's ordering (store.Ordering): 0 none, 1 FIFO.
ALTER TABLE endpoints ADD COLUMN ordering INTEGER NOT NULL DEFAULT 0;

-- A delivery of a FIFO sequence: its message's ordering key ('' for none)
-- and its number in the sequence (seq, 0 when it is in none). status 5 is
-- blocked (waiting for the head of its sequence), 6 canceled.
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- The next delivery of a sequence: the blocked one with the lowest seq.
-- Partial: only blocked deliveries (the few waiting) are indexed. Blocked
-- deliveries always have a seq; the predicate says so, so that a statement
-- that looks a delivery up by its key and checks that it is blocked
-- (status = 5, without seq) is never planned over this index's rows.
CREATE INDEX deliveries_blocked ON deliveries (endpoint_id, ordering_key, seq) WHERE status = 5 AND seq > 0;

-- The sequences that are not idle (store.Sequence): the message id of the
-- head's delivery and the last seq given. Every join and advance reads and
-- writes its row in the writer's transaction; a sequence that becomes idle
-- is deleted.
CREATE TABLE fifo_sequences (
    endpoint_id  TEXT    NOT NULL,
    ordering_key TEXT    NOT NULL,
    head         TEXT    NOT NULL,
    last_seq     INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, ordering_key)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER endpoints_sequences_cascade AFTER DELETE ON endpoints BEGIN
    DELETE FROM fifo_sequences WHERE endpoint_id = old.id;
END;
