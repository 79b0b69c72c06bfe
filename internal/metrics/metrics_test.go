package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/store"
)

var _ delivery.Observer = (*metrics.Metrics)(nil)

// scrape returns the metrics m serves, in the text format.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// value returns the value of the series name with every label of labels
// (name="value" pairs), and whether there is one.
func value(text, name string, labels ...string) (float64, bool) {
	for line := range strings.Lines(text) {
		series, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(series, "#") {
			continue
		}
		n, ls, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(ls, l) {
				match = false
			}
		}
		if match {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func want(t *testing.T, text string, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(text, name, labels...)
	if !ok || got != v {
		t.Errorf("%s%v = %v (found %v), want %v", name, labels, got, ok, v)
	}
}

func TestObserverAndAPI(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1.2.3", Revision: "0123abc"})
	text := scrape(t, m)
	// The fixed label sets exist before any event.
	want(t, text, 0, "herald_delivery_attempts_total", `outcome="success"`)
	want(t, text, 0, "herald_delivery_attempts_total", `outcome="timeout"`)
	want(t, text, 0, "herald_store_batch_size_count", `kind="ingest"`)
	want(t, text, 0, "herald_queue_due_deliveries", `queue="retry"`)
	want(t, text, 1, "herald_build_info", `version="v1.2.3"`, `revision="0123abc"`)
	if _, ok := value(text, "go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}

	m.Attempt("success", 30*time.Millisecond, false)
	m.Attempt("success", 3*time.Second, true)
	m.Attempt("failure", time.Millisecond, false)
	m.Attempt("something new", time.Millisecond, false)
	m.Failure("timeout")
	m.Failure("5xx")
	m.Failure("5xx")
	m.Failure("something new")
	m.Circuit(true)
	m.Batch("ingest", 12, time.Millisecond, nil)
	m.Batch("complete", 3, time.Millisecond, errors.New("disk full"))
	m.APIRequest("/api/v1/app/{app_id}/msg", "POST", 202, 2*time.Millisecond)
	m.APIRequest("", "BREW", 404, time.Millisecond)
	m.WatchDelivery(func() (int, int) { return 7, 3 }, func() int { return 2 })

	text = scrape(t, m)
	want(t, text, 2, "herald_delivery_attempts_total", `outcome="success"`)
	want(t, text, 1, "herald_delivery_attempts_total", `outcome="failure"`)
	want(t, text, 1, "herald_delivery_attempts_total", `outcome="other"`)
	want(t, text, 2, "herald_delivery_attempt_duration_seconds_count", `outcome="success"`)
	want(t, text, 1, "herald_delivery_attempt_duration_seconds_bucket", `outcome="success"`, `le="0.05"`)
	want(t, text, 1, "herald_store_batch_size_count", `kind="ingest"`)
	want(t, text, 12, "herald_store_batch_size_sum", `kind="ingest"`)
	want(t, text, 0, "herald_store_batch_errors_total", `kind="ingest"`)
	want(t, text, 1, "herald_store_batch_errors_total", `kind="complete"`)
	want(t, text, 1, "herald_api_requests_total", `route="/api/v1/app/{app_id}/msg"`, `method="POST"`, `code="202"`)
	want(t, text, 1, "herald_api_request_duration_seconds_count", `route="/api/v1/app/{app_id}/msg"`, `method="POST"`)
	// Unknown methods and unmatched paths cannot add series.
	want(t, text, 1, "herald_api_requests_total", `route="unmatched"`, `method="other"`, `code="404"`)
	want(t, text, 1, "herald_operational_attempts_total", `outcome="success"`)
	want(t, text, 1, "herald_delivery_failures_total", `class="timeout"`)
	want(t, text, 2, "herald_delivery_failures_total", `class="5xx"`)
	want(t, text, 1, "herald_delivery_failures_total", `class="other"`)
	want(t, text, 0, "herald_delivery_failures_total", `class="connect"`)
	want(t, text, 1, "herald_circuit_transitions_total", `to="open"`)
	want(t, text, 0, "herald_circuit_transitions_total", `to="closed"`)
	want(t, text, 2, "herald_circuits_open")
	want(t, text, 3, "herald_delivery_in_flight_requests")
	want(t, text, 7, "herald_delivery_queued_jobs")

	// Every herald_ metric is documented.
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "# HELP herald_") && len(strings.Fields(line)) < 5 {
			t.Errorf("metric without a useful HELP: %s", line)
		}
	}
}

// fakeQueue answers QueueStats with stats or err.
type fakeQueue struct {
	mu    sync.Mutex
	stats store.QueueStats
	err   error
	calls int
}

func (f *fakeQueue) QueueStats(ctx context.Context, now time.Time) (*store.QueueStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("no timeout")
	}
	if f.err != nil {
		return nil, f.err
	}
	qs := f.stats
	return &qs, nil
}

