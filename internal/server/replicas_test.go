package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// A message accepted by a replica that does not deliver it (its engine is
// stopped, so nothing is leased to it) is picked up by an idle replica
// through LISTEN/NOTIFY, and signed with the endpoint's secret although
// another replica sealed it. The idle replica polls only once an hour, so
// only a notification can explain a delivery within the test's deadline.
func TestReplicaWakesOnAnotherReplicasMessage(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	a := start(t, func(c *config.Config) { c.Database = url })
	b := start(t, func(c *config.Config) { c.Database = url; c.PollInterval = time.Hour })

	var (
		mu       sync.Mutex
		received = map[string]time.Time{}
	)
	rcv := newReceiver(t)
	rcv.respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get("webhook-id")] = time.Now()
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
	app := a.app()
	// B signs with the secret A sealed: the key that seals secrets is
	// shared through the database when none is configured.
	_, secret := a.endpoint(app, map[string]any{"url": rcv.srv.URL})
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.srv.StopDelivery(ctx); err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for range 10 {
		id := a.send(app, "test.event", `{"n":1}`, nil)
		accepted := time.Now()
		eventually(t, "delivery by the other replica", func() bool {
			mu.Lock()
			defer mu.Unlock()
			_, ok := received[id]
			return ok
		})
		mu.Lock()
		lat = append(lat, received[id].Sub(accepted))
		mu.Unlock()
	}
	slices.Sort(lat)
	t.Logf("pickup by the other replica after the 202: min %v, median %v, max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
	_ = b
}

// An endpoint's throttleRate holds across replicas: two replicas, each
// accepting half of the messages and delivering them itself (the fast
// path), send to the endpoint at the rate together, not each.
func TestThrottleRateAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	onPostgres := func(c *config.Config) { c.Database = url }
	a := start(t, onPostgres)
	b := start(t, onPostgres)
	eventually(t, "both replicas counting two", func() bool { return a.srv.Replicas() == 2 && b.srv.Replicas() == 2 })

	var (
		mu   sync.Mutex
		when []time.Time
	)
	rcv := newReceiver(t)
	rcv.respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		when = append(when, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
	app := a.app()
	const rate, n = 10, 30
	a.endpoint(app, map[string]any{"url": rcv.srv.URL, "throttleRate": rate})
	for i := range n {
		h := a
		if i%2 == 1 {
			h = b
		}
		h.send(app, "a.b", `{}`, nil)
	}
	eventually(t, "deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(when) == n })
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(when, func(x, y time.Time) int { return x.Compare(y) })
	// The most deliveries within any one second: rate, plus the one token
	// each replica's bucket may start with.
	most := 0
	for i := range when {
		k := i
		for k < len(when) && when[k].Sub(when[i]) < time.Second {
			k++
		}
		most = max(most, k-i)
	}
	t.Logf("%d deliveries over %v; at most %d within one second (throttleRate %d over 2 replicas)",
		n, when[n-1].Sub(when[0]).Round(time.Millisecond), most, rate)
	if most > rate+2 {
		t.Errorf("%d deliveries within one second at throttleRate %d: the replicas each used the whole rate", most, rate)
	}
}

// A replica on PostgreSQL exposes the failures of its LISTEN connection;
// one on SQLite, which has none, does not.
func TestListenFailuresMetric(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	for _, c := range []struct {
		name    string
		cfg     func(*config.Config)
		present bool
	}{
		{"postgres", func(c *config.Config) { c.Database = url }, true},
		{"sqlite", nil, false},
	} {
		h := start(t, c.cfg)
		status, body := get(t, h.base+"/metrics")
		if status != 200 {
			t.Fatalf("%s: GET /metrics: %d", c.name, status)
		}
		v, ok := metricValue(body, "herald_store_listen_failures_total")
		if ok != c.present || v != 0 {
			t.Errorf("%s: herald_store_listen_failures_total = %v (present %v), want present %v at 0", c.name, v, ok, c.present)
		}
	}
}

// The database setting is logged without its password, whichever parameter
// carries it (PostgreSQL here trusts the test's connections, so the
// password is never asked for).
func TestStartupLogHidesDatabasePassword(t *testing.T) {
	t.Parallel()
	for _, param := range []string{"password", "sslpassword"} {
		var buf syncBuffer
		cfg := config.Default()
		cfg.Listen = "127.0.0.1:0"
		cfg.Database = pgtest.Schema(t) + "&" + param + "=hunter2"
		cfg.AdminToken = adminToken
		srv, err := server.New(t.Context(), cfg, server.Options{Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		logs := buf.String()
		if !strings.Contains(logs, param+"=xxxxx") || strings.Contains(logs, "hunter2") {
			t.Errorf("%s: logs show the password, or not the database:\n%s", param, logs)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
