package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/store"
)

// FIFO sequences (store.Sequence). A transaction that joins or advances a
// sequence first locks its row with sqlLockSequences, which inserts the row
// of an idle sequence and locks an existing one, in (endpoint, key) order,
// and holds it until it commits: two replicas never make two heads of one
// sequence, and a delivery that joins while the head finishes is either seen
// by the advance (it committed first) or sees the sequence it left (it waited
// for the advance). Statements that read a sequence's deliveries run after
// the lock, each with its own snapshot (READ COMMITTED), so they see every
// delivery that joined before.

const (
	// An ON CONFLICT DO UPDATE locks the existing row, and inserts one when
	// a concurrent transaction deleted it meanwhile (a sequence that became
	// idle), where SELECT ... FOR UPDATE would find none.
	sqlLockSequences = `INSERT INTO fifo_sequences (endpoint_id, ordering_key, head, last_seq)
		SELECT s.endpoint_id, s.ordering_key, '', 0 FROM unnest($1::text[], $2::text[]) AS s (endpoint_id, ordering_key)
		ORDER BY s.endpoint_id, s.ordering_key
		ON CONFLICT (endpoint_id, ordering_key) DO UPDATE SET last_seq = fifo_sequences.last_seq
		RETURNING endpoint_id, ordering_key, head, last_seq`
	// The same for the sequences of the deliveries (msg_id, endpoint_id) of
	// a batch of completions.
	sqlLockCompletedSequences = `INSERT INTO fifo_sequences (endpoint_id, ordering_key, head, last_seq)
		SELECT DISTINCT d.endpoint_id, d.ordering_key, '', 0
		FROM unnest($1::text[], $2::text[]) AS c (msg_id, endpoint_id)
		JOIN deliveries AS d ON d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id
		WHERE d.seq <> 0
		ORDER BY d.endpoint_id, d.ordering_key
		ON CONFLICT (endpoint_id, ordering_key) DO UPDATE SET last_seq = fifo_sequences.last_seq
		RETURNING endpoint_id, ordering_key, head, last_seq`
	// The blocked delivery with the lowest seq of each sequence.
	sqlNextBlocked = `SELECT s.endpoint_id, s.ordering_key, n.msg_id, n.seq, n.deliver_at
		FROM unnest($1::text[], $2::text[]) AS s (endpoint_id, ordering_key)
		CROSS JOIN LATERAL (
			SELECT d.msg_id, d.seq, m.deliver_at FROM deliveries AS d
			JOIN messages AS m ON m.app_id = d.app_id AND m.id = d.msg_id
			WHERE d.endpoint_id = s.endpoint_id AND d.ordering_key = s.ordering_key AND d.status = 5 AND d.seq > 0
			ORDER BY d.seq LIMIT 1
		) AS n`
	// The same for the sequences of a batch of completions.
	sqlNextBlockedCompleted = `SELECT s.endpoint_id, s.ordering_key, n.msg_id, n.seq, n.deliver_at
		FROM (SELECT DISTINCT d.endpoint_id, d.ordering_key
			FROM unnest($1::text[], $2::text[]) AS c (msg_id, endpoint_id)
			JOIN deliveries AS d ON d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id
			WHERE d.seq <> 0) AS s
		CROSS JOIN LATERAL (
			SELECT d.msg_id, d.seq, m.deliver_at FROM deliveries AS d
			JOIN messages AS m ON m.app_id = d.app_id AND m.id = d.msg_id
			WHERE d.endpoint_id = s.endpoint_id AND d.ordering_key = s.ordering_key AND d.status = 5 AND d.seq > 0
			ORDER BY d.seq LIMIT 1
		) AS n`
	// By the key (the partial index of blocked deliveries does not serve
	// it: see its predicate).
	sqlPromote = `UPDATE deliveries AS d SET status = 1, next_attempt_at = p.due, lease = 0, updated_at = p.due
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS p (msg_id, endpoint_id, due)
		WHERE d.msg_id = p.msg_id AND d.endpoint_id = p.endpoint_id AND d.status = 5`
	sqlPutSequences = `UPDATE fifo_sequences AS f SET head = s.head, last_seq = s.last_seq
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS s (endpoint_id, ordering_key, head, last_seq)
		WHERE f.endpoint_id = s.endpoint_id AND f.ordering_key = s.ordering_key`
	sqlDeleteSequences = `DELETE FROM fifo_sequences AS f
		USING unnest($1::text[], $2::text[]) AS s (endpoint_id, ordering_key)
		WHERE f.endpoint_id = s.endpoint_id AND f.ordering_key = s.ordering_key`
)

type seqKey struct{ endpoint, key string }

