package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// dueChannel is the NOTIFY channel on which writes that make unleased
// deliveries due tell every process sharing the database.
const dueChannel = "herald_due"

// The payload is the schema, so that installations in different schemas of
// one database do not wake each other.
const sqlNotifyDue = `SELECT pg_notify('` + dueChannel + `', current_schema())`

// The hot path's statements.
const (
	// The apps of a batch, and their endpoints, locked against deletion
	// (FOR KEY SHARE: updates still go through) until the batch commits,
	// so that no delivery is written for an endpoint being deleted.
	sqlBatchApps      = `SELECT id FROM apps WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`
	sqlBatchEndpoints = `SELECT id, app_id, disabled, event_types, channels, throttle_rate, ordering, updated_at
		FROM endpoints WHERE app_id = ANY($1) ORDER BY id FOR KEY SHARE`
	// The apps of a change with events (the one it is made in, and its
	// events'), read first in its transaction, are locked against the
	// other changes with events in them (FOR NO KEY UPDATE, which
	// CreateMessages' FOR KEY SHARE does not wait for). Otherwise two
	// changes with events to one app would deadlock: deleting an endpoint
	// locks its row, and reading the app's endpoints then waits for the
	// row the other deleted.
	sqlEventApps = `SELECT id FROM apps WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`

	// The claim queries take due rows from one partial index each (their
	// WHERE clauses repeat the indexes'), oldest due first, skipping rows
	// another claim is taking at this moment, and lease them in the same
	// statement.
	sqlClaim = `WITH due AS (
		SELECT msg_id, endpoint_id FROM deliveries
		WHERE %s AND next_attempt_at <= $1 AND next_attempt_at >= $6 AND endpoint_id <> ALL($2)
		ORDER BY next_attempt_at
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	), ` + sqlLeaseDue

	// sqlLeaseDue ends both claims: it leases the rows of the CTE "due"
	// (until $4, with lease $5, at $1) and returns them as jobs.
	sqlLeaseDue = `claimed AS (
		UPDATE deliveries AS d SET next_attempt_at = $4, lease = $5, updated_at = $1
		FROM due WHERE d.msg_id = due.msg_id AND d.endpoint_id = due.endpoint_id
		RETURNING d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.manual, d.seq, d.last_attempt_at, d.last_status_code, d.created_at
	)
	SELECT c.msg_id, c.endpoint_id, c.app_id, c.attempts, c.manual, c.seq, c.last_attempt_at, c.last_status_code, c.created_at,
		m.event_type, m.event_id, m.payload, m.created_at, e.updated_at, e.throttle_rate
	FROM claimed AS c
	JOIN messages AS m ON m.app_id = c.app_id AND m.id = c.msg_id
	JOIN endpoints AS e ON e.id = c.endpoint_id`

	whereDueFirst = `status = 1 AND attempts = 0 AND NOT manual`
	whereDueRetry = `status = 1 AND (attempts > 0 OR manual)`
	whereParked   = `status = 1 AND next_attempt_at IS NULL`

	// A claim of parked deliveries: the endpoints that have some, but the
	// excluded ones (a loose scan of deliveries_parked, one probe per
	// endpoint), then up to $6 of each, in message order, $3 in all.
	sqlClaimParked = `WITH RECURSIVE parked (id) AS (
		SELECT (SELECT min(endpoint_id) FROM deliveries WHERE ` + whereParked + `)
		UNION ALL
		SELECT (SELECT min(endpoint_id) FROM deliveries WHERE ` + whereParked + ` AND endpoint_id > parked.id)
		FROM parked WHERE parked.id IS NOT NULL
	), eps AS (
		SELECT id FROM parked WHERE id IS NOT NULL AND id <> ALL($2) LIMIT $3
	), due AS (
		SELECT d.msg_id, d.endpoint_id FROM eps CROSS JOIN LATERAL (
			SELECT msg_id, endpoint_id FROM deliveries
			WHERE endpoint_id = eps.id AND ` + whereParked + `
			ORDER BY msg_id
			LIMIT $6
			FOR UPDATE SKIP LOCKED
		) AS d
		LIMIT $3
	), ` + sqlLeaseDue

	// An attempt is recorded whatever the lease, as long as its delivery
	// still exists (the endpoint, message or app may have been deleted
	// while it was in flight). The delivery is locked against deletion
	// until the attempt commits, so that a cascade running at the same
	// moment either removes the attempt too or finds no delivery to record
	// it for. Recording one twice is a no-op.
	sqlInsertAttempts = `INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, duration_ms,
			trigger_type, event_type, created_at)
		SELECT a.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::integer[], $8::text[],
			$9::bigint[], $10::smallint[], $11::text[], $12::timestamptz[])
			AS a (id, app_id, msg_id, endpoint_id, url, status, status_code, response, duration_ms, trigger_type, event_type, created_at)
		WHERE EXISTS (SELECT 1 FROM deliveries AS d WHERE d.msg_id = a.msg_id AND d.endpoint_id = a.endpoint_id FOR KEY SHARE)
		ON CONFLICT DO NOTHING`
	// Only a delivery whose lease still matches moves. A completion
	// without an attempt (no request was made) moves the state only.
	sqlCompleteDeliveries = `UPDATE deliveries AS d SET
			status = c.status,
			attempts = d.attempts + CASE WHEN c.attempted THEN 1 ELSE 0 END,
			next_attempt_at = c.next_attempt_at,
			lease = 0,
			manual = false,
			last_attempt_at = CASE WHEN c.attempted THEN c.attempted_at ELSE d.last_attempt_at END,
			last_status_code = CASE WHEN c.attempted THEN c.status_code ELSE d.last_status_code END,
			updated_at = CASE WHEN c.attempted THEN c.attempted_at ELSE d.updated_at END
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::smallint[], $5::timestamptz[], $6::boolean[], $7::timestamptz[], $8::integer[])
			AS c (msg_id, endpoint_id, lease, status, next_attempt_at, attempted, attempted_at, status_code)
		WHERE d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id AND d.lease = c.lease AND d.status = 1`
	// Endpoint.FailingSince after a batch, as store.EndpointOutcome's
	// FailingSince says: only rows that change (its Changes) are locked,
	// in id order (no deadlock between batches), and written.
	sqlFailing = `WITH o AS (
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::boolean[]) AS o (id, since, succeeded)
	), l AS (
		SELECT e.id FROM endpoints AS e JOIN o ON o.id = e.id
		WHERE CASE WHEN o.since IS NULL THEN e.failing_since IS NOT NULL
			ELSE e.failing_since IS NULL OR (o.succeeded AND e.failing_since <> o.since) END
		ORDER BY e.id
		FOR NO KEY UPDATE OF e
	)
	UPDATE endpoints AS e SET failing_since = o.since FROM o, l WHERE e.id = l.id AND o.id = l.id`
	// The attempt's time may be earlier than a concurrent API write's:
	// updated_at never goes backwards.
	sqlDisable = `UPDATE endpoints AS e SET disabled = true, updated_at = GREATEST(o.at, e.updated_at + interval '1 microsecond')
		FROM unnest($1::text[], $2::timestamptz[]) AS o (id, at)
		WHERE e.id = o.id AND NOT e.disabled`
)

