package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// forDrivers runs fn in a parallel subtest per driver, with the database
// it should use (a SQLite file path, or a PostgreSQL schema's URL).
func forDrivers(t *testing.T, fn func(t *testing.T, database string)) {
	t.Helper()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			database := filepath.Join(t.TempDir(), "herald.db")
			if driver == "postgres" {
				database = pgtest.Schema(t)
			}
			fn(t, database)
		})
	}
}

// orderReceiver receives messages whose payload is {"k": key, "n": n}, and
// records, per key, the n of each request in arrival order, the requests
// in flight, and any request of a key that arrived while another of the
// same key was in flight.
type orderReceiver struct {
	srv *httptest.Server
	// answer returns the status for the attempt-th request of (key, n).
	answer func(key string, n, attempt int) int
	hold   time.Duration

	mu          sync.Mutex
	arrivals    map[string][]int
	attempts    map[string]int
	status      map[string]int // the last answer to (key, n)
	inFlight    map[string]int
	total, peak int
	overlaps    []string
}

func newOrderReceiver(t *testing.T, hold time.Duration, answer func(key string, n, attempt int) int) *orderReceiver {
	o := &orderReceiver{answer: answer, hold: hold, arrivals: map[string][]int{}, attempts: map[string]int{},
		status: map[string]int{}, inFlight: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			K string `json:"k"`
			N int    `json:"n"`
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("payload: %v", err)
		}
		id := fmt.Sprintf("%s/%d", p.K, p.N)
		o.mu.Lock()
		if o.inFlight[p.K] > 0 {
			o.overlaps = append(o.overlaps, fmt.Sprintf("%s arrived while another of key %q was in flight", id, p.K))
		}
		o.inFlight[p.K]++
		o.total++
		o.peak = max(o.peak, o.total)
		o.arrivals[p.K] = append(o.arrivals[p.K], p.N)
		o.attempts[id]++
		status := o.answer(p.K, p.N, o.attempts[id])
		o.status[id] = status
		o.mu.Unlock()
		time.Sleep(o.hold)
		o.mu.Lock()
		o.inFlight[p.K]--
		o.total--
		o.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// answered reports whether (key, n) got its answer with that status.
func (o *orderReceiver) answered(key string, n, status int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status[fmt.Sprintf("%s/%d", key, n)] == status && o.inFlight[key] == 0
}

// TestFIFOEndpoint sends messages of several ordering keys to a FIFO
// endpoint that fails some of them: each key's messages arrive one at a
// time, in the order they were accepted, a failing one holding the next
// until it succeeds, or until it is given up (which is recorded and
// reported as message.attempt.exhausted), while the keys proceed in
// parallel. On both drivers.
func TestFIFOEndpoint(t *testing.T) {
	t.Parallel()
	forDrivers(t, func(t *testing.T, database string) {
		h := start(t, func(c *config.Config) {
			c.Database = database
			c.RetrySchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
			c.BreakerFailures = 0 // a message given up would open the circuit
		})
		ops := newOpReceiver(t)
		h.do("POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": ops.srv.URL}, 201, nil)

		const unkeyed, perKey = 8, 6
		keys := []string{"a", "b", "c"}
		rc := newOrderReceiver(t, 10*time.Millisecond, func(key string, n, attempt int) int {
			switch {
			case key == "" && n == 2 && attempt <= 3:
				return 500 // retried three times, then delivered
			case key == "" && n == 5:
				return 503 // given up after its five attempts
			case key != "" && n%3 == 0 && attempt == 1:
				return 500
			}
			return 200
		})
		app := h.app()
		ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL, "ordering": "fifo"})
		ids := map[string]string{}
		for i := 1; i <= max(unkeyed, perKey); i++ {
			for _, k := range append([]string{""}, keys...) {
				if (k == "" && i > unkeyed) || (k != "" && i > perKey) {
					continue
				}
				extra := map[string]any{}
				if k != "" {
					extra["orderingKey"] = k
				}
				ids[fmt.Sprintf("%s/%d", k, i)] = h.send(app, "order.event", fmt.Sprintf(`{"k":%q,"n":%d}`, k, i), extra)
			}
		}
		eventually(t, "every key's last message", func() bool {
			done := rc.answered("", unkeyed, 200)
			for _, k := range keys {
				done = done && rc.answered(k, perKey, 200)
			}
			return done
		})

		rc.mu.Lock()
		for _, o := range rc.overlaps {
			t.Error(o)
		}
		for k, want := range map[string]int{"": unkeyed, "a": perKey, "b": perKey, "c": perKey} {
			got := slices.Compact(slices.Clone(rc.arrivals[k]))
			var order []int
			for i := 1; i <= want; i++ {
				order = append(order, i)
			}
			if !slices.Equal(got, order) {
				t.Errorf("key %q: arrivals %v, want each message after the one before it finished (%v)", k, rc.arrivals[k], order)
			}
		}
		if rc.attempts["/2"] != 4 || rc.attempts["/5"] != 5 {
			t.Errorf("attempts of the failing messages: %d and %d, want 4 and 5", rc.attempts["/2"], rc.attempts["/5"])
		}
		if rc.peak < 2 {
			t.Errorf("at most %d request in flight: the keys did not proceed in parallel", rc.peak)
		}
		rc.mu.Unlock()

		// The message given up is visible as failed, with its attempts,
		// and reported.
		var dest struct {
			Data []struct {
				ID     string `json:"id"`
				Status int    `json:"status"`
			} `json:"data"`
		}
		h.do("GET", "/api/v1/app/"+app+"/msg/"+ids["/5"]+"/endpoint", nil, 200, &dest)
		if len(dest.Data) != 1 || dest.Data[0].ID != ep || dest.Data[0].Status != 2 {
			t.Errorf("destinations of the message given up: %+v", dest.Data)
		}
		var atts struct {
			Data []attempt `json:"data"`
		}
		h.do("GET", "/api/v1/app/"+app+"/attempt/msg/"+ids["/5"], nil, 200, &atts)
		if len(atts.Data) != 5 {
			t.Errorf("%d attempts of the message given up, want 5", len(atts.Data))
		}
		ops.wait(t, "message.attempt.exhausted", ids["/5"])
	})
}

