package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// The hot path's statements, prepared once on the writer and bound to each
// transaction with tx.StmtContext.
const (
	sqlAppExists = `SELECT 1 FROM apps WHERE id = ?`

	sqlAppEndpoints = `SELECT id, disabled, event_types, channels, throttle_rate, ordering, updated_at FROM endpoints WHERE app_id = ?`

	// A duplicate event id (or id) inserts nothing: the caller reports a
	// conflict for that message and goes on with the batch.
	sqlInsertMessage = `INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, payload_expires_at, created_at,
			tags, deliver_at, ordering_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	// A tag given twice is stored once.
	sqlInsertTag = `INSERT INTO message_tags (app_id, tag, msg_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`

	sqlInsertDelivery = `INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, lease, ordering_key, seq,
			created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// sqlJobSelect reads claimed deliveries as jobs, through the index %s;
	// the claims add their WHERE, order and limit.
	sqlJobSelect = `SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.manual, d.seq, d.last_attempt_at, d.last_status_code,
			d.created_at, m.event_type, m.event_id, m.payload, m.created_at, e.updated_at, e.throttle_rate
		FROM deliveries AS d INDEXED BY %s
		JOIN messages AS m ON m.app_id = d.app_id AND m.id = d.msg_id
		JOIN endpoints AS e ON e.id = d.endpoint_id`
	// The claim queries select from one partial index each; their WHERE
	// clauses repeat the indexes' so that the planner can use them, and
	// INDEXED BY makes a plan that cannot an error instead of a table scan.
	sqlClaimSelect = sqlJobSelect + `
		WHERE %s AND d.next_attempt_at <= ? AND d.next_attempt_at >= ?
			AND d.endpoint_id NOT IN (SELECT value FROM json_each(?))
		ORDER BY d.next_attempt_at
		LIMIT ?`
	sqlMarkClaimed = `UPDATE deliveries SET next_attempt_at = ?, lease = ?, updated_at = ? WHERE msg_id = ? AND endpoint_id = ?`

	// The endpoints with parked deliveries, but the excluded ones, and the
	// lowest message id of each one's (parked_endpoints, migration 0007).
	sqlParkedEndpoints = `SELECT endpoint_id, from_msg_id FROM parked_endpoints
		WHERE endpoint_id NOT IN (SELECT value FROM json_each(?)) ORDER BY endpoint_id LIMIT ?`
	// sqlMarkParked notes that an endpoint has a parked delivery of a
	// message: the note is lowered, never raised (and not written when it
	// stays).
	sqlMarkParked = `INSERT INTO parked_endpoints (endpoint_id, from_msg_id) VALUES (?, ?)
		ON CONFLICT (endpoint_id) DO UPDATE SET from_msg_id = excluded.from_msg_id
		WHERE excluded.from_msg_id < parked_endpoints.from_msg_id`

	// An attempt is recorded whatever the lease, as long as its delivery
	// still exists (the endpoint, message or app may have been deleted
	// while it was in flight). Recording one twice is a no-op.
	sqlInsertAttempt = `INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, duration_ms,
			trigger_type, event_type, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM deliveries WHERE msg_id = ?3 AND endpoint_id = ?4)
		ON CONFLICT DO NOTHING`
	// Only a delivery whose lease still matches moves.
	sqlCompleteDelivery = `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, lease = 0, manual = 0,
			last_attempt_at = ?, last_status_code = ?, updated_at = ?
		WHERE msg_id = ? AND endpoint_id = ? AND lease = ? AND status = 1`
	// A completion without an attempt (no request was made) moves the
	// state only.
	sqlCompleteUnattempted = `UPDATE deliveries SET status = ?, next_attempt_at = ?, lease = 0, manual = 0
		WHERE msg_id = ? AND endpoint_id = ? AND lease = ? AND status = 1`
	sqlSetFailing   = `UPDATE endpoints SET failing_since = ?2 WHERE id = ?1 AND (failing_since IS NULL OR ?3)`
	sqlClearFailing = `UPDATE endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`
	// The attempt's time may be earlier than a concurrent API write's:
	// updated_at never goes backwards.
	sqlDisable = `UPDATE endpoints SET disabled = 1, updated_at = max(?, updated_at + 1) WHERE id = ? AND NOT disabled`
)

var (
	sqlClaimFirst = fmt.Sprintf(sqlClaimSelect, "deliveries_due_first", "d.status = 1 AND d.attempts = 0 AND d.manual = 0")
	// An endpoint's parked deliveries between two messages, in message
	// order: its deliveries in message order, the parked ones among them.
	sqlClaimParked = fmt.Sprintf(sqlJobSelect, "deliveries_endpoint") + `
		WHERE d.endpoint_id = ?1 AND d.msg_id >= ?2 AND d.msg_id <= ?3 AND d.status = 1 AND d.next_attempt_at IS NULL
		ORDER BY d.msg_id
		LIMIT ?4`
	// The window of an endpoint's deliveries a parked claim reads: the
	// last message id of its first ?3 from a message on, and how many
	// there are (from deliveries_endpoint alone).
	sqlParkedWindow = `SELECT max(msg_id), count(*) FROM (
		SELECT msg_id FROM deliveries INDEXED BY deliveries_endpoint WHERE endpoint_id = ?1 AND msg_id >= ?2 ORDER BY msg_id LIMIT ?3)`
	sqlClaimRetry = fmt.Sprintf(sqlClaimSelect, "deliveries_due_retry", "d.status = 1 AND (d.attempts > 0 OR d.manual = 1)")
)

// statements holds the prepared hot-path statements. They are prepared on
// first use, outside any transaction (the writer has a single connection:
// preparing on it from inside a transaction would wait for itself).
type statements struct {
	mu    sync.Mutex
	ready bool
	all   []*sql.Stmt

	appExists, appEndpoints, insertMessage, insertDelivery *sql.Stmt
	insertTag                                              *sql.Stmt
	claimFirst, claimRetry, markClaimed                    *sql.Stmt
	insertAttempt, completeDelivery, completeUnattempted   *sql.Stmt
	setFailing, clearFailing                               *sql.Stmt
	disable, addStats, markParked                          *sql.Stmt
}

func (st *statements) prepare(ctx context.Context, db *sql.DB) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ready {
		return nil
	}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.appExists, sqlAppExists},
		{&st.appEndpoints, sqlAppEndpoints},
		{&st.insertMessage, sqlInsertMessage},
		{&st.insertDelivery, sqlInsertDelivery},
		{&st.insertTag, sqlInsertTag},
		{&st.claimFirst, sqlClaimFirst},
		{&st.claimRetry, sqlClaimRetry},
		{&st.markClaimed, sqlMarkClaimed},
		{&st.insertAttempt, sqlInsertAttempt},
		{&st.completeDelivery, sqlCompleteDelivery},
		{&st.completeUnattempted, sqlCompleteUnattempted},
		{&st.setFailing, sqlSetFailing},
		{&st.clearFailing, sqlClearFailing},
		{&st.disable, sqlDisable},
		{&st.addStats, sqlAddStats},
		{&st.markParked, sqlMarkParked},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			st.closeLocked()
			return fmt.Errorf("prepare: %w", err)
		}
		*p.dst = stmt
		st.all = append(st.all, stmt)
	}
	st.ready = true
	return nil
}