// The messages of a batch and their deliveries, in one statement; %s is
// what a message whose id is taken does. A message whose event id another
// message of its app has is not inserted: the partitions cannot hold a
// unique index of event ids (migration 0007), so the batch first takes a
// lock per event id (sqlLockEventIDs) and this looks them up in every
// partition.
const sqlInsertMessagesTmpl = `WITH m AS (
		INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, payload_expires_at, created_at,
			tags, deliver_at, ordering_key)
		SELECT u.id, u.app_id, u.event_type, u.event_id,
			CASE WHEN u.channels IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.channels::jsonb)) END,
			u.payload, u.payload_expires_at, u.created_at,
			CASE WHEN u.tags IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)) END,
			u.deliver_at, u.ordering_key
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::timestamptz[], $8::timestamptz[],
				$16::text[], $17::timestamptz[], $18::text[])
			WITH ORDINALITY AS u (id, app_id, event_type, event_id, channels, payload, payload_expires_at, created_at,
				tags, deliver_at, ordering_key, n)
		WHERE u.event_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages AS x WHERE x.app_id = u.app_id AND x.event_id = u.event_id)
		ORDER BY u.n
		%s
		RETURNING id, app_id, tags
	), d AS (
		INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, lease, created_at, updated_at)
		SELECT u.msg_id, u.endpoint_id, u.app_id, u.status, u.next_attempt_at, u.lease, u.created_at, u.created_at
		FROM unnest($9::text[], $10::text[], $11::text[], $12::smallint[], $13::timestamptz[], $14::bigint[], $15::timestamptz[])
			AS u (msg_id, endpoint_id, app_id, status, next_attempt_at, lease, created_at)
		JOIN m ON m.id = u.msg_id AND m.app_id = u.app_id
	), t AS (
		INSERT INTO message_tags (app_id, tag, msg_id)
		SELECT m.app_id, tag, m.id FROM m, unnest(m.tags) AS tag
		WHERE m.tags IS NOT NULL
		ON CONFLICT DO NOTHING
	)
	SELECT id, app_id FROM m`

// sqlLockEventIDs takes a transaction lock for each (app id, event id) of
// a batch, in one order, so that two batches with one event id insert one
// after the other and the second finds the first's message. A lock is a
// hash of the pair: two pairs with one hash only wait for each other.
const sqlLockEventIDs = `SELECT count(pg_advisory_xact_lock(k)) FROM (
		SELECT DISTINCT hashtextextended(u.app_id || '/' || u.event_id, 7) AS k
		FROM unnest($1::text[], $2::text[]) AS u (app_id, event_id) ORDER BY k) AS l`

// The deliveries of a batch to FIFO endpoints, written once the messages
// are stored and the deliveries have joined their sequences.
const sqlInsertOrderedDeliveries = `INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, lease,
		ordering_key, seq, created_at, updated_at)
	SELECT u.msg_id, u.endpoint_id, u.app_id, u.status, u.next_attempt_at, u.lease, u.ordering_key, u.seq, u.created_at, u.created_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[], $6::bigint[], $7::text[], $8::bigint[],
		$9::timestamptz[]) AS u (msg_id, endpoint_id, app_id, status, next_attempt_at, lease, ordering_key, seq, created_at)`

var (
	// In a batch of CreateMessages, a message whose id or event id is
	// taken inserts nothing (the first of two in one batch wins: rows go
	// in in order) and gets no delivery; the ids returned are those
	// stored.
	sqlInsertMessages = fmt.Sprintf(sqlInsertMessagesTmpl, "ON CONFLICT DO NOTHING")
	// Events are stored all or none: a taken id or event id is an error,
	// which fails the transaction before its COMMIT.
	sqlInsertEvents = fmt.Sprintf(sqlInsertMessagesTmpl, "")
)

var (
	sqlClaimFirst = fmt.Sprintf(sqlClaim, whereDueFirst)
	sqlClaimRetry = fmt.Sprintf(sqlClaim, whereDueRetry)
)

// Messages.

func msgDest(m *store.Message) []any {
	return []any{&m.ID, &m.AppID, &m.EventType, sscan{&m.EventID}, &m.Channels, &m.Payload,
		tscan{&m.PayloadExpiresAt}, tscan{&m.CreatedAt}, &m.Tags, tscan{&m.DeliverAt}, sscan{&m.OrderingKey}, tscan{&m.CanceledAt}}
}

func scanMessage(row pgx.Row) (*store.Message, error) {
	m := &store.Message{}
	return m, row.Scan(msgDest(m)...)
}

// maxChunkBytes bounds the payload bytes of one insert statement: a batch of
// large messages goes in several statements (of one transaction) rather than
// one huge array parameter.
const maxChunkBytes = 8 << 20

// CreateMessages writes the messages and their deliveries in one
// transaction, in two round trips: BEGIN with the endpoints of the batch's
// apps (read once per batch), then the inserts with COMMIT.
func (s *Store) CreateMessages(ctx context.Context, params []store.CreateMessageParams) ([]store.CreateMessageResult, error) {
	appIDs := make([]string, 0, 1)
	for _, p := range params {
		if !slices.Contains(appIDs, p.Message.AppID) {
			appIDs = append(appIDs, p.Message.AppID)
		}
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, wrap("create messages", err)
	}
	defer release(conn)
	first := &pgx.Batch{}
	first.Queue("BEGIN")
	apps := map[string][]*store.Endpoint{}
	queueBatchApps(first, sqlBatchApps, appIDs, apps)
	queueBatchEndpoints(first, appIDs, apps)
	if err := conn.SendBatch(ctx, first).Close(); err != nil {
		return nil, wrap("create messages", err)
	}
	mb, err := fanOut(params, apps)
	if err != nil {
		return nil, wrap("create messages", err)
	}
	if err := mb.commit(ctx, conn, sqlInsertMessages); err != nil {
		return nil, wrap("create messages", err)
	}
	return mb.results, nil
}

// messageBatch is messages fanned out to their deliveries, ready to be
// inserted in the transaction that read their apps' endpoints: the batches
// of CreateMessages, and the events that other writes make with their
// change (see store.Events).
type messageBatch struct {
	params  []store.CreateMessageParams
	results []store.CreateMessageResult
	chunks  []*messageRows
	// ordered are the deliveries to FIFO endpoints, in the order they
	// join their sequences; they are written once the messages are.
	ordered []orderedDelivery
	// before, when set, queues statements at the start of commit's first
	// batch (changeThen).
	before func(b *pgx.Batch) error
	// lockApps and lockEventIDs are the (app id, event id) pairs of the
	// batch, locked before the inserts (sqlLockEventIDs).
	lockApps, lockEventIDs []string
}

// orderedDelivery is a pending delivery to a FIFO endpoint, before it joins
// its sequence.
type orderedDelivery struct {
	param int // its message's index in params
	store.PlannedDelivery
}

