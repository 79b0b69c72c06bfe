package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// Applications.

func scanApp(sc scanner) (*store.App, error) {
	a := &store.App{}
	err := sc.Scan(&a.ID, sscan{&a.UID}, &a.Name, &a.ThrottleRate, mscan{&a.Metadata}, tscan{&a.CreatedAt}, tscan{&a.UpdatedAt})
	return a, err
}

// CreateApp inserts app; ErrConflict when its UID is taken.
func (s *Store) CreateApp(ctx context.Context, app *store.App) error {
	meta, err := jsonMap(app.Metadata)
	if err != nil {
		return wrap("create app", err)
	}
	return wrap("create app", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO apps (`+storesql.AppCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			app.ID, nstr(app.UID), app.Name, app.ThrottleRate, meta, tsv(app.CreatedAt), tsv(app.UpdatedAt))
		return err
	}))
}

const sqlGetApp = `SELECT ` + storesql.AppCols + ` FROM apps WHERE id = ?1 OR uid = ?1 ORDER BY id = ?1 DESC LIMIT 1`

// GetApp returns the app whose ID or UID is idOrUID (an ID match wins).
func (s *Store) GetApp(ctx context.Context, idOrUID string) (*store.App, error) {
	a, err := scanApp(s.queryRow(ctx, sqlGetApp, idOrUID))
	if err != nil {
		return nil, wrap("get app", err)
	}
	return a, nil
}

// ListApps returns a page of apps ordered by ID.
func (s *Store) ListApps(ctx context.Context, p store.Page) ([]*store.App, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + storesql.AppCols + ` FROM apps WHERE 1`)
	q.Page("id", p)
	return list(ctx, s.r, "list apps", q, scanApp)
}

// UpdateApp sets the fields p names, writes p.Events, and returns the app
// as written.
func (s *Store) UpdateApp(ctx context.Context, p store.UpdateAppParams) (*store.App, error) {
	q, err := storesql.UpdateApp(dialect, values, p)
	if err != nil {
		return nil, wrap("update app", err)
	}
	var app *store.App
	err = s.writeWithEvents(ctx, p.Events, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		app, err = scanApp(tx.QueryRowContext(ctx, q.String(), q.Args()...))
		return err
	})
	if err != nil {
		return nil, wrap("update app", err)
	}
	return app, nil
}

// DeleteApp deletes the app; foreign keys cascade to its endpoints,
// messages, deliveries, attempts, tasks and portal tokens.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return wrap("delete app", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id))
	}))
}

// Endpoints.

// oldSecretsScan scans the old_secrets column, keeping times in UTC.
type oldSecretsScan struct{ l *[]store.OldSecret }

func (x oldSecretsScan) Scan(v any) error {
	if err := (lscan[store.OldSecret]{x.l}).Scan(v); err != nil {
		return err
	}
	for i := range *x.l {
		(*x.l)[i].ExpiresAt = store.Truncate((*x.l)[i].ExpiresAt)
	}
	return nil
}

func scanEndpoint(sc scanner) (*store.Endpoint, error) {
	e := &store.Endpoint{}
	err := sc.Scan(endpointDest(e)...)
	return e, err
}

func endpointDest(e *store.Endpoint) []any {
	return []any{&e.ID, &e.AppID, sscan{&e.UID}, &e.URL, &e.Description, &e.Disabled, lscan[string]{&e.EventTypes}, lscan[string]{&e.Channels},
		&e.ThrottleRate, &e.Ordering, mscan{&e.Metadata}, mscan{&e.Headers}, &e.Secret, oldSecretsScan{&e.OldSecrets}, tscan{&e.FailingSince},
		&e.Circuit.Open, &e.Circuit.Failures, tscan{&e.Circuit.Since}, tscan{&e.Circuit.NextProbe}, tscan{&e.CreatedAt}, tscan{&e.UpdatedAt}}
}

// endpointArgs are the stored forms of the mutable columns, in the order
// uid, url, description, disabled, event_types, channels, throttle_rate,
// ordering, metadata, headers, secret, old_secrets, failing_since,
// updated_at.
func endpointArgs(ep *store.Endpoint) ([]any, error) {
	meta, err := jsonMap(ep.Metadata)
	if err != nil {
		return nil, err
	}
	headers, err := jsonMap(ep.Headers)
	if err != nil {
		return nil, err
	}
	types, err := jsonList(ep.EventTypes)
	if err != nil {
		return nil, err
	}
	channels, err := jsonList(ep.Channels)
	if err != nil {
		return nil, err
	}
	olds, err := oldSecretsArg(ep.OldSecrets)
	if err != nil {
		return nil, err
	}
	return []any{nstr(ep.UID), ep.URL, ep.Description, ep.Disabled, types, channels, ep.ThrottleRate, int(ep.Ordering),
		meta, headers, ep.Secret, olds, ts(ep.FailingSince), tsv(ep.UpdatedAt)}, nil
}

// oldSecretsArg stores old secrets as a JSON array (NULL for nil), their
// expiry in UTC to the microsecond.
func oldSecretsArg(l []store.OldSecret) (any, error) {
	if l == nil {
		return nil, nil
	}
	old := make([]store.OldSecret, len(l))
	for i, o := range l {
		old[i] = store.OldSecret{Secret: o.Secret, ExpiresAt: store.Truncate(o.ExpiresAt)}
	}
	return jsonList(old)
}

// CreateEndpoint inserts ep, then events; ErrNotFound when its app does not
// exist, ErrConflict when its UID is taken within the app.
func (s *Store) CreateEndpoint(ctx context.Context, ep *store.Endpoint, events ...*store.Message) error {
	args, err := endpointArgs(ep)
	if err != nil {
		return wrap("create endpoint", err)
	}
	args = append(args, ep.ID, ep.AppID, tsv(ep.CreatedAt))
	return wrap("create endpoint", s.writeWithEvents(ctx, events, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO endpoints (uid, url, description, disabled, event_types, channels, throttle_rate,
			ordering, metadata, headers, secret, old_secrets, failing_since, updated_at, id, app_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		return err
	}))
}

// GetEndpoint returns the endpoint of appID whose ID or UID is idOrUID.
func (s *Store) GetEndpoint(ctx context.Context, appID, idOrUID string) (*store.Endpoint, error) {
	ep, err := scanEndpoint(s.queryRow(ctx, `SELECT `+storesql.EndpointCols+` FROM endpoints e
		WHERE e.app_id = ?1 AND (e.id = ?2 OR e.uid = ?2) ORDER BY e.id = ?2 DESC LIMIT 1`, appID, idOrUID))
	if err != nil {
		return nil, wrap("get endpoint", err)
	}
	return ep, nil
}

// GetEndpointByID returns the endpoint with id, whatever its app.
func (s *Store) GetEndpointByID(ctx context.Context, id string) (*store.Endpoint, error) {
	ep, err := scanEndpoint(s.queryRow(ctx, `SELECT `+storesql.EndpointCols+` FROM endpoints e WHERE e.id = ?`, id))
	if err != nil {
		return nil, wrap("get endpoint", err)
	}
	return ep, nil
}

// ListEndpoints returns a page of the endpoints of appID ordered by ID.
func (s *Store) ListEndpoints(ctx context.Context, appID string, p store.Page) ([]*store.Endpoint, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT `+storesql.EndpointCols+` FROM endpoints e WHERE e.app_id = ?`, appID)
	q.Page("e.id", p)
	return list(ctx, s.r, "list endpoints", q, scanEndpoint)
}

// UpdateEndpoint sets the fields p names, writes p.Events, and returns the
// endpoint as written.
func (s *Store) UpdateEndpoint(ctx context.Context, p store.UpdateEndpointParams) (*store.Endpoint, error) {
	q, err := storesql.UpdateEndpoint(dialect, values, p)
	if err != nil {
		return nil, wrap("update endpoint", err)
	}
	var ep *store.Endpoint
	err = s.writeWithEvents(ctx, p.Events, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		ep, err = scanEndpoint(tx.QueryRowContext(ctx, q.String(), q.Args()...))
		return err
	})
	if err != nil {
		return nil, wrap("update endpoint", err)
	}
	return ep, nil
}

