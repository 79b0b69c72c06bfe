package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// ListenDue listens on herald_due with a connection of its own (outside the
// pool) and calls fn for every notification, and once after each
// (re)connection. It reconnects with backoff (100ms doubling to 5s) for as
// long as ctx lasts.
func (s *Store) ListenDue(ctx context.Context, fn func()) error {
	backoff := time.Duration(0)
	for {
		err := s.listen(ctx, fn, func() { backoff = 0 })
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the connection was lost or refused: try again
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// listen runs one listening connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(), connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig)
	if err != nil {
		return convert(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+dueChannel); err != nil {
		return convert(err)
	}
	// Notifications name the schema of the write (see sqlNotifyDue).
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return convert(err)
	}
	connected()
	fn() // whatever was notified while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return ctx.Err()
			}
			return convert(err)
		}
		if n.Payload != schema {
			continue // another installation sharing the database
		}
		fn()
	}
}

// Heartbeat records that replica id is alive at now and returns how many
// replicas have had a heartbeat within ttl, forgetting the others.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time, ttl time.Duration) (int, error) {
	var n int
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO replicas (id, started_at, heartbeat_at) VALUES ($1, $2, $2)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, id, now)
	b.Queue(`DELETE FROM replicas WHERE heartbeat_at < $1`, now.Add(-ttl))
	b.Queue(`SELECT count(*) FROM replicas`).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	if err := s.batch(ctx, b); err != nil {
		return 0, wrap("heartbeat", err)
	}
	return n, nil
}

// Leave removes replica id.
func (s *Store) Leave(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, id)
	return wrap("leave", err)
}