// fanOut makes the rows of params' messages and the deliveries
// store.PlanDeliveries plans for them from apps, the endpoints of the apps
// that exist. A message whose app (or EndpointID) does not exist gets
// ErrNotFound in its result and no rows.
func fanOut(params []store.CreateMessageParams, apps map[string][]*store.Endpoint) (*messageBatch, error) {
	mb := &messageBatch{params: params, results: make([]store.CreateMessageResult, len(params))}
	results := mb.results
	ins := &messageRows{}
	var eventIDs map[[2]string]bool
	for i, p := range params {
		m := p.Message
		eps, ok := apps[m.AppID]
		if !ok {
			results[i].Err = store.ErrNotFound
			continue
		}
		planned, err := store.PlanDeliveries(p, eps)
		if err != nil {
			results[i].Err = err
			continue
		}
		if m.EventID != "" {
			// The first of two messages with one event id wins (one
			// that is refused above takes none); the insert only checks
			// the messages already stored.
			k := [2]string{m.AppID, m.EventID}
			if eventIDs[k] {
				results[i].Err = store.ErrConflict
				continue
			}
			if eventIDs == nil {
				eventIDs = map[[2]string]bool{}
			}
			eventIDs[k] = true
			mb.lockApps = append(mb.lockApps, m.AppID)
			mb.lockEventIDs = append(mb.lockEventIDs, m.EventID)
		}
		if err := ins.addMessage(i, m); err != nil {
			return nil, err
		}
		for _, d := range planned {
			if d.Ordered {
				mb.ordered = append(mb.ordered, orderedDelivery{param: i, PlannedDelivery: d})
				continue
			}
			ins.addDelivery(m, d)
			if d.Status == store.StatusSkipped {
				results[i].Skipped++
				continue
			}
			ins.notify = ins.notify || d.Lease == 0
			results[i].Jobs = append(results[i].Jobs, d.Job(m))
		}
		if ins.bytes >= maxChunkBytes {
			mb.chunks = append(mb.chunks, ins)
			ins = &messageRows{}
		}
	}
	if ins.len() > 0 || len(mb.chunks) == 0 {
		mb.chunks = append(mb.chunks, ins)
	}
	return mb, nil
}

// commit inserts the batch with insert (sqlInsertMessages or
// sqlInsertEvents), one statement per chunk, NOTIFYs when some delivery is
// due unleased, and COMMITs the transaction open on conn. A message that
// insert did not store (its id or event id is taken) gets ErrConflict in
// its result. With deliveries to FIFO endpoints, the first statement
// also locks their sequences, and once the messages are stored (those
// whose ids were taken have none), their deliveries join the sequences
// and are written in one more round trip, which COMMITs.
func (mb *messageBatch) commit(ctx context.Context, conn *pgxpool.Conn, insert string) error {
	var seqs *sequences
	if len(mb.ordered) > 0 {
		seqs = newSequences()
	}
	for k, c := range mb.chunks {
		b := &pgx.Batch{}
		if k == 0 && mb.before != nil {
			if err := mb.before(b); err != nil {
				return err
			}
		}
		if k == 0 && len(mb.lockEventIDs) > 0 {
			b.Queue(sqlLockEventIDs, mb.lockApps, mb.lockEventIDs)
		}
		if k == 0 && seqs != nil {
			keys := make([]seqKey, len(mb.ordered))
			for i, o := range mb.ordered {
				keys[i] = seqKey{o.Endpoint.ID, mb.params[o.param].Message.OrderingKey}
			}
			seqs.queueLock(b, keys)
		}
		var stored map[[2]string]bool
		if c.len() > 0 {
			stored = c.queue(b, insert)
		}
		if c.notify {
			b.Queue(sqlNotifyDue)
		}
		if k == len(mb.chunks)-1 && seqs == nil {
			b.Queue("COMMIT")
		}
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for _, i := range c.index {
			m := mb.params[i].Message
			if !stored[[2]string{m.AppID, m.ID}] {
				mb.results[i] = store.CreateMessageResult{Err: store.ErrConflict}
			}
		}
	}
	if seqs == nil {
		return nil
	}
	rows := &messageRows{}
	notify := false
	for _, o := range mb.ordered {
		if mb.results[o.param].Err != nil {
			continue // not stored
		}
		m := mb.params[o.param].Message
		o.Joined(seqs.join(o.Endpoint.ID, m.OrderingKey, m.ID))
		rows.addOrdered(m, o.PlannedDelivery)
		if job := o.Job(m); job != nil {
			notify = notify || o.Lease == 0
			mb.results[o.param].Jobs = append(mb.results[o.param].Jobs, job)
		}
	}
	b := &pgx.Batch{}
	if len(rows.dMsg) > 0 {
		b.Queue(sqlInsertOrderedDeliveries, strs(rows.dMsg), strs(rows.dEndpoint), strs(rows.dApp), rows.dStatus, rows.dNext,
			rows.dLease, strs(rows.dKey), rows.dSeq, rows.dCreated)
	}
	seqs.queueFlush(b)
	if notify {
		b.Queue(sqlNotifyDue)
	}
	b.Queue("COMMIT")
	return conn.SendBatch(ctx, b).Close()
}

// changeWithEvents makes a change in the app appID ("" when it belongs to
// none) and writes events (see store.Events) after it, in one transaction
// of two round trips: BEGIN, the lock of appID and of the events' apps,
// the change (queued on b by change, whose callbacks check its results)
// and the read of the events' apps' endpoints; then the events with their
// deliveries, NOTIFY when some are due, and COMMIT. Callers without events
// make their change as they would without this: in one statement, without
// the round trip to read endpoints.
func (s *Store) changeWithEvents(ctx context.Context, appID string, events []*store.Message, change func(b *pgx.Batch)) error {
	return s.changeThen(ctx, appID, events, change, nil)
}

// changeThen is changeWithEvents with a second step: then, when not nil, is
// called once the first round trip's results are read, and queues more of
// the change on the batch that writes the events and COMMITs.
func (s *Store) changeThen(ctx context.Context, appID string, events []*store.Message, change func(b *pgx.Batch), then func(b *pgx.Batch) error) error {
	appIDs := make([]string, 0, 1)
	params := make([]store.CreateMessageParams, len(events))
	for i, ev := range events {
		if ev.EventID != "" {
			// commit would not store it, and the change would commit
			// without it.
			return fmt.Errorf("event %s: events carry no event id", ev.ID)
		}
		if !slices.Contains(appIDs, ev.AppID) {
			appIDs = append(appIDs, ev.AppID)
		}
		params[i].Message = ev
	}
	locked := appIDs
	if appID != "" && !slices.Contains(appIDs, appID) {
		locked = append(slices.Clip(appIDs), appID)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release(conn)
	first := &pgx.Batch{}
	first.Queue("BEGIN")
	apps := map[string][]*store.Endpoint{}
	if len(locked) > 0 {
		queueBatchApps(first, sqlEventApps, locked, apps)
	}
	change(first)
	if len(appIDs) > 0 {
		queueBatchEndpoints(first, appIDs, apps)
	}
	if err := conn.SendBatch(ctx, first).Close(); err != nil {
		return err
	}
	mb, err := fanOut(params, apps)
	if err != nil {
		return err
	}
	if then != nil {
		mb.before = then
	}
	for i, r := range mb.results {
		if r.Err != nil {
			return eventError(events[i], r.Err)
		}
	}
	err = mb.commit(ctx, conn, sqlInsertEvents)
	if errors.Is(convert(err), store.ErrConflict) {
		return fmt.Errorf("events: an id or event id is taken: %v", err)
	}
	return err
}

// eventError is the error of an event that CreateMessages would refuse
// with err: the caller's mistake, which must not read as the outcome of
// the change it came with (see store.Events), so it wraps neither
// ErrNotFound nor ErrConflict.
func eventError(ev *store.Message, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("event %s: app %s does not exist", ev.ID, ev.AppID)
	}
	return fmt.Errorf("event %s: its id or event id is taken in app %s", ev.ID, ev.AppID)
}

