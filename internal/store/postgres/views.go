package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// Views of the portal and the console.

// sqlAddStats adds the attempts of a CompleteDeliveries batch to the hourly
// counters. It runs in the batch's transaction just before the attempts are
// inserted, and counts those the insert will record: whose delivery exists
// and which are not recorded yet. Rows are written in key order, so that
// concurrent batches lock them in the same order.
const sqlAddStats = `INSERT INTO endpoint_stats (endpoint_id, hour, success, fail)
	SELECT a.endpoint_id, a.hour, count(*) FILTER (WHERE a.status = 0), count(*) FILTER (WHERE a.status <> 0)
	FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[]) AS a (id, msg_id, endpoint_id, status, hour)
	WHERE EXISTS (SELECT 1 FROM deliveries AS d WHERE d.msg_id = a.msg_id AND d.endpoint_id = a.endpoint_id)
		AND NOT EXISTS (SELECT 1 FROM attempts AS x WHERE x.msg_id = a.msg_id AND x.id = a.id)
	GROUP BY a.endpoint_id, a.hour
	ORDER BY a.endpoint_id, a.hour
	ON CONFLICT (endpoint_id, hour) DO UPDATE SET
		success = endpoint_stats.success + excluded.success, fail = endpoint_stats.fail + excluded.fail`

// hoursOf returns the hour each attempt time counts in.
func hoursOf(at []pgtype.Timestamptz) []pgtype.Timestamptz {
	out := make([]pgtype.Timestamptz, len(at))
	for i, t := range at {
		out[i] = ts(store.HourOf(t.Time))
	}
	return out
}

// EndpointHours returns the hourly counters of the endpoints among ids.
func (s *Store) EndpointHours(ctx context.Context, endpointIDs []string, since time.Time) ([]store.EndpointHour, error) {
	if len(endpointIDs) == 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, `SELECT endpoint_id, hour, success, fail FROM endpoint_stats
		WHERE endpoint_id = ANY($1) AND hour >= $2 ORDER BY endpoint_id, hour`, endpointIDs, since)
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

// ListFailingEndpoints returns a page of the disabled or failing endpoints
// of every app, ordered by ID.
func (s *Store) ListFailingEndpoints(ctx context.Context, p store.Page) ([]*store.Endpoint, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT ` + storesql.EndpointCols + ` FROM endpoints AS e WHERE (e.failing_since IS NOT NULL OR e.disabled)`)
	q.Page("e.id", p)
	return queryList(ctx, s, "list failing endpoints", q, scanEndpoint)
}

// CountMessagesSince counts an app's messages created at or after since, up
// to max.
func (s *Store) CountMessagesSince(ctx context.Context, appID string, since time.Time, max int) (int, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT count(*) FROM (SELECT 1 FROM messages AS m WHERE m.app_id = ?`, appID)
	q.Since("m.created_at", "m.id", ids.Message, since, false)
	q.Add(` LIMIT ?) AS c`, max)
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
	// lower() folds more than ASCII on PostgreSQL; translate keeps the
	// rule SQLite's lower() has.
	q.Add(`SELECT `+storesql.AppCols+` FROM apps WHERE (strpos(`+asciiLower("name")+`, `+asciiLower("?")+`) > 0
		OR strpos(`+asciiLower("coalesce(uid, '')")+`, `+asciiLower("?")+`) > 0)`, text, text)
	q.Page("id", p)
	return queryList(ctx, s, "find apps", q, scanApp)
}

// asciiLower is the SQL that lowers the ASCII letters of expr only.
func asciiLower(expr string) string {
	return `translate(` + expr + `, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`
}

// NthMessageID returns the ID of the n-th message of an app in p's order.
func (s *Store) NthMessageID(ctx context.Context, appID string, p store.Page, n int) (string, error) {
	return s.nthID(ctx, "nth message", "messages WHERE app_id = ?", appID, p, n)
}

// NthEndpointAttemptID returns the ID of the n-th attempt of an endpoint in
// p's order.
func (s *Store) NthEndpointAttemptID(ctx context.Context, endpointID string, p store.Page, n int) (string, error) {
	return s.nthID(ctx, "nth attempt", "attempts WHERE endpoint_id = ?", endpointID, p, n)
}

// nthID reads the n-th id of the rows that from (with its one argument)
// selects, in p's order.
func (s *Store) nthID(ctx context.Context, what, from string, arg any, p store.Page, n int) (string, error) {
	q := storesql.New(dialect)
	q.Add(`SELECT id FROM `+from, arg)
	if p.After != "" {
		if p.Desc {
			q.Add(" AND id < ?", p.After)
		} else {
			q.Add(" AND id > ?", p.After)
		}
	}
	if p.Desc {
		q.Add(" ORDER BY id DESC")
	} else {
		q.Add(" ORDER BY id")
	}
	q.Add(" LIMIT 1 OFFSET ?", max(n-1, 0))
	var id string
	err := s.queryRow(ctx, q.String(), q.Args()...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, wrap(what, err)
}
