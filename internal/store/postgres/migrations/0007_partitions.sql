-- 0007_partitions: a message's history (the message, its deliveries,
-- attempts and tags) is partitioned by the time the message was accepted,
-- so that retention drops a partition whose time has passed instead of
-- deleting its rows one by one (--retention; Store.DeleteHistory).
--
-- The partition key is the message id (msg_id in the other three tables):
-- ids begin with their millisecond (internal/ids), so a range of ids is a
-- range of time, and every primary key already holds it.
--
-- The existing tables become the first partition of each, "_old", which
-- takes every id below the bound Migrate sets in herald.history_start_id
-- (the migration's time plus an hour when the store holds messages, the
-- start of the hour when it is empty). Attaching one reads it once to check
-- the bound, and builds nothing: its indexes become the partitioned ones'.
-- Retention deletes from the _old partitions row by row, as before (by
-- messages_created, which only they keep); the partitions after them are
-- made ahead of time by Store.EnsurePartitions and dropped whole.
--
-- What partitioning cannot keep:
--   * A unique index must contain the partition key, so (app_id, event_id)
--     can no longer be one. The driver makes eventId unique instead: it
--     takes a transaction advisory lock per (app_id, event_id) of a batch,
--     in order, then inserts only the messages whose event id no partition
--     has (a non-unique index per partition).
--   * Row triggers are defined on the partitioned tables and cloned to each
--     partition; the old tables' own trigger is dropped so that the cascade
--     does not run twice on them.

ALTER TABLE messages RENAME TO messages_old;
ALTER TABLE deliveries RENAME TO deliveries_old;
ALTER TABLE attempts RENAME TO attempts_old;
ALTER TABLE message_tags RENAME TO message_tags_old;
DROP TRIGGER messages_cascade ON messages_old;

-- The old tables' indexes keep their definitions under new names; the
-- partitioned tables' indexes take the names.
ALTER INDEX messages_pkey RENAME TO messages_old_pkey;
ALTER INDEX messages_payload_expiry RENAME TO messages_old_payload_expiry;
ALTER INDEX messages_app_event_id RENAME TO messages_old_app_event_id;
ALTER INDEX messages_created RENAME TO messages_old_created;
ALTER INDEX deliveries_pkey RENAME TO deliveries_old_pkey;
ALTER INDEX deliveries_endpoint RENAME TO deliveries_old_endpoint;
ALTER INDEX deliveries_due_first RENAME TO deliveries_old_due_first;
ALTER INDEX deliveries_due_retry RENAME TO deliveries_old_due_retry;
ALTER INDEX deliveries_blocked RENAME TO deliveries_old_blocked;
ALTER INDEX attempts_pkey RENAME TO attempts_old_pkey;
ALTER INDEX attempts_endpoint RENAME TO attempts_old_endpoint;
ALTER INDEX attempts_endpoint_failed RENAME TO attempts_old_endpoint_failed;
ALTER INDEX message_tags_pkey RENAME TO message_tags_old_pkey;

CREATE TABLE messages (LIKE messages_old INCLUDING DEFAULTS) PARTITION BY RANGE (id);
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (app_id, id);
ALTER TABLE messages ADD CONSTRAINT messages_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE;
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at) WHERE payload IS NOT NULL;

CREATE TABLE deliveries (LIKE deliveries_old INCLUDING DEFAULTS) PARTITION BY RANGE (msg_id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY (msg_id, endpoint_id);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);
CREATE INDEX deliveries_due_first ON deliveries (next_attempt_at)
    WHERE status = 1 AND attempts = 0 AND NOT manual;
CREATE INDEX deliveries_due_retry ON deliveries (next_attempt_at)
    WHERE status = 1 AND (attempts > 0 OR manual);
CREATE INDEX deliveries_blocked ON deliveries (endpoint_id, ordering_key, seq) WHERE status = 5 AND seq > 0;

CREATE TABLE attempts (LIKE attempts_old INCLUDING DEFAULTS) PARTITION BY RANGE (msg_id);
ALTER TABLE attempts ADD CONSTRAINT attempts_pkey PRIMARY KEY (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);
CREATE INDEX attempts_endpoint_failed ON attempts (endpoint_id, id) WHERE status = 2;

CREATE TABLE message_tags (LIKE message_tags_old INCLUDING DEFAULTS) PARTITION BY RANGE (msg_id);
ALTER TABLE message_tags ADD CONSTRAINT message_tags_pkey PRIMARY KEY (app_id, tag, msg_id);

DO $$
DECLARE
    bound text := current_setting('herald.history_start_id');
BEGIN
    EXECUTE format('ALTER TABLE messages ATTACH PARTITION messages_old FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_old FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    EXECUTE format('ALTER TABLE attempts ATTACH PARTITION attempts_old FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    EXECUTE format('ALTER TABLE message_tags ATTACH PARTITION message_tags_old FOR VALUES FROM (MINVALUE) TO (%L)', bound);
END $$;

CREATE TRIGGER messages_cascade AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION herald_messages_cascade();

-- The partitions after _old, one row each: [lo, hi) in time, named by
-- suffix (messages_<suffix>, deliveries_<suffix>, ...). The _old partition
-- is the row with no lo.
CREATE TABLE history_partitions (
    suffix text COLLATE "C" NOT NULL PRIMARY KEY,
    lo     timestamptz,
    hi     timestamptz NOT NULL
);
INSERT INTO history_partitions (suffix, lo, hi) VALUES ('old', NULL, current_setting('herald.history_start')::timestamptz);
