package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// staleStore opens a store with hourly partitions holding the messages of
// two apps, each with an endpoint: "known", analyzed, and "fresh", written
// after the ANALYZE (so the planner's statistics do not know it), half in
// the partition of the hour before the store was made (_old) and half
// after. The fresh endpoint's deliveries are a backlog: a third each of due
// first attempts, due retries and parked deliveries.
func staleStore(t *testing.T, fresh int) (s *Store, known, freshApp *store.App, freshEp *store.Endpoint) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t), WithMaxConns(1), WithPartitionWidth(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// n messages of an app, half 70 minutes ago (in _old, before the
	// first partition, which starts at the hour the store was made) and
	// half now, each with a delivery and an attempt.
	app := func(name string, n int) (*store.App, *store.Endpoint) {
		at := store.Truncate(now)
		a := &store.App{ID: ids.New(ids.App), Name: name, CreatedAt: at, UpdatedAt: at}
		if err := s.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: a.ID, URL: "https://example.com", Secret: "s", CreatedAt: at, UpdatedAt: at}
		if err := s.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		for _, when := range []time.Time{now.Add(-70 * time.Minute), now} {
			msg, att := ids.At(ids.Message, when)[:21], ids.At(ids.Attempt, when)[:23]
			if _, err := s.exec(ctx, `WITH m AS (
					INSERT INTO messages (id, app_id, event_type, payload, created_at)
					SELECT $1 || lpad(i::text, 10, '0'), $3, 'a.b', '{"a":1}', $5 FROM generate_series(1, $6) AS i
					RETURNING id
				), d AS (
					INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, last_attempt_at, last_status_code, created_at, updated_at)
					SELECT id, $4, $3, 0, 1, $5, 200, $5, $5 FROM m
				)
				INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, duration_ms, trigger_type, event_type, created_at)
				SELECT $2 || right(id, 10), $3, id, $4, 'u', 0, 200, 1, 0, 'a.b', $5 FROM m`,
				msg, att, a.ID, ep.ID, when, n/2); err != nil {
				t.Fatal(err)
			}
		}
		return a, ep
	}
	known, _ = app("known", 2000)
	if _, err := s.exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	freshApp, freshEp = app("fresh", fresh)
	if _, err := s.exec(ctx, `UPDATE deliveries AS d SET status = 1, lease = 0,
			attempts = CASE WHEN k = 1 THEN 1 ELSE 0 END,
			next_attempt_at = CASE WHEN k = 2 THEN NULL ELSE d.created_at END
		FROM (SELECT msg_id, abs(hashtext(msg_id)) % 3 AS k FROM deliveries WHERE endpoint_id = $1) AS x
		WHERE d.endpoint_id = $1 AND d.msg_id = x.msg_id`, freshEp.ID); err != nil {
		t.Fatal(err)
	}
	var inOld int
	if err := s.queryRow(ctx, `SELECT count(*) FROM messages_old WHERE app_id = $1`, freshApp.ID).Scan(&inOld); err != nil {
		t.Fatal(err)
	}
	if inOld == 0 || inOld == fresh {
		t.Fatalf("%d of the %d fresh messages are in messages_old; want them in two partitions", inOld, fresh)
	}
	return s, known, freshApp, freshEp
}

// rowsRead returns how many index entries and table rows the store's
// queries have read in its schema so far (the pool's one connection's
// statistics, flushed first).
func rowsRead(t *testing.T, s *Store) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.queryRow(ctx, `SELECT
		(SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE schemaname = current_schema()) +
		(SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables WHERE schemaname = current_schema())`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Statistics that do not know an app's or an endpoint's rows (new since the
// last ANALYZE, or a backlog grown since) must not turn a page of a list, a
// message's look-up or a claim into a read of all those rows: the planner
// then prefers reading every matching row of every partition and sorting
// them, or walking an app's messages for one id (BENCHMARKS.md, "A store
// with 10 million messages").
func TestStaleStatisticsReadAPageNotAllRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fresh = 12000
	s, _, app, ep := staleStore(t, fresh)
	var mid, midEvent string
	if err := s.queryRow(ctx, `SELECT id FROM messages WHERE app_id = $1 ORDER BY id OFFSET $2 LIMIT 1`, app.ID, fresh/2).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	midEvent = "evt_" + mid
	if _, err := s.exec(ctx, `UPDATE messages SET event_id = $3 WHERE app_id = $1 AND id = $2`, app.ID, mid, midEvent); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// A page is 51 rows; a claim 100. Reading a page from each partition's
	// index, with the look-ups that go with it, reads a few hundred
	// entries; reading all the fresh rows reads thousands.
	const most = 1500
	page := store.Page{Limit: 51, Desc: true}
	cases := []struct {
		name string
		want int // rows returned
		run  func() (int, error)
	}{
		{"list messages", 51, func() (int, error) {
			ms, err := s.ListMessages(ctx, store.ListMessagesParams{AppID: app.ID, Page: page})
			return len(ms), err
		}},
		{"list endpoint messages", 51, func() (int, error) {
			ms, err := s.ListEndpointMessages(ctx, store.ListEndpointMessagesParams{AppID: app.ID, EndpointID: ep.ID, Page: page})
			return len(ms), err
		}},
		{"list endpoint attempts", 51, func() (int, error) {
			as, err := s.ListAttempts(ctx, store.ListAttemptsParams{AppID: app.ID, EndpointID: ep.ID, Page: page})
			return len(as), err
		}},
		{"get message", 1, func() (int, error) {
			m, err := s.GetMessage(ctx, app.ID, mid)
			if err == nil && m.ID != mid {
				t.Errorf("get message %s: got %s", mid, m.ID)
			}
			return 1, err
		}},
		{"get message by event id", 1, func() (int, error) {
			m, err := s.GetMessage(ctx, app.ID, midEvent)
			if err == nil && m.ID != mid {
				t.Errorf("get message by event id %s: got %s, want %s", midEvent, m.ID, mid)
			}
			return 1, err
		}},
		{"claim first attempts", 100, func() (int, error) {
			jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 1, Limit: 100})
			return len(jobs), err
		}},
		{"claim retries", 100, func() (int, error) {
			jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 2, Limit: 100, Retries: true})
			return len(jobs), err
		}},
		{"claim parked", 100, func() (int, error) {
			jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 3, Limit: 100, Parked: true, PerEndpoint: 100})
			return len(jobs), err
		}},
	}
	for _, c := range cases {
		before := rowsRead(t, s)
		n, err := c.run()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != c.want {
			t.Fatalf("%s: %d rows, want %d", c.name, n, c.want)
		}
		if read := rowsRead(t, s) - before; read > most {
			t.Errorf("%s read %d index entries and rows for a page (at most %d); the fresh app has %d messages", c.name, read, most, fresh)
		} else {
			t.Logf("%s: %d read", c.name, read)
		}
	}
}