// TestFIFOResendAfterGiveUp: a message given up and resent goes behind the
// messages accepted since, and is sent once they are.
func TestFIFOResendAfterGiveUp(t *testing.T) {
	t.Parallel()
	forDrivers(t, func(t *testing.T, database string) {
		h := start(t, func(c *config.Config) {
			c.Database = database
			c.RetrySchedule = []time.Duration{10 * time.Millisecond}
			c.BreakerFailures = 0
		})
		var (
			mu      sync.Mutex
			broken  = true
			arrived []int
		)
		rc := newOrderReceiver(t, 0, func(key string, n, attempt int) int {
			mu.Lock()
			defer mu.Unlock()
			arrived = append(arrived, n)
			if n == 1 && broken {
				return 500
			}
			return 200
		})
		app := h.app()
		ep, _ := h.endpoint(app, map[string]any{"url": rc.srv.URL, "ordering": "fifo"})
		first := h.send(app, "e", `{"n":1}`, nil)
		h.send(app, "e", `{"n":2}`, nil)
		eventually(t, "the second message", func() bool { return rc.answered("", 2, 200) })
		mu.Lock()
		broken = false
		mu.Unlock()
		h.send(app, "e", `{"n":3}`, nil)
		h.do("POST", "/api/v1/app/"+app+"/msg/"+first+"/endpoint/"+ep+"/resend", nil, 202, nil)
		h.send(app, "e", `{"n":4}`, nil)
		eventually(t, "the resent message", func() bool { return rc.answered("", 1, 200) && rc.answered("", 4, 200) })
		mu.Lock()
		defer mu.Unlock()
		// 1 (twice, given up), 2, then 3 or the resent 1 (in the order
		// they were accepted: 3 before the resend), then 4.
		if want := []int{1, 1, 2, 3, 1, 4}; !slices.Equal(arrived, want) {
			t.Errorf("arrivals %v, want %v", arrived, want)
		}
	})
}

// TestScheduledDelivery: a message with a deliverAt is accepted at once and
// sent no earlier than its time, across a restart of the server; one
// cancelled before its time is never sent. On both drivers.
func TestScheduledDelivery(t *testing.T) {
	t.Parallel()
	forDrivers(t, func(t *testing.T, database string) {
		mod := func(c *config.Config) { c.Database = database }
		h := start(t, mod)
		var (
			mu      sync.Mutex
			arrived = map[string]time.Time{}
		)
		rc := newReceiver(t)
		rc.respond = func(_ int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if _, ok := arrived[r.Header.Get("webhook-id")]; !ok {
				arrived[r.Header.Get("webhook-id")] = time.Now()
			}
			mu.Unlock()
			w.WriteHeader(200)
		}
		got := func(id string) (time.Time, bool) {
			mu.Lock()
			defer mu.Unlock()
			at, ok := arrived[id]
			return at, ok
		}
		app := h.app()
		h.endpoint(app, map[string]any{"url": rc.srv.URL})
		at := time.Now().Add(2 * time.Second)
		scheduled := h.send(app, "e", `{}`, map[string]any{"deliverAt": at.Format(time.RFC3339Nano)})
		canceled := h.send(app, "e", `{}`, map[string]any{"deliverAt": at.Format(time.RFC3339Nano)})
		now := h.send(app, "e", `{}`, nil)
		eventually(t, "the message sent at once", func() bool { _, ok := got(now); return ok })
		if _, ok := got(scheduled); ok {
			t.Fatalf("the scheduled message arrived before its time (now %v, due %v)", time.Now(), at)
		}
		var out struct {
			CanceledAt *time.Time `json:"canceledAt"`
		}
		h.do("POST", "/api/v1/app/"+app+"/msg/"+canceled+"/cancel", nil, 200, &out)
		if out.CanceledAt == nil {
			t.Errorf("cancel: no canceledAt")
		}
		eventually(t, "the scheduled message", func() bool { _, ok := got(scheduled); return ok })
		if first, _ := got(scheduled); first.Before(at) {
			t.Errorf("the scheduled message arrived at %v, before its time %v", first, at)
		}
		if _, ok := got(canceled); ok {
			t.Errorf("the cancelled message was sent")
		}
		h.do("POST", "/api/v1/app/"+app+"/msg/"+canceled+"/cancel", nil, 200, nil)

		// A restart before the due time: the next server sends it.
		at = time.Now().Add(2 * time.Second)
		later := h.send(app, "e", `{}`, map[string]any{"deliverAt": at.Format(time.RFC3339Nano)})
		h.stop()
		start(t, mod) // the next server; the test's cleanup stops it
		eventually(t, "the scheduled message after a restart", func() bool { _, ok := got(later); return ok })
		if first, _ := got(later); first.Before(at) {
			t.Errorf("the message scheduled before the restart arrived at %v, before its time %v", first, at)
		}
		if _, ok := got(canceled); ok {
			t.Errorf("the cancelled message was sent after the restart")
		}
	})
}
