package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// A table that holds rows but was never analyzed (a bulk load, autovacuum
// off or not there yet) is analyzed, once. (Without statistics PostgreSQL
// recorded a batch of attempts in a 10-million-row store by reading and
// sorting all the deliveries: BENCHMARKS.md; too large to build here.)
func TestAnalyzeUnanalyzed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t), WithMaxConns(1), WithPartitionWidth(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := &store.App{ID: ids.New(ids.App), Name: "a", CreatedAt: store.Truncate(now), UpdatedAt: store.Truncate(now)}
	if err := s.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: a.ID, URL: "https://example.com", Secret: "s", CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	if err := s.Prefill(ctx, store.PrefillParams{AppID: a.ID, EndpointID: ep.ID, URL: ep.URL, EventType: "a.b", Messages: n,
		Payload: []byte(`{"a":1}`), Until: now, Every: 20 * time.Minute / n}); err != nil {
		t.Fatal(err)
	}
	var suffix string
	if err := s.queryRow(ctx, `SELECT suffix FROM history_partitions WHERE lo <= $1 AND hi > $1`, now.Add(-time.Minute)).Scan(&suffix); err != nil {
		t.Fatal(err)
	}
	tables, _, err := s.AnalyzeUnanalyzed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"messages_", "deliveries_", "attempts_"} {
		if !slices.Contains(tables, want+suffix) {
			t.Errorf("analyzed %v; want %s among them", tables, want+suffix)
		}
	}
	for _, small := range []string{"apps", "endpoints"} {
		if slices.Contains(tables, small) {
			t.Errorf("analyzed %s, which holds a row", small)
		}
	}
	var stats int
	if err := s.queryRow(ctx, `SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = $1`, "deliveries_"+suffix).Scan(&stats); err != nil {
		t.Fatal(err)
	}
	if stats == 0 {
		t.Fatalf("deliveries_%s has no statistics after the pass", suffix)
	}
	again, _, err := s.AnalyzeUnanalyzed(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second pass analyzed %v (%v); want none", again, err)
	}

	// A table ANALYZE leaves without statistics (here: its rows all
	// deleted) is analyzed once, not at every pass.
	if _, err := s.exec(ctx, `CREATE TABLE emptied AS SELECT repeat('x', 1000) AS x FROM generate_series(1, 2000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, `DELETE FROM emptied`); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"emptied"}, nil} {
		got, _, err := s.AnalyzeUnanalyzed(ctx)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("pass %d after emptying a table: %v (%v); want %v", i+1, got, err, want)
		}
	}

}
