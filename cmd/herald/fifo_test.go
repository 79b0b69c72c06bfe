package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// fifoReceiver receives messages whose payload is {"k": key, "n": n} and
// records each key's arrivals in order. It refuses the first attempt of
// every seventh message (with a 409: a refusal is retried, but does not
// count towards the circuit breaker, which every key failing at once would
// open), and counts the requests of a key that arrived while another of
// that key was in flight.
type fifoReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	arrivals map[string][]int
	attempts map[string]int
	ok       map[string]bool // (key, n) answered 200
	inFlight map[string]int
	overlaps atomic.Int32
	peak     int
	total    int
}

func newFIFOReceiver(t *testing.T, hold time.Duration) *fifoReceiver {
	f := &fifoReceiver{arrivals: map[string][]int{}, attempts: map[string]int{}, ok: map[string]bool{}, inFlight: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			K string `json:"k"`
			N int    `json:"n"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		id := fmt.Sprintf("%s/%d", p.K, p.N)
		f.mu.Lock()
		if f.inFlight[p.K] > 0 {
			f.overlaps.Add(1)
		}
		f.inFlight[p.K]++
		f.total++
		f.peak = max(f.peak, f.total)
		f.arrivals[p.K] = append(f.arrivals[p.K], p.N)
		f.attempts[id]++
		status := 200
		if p.N%7 == 3 && f.attempts[id] == 1 {
			status = http.StatusConflict
		}
		f.mu.Unlock()
		time.Sleep(hold)
		f.mu.Lock()
		f.inFlight[p.K]--
		f.total--
		if status == 200 {
			f.ok[id] = true
		}
		f.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// fifoLoad sends messages of keys from one sender per key, each waiting for
// its 202 before the next (so that each key's acceptance order is its
// sending order), to base(i) for the i-th message, until stop is closed or
// perKey messages are acknowledged. It returns the n acknowledged per key.
func fifoLoad(keys []string, perKey int, base func(i int) string, stop <-chan struct{}, acked func(total int)) map[string]int {
	var (
		mu    sync.Mutex
		count = map[string]int{}
		total int
		wg    sync.WaitGroup
	)
	for _, k := range keys {
		wg.Go(func() {
			for n := 1; n <= perKey; n++ {
				select {
				case <-stop:
					return
				default:
				}
				body := map[string]any{"eventType": "order.updated", "orderingKey": k, "payload": map[string]any{"k": k, "n": n}}
				code, _, err := post(context.Background(), base(n)+"/api/v1/app/fifo/msg", body)
				if errors.Is(err, syscall.ECONNREFUSED) {
					// Refused at the door: not stored. Again, wherever
					// base sends it now.
					code, _, err = post(context.Background(), base(n)+"/api/v1/app/fifo/msg", body)
				}
				if err != nil || code != 202 {
					return // not acknowledged: it may be stored or not, so this key stops here
				}
				mu.Lock()
				count[k] = n
				total++
				t := total
				mu.Unlock()
				acked(t)
			}
		})
	}
	wg.Wait()
	return count
}

// waitInOrder waits until every acknowledged message was answered 200, then
// checks each key's arrivals: once repeats (retries, and the sends cut off
// by a kill) are folded, they must be 1, 2, ... in order, each message sent
// only after the one before it succeeded. A message stored but not
// acknowledged (the kill cut its answer off) may follow the last one.
func (f *fifoReceiver) waitInOrder(t *testing.T, acked map[string]int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		f.mu.Lock()
		for k, last := range acked {
			for n := 1; n <= last; n++ {
				if !f.ok[fmt.Sprintf("%s/%d", k, n)] {
					missing++
				}
			}
		}
		f.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages never delivered", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, last := range acked {
		got := slices.Compact(slices.Clone(f.arrivals[k]))
		if len(got) > last && len(got) == last+1 && got[last] == last+1 {
			got = got[:last]
		}
		want := make([]int, last)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Errorf("key %s: arrivals %v, want 1..%d in order", k, f.arrivals[k], last)
		}
	}
	if n := f.overlaps.Load(); n != 0 {
		t.Errorf("%d times a message arrived while another of its key was in flight", n)
	}
}

// setupFIFO creates the app "fifo" with one FIFO endpoint to url through
// base.
func setupFIFO(t *testing.T, base, url string) {
	t.Helper()
	ctx := context.Background()
	if code, b, err := post(ctx, base+"/api/v1/app", map[string]any{"name": "fifo", "uid": "fifo"}); err != nil || code != 201 {
		t.Fatalf("create app: %d %s %v", code, b, err)
	}
	if code, b, err := post(ctx, base+"/api/v1/app/fifo/endpoint", map[string]any{"url": url, "ordering": "fifo"}); err != nil || code != 201 {
		t.Fatalf("create endpoint: %d %s %v", code, b, err)
	}
}

// TestFIFOKill9KeepsOrder kills `herald serve` with SIGKILL while messages
// of eight ordering keys are being accepted and delivered to a FIFO
// endpoint (which refuses some of them once), restarts it on the same
// database, and checks that every acknowledged message is delivered and
// that each key's messages arrived in the order they were accepted, never
// two of one key at once.
func TestFIFOKill9KeepsOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildHerald(t)
	db := filepath.Join(t.TempDir(), "herald.db")
	rc := newFIFOReceiver(t, 5*time.Millisecond)
	p := serve(t, bin, db)
	setupFIFO(t, "http://"+p.addr, rc.srv.URL)

	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	stop := make(chan struct{})
	var once sync.Once
	acked := fifoLoad(keys, 1000, func(int) string { return "http://" + p.addr }, stop, func(total int) {
		if total >= 600 {
			once.Do(func() {
				p.cmd.Process.Signal(syscall.SIGKILL)
				close(stop)
			})
		}
	})
	p.cmd.Wait()
	rc.mu.Lock()
	before := len(rc.ok)
	rc.mu.Unlock()
	t.Logf("%v acknowledged per key; %d delivered before the kill", acked, before)

	serve(t, bin, db)
	rc.waitInOrder(t, acked, 60*time.Second)
	t.Logf("after the restart every acknowledged message arrived, each key in order; %d requests of different keys in flight at most", rc.peak)
}

// TestReplicasFIFO runs two `herald serve` replicas on one PostgreSQL
// database, sends the messages of eight ordering keys to a FIFO endpoint
// through both in turn, and kills one replica with SIGKILL midway: each
// key's messages must arrive in the order they were accepted, whichever
// replica accepted and sent them, never two of one key at once.
func TestReplicasFIFO(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	db := pgtest.Schema(t)
	bin := buildHerald(t)
	rc := newFIFOReceiver(t, 2*time.Millisecond)
	replicas := []*process{serve(t, bin, db)}
	setupFIFO(t, "http://"+replicas[0].addr, rc.srv.URL)
	replicas = append(replicas, serve(t, bin, db))

	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	var killed atomic.Bool
	var once sync.Once
	acked := fifoLoad(keys, 150, func(n int) string {
		r := n % 2
		if killed.Load() {
			r = 0
		}
		return "http://" + replicas[r].addr
	}, make(chan struct{}), func(total int) {
		if total == 400 {
			once.Do(func() {
				replicas[1].cmd.Process.Signal(syscall.SIGKILL)
				killed.Store(true)
			})
		}
	})
	t.Logf("%v acknowledged per key (a key whose message the kill cut off stops there)", acked)
	rc.waitInOrder(t, acked, 90*time.Second)
}
