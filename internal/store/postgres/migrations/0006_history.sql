-- 0006_history: retention of a message's history (the message, its
-- deliveries and attempts, --retention). The retention pass reads the oldest
-- messages first: this index is what it reads them by, so that a pass costs
-- the rows it deletes, not a scan of the table. SQLite needs none (it reads
-- messages in rowid order).
--
-- Built inside the migration's transaction, it holds back writes to
-- messages while it is built: 29 s for 10.3 million messages on the benchmark
-- machine (2 vCPU; BENCHMARKS.md).
CREATE INDEX messages_created ON messages (created_at);
