package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// Applications.

func scanApp(row pgx.Row) (*store.App, error) {
	a := &store.App{}
	err := row.Scan(&a.ID, sscan{&a.UID}, &a.Name, &a.ThrottleRate, mscan{&a.Metadata}, tscan{&a.CreatedAt}, tscan{&a.UpdatedAt})
	return a, err
}

// CreateApp inserts app; ErrConflict when its UID is taken.
func (s *Store) CreateApp(ctx context.Context, app *store.App) error {
	_, err := s.exec(ctx, `INSERT INTO apps (`+storesql.AppCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		app.ID, nstr(app.UID), app.Name, app.ThrottleRate, jsonMap(app.Metadata), app.CreatedAt, app.UpdatedAt)
	return wrap("create app", err)
}

const sqlGetApp = `SELECT ` + storesql.AppCols + ` FROM apps WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1`

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
	q.Add(`SELECT ` + storesql.AppCols + ` FROM apps WHERE true`)
	q.Page("id", p)
	return queryList(ctx, s, "list apps", q, scanApp)
}

// UpdateApp sets the fields p names, writes p.Events, and returns the app
// as written.
func (s *Store) UpdateApp(ctx context.Context, p store.UpdateAppParams) (*store.App, error) {
	q, err := storesql.UpdateApp(dialect, values, p)
	if err != nil {
		return nil, wrap("update app", err)
	}
	var app *store.App
	if len(p.Events) == 0 {
		app, err = scanApp(s.queryRow(ctx, q.String(), q.Args()...))
	} else {
		err = s.changeWithEvents(ctx, p.ID, p.Events, func(b *pgx.Batch) {
			b.Queue(q.String(), q.Args()...).QueryRow(func(row pgx.Row) error {
				var err error
				app, err = scanApp(row)
				return err
			})
		})
	}
	if err != nil {
		return nil, wrap("update app", err)
	}
	return app, nil
}

// DeleteApp deletes the app; foreign keys and triggers cascade to its
// endpoints, messages, deliveries, attempts, tasks and portal tokens.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return wrap("delete app", mustAffect(s.exec(ctx, `DELETE FROM apps WHERE id = $1`, id)))
}

// Endpoints.

func endpointDest(e *store.Endpoint) []any {
	return []any{&e.ID, &e.AppID, sscan{&e.UID}, &e.URL, &e.Description, &e.Disabled, &e.EventTypes, &e.Channels,
		&e.ThrottleRate, &e.Ordering, mscan{&e.Metadata}, mscan{&e.Headers}, &e.Secret, oldSecretsScan{&e.OldSecrets},
		tscan{&e.FailingSince}, &e.Circuit.Open, &e.Circuit.Failures, tscan{&e.Circuit.Since}, tscan{&e.Circuit.NextProbe},
		tscan{&e.CreatedAt}, tscan{&e.UpdatedAt}}
}

func scanEndpoint(row pgx.Row) (*store.Endpoint, error) {
	e := &store.Endpoint{}
	return e, row.Scan(endpointDest(e)...)
}

// endpointArgs are the stored forms of the mutable columns, in the order
// uid, url, description, disabled, event_types, channels, throttle_rate,
// ordering, metadata, headers, secret, old_secrets, failing_since,
// updated_at.
func endpointArgs(ep *store.Endpoint) ([]any, error) {
	olds, err := oldSecrets(ep.OldSecrets)
	if err != nil {
		return nil, err
	}
	return []any{nstr(ep.UID), ep.URL, ep.Description, ep.Disabled, list(ep.EventTypes), list(ep.Channels), ep.ThrottleRate,
		int16(ep.Ordering), jsonMap(ep.Metadata), jsonMap(ep.Headers), ep.Secret, olds, ts(ep.FailingSince), ep.UpdatedAt}, nil
}