// affected is the callback of a queued UPDATE or DELETE that must change a
// row: ErrNotFound when it changed none.
func affected(tag pgconn.CommandTag) error { return mustAffect(tag, nil) }

// release gives a connection back to the pool, rolling back a transaction
// an error left open (the pool would close the connection instead).
func release(conn *pgxpool.Conn) {
	if pc := conn.Conn().PgConn(); !pc.IsClosed() && !pc.IsBusy() && pc.TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = conn.Exec(ctx, "ROLLBACK")
		cancel()
	}
	conn.Release()
}

// queueBatchApps queues sql, the read of the apps of appIDs that exist, in
// ID order, locking them (sqlBatchApps); each one it finds gets an entry in
// apps when the batch is read.
func queueBatchApps(b *pgx.Batch, sql string, appIDs []string, apps map[string][]*store.Endpoint) {
	b.Queue(sql, appIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			apps[id] = []*store.Endpoint{}
		}
		return rows.Err()
	})
}

// queueBatchEndpoints queues the read of the endpoints of appIDs, in ID
// order, locking them against deletion; when the batch is read, they go to
// their apps' entries in apps (filled by queueBatchApps, earlier in the
// batch).
func queueBatchEndpoints(b *pgx.Batch, appIDs []string, apps map[string][]*store.Endpoint) {
	b.Queue(sqlBatchEndpoints, appIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			ep := &store.Endpoint{}
			if err := rows.Scan(&ep.ID, &ep.AppID, &ep.Disabled, &ep.EventTypes, &ep.Channels, &ep.ThrottleRate, &ep.Ordering, tscan{&ep.UpdatedAt}); err != nil {
				return err
			}
			if eps, ok := apps[ep.AppID]; ok {
				apps[ep.AppID] = append(eps, ep)
			}
		}
		return rows.Err()
	})
}

// messageRows are the columns of the messages and deliveries of one insert
// statement, as arrays.
type messageRows struct {
	index  []int // of each message in the params
	bytes  int   // payload bytes
	notify bool  // some delivery is due unleased

	id, appID, eventType        []string
	eventID, channels, tags     []pgtype.Text
	orderingKey                 []pgtype.Text
	payload                     [][]byte
	expires, created, deliverAt []pgtype.Timestamptz
	dMsg, dEndpoint, dApp       []string
	dStatus                     []int16
	dNext, dCreated             []pgtype.Timestamptz
	dLease                      []int64
	// the ordering keys and seqs of deliveries to FIFO endpoints
	// (addOrdered)
	dKey []string
	dSeq []int64
}

func (r *messageRows) len() int { return len(r.id) }

// jsonText is a list as JSON text, NULL for nil.
func jsonText(l []string) (pgtype.Text, error) {
	if l == nil {
		return pgtype.Text{}, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return pgtype.Text{}, err
	}
	return pgtype.Text{String: string(b), Valid: true}, nil
}

func (r *messageRows) addMessage(i int, m *store.Message) error {
	channels, err := jsonText(m.Channels)
	if err != nil {
		return err
	}
	tags, err := jsonText(m.Tags)
	if err != nil {
		return err
	}
	r.tags = append(r.tags, tags)
	r.deliverAt = append(r.deliverAt, ts(m.DeliverAt))
	r.orderingKey = append(r.orderingKey, nstr(m.OrderingKey))
	r.index = append(r.index, i)
	r.bytes += len(m.Payload)
	r.id = append(r.id, m.ID)
	r.appID = append(r.appID, m.AppID)
	r.eventType = append(r.eventType, m.EventType)
	r.eventID = append(r.eventID, nstr(m.EventID))
	r.channels = append(r.channels, channels)
	r.payload = append(r.payload, m.Payload)
	r.expires = append(r.expires, ts(m.PayloadExpiresAt))
	r.created = append(r.created, ts(m.CreatedAt))
	return nil
}

func (r *messageRows) addDelivery(m *store.Message, d store.PlannedDelivery) {
	r.dMsg = append(r.dMsg, m.ID)
	r.dEndpoint = append(r.dEndpoint, d.Endpoint.ID)
	r.dApp = append(r.dApp, m.AppID)
	r.dStatus = append(r.dStatus, int16(d.Status))
	r.dNext = append(r.dNext, ts(d.NextAttemptAt))
	r.dLease = append(r.dLease, d.Lease)
	r.dCreated = append(r.dCreated, ts(m.CreatedAt))
}

// addOrdered adds a delivery to a FIFO endpoint, with its place in its
// sequence.
func (r *messageRows) addOrdered(m *store.Message, d store.PlannedDelivery) {
	r.addDelivery(m, d)
	r.dKey = append(r.dKey, m.OrderingKey)
	r.dSeq = append(r.dSeq, d.Seq)
}

func (r *messageRows) args() []any {
	return []any{r.id, r.appID, r.eventType, r.eventID, r.channels, r.payload, r.expires, r.created,
		strs(r.dMsg), strs(r.dEndpoint), strs(r.dApp), r.dStatus, r.dNext, r.dLease, r.dCreated,
		r.tags, r.deliverAt, r.orderingKey}
}

// queue queues insert on b and returns the keys (app id, message id) of
// the messages stored, filled when b is read.
func (r *messageRows) queue(b *pgx.Batch, insert string) map[[2]string]bool {
	stored := make(map[[2]string]bool, r.len())
	b.Queue(insert, r.args()...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, app string
			if err := rows.Scan(&id, &app); err != nil {
				return err
			}
			stored[[2]string{app, id}] = true
		}
		return rows.Err()
	})
	return stored
}

// sqlGetMessage looks a message up by id and by event id, each with its
// own index: one condition "id = $2 OR event_id = $2" would let the
// planner walk all of an app's messages by app_id and filter them, which
// it does when its statistics do not know the app yet (23-45 ms for an
// app of 56,000 messages, BENCHMARKS.md). At most two rows.
var sqlGetMessage = `(SELECT ` + dialect.MsgCols(true) + ` FROM messages AS m WHERE m.app_id = $1 AND m.id = $2)
	UNION ALL
	(SELECT ` + dialect.MsgCols(true) + ` FROM messages AS m WHERE m.app_id = $1 AND m.event_id = $2 AND m.id <> $2 LIMIT 1)`

