package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
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
	app, eps := fixtureEndpoints(t, s, 1)
	ep := eps[0]
	var parked []string
	for range 3 {
		m := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`), CreatedAt: now}
		res, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: m, Lease: 1, LeaseUntil: now.Add(time.Minute), NoLease: []string{ep}}})
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
	if err := db.QueryRowContext(ctx, `SELECT from_msg_id FROM parked_endpoints WHERE endpoint_id = ?`, ep).Scan(&from); err != nil {
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
	app, eps := fixtureEndpoints(t, s, 2)
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

// A parked claim reads at most a window of an endpoint's deliveries past
// its note (2,048), so that an old parked delivery with a long delivered
// history after it never holds the writer for the whole history; the
// claims that follow read on from where the last stopped.
func TestParkedClaimReadsAWindowAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	now := store.Truncate(time.Now())
	app, eps := fixtureEndpoints(t, s, 1)
	ep := eps[0]
	park := func() string {
		t.Helper()
		m := &store.Message{ID: ids.New(ids.Message), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`), CreatedAt: now}
		res, err := s.CreateMessages(ctx, []store.CreateMessageParams{{Message: m, Lease: 1, LeaseUntil: now.Add(time.Hour), NoLease: []string{ep}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		return m.ID
	}
	old := park()
	// 5,000 delivered messages after it, then one more parked.
	if err := s.Prefill(ctx, store.PrefillParams{AppID: app.ID, EndpointID: ep, URL: "https://example.com", EventType: "a.b", Messages: 5000,
		Payload: []byte(`{}`), Until: now, Every: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	recent := park()
	claim := func() []string {
		t.Helper()
		jobs, err := s.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Hour), Lease: 2, Limit: 100, Parked: true, PerEndpoint: 64})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, j.MsgID)
		}
		return out
	}
	for i, want := range [][]string{{old}, nil, {recent}, nil} {
		if got := claim(); !slices.Equal(got, want) {
			t.Fatalf("claim %d: %v, want %v", i+1, got, want)
		}
	}
	if qs, err := s.QueueStats(ctx, now); err != nil || qs.Parked != 0 {
		t.Fatalf("after the claims: %+v, %v; want nothing parked", qs, err)
	}
}