func (st *statements) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closeLocked()
}

func (st *statements) closeLocked() {
	for _, s := range st.all {
		s.Close()
	}
	st.all, st.ready = nil, false
}

// hot returns the prepared statements, preparing them if needed.
func (s *Store) hot(ctx context.Context) (*statements, error) {
	if err := s.stmt.prepare(ctx, s.w); err != nil {
		return nil, convert(err)
	}
	return &s.stmt, nil
}

// Messages.

func msgDest(m *store.Message) []any {
	return []any{&m.ID, &m.AppID, &m.EventType, sscan{&m.EventID}, lscan[string]{&m.Channels}, bscan{&m.Payload},
		tscan{&m.PayloadExpiresAt}, tscan{&m.CreatedAt}, lscan[string]{&m.Tags}, tscan{&m.DeliverAt}, sscan{&m.OrderingKey},
		tscan{&m.CanceledAt}}
}

func scanMessage(sc scanner) (*store.Message, error) {
	m := &store.Message{}
	return m, sc.Scan(msgDest(m)...)
}

// CreateMessages writes the messages and their deliveries in one
// transaction. The endpoints of each app are read once per batch.
func (s *Store) CreateMessages(ctx context.Context, params []store.CreateMessageParams) ([]store.CreateMessageResult, error) {
	st, err := s.hot(ctx)
	if err != nil {
		return nil, wrap("create messages", err)
	}
	var results []store.CreateMessageResult
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		results = make([]store.CreateMessageResult, len(params))
		w := newMessageWriter(ctx, tx, st)
		for i, p := range params {
			var err error
			if results[i], err = w.write(ctx, p); err != nil {
				return err
			}
		}
		return w.flush(ctx)
	})
	if err != nil {
		return nil, wrap("create messages", err)
	}
	return results, nil
}

// messageWriter writes messages with their deliveries in a write
// transaction, with the hot path's statements: the batches of
// CreateMessages, and the events that other writes make with their change
// (see store.Events). It reads the endpoints of an app once, when it
// writes the app's first message.
type messageWriter struct {
	appExists, appEndpoints, insertMessage, insertDelivery, insertTag *sql.Stmt
	markParked                                                        *sql.Stmt
	apps                                                              map[string][]*store.Endpoint // nil: the app does not exist
	// parked are the deliveries parked so far; flush notes them.
	parked parkedNotes
	// seqs are the FIFO sequences the messages joined; the caller flushes
	// them before the transaction ends.
	seqs *sequences
}

func newMessageWriter(ctx context.Context, tx *sql.Tx, st *statements) *messageWriter {
	return &messageWriter{
		appExists:      tx.StmtContext(ctx, st.appExists),
		appEndpoints:   tx.StmtContext(ctx, st.appEndpoints),
		insertMessage:  tx.StmtContext(ctx, st.insertMessage),
		insertDelivery: tx.StmtContext(ctx, st.insertDelivery),
		insertTag:      tx.StmtContext(ctx, st.insertTag),
		markParked:     tx.StmtContext(ctx, st.markParked),
		apps:           map[string][]*store.Endpoint{},
		parked:         parkedNotes{},
		seqs:           newSequences(tx),
	}
}