const sqlCreateEndpoint = `INSERT INTO endpoints (uid, url, description, disabled, event_types, channels, throttle_rate,
	ordering, metadata, headers, secret, old_secrets, failing_since, updated_at, id, app_id, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

// CreateEndpoint inserts ep, then events; ErrNotFound when its app does not
// exist, ErrConflict when its UID is taken within the app.
func (s *Store) CreateEndpoint(ctx context.Context, ep *store.Endpoint, events ...*store.Message) error {
	args, err := endpointArgs(ep)
	if err != nil {
		return wrap("create endpoint", err)
	}
	args = append(args, ep.ID, ep.AppID, ep.CreatedAt)
	if len(events) == 0 {
		_, err = s.exec(ctx, sqlCreateEndpoint, args...)
	} else {
		err = s.changeWithEvents(ctx, ep.AppID, events, func(b *pgx.Batch) { b.Queue(sqlCreateEndpoint, args...) })
	}
	return wrap("create endpoint", err)
}

const sqlGetEndpoint = `SELECT ` + storesql.EndpointCols + ` FROM endpoints AS e
	WHERE e.app_id = $1 AND (e.id = $2 OR e.uid = $2) ORDER BY e.id = $2 DESC LIMIT 1`

// GetEndpoint returns the endpoint of appID whose ID or UID is idOrUID.
func (s *Store) GetEndpoint(ctx context.Context, appID, idOrUID string) (*store.Endpoint, error) {
	ep, err := scanEndpoint(s.queryRow(ctx, sqlGetEndpoint, appID, idOrUID))
	if err != nil {
		return nil, wrap("get endpoint", err)
	}
	return ep, nil
}

// GetEndpointByID returns the endpoint with id, whatever its app.
func (s *Store) GetEndpointByID(ctx context.Context, id string) (*store.Endpoint, error) {
	ep, err := scanEndpoint(s.queryRow(ctx, `SELECT `+storesql.EndpointCols+` FROM endpoints AS e WHERE e.id = $1`, id))
	if err != nil {
		return nil, wrap("get endpoint", err)
	}
	return ep, nil
}

// ListEndpoints returns a page of the endpoints of appID ordered by ID.
func (s *Store) ListEndpoints(ctx context.Context, appID string, p store.Page) ([]*store.Endpoint, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT `+storesql.EndpointCols+` FROM endpoints AS e WHERE e.app_id = ?`, appID)
	q.Page("e.id", p)
	return queryList(ctx, s, "list endpoints", q, scanEndpoint)
}

// UpdateEndpoint sets the fields p names, writes p.Events, and returns the
// endpoint as written. Every SET term reads the row as it was before the
// statement, so failing_since is cleared only when the stored endpoint is
// disabled.
func (s *Store) UpdateEndpoint(ctx context.Context, p store.UpdateEndpointParams) (*store.Endpoint, error) {
	q, err := storesql.UpdateEndpoint(dialect, values, p)
	if err != nil {
		return nil, wrap("update endpoint", err)
	}
	var ep *store.Endpoint
	if len(p.Events) == 0 {
		ep, err = scanEndpoint(s.queryRow(ctx, q.String(), q.Args()...))
	} else {
		err = s.changeWithEvents(ctx, p.AppID, p.Events, func(b *pgx.Batch) {
			b.Queue(q.String(), q.Args()...).QueryRow(func(row pgx.Row) error {
				var err error
				ep, err = scanEndpoint(row)
				return err
			})
		})
	}
	if err != nil {
		return nil, wrap("update endpoint", err)
	}
	return ep, nil
}

const sqlDeleteEndpoint = `DELETE FROM endpoints WHERE id = $1 AND app_id = $2`

// DeleteEndpoint deletes the endpoint, then writes events; the trigger and
// foreign keys cascade to its deliveries, attempts and tasks.
func (s *Store) DeleteEndpoint(ctx context.Context, appID, id string, events ...*store.Message) error {
	if len(events) == 0 {
		return wrap("delete endpoint", mustAffect(s.exec(ctx, sqlDeleteEndpoint, id, appID)))
	}
	return wrap("delete endpoint", s.changeWithEvents(ctx, appID, events, func(b *pgx.Batch) {
		b.Queue(sqlDeleteEndpoint, id, appID).Exec(affected)
	}))
}