// DeleteEndpoint deletes the endpoint, then writes events; foreign keys
// cascade to its deliveries, attempts and tasks.
func (s *Store) DeleteEndpoint(ctx context.Context, appID, id string, events ...*store.Message) error {
	return wrap("delete endpoint", s.writeWithEvents(ctx, events, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM endpoints WHERE id = ? AND app_id = ?`, id, appID))
	}))
}

// SetEndpointCircuit stores the state of an endpoint's circuit breaker,
// leaving updated_at as it is.
func (s *Store) SetEndpointCircuit(ctx context.Context, id string, c store.Circuit) error {
	return wrap("set endpoint circuit", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE endpoints SET circuit_open = ?, circuit_failures = ?, circuit_since = ?,
			circuit_next_probe = ? WHERE id = ?`, c.Open, c.Failures, ts(c.Since), ts(c.NextProbe), id))
	}))
}

// Event types.

func scanEventType(sc scanner) (*store.EventType, error) {
	et := &store.EventType{}
	err := sc.Scan(&et.Name, &et.Description, &et.Archived, &et.Deprecated, &et.FeatureFlag, rawscan{&et.Schemas},
		vscan{&et.ValidatePayloads}, tscan{&et.CreatedAt}, tscan{&et.UpdatedAt})
	return et, err
}