func compareSeqKeys(a, b seqKey) int {
	if c := strings.Compare(a.endpoint, b.endpoint); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// sequences are the sequences a transaction locked, as they were read and
// as it changes them; flush queues their writing back.
type sequences struct {
	m map[seqKey]*store.Sequence
	// next is the blocked delivery with the lowest seq of each sequence,
	// when it was read.
	next map[seqKey]*store.Waiting
	// promoted are the deliveries made heads, with their due times.
	pMsg, pEndpoint []string
	pDue            []pgtype.Timestamptz
}

func newSequences() *sequences {
	return &sequences{m: map[seqKey]*store.Sequence{}, next: map[seqKey]*store.Waiting{}}
}

// scanLocked reads the rows of sqlLockSequences or
// sqlLockCompletedSequences.
func (q *sequences) scanLocked(rows pgx.Rows) error {
	for rows.Next() {
		var k seqKey
		s := &store.Sequence{}
		if err := rows.Scan(&k.endpoint, &k.key, &s.Head, &s.Last); err != nil {
			return err
		}
		q.m[k] = s
	}
	return rows.Err()
}

// scanNext reads the rows of sqlNextBlocked or sqlNextBlockedCompleted.
func (q *sequences) scanNext(rows pgx.Rows) error {
	for rows.Next() {
		var k seqKey
		w := &store.Waiting{}
		if err := rows.Scan(&k.endpoint, &k.key, &w.MsgID, &w.Seq, tscan{&w.DeliverAt}); err != nil {
			return err
		}
		q.next[k] = w
	}
	return rows.Err()
}

// queueLock queues the lock of the sequences of keys on b.
func (q *sequences) queueLock(b *pgx.Batch, keys []seqKey) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, compareSeqKeys)
	keys = slices.Compact(keys)
	eps, ks := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		eps[i], ks[i] = k.endpoint, k.key
	}
	b.Queue(sqlLockSequences, eps, ks).Query(q.scanLocked)
}

// queueNext queues the read of the next blocked delivery of the sequences
// of keys (after their lock).
func (q *sequences) queueNext(b *pgx.Batch, keys []seqKey) {
	eps, ks := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		eps[i], ks[i] = k.endpoint, k.key
	}
	b.Queue(sqlNextBlocked, eps, ks).Query(q.scanNext)
}

// join adds the delivery of msgID to the end of its (locked) sequence.
func (q *sequences) join(endpointID, key, msgID string) (seq int64, head bool) {
	k := seqKey{endpointID, key}
	s := q.m[k]
	if s == nil {
		// Not locked: a caller's mistake, caught by the tests; never
		// make a second head.
		panic("postgres: join of a sequence that was not locked")
	}
	return s.Join(msgID)
}

// advance moves the (locked) sequence of (endpointID, key) on after the
// delivery of msgID finished at now (see store.Sequence.Advance), with the
// next blocked delivery read by queueNext.
func (q *sequences) advance(endpointID, key, msgID string, now time.Time) {
	k := seqKey{endpointID, key}
	s := q.m[k]
	if s == nil {
		return
	}
	next := q.next[k]
	promote, due := s.Advance(msgID, next, now)
	if !promote {
		return
	}
	delete(q.next, k) // taken: a second advance finds the sequence's new head
	q.pMsg = append(q.pMsg, next.MsgID)
	q.pEndpoint = append(q.pEndpoint, endpointID)
	q.pDue = append(q.pDue, ts(due))
}

// queueFlush queues on b the promotions and the writing back of every
// locked sequence (idle ones are deleted), and a NOTIFY when a delivery
// became due.
func (q *sequences) queueFlush(b *pgx.Batch) {
	if len(q.pMsg) > 0 {
		b.Queue(sqlPromote, q.pMsg, q.pEndpoint, q.pDue)
		b.Queue(sqlNotifyDue)
	}
	var putE, putK, putH, delE, delK []string
	var putL []int64
	keys := make([]seqKey, 0, len(q.m))
	for k := range q.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareSeqKeys)
	for _, k := range keys {
		s := q.m[k]
		if s.Idle() {
			delE, delK = append(delE, k.endpoint), append(delK, k.key)
		} else {
			putE, putK, putH, putL = append(putE, k.endpoint), append(putK, k.key), append(putH, s.Head), append(putL, s.Last)
		}
	}
	if len(putE) > 0 {
		b.Queue(sqlPutSequences, putE, putK, putH, putL)
	}
	if len(delE) > 0 {
		b.Queue(sqlDeleteSequences, delE, delK)
	}
}

// lockSequences locks the sequences of keys in the transaction open on tx,
// and reads their next blocked deliveries when withNext.
func lockSequences(ctx context.Context, tx pgx.Tx, keys []seqKey, withNext bool) (*sequences, error) {
	q := newSequences()
	b := &pgx.Batch{}
	q.queueLock(b, keys)
	if withNext {
		q.queueNext(b, keys)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return q, nil
}
