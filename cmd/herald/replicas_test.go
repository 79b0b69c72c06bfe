package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// tracker is a webhook receiver that records, per webhook-id, how many times
// it was received and when the first request began, and counts the times a
// message was being received twice at the same moment.
type tracker struct {
	srv        *httptest.Server
	mu         sync.Mutex
	received   map[string]int
	first      map[string]time.Time
	inFlight   map[string]bool
	concurrent atomic.Int32
}

func newTracker(t *testing.T, hold time.Duration) *tracker {
	tr := &tracker{received: map[string]int{}, first: map[string]time.Time{}, inFlight: map[string]bool{}}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		tr.mu.Lock()
		if tr.inFlight[id] {
			tr.concurrent.Add(1)
		}
		tr.inFlight[id] = true
		if _, ok := tr.first[id]; !ok {
			tr.first[id] = time.Now()
		}
		tr.mu.Unlock()
		time.Sleep(hold)
		tr.mu.Lock()
		delete(tr.inFlight, id)
		tr.received[id]++
		tr.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

// waitAll waits until every id in acked was received, or fails.
func (tr *tracker) waitAll(t *testing.T, acked []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		tr.mu.Lock()
		for _, id := range acked {
			if tr.received[id] == 0 {
				missing++
			}
		}
		tr.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never delivered", missing, len(acked))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// duplicates returns the ids received more than once, with the time their
// first request began.
func (tr *tracker) duplicates() map[string]time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]time.Time{}
	for id, n := range tr.received {
		if n > 1 {
			out[id] = tr.first[id]
		}
	}
	return out
}

// setupApp creates the app "load" with one endpoint to url through base.
func setupApp(t *testing.T, base, url string) {
	t.Helper()
	ctx := context.Background()
	if code, b, err := post(ctx, base+"/api/v1/app", map[string]any{"name": "load", "uid": "load"}); err != nil || code != 201 {
		t.Fatalf("create app: %d %s %v", code, b, err)
	}
	if code, b, err := post(ctx, base+"/api/v1/app/load/endpoint", map[string]any{"url": url}); err != nil || code != 201 {
		t.Fatalf("create endpoint: %d %s %v", code, b, err)
	}
}

// TestReplicasKill9LosesNothing runs three `herald serve` replicas on one
// PostgreSQL database, sends 10,000 messages spread over them, and kills one
// replica with SIGKILL midway. Every message acknowledged with 202 must be
// delivered; a message may be delivered twice only if the killed replica
// had begun sending it before it died; and no message is ever being sent
// twice at the same time.
func TestReplicasKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	db := pgtest.Schema(t)
	bin := buildHerald(t)
	tr := newTracker(t, 2*time.Millisecond)

	flags := []string{"--endpoint-concurrency", "48", "--db-max-conns", "8"}
	replicas := []*process{serve(t, bin, db, flags...)}
	setupApp(t, "http://"+replicas[0].addr, tr.srv.URL)
	replicas = append(replicas, serve(t, bin, db, flags...), serve(t, bin, db, flags...))

	const (
		total   = 10000
		killAt  = 3000
		senders = 24
		victim  = 1
	)
	var (
		ackMu    sync.Mutex
		acked    []string
		refused  atomic.Int32
		killed   atomic.Bool
		killTime time.Time
		once     sync.Once
		wg       sync.WaitGroup
	)
	ctx := context.Background()
	for w := range senders {
		wg.Go(func() {
			r := w % len(replicas)
			for i := 0; ; i++ {
				if r == victim && killed.Load() {
					r = (r + 1) % len(replicas) // its clients move to another replica
				}
				ackMu.Lock()
				done := len(acked) >= total
				ackMu.Unlock()
				if done {
					return
				}
				code, b, err := post(ctx, "http://"+replicas[r].addr+"/api/v1/app/load/msg", map[string]any{
					"eventType": "load.test", "payload": map[string]any{"w": w, "i": i},
				})
				if err != nil || code != 202 {
					refused.Add(1) // not acknowledged: the sender would retry
					continue
				}
				var m struct{ ID string }
				json.Unmarshal(b, &m)
				ackMu.Lock()
				acked = append(acked, m.ID)
				n := len(acked)
				ackMu.Unlock()
				if n == killAt {
					once.Do(func() {
						replicas[victim].cmd.Process.Signal(syscall.SIGKILL)
						killTime = time.Now()
						killed.Store(true)
					})
				}
			}
		})
	}
	wg.Wait()
	start := time.Now()
	tr.waitAll(t, acked, 60*time.Second)
	t.Logf("%d messages acknowledged (%d requests refused around the kill); all delivered %v after the last acknowledgement",
		len(acked), refused.Load(), time.Since(start).Round(time.Millisecond))

	dups := tr.duplicates()
	for id, first := range dups {
		// The kill is effective at once; allow for the request's way to
		// the receiver.
		if first.After(killTime.Add(100 * time.Millisecond)) {
			t.Errorf("message %s delivered twice, first at %v, after the kill at %v: only sends in flight at the kill may repeat",
				id, first.Format(time.StampMicro), killTime.Format(time.StampMicro))
		}
	}
	t.Logf("%d messages delivered twice (in flight at the kill)", len(dups))
	if c := tr.concurrent.Load(); c != 0 {
		t.Errorf("%d times a message was being sent twice at the same time", c)
	}
}