// GetMessage returns the message of appID whose ID or EventID is
// idOrEventID, with its payload; an ID match wins.
func (s *Store) GetMessage(ctx context.Context, appID, idOrEventID string) (*store.Message, error) {
	rows, err := s.query(ctx, sqlGetMessage, appID, idOrEventID)
	if err != nil {
		return nil, wrap("get message", err)
	}
	defer rows.Close()
	ms, err := scanAll(rows, scanMessage)
	if err != nil {
		return nil, wrap("get message", err)
	}
	for _, m := range ms {
		if m.ID == idOrEventID {
			return m, nil
		}
	}
	if len(ms) == 0 {
		return nil, wrap("get message", store.ErrNotFound)
	}
	return ms[0], nil
}

// ListMessages returns a page of the messages of an app, ordered by ID in
// the direction of p.Desc.
func (s *Store) ListMessages(ctx context.Context, p store.ListMessagesParams) ([]*store.Message, error) {
	q := storesql.ListMessages(dialect, p)
	return queryListNoSort(ctx, s, "list messages", q.String(), q.Args(), scanMessage)
}

// ExpungeMessagePayload removes the payload of a message.
func (s *Store) ExpungeMessagePayload(ctx context.Context, appID, msgID string) error {
	return wrap("expunge message payload", mustAffect(s.exec(ctx,
		`UPDATE messages SET payload = NULL WHERE app_id = $1 AND id = $2`, appID, msgID)))
}

// Deliveries.

func deliveryDest(d *store.Delivery) []any {
	return []any{&d.AppID, &d.MsgID, &d.EndpointID, &d.Status, &d.Attempts, tscan{&d.NextAttemptAt}, &d.Lease, &d.Manual, &d.Seq,
		tscan{&d.LastAttemptAt}, &d.LastStatusCode, tscan{&d.CreatedAt}, tscan{&d.UpdatedAt}}
}

// ClaimDeliveries leases up to p.Limit due deliveries, oldest due first, in
// one statement: rows another claim holds are skipped (SKIP LOCKED), and a
// row claimed and committed meanwhile no longer matches when it is
// re-checked, so no two claims ever take the same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	sql, last := sqlClaimFirst, any(p.DueSince)
	switch {
	case p.Parked:
		sql, last = sqlClaimParked, storesql.Limit(p.PerEndpoint)
		if p.PerEndpoint <= 0 {
			last = storesql.Limit(p.Limit)
		}
	case p.Retries:
		sql = sqlClaimRetry
	}
	// The oldest due rows come from a merge of the partitions' indexes,
	// stopped at the limit; never a sort of all the due rows, which the
	// planner picks when a backlog has grown since the last ANALYZE
	// (sqlClaimPlan).
	return queryListPlanned(ctx, s, "claim deliveries", sqlClaimPlan, sql,
		[]any{p.Now, strs(p.ExcludeEndpoints), storesql.Limit(p.Limit), p.LeaseUntil, p.Lease, last},
		func(row pgx.Row) (*store.Job, error) {
			j := &store.Job{Delivery: store.Delivery{Status: store.StatusPending, NextAttemptAt: p.LeaseUntil, Lease: p.Lease, UpdatedAt: p.Now}}
			return j, row.Scan(&j.MsgID, &j.EndpointID, &j.AppID, &j.Attempts, &j.Manual, &j.Seq, tscan{&j.LastAttemptAt}, &j.LastStatusCode,
				tscan{&j.CreatedAt}, &j.EventType, sscan{&j.MsgEventID}, &j.Payload, tscan{&j.MsgCreatedAt}, tscan{&j.EndpointUpdatedAt}, &j.EndpointThrottleRate)
		})
}

// CompleteDeliveries records attempts and moves on the deliveries whose
// lease still matches, and keeps the endpoints' FailingSince and disables
// those that asked for it: one pipelined batch, one transaction. With
// events, they are written after all that, in the same transaction, in a
// second round trip.
func (s *Store) CompleteDeliveries(ctx context.Context, cs []store.Completion) error {
	if len(cs) == 0 {
		return nil
	}
	var (
		// attempts
		aID, aApp, aMsg, aEp, aURL, aResp, aType []string
		aStatus, aTrigger                        []int16
		aCode                                    []int32
		aDur                                     []int64
		aAt                                      []pgtype.Timestamptz
		// deliveries
		dMsg, dEp  []string
		dLease     []int64
		dStatus    []int16
		dNext, dAt []pgtype.Timestamptz
		dAttempted []bool
		dCode      []int32
	)
	for _, c := range cs {
		dMsg = append(dMsg, c.MsgID)
		dEp = append(dEp, c.EndpointID)
		dLease = append(dLease, c.Lease)
		dStatus = append(dStatus, int16(c.Status))
		dNext = append(dNext, ts(c.Next()))
		a := c.Attempt
		if a == nil {
			dAttempted = append(dAttempted, false)
			dAt = append(dAt, pgtype.Timestamptz{})
			dCode = append(dCode, 0)
			continue
		}
		dAttempted = append(dAttempted, true)
		dAt = append(dAt, ts(a.CreatedAt))
		dCode = append(dCode, int32(a.StatusCode))
		aID = append(aID, a.ID)
		aApp = append(aApp, a.AppID)
		aMsg = append(aMsg, c.MsgID)
		aEp = append(aEp, c.EndpointID)
		aURL = append(aURL, a.URL)
		aStatus = append(aStatus, int16(a.Status))
		aCode = append(aCode, int32(a.StatusCode))
		aResp = append(aResp, store.Text(a.Response))
		aDur = append(aDur, a.DurationMs)
		aTrigger = append(aTrigger, int16(a.TriggerType))
		aType = append(aType, a.EventType)
		aAt = append(aAt, ts(a.CreatedAt))
	}
	out := store.Outcome(cs)
	events := out.Events
	var (
		fID        []string
		fSince     []pgtype.Timestamptz
		fSucceeded []bool
		xID        []string
		xAt        []pgtype.Timestamptz
	)
	for _, o := range out.Endpoints {
		fID = append(fID, o.EndpointID)
		fSince = append(fSince, ts(o.Since))
		fSucceeded = append(fSucceeded, o.Succeeded)
		if !o.DisableAt.IsZero() {
			xID = append(xID, o.EndpointID)
			xAt = append(xAt, ts(o.DisableAt))
		}
	}
	// The deliveries of FIFO sequences that reach a final state, and when.
	var oMsg, oEp []string
	finished := map[[2]string]time.Time{}
	for _, c := range cs {
		if c.Ordered && store.Final(c.Status) {
			oMsg, oEp = append(oMsg, c.MsgID), append(oEp, c.EndpointID)
			finished[[2]string{c.MsgID, c.EndpointID}] = c.Finished()
		}
	}
	seqs := newSequences()
	type moved struct {
		msg, endpoint, key string
		seq                int64
	}
	var advance []moved
	queue := func(b *pgx.Batch) {
		if len(oMsg) > 0 {
			// The sequences first (see sqlLockSequences).
			b.Queue(sqlLockCompletedSequences, oMsg, oEp).Query(seqs.scanLocked)
		}
		if len(aID) > 0 {
			// The counters first: they count the attempts the insert is
			// about to record, and no other.
			b.Queue(sqlAddStats, aID, aMsg, aEp, aStatus, hoursOf(aAt))
			b.Queue(sqlInsertAttempts, aID, aApp, aMsg, aEp, aURL, aStatus, aCode, aResp, aDur, aTrigger, aType, aAt)
		}
		if len(oMsg) == 0 {
			b.Queue(sqlCompleteDeliveries, dMsg, dEp, dLease, dStatus, dNext, dAttempted, dAt, dCode)
		} else {
			b.Queue(sqlCompleteDeliveries+` RETURNING d.msg_id, d.endpoint_id, coalesce(d.ordering_key, ''), d.seq`,
				dMsg, dEp, dLease, dStatus, dNext, dAttempted, dAt, dCode).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var m moved
					if err := rows.Scan(&m.msg, &m.endpoint, &m.key, &m.seq); err != nil {
						return err
					}
					if _, ok := finished[[2]string{m.msg, m.endpoint}]; ok && m.seq != 0 {
						advance = append(advance, m)
					}
				}
				return rows.Err()
			})
		}
		if len(fID) > 0 {
			b.Queue(sqlFailing, fID, fSince, fSucceeded)
		}
		if len(xID) > 0 {
			b.Queue(sqlDisable, xID, xAt)
		}
		if len(oMsg) > 0 {
			b.Queue(sqlNextBlockedCompleted, oMsg, oEp).Query(seqs.scanNext)
		}
	}
	if len(oMsg) > 0 {
		// A second round trip promotes the next deliveries of the
		// sequences whose heads finished.
		return wrap("complete deliveries", s.changeThen(ctx, "", events, queue, func(b *pgx.Batch) error {
			for _, m := range advance {
				seqs.advance(m.endpoint, m.key, m.msg, finished[[2]string{m.msg, m.endpoint}])
			}
			seqs.queueFlush(b)
			return nil
		}))
	}
	if len(events) > 0 {
		return wrap("complete deliveries", s.changeWithEvents(ctx, "", events, queue))
	}
	b := &pgx.Batch{}
	queue(b)
	return wrap("complete deliveries", s.batch(ctx, b))
}