// SetEndpointCircuit stores the state of an endpoint's circuit breaker,
// leaving updated_at as it is.
func (s *Store) SetEndpointCircuit(ctx context.Context, id string, c store.Circuit) error {
	return wrap("set endpoint circuit", mustAffect(s.exec(ctx, `UPDATE endpoints SET circuit_open = $1, circuit_failures = $2,
		circuit_since = $3, circuit_next_probe = $4 WHERE id = $5`, c.Open, c.Failures, ts(c.Since), ts(c.NextProbe), id)))
}

// Event types.

func scanEventType(row pgx.Row) (*store.EventType, error) {
	et := &store.EventType{}
	err := row.Scan(&et.Name, &et.Description, &et.Archived, &et.Deprecated, &et.FeatureFlag, rawscan{&et.Schemas},
		vscan{&et.ValidatePayloads}, tscan{&et.CreatedAt}, tscan{&et.UpdatedAt})
	return et, err
}

// CreateEventType inserts et; ErrConflict when the name exists.
func (s *Store) CreateEventType(ctx context.Context, et *store.EventType) error {
	_, err := s.exec(ctx, `INSERT INTO event_types (`+storesql.EventTypeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		et.Name, et.Description, et.Archived, et.Deprecated, et.FeatureFlag, rawArg(et.Schemas), validationArg(et.ValidatePayloads),
		et.CreatedAt, et.UpdatedAt)
	return wrap("create event type", err)
}

// GetEventType returns the event type called name.
func (s *Store) GetEventType(ctx context.Context, name string) (*store.EventType, error) {
	et, err := scanEventType(s.queryRow(ctx, `SELECT `+storesql.EventTypeCols+` FROM event_types WHERE name = $1`, name))
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
	return queryList(ctx, s, "get event types", storesql.GetEventTypes(dialect, names), scanEventType)
}

// ListEventTypes returns a page of event types ordered by name.
func (s *Store) ListEventTypes(ctx context.Context, p store.ListEventTypesParams) ([]*store.EventType, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + storesql.EventTypeCols + ` FROM event_types WHERE true`)
	if !p.IncludeArchived {
		q.Add(` AND NOT archived`)
	}
	q.Page("name", p.Page)
	return queryList(ctx, s, "list event types", q, scanEventType)
}

// UpdateEventType sets the fields p names and returns the event type as
// written.
func (s *Store) UpdateEventType(ctx context.Context, p store.UpdateEventTypeParams) (*store.EventType, error) {
	q := storesql.UpdateEventType(dialect, values, p)
	et, err := scanEventType(s.queryRow(ctx, q.String(), q.Args()...))
	if err != nil {
		return nil, wrap("update event type", err)
	}
	return et, nil
}

// DeleteEventType removes the event type.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	return wrap("delete event type", mustAffect(s.exec(ctx, `DELETE FROM event_types WHERE name = $1`, name)))
}

// Background tasks.

const taskCols = `id, kind, app_id, endpoint_id, params, cursor, status, lease_until, created_at, updated_at`

func scanTask(row pgx.Row) (*store.Task, error) {
	t := &store.Task{}
	err := row.Scan(&t.ID, &t.Kind, sscan{&t.AppID}, sscan{&t.EndpointID}, rawscan{&t.Params}, &t.Cursor, &t.Status,
		tscan{&t.LeaseUntil}, tscan{&t.CreatedAt}, tscan{&t.UpdatedAt})
	return t, err
}