// CreateEventType inserts et; ErrConflict when the name exists.
func (s *Store) CreateEventType(ctx context.Context, et *store.EventType) error {
	return wrap("create event type", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO event_types (`+storesql.EventTypeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			et.Name, et.Description, et.Archived, et.Deprecated, et.FeatureFlag, rawArg(et.Schemas), validationArg(et.ValidatePayloads),
			tsv(et.CreatedAt), tsv(et.UpdatedAt))
		return err
	}))
}

// GetEventType returns the event type called name.
func (s *Store) GetEventType(ctx context.Context, name string) (*store.EventType, error) {
	et, err := scanEventType(s.queryRow(ctx, `SELECT `+storesql.EventTypeCols+` FROM event_types WHERE name = ?`, name))
	if err != nil {
		return nil, wrap("get event type", err)
	}
	return et, nil
}

// GetEventTypes returns the event types among names, ordered by name.
func (s *Store) GetEventTypes(ctx context.Context, names []string) ([]*store.EventType, error) {
	if len(names) == 0 {
		return nil, nil
	}
	return list(ctx, s.r, "get event types", storesql.GetEventTypes(dialect, names), scanEventType)
}

// ListEventTypes returns a page of event types ordered by name.
func (s *Store) ListEventTypes(ctx context.Context, p store.ListEventTypesParams) ([]*store.EventType, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + storesql.EventTypeCols + ` FROM event_types WHERE 1`)
	if !p.IncludeArchived {
		q.Add(` AND NOT archived`)
	}
	q.Page("name", p.Page)
	return list(ctx, s.r, "list event types", q, scanEventType)
}

// UpdateEventType sets the fields p names and returns the event type as
// written.
func (s *Store) UpdateEventType(ctx context.Context, p store.UpdateEventTypeParams) (*store.EventType, error) {
	q := storesql.UpdateEventType(dialect, values, p)
	var et *store.EventType
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		et, err = scanEventType(tx.QueryRowContext(ctx, q.String(), q.Args()...))
		return err
	})
	if err != nil {
		return nil, wrap("update event type", err)
	}
	return et, nil
}

// DeleteEventType removes the event type.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	return wrap("delete event type", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM event_types WHERE name = ?`, name))
	}))
}

// Background tasks.

const taskCols = `id, kind, app_id, endpoint_id, params, cursor, status, lease_until, created_at, updated_at`

func scanTask(sc scanner) (*store.Task, error) {
	t := &store.Task{}
	err := sc.Scan(&t.ID, &t.Kind, sscan{&t.AppID}, sscan{&t.EndpointID}, rawscan{&t.Params}, &t.Cursor, &t.Status,
		tscan{&t.LeaseUntil}, tscan{&t.CreatedAt}, tscan{&t.UpdatedAt})
	return t, err
}

// CreateTask inserts a task; ErrNotFound when its app or endpoint is gone.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	return wrap("create task", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Kind, nstr(t.AppID), nstr(t.EndpointID), rawArg(t.Params), t.Cursor, string(t.Status),
			ts(t.LeaseUntil), tsv(t.CreatedAt), tsv(t.UpdatedAt))
		return err
	}))
}

const sqlClaimTask = `UPDATE tasks SET lease_until = ?1 WHERE id = (
	SELECT id FROM tasks WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= ?2)
	ORDER BY id LIMIT 1) RETURNING ` + taskCols

// ClaimTask leases the oldest running task whose lease is free or ended.
func (s *Store) ClaimTask(ctx context.Context, p store.ClaimTaskParams) (*store.Task, error) {
	now, leaseUntil := p.Now, p.LeaseUntil
	var t *store.Task
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		t, err = scanTask(tx.QueryRowContext(ctx, sqlClaimTask, tsv(leaseUntil), tsv(now)))
		return err
	})
	if err != nil {
		return nil, wrap("claim task", err)
	}
	return t, nil
}

