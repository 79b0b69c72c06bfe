package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/internal/config"
)

// get fetches url without credentials and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the series name whose labels include
// every one of labels (name="value" pairs), and whether there is one.
func metricValue(text, name string, labels ...string) (float64, bool) {
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
			match = match && strings.Contains(ls, l)
		}
		if match {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestMetricsEndToEnd sends a message through a real server to a real
// receiver and reads the effect in /metrics.
func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	app := h.app()
	h.eventType("invoice.paid")
	rc := newReceiver(t)
	_, secret := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	rc.secret = secret
	h.send(app, "invoice.paid", `{"n":1}`, nil)
	eventually(t, "the delivery", func() bool { return rc.count() == 1 })

	atLeast := func(text string, min float64, name string, labels ...string) bool {
		v, ok := metricValue(text, name, labels...)
		return ok && v >= min
	}
	var text string
	eventually(t, "the attempt and its completion in /metrics", func() bool {
		status, body := get(t, h.base+"/metrics") // no token: scrapers have none
		if status != 200 {
			t.Fatalf("GET /metrics: %d %s", status, body)
		}
		text = body
		return atLeast(text, 1, "herald_delivery_attempts_total", `outcome="success"`) &&
			atLeast(text, 1, "herald_store_batch_size_count", `kind="complete"`)
	})
	for _, c := range []struct {
		min    float64
		name   string
		labels []string
	}{
		{1, "herald_delivery_attempt_duration_seconds_count", []string{`outcome="success"`}},
		{1, "herald_api_requests_total", []string{`route="/api/v1/app/{app_id}/msg"`, `method="POST"`, `code="202"`}},
		{1, "herald_api_request_duration_seconds_count", []string{`route="/api/v1/app/{app_id}/msg"`, `method="POST"`}},
		{1, "herald_api_requests_total", []string{`route="/api/v1/app/{app_id}/endpoint"`, `method="POST"`, `code="201"`}},
		{1, "herald_store_batch_size_count", []string{`kind="ingest"`}},
		{1, "herald_store_batch_duration_seconds_count", []string{`kind="ingest"`}},
		{1, "herald_store_batch_duration_seconds_count", []string{`kind="complete"`}},
		{1, "herald_store_batch_size_count", []string{`kind="claim"`}},
		{0, "herald_queue_due_deliveries", []string{`queue="first"`}},
		{0, "herald_queue_due_deliveries", []string{`queue="retry"`}},
		{0, "herald_queue_due_deliveries", []string{`queue="parked"`}},
		{0, "herald_queue_oldest_due_age_seconds", nil},
		{1, "herald_queue_last_sample_timestamp_seconds", nil},
		{0, "herald_delivery_in_flight_requests", nil},
		{0, "herald_delivery_queued_jobs", nil},
		{1, "herald_build_info", nil},
		{1, "go_goroutines", nil},
	} {
		if !atLeast(text, c.min, c.name, c.labels...) {
			v, ok := metricValue(text, c.name, c.labels...)
			t.Errorf("%s%v = %v (present: %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	// Labels carry route patterns, never ids.
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "herald_") && (strings.Contains(line, app) || strings.Contains(line, "msg_")) {
			t.Errorf("an id in a label: %s", line)
		}
	}
	// No admin listener unless asked for.
	if h.srv.AdminAddr() != "" {
		t.Errorf("admin listener on %s by default", h.srv.AdminAddr())
	}
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) { c.Metrics = false })
	if status, body := get(t, h.base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics with --metrics=false: %d %s", status, body)
	}
	if status, _ := get(t, h.base+"/api/v1/health"); status != http.StatusNoContent {
		t.Errorf("health: %d", status)
	}
}

func TestAdminListener(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *config.Config) {
		c.AdminListen = "127.0.0.1:0"
		c.Metrics = false // the admin listener serves metrics regardless
	})
	admin := h.srv.AdminAddr()
	if admin == "" || admin == h.srv.Addr() {
		t.Fatalf("admin listener on %q (API on %s)", admin, h.srv.Addr())
	}
	base := "http://" + admin
	if status, body := get(t, base+"/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: %d %.200s", status, body)
	}
	if status, body := get(t, base+"/debug/pprof/goroutine?debug=1"); status != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine: %d %.200s", status, body)
	}
	if status, body := get(t, base+"/debug/pprof/cmdline"); status != 200 || body == "" {
		t.Errorf("GET /debug/pprof/cmdline: %d %q", status, body)
	}
	if status, body := get(t, base+"/metrics"); status != 200 || !strings.Contains(body, "herald_build_info") {
		t.Errorf("GET admin /metrics: %d %.200s", status, body)
	}
	// The API is not on the admin listener, and pprof is not on the API's.
	if status, _ := get(t, base+"/api/v1/health"); status != http.StatusNotFound {
		t.Errorf("GET admin /api/v1/health: %d", status)
	}
	if status, _ := get(t, h.base+"/debug/pprof/"); status != http.StatusNotFound {
		t.Errorf("GET API /debug/pprof/: %d", status)
	}
}

// collector is an OTLP/HTTP trace receiver: it keeps the names of the
// spans POSTed to /v1/traces.
type collector struct {
	mu    sync.Mutex
	posts int
	names map[string]int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.posts++
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names[s.Name]++
			}
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *collector) seen(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[name] > 0
}

// TestTracingOTLP points the standard OTEL_ variables at an in-process
// collector and expects spans for the API request and the delivery attempt.
// It sets the environment, so it does not run in parallel.
func TestTracingOTLP(t *testing.T) {
	col := &collector{names: map[string]int{}}
	srv := newLoopbackServer(t, col)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // milliseconds
	t.Setenv("OTEL_SERVICE_NAME", "herald-test")

	h := start(t, nil)
	app := h.app()
	h.eventType("invoice.paid")
	rc := newReceiver(t)
	_, secret := h.endpoint(app, map[string]any{"url": rc.srv.URL})
	rc.secret = secret
	h.send(app, "invoice.paid", `{"n":1}`, nil)
	eventually(t, "the delivery", func() bool { return rc.count() == 1 })
	eventually(t, "spans of the API request and the delivery attempt", func() bool {
		return col.seen("POST /api/v1/app/{app_id}/msg") && col.seen("webhook POST")
	})
	if d := rc.deliveries()[0]; d.Header.Get("traceparent") != "" {
		t.Error("the delivery carries a traceparent header")
	}
}

// newLoopbackServer serves h on loopback until the test ends and returns
// its URL.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