// CreateTask inserts a task; ErrNotFound when its app or endpoint is gone.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	_, err := s.exec(ctx, `INSERT INTO tasks (`+taskCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.Kind, nstr(t.AppID), nstr(t.EndpointID), rawArg(t.Params), t.Cursor, string(t.Status),
		ts(t.LeaseUntil), t.CreatedAt, t.UpdatedAt)
	return wrap("create task", err)
}

const sqlClaimTask = `UPDATE tasks SET lease_until = $1 WHERE id = (
	SELECT id FROM tasks WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= $2)
	ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ` + taskCols

// ClaimTask leases the oldest running task whose lease is free or ended;
// tasks another replica is claiming at this moment are skipped.
func (s *Store) ClaimTask(ctx context.Context, p store.ClaimTaskParams) (*store.Task, error) {
	now, leaseUntil := p.Now, p.LeaseUntil
	t, err := scanTask(s.queryRow(ctx, sqlClaimTask, leaseUntil, now))
	if err != nil {
		return nil, wrap("claim task", err)
	}
	return t, nil
}

const sqlUpdateTask = `UPDATE tasks SET cursor = $1, status = $2, lease_until = $3, updated_at = $4 WHERE id = $5`

// UpdateTask saves the cursor, status, lease and UpdatedAt of a task, then
// writes events.
func (s *Store) UpdateTask(ctx context.Context, t *store.Task, events ...*store.Message) error {
	args := []any{t.Cursor, string(t.Status), ts(t.LeaseUntil), t.UpdatedAt, t.ID}
	if len(events) == 0 {
		return wrap("update task", mustAffect(s.exec(ctx, sqlUpdateTask, args...)))
	}
	return wrap("update task", s.changeWithEvents(ctx, t.AppID, events, func(b *pgx.Batch) {
		b.Queue(sqlUpdateTask, args...).Exec(affected)
	}))
}

// GetTask returns a task.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.queryRow(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get task", err)
	}
	return t, nil
}

// API tokens.

// CreateToken inserts a token; ErrConflict when the hash exists.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (id, hash, app_id, name, expires_at, created_at, session) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.Hash, nstr(t.AppID), t.Name, ts(t.ExpiresAt), t.CreatedAt, t.Session)
	return wrap("create token", err)
}

// GetTokenByHash returns the token with that hash, expired or not.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		return nil, wrap("get token", err)
	}
	return t, nil
}

const tokenCols = `id, hash, app_id, name, expires_at, created_at, session`

func scanToken(row pgx.Row) (*store.Token, error) {
	t := &store.Token{}
	err := row.Scan(&t.ID, &t.Hash, sscan{&t.AppID}, &t.Name, tscan{&t.ExpiresAt}, tscan{&t.CreatedAt}, &t.Session)
	return t, err
}

// ListAPITokens returns a page of the admin API tokens, ordered by ID.
func (s *Store) ListAPITokens(ctx context.Context, p store.Page) ([]*store.Token, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + tokenCols + ` FROM tokens WHERE app_id IS NULL AND NOT session`)
	q.Page("id", p)
	return queryList(ctx, s, "list tokens", q, scanToken)
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return wrap("delete token", mustAffect(s.exec(ctx, `DELETE FROM tokens WHERE id = $1`, id)))
}

// DeleteAPIToken revokes an admin API token.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	return wrap("delete token", mustAffect(s.exec(ctx, `DELETE FROM tokens WHERE id = $1 AND app_id IS NULL AND NOT session`, id)))
}