// write writes p's message and its deliveries (see
// store.Store.CreateMessages). What fails the message alone (its app does
// not exist, its ID or EventID is taken) is in the result; an error fails
// the transaction.
func (w *messageWriter) write(ctx context.Context, p store.CreateMessageParams) (store.CreateMessageResult, error) {
	var res store.CreateMessageResult
	m := p.Message
	eps, seen := w.apps[m.AppID]
	if !seen {
		var err error
		if eps, err = loadBatchEndpoints(ctx, w.appExists, w.appEndpoints, m.AppID); err != nil {
			return res, err
		}
		w.apps[m.AppID] = eps
	}
	if eps == nil {
		res.Err = store.ErrNotFound
		return res, nil
	}
	planned, err := store.PlanDeliveries(p, eps)
	if err != nil {
		res.Err = err
		return res, nil
	}
	channels, err := jsonList(m.Channels)
	if err != nil {
		return res, err
	}
	tags, err := jsonList(m.Tags)
	if err != nil {
		return res, err
	}
	ins, err := w.insertMessage.ExecContext(ctx, m.ID, m.AppID, m.EventType, nstr(m.EventID), channels,
		blobArg(m.Payload), ts(m.PayloadExpiresAt), tsv(m.CreatedAt), tags, ts(m.DeliverAt), nstr(m.OrderingKey))
	if err != nil {
		return res, err
	}
	if n, err := ins.RowsAffected(); err != nil {
		return res, err
	} else if n == 0 {
		res.Err = store.ErrConflict
		return res, nil
	}
	for _, tag := range m.Tags {
		if _, err := w.insertTag.ExecContext(ctx, m.AppID, tag, m.ID); err != nil {
			return res, err
		}
	}
	created := tsv(m.CreatedAt)
	for _, d := range planned {
		key := any(nil)
		if d.Ordered {
			seq, head, err := w.seqs.join(ctx, d.Endpoint.ID, m.OrderingKey, m.ID)
			if err != nil {
				return res, err
			}
			d.Joined(seq, head)
			key = m.OrderingKey
		}
		if _, err := w.insertDelivery.ExecContext(ctx, m.ID, d.Endpoint.ID, m.AppID, int(d.Status), ts(d.NextAttemptAt), d.Lease,
			key, d.Seq, created, created); err != nil {
			return res, err
		}
		if d.Status == store.StatusSkipped {
			res.Skipped++
		}
		if d.Status == store.StatusPending && d.NextAttemptAt.IsZero() {
			w.parked.add(d.Endpoint.ID, m.ID)
		}
		if job := d.Job(m); job != nil {
			res.Jobs = append(res.Jobs, job)
		}
	}
	return res, nil
}

// flush writes what the transaction must hold besides the rows: the FIFO
// sequences the messages joined, and the notes of parked deliveries.
func (w *messageWriter) flush(ctx context.Context) error {
	if err := w.seqs.flush(ctx); err != nil {
		return err
	}
	return w.parked.write(ctx, w.markParked)
}

// parkedNotes is, by endpoint, the lowest message id of the deliveries a
// transaction parked.
type parkedNotes map[string]string

// add counts a delivery of msgID to endpointID as parked.
func (n parkedNotes) add(endpointID, msgID string) {
	if low, ok := n[endpointID]; !ok || msgID < low {
		n[endpointID] = msgID
	}
}

// write notes, for each endpoint, that it has parked deliveries from that
// message id on (parked_endpoints), with mark (sqlMarkParked).
func (n parkedNotes) write(ctx context.Context, mark *sql.Stmt) error {
	for ep, msg := range n {
		if _, err := mark.ExecContext(ctx, ep, msg); err != nil {
			return err
		}
	}
	return nil
}

// writeWithEvents runs change in a write transaction and writes events
// (see store.Events) after it, in the same transaction: an event that
// cannot be written undoes the change. Without events it is s.write.
func (s *Store) writeWithEvents(ctx context.Context, events []*store.Message, change func(ctx context.Context, tx *sql.Tx) error) error {
	if len(events) == 0 {
		return s.write(ctx, change)
	}
	st, err := s.hot(ctx)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := change(ctx, tx); err != nil {
			return err
		}
		return writeEvents(ctx, tx, st, events)
	})
}