// UpdateTask saves the cursor, status, lease and UpdatedAt of a task, then
// writes events.
func (s *Store) UpdateTask(ctx context.Context, t *store.Task, events ...*store.Message) error {
	return wrap("update task", s.writeWithEvents(ctx, events, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE tasks SET cursor = ?, status = ?, lease_until = ?, updated_at = ? WHERE id = ?`,
			t.Cursor, string(t.Status), ts(t.LeaseUntil), tsv(t.UpdatedAt), t.ID))
	}))
}

// GetTask returns a task.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.queryRow(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id))
	if err != nil {
		return nil, wrap("get task", err)
	}
	return t, nil
}

// API tokens.

// CreateToken inserts a token; ErrConflict when the hash exists.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	return wrap("create token", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, hash, app_id, name, expires_at, created_at, session) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Hash, nstr(t.AppID), t.Name, ts(t.ExpiresAt), tsv(t.CreatedAt), t.Session)
		return err
	}))
}

// GetTokenByHash returns the token with that hash, expired or not.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return nil, wrap("get token", err)
	}
	return t, nil
}

const tokenCols = `id, hash, app_id, name, expires_at, created_at, session`

func scanToken(sc scanner) (*store.Token, error) {
	t := &store.Token{}
	err := sc.Scan(&t.ID, bscan{&t.Hash}, sscan{&t.AppID}, &t.Name, tscan{&t.ExpiresAt}, tscan{&t.CreatedAt}, &t.Session)
	return t, err
}

// ListAPITokens returns a page of the admin API tokens, ordered by ID.
func (s *Store) ListAPITokens(ctx context.Context, p store.Page) ([]*store.Token, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + tokenCols + ` FROM tokens WHERE app_id IS NULL AND session = 0`)
	q.Page("id", p)
	return list(ctx, s.r, "list tokens", q, scanToken)
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return wrap("delete token", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id))
	}))
}

// DeleteAPIToken revokes an admin API token.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	return wrap("delete token", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND app_id IS NULL AND session = 0`, id))
	}))
}

// CountAdminTokens counts the tokens with no app, sessions aside.
func (s *Store) CountAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM tokens WHERE app_id IS NULL AND session = 0`).Scan(&n); err != nil {
		return 0, wrap("count admin tokens", err)
	}
	return n, nil
}

// Idempotency.

const idemCols = `key, fingerprint, done, status_code, body, locked_until, expires_at, created_at`

func scanIdem(sc scanner) (*store.IdempotencyRecord, error) {
	r := &store.IdempotencyRecord{}
	err := sc.Scan(&r.Key, &r.Fingerprint, &r.Done, &r.StatusCode, bscan{&r.Body}, tscan{&r.LockedUntil}, tscan{&r.ExpiresAt}, tscan{&r.CreatedAt})
	return r, err
}

// BeginIdempotent starts a request under an idempotency key, or returns the
// live record that is already there.
func (s *Store) BeginIdempotent(ctx context.Context, p store.BeginIdempotentParams) (*store.IdempotencyRecord, bool, error) {
	var (
		rec     *store.IdempotencyRecord
		started bool
	)
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanIdem(tx.QueryRowContext(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = ?`, p.Key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case old.ExpiresAt.After(p.Now) && (old.Done || old.LockedUntil.After(p.Now)):
			rec = old
			return nil
		}
		rec = &store.IdempotencyRecord{Key: p.Key, Fingerprint: p.Fingerprint, LockedUntil: p.LockUntil, ExpiresAt: p.ExpiresAt, CreatedAt: p.Now}
		started = true
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES (?, ?, 0, 0, NULL, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, done = 0, status_code = 0, body = NULL,
			locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at`,
			p.Key, p.Fingerprint, tsv(p.LockUntil), tsv(p.ExpiresAt), tsv(p.Now))
		return err
	})
	if err != nil {
		return nil, false, wrap("begin idempotent", err)
	}
	return rec, started, nil
}

// FinishIdempotent stores the response of a request under key.
func (s *Store) FinishIdempotent(ctx context.Context, key string, status int, body []byte) error {
	return wrap("finish idempotent", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE idempotency SET done = 1, status_code = ?, body = ? WHERE key = ?`, status, blobArg(body), key))
	}))
}