// ReleaseDeliveries gives back leased deliveries unattempted, and tells the
// other processes they are due.
func (s *Store) ReleaseDeliveries(ctx context.Context, rs []store.Release) error {
	if len(rs) == 0 {
		return nil
	}
	msg, ep := make([]string, len(rs)), make([]string, len(rs))
	lease := make([]int64, len(rs))
	next, at := make([]pgtype.Timestamptz, len(rs)), make([]pgtype.Timestamptz, len(rs))
	for i, r := range rs {
		msg[i], ep[i], lease[i], next[i], at[i] = r.MsgID, r.EndpointID, r.Lease, ts(r.NextAttemptAt), ts(r.At)
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE deliveries AS d SET next_attempt_at = r.next_attempt_at, lease = 0, updated_at = coalesce(r.at, d.updated_at)
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[]) AS r (msg_id, endpoint_id, lease, next_attempt_at, at)
		WHERE d.msg_id = r.msg_id AND d.endpoint_id = r.endpoint_id AND d.lease = r.lease AND d.status = 1`,
		msg, ep, lease, next, at)
	b.Queue(sqlNotifyDue)
	return wrap("release deliveries", s.batch(ctx, b))
}

// ResendDelivery makes a message to an endpoint due at now as a manual
// attempt: see store.Store.
func (s *Store) ResendDelivery(ctx context.Context, p store.ResendParams) error {
	appID, msgID, endpointID, now := p.AppID, p.MsgID, p.EndpointID, p.Now
	return wrap("resend delivery", s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var key string
		if err := tx.QueryRow(ctx, `SELECT coalesce(ordering_key, '') FROM messages WHERE app_id = $1 AND id = $2 FOR KEY SHARE`, appID, msgID).Scan(&key); err != nil {
			return err
		}
		var ordering store.Ordering
		if err := tx.QueryRow(ctx, `SELECT ordering FROM endpoints WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, endpointID, appID).Scan(&ordering); err != nil {
			return err
		}
		if ordering == store.OrderingFIFO {
			return resendOrdered(ctx, tx, appID, msgID, endpointID, key, now)
		}
		b := &pgx.Batch{}
		// New or finished: pending, manual, due now. A blocked one (of a
		// sequence the endpoint kept from when it was FIFO) keeps its
		// place.
		b.Queue(`INSERT INTO deliveries AS d (msg_id, endpoint_id, app_id, status, next_attempt_at, manual, created_at, updated_at)
			VALUES ($1, $2, $3, 1, $4, true, $4, $4)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, manual = true, next_attempt_at = $4, lease = 0, updated_at = $4
			WHERE d.status NOT IN (1, 5)`, msgID, endpointID, appID, now)
		// Pending and waiting for a retry: due now. A leased one is left
		// to its worker.
		b.Queue(`UPDATE deliveries SET next_attempt_at = $1, updated_at = $1
			WHERE msg_id = $2 AND endpoint_id = $3 AND status = 1 AND lease = 0 AND next_attempt_at > $1`, now, msgID, endpointID)
		b.Queue(sqlNotifyDue)
		return tx.SendBatch(ctx, b).Close()
	}))
}

