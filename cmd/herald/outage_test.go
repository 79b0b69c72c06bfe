package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// TestPostgresOutage takes the database away from a loaded `herald serve`
// and brings it back: first its connections are cut again and again, then
// the database refuses connections for a while (as during a restart), all
// on a database of the test's own so that no other test notices. While the
// database is away the API answers 503 (never a 2xx, never a 500) and the
// health check fails; afterwards everything resumes by itself and every
// message acknowledged with 202 is delivered.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	db, name := pgtest.Database(t)
	bin := buildHerald(t)
	tr := newTracker(t, time.Millisecond)
	p := serve(t, bin, db, "--db-max-conns", "6")
	base := "http://" + p.addr
	setupApp(t, base, tr.srv.URL)

	var (
		mu       sync.Mutex
		acked    []string
		statuses = map[int]int{}
		down     atomic.Bool // the database refuses connections
		downAck  atomic.Int32
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	ctx := context.Background()
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				wasDown := down.Load()
				code, b, err := post(ctx, base+"/api/v1/app/load/msg", map[string]any{
					"eventType": "outage.test", "payload": map[string]any{"w": w, "i": i},
				})
				if err != nil {
					t.Errorf("request failed: %v", err)
					return
				}
				mu.Lock()
				statuses[code]++
				if code == 202 {
					var m struct{ ID string }
					json.Unmarshal(b, &m)
					acked = append(acked, m.ID)
					if wasDown && down.Load() {
						downAck.Add(1)
					}
				}
				mu.Unlock()
				if code != 202 {
					time.Sleep(5 * time.Millisecond) // as a client honouring Retry-After would, but sooner
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitAcks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d messages acknowledged, waiting for %d", count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	terminate := `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + name + `' AND pid <> pg_backend_pid()`

	// Connections cut under load, five times.
	waitAcks(300)
	for range 5 {
		pgtest.Exec(t, terminate)
		time.Sleep(200 * time.Millisecond)
	}
	waitAcks(count() + 300)

	// The database refuses connections for two seconds.
	pgtest.Exec(t, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	pgtest.Exec(t, terminate)
	down.Store(true)
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	before503 := statuses[503]
	mu.Unlock()
	resp, err := http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("health check while the database is away: %d, want 503", resp.StatusCode)
	}
	time.Sleep(1800 * time.Millisecond)
	mu.Lock()
	during503 := statuses[503] - before503
	mu.Unlock()
	down.Store(false)
	pgtest.Exec(t, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)

	// Back: acknowledgements resume by themselves.
	waitAcks(count() + 500)
	close(stop)
	wg.Wait()

	if during503 == 0 {
		t.Error("no request was answered 503 while the database refused connections")
	}
	if n := downAck.Load(); n != 0 {
		t.Errorf("%d messages acknowledged while the database refused connections", n)
	}
	for code, n := range statuses {
		if code != 202 && code != 503 {
			t.Errorf("%d requests answered %d; want only 202 or 503", n, code)
		}
	}
	t.Logf("answers: %v", statuses)
	tr.waitAll(t, acked, 60*time.Second)
	if c := tr.concurrent.Load(); c != 0 {
		t.Errorf("%d times a message was being sent twice at the same time", c)
	}
	t.Logf("all %d acknowledged messages delivered; %d delivered more than once", len(acked), len(tr.duplicates()))
}
