package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/ids"
)

// History partitions (migration 0007). messages, deliveries, attempts and
// message_tags are partitioned by message id, that is by the time the
// message was accepted. The _old partitions take everything before the
// first partition; after them, each partition spans the width the store was
// opened with, and history_partitions lists them. EnsurePartitions makes
// them ahead of time and DeleteHistory drops them once their time is past
// the retention.

// historyTables are the partitioned tables, in the order their partitions
// are made (and dropped in reverse).
var historyTables = []string{"messages", "deliveries", "attempts", "message_tags"}

// PartitionWidth is the time range of each history partition for a
// retention (0: for ever). A message is kept between the retention and the
// retention plus the width: a week for a retention of four weeks or more,
// a day down to two days, an hour below. Queries that cannot be narrowed
// to one partition (claims, an endpoint's attempts) read one index per
// partition, so the width keeps the count near twelve or fewer.
func PartitionWidth(retention time.Duration) time.Duration {
	switch {
	case retention <= 0 || retention >= 28*24*time.Hour:
		return 7 * 24 * time.Hour
	case retention >= 48*time.Hour:
		return 24 * time.Hour
	default:
		return time.Hour
	}
}

// EnsurePartitions makes partitions for partitionsAhead widths past now,
// and at least minAhead: a replica whose maintenance stops still has one
// whole width (or hours) before inserts would find no partition.
const (
	partitionsAhead = 2
	minAhead        = 6 * time.Hour
)

// setHistoryStart sets the settings migration 0007 reads: the first
// partition after _old starts at the start of the hour when the store holds
// no message, and an hour after now when it holds some (so that every
// existing id, even one made on a clock a little ahead, is below it).
func setHistoryStart(ctx context.Context, tx pgx.Tx, now time.Time) error {
	start := now.UTC().Truncate(time.Hour)
	var table *string
	if err := tx.QueryRow(ctx, `SELECT to_regclass('messages')::text`).Scan(&table); err != nil {
		return err
	}
	if table != nil {
		var some bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages)`).Scan(&some); err != nil {
			return err
		}
		if some {
			start = now.UTC().Add(time.Hour).Truncate(time.Second)
		}
	}
	_, err := tx.Exec(ctx, `SELECT set_config('herald.history_start', $1, true), set_config('herald.history_start_id', $2, true)`,
		start.Format(time.RFC3339), ids.Lower(ids.Message, start))
	return err
}

// partitionSuffix names the partition that starts at lo.
func partitionSuffix(lo time.Time) string { return "p" + lo.UTC().Format("20060102t150405") }

// EnsurePartitions makes the history partitions that messages accepted up
// to now plus two partition widths (at least six hours) go to, each partition the store's width
// after the last one. Replicas make them one at a time (an advisory lock);
// a call that finds them made costs nothing once this store has seen them.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time) error {
	return s.ensurePartitions(ctx, now, s.tx)
}

// ensurePartitions is EnsurePartitions with the transactions of tx:
// Store.tx, bounded by the call timeout, or (Migrate) Store.unboundedTx.
func (s *Store) ensurePartitions(ctx context.Context, now time.Time, tx func(context.Context, func(context.Context, pgx.Tx) error) error) error {
	until := now.Add(max(partitionsAhead*s.partitionWidth, minAhead))
	s.partitionsMu.Lock()
	defer s.partitionsMu.Unlock()
	if until.Before(s.partitionsUntil) {
		return nil
	}
	var last time.Time
	err := tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('herald.partitions.' || current_schema(), 0))`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT max(hi) FROM history_partitions`).Scan(&last); err != nil {
			return err
		}
		for !until.Before(last) {
			lo, hi := last, last.Add(s.partitionWidth)
			if err := createPartition(ctx, tx, lo, hi); err != nil {
				return err
			}
			last = hi
		}
		return nil
	})
	if err != nil {
		return wrap("ensure partitions", err)
	}
	s.partitionsUntil = last
	return nil
}

// createPartition makes the partitions of [lo, hi) and lists them. Each is
// made as a table and then attached, which locks its parent less than
// CREATE TABLE ... PARTITION OF would (SHARE UPDATE EXCLUSIVE: reads and
// writes go on); attaching an empty table checks nothing and builds its
// indexes at once.
func createPartition(ctx context.Context, tx pgx.Tx, lo, hi time.Time) error {
	suffix := partitionSuffix(lo)
	from, to := ids.Lower(ids.Message, lo), ids.Lower(ids.Message, hi)
	b := &pgx.Batch{}
	for _, t := range historyTables {
		part := pgx.Identifier{t + "_" + suffix}.Sanitize()
		b.Queue(`CREATE TABLE ` + part + ` (LIKE ` + t + ` INCLUDING DEFAULTS)`)
		b.Queue(fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`, t, part, from, to))
	}
	// eventId is unique per app across partitions by the driver
	// (lockEventIDs), which looks event ids up in each partition.
	b.Queue(`CREATE INDEX ` + pgx.Identifier{"messages_" + suffix + "_event_id"}.Sanitize() + ` ON ` +
		pgx.Identifier{"messages_" + suffix}.Sanitize() + ` (app_id, event_id) WHERE event_id IS NOT NULL`)
	b.Queue(`INSERT INTO history_partitions (suffix, lo, hi) VALUES ($1, $2, $3)`, suffix, lo, hi)
	return tx.SendBatch(ctx, b).Close()
}