// resendOrdered resends a message to a FIFO endpoint: a delivery that is
// new or finished joins the end of its sequence (see store.Sequence),
// pending and due at now when it is the head, blocked otherwise, manual
// either way; a pending one is due at now unless it is leased, and a blocked
// one keeps its place. The sequence is locked before the delivery.
func resendOrdered(ctx context.Context, tx pgx.Tx, appID, msgID, endpointID, key string, now time.Time) error {
	seqs, err := lockSequences(ctx, tx, []seqKey{{endpointID, key}}, false)
	if err != nil {
		return err
	}
	var status store.DeliveryStatus
	err = tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE msg_id = $1 AND endpoint_id = $2 FOR UPDATE`, msgID, endpointID).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		status = store.StatusSuccess // as if finished: it joins
	case err != nil:
		return err
	}
	b := &pgx.Batch{}
	switch status {
	case store.StatusBlocked:
	case store.StatusPending:
		b.Queue(`UPDATE deliveries SET next_attempt_at = $1, updated_at = $1
			WHERE msg_id = $2 AND endpoint_id = $3 AND status = 1 AND lease = 0 AND next_attempt_at > $1`, now, msgID, endpointID)
		b.Queue(sqlNotifyDue)
	default:
		seq, head := seqs.join(endpointID, key, msgID)
		st, next := store.StatusBlocked, pgtype.Timestamptz{}
		if head {
			st, next = store.StatusPending, ts(now)
			b.Queue(sqlNotifyDue)
		}
		b.Queue(`INSERT INTO deliveries AS d (msg_id, endpoint_id, app_id, status, next_attempt_at, manual, ordering_key, seq, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $8)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = $4, manual = true, next_attempt_at = $5, lease = 0,
				ordering_key = $6, seq = $7, updated_at = $8`, msgID, endpointID, appID, int16(st), next, key, seq, now)
	}
	seqs.queueFlush(b)
	return tx.SendBatch(ctx, b).Close()
}

// RecoverDeliveries makes a page of failed or skipped deliveries of an
// endpoint pending, manual and due; to a FIFO endpoint, they join their
// sequences in message ID order.
func (s *Store) RecoverDeliveries(ctx context.Context, p store.RecoverParams) (string, error) {
	q := recoverQuery(p)
	var last string
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		last = ""
		var ordering store.Ordering
		if err := tx.QueryRow(ctx, `SELECT ordering FROM endpoints WHERE id = $1`, p.EndpointID).Scan(&ordering); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		if ordering == store.OrderingFIFO {
			var err error
			last, err = recoverOrdered(ctx, tx, p)
			return err
		}
		// A page in message id order from the endpoint's index in each
		// partition (see sqlNoSort).
		if _, err := tx.Exec(ctx, sqlNoSort); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q.String(), q.Args()...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			last = max(last, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if last != "" {
			_, err = tx.Exec(ctx, sqlNotifyDue)
		}
		return err
	})
	if err != nil {
		return "", wrap("recover deliveries", err)
	}
	return last, nil
}

func recoverQuery(p store.RecoverParams) *storesql.Query {
	q := storesql.New(dialect)
	q.Add(`WITH page AS (`)
	q.RecoverPage(p, "d.msg_id", "FOR UPDATE OF d")
	q.Add(`)
		UPDATE deliveries AS d SET status = 1, manual = true, next_attempt_at = ?, lease = 0, updated_at = ?
		FROM page WHERE d.endpoint_id = ? AND d.msg_id = page.msg_id
		RETURNING d.msg_id`, p.Now, p.Now, p.EndpointID)
	return q
}

// recoverOrdered recovers a page of deliveries to a FIFO endpoint: each
// joins its sequence, in message ID order (see store.Sequence). The page's
// deliveries are locked first, then their sequences.
func recoverOrdered(ctx context.Context, tx pgx.Tx, p store.RecoverParams) (string, error) {
	q := storesql.New(dialect)
	q.RecoverPage(p, "d.msg_id, coalesce(m.ordering_key, '')", "FOR UPDATE OF d")
	rows, err := tx.Query(ctx, q.String(), q.Args()...)
	if err != nil {
		return "", err
	}
	var msgs []string
	var keys []seqKey
	for rows.Next() {
		var msg string
		var k seqKey
		if err := rows.Scan(&msg, &k.key); err != nil {
			rows.Close()
			return "", err
		}
		k.endpoint = p.EndpointID
		msgs, keys = append(msgs, msg), append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "", nil
	}
	seqs, err := lockSequences(ctx, tx, keys, false)
	if err != nil {
		return "", err
	}
	status := make([]int16, len(msgs))
	next := make([]pgtype.Timestamptz, len(msgs))
	seq := make([]int64, len(msgs))
	key := make([]string, len(msgs))
	for i, msg := range msgs {
		n, head := seqs.join(p.EndpointID, keys[i].key, msg)
		status[i], seq[i], key[i] = int16(store.StatusBlocked), n, keys[i].key
		if head {
			status[i], next[i] = int16(store.StatusPending), ts(p.Now)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE deliveries AS d SET status = r.status, manual = true, next_attempt_at = r.next, lease = 0,
			ordering_key = r.ordering_key, seq = r.seq, updated_at = $6
		FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[], $5::bigint[]) AS r (msg_id, status, next, ordering_key, seq)
		WHERE d.msg_id = r.msg_id AND d.endpoint_id = $7`, msgs, status, next, key, seq, p.Now, p.EndpointID)
	seqs.queueFlush(b)
	b.Queue(sqlNotifyDue)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return "", err
	}
	return msgs[len(msgs)-1], nil
}