// writeEvents writes events in tx as CreateMessages writes messages
// without a lease, reading their apps' endpoints as tx has left them.
func writeEvents(ctx context.Context, tx *sql.Tx, st *statements, events []*store.Message) error {
	if len(events) == 0 {
		return nil
	}
	w := newMessageWriter(ctx, tx, st)
	for _, ev := range events {
		res, err := w.write(ctx, store.CreateMessageParams{Message: ev})
		if err != nil {
			return err
		}
		if res.Err != nil {
			return eventError(ev, res.Err)
		}
	}
	return w.flush(ctx)
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

// loadBatchEndpoints returns the endpoints of appID in ID order (an empty,
// non-nil slice when it has none), or nil when the app does not exist.
func loadBatchEndpoints(ctx context.Context, appExists, appEndpoints *sql.Stmt, appID string) ([]*store.Endpoint, error) {
	var one int
	if err := appExists.QueryRowContext(ctx, appID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	rows, err := appEndpoints.QueryContext(ctx, appID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	eps := []*store.Endpoint{}
	for rows.Next() {
		ep := &store.Endpoint{}
		if err := rows.Scan(&ep.ID, &ep.Disabled, lscan[string]{&ep.EventTypes}, lscan[string]{&ep.Channels}, &ep.ThrottleRate, &ep.Ordering, tscan{&ep.UpdatedAt}); err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, rows.Err()
}

var sqlGetMessage = `SELECT ` + dialect.MsgCols(true) + ` FROM messages AS m
	WHERE m.app_id = ?1 AND (m.id = ?2 OR m.event_id = ?2) ORDER BY m.id = ?2 DESC LIMIT 1`

// GetMessage returns the message of appID whose ID or EventID is
// idOrEventID, with its payload.
func (s *Store) GetMessage(ctx context.Context, appID, idOrEventID string) (*store.Message, error) {
	m, err := scanMessage(s.queryRow(ctx, sqlGetMessage, appID, idOrEventID))
	if err != nil {
		return nil, wrap("get message", err)
	}
	return m, nil
}

// ListMessages returns a page of the messages of an app, ordered by ID in
// the direction of p.Desc.
func (s *Store) ListMessages(ctx context.Context, p store.ListMessagesParams) ([]*store.Message, error) {
	return list(ctx, s.r, "list messages", storesql.ListMessages(dialect, p), scanMessage)
}

// ExpungeMessagePayload removes the payload of a message.
func (s *Store) ExpungeMessagePayload(ctx context.Context, appID, msgID string) error {
	return wrap("expunge message payload", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE messages SET payload = NULL WHERE id = ? AND app_id = ?`, msgID, appID))
	}))
}

// Deliveries.

func deliveryDest(d *store.Delivery) []any {
	return []any{&d.AppID, &d.MsgID, &d.EndpointID, &d.Status, &d.Attempts, tscan{&d.NextAttemptAt}, &d.Lease, &d.Manual, &d.Seq,
		tscan{&d.LastAttemptAt}, &d.LastStatusCode, tscan{&d.CreatedAt}, tscan{&d.UpdatedAt}}
}

// ClaimDeliveries leases up to p.Limit due deliveries, oldest due first.
// The select and the updates run in one IMMEDIATE transaction on the single
// writer, so no two claims can take the same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, p store.ClaimParams) ([]*store.Job, error) {
	st, err := s.hot(ctx)
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	sel := st.claimFirst
	if p.Retries {
		sel = st.claimRetry
	}
	var jobs []*store.Job
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		jobs = nil
		if p.Parked {
			var err error
			if jobs, err = claimParked(ctx, tx, p); err != nil {
				return err
			}
		} else {
			rows, err := tx.StmtContext(ctx, sel).QueryContext(ctx, tsv(p.Now), tsv(p.DueSince), dialect.List(p.ExcludeEndpoints), storesql.Limit(p.Limit))
			if err != nil {
				return err
			}
			if jobs, err = scanJobs(rows, p, nil); err != nil {
				return err
			}
		}
		if len(jobs) == 0 {
			return nil
		}
		mark := tx.StmtContext(ctx, st.markClaimed)
		until, now := tsv(p.LeaseUntil), tsv(p.Now)
		for _, j := range jobs {
			if _, err := mark.ExecContext(ctx, until, p.Lease, now, j.MsgID, j.EndpointID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	return jobs, nil
}

// scanJobs appends the claimed jobs rows holds to jobs, and closes rows.
func scanJobs(rows *sql.Rows, p store.ClaimParams, jobs []*store.Job) ([]*store.Job, error) {
	defer rows.Close()
	for rows.Next() {
		j := &store.Job{Delivery: store.Delivery{Status: store.StatusPending, NextAttemptAt: p.LeaseUntil, Lease: p.Lease, UpdatedAt: p.Now}}
		if err := rows.Scan(&j.MsgID, &j.EndpointID, &j.AppID, &j.Attempts, &j.Manual, &j.Seq, tscan{&j.LastAttemptAt}, &j.LastStatusCode,
			tscan{&j.CreatedAt}, &j.EventType, sscan{&j.MsgEventID}, bscan{&j.Payload}, tscan{&j.MsgCreatedAt}, tscan{&j.EndpointUpdatedAt}, &j.EndpointThrottleRate); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return jobs, rows.Close()
}

// parkedWindow is the most deliveries of an endpoint one parked claim
// reads past its note. Between the note and the parked deliveries there
// can be a long history of delivered ones (an old message's retry, parked
// when the endpoint's circuit opened, lowers the note to it): each claim
// reads a window of it and moves the note to the window's end, so that the
// single writer is never held for the whole history (a million rows: 0.86
// s) and the claims still get there.
const parkedWindow = 2048

// claimParked selects the parked deliveries p.Parked asks for: the
// endpoints that have some (parked_endpoints), but the excluded ones, and
// up to p.PerEndpoint of each, in message order, p.Limit in all, each from
// a window of at most parkedWindow of its deliveries from its note on. It
// moves each endpoint's note on to the last delivery it takes, or to the
// end of the window when it took fewer than asked, and removes it when the
// window reached the endpoint's last delivery.
func claimParked(ctx context.Context, tx *sql.Tx, p store.ClaimParams) ([]*store.Job, error) {
	limit := storesql.Limit(p.Limit)
	rows, err := tx.QueryContext(ctx, sqlParkedEndpoints, dialect.List(p.ExcludeEndpoints), limit)
	if err != nil {
		return nil, err
	}
	type note struct{ endpoint, from string }
	var notes []note
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.endpoint, &n.from); err != nil {
			rows.Close()
			return nil, err
		}
		notes = append(notes, n)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	rows.Close()
	var jobs []*store.Job
	for _, nt := range notes {
		n := limit - len(jobs)
		if n <= 0 {
			break
		}
		if p.PerEndpoint > 0 {
			n = min(n, p.PerEndpoint)
		}
		var last sql.NullString
		var read int
		if err := tx.QueryRowContext(ctx, sqlParkedWindow, nt.endpoint, nt.from, parkedWindow).Scan(&last, &read); err != nil {
			return nil, err
		}
		before := len(jobs)
		if last.Valid {
			rows, err := tx.QueryContext(ctx, sqlClaimParked, nt.endpoint, nt.from, last.String, n)
			if err != nil {
				return nil, err
			}
			if jobs, err = scanJobs(rows, p, jobs); err != nil {
				return nil, err
			}
		}
		// Every delivery parked meanwhile would have lowered the note:
		// what the window held is all there is up to its end.
		var from string
		switch took := len(jobs) - before; {
		case took == n:
			from = jobs[len(jobs)-1].MsgID
		case read == parkedWindow:
			from = last.String
		}
		if from != "" {
			_, err = tx.ExecContext(ctx, `UPDATE parked_endpoints SET from_msg_id = ? WHERE endpoint_id = ?`, from, nt.endpoint)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM parked_endpoints WHERE endpoint_id = ?`, nt.endpoint)
		}
		if err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// CompleteDeliveries records attempts and moves on the deliveries whose
// lease still matches, in one transaction. It also keeps the endpoints'
// FailingSince, with one statement per endpoint of the batch, disables
// those that asked for it (DisableEndpoint needs an attempt: its time is the
// endpoint's new UpdatedAt), and then writes the completions' events.
func (s *Store) CompleteDeliveries(ctx context.Context, cs []store.Completion) error {
	if len(cs) == 0 {
		return nil
	}
	out := store.Outcome(cs)
	st, err := s.hot(ctx)
	if err != nil {
		return wrap("complete deliveries", err)
	}
	return wrap("complete deliveries", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		insertAttempt := tx.StmtContext(ctx, st.insertAttempt)
		complete := tx.StmtContext(ctx, st.completeDelivery)
		var skip *sql.Stmt
		var hours hourCounts // the attempts inserted, for EndpointHours
		seqs := newSequences(tx)
		for _, c := range cs {
			next := ts(c.Next())
			var moved sql.Result
			if a := c.Attempt; a == nil {
				// No request was made (the endpoint turned out to be
				// disabled): the state moves, the attempt count does not.
				if skip == nil {
					skip = tx.StmtContext(ctx, st.completeUnattempted)
				}
				if moved, err = skip.ExecContext(ctx, int(c.Status), next, c.MsgID, c.EndpointID, c.Lease); err != nil {
					return err
				}
			} else {
				at := tsv(a.CreatedAt)
				res, err := insertAttempt.ExecContext(ctx, a.ID, a.AppID, c.MsgID, c.EndpointID, a.URL, int(a.Status), a.StatusCode,
					store.Text(a.Response), a.DurationMs, int(a.TriggerType), a.EventType, at)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err == nil && n > 0 {
					hours.add(c.EndpointID, a.CreatedAt, a.Status == store.StatusSuccess)
				}
				if moved, err = complete.ExecContext(ctx, int(c.Status), next, at, a.StatusCode, at, c.MsgID, c.EndpointID, c.Lease); err != nil {
					return err
				}
			}
			if !c.Ordered || !store.Final(c.Status) {
				continue
			}
			if n, err := moved.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // the lease was lost: the delivery did not move
			}
			if err := seqs.finished(ctx, c.MsgID, c.EndpointID, c.Finished()); err != nil {
				return err
			}
		}
		if err := seqs.flush(ctx); err != nil {
			return err
		}
		for _, o := range out.Endpoints {
			// Both statements write only what store.EndpointOutcome's
			// FailingSince changes.
			var err error
			if o.Since.IsZero() {
				_, err = tx.StmtContext(ctx, st.clearFailing).ExecContext(ctx, o.EndpointID)
			} else {
				_, err = tx.StmtContext(ctx, st.setFailing).ExecContext(ctx, o.EndpointID, tsv(o.Since), o.Succeeded)
			}
			if err != nil {
				return err
			}
			if !o.DisableAt.IsZero() {
				if _, err := tx.StmtContext(ctx, st.disable).ExecContext(ctx, tsv(o.DisableAt), o.EndpointID); err != nil {
					return err
				}
			}
		}
		if len(hours.keys) > 0 {
			if err := hours.write(ctx, tx.StmtContext(ctx, st.addStats)); err != nil {
				return err
			}
		}
		return writeEvents(ctx, tx, st, out.Events)
	}))
}

// ReleaseDeliveries gives back leased deliveries unattempted, due or
// parked.
func (s *Store) ReleaseDeliveries(ctx context.Context, rs []store.Release) error {
	if len(rs) == 0 {
		return nil
	}
	st, err := s.hot(ctx)
	if err != nil {
		return wrap("release deliveries", err)
	}
	return wrap("release deliveries", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, lease = 0, updated_at = coalesce(?, updated_at)
			WHERE msg_id = ? AND endpoint_id = ? AND lease = ? AND status = 1`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		parked := parkedNotes{}
		for _, r := range rs {
			res, err := stmt.ExecContext(ctx, ts(r.NextAttemptAt), ts(r.At), r.MsgID, r.EndpointID, r.Lease)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // the lease was lost: nothing parked
			}
			if r.NextAttemptAt.IsZero() {
				parked.add(r.EndpointID, r.MsgID)
			}
		}
		if len(parked) == 0 {
			return nil
		}
		return parked.write(ctx, tx.StmtContext(ctx, st.markParked))
	}))
}

// ResendDelivery makes a message to an endpoint due at now as a manual
// attempt: see store.Store.
func (s *Store) ResendDelivery(ctx context.Context, p store.ResendParams) error {
	appID, msgID, endpointID, now := p.AppID, p.MsgID, p.EndpointID, p.Now
	return wrap("resend delivery", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var key string
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(ordering_key, '') FROM messages WHERE app_id = ? AND id = ?`, appID, msgID).Scan(&key); err != nil {
			return err
		}
		var ordering store.Ordering
		if err := tx.QueryRowContext(ctx, `SELECT ordering FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID).Scan(&ordering); err != nil {
			return err
		}
		t := tsv(now)
		if ordering == store.OrderingFIFO {
			return resendOrdered(ctx, tx, appID, msgID, endpointID, key, now)
		}
		// New or finished: pending, manual, due now. A blocked one (of a
		// sequence the endpoint kept from when it was FIFO) keeps its
		// place.
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, manual, created_at, updated_at)
			VALUES (?1, ?2, ?3, 1, ?4, 1, ?4, ?4)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, manual = 1, next_attempt_at = ?4, lease = 0, updated_at = ?4
			WHERE status NOT IN (1, 5)`, msgID, endpointID, appID, t); err != nil {
			return err
		}
		// Pending and waiting for a retry: due now. A leased one is left
		// to its worker.
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, updated_at = ?1
			WHERE msg_id = ?2 AND endpoint_id = ?3 AND status = 1 AND lease = 0 AND next_attempt_at > ?1`, t, msgID, endpointID)
		return err
	}))
}

// resendOrdered resends a message to a FIFO endpoint: a delivery that is
// new or finished joins the end of its sequence (see store.Sequence),
// pending and due at now when it is the head, blocked otherwise, manual
// either way; a pending one is due at now unless it is leased, and a blocked
// one keeps its place.
func resendOrdered(ctx context.Context, tx *sql.Tx, appID, msgID, endpointID, key string, now time.Time) error {
	t := tsv(now)
	var status store.DeliveryStatus
	err := tx.QueryRowContext(ctx, `SELECT status FROM deliveries WHERE msg_id = ? AND endpoint_id = ?`, msgID, endpointID).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		status = store.StatusSuccess // as if finished: it joins
	case err != nil:
		return err
	}
	switch status {
	case store.StatusBlocked:
		return nil
	case store.StatusPending:
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, updated_at = ?1
			WHERE msg_id = ?2 AND endpoint_id = ?3 AND status = 1 AND lease = 0 AND next_attempt_at > ?1`, t, msgID, endpointID)
		return err
	}
	seqs := newSequences(tx)
	seq, head, err := seqs.join(ctx, endpointID, key, msgID)
	if err != nil {
		return err
	}
	st, next := store.StatusBlocked, any(nil)
	if head {
		st, next = store.StatusPending, t
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, manual,
			ordering_key, seq, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?8)
		ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = ?4, manual = 1, next_attempt_at = ?5, lease = 0,
			ordering_key = ?6, seq = ?7, updated_at = ?8`,
		msgID, endpointID, appID, int(st), next, key, seq, t); err != nil {
		return err
	}
	return seqs.flush(ctx)
}

// RecoverDeliveries makes a page of failed or skipped deliveries of an
// endpoint pending, manual and due; to a FIFO endpoint, they join their
// sequences in message ID order.
func (s *Store) RecoverDeliveries(ctx context.Context, p store.RecoverParams) (string, error) {
	q := recoverQuery(p)
	var last string
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		last = ""
		var ordering store.Ordering
		if err := tx.QueryRowContext(ctx, `SELECT ordering FROM endpoints WHERE id = ?`, p.EndpointID).Scan(&ordering); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		if ordering == store.OrderingFIFO {
			var err error
			last, err = recoverOrdered(ctx, tx, p)
			return err
		}
		rows, err := tx.QueryContext(ctx, q.String(), q.Args()...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			last = max(last, id)
		}
		return rows.Err()
	})
	if err != nil {
		return "", wrap("recover deliveries", err)
	}
	return last, nil
}

func recoverQuery(p store.RecoverParams) *storesql.Query {
	q := storesql.New(dialect)
	q.Add(`UPDATE deliveries SET status = 1, manual = 1, next_attempt_at = ?, lease = 0, updated_at = ?
		WHERE endpoint_id = ? AND msg_id IN (`, tsv(p.Now), tsv(p.Now), p.EndpointID)
	q.RecoverPage(p, "d.msg_id", "")
	q.Add(`) RETURNING msg_id`)
	return q
}

// recoverOrdered recovers a page of deliveries to a FIFO endpoint: each
// joins its sequence, in message ID order (see store.Sequence).
func recoverOrdered(ctx context.Context, tx *sql.Tx, p store.RecoverParams) (string, error) {
	q := storesql.New(dialect)
	q.RecoverPage(p, "d.msg_id, coalesce(m.ordering_key, '')", "")
	rows, err := tx.QueryContext(ctx, q.String(), q.Args()...)
	if err != nil {
		return "", err
	}
	type row struct{ msgID, key string }
	var page []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.msgID, &r.key); err != nil {
			rows.Close()
			return "", err
		}
		page = append(page, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	seqs := newSequences(tx)
	t := tsv(p.Now)
	for _, r := range page {
		seq, head, err := seqs.join(ctx, p.EndpointID, r.key, r.msgID)
		if err != nil {
			return "", err
		}
		st, next := store.StatusBlocked, any(nil)
		if head {
			st, next = store.StatusPending, t
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, manual = 1, next_attempt_at = ?, lease = 0,
				ordering_key = ?, seq = ?, updated_at = ? WHERE msg_id = ? AND endpoint_id = ?`,
			int(st), next, r.key, seq, t, r.msgID, p.EndpointID); err != nil {
			return "", err
		}
	}
	if len(page) == 0 {
		return "", nil
	}
	return page[len(page)-1].msgID, seqs.flush(ctx)
}

