package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// Views of the portal and the console.

// sqlAddStats adds a batch's attempts of one endpoint and hour to its
// counters.
const sqlAddStats = `INSERT INTO endpoint_stats (endpoint_id, hour, success, fail) VALUES (?, ?, ?, ?)
	ON CONFLICT (endpoint_id, hour) DO UPDATE SET success = success + excluded.success, fail = fail + excluded.fail`

// hourKey is one endpoint's hour of attempts.
type hourKey struct {
	endpointID string
	hour       int64
}

// hourCounts sums up the attempts a batch recorded, by endpoint and hour.
type hourCounts struct {
	keys []hourKey // in the order first seen
	n    map[hourKey]*[2]int64
}

func (h *hourCounts) add(endpointID string, at time.Time, success bool) {
	k := hourKey{endpointID, tsv(store.HourOf(at))}
	if h.n == nil {
		h.n = map[hourKey]*[2]int64{}
	}
	c := h.n[k]
	if c == nil {
		c = &[2]int64{}
		h.n[k] = c
		h.keys = append(h.keys, k)
	}
	if success {
		c[0]++
	} else {
		c[1]++
	}
}

// write adds the counts to the counters with stmt (sqlAddStats, prepared
// once and bound to the batch's transaction).
func (h *hourCounts) write(ctx context.Context, stmt *sql.Stmt) error {
	for _, k := range h.keys {
		c := h.n[k]
		if _, err := stmt.ExecContext(ctx, k.endpointID, k.hour, c[0], c[1]); err != nil {
			return err
		}
	}
	return nil
}

const sqlEndpointHours = `SELECT endpoint_id, hour, success, fail FROM endpoint_stats
	WHERE endpoint_id IN (SELECT value FROM json_each(?)) AND hour >= ? ORDER BY endpoint_id, hour`

// EndpointHours returns the hourly counters of the endpoints among ids.
func (s *Store) EndpointHours(ctx context.Context, endpointIDs []string, since time.Time) ([]store.EndpointHour, error) {
	if len(endpointIDs) == 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, sqlEndpointHours, dialect.List(endpointIDs), tsv(since))
	if err != nil {
		return nil, wrap("endpoint hours", err)
	}
	defer rows.Close()
	var out []store.EndpointHour
	for rows.Next() {
		var h store.EndpointHour
		if err := rows.Scan(&h.EndpointID, tscan{&h.Hour}, &h.Success, &h.Fail); err != nil {
			return nil, wrap("endpoint hours", err)
		}
		out = append(out, h)
	}
	return out, wrap("endpoint hours", rows.Err())
}

const sqlFailingEndpoints = `SELECT ` + storesql.EndpointCols + ` FROM endpoints AS e INDEXED BY endpoints_failing
	WHERE (e.failing_since IS NOT NULL OR e.disabled = 1)`

// ListFailingEndpoints returns a page of the disabled or failing endpoints
// of every app, ordered by ID.
func (s *Store) ListFailingEndpoints(ctx context.Context, p store.Page) ([]*store.Endpoint, error) {
	q := storesql.New(dialect)
	q.Add(sqlFailingEndpoints)
	q.Page("e.id", p)
	return list(ctx, s.r, "list failing endpoints", q, scanEndpoint)
}

// CountMessagesSince counts an app's messages created at or after since, up
// to max.
func (s *Store) CountMessagesSince(ctx context.Context, appID string, since time.Time, max int) (int, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT count(*) FROM (SELECT 1 FROM messages AS m WHERE m.app_id = ?`, appID)
	q.Since("m.created_at", "m.id", ids.Message, since, false)
	q.Add(` LIMIT ?)`, max)
	var n int
	if err := s.queryRow(ctx, q.String(), q.Args()...).Scan(&n); err != nil {
		return 0, wrap("count messages", err)
	}
	return n, nil
}

// FindApps returns a page of the apps whose name or uid contains text,
// ignoring ASCII case, ordered by ID.
func (s *Store) FindApps(ctx context.Context, text string, p store.Page) ([]*store.App, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT `+storesql.AppCols+` FROM apps WHERE (instr(lower(name), lower(?1)) > 0 OR instr(lower(coalesce(uid, '')), lower(?1)) > 0)`, text)
	// The page's placeholders follow ?1.
	q.Page("id", p)
	return list(ctx, s.r, "find apps", q, scanApp)
}

// NthMessageID returns the ID of the n-th message of an app in p's order.
func (s *Store) NthMessageID(ctx context.Context, appID string, p store.Page, n int) (string, error) {
	return s.nthID(ctx, "nth message", storesql.Nth(dialect, "id", "messages WHERE app_id = ?", p, n, appID))
}

// NthEndpointAttemptID returns the ID of the n-th attempt of an endpoint in
// p's order.
func (s *Store) NthEndpointAttemptID(ctx context.Context, endpointID string, p store.Page, n int) (string, error) {
	return s.nthID(ctx, "nth attempt", storesql.Nth(dialect, "id", "attempts WHERE endpoint_id = ?", p, n, endpointID))
}

func (s *Store) nthID(ctx context.Context, what string, q *storesql.Query) (string, error) {
	var id string
	err := s.queryRow(ctx, q.String(), q.Args()...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, wrap(what, err)
}