// dropLockTimeout bounds the wait of a partition drop for its locks, all
// four together (the LOCK statement's statement_timeout): while it waits,
// the queries behind it wait too. A drop that gives up is not tried again
// for dropBackoff, so that a long reader (a dump, a report) does not make
// every pass stall the others.
const (
	dropLockTimeout = 500 * time.Millisecond
	dropBackoff     = time.Minute
)

// sqlPartitionBusy reports whether a partition's deliveries include one
// still to make (pending or blocked), from the partial indexes that hold
// only those; %s is the partition's deliveries table.
const sqlPartitionBusy = `SELECT EXISTS (SELECT 1 FROM %[1]s WHERE status = 1 AND attempts = 0 AND NOT manual)
	OR EXISTS (SELECT 1 FROM %[1]s WHERE status = 1 AND (attempts > 0 OR manual))
	OR EXISTS (SELECT 1 FROM %[1]s WHERE status = 5 AND seq > 0)`

// errGone is a partition another replica dropped while this one looked
// at it.
var errGone = errors.New("partition gone")

// dropHistoryPartition drops the oldest partition that ends at or before
// before and holds no delivery still to make, with its messages,
// deliveries, attempts and tags, and returns how many messages it held;
// 0 and false when there is none to drop. A partition with a delivery to
// make is kept until a later pass finds none.
//
// The drop locks the four partitioned tables (ACCESS EXCLUSIVE, for the
// milliseconds the check and the DROPs take) so that no resend makes one of
// its deliveries pending between the check and the drop: dropping a
// partition locks its parent anyway.
func (s *Store) dropHistoryPartition(ctx context.Context, before time.Time) (int, bool, error) {
	s.partitionsMu.Lock()
	wait := time.Until(s.dropRetryAt)
	s.partitionsMu.Unlock()
	if wait > 0 {
		return 0, false, nil
	}
	rows, err := s.query(ctx, `SELECT suffix FROM history_partitions WHERE lo IS NOT NULL AND hi <= $1 ORDER BY hi`, before)
	if err != nil {
		return 0, false, err
	}
	suffixes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, false, err
	}
	for _, suffix := range suffixes {
		n, dropped, err := s.dropPartition(ctx, suffix)
		switch {
		case errors.Is(err, errGone):
			continue
		case isLockTimeout(err):
			s.partitionsMu.Lock()
			s.dropRetryAt = time.Now().Add(dropBackoff)
			s.partitionsMu.Unlock()
			return 0, false, nil
		case err != nil:
			return 0, false, err
		case dropped:
			return n, true, nil
		}
	}
	return 0, false, nil
}

// dropPartition drops the partitions named suffix unless their deliveries
// include one still to make, and returns how many messages they held.
// Its errors are errGone (another replica dropped them first), a lock
// timeout (isLockTimeout), or the store's.
func (s *Store) dropPartition(ctx context.Context, suffix string) (int, bool, error) {
	deliveries := pgx.Identifier{"deliveries_" + suffix}.Sanitize()
	gone := func(err error) error {
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
			return errGone
		}
		return err
	}
	var busy bool
	if err := s.queryRow(ctx, fmt.Sprintf(sqlPartitionBusy, deliveries)).Scan(&busy); err != nil || busy {
		return 0, false, gone(err)
	}
	// Counted before the locks: nothing is written to a partition whose
	// time is past but a resend's attempt.
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{"messages_" + suffix}.Sanitize()).Scan(&n); err != nil {
		return 0, false, gone(err)
	}
	var result error
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		lock := fmt.Sprintf(`SET LOCAL statement_timeout = %d`, dropLockTimeout.Milliseconds())
		if _, err := tx.Exec(ctx, lock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE messages, deliveries, attempts, message_tags IN ACCESS EXCLUSIVE MODE`); err != nil {
			result = err // seen here: the transaction's error is converted
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = DEFAULT`); err != nil {
			return err
		}
		var listed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM history_partitions WHERE suffix = $1)`, suffix).Scan(&listed); err != nil {
			return err
		}
		if !listed {
			result = errGone
			return errGone
		}
		if err := tx.QueryRow(ctx, fmt.Sprintf(sqlPartitionBusy, deliveries)).Scan(&busy); err != nil || busy {
			return err
		}
		b := &pgx.Batch{}
		for i := len(historyTables) - 1; i >= 0; i-- {
			b.Queue(`DROP TABLE ` + pgx.Identifier{historyTables[i] + "_" + suffix}.Sanitize())
		}
		b.Queue(`DELETE FROM history_partitions WHERE suffix = $1`, suffix)
		return tx.SendBatch(ctx, b).Close()
	})
	switch {
	case result != nil:
		return 0, false, result
	case err != nil:
		return 0, false, err
	case busy:
		return 0, false, nil
	}
	return n, true, nil
}

// isLockTimeout reports whether err is the LOCK of a drop giving up:
// PostgreSQL's lock_not_available (lock_timeout) or query_canceled (its
// statement_timeout).
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "57014")
}