// CancelMessage cancels a scheduled message's deliveries (see
// store.Cancelable), advancing the sequences whose head one was.
func (s *Store) CancelMessage(ctx context.Context, p store.CancelMessageParams) (*store.Message, error) {
	appID, msgID, now := p.AppID, p.MsgID, p.Now
	var m *store.Message
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRowContext(ctx, `SELECT `+dialect.MsgCols(true)+` FROM messages AS m WHERE m.app_id = ? AND m.id = ?`, appID, msgID))
		if err != nil || !m.CanceledAt.IsZero() {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+storesql.DeliveryCols+`, coalesce(d.ordering_key, '') FROM deliveries AS d WHERE d.msg_id = ? AND d.app_id = ?`, msgID, appID)
		if err != nil {
			return err
		}
		var ds []*store.Delivery
		var keys []string
		for rows.Next() {
			d := &store.Delivery{}
			var key string
			if err := rows.Scan(append(deliveryDest(d), &key)...); err != nil {
				rows.Close()
				return err
			}
			ds, keys = append(ds, d), append(keys, key)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !store.Cancelable(m, ds, now) {
			return store.ErrConflict
		}
		t := tsv(now)
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 6, next_attempt_at = NULL, updated_at = ? WHERE msg_id = ? AND app_id = ?`, t, msgID, appID); err != nil {
			return err
		}
		seqs := newSequences(tx)
		for i, d := range ds {
			if d.Seq != 0 && d.Status == store.StatusPending {
				if err := seqs.advance(ctx, d.EndpointID, keys[i], msgID, now); err != nil {
					return err
				}
			}
		}
		if err := seqs.flush(ctx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET canceled_at = ? WHERE app_id = ? AND id = ?`, t, appID, msgID); err != nil {
			return err
		}
		m.CanceledAt = now
		return nil
	})
	if err != nil {
		return nil, wrap("cancel message", err)
	}
	return m, nil
}

