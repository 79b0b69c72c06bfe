package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The LISTEN connection's reconnection backoff: the first retry waits
// listenMinBackoff, each next one twice as long, up to listenMaxBackoff.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// ListenDue listens on herald_due with a connection of its own (outside the
// pool) and calls fn for every notification, and once after each
// (re)connection. When the connection fails (or cannot be made) it logs one
// warning and counts one failure (ListenFailures), however many attempts
// reconnecting takes, and retries with backoff (listenMinBackoff doubling
// to listenMaxBackoff) for as long as ctx lasts.
func (s *Store) ListenDue(ctx context.Context, fn func()) error {
	var (
		backoff time.Duration
		down    time.Time // when listening stopped; zero while listening
		retries int
	)
	connected := func() {
		if !down.IsZero() {
			s.log.InfoContext(ctx, "listening for due deliveries again",
				"down_for", time.Since(down).Round(time.Millisecond), "retries", retries)
		}
		backoff, down, retries = 0, time.Time{}, 0
	}
	for {
		err := s.listen(ctx, fn, connected)
		if ctx.Err() != nil {
			return nil
		}
		if down.IsZero() {
			down = time.Now()
			s.listenFailures.Add(1)
			s.log.WarnContext(ctx, "listening for due deliveries failed; reconnecting", "err", err)
		} else {
			s.log.DebugContext(ctx, "reconnecting the listener failed", "err", err, "retries", retries)
		}
		retries++
		backoff = min(max(2*backoff, listenMinBackoff), listenMaxBackoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// ListenFailures counts the failures of ListenDue's connection since the
// store was opened: one per failure, however many attempts reconnecting
// took.
func (s *Store) ListenFailures() int64 { return s.listenFailures.Load() }

// listen runs one listening connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(), connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig)
	if err != nil {
		return convert(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Notifications name the schema of the write (see sqlNotifyDue).
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return convert(err)
	}
	// LISTEN comes last, so that pg_stat_activity shows it as the
	// connection's query.
	if _, err := conn.Exec(ctx, `LISTEN `+dueChannel); err != nil {
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
	_, err := s.exec(ctx, `DELETE FROM replicas WHERE id = $1`, id)
	return wrap("leave", err)
}
