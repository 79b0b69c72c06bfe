package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// FIFO sequences (store.Sequence). Every write runs on the one writer
// connection, so reading a sequence's row and writing it back in one
// transaction is all the locking they need.

const (
	sqlGetSequence = `SELECT head, last_seq FROM fifo_sequences WHERE endpoint_id = ? AND ordering_key = ?`
	sqlPutSequence = `INSERT INTO fifo_sequences (endpoint_id, ordering_key, head, last_seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (endpoint_id, ordering_key) DO UPDATE SET head = excluded.head, last_seq = excluded.last_seq`
	sqlDeleteSequence = `DELETE FROM fifo_sequences WHERE endpoint_id = ? AND ordering_key = ?`
	// The blocked delivery of a sequence with the lowest seq, from the
	// partial index of blocked deliveries.
	sqlNextBlocked = `SELECT d.msg_id, d.seq, m.deliver_at FROM deliveries AS d INDEXED BY deliveries_blocked
		JOIN messages AS m ON m.app_id = d.app_id AND m.id = d.msg_id
		WHERE d.endpoint_id = ? AND d.ordering_key = ? AND d.status = 5 AND d.seq > 0
		ORDER BY d.seq LIMIT 1`
	sqlPromote = `UPDATE deliveries SET status = 1, next_attempt_at = ?1, lease = 0, updated_at = ?1
		WHERE msg_id = ?2 AND endpoint_id = ?3 AND status = 5`
	// A finished delivery's place in its sequence.
	sqlDeliverySeq = `SELECT coalesce(ordering_key, ''), seq FROM deliveries WHERE msg_id = ? AND endpoint_id = ?`
)

type seqKey struct{ endpoint, key string }

// sequences holds the sequences a write transaction reads and changes, and
// writes them back with flush before the transaction ends.
type sequences struct {
	tx *sql.Tx
	m  map[seqKey]*store.Sequence
}

func newSequences(tx *sql.Tx) *sequences {
	return &sequences{tx: tx, m: map[seqKey]*store.Sequence{}}
}

// get returns the sequence of (endpointID, key), idle when it has no row.
func (q *sequences) get(ctx context.Context, endpointID, key string) (*store.Sequence, error) {
	k := seqKey{endpointID, key}
	if s := q.m[k]; s != nil {
		return s, nil
	}
	s := &store.Sequence{}
	err := q.tx.QueryRowContext(ctx, sqlGetSequence, endpointID, key).Scan(&s.Head, &s.Last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	q.m[k] = s
	return s, nil
}

// join adds the delivery of msgID to the end of its sequence (see
// store.Sequence.Join).
func (q *sequences) join(ctx context.Context, endpointID, key, msgID string) (seq int64, head bool, err error) {
	s, err := q.get(ctx, endpointID, key)
	if err != nil {
		return 0, false, err
	}
	seq, head = s.Join(msgID)
	return seq, head, nil
}

// advance moves the sequence of (endpointID, key) on after the delivery of
// msgID finished at now, promoting the next blocked delivery (see
// store.Sequence.Advance).
func (q *sequences) advance(ctx context.Context, endpointID, key, msgID string, now time.Time) error {
	s, err := q.get(ctx, endpointID, key)
	if err != nil {
		return err
	}
	var next *store.Waiting
	if s.Head == msgID {
		w := &store.Waiting{}
		err := q.tx.QueryRowContext(ctx, sqlNextBlocked, endpointID, key).Scan(&w.MsgID, &w.Seq, tscan{&w.DeliverAt})
		switch {
		case err == nil:
			next = w
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	promote, due := s.Advance(msgID, next, now)
	if !promote {
		return nil
	}
	_, err = q.tx.ExecContext(ctx, sqlPromote, tsv(due), next.MsgID, endpointID)
	return err
}

// finished advances the sequence of the delivery of msgID to endpointID,
// if it is in one, after it reached a final state at now.
func (q *sequences) finished(ctx context.Context, msgID, endpointID string, now time.Time) error {
	var key string
	var seq int64
	if err := q.tx.QueryRowContext(ctx, sqlDeliverySeq, msgID, endpointID).Scan(&key, &seq); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	if seq == 0 {
		return nil
	}
	return q.advance(ctx, endpointID, key, msgID, now)
}

// flush writes back the sequences read, deleting those that are idle.
func (q *sequences) flush(ctx context.Context) error {
	for k, s := range q.m {
		var err error
		if s.Idle() {
			_, err = q.tx.ExecContext(ctx, sqlDeleteSequence, k.endpoint, k.key)
		} else {
			_, err = q.tx.ExecContext(ctx, sqlPutSequence, k.endpoint, k.key, s.Head, s.Last)
		}
		if err != nil {
			return err
		}
	}
	clear(q.m)
	return nil
}