// CancelMessage cancels a scheduled message's deliveries (see
// store.Cancelable), advancing the sequences whose head one was: the
// message's deliveries are locked, then those sequences.
func (s *Store) CancelMessage(ctx context.Context, p store.CancelMessageParams) (*store.Message, error) {
	appID, msgID, now := p.AppID, p.MsgID, p.Now
	var m *store.Message
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRow(ctx, `SELECT `+dialect.MsgCols(true)+` FROM messages AS m WHERE m.app_id = $1 AND m.id = $2
			FOR NO KEY UPDATE`, appID, msgID))
		if err != nil || !m.CanceledAt.IsZero() {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+storesql.DeliveryCols+`, coalesce(d.ordering_key, '') FROM deliveries AS d
			WHERE d.msg_id = $1 AND d.app_id = $2 ORDER BY d.endpoint_id FOR UPDATE`, msgID, appID)
		if err != nil {
			return err
		}
		var ds []*store.Delivery
		var heads []seqKey
		for rows.Next() {
			d := &store.Delivery{}
			var key string
			if err := rows.Scan(append(deliveryDest(d), &key)...); err != nil {
				rows.Close()
				return err
			}
			ds = append(ds, d)
			if d.Seq != 0 && d.Status == store.StatusPending {
				heads = append(heads, seqKey{d.EndpointID, key})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !store.Cancelable(m, ds, now) {
			return store.ErrConflict
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE deliveries SET status = 6, next_attempt_at = NULL, updated_at = $1 WHERE msg_id = $2 AND app_id = $3`, now, msgID, appID)
		b.Queue(`UPDATE messages SET canceled_at = $1 WHERE app_id = $2 AND id = $3`, now, appID, msgID)
		if len(heads) > 0 {
			seqs, err := lockSequences(ctx, tx, heads, true)
			if err != nil {
				return err
			}
			for _, k := range heads {
				seqs.advance(k.endpoint, k.key, msgID, now)
			}
			seqs.queueFlush(b)
		}
		m.CanceledAt = now
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, wrap("cancel message", err)
	}
	return m, nil
}

// GetDelivery returns the delivery of a message to an endpoint.
func (s *Store) GetDelivery(ctx context.Context, k store.DeliveryKey) (*store.Delivery, error) {
	d := &store.Delivery{}
	err := s.queryRow(ctx, `SELECT `+storesql.DeliveryCols+` FROM deliveries AS d WHERE d.msg_id = $1 AND d.endpoint_id = $2`, k.MsgID, k.EndpointID).
		Scan(deliveryDest(d)...)
	if err != nil {
		return nil, wrap("get delivery", err)
	}
	return d, nil
}

// ListMessageDestinations returns the deliveries of a message that are not
// skipped, with their endpoints, ordered by endpoint ID.
func (s *Store) ListMessageDestinations(ctx context.Context, appID, msgID string, p store.Page) ([]*store.Destination, error) {
	return queryList(ctx, s, "list message destinations", destinationsQuery(appID, msgID, p), func(row pgx.Row) (*store.Destination, error) {
		dst := &store.Destination{Endpoint: &store.Endpoint{}, Delivery: &store.Delivery{}}
		return dst, row.Scan(append(endpointDest(dst.Endpoint), deliveryDest(dst.Delivery)...)...)
	})
}

func destinationsQuery(appID, msgID string, p store.Page) *storesql.Query {
	q := storesql.New(dialect)
	q.Add(`SELECT `+storesql.EndpointCols+`, `+storesql.DeliveryCols+`
		FROM deliveries AS d JOIN endpoints AS e ON e.id = d.endpoint_id
		WHERE d.msg_id = ? AND d.app_id = ? AND d.status <> 4`, msgID, appID)
	q.Page("d.endpoint_id", p)
	return q
}

// ListEndpointMessages returns a page of the messages delivered or to be
// delivered to an endpoint (not skipped), ordered by message ID.
func (s *Store) ListEndpointMessages(ctx context.Context, p store.ListEndpointMessagesParams) ([]*store.EndpointMessage, error) {
	q := storesql.EndpointMessages(dialect, p)
	return queryListNoSort(ctx, s, "list endpoint messages", q.String(), q.Args(), func(row pgx.Row) (*store.EndpointMessage, error) {
		em := &store.EndpointMessage{Message: &store.Message{}, Delivery: &store.Delivery{}}
		return em, row.Scan(append(msgDest(em.Message), deliveryDest(em.Delivery)...)...)
	})
}

// QueueStats counts the due deliveries of each claim queue and finds the
// oldest, with range scans over the claim queues' partial indexes only (the
// WHERE clauses repeat the indexes').
func (s *Store) QueueStats(ctx context.Context, now time.Time) (*store.QueueStats, error) {
	const q = `SELECT
		(SELECT count(*) FROM deliveries WHERE ` + whereDueFirst + ` AND next_attempt_at <= $1),
		(SELECT min(next_attempt_at) FROM deliveries WHERE ` + whereDueFirst + ` AND next_attempt_at <= $1),
		(SELECT count(*) FROM deliveries WHERE ` + whereDueRetry + ` AND next_attempt_at <= $1),
		(SELECT min(next_attempt_at) FROM deliveries WHERE ` + whereDueRetry + ` AND next_attempt_at <= $1),
		(SELECT count(*) FROM deliveries WHERE ` + whereParked + `),
		(SELECT min(updated_at) FROM deliveries WHERE ` + whereParked + `)`
	var qs store.QueueStats
	var oldestFirst, oldestRetry, oldestParked time.Time
	if err := s.queryRow(ctx, q, now).Scan(&qs.DueFirst, tscan{&oldestFirst}, &qs.DueRetry, tscan{&oldestRetry},
		&qs.Parked, tscan{&oldestParked}); err != nil {
		return nil, wrap("queue stats", err)
	}
	qs.OldestDue = store.Earliest(oldestFirst, oldestRetry, oldestParked)
	return &qs, nil
}

// EndpointStats counts the deliveries to an endpoint by state.
func (s *Store) EndpointStats(ctx context.Context, p store.EndpointStatsParams) (*store.Stats, error) {
	q := storesql.EndpointStats(dialect, p)
	st := &store.Stats{}
	if err := s.queryRow(ctx, q.String(), q.Args()...).Scan(&st.Success, &st.Pending, &st.Sending, &st.Fail, &st.Canceled); err != nil {
		return nil, wrap("endpoint stats", err)
	}
	return st, nil
}

// Attempts.

func scanAttempt(row pgx.Row) (*store.Attempt, error) {
	a := &store.Attempt{}
	err := row.Scan(&a.ID, &a.AppID, &a.MsgID, &a.EndpointID, &a.URL, &a.Status, &a.StatusCode, &a.Response,
		&a.DurationMs, &a.TriggerType, &a.EventType, tscan{&a.CreatedAt})
	return a, err
}

// ListAttempts returns a page of attempts by endpoint and/or by message,
// ordered by ID.
func (s *Store) ListAttempts(ctx context.Context, p store.ListAttemptsParams) ([]*store.Attempt, error) {
	if p.EndpointID == "" && p.MsgID == "" {
		return nil, errors.New("list attempts: an endpoint or a message is required")
	}
	q := storesql.ListAttempts(dialect, p)
	if p.MsgID != "" {
		return queryList(ctx, s, "list attempts", q, scanAttempt)
	}
	// An endpoint's attempts are in every partition (by message), in
	// attempt id order within each: the page is a merge of the
	// partitions' index scans, stopped at the limit.
	return queryListNoSort(ctx, s, "list attempts", q.String(), q.Args(), scanAttempt)
}

// sqlNoSort rules out sorting for the rest of a transaction. A query that
// reads a partitioned table in index order and stops at a limit (a page of
// a list, a claim of the oldest due deliveries) gets its rows from a merge
// of the partitions' index scans. With statistics that do not know its
// rows yet (a new app or endpoint, a backlog grown since the last ANALYZE)
// the planner would rather read all the matching rows of every partition
// and sort them: 25 ms for an endpoint's 62,000 attempts, 45 ms for an
// app's 56,000 messages, and a claim that sorts a whole backlog each time
// (BENCHMARKS.md). Sorting stays possible where nothing else can answer.
const sqlNoSort = `SET LOCAL enable_sort = off`

// sqlClaimPlan rules out, for the rest of a transaction, sorting (see
// sqlNoSort) and the joins that read a whole table to match rows (hash and
// merge joins): a claim takes at most its limit of rows from the indexes
// and looks each one's delivery, message and endpoint up by key, whatever
// the statistics say. Without them the planner leased a claim's rows with
// a hash join over every delivery of the partitions.
const sqlClaimPlan = `SELECT set_config('enable_sort', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true)`

// queryListNoSort is queryList with sorting ruled out (sqlNoSort), in one
// round trip.
func queryListNoSort[T any](ctx context.Context, s *Store, what, sql string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	return queryListPlanned(ctx, s, what, sqlNoSort, sql, args, scan)
}

// queryListPlanned is queryList with the planner settings plan sets for
// its transaction, in one round trip. The transaction is explicit: SET
// LOCAL in a pipeline's implicit one works, but PostgreSQL logs a warning
// each time.
func queryListPlanned[T any](ctx context.Context, s *Store, what, plan, sql string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	var out []T
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(plan)
	b.Queue(sql, args...).Query(func(rows pgx.Rows) (err error) {
		out, err = scanAll(rows, scan)
		return err
	})
	b.Queue("COMMIT")
	if err := s.batch(ctx, b); err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

// GetAttempt returns one attempt of a message, with its response.
func (s *Store) GetAttempt(ctx context.Context, k store.AttemptKey) (*store.Attempt, error) {
	appID, msgID, attemptID := k.AppID, k.MsgID, k.ID
	a, err := scanAttempt(s.queryRow(ctx, `SELECT `+storesql.AttemptCols(true)+` FROM attempts AS a
		WHERE a.msg_id = $1 AND a.id = $2 AND a.app_id = $3`, msgID, attemptID, appID))
	if err != nil {
		return nil, wrap("get attempt", err)
	}
	return a, nil
}

// ExpungeAttemptResponse removes the response body kept for an attempt.
func (s *Store) ExpungeAttemptResponse(ctx context.Context, k store.AttemptKey) error {
	appID, msgID, attemptID := k.AppID, k.MsgID, k.ID
	return wrap("expunge attempt response", mustAffect(s.exec(ctx,
		`UPDATE attempts SET response = '' WHERE msg_id = $1 AND id = $2 AND app_id = $3`, msgID, attemptID, appID)))
}

// queryList runs q and scans every row with scan.
func queryList[T any](ctx context.Context, s *Store, what string, q *storesql.Query, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := s.query(ctx, q.String(), q.Args()...)
	if err != nil {
		return nil, wrap(what, err)
	}
	defer rows.Close()
	out, err := scanAll(rows, scan)
	if err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

// scanAll scans every row of rows with scan (nil when there is none).
func scanAll[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