// GetDelivery returns the delivery of a message to an endpoint.
func (s *Store) GetDelivery(ctx context.Context, k store.DeliveryKey) (*store.Delivery, error) {
	d := &store.Delivery{}
	err := s.queryRow(ctx, `SELECT `+storesql.DeliveryCols+` FROM deliveries AS d WHERE d.msg_id = ? AND d.endpoint_id = ?`, k.MsgID, k.EndpointID).
		Scan(deliveryDest(d)...)
	if err != nil {
		return nil, wrap("get delivery", err)
	}
	return d, nil
}

const sqlDestinations = `SELECT ` + storesql.EndpointCols + `, ` + storesql.DeliveryCols + `
	FROM deliveries AS d JOIN endpoints AS e ON e.id = d.endpoint_id
	WHERE d.msg_id = ? AND d.app_id = ? AND d.status != 4`

// ListMessageDestinations returns the deliveries of a message that are not
// skipped, with their endpoints, ordered by endpoint ID.
func (s *Store) ListMessageDestinations(ctx context.Context, appID, msgID string, p store.Page) ([]*store.Destination, error) {
	q := storesql.New(dialect)
	q.Add(sqlDestinations, msgID, appID)
	q.Page("d.endpoint_id", p)
	return list(ctx, s.r, "list message destinations", q, func(sc scanner) (*store.Destination, error) {
		dst := &store.Destination{Endpoint: &store.Endpoint{}, Delivery: &store.Delivery{}}
		return dst, sc.Scan(append(endpointDest(dst.Endpoint), deliveryDest(dst.Delivery)...)...)
	})
}

