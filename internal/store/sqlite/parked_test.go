package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// A store whose parked deliveries were found by the deliveries_parked index
// (migration 0006) notes them in parked_endpoints when it migrates (0007):
// they are claimed as before, and the index is gone.
func TestMigrateParkedDeliveriesToNotes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	var parked []string
	for range 3 {
		m := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`), CreatedAt: now}
		res, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: m, Lease: 1, LeaseUntil: now.Add(time.Minute), NoLease: []string{ep.ID}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		parked = append(parked, m.ID)
	}

	// Back to the schema of 0006, with the parked deliveries in place.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`DROP TABLE parked_endpoints`,
		`CREATE INDEX deliveries_parked ON deliveries (endpoint_id, updated_at) WHERE status = 1 AND next_attempt_at IS NULL`,
		`DELETE FROM herald_migrations WHERE version = 7`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var from string
	if err := db.QueryRowContext(ctx, `SELECT from_msg_id FROM parked_endpoints WHERE endpoint_id = ?`, ep.ID).Scan(&from); err != nil {
		t.Fatal(err)
	}
	if from != parked[0] {
		t.Fatalf("note from %s, want the first parked message %s", from, parked[0])
	}
	var indexes int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_parked'`).Scan(&indexes); err != nil || indexes != 0 {
		t.Fatalf("deliveries_parked after 0007: %d (%v)", indexes, err)
	}
	jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 2, Limit: 10, Parked: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[0].MsgID != parked[0] || jobs[2].MsgID != parked[2] {
		t.Fatalf("claimed %d parked deliveries after the migration; want the 3, in message order", len(jobs))
	}
}

// QueueStats counts parked deliveries up to parkedCountCap (10,000), so
// that a large parked backlog costs each sample the same, and finds the
// oldest among those each endpoint sends next.
func TestQueueStatsCapsTheParkedCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for range 2 {
		ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com", Secret: "s", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep.ID)
	}
	stats := func() *store.QueueStats {
		t.Helper()
		qs, err := s.QueueStats(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return qs
	}
	// 5,100 messages, each parked at both endpoints: 10,200 parked.
	for b := range 10 {
		var ps []store.CreateMessageParams
		for range 510 {
			m := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`),
				CreatedAt: now.Add(time.Duration(b) * time.Second)}
			ps = append(ps, store.CreateMessageParams{Message: m, Lease: 1, LeaseUntil: now.Add(time.Hour), NoLease: eps})
		}
		if _, err := s.CreateMessages(ctx, ps); err != nil {
			t.Fatal(err)
		}
		if b == 0 {
			if qs := stats(); qs.Parked != 1020 || !qs.OldestDue.Equal(now) {
				t.Fatalf("after 1,020 parked: %d parked, oldest %v; want 1020, %v", qs.Parked, qs.OldestDue, now)
			}
		}
	}
	if qs := stats(); qs.Parked != 10000 || !qs.OldestDue.Equal(now) {
		t.Fatalf("after 10,200 parked: %d parked, oldest %v; want the cap, 10000, and %v", qs.Parked, qs.OldestDue, now)
	}
}