// AbortIdempotent deletes the in-progress record under key, if any.
func (s *Store) AbortIdempotent(ctx context.Context, key string) error {
	return wrap("abort idempotent", s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE key = ? AND NOT done`, key)
		return err
	}))
}

// Maintenance.

// Retention, a batch at a time.
const (
	sqlExpireIdempotency = `DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE expires_at <= ?1 LIMIT ?2)`
	sqlExpirePayloads    = `UPDATE messages SET payload = NULL WHERE rowid IN (
		SELECT rowid FROM messages WHERE payload IS NOT NULL AND payload_expires_at <= ?1 LIMIT ?2)`
	sqlExpireTokens = `DELETE FROM tokens WHERE id IN (SELECT id FROM tokens WHERE expires_at <= ?1 LIMIT ?2)`
	// ?1 is the start of the oldest hour kept.
	sqlExpireStats = `DELETE FROM endpoint_stats WHERE (endpoint_id, hour) IN (
		SELECT endpoint_id, hour FROM endpoint_stats WHERE hour < ?1 LIMIT ?2)`
)

// expireBatch bounds the rows one DeleteExpired transaction changes, so that
// retention never holds the write lock for long.
const expireBatch = 1000

// DeleteExpired removes expired idempotency records and payloads, in
// transactions of at most expireBatch rows each.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, x := range []struct {
		stmt string
		at   time.Time
	}{
		{sqlExpireIdempotency, now}, {sqlExpirePayloads, now}, {sqlExpireTokens, now},
		{sqlExpireStats, store.HourOf(now.Add(-store.StatsRetention))},
	} {
		stmt := x.stmt
		for {
			var n int64
			err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, stmt, tsv(x.at), expireBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return total, wrap("delete expired", err)
			}
			total += int(n)
			if n < expireBatch {
				break
			}
		}
	}
	return total, nil
}

// sqlHistoryPage reads messages in the order they were written (rowid),
// after ?2: whether each was accepted before ?1, and whether it still has a
// delivery to make (pending or blocked).
const sqlHistoryPage = `SELECT m.rowid, m.created_at < ?1,
		EXISTS (SELECT 1 FROM deliveries AS d WHERE d.msg_id = m.id AND d.status IN (1, 5))
	FROM messages AS m WHERE m.rowid > ?2 ORDER BY m.rowid LIMIT ?3`

// sqlDeleteMessages deletes the messages whose rowids ?1 lists (a JSON
// array); the cascade triggers take their deliveries, attempts and tags.
const sqlDeleteMessages = `DELETE FROM messages WHERE rowid IN (SELECT value FROM json_each(?1))`

// DeleteHistory deletes up to p.Limit messages accepted before p.Before,
// with their deliveries, attempts and tags, in one transaction. Messages are
// read in rowid order, the order they were written in, a page of p.Limit at
// a time, from just after the last old message the previous call read (or
// from the first with p.Rescan): no index on the time is needed (one less
// b-tree write per message). The read is done after the first page with no
// message older than p.Before: a message written out of time order
// (imported, or prefilled by herald bench) is kept, not a reason to stop.
func (s *Store) DeleteHistory(ctx context.Context, p store.DeleteHistoryParams) (int, bool, error) {
	if p.Limit <= 0 {
		return 0, true, nil
	}
	var n int
	var done bool
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if p.Rescan {
			s.historyAfter = 0
		}
		doomed := make([]int64, 0, p.Limit)
		after, lastOld := s.historyAfter, s.historyAfter
		for pages := 0; !done && len(doomed) < p.Limit && pages < store.HistoryReadFactor; pages++ {
			rows, err := tx.QueryContext(ctx, sqlHistoryPage, tsv(p.Before), after, p.Limit)
			if err != nil {
				return err
			}
			read, olds := 0, 0
			for rows.Next() {
				var rowid int64
				var old, busy bool
				if err := rows.Scan(&rowid, &old, &busy); err != nil {
					rows.Close()
					return err
				}
				read++
				after = rowid
				if !old {
					continue
				}
				olds++
				lastOld = rowid
				if !busy {
					doomed = append(doomed, rowid)
					if len(doomed) == p.Limit {
						break
					}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			done = read < p.Limit || olds == 0
		}
		if len(doomed) == p.Limit {
			done = false // the read stopped at the limit, not at the end
		}
		s.historyAfter = lastOld
		n = len(doomed)
		if n == 0 {
			return nil
		}
		list, err := json.Marshal(doomed)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlDeleteMessages, string(list))
		return err
	})
	if err != nil {
		return 0, false, wrap("delete history", err)
	}
	return n, done, nil
}

// Settings.

// GetSetting returns the value of key.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return "", wrap("get setting", err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value under key unless the key exists, and
// returns the value stored afterwards.
func (s *Store) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	})
	if err != nil {
		return "", wrap("put setting", err)
	}
	return v, nil
}

// list runs q on db and scans every row with scan.
func list[T any](ctx context.Context, db *sql.DB, what string, q *storesql.Query, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q.String(), q.Args()...)
	if err != nil {
		return nil, wrap(what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}