// ListEndpointMessages returns a page of the messages delivered or to be
// delivered to an endpoint (not skipped), ordered by message ID.
func (s *Store) ListEndpointMessages(ctx context.Context, p store.ListEndpointMessagesParams) ([]*store.EndpointMessage, error) {
	q := storesql.EndpointMessages(dialect, p)
	return list(ctx, s.r, "list endpoint messages", q, func(sc scanner) (*store.EndpointMessage, error) {
		em := &store.EndpointMessage{Message: &store.Message{}, Delivery: &store.Delivery{}}
		return em, sc.Scan(append(msgDest(em.Message), deliveryDest(em.Delivery)...)...)
	})
}

// parkedCountCap is the most parked deliveries QueueStats counts. They are
// the NULL entries of the claim queues' indexes, counted one by one: a
// count of the 150,000 that ten hanging endpoints park in 30 seconds, every
// five seconds, doubled a healthy endpoint's p99 (BENCHMARKS.md, "Parked
// deliveries").
const parkedCountCap = 10000

// QueueStats counts the due deliveries of each claim queue and finds the
// oldest, with range scans over the claim queues' partial indexes only (the
// WHERE clauses repeat the indexes'). Parked deliveries are counted up to
// parkedCountCap; the oldest of them is looked for among the 64 deliveries
// from each endpoint's note on, where the one each endpoint sends next
// usually is. It reads on the read pool: it never waits for the writer.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (*store.QueueStats, error) {
	const q = `SELECT
		(SELECT count(*) FROM deliveries INDEXED BY deliveries_due_first
			WHERE status = 1 AND attempts = 0 AND manual = 0 AND next_attempt_at <= ?1),
		(SELECT min(next_attempt_at) FROM deliveries INDEXED BY deliveries_due_first
			WHERE status = 1 AND attempts = 0 AND manual = 0 AND next_attempt_at <= ?1),
		(SELECT count(*) FROM deliveries INDEXED BY deliveries_due_retry
			WHERE status = 1 AND (attempts > 0 OR manual = 1) AND next_attempt_at <= ?1),
		(SELECT min(next_attempt_at) FROM deliveries INDEXED BY deliveries_due_retry
			WHERE status = 1 AND (attempts > 0 OR manual = 1) AND next_attempt_at <= ?1),
		(SELECT count(*) FROM (
			SELECT 1 FROM deliveries INDEXED BY deliveries_due_first
				WHERE status = 1 AND attempts = 0 AND manual = 0 AND next_attempt_at IS NULL
			UNION ALL
			SELECT 1 FROM deliveries INDEXED BY deliveries_due_retry
				WHERE status = 1 AND (attempts > 0 OR manual = 1) AND next_attempt_at IS NULL
			LIMIT ?2)),
		(SELECT min((SELECT min(d.updated_at) FROM deliveries AS d
			WHERE d.endpoint_id = p.endpoint_id AND d.status = 1 AND d.next_attempt_at IS NULL AND d.msg_id IN (
				SELECT w.msg_id FROM deliveries AS w INDEXED BY deliveries_endpoint
				WHERE w.endpoint_id = p.endpoint_id AND w.msg_id >= p.from_msg_id ORDER BY w.msg_id LIMIT 64)))
			FROM parked_endpoints AS p)`
	var qs store.QueueStats
	var oldestFirst, oldestRetry, oldestParked time.Time
	if err := s.queryRow(ctx, q, tsv(now), parkedCountCap).Scan(&qs.DueFirst, tscan{&oldestFirst}, &qs.DueRetry, tscan{&oldestRetry},
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

func scanAttempt(sc scanner) (*store.Attempt, error) {
	a := &store.Attempt{}
	err := sc.Scan(&a.ID, &a.AppID, &a.MsgID, &a.EndpointID, &a.URL, &a.Status, &a.StatusCode, &a.Response,
		&a.DurationMs, &a.TriggerType, &a.EventType, tscan{&a.CreatedAt})
	return a, err
}

// ListAttempts returns a page of attempts by endpoint and/or by message,
// ordered by ID.
func (s *Store) ListAttempts(ctx context.Context, p store.ListAttemptsParams) ([]*store.Attempt, error) {
	if p.EndpointID == "" && p.MsgID == "" {
		return nil, errors.New("list attempts: an endpoint or a message is required")
	}
	return list(ctx, s.r, "list attempts", storesql.ListAttempts(dialect, p), scanAttempt)
}

var sqlGetAttempt = `SELECT ` + storesql.AttemptCols(true) + ` FROM attempts AS a WHERE a.id = ? AND a.msg_id = ? AND a.app_id = ?`

// GetAttempt returns one attempt of a message, with its response.
func (s *Store) GetAttempt(ctx context.Context, k store.AttemptKey) (*store.Attempt, error) {
	appID, msgID, attemptID := k.AppID, k.MsgID, k.ID
	a, err := scanAttempt(s.queryRow(ctx, sqlGetAttempt, attemptID, msgID, appID))
	if err != nil {
		return nil, wrap("get attempt", err)
	}
	return a, nil
}

// ExpungeAttemptResponse removes the response body kept for an attempt.
func (s *Store) ExpungeAttemptResponse(ctx context.Context, k store.AttemptKey) error {
	appID, msgID, attemptID := k.AppID, k.MsgID, k.ID
	return wrap("expunge attempt response", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE attempts SET response = '' WHERE id = ? AND msg_id = ? AND app_id = ?`, attemptID, msgID, appID))
	}))
}