// CountAdminTokens counts the tokens with no app, sessions aside.
func (s *Store) CountAdminTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM tokens WHERE app_id IS NULL AND NOT session`).Scan(&n); err != nil {
		return 0, wrap("count admin tokens", err)
	}
	return n, nil
}

// Idempotency.

const idemCols = `key, fingerprint, done, status_code, body, locked_until, expires_at, created_at`

func scanIdem(row pgx.Row) (*store.IdempotencyRecord, error) {
	r := &store.IdempotencyRecord{}
	err := row.Scan(&r.Key, &r.Fingerprint, &r.Done, &r.StatusCode, &r.Body, tscan{&r.LockedUntil}, tscan{&r.ExpiresAt}, tscan{&r.CreatedAt})
	return r, err
}

// BeginIdempotent starts a request under an idempotency key, or returns the
// live record that is already there. One upsert decides: it writes a new
// in-progress record unless a live one is there, and locks the row either
// way, so that the record read next is the one that won.
func (s *Store) BeginIdempotent(ctx context.Context, p store.BeginIdempotentParams) (*store.IdempotencyRecord, bool, error) {
	var (
		rec     *store.IdempotencyRecord
		started bool
	)
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `INSERT INTO idempotency AS i (`+idemCols+`) VALUES ($1, $2, false, 0, NULL, $3, $4, $5)
			ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, done = false, status_code = 0, body = NULL,
				locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at
			WHERE NOT (i.expires_at > $5 AND (i.done OR i.locked_until > $5))
			RETURNING 1`, p.Key, p.Fingerprint, p.LockUntil, p.ExpiresAt, p.Now).Scan(&one)
		switch {
		case err == nil:
			started = true
			rec = &store.IdempotencyRecord{Key: p.Key, Fingerprint: p.Fingerprint, LockedUntil: p.LockUntil, ExpiresAt: p.ExpiresAt, CreatedAt: p.Now}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		rec, err = scanIdem(tx.QueryRow(ctx, `SELECT `+idemCols+` FROM idempotency WHERE key = $1`, p.Key))
		return err
	})
	if err != nil {
		return nil, false, wrap("begin idempotent", err)
	}
	return rec, started, nil
}

// FinishIdempotent stores the response of a request under key.
func (s *Store) FinishIdempotent(ctx context.Context, key string, status int, body []byte) error {
	return wrap("finish idempotent", mustAffect(s.exec(ctx,
		`UPDATE idempotency SET done = true, status_code = $1, body = $2 WHERE key = $3`, status, body, key)))
}

// AbortIdempotent deletes the in-progress record under key, if any.
func (s *Store) AbortIdempotent(ctx context.Context, key string) error {
	_, err := s.exec(ctx, `DELETE FROM idempotency WHERE key = $1 AND NOT done`, key)
	return wrap("abort idempotent", err)
}

// Maintenance.

// Retention, a batch at a time; rows another replica is expiring at the
// same moment are skipped, not waited for.
const (
	sqlExpireIdempotency = `DELETE FROM idempotency WHERE key IN (
		SELECT key FROM idempotency WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	sqlExpirePayloads = `UPDATE messages SET payload = NULL WHERE (app_id, id) IN (
		SELECT app_id, id FROM messages WHERE payload IS NOT NULL AND payload_expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	sqlExpireTokens = `DELETE FROM tokens WHERE id IN (
		SELECT id FROM tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	// $1 is the start of the oldest hour kept.
	sqlExpireStats = `DELETE FROM endpoint_stats WHERE (endpoint_id, hour) IN (
		SELECT endpoint_id, hour FROM endpoint_stats WHERE hour < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// expireBatch bounds the rows one DeleteExpired statement changes.
const expireBatch = 1000

// DeleteExpired removes expired idempotency records and payloads, in
// statements of at most expireBatch rows each.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, x := range []struct {
		stmt string
		at   time.Time
	}{
		{sqlExpireIdempotency, now}, {sqlExpirePayloads, now}, {sqlExpireTokens, now},
		{sqlExpireStats, store.HourOf(now.Add(-store.StatsRetention))},
	} {
		for {
			tag, err := s.exec(ctx, x.stmt, x.at, expireBatch)
			if err != nil {
				return total, wrap("delete expired", err)
			}
			total += int(tag.RowsAffected())
			if tag.RowsAffected() < expireBatch {
				break
			}
		}
	}
	return total, nil
}

// sqlDeleteHistory reads up to $4 messages of the _old partition (the
// messages from before the partitions, migration 0007) accepted in
// [$2, $1), oldest first, and deletes up to $3 of them that have no delivery left to make
// (pending or blocked), skipping those another replica holds (it is
// deleting them); the cascade trigger takes their deliveries, attempts and
// tags. It returns how many it deleted and the newest time it deleted, and
// how many it read and the newest time it read.
//
// The check for deliveries to make is applied to the rows read, not in the
// read: there the planner, costing it for every old message rather than for
// the few the LIMIT keeps, hashes the whole deliveries table instead (1.7 s
// a call with 10 million deliveries). Only the rows to delete are locked.
const sqlDeleteHistory = `WITH scanned AS (
		SELECT o.app_id, o.id, o.created_at FROM messages_old AS o
		WHERE o.created_at < $1 AND o.created_at >= $2
		ORDER BY o.created_at LIMIT $4),
	doomed AS (SELECT m.app_id, m.id FROM scanned AS s
		JOIN messages_old AS m ON m.app_id = s.app_id AND m.id = s.id
		WHERE NOT EXISTS (SELECT 1 FROM deliveries_old AS d WHERE d.msg_id = s.id AND d.status IN (1, 5))
		ORDER BY s.created_at LIMIT $3 FOR UPDATE OF m SKIP LOCKED),
	gone AS (DELETE FROM messages_old AS m USING doomed
		WHERE m.app_id = doomed.app_id AND m.id = doomed.id RETURNING m.created_at)
	SELECT (SELECT count(*) FROM gone), (SELECT max(created_at) FROM gone),
		(SELECT count(*) FROM scanned), (SELECT max(created_at) FROM scanned)`

// historyWindow is how many messages a DeleteHistory call reads for each it
// may delete: with no message kept, a call reads twice what it deletes
// (each read costs three index lookups), and a run of kept messages is
// crossed two limits a call.
const historyWindow = 2

// DeleteHistory drops the oldest history partition whose time ends by
// p.Before and that has no delivery left to make (dropHistoryPartition),
// if there is one. Otherwise it deletes up to p.Limit messages of the _old
// partition accepted before p.Before, with their deliveries, attempts and
// tags, in one statement that reads historyWindow x p.Limit messages by
// their creation time, from where the previous call stopped (each replica
// keeps its own place).
func (s *Store) DeleteHistory(ctx context.Context, p store.DeleteHistoryParams) (int, bool, error) {
	if p.Limit <= 0 {
		return 0, true, nil
	}
	if n, dropped, err := s.dropHistoryPartition(ctx, p.Before); err != nil {
		return 0, false, wrap("delete history", err)
	} else if dropped {
		return n, false, nil
	}
	s.historyMu.Lock()
	defer s.historyMu.Unlock()
	if p.Rescan {
		s.historyAfter = time.Time{}
	}
	window := p.Limit * historyWindow
	var deleted, read int
	var lastDeleted, lastRead *time.Time
	err := s.queryRow(ctx, sqlDeleteHistory, p.Before, s.historyAfter, p.Limit, window).
		Scan(&deleted, &lastDeleted, &read, &lastRead)
	if err != nil {
		return 0, false, wrap("delete history", err)
	}
	switch {
	case deleted == p.Limit:
		// Messages read after the last one deleted are read again.
		s.historyAfter = *lastDeleted
		return deleted, false, nil
	case lastRead != nil:
		s.historyAfter = *lastRead
	}
	return deleted, read < window, nil
}

// Settings.

// GetSetting returns the value of key.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.queryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", wrap("get setting", err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value under key unless the key exists, and
// returns the value stored afterwards.
func (s *Store) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, value)
	b.Queue(`SELECT value FROM settings WHERE key = $1`, key).QueryRow(func(row pgx.Row) error { return row.Scan(&v) })
	if err := s.batch(ctx, b); err != nil {
		return "", wrap("put setting", err)
	}
	return v, nil
}