func TestQueueSampler(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "test"})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := &fakeQueue{stats: store.QueueStats{DueFirst: 5, DueRetry: 2, Parked: 3, OldestDue: now.Add(-90 * time.Second)}}
	s := m.NewQueueSampler(metrics.QueueSamplerConfig{Store: q, Now: func() time.Time { return now }})

	s.Sample(t.Context())
	text := scrape(t, m)
	want(t, text, 5, "herald_queue_due_deliveries", `queue="first"`)
	want(t, text, 2, "herald_queue_due_deliveries", `queue="retry"`)
	want(t, text, 3, "herald_queue_due_deliveries", `queue="parked"`)
	want(t, text, 90, "herald_queue_oldest_due_age_seconds")
	want(t, text, float64(now.Unix()), "herald_queue_last_sample_timestamp_seconds")

	// A failed sample counts an error and keeps the last values.
	q.mu.Lock()
	q.err = errors.New("database is locked")
	q.mu.Unlock()
	s.Sample(t.Context())
	text = scrape(t, m)
	want(t, text, 1, "herald_queue_sample_errors_total")
	want(t, text, 5, "herald_queue_due_deliveries", `queue="first"`)

	// Nothing due: the age is 0.
	q.mu.Lock()
	q.err, q.stats = nil, store.QueueStats{}
	q.mu.Unlock()
	s.Sample(t.Context())
	text = scrape(t, m)
	want(t, text, 0, "herald_queue_oldest_due_age_seconds")
	want(t, text, 0, "herald_queue_due_deliveries", `queue="first"`)
}

func TestQueueSamplerStartStop(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "test"})
	q := &fakeQueue{}
	s := m.NewQueueSampler(metrics.QueueSamplerConfig{Store: q, Interval: time.Millisecond})
	ctx := t.Context()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		n := q.calls
		q.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sampled %d times", n)
		}
		time.Sleep(time.Millisecond)
	}
	for range 2 {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Stop before Start, then Start: nothing runs.
	s2 := m.NewQueueSampler(metrics.QueueSamplerConfig{Store: q})
	if err := s2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	before := q.calls
	q.mu.Unlock()
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.calls != before {
		t.Errorf("a sampler stopped before Start sampled %d times", q.calls-before)
	}
}

// The listener's failures are read from the store at each scrape.
func TestListenFailures(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "test"})
	var n atomic.Int64
	m.WatchListenFailures(n.Load)
	want(t, scrape(t, m), 0, "herald_store_listen_failures_total")
	n.Add(2)
	want(t, scrape(t, m), 2, "herald_store_listen_failures_total")
}

// TestSnapshot checks that the console's overview reads the values /metrics
// serves.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "test"})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := &fakeQueue{stats: store.QueueStats{DueFirst: 5, DueRetry: 2, Parked: 3, OldestDue: now.Add(-90 * time.Second)}}
	m.NewQueueSampler(metrics.QueueSamplerConfig{Store: q, Now: func() time.Time { return now }}).Sample(t.Context())
	m.Attempt("success", time.Millisecond, false)
	m.Attempt("success", time.Millisecond, false)
	m.Attempt("timeout", time.Second, false)
	s := m.Snapshot()
	if s.Attempts["success"] != 2 || s.Attempts["timeout"] != 1 || s.Attempts["failure"] != 0 {
		t.Errorf("attempts: %v", s.Attempts)
	}
	if s.DueFirst != 5 || s.DueRetry != 2 || s.DueParked != 3 || s.OldestDueAge != 90*time.Second {
		t.Errorf("queue: %+v", s)
	}
	text := scrape(t, m)
	want(t, text, s.Attempts["success"], "herald_delivery_attempts_total", `outcome="success"`)
	want(t, text, s.DueFirst, "herald_queue_due_deliveries", `queue="first"`)
}
